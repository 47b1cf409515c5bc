// quarantine -> validate -> accepted (indexed) | rejected | conflicts.
//
// Crash safety: a body is in quarantine with its sidecar before anything else happens,
// and every step after that is idempotent (the index refuses a second copy; moving to
// accepted only ever writes the index's own bytes), so Recover() at startup simply runs
// every sealed quarantine entry again.
#pragma once

#include <algorithm>
#include <chrono>
#include <climits>
#include <functional>
#include <string>

#include "platform/env.h"
#include "receiver/config.h"
#include "receiver/evidence.h"
#include "receiver/index.h"
#include "receiver/metrics.h"
#include "receiver/object_store.h"

namespace granary::receiver {

// kInvalidName: the key clashes with another as a path; nothing is kept.
// kOverBudget: validation ran past its deadline; nothing was decided and the entry stays.
enum class PipelineOutcome {
  kAccepted,
  kDuplicate,
  kRejected,
  kConflict,
  kInvalidName,
  kOverBudget
};

struct PipelineResult {
  PipelineOutcome outcome = PipelineOutcome::kAccepted;
  std::string reason;  // rejected or conflict: why
  ObjectKind kind = ObjectKind::kSegment;
  SegmentFacts segment;  // accepted segments
};

const char* OutcomeName(PipelineOutcome outcome);

// Whether a valid report or file waits for its kind's external validator ([[kind]]
// validator = "mqtt"; a file's kind is its granary-kind metadata).
bool NeedsExternalValidation(const ReceiverConfig& config, const Validation& v);
// Records a valid object of any kind in the index.
Result<RecordResult> RecordValidated(Index& index, const ObjectRow& row, const Validation& v,
                                     bool pending, int64_t now_ms);

// The index row of an object that passed validation as `kind`.
ObjectRow IndexRowOf(const ObjectMeta& meta, ObjectKind kind, int64_t now_ms);

inline ValidatorLimits ValidatorLimitsOf(const ReceiverConfig& config) {
  ValidatorLimits limits;
  limits.max_line_bytes = config.max_line_bytes;
  limits.max_document_bytes =
      static_cast<uint32_t>(std::min<uint64_t>(config.max_message_bytes, INT32_MAX));
  limits.kinds = &config.kinds;
  return limits;
}

class Pipeline {
 public:
  Pipeline(Env& env, ObjectStore& store, Index& index, const ReceiverConfig& config,
           Metrics& metrics);

  // Runs the sealed quarantine entry `id`, validating until `deadline`. Errors are internal
  // (disk, database): the entry stays in quarantine for the next attempt.
  Result<PipelineResult> Process(const std::string& id, const ObjectMeta& meta,
                                 std::chrono::steady_clock::time_point deadline =
                                     std::chrono::steady_clock::time_point::max());
  // Every sealed quarantine entry left by a crash; returns how many were processed.
  Result<size_t> Recover();

  // Called after each accepted segment (MQTT "granary/available").
  void SetAcceptedListener(std::function<void(const ObjectMeta&, const SegmentFacts&)> listener) {
    accepted_listener_ = std::move(listener);
  }
  // Called after each indexed report or file: accepted, or pending its external validator.
  using UploadListener = std::function<void(const ObjectMeta&, const Validation&, bool pending)>;
  void SetUploadListener(UploadListener listener) { upload_listener_ = std::move(listener); }

 private:
  // Counts evidence just stored at `body_path` (and its sidecar); over evidence_max_bytes
  // the oldest goes.
  void KeepEvidenceCap(const std::string& body_path);

  Env& env_;
  ObjectStore& store_;
  Index& index_;
  const ReceiverConfig& config_;
  Metrics& metrics_;
  EvidenceCap evidence_;
  std::function<void(const ObjectMeta&, const SegmentFacts&)> accepted_listener_;
  UploadListener upload_listener_;
};

}  // namespace granary::receiver
