#include "receiver/report_sql.h"

#include <fmt/format.h>

#include <map>

#include "archive/message.h"

namespace granary::receiver {
namespace {

constexpr const char* kReportColumns =
    "uuid, device, kind, bucket, key, sha256, fields, state, reason, size, time_ms";
constexpr const char* kFileColumns =
    "uuid, name, device, kind, bucket, key, sha256, state, reason, size, stored_ms";
constexpr const char* kValidationColumns =
    "request_id, what, kind, uuid, name, device, bucket, key, sha256, size, tries";

int64_t I(uint64_t v) { return static_cast<int64_t>(v); }
uint64_t U(int64_t v) { return static_cast<uint64_t>(v); }

ReportRow ToReport(const SqlRow& r) {
  return ReportRow{r.Text(0), r.Text(1), r.Text(2), r.Text(3),   r.Text(4), r.Text(5),
                   r.Text(6), r.Text(7), r.Text(8), U(r.Int(9)), r.Int(10)};
}

FileRow ToFile(const SqlRow& r) {
  return FileRow{r.Text(0), r.Text(1), r.Text(2), r.Text(3),   r.Text(4), r.Text(5),
                 r.Text(6), r.Text(7), r.Text(8), U(r.Int(9)), r.Int(10)};
}

PendingValidation ToValidation(const SqlRow& r) {
  return PendingValidation{r.Text(0), r.Text(1), r.Text(2), r.Text(3),   r.Text(4), r.Text(5),
                           r.Text(6), r.Text(7), r.Text(8), U(r.Int(9)), r.Int(10)};
}

// Why a listed attachment is not as listed ("" when it is).
std::string AttachmentProblem(const ReportAttachment& listed, const FileRow* present) {
  if (present == nullptr) return listed.name + " missing";
  if (listed.size && *listed.size != present->size) {
    return fmt::format("{} has {} bytes, listed {}", listed.name, present->size, *listed.size);
  }
  if (!listed.sha256.empty() && listed.sha256 != present->sha256_hex) {
    return listed.name + " has another SHA-256 than listed";
  }
  return "";
}

}  // namespace

Status InsertEvent(SqlConnection& db, int64_t at_ms, const std::string& kind,
                   const std::string& device, const std::string& bucket, const std::string& key,
                   const std::string& detail) {
  return db.Exec(
      "INSERT INTO events (at_ms, kind, device, bucket, key, detail) VALUES (?, ?, ?, ?, ?, ?)",
      {at_ms, kind, device, bucket, key, detail});
}

Result<std::string> ReportSql::InsertReport(const ObjectRow& o, const ReportFacts& f,
                                            bool pending) {
  auto fresh = db_.Query(
      fmt::format("INSERT INTO reports ({}, checked) VALUES (?, ?, ?, ?, ?, ?, ?, ?, '', ?, ?, 0) "
                  "ON CONFLICT (uuid) DO NOTHING RETURNING uuid",
                  kReportColumns),
      {f.uuid, f.device, f.kind, o.bucket, o.key, o.sha256_hex, f.fields_json,
       pending ? "pending" : "accepted", I(o.size), o.stored_ms});
  if (!fresh) return fresh.error();
  if (fresh->empty()) {
    auto other = db_.Query("SELECT key FROM reports WHERE uuid = ?", {f.uuid});
    if (!other) return other.error();
    return "report " + f.uuid + " is indexed under " +
           (other->empty() ? "?" : other->front().Text(0));
  }
  for (const ReportAttachment& a : f.files) {
    Status s =
        db_.Exec("INSERT INTO report_files (uuid, name, size, sha256) VALUES (?, ?, ?, ?)",
                 {f.uuid, a.name, a.size ? SqlValue(I(*a.size)) : SqlValue(nullptr), a.sha256});
    if (!s) return s.error();
  }
  if (pending) {
    Status s = AddValidation("report", f.kind, f.uuid, "", f.device, o);
    if (!s) return s.error();
  }
  return std::string();
}

Result<std::string> ReportSql::InsertFile(const ObjectRow& o, const FileFacts& f, bool pending) {
  auto fresh = db_.Query(
      fmt::format("INSERT INTO files ({}, checked) VALUES (?, ?, ?, ?, ?, ?, ?, ?, '', ?, ?, 0) "
                  "ON CONFLICT (uuid, name) DO NOTHING RETURNING uuid",
                  kFileColumns),
      {f.uuid, f.name, f.device, f.kind, o.bucket, o.key, o.sha256_hex,
       pending ? "pending" : "accepted", I(o.size), o.stored_ms});
  if (!fresh) return fresh.error();
  if (fresh->empty()) {
    auto other = db_.Query("SELECT key FROM files WHERE uuid = ? AND name = ?", {f.uuid, f.name});
    if (!other) return other.error();
    return fmt::format("file {}/{} is indexed under {}", f.uuid, f.name,
                       other->empty() ? "?" : other->front().Text(0));
  }
  if (pending) {
    Status s = AddValidation("file", f.kind, f.uuid, f.name, f.device, o);
    if (!s) return s.error();
  }
  return std::string();
}

Status ReportSql::AddValidation(const std::string& what, const std::string& kind,
                                const std::string& uuid, const std::string& name,
                                const std::string& device, const ObjectRow& o) {
  // The request id stays the object's for every try, so a late answer to any try counts.
  std::string id = archive::UuidText(archive::NewUuidV4());
  return db_.Exec(fmt::format("INSERT INTO validations ({}, next_ms) VALUES "
                              "(?, ?, ?, ?, ?, ?, ?, ?, ?, ?, 0, 0)",
                              kValidationColumns),
                  {id, what, kind, uuid, name, device, o.bucket, o.key, o.sha256_hex, I(o.size)});
}

Result<std::vector<ReportRow>> ReportSql::Reports(const ReportQuery& q) {
  std::string sql =
      fmt::format("SELECT {} FROM reports WHERE time_ms >= ? AND time_ms <= ?", kReportColumns);
  std::vector<SqlValue> params{q.from_ms.value_or(INT64_MIN), q.to_ms.value_or(INT64_MAX)};
  if (!q.device.empty()) {
    sql += " AND device = ?";
    params.emplace_back(q.device);
  }
  if (!q.kind.empty()) {
    sql += " AND kind = ?";
    params.emplace_back(q.kind);
  }
  if (!q.uuid.empty()) {
    sql += " AND uuid = ?";
    params.emplace_back(q.uuid);
  }
  if (q.after) {
    sql += " AND (time_ms > ? OR (time_ms = ? AND uuid > ?))";
    params.insert(params.end(), {q.after->first, q.after->first, q.after->second});
  }
  sql += " ORDER BY time_ms, uuid LIMIT ?";
  params.emplace_back(int64_t{q.limit});
  auto rows = db_.Query(sql, params);
  if (!rows) return rows.error();
  std::vector<ReportRow> out;
  for (const SqlRow& r : *rows) out.push_back(ToReport(r));
  return out;
}

Result<std::vector<ReportAttachment>> ReportSql::ListedFiles(const std::string& uuid) {
  auto rows =
      db_.Query("SELECT name, size, sha256 FROM report_files WHERE uuid = ? ORDER BY name", {uuid});
  if (!rows) return rows.error();
  std::vector<ReportAttachment> out;
  for (const SqlRow& r : *rows) {
    ReportAttachment a{r.Text(0), std::nullopt, r.Text(2)};
    if (r.columns.at(1)) a.size = U(r.Int(1));
    out.push_back(std::move(a));
  }
  return out;
}

Result<std::vector<FileRow>> ReportSql::Files(const std::string& uuid) {
  auto rows = db_.Query(
      fmt::format("SELECT {} FROM files WHERE uuid = ? ORDER BY name", kFileColumns), {uuid});
  if (!rows) return rows.error();
  std::vector<FileRow> out;
  for (const SqlRow& r : *rows) out.push_back(ToFile(r));
  return out;
}

Result<std::vector<PendingValidation>> ReportSql::DueValidations(int64_t now_ms, int limit) {
  auto rows = db_.Query(fmt::format("SELECT {} FROM validations WHERE next_ms <= ? "
                                    "ORDER BY next_ms, request_id LIMIT ?",
                                    kValidationColumns),
                        {now_ms, int64_t{limit}});
  if (!rows) return rows.error();
  std::vector<PendingValidation> out;
  for (const SqlRow& r : *rows) out.push_back(ToValidation(r));
  return out;
}

Status ReportSql::ValidationSent(const std::string& request_id, int64_t next_ms) {
  return db_.Exec("UPDATE validations SET tries = tries + 1, next_ms = ? WHERE request_id = ?",
                  {next_ms, request_id});
}

Result<std::optional<PendingValidation>> ReportSql::DecideValidation(const std::string& request_id,
                                                                     bool accept,
                                                                     const std::string& reason,
                                                                     int64_t now_ms) {
  auto rows =
      db_.Query(fmt::format("SELECT {} FROM validations WHERE request_id = ?", kValidationColumns),
                {request_id});
  if (!rows) return rows.error();
  if (rows->empty()) return std::optional<PendingValidation>();
  PendingValidation v = ToValidation(rows->front());
  Status s = db_.Exec("DELETE FROM validations WHERE request_id = ?", {request_id});
  if (s) {
    s = db_.Exec(fmt::format("UPDATE {} SET state = ?, reason = ? WHERE bucket = ? AND key = ?",
                             v.what == "report" ? "reports" : "files"),
                 {accept ? "accepted" : "rejected", reason, v.bucket, v.key});
  }
  if (s) {
    s = InsertEvent(db_, now_ms, accept ? "validation-accepted" : "validation-rejected", v.device,
                    v.bucket, v.key,
                    accept ? fmt::format("{} {} of kind {}", v.what, v.uuid, v.kind)
                           : fmt::format("{} {} of kind {}: {}", v.what, v.uuid, v.kind, reason));
  }
  if (!s) return s.error();
  return std::optional<PendingValidation>(std::move(v));
}

Result<bool> ReportSql::AttachmentsDue(int64_t due_ms) {
  for (const char* sql : {"SELECT 1 FROM reports WHERE checked = 0 AND time_ms <= ? LIMIT 1",
                          "SELECT 1 FROM files WHERE checked = 0 AND stored_ms <= ? LIMIT 1"}) {
    auto rows = db_.Query(sql, {due_ms});
    if (!rows) return rows.error();
    if (!rows->empty()) return true;
  }
  return false;
}

Result<size_t> ReportSql::CheckAttachments(int64_t due_ms, int64_t now_ms) {
  size_t events = 0;
  auto reports = db_.Query(
      "SELECT uuid, device, bucket, key FROM reports WHERE checked = 0 AND time_ms <= ? "
      "ORDER BY time_ms, uuid",
      {due_ms});
  if (!reports) return reports.error();
  for (const SqlRow& r : *reports) {
    std::string uuid = r.Text(0);
    auto listed = ListedFiles(uuid);
    if (!listed) return listed.error();
    auto files = Files(uuid);
    if (!files) return files.error();
    std::map<std::string, const FileRow*> present;
    for (const FileRow& f : *files) present[f.name] = &f;
    std::string problems;
    size_t bad = 0;
    for (const ReportAttachment& a : *listed) {
      auto it = present.find(a.name);
      std::string problem = AttachmentProblem(a, it == present.end() ? nullptr : it->second);
      if (problem.empty()) continue;
      problems += (bad++ == 0 ? "" : "; ") + problem;
    }
    if (bad > 0) {
      Status s = InsertEvent(db_, now_ms, "report-files-missing", r.Text(1), r.Text(2), r.Text(3),
                             fmt::format("report {}: {} of {} listed file(s) not as listed: {}",
                                         uuid, bad, listed->size(), problems));
      if (!s) return s.error();
      ++events;
    }
    Status s = db_.Exec("UPDATE reports SET checked = 1 WHERE uuid = ?", {uuid});
    if (!s) return s.error();
  }
  auto orphans = db_.Query(
      "SELECT f.uuid, f.name, f.device, f.bucket, f.key FROM files f WHERE f.checked = 0 AND "
      "f.stored_ms <= ? AND NOT EXISTS (SELECT 1 FROM reports r WHERE r.uuid = f.uuid) "
      "ORDER BY f.stored_ms, f.uuid, f.name",
      {due_ms});
  if (!orphans) return orphans.error();
  for (const SqlRow& r : *orphans) {
    Status s =
        InsertEvent(db_, now_ms, "file-without-report", r.Text(2), r.Text(3), r.Text(4),
                    fmt::format("file {}/{}: no report {}", r.Text(0), r.Text(1), r.Text(0)));
    if (!s) return s.error();
    ++events;
  }
  Status s =
      db_.Exec("UPDATE files SET checked = 1 WHERE checked = 0 AND stored_ms <= ?", {due_ms});
  if (!s) return s.error();
  return events;
}

Result<std::vector<KindCount>> ReportSql::KindCounts() {
  auto rows = db_.Query(
      "SELECT 'report', kind, state, count(*) FROM reports GROUP BY kind, state UNION ALL "
      "SELECT 'file', kind, state, count(*) FROM files GROUP BY kind, state ORDER BY 1, 2, 3");
  if (!rows) return rows.error();
  std::vector<KindCount> out;
  for (const SqlRow& r : *rows) out.push_back({r.Text(0), r.Text(1), r.Text(2), U(r.Int(3))});
  return out;
}

}  // namespace granary::receiver
