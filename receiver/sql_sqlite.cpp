// The SQLite driver of the index: one connection, WAL, synchronous=FULL (an accepted
// segment stays indexed through a power cut), prepared statements cached per SQL text.
#include <sqlite3.h>

#include <map>

#include "platform/sqlite.h"
#include "receiver/sql_connection.h"

namespace granary::receiver {
namespace {

class SqliteConnection final : public SqlConnection {
 public:
  explicit SqliteConnection(SqliteDb db) : db_(std::move(db)) {}

  SqlDialect dialect() const override { return SqlDialect::kSqlite; }

  Result<std::vector<SqlRow>> Query(std::string_view sql,
                                    const std::vector<SqlValue>& params) override {
    auto it = cache_.find(std::string(sql));
    if (it == cache_.end()) {
      auto stmt = sql::Prepare(db_.get(), sql);
      if (!stmt) return stmt.error();
      it = cache_.emplace(std::string(sql), std::move(*stmt)).first;
    }
    sqlite3_stmt* s = it->second.get();
    sql::StmtScope scope(s);
    for (size_t i = 0; i < params.size(); ++i) {
      int idx = static_cast<int>(i + 1);
      if (const auto* v = std::get_if<int64_t>(&params[i])) {
        sql::Bind(s, idx, *v);
      } else if (const auto* t = std::get_if<std::string>(&params[i])) {
        sql::Bind(s, idx, std::string_view(*t));
      } else {
        sqlite3_bind_null(s, idx);
      }
    }
    std::vector<SqlRow> rows;
    for (;;) {
      int rc = sqlite3_step(s);
      if (rc == SQLITE_DONE) break;
      if (rc != SQLITE_ROW)
        return sql::Fail(db_.get(), "query \"" + std::string(sql.substr(0, 60)) + "\"");
      SqlRow row;
      int n = sqlite3_column_count(s);
      row.columns.reserve(static_cast<size_t>(n));
      for (int c = 0; c < n; ++c) {
        if (sqlite3_column_type(s, c) == SQLITE_NULL) {
          row.columns.emplace_back(std::nullopt);
        } else {
          row.columns.emplace_back(sql::ColumnText(s, c));
        }
      }
      rows.push_back(std::move(row));
    }
    return rows;
  }

  Status ExecScript(std::string_view sql) override { return sql::Exec(db_.get(), sql); }
  Status Begin() override { return sql::Exec(db_.get(), "BEGIN IMMEDIATE"); }
  Status Commit() override { return sql::Exec(db_.get(), "COMMIT"); }
  void Rollback() override {
    if (!sqlite3_get_autocommit(db_.get())) (void)sql::Exec(db_.get(), "ROLLBACK");
  }

  Status Backup(const std::string& dest) override {
    sqlite3* raw = nullptr;
    int rc =
        sqlite3_open_v2(dest.c_str(), &raw, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE, nullptr);
    SqliteDb out(raw);
    if (rc != SQLITE_OK) return Error("open " + dest + ": " + sqlite3_errstr(rc));
    sqlite3_backup* b = sqlite3_backup_init(out.get(), "main", db_.get(), "main");
    if (b == nullptr) return sql::Fail(out.get(), "backup to " + dest);
    // One step: the copy is the snapshot of the caller's read transaction (WAL lets writers
    // go on meanwhile).
    do {
      rc = sqlite3_backup_step(b, -1);
      if (rc == SQLITE_BUSY || rc == SQLITE_LOCKED) sqlite3_sleep(20);
    } while (rc == SQLITE_OK || rc == SQLITE_BUSY || rc == SQLITE_LOCKED);
    sqlite3_backup_finish(b);
    if (rc != SQLITE_DONE) return sql::Fail(out.get(), "backup to " + dest);
    return Status::Ok();
  }

 private:
  SqliteDb db_;
  std::map<std::string, SqliteStmt, std::less<>> cache_;
};

}  // namespace

Result<std::unique_ptr<SqlConnection>> OpenSqliteConnection(Env& env, const std::string& path) {
  auto db = sql::Open(env, path, /*read_only=*/false);
  if (!db) return db.error();
  Status s = sql::Exec(db->get(), "PRAGMA journal_mode=WAL; PRAGMA synchronous=FULL;");
  if (!s) return s.error();
  return std::unique_ptr<SqlConnection>(new SqliteConnection(std::move(*db)));
}

}  // namespace granary::receiver
