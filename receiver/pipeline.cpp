#include "receiver/pipeline.h"

#include <chrono>
#include <filesystem>
#include <optional>

#include "platform/log.h"

namespace granary::receiver {

bool NeedsExternalValidation(const ReceiverConfig& config, const Validation& v) {
  if (v.kind != ObjectKind::kReport && v.kind != ObjectKind::kFile) return false;
  const KindSettings* kind =
      config.Kind(v.kind == ObjectKind::kReport ? v.report.kind : v.file.kind);
  return kind != nullptr && kind->validator == "mqtt";
}

Result<RecordResult> RecordValidated(Index& index, const ObjectRow& row, const Validation& v,
                                     bool pending, int64_t now_ms) {
  switch (v.kind) {
    case ObjectKind::kSegment:
      return index.RecordSegment(row, v.segment, now_ms);
    case ObjectKind::kTombstone:
      return index.RecordTombstone(row, v.tombstone, now_ms);
    case ObjectKind::kReport:
      return index.RecordReport(row, v.report, pending, now_ms);
    case ObjectKind::kFile:
      return index.RecordFile(row, v.file, pending, now_ms);
  }
  return Error("unreachable");
}

ObjectRow IndexRowOf(const ObjectMeta& meta, ObjectKind kind, int64_t now_ms) {
  ObjectRow row;
  row.bucket = meta.bucket;
  row.key = meta.key;
  row.size = meta.size;
  row.md5_hex = meta.md5_hex;
  row.sha256_hex = meta.sha256_hex;
  row.content_type = meta.content_type;
  row.metadata_json = meta.UserMetadataJson();
  static constexpr const char* kNames[] = {"segment", "tombstone", "report", "file"};
  row.kind = kNames[static_cast<int>(kind)];
  row.stored_ms = now_ms;
  return row;
}

const char* OutcomeName(PipelineOutcome outcome) {
  switch (outcome) {
    case PipelineOutcome::kAccepted:
      return "accepted";
    case PipelineOutcome::kDuplicate:
      return "duplicate";
    case PipelineOutcome::kRejected:
      return "rejected";
    case PipelineOutcome::kConflict:
      return "conflict";
    case PipelineOutcome::kInvalidName:
      return "invalid-name";
    case PipelineOutcome::kOverBudget:
      return "over-budget";
  }
  return "?";
}

Pipeline::Pipeline(Env& env, ObjectStore& store, Index& index, const ReceiverConfig& config,
                   Metrics& metrics)
    : env_(env),
      store_(store),
      index_(index),
      config_(config),
      metrics_(metrics),
      evidence_(store.data_dir(), config.evidence_max_bytes) {}

Result<PipelineResult> Pipeline::Process(const std::string& id, const ObjectMeta& meta,
                                         std::chrono::steady_clock::time_point deadline) {
  auto started = std::chrono::steady_clock::now();
  ValidatorLimits limits = ValidatorLimitsOf(config_);
  limits.deadline = deadline;
  Validation v = ValidateObject(store_.QuarantineBodyPath(id), meta, config_.prefix, limits);
  metrics_.validate_ns +=
      static_cast<uint64_t>(std::chrono::duration_cast<std::chrono::nanoseconds>(
                                std::chrono::steady_clock::now() - started)
                                .count());
  std::string device = DeviceOfKey(meta.key, config_.prefix);
  int64_t now_ms = env_.WallNowMs();
  PipelineResult result;
  result.kind = v.kind;

  auto set_aside = [&](bool conflict, const std::string& reason) -> Result<PipelineResult> {
    // Index first: a crash between the two steps re-runs this entry, and recording is
    // idempotent per (bucket, key, sha256).
    std::string ours = store_.RejectedPath(id, conflict);
    auto kept_at = index_.RecordRejection(device, meta, conflict, reason, ours, now_ms);
    if (!kept_at) return kept_at.error();
    Status s;
    if (*kept_at != ours && store_.EvidenceExists(*kept_at)) {
      // These bytes under this key are evidence already: a client retrying a rejected
      // upload must not fill the disk with copies.
      s = store_.Discard(id);
    } else {
      ObjectMeta kept = meta;
      kept.reason = reason;
      s = store_.Reject(id, kept, conflict);
      // evidence_max_bytes caps the local folders; a bucket's evidence is never removed.
      if (s && !store_.Remote()) KeepEvidenceCap(ours);
    }
    if (!s) return s.error();
    (conflict ? metrics_.objects_conflict : metrics_.objects_rejected) += 1;
    log::Warning("{} {}/{}: {}", conflict ? "conflict" : "rejected", meta.bucket, meta.key, reason);
    result.outcome = conflict ? PipelineOutcome::kConflict : PipelineOutcome::kRejected;
    result.reason = reason;
    return result;
  };

  auto refuse_name = [&](const std::string& reason) -> Result<PipelineResult> {
    Status s = store_.Discard(id);
    if (!s) return s.error();
    result.outcome = PipelineOutcome::kInvalidName;
    result.reason = reason;
    return result;
  };

  if (v.over_budget) {
    metrics_.validation_over_budget += 1;
    log::Warning("{}/{}: {}", meta.bucket, meta.key, v.reason);
    result.outcome = PipelineOutcome::kOverBudget;
    result.reason = v.reason;
    return result;
  }
  if (!v.ok) return set_aside(false, v.reason);
  // The store is checked as well as the index: an index behind the store (restored, lost)
  // must not let a key's bytes be replaced or a key land where it cannot be a file.
  // An object indexed in place is no path of the store's.
  std::string clash = meta.in_place_etag.empty() ? store_.PathClash(meta.bucket, meta.key) : "";
  if (!clash.empty()) return refuse_name(clash);
  // Another upload's bytes under the key (the index may not list them): a conflict.
  // The SHA-256 of the file accepted/ holds under the key ("" when none).
  auto present_sha = [&]() { return store_.AcceptedSha256(meta.bucket, meta.key); };
  auto other_bytes = [&]() -> Result<std::optional<std::string>> {
    auto sha = present_sha();
    if (!sha) return sha.error();
    if (sha->empty() || *sha == meta.sha256_hex) return std::optional<std::string>();
    return std::optional<std::string>("accepted/ holds other bytes for the key (sha256 " + *sha +
                                      ")");
  };
  auto other = other_bytes();
  if (!other) return other.error();
  if (*other) return set_aside(true, **other);

  // Placed before the index hears of it, so the index never claims bytes the store lacks:
  // a failed placement leaves the index unchanged, and a failed commit leaves a file that
  // the quarantine entry still explains (indexed when the client sends it again, or by
  // Recover() at start).
  if (Status placed = store_.Place(id, meta); !placed) {
    // A concurrent upload of other bytes may have taken the name since the check above.
    other = other_bytes();
    if (other && *other) return set_aside(true, **other);
    return placed.error();
  }
  env_.CrashPoint("receiver.after_place");
  ObjectRow row = IndexRowOf(meta, v.kind, now_ms);
  bool pending = NeedsExternalValidation(config_, v);
  Result<RecordResult> recorded = RecordValidated(index_, row, v, pending, now_ms);
  if (!recorded) return recorded.error();
  env_.CrashPoint("receiver.after_index");
  // Refused by the index: a file with our bytes that the index does not own must not
  // outlive the refusal (the quarantine entry, with the same bytes, is what is kept or
  // dropped). Decided from the index and the file, not from whether this attempt created
  // the name: an earlier attempt's placement (a crash, a failed commit) counts too.
  auto unplace = [&]() -> Status {
    auto owner = index_.FindObject(meta.bucket, meta.key);
    if (!owner) return owner.error();
    if (owner->has_value() && (*owner)->sha256_hex == meta.sha256_hex) return Status::Ok();
    auto sha = present_sha();
    if (!sha) return sha.error();
    if (*sha != meta.sha256_hex) return Status::Ok();  // none, or not ours
    return store_.Unplace(meta);
  };
  switch (recorded->outcome) {
    case RecordOutcome::kIndexed: {
      Status s = store_.DropQuarantine(id);
      if (!s) return s.error();
      if (v.kind == ObjectKind::kSegment) {
        metrics_.objects_accepted += 1;
        metrics_.readings_accepted += v.segment.count;
        metrics_.messages_indexed += recorded->messages_indexed;
        metrics_.messages_duplicate += recorded->messages_duplicate;
        if (recorded->messages_duplicate > 0) {
          log::Warning("{}/{}: {} message(s) with an _id indexed already, not indexed again",
                       meta.bucket, meta.key, recorded->messages_duplicate);
        }
        if (accepted_listener_) accepted_listener_(meta, v.segment);
      } else if (v.kind == ObjectKind::kTombstone) {
        metrics_.tombstones_accepted += 1;
      } else {
        (v.kind == ObjectKind::kReport ? metrics_.reports_accepted : metrics_.files_accepted) += 1;
        if (upload_listener_) upload_listener_(meta, v, pending);
      }
      log::Info("accepted {}/{}", meta.bucket, meta.key);
      result.outcome = PipelineOutcome::kAccepted;
      result.segment = v.segment;
      return result;
    }
    case RecordOutcome::kDuplicate: {
      // The index holds these readings. Under this key with these bytes, the placed file is
      // the index's own (placed again if a crash had lost it); under other bytes, ours go.
      Status s = unplace();
      if (s) s = store_.Discard(id);
      if (!s) return s.error();
      metrics_.objects_duplicate += 1;
      result.outcome = PipelineOutcome::kDuplicate;
      result.reason = recorded->detail;
      result.segment = v.segment;
      return result;
    }
    case RecordOutcome::kConflict:
      if (Status s = unplace(); !s) return s.error();
      return set_aside(true, recorded->detail);
    case RecordOutcome::kInvalidName:
      if (Status s = unplace(); !s) return s.error();
      return refuse_name(recorded->detail);
  }
  return Error("unreachable");
}

void Pipeline::KeepEvidenceCap(const std::string& body_path) {
  std::error_code ec;
  uint64_t added = std::filesystem::file_size(body_path, ec);
  if (ec) added = 0;
  uint64_t sidecar =
      std::filesystem::file_size(std::filesystem::path(body_path).replace_extension(".json"), ec);
  if (!ec) added += sidecar;
  auto evicted = evidence_.Added(added);
  if (!evicted) {
    // The upload's answer does not depend on it; the next rejection tries again.
    log::Warning("evidence cap: {}", evicted.error().message());
    return;
  }
  metrics_.evidence_evicted += evicted->files;
  metrics_.evidence_evicted_bytes += evicted->bytes;
}

Result<size_t> Pipeline::Recover() {
  constexpr int64_t kOrphanAgeMs = 6 * 3600 * 1000;  // an upload in progress elsewhere is younger
  size_t done = 0;
  for (const std::string& id : store_.SealedQuarantine(kOrphanAgeMs)) {
    if (!store_.QuarantineBodyExists(id)) {
      // A crash came after the body was moved (to accepted/, rejected/ or conflicts/, each
      // recorded in the index first) and before the sidecar was removed.
      (void)store_.Discard(id);
      continue;
    }
    auto meta = store_.ReadQuarantineMeta(id);
    if (!meta) {
      log::Error("quarantine {}: {}", id, meta.error().message());
      continue;
    }
    auto r = Process(id, *meta);
    if (!r) {
      metrics_.pipeline_errors += 1;
      log::Error("recover {}/{}: {}", meta->bucket, meta->key, r.error().message());
      continue;
    }
    log::Notice("recovered {}/{} from quarantine: {}", meta->bucket, meta->key,
                OutcomeName(r->outcome));
    ++done;
  }
  return done;
}

}  // namespace granary::receiver
