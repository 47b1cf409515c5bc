// The catalog's multipart tables: uploads in progress and their acknowledged parts.
#include "platform/sqlite.h"
#include "storage/catalog.h"

namespace granary {
namespace {

enum MultipartStmt : int {
  kFindUpload,
  kFindParts,
  kDeleteUpload,
  kDeleteParts,
  kInsertUpload,
  kInsertPart,
  kMultipartStmtCount
};

const char* MultipartSql(int which) {
  switch (which) {
    case kFindUpload:
      return "SELECT upload_id, path, size, mtime_ns, inode, sha256, part_size, created_at"
             " FROM multipart_uploads WHERE key=?";
    case kFindParts:
      return "SELECT number, etag, md5 FROM multipart_parts WHERE key=? ORDER BY number";
    case kDeleteUpload:
      return "DELETE FROM multipart_uploads WHERE key=?";
    case kDeleteParts:
      return "DELETE FROM multipart_parts WHERE key=?";
    case kInsertUpload:
      return "INSERT INTO multipart_uploads(key, upload_id, path, size, mtime_ns, inode, sha256,"
             " part_size, created_at) VALUES(?,?,?,?,?,?,?,?,?)";
    case kInsertPart:
      return "INSERT OR REPLACE INTO multipart_parts(key, number, etag, md5) VALUES(?,?,?,?)";
    default:
      return "";
  }
}

}  // namespace

Result<sqlite3_stmt*> SegmentCatalog::GetMultipart(int which) {
  if (multipart_stmts_.empty()) multipart_stmts_.resize(kMultipartStmtCount);
  SqliteStmt& slot = multipart_stmts_[which];
  if (!slot) {
    auto s = sql::Prepare(db_, MultipartSql(which));
    if (!s) return s.error();
    slot = std::move(*s);
  }
  return slot.get();
}

Result<std::optional<MultipartRecord>> SegmentCatalog::FindMultipart(const std::string& key) {
  auto st = GetMultipart(kFindUpload);
  if (!st) return st.error();
  MultipartRecord r;
  {
    sql::StmtScope scope(*st);
    sql::Bind(*st, 1, key);
    int rc = sqlite3_step(*st);
    if (rc == SQLITE_DONE) return std::optional<MultipartRecord>();
    if (rc != SQLITE_ROW) return sql::Fail(db_, "find the multipart upload of " + key);
    r.key = key;
    r.upload_id = sql::ColumnText(*st, 0);
    r.path = sql::ColumnText(*st, 1);
    r.size = static_cast<uint64_t>(sqlite3_column_int64(*st, 2));
    r.mtime_ns = sqlite3_column_int64(*st, 3);
    r.inode = static_cast<uint64_t>(sqlite3_column_int64(*st, 4));
    r.sha256_hex = sql::ColumnText(*st, 5);
    r.part_size = static_cast<uint64_t>(sqlite3_column_int64(*st, 6));
    r.created_at = sqlite3_column_int64(*st, 7);
  }
  auto parts = GetMultipart(kFindParts);
  if (!parts) return parts.error();
  sql::StmtScope scope(*parts);
  sql::Bind(*parts, 1, key);
  int rc;
  while ((rc = sqlite3_step(*parts)) == SQLITE_ROW) {
    MultipartPartRecord p;
    p.number = static_cast<uint32_t>(sqlite3_column_int64(*parts, 0));
    p.etag = sql::ColumnText(*parts, 1);
    p.md5_hex = sql::ColumnText(*parts, 2);
    r.parts.push_back(std::move(p));
  }
  if (rc != SQLITE_DONE) return sql::Fail(db_, "read the parts of " + key);
  return std::optional<MultipartRecord>(std::move(r));
}

Status SegmentCatalog::BeginMultipart(const MultipartRecord& r) {
  return InTransaction([&]() -> Status {
    if (Status s = EndMultipartIn(r.key); !s) return s;
    auto st = GetMultipart(kInsertUpload);
    if (!st) return st.error();
    sql::StmtScope scope(*st);
    sql::Bind(*st, 1, r.key);
    sql::Bind(*st, 2, r.upload_id);
    sql::Bind(*st, 3, r.path);
    sql::Bind(*st, 4, static_cast<int64_t>(r.size));
    sql::Bind(*st, 5, r.mtime_ns);
    sql::Bind(*st, 6, static_cast<int64_t>(r.inode));
    sql::Bind(*st, 7, r.sha256_hex);
    sql::Bind(*st, 8, static_cast<int64_t>(r.part_size));
    sql::Bind(*st, 9, r.created_at);
    return sql::StepDone(db_, *st, "record the multipart upload of " + r.key);
  });
}

Status SegmentCatalog::RecordPart(const std::string& key, const MultipartPartRecord& part) {
  auto st = GetMultipart(kInsertPart);
  if (!st) return st.error();
  sql::StmtScope scope(*st);
  sql::Bind(*st, 1, key);
  sql::Bind(*st, 2, static_cast<int64_t>(part.number));
  sql::Bind(*st, 3, part.etag);
  sql::Bind(*st, 4, part.md5_hex);
  return sql::StepDone(db_, *st, "record part " + std::to_string(part.number) + " of " + key);
}

Status SegmentCatalog::ReplaceParts(const std::string& key,
                                    const std::vector<MultipartPartRecord>& parts) {
  return InTransaction([&]() -> Status {
    auto del = GetMultipart(kDeleteParts);
    if (!del) return del.error();
    {
      sql::StmtScope scope(*del);
      sql::Bind(*del, 1, key);
      if (Status s = sql::StepDone(db_, *del, "forget the parts of " + key); !s) return s;
    }
    for (const MultipartPartRecord& p : parts) {
      if (Status s = RecordPart(key, p); !s) return s;
    }
    return Status::Ok();
  });
}

Status SegmentCatalog::EndMultipartIn(const std::string& key) {
  for (int which : {kDeleteParts, kDeleteUpload}) {
    auto st = GetMultipart(which);
    if (!st) return st.error();
    sql::StmtScope scope(*st);
    sql::Bind(*st, 1, key);
    if (Status s = sql::StepDone(db_, *st, "forget the multipart upload of " + key); !s) return s;
  }
  return Status::Ok();
}

Status SegmentCatalog::EndMultipart(const std::string& key) {
  return InTransaction([&] { return EndMultipartIn(key); });
}

}  // namespace granary
