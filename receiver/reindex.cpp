#include "receiver/reindex.h"

#include <fmt/format.h>

#include <chrono>
#include <filesystem>
#include <limits>
#include <set>

#include "receiver/pipeline.h"

namespace granary::receiver {
namespace {

int64_t ModifiedMs(const std::string& path) {
  std::error_code ec;
  auto mtime = std::filesystem::last_write_time(path, ec);
  if (ec) return 0;
  auto since = std::chrono::file_clock::to_sys(mtime).time_since_epoch();
  return std::chrono::duration_cast<std::chrono::milliseconds>(since).count();
}

// What the agent sends with a segment or tombstone, from what validation found in it.
sigv4::Headers MetadataOf(const Validation& v, const std::string& sha256_hex) {
  if (v.kind == ObjectKind::kReport) {
    return {{"granary-format", "report.json/1"},
            {"granary-kind", v.report.kind},
            {"granary-uuid", v.report.uuid},
            {"granary-sha256", sha256_hex}};
  }
  if (v.kind == ObjectKind::kFile) {
    sigv4::Headers h{{"granary-format", "file/1"},
                     {"granary-uuid", v.file.uuid},
                     {"granary-sha256", sha256_hex}};
    if (!v.file.kind.empty()) h.emplace_back("granary-kind", v.file.kind);
    return h;
  }
  if (v.kind == ObjectKind::kTombstone) {
    return {{"granary-device", v.tombstone.device},
            {"granary-source", v.tombstone.source},
            {"granary-format", "tombstone/1"}};
  }
  const SegmentFacts& f = v.segment;
  return {{"granary-device", f.device},
          {"granary-source", f.source},
          {"granary-first-seq", std::to_string(f.first_seq)},
          {"granary-last-seq", std::to_string(f.last_seq)},
          {"granary-count", std::to_string(f.count)},
          {"granary-format", f.format}};
}

}  // namespace

Result<std::string> IndexBehindStore(Index& index, ObjectStore& store) {
  auto objects = index.AllObjects();
  if (!objects) return objects.error();
  std::set<std::pair<std::string, std::string>> indexed;
  for (const ObjectRow& o : *objects) indexed.emplace(o.bucket, o.key);
  size_t in_quarantine = 0;
  for (const std::string& id : store.SealedQuarantine(std::numeric_limits<int64_t>::max())) {
    auto meta = store.ReadQuarantineMeta(id);
    if (meta && indexed.emplace(meta->bucket, meta->key).second) ++in_quarantine;
  }
  size_t unindexed = 0;
  std::string first;
  auto accepted = store.ListAccepted();
  if (!accepted) return accepted.error();
  for (const auto& file : *accepted) {
    if (indexed.count(file)) continue;
    if (unindexed++ == 0) first = file.first + "/" + file.second;
  }
  if (unindexed == 0) return std::string();
  return fmt::format(
      "the index is behind the store: {} of the files in accepted/ are not indexed (first: "
      "{}; the index lists {} objects); ingest is refused until `granary-receiver reindex`",
      unindexed, first, indexed.size() - in_quarantine);
}

Result<ReindexReport> Reindex(Env& env, Index& index, const ObjectStore& store,
                              const ReceiverConfig& config) {
  ReindexReport report;
  auto accepted = store.ListAccepted();
  if (!accepted) return accepted.error();
  for (const auto& [bucket, key] : *accepted) {
    ++report.files;
    auto reader = store.OpenReader(bucket, key);
    if (!reader) return reader.error();
    auto file = LocalCopy::Make(env, store.data_dir(), std::move(*reader));
    if (!file) return file.error();
    const std::string& path = (*file)->path();
    // Named, not the bindings: a lambda may not capture a structured binding before C++20's
    // later fixes (clang 14 refuses it).
    const std::string where = bucket + "/" + key;
    auto problem = [&](const std::string& why) { report.problems.push_back(where + ": " + why); };
    auto digest = DigestFile(path);
    if (!digest) return digest.error();
    ObjectMeta meta;
    meta.bucket = bucket;
    meta.key = key;
    meta.size = digest->bytes;
    meta.md5_hex = digest->md5_hex;
    meta.sha256_hex = digest->sha256_hex;
    // Accepted bytes had their metadata's SHA-256 (a file must name it).
    meta.user_metadata = {{"granary-sha256", meta.sha256_hex}};
    Validation v = ValidateObject(path, meta, config.prefix, ValidatorLimitsOf(config));
    if (!v.ok) {
      problem("invalid: " + v.reason);
      continue;
    }
    meta.user_metadata = MetadataOf(v, meta.sha256_hex);
    // Lost with the database; what every agent sends, so a GET answers as before.
    meta.content_type = "application/octet-stream";
    int64_t stored_ms = ModifiedMs(path);
    ObjectRow row = IndexRowOf(meta, v.kind, stored_ms);
    // A validator's decision is lost with the database: the object is asked about again.
    auto recorded =
        RecordValidated(index, row, v, NeedsExternalValidation(config, v), env.WallNowMs());
    if (!recorded) return recorded.error();
    switch (recorded->outcome) {
      case RecordOutcome::kIndexed:
        ++report.indexed;
        break;
      case RecordOutcome::kDuplicate:
        ++report.already;
        break;
      case RecordOutcome::kConflict:
      case RecordOutcome::kInvalidName:
        problem(recorded->detail);
        break;
    }
  }
  return report;
}

}  // namespace granary::receiver
