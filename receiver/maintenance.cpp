#include "receiver/maintenance.h"

#include <fmt/format.h>

#include <cerrno>
#include <filesystem>
#include <set>

#include "receiver/message_store.h"
#include "receiver/sql_connection.h"

namespace granary::receiver {
namespace {

constexpr const char* kTables[] = {
    "objects",  "segments", "coverage",     "tombstones", "rejections",  "devices",       "events",
    "messages", "reports",  "report_files", "files",      "validations", "schema_version"};

// A report's or file's row must name the object's bytes ("" when it does).
Result<std::string> UploadProblem(Index& index, const ObjectRow& o, const std::string& prefix) {
  std::string device = DeviceOfKey(o.key, prefix);
  KeyParts key = ParseKeyShape(std::string_view(o.key).substr(
      prefix.empty() ? device.size() + 1 : prefix.size() + device.size() + 2));
  if (o.kind == "report") {
    auto row = index.Report(key.uuid);
    if (!row) return row.error();
    if (!row->has_value()) return std::string("no report row");
    if ((*row)->key != o.key || (*row)->sha256_hex != o.sha256_hex) {
      return std::string("the report row names other bytes");
    }
    return std::string();
  }
  auto files = index.Files(key.uuid);
  if (!files) return files.error();
  for (const FileRow& f : *files) {
    if (f.name == key.name) {
      return std::string(
          f.key == o.key && f.sha256_hex == o.sha256_hex ? "" : "the file row names other bytes");
    }
  }
  return std::string("no file row");
}

Result<std::vector<std::pair<std::string, int64_t>>> CountRows(SqlConnection& db) {
  std::vector<std::pair<std::string, int64_t>> counts;
  for (const char* table : kTables) {
    auto rows = db.Query(fmt::format("SELECT count(*) FROM {}", table));
    if (!rows) return rows.error();
    counts.emplace_back(table, rows->front().Int(0));
  }
  return counts;
}

}  // namespace

Result<VerifyReport> VerifyStore(Index& index, const ObjectStore& store,
                                 uint32_t max_document_bytes, const std::string& prefix) {
  VerifyReport report;
  auto objects = index.AllObjects();
  if (!objects) return objects.error();
  std::set<std::pair<std::string, std::string>> indexed;
  for (const ObjectRow& o : *objects) {
    ++report.objects_checked;
    indexed.emplace(o.bucket, o.key);
    auto digest = DigestObject(store, o.bucket, o.key);
    if (!digest && digest.error().sys_errno() == ESTALE) {  // changed where it lies
      report.hash_mismatch.push_back(digest.error().message());
      continue;
    }
    if (!digest) {
      report.missing.push_back(o.bucket + "/" + o.key);
    } else if (digest->sha256_hex != o.sha256_hex || digest->bytes != o.size) {
      report.hash_mismatch.push_back(fmt::format("{}/{} (indexed sha256 {}, file {})", o.bucket,
                                                 o.key, o.sha256_hex, digest->sha256_hex));
      continue;
    }
    if (o.kind == "report" || o.kind == "file") {
      ++report.uploads_checked;
      auto problem = UploadProblem(index, o, prefix);
      if (!problem) return problem.error();
      if (!problem->empty())
        report.upload_mismatch.push_back(o.bucket + "/" + o.key + ": " + *problem);
      continue;
    }
    if (o.kind != "segment") continue;
    auto rows = index.SegmentMessages(o.bucket, o.key);
    if (!rows) return rows.error();
    if (rows->empty()) continue;
    auto problems = WalkSegmentMessages(store, o.bucket, o.key, *rows, max_document_bytes,
                                        [](const MessageRow&, std::string_view) {});
    if (!problems) {
      report.message_mismatch.push_back(
          fmt::format("{}/{}: {}", o.bucket, o.key, problems.error().message()));
      continue;
    }
    report.messages_checked += rows->size();
    for (std::string& p : *problems) report.message_mismatch.push_back(std::move(p));
  }
  auto accepted = store.ListAccepted();
  if (!accepted) return accepted.error();
  for (const auto& [bucket, key] : *accepted) {
    ++report.files_checked;
    if (!indexed.count({bucket, key})) report.unindexed.push_back(bucket + "/" + key);
  }
  return report;
}

Result<BackupReport> BackupIndex(Env& env, const ReceiverConfig& config, const std::string& dest) {
  if (config.index != "sqlite") {
    return Error("backup copies the SQLite index; back up PostgreSQL with pg_dump");
  }
  std::error_code ec;
  if (std::filesystem::exists(dest, ec)) return Error(dest + ": already exists; not overwriting");
  auto source = OpenSqliteConnection(env, config.IndexPath());
  if (!source) return source.error();
  // One read transaction: the counts and the copy see the same snapshot.
  Status s = (*source)->ExecScript("BEGIN");
  if (!s) return s.error();
  auto expected = CountRows(**source);
  if (!expected) {
    (*source)->Rollback();
    return expected.error();
  }
  s = (*source)->Backup(dest);
  (void)(*source)->ExecScript("COMMIT");
  if (!s) return s.error();

  auto copy = OpenSqliteConnection(env, dest);
  if (!copy) return copy.error().Wrap("open the copy");
  auto check = (*copy)->Query("PRAGMA integrity_check");
  if (!check) return check.error().Wrap("check the copy");
  if (check->empty() || check->front().Text(0) != "ok") {
    return Error(dest + ": integrity_check failed: " +
                 (check->empty() ? std::string("no answer") : check->front().Text(0)));
  }
  auto got = CountRows(**copy);
  if (!got) return got.error().Wrap("count the copy");
  for (size_t i = 0; i < got->size(); ++i) {
    if ((*got)[i].second != (*expected)[i].second) {
      return Error(fmt::format("{}: table {} has {} rows, the index had {}", dest, (*got)[i].first,
                               (*got)[i].second, (*expected)[i].second));
    }
  }
  return BackupReport{*got};
}

}  // namespace granary::receiver
