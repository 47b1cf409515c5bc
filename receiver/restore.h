// `granary-receiver restore`: archived messages republished from the accepted archive
// segments to a broker, each (device, source) stream in seq order, streams interleaved by
// receive time, byte-exact (archive/republisher.h).
#pragma once

#include <cstdint>
#include <cstdio>
#include <optional>
#include <string>

#include "archive/republisher.h"
#include "platform/result.h"
#include "receiver/index.h"
#include "receiver/object_store.h"

namespace granary::receiver {

struct RestoreOptions {
  archive::RepublishOptions publish;
  std::string device;        // "" any
  std::string topic_filter;  // an MQTT filter (+, #); "" any
  std::optional<int64_t> from_ms, to_ms;
  bool dry_run = false;   // list what would be published, one line each, to `out`
  bool progress = false;  // a progress line on stderr (a terminal)
  uint32_t max_document_bytes = 16 << 20;
};

struct RestoreReport {
  uint64_t selected = 0, published = 0;
};

Result<RestoreReport> Restore(Index& index, const ObjectStore& store, const RestoreOptions& options,
                              std::FILE* out);

}  // namespace granary::receiver
