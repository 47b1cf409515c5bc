#include "platform/sqlite.h"

#include <cerrno>

#include "platform/sqlite_fault_vfs.h"

namespace granary::sql {

Error Fail(sqlite3* db, std::string_view what) {
  int code = sqlite3_extended_errcode(db);
  int primary = code & 0xff;
  int err = 0;
  if (primary == SQLITE_FULL) err = ENOSPC;
  if (primary == SQLITE_IOERR) err = EIO;
  // Distinct from EIO: a corrupt database is moved aside, an I/O error is retried.
  if (primary == SQLITE_CORRUPT || primary == SQLITE_NOTADB) err = EBADMSG;
  const char* file = sqlite3_db_filename(db, "main");
  return Error(std::string(what) + " (" + (file ? file : "?") + "): " + sqlite3_errmsg(db), err);
}

void ConfigureLibrary() {
  // No up-front page-cache block per connection (SQLite's default is 20 pages each): pages
  // come one at a time as a connection needs them, so the sealer's connection, idle most
  // of the hour, holds almost nothing. sqlite3_config works only before the library's
  // first use; later calls are refused and change nothing.
  static const int rc = sqlite3_config(SQLITE_CONFIG_PAGECACHE, nullptr, 0, 0);
  (void)rc;
}

Result<SqliteDb> Open(Env& env, const std::string& path, bool read_only) {
  ConfigureLibrary();
  sqlite3* raw = nullptr;
  int flags = SQLITE_OPEN_NOMUTEX |
              (read_only ? SQLITE_OPEN_READONLY : SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE);
  int rc = sqlite3_open_v2(path.c_str(), &raw, flags, FaultVfsName(env));
  SqliteDb db(raw);
  if (rc != SQLITE_OK) {
    std::string msg = raw ? sqlite3_errmsg(raw) : sqlite3_errstr(rc);
    return Error("open database " + path + ": " + msg, rc == SQLITE_CANTOPEN ? ENOENT : EIO);
  }
  sqlite3_extended_result_codes(db.get(), 1);
  // A reader closing last must not checkpoint and remove the WAL: only the writer knows
  // whether it stopped cleanly, and a WAL missing after a crash means commits were lost.
  if (read_only) sqlite3_db_config(db.get(), SQLITE_DBCONFIG_NO_CKPT_ON_CLOSE, 1, nullptr);
  sqlite3_busy_timeout(db.get(), 5000);
  // At most 256 KiB of pages per connection (SQLite's default is 2 MiB). The buffer is
  // written at its end and read once, in order, when a segment is sealed, so a bigger cache
  // buys no speed, and every connection's cache is private memory of the agent. The pragma
  // reads the schema; when that fails the caller's first statement reports why.
  (void)Exec(db.get(), "PRAGMA cache_size=-256");
  return db;
}

Status Exec(sqlite3* db, std::string_view sql) {
  std::string text(sql);
  if (sqlite3_exec(db, text.c_str(), nullptr, nullptr, nullptr) != SQLITE_OK) {
    return Fail(db, "exec \"" + text.substr(0, 60) + "\"");
  }
  return Status::Ok();
}

Result<SqliteStmt> Prepare(sqlite3* db, std::string_view sql) {
  sqlite3_stmt* raw = nullptr;
  if (sqlite3_prepare_v3(db, sql.data(), static_cast<int>(sql.size()), SQLITE_PREPARE_PERSISTENT,
                         &raw, nullptr) != SQLITE_OK) {
    return Fail(db, "prepare \"" + std::string(sql.substr(0, 60)) + "\"");
  }
  return SqliteStmt(raw);
}

Status StepDone(sqlite3* db, sqlite3_stmt* stmt, std::string_view what) {
  int rc;
  while ((rc = sqlite3_step(stmt)) == SQLITE_ROW) {
  }
  if (rc != SQLITE_DONE) return Fail(db, what);
  return Status::Ok();
}

Result<int64_t> QueryInt(sqlite3* db, std::string_view sql, int64_t def) {
  auto stmt = Prepare(db, sql);
  if (!stmt) return stmt.error();
  int rc = sqlite3_step(stmt->get());
  if (rc == SQLITE_ROW) {
    if (sqlite3_column_type(stmt->get(), 0) == SQLITE_NULL) return def;
    return static_cast<int64_t>(sqlite3_column_int64(stmt->get(), 0));
  }
  if (rc == SQLITE_DONE) return def;
  return Fail(db, "query \"" + std::string(sql.substr(0, 60)) + "\"");
}

}  // namespace granary::sql
