// Validation of an object in quarantine (design.md "The receiver", "Formats"; docs/formats.md):
// a segment (jsonl.gz) must gunzip to the end; every line must be UTF-8 and a JSON object
// without a repeated key at any depth, with the key's device and source, an integer seq,
// an integer ts and an object data; seqs must be contiguous; first/last seq and count must match
// the object metadata when given. A tombstone (tombstone/1) is one JSON object naming a dropped seq
// range. An archive segment (bson.gz) is checked document by document the same way
// (bson_validator.cpp), and each message's place in it is recorded for the index. Keys under
// {prefix}/{device}/reports/ and files/ are reports and files (report_validator.cpp).
#pragma once

#include <chrono>
#include <cstdint>
#include <string>
#include <vector>

#include "receiver/config.h"
#include "receiver/object_store.h"
#include "receiver/report_format.h"

namespace granary::receiver {

enum class ObjectKind { kSegment, kTombstone, kReport, kFile };

// One archived MQTT message of a bson.gz segment, where its document lies in the
// decompressed stream.
struct MessageFacts {
  std::string id;  // the _id as 36-character lowercase UUID text
  std::string topic;
  int64_t ts = 0;
  uint64_t seq = 0, offset = 0, length = 0;
};

struct SegmentFacts {
  std::string format = "jsonl.gz/1";  // or bson.gz/1
  std::string device, source;
  uint64_t first_seq = 0, last_seq = 0, count = 0;
  int64_t first_ts = 0, last_ts = 0;
  std::string clock;           // ok, unsynced or mixed
  std::string content_sha256;  // of the decompressed lines: equal content, equal hash
  uint64_t raw_bytes = 0;
  std::vector<MessageFacts> messages;  // bson.gz/1 only, in seq order
};

struct TombstoneFacts {
  std::string device, source, reason;
  uint64_t first_seq = 0, last_seq = 0, count = 0;
  int64_t at = 0;
};

struct Validation {
  bool ok = false;
  bool over_budget = false;  // neither valid nor invalid: it ran out of time
  std::string reason;        // why not ok, naming the line where there is one
  ObjectKind kind = ObjectKind::kSegment;
  SegmentFacts segment;
  TombstoneFacts tombstone;
  ReportFacts report;
  FileFacts file;
};

struct ValidatorLimits {
  uint64_t max_line_bytes = 1 << 20;
  uint32_t max_document_bytes = 16 << 20;  // one BSON document of an archive segment
  uint64_t max_raw_bytes = 1ull << 30;
  // Past it validation stops undecided (over_budget): the time one object may take.
  std::chrono::steady_clock::time_point deadline = std::chrono::steady_clock::time_point::max();
  // The report kinds taken (none: every report is refused as of an unknown kind).
  const std::vector<KindSettings>* kinds = nullptr;
};

// `prefix` is the configured key prefix: keys are {prefix}/{device}/...
Validation ValidateObject(const std::string& body_path, const ObjectMeta& meta,
                          const std::string& prefix, const ValidatorLimits& limits = {});

// The device named by a key under `prefix` ("" when the key is not under it).
std::string DeviceOfKey(const std::string& key, const std::string& prefix);

}  // namespace granary::receiver
