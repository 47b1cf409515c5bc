// Taking one entry of an outbox, crash-safe (docs/outbox.md): the local copy is made
// durable under {state_dir}/outbox/, then recorded in the catalog, and only then is the
// original removed. The copy's name comes from the original's identity, so a take a crash
// interrupted before the record is simply done again over it.
#pragma once

#include <cstdint>
#include <functional>
#include <string>

#include "agent/outbox/outbox_config.h"
#include "platform/env.h"
#include "storage/catalog.h"

namespace granary {

enum class TakeOutcome {
  kTaken,
  kAlreadyTaken,  // recorded before (a restart, or after = "keep")
  kRejected,      // moved aside to the outbox's .rejected/ with a .reason file
  kWaitQuota,     // left in place: taking it would go over the quota
  kChanged,       // changed while it was being taken: tried again later
  kError,         // left in place; `detail` says why
};

struct TakeResult {
  TakeOutcome outcome = TakeOutcome::kError;
  std::string detail;
  OutboxEntry entry;  // kTaken
};

// The local copies' directory.
std::string OutboxCopiesDir(const std::string& state_dir);
// A producer's file as it is now; an error when it is not a regular file.
Result<FileIdentity> IdentityOf(const std::string& path);

class OutboxTaker {
 public:
  // `room(bytes)`: whether the quota leaves room for `bytes` more.
  OutboxTaker(Env& env, std::string state_dir, SegmentCatalog& catalog,
              std::function<bool(uint64_t)> room);

  // Takes `path`: a top-level entry of `outbox` (`report_uuid` empty) or an attachment in
  // its `report_uuid`/ sub-directory.
  TakeResult Take(const OutboxConfig& outbox, const std::string& path,
                  const std::string& report_uuid);
  // Moves `path` to the outbox's .rejected/ with `reason` beside it. Never deletes.
  Status Reject(const OutboxConfig& outbox, const std::string& path, const std::string& reason);

 private:
  Result<bool> CopyIn(const OutboxConfig& outbox, const std::string& from, const std::string& to,
                      const std::string* body);
  TakeResult Finish(const OutboxConfig& outbox, OutboxEntry entry, const std::string& local);

  Env& env_;
  const std::string state_dir_;
  SegmentCatalog& catalog_;
  std::function<bool(uint64_t)> room_;
};

}  // namespace granary
