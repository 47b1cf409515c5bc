// The one seam between the index and its database: SQLite and PostgreSQL drivers run
// the same SQL (with '?' placeholders; the PostgreSQL driver numbers them).
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

#include "platform/env.h"
#include "platform/result.h"
#include "platform/strings.h"

namespace granary::receiver {

using SqlValue = std::variant<std::nullptr_t, int64_t, std::string>;

struct SqlRow {
  std::vector<std::optional<std::string>> columns;
  std::string Text(size_t i) const { return columns.at(i).value_or(""); }
  int64_t Int(size_t i) const {
    return columns.at(i) ? ParseDecimal<int64_t>(*columns.at(i)).value_or(0) : 0;
  }
};

enum class SqlDialect { kSqlite, kPostgres };

// Not thread-safe: the index serialises calls.
class SqlConnection {
 public:
  virtual ~SqlConnection() = default;
  virtual SqlDialect dialect() const = 0;
  virtual Result<std::vector<SqlRow>> Query(std::string_view sql,
                                            const std::vector<SqlValue>& params = {}) = 0;
  Status Exec(std::string_view sql, const std::vector<SqlValue>& params = {}) {
    auto r = Query(sql, params);
    if (!r) return r.error();
    return Status::Ok();
  }
  // Several statements without parameters (schema).
  virtual Status ExecScript(std::string_view sql) = 0;
  // A write transaction: SQLite takes the write lock at once (BEGIN IMMEDIATE).
  virtual Status Begin() = 0;
  virtual Status Commit() = 0;
  virtual void Rollback() = 0;
  // The online backup of a SQLite database to `dest` (SQLite only).
  virtual Status Backup(const std::string& dest) = 0;
};

Result<std::unique_ptr<SqlConnection>> OpenSqliteConnection(Env& env, const std::string& path);
Result<std::unique_ptr<SqlConnection>> OpenPostgresConnection(const std::string& url);

}  // namespace granary::receiver
