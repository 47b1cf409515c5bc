// Thin helpers over the SQLite C API: open with the fault-aware VFS, run SQL, bind and
// step prepared statements, and turn result codes into Errors that name the database.
#pragma once

#include <sqlite3.h>

#include <cstdint>
#include <string>
#include <string_view>

#include "platform/env.h"
#include "platform/handles.h"
#include "platform/result.h"

namespace granary::sql {

// Process-wide settings, applied by the first Open. A program that touches SQLite some
// other way first calls this before doing so.
void ConfigureLibrary();

// Opens `path` through the VFS that consults env.InjectedErrno() (see sqlite_fault_vfs.cpp).
Result<SqliteDb> Open(Env& env, const std::string& path, bool read_only);

Status Exec(sqlite3* db, std::string_view sql);
Result<SqliteStmt> Prepare(sqlite3* db, std::string_view sql);

// Errors carry the SQLite message and an errno-like code: ENOSPC for SQLITE_FULL,
// EIO for I/O errors, so callers treat them like file errors.
Error Fail(sqlite3* db, std::string_view what);

// Resets and clears bindings on scope exit, so a statement is reusable on every path.
class StmtScope {
 public:
  explicit StmtScope(sqlite3_stmt* stmt) : stmt_(stmt) {}
  ~StmtScope() {
    sqlite3_reset(stmt_);
    sqlite3_clear_bindings(stmt_);
  }
  StmtScope(const StmtScope&) = delete;
  StmtScope& operator=(const StmtScope&) = delete;

 private:
  sqlite3_stmt* stmt_;
};

inline void Bind(sqlite3_stmt* s, int i, int64_t v) { sqlite3_bind_int64(s, i, v); }
inline void Bind(sqlite3_stmt* s, int i, std::string_view v) {
  sqlite3_bind_text(s, i, v.data(), static_cast<int>(v.size()), SQLITE_TRANSIENT);
}
inline std::string ColumnText(sqlite3_stmt* s, int i) {
  const unsigned char* p = sqlite3_column_text(s, i);
  return p == nullptr ? std::string()
                      : std::string(reinterpret_cast<const char*>(p),
                                    static_cast<size_t>(sqlite3_column_bytes(s, i)));
}

// Runs a statement that returns no rows (or ignores them).
Status StepDone(sqlite3* db, sqlite3_stmt* stmt, std::string_view what);

// A single integer from a one-row query, or `def` when it returns no row or NULL.
Result<int64_t> QueryInt(sqlite3* db, std::string_view sql, int64_t def = 0);

}  // namespace granary::sql
