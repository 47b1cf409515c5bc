#include "receiver/upload_table.h"

#include "receiver/sql_connection.h"

namespace granary::receiver {
namespace {

constexpr const char* kUploadColumns =
    "upload_id, bucket, key, device, content_type, metadata, created_ms, state, result, "
    "finished_ms";

UploadRow ToUpload(const SqlRow& r) {
  UploadRow u;
  u.upload_id = r.Text(0);
  u.bucket = r.Text(1);
  u.key = r.Text(2);
  u.device = r.Text(3);
  u.content_type = r.Text(4);
  u.metadata_json = r.Text(5);
  u.created_ms = r.Int(6);
  u.state = r.Text(7);
  u.result = r.Text(8);
  u.finished_ms = r.Int(9);
  return u;
}

Result<std::vector<UploadRow>> SelectUploads(SqlConnection& db, const std::string& where,
                                             const std::vector<SqlValue>& params) {
  auto rows = db.Query(
      std::string("SELECT ") + kUploadColumns + " FROM multipart_uploads WHERE " + where, params);
  if (!rows) return rows.error();
  std::vector<UploadRow> out;
  for (const SqlRow& r : *rows) out.push_back(ToUpload(r));
  return out;
}

}  // namespace

UploadTable::UploadTable(std::unique_ptr<SqlConnection> db) : db_(std::move(db)) {}
UploadTable::~UploadTable() = default;

Result<std::unique_ptr<UploadTable>> UploadTable::Open(Env& env, const ReceiverConfig& config) {
  Result<std::unique_ptr<SqlConnection>> conn = config.index == "sqlite"
                                                    ? OpenSqliteConnection(env, config.IndexPath())
                                                    : OpenPostgresConnection(config.index);
  if (!conn) return conn.error().Wrap("multipart uploads");
  return std::unique_ptr<UploadTable>(new UploadTable(std::move(*conn)));
}

template <typename Body>
auto UploadTable::Locked(const std::string& upload_id, Body&& body) -> decltype(body()) {
  Status s = db_->Begin();
  if (!s) return s.error();
  if (db_->dialect() == SqlDialect::kPostgres) {
    s = db_->Exec("SELECT pg_advisory_xact_lock(hashtext(?))", {"upload " + upload_id});
    if (!s) {
      db_->Rollback();
      return s.error();
    }
  }
  auto r = body();
  if (!r) {
    db_->Rollback();
    return r;
  }
  s = db_->Commit();
  if (!s) {
    db_->Rollback();
    return s.error();
  }
  return r;
}

Status UploadTable::Create(const UploadRow& u) {
  std::lock_guard<std::mutex> lock(mu_);
  return db_->Exec(std::string("INSERT INTO multipart_uploads (") + kUploadColumns +
                       ") VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                   {u.upload_id, u.bucket, u.key, u.device, u.content_type, u.metadata_json,
                    u.created_ms, u.state, u.result, u.finished_ms});
}

Result<std::optional<UploadRow>> UploadTable::Find(const std::string& upload_id) {
  std::lock_guard<std::mutex> lock(mu_);
  auto rows = SelectUploads(*db_, "upload_id = ?", {upload_id});
  if (!rows) return rows.error();
  if (rows->empty()) return std::optional<UploadRow>();
  return std::optional<UploadRow>(std::move(rows->front()));
}

Result<std::optional<std::string>> UploadTable::PutPart(const std::string& upload_id,
                                                        const PartRow& p) {
  std::lock_guard<std::mutex> lock(mu_);
  return Locked(upload_id, [&]() -> Result<std::optional<std::string>> {
    auto state = db_->Query("SELECT state FROM multipart_uploads WHERE upload_id = ?", {upload_id});
    if (!state) return state.error();
    if (state->empty() || state->front().Text(0) != "open") return std::optional<std::string>();
    auto old =
        db_->Query("SELECT path FROM multipart_parts WHERE upload_id = ? AND part_number = ?",
                   {upload_id, int64_t{p.number}});
    if (!old) return old.error();
    Status s = db_->Exec(
        "INSERT INTO multipart_parts (upload_id, part_number, size, md5, sha256, path, "
        "uploaded_ms) VALUES (?, ?, ?, ?, ?, ?, ?) ON CONFLICT (upload_id, part_number) DO "
        "UPDATE SET size = excluded.size, md5 = excluded.md5, sha256 = excluded.sha256, "
        "path = excluded.path, uploaded_ms = excluded.uploaded_ms",
        {upload_id, int64_t{p.number}, static_cast<int64_t>(p.size), p.md5_hex, p.sha256_hex,
         p.path, p.uploaded_ms});
    if (!s) return s.error();
    return std::optional<std::string>(old->empty() ? "" : old->front().Text(0));
  });
}

Result<std::vector<PartRow>> UploadTable::Parts(const std::string& upload_id) {
  std::lock_guard<std::mutex> lock(mu_);
  auto rows = db_->Query(
      "SELECT part_number, size, md5, sha256, path, uploaded_ms FROM multipart_parts "
      "WHERE upload_id = ? ORDER BY part_number",
      {upload_id});
  if (!rows) return rows.error();
  std::vector<PartRow> parts;
  parts.reserve(rows->size());
  for (const SqlRow& r : *rows) {
    parts.push_back(PartRow{static_cast<int>(r.Int(0)), static_cast<uint64_t>(r.Int(1)), r.Text(2),
                            r.Text(3), r.Text(4), r.Int(5)});
  }
  return parts;
}

Result<bool> UploadTable::Finish(const std::string& upload_id, const std::string& state,
                                 const std::string& result, int64_t now_ms) {
  std::lock_guard<std::mutex> lock(mu_);
  return Locked(upload_id, [&]() -> Result<bool> {
    auto open = db_->Query("SELECT state FROM multipart_uploads WHERE upload_id = ?", {upload_id});
    if (!open) return open.error();
    if (open->empty() || open->front().Text(0) != "open") return false;
    Status s = db_->Exec(
        "UPDATE multipart_uploads SET state = ?, result = ?, finished_ms = ? WHERE upload_id = ?",
        {state, result, now_ms, upload_id});
    if (s) s = db_->Exec("DELETE FROM multipart_parts WHERE upload_id = ?", {upload_id});
    if (!s) return s.error();
    return true;
  });
}

Status UploadTable::Remove(const std::string& upload_id) {
  std::lock_guard<std::mutex> lock(mu_);
  auto r = Locked(upload_id, [&]() -> Result<bool> {
    Status s = db_->Exec("DELETE FROM multipart_parts WHERE upload_id = ?", {upload_id});
    if (s) s = db_->Exec("DELETE FROM multipart_uploads WHERE upload_id = ?", {upload_id});
    if (!s) return s.error();
    return true;
  });
  if (!r) return r.error();
  return Status::Ok();
}

Result<std::vector<UploadRow>> UploadTable::OpenUploads(const std::string& bucket,
                                                        const std::string& device) {
  std::lock_guard<std::mutex> lock(mu_);
  return SelectUploads(*db_, "state = 'open' AND bucket = ? AND device = ?", {bucket, device});
}

Result<std::vector<UploadRow>> UploadTable::Stale(int64_t created_before, int64_t finished_before) {
  std::lock_guard<std::mutex> lock(mu_);
  return SelectUploads(*db_,
                       "(state = 'open' AND created_ms < ?) OR (state <> 'open' AND "
                       "finished_ms < ?) ORDER BY created_ms",
                       {created_before, finished_before});
}

}  // namespace granary::receiver
