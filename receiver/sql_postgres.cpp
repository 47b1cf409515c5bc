// The PostgreSQL driver of the index (libpq). '?' placeholders become $1..$n; parameters
// and results travel as text.
#include <libpq-fe.h>

#include <map>
#include <memory>

#include "platform/handles_pq.h"
#include "receiver/sql_connection.h"

namespace granary::receiver {
namespace {

std::string Numbered(std::string_view sql) {
  std::string out;
  int n = 0;
  for (char c : sql) {
    if (c == '?') {
      out += '$';
      out += std::to_string(++n);
    } else {
      out += c;
    }
  }
  return out;
}

class PostgresConnection final : public SqlConnection {
 public:
  explicit PostgresConnection(PgConn conn) : conn_(std::move(conn)) {}

  SqlDialect dialect() const override { return SqlDialect::kPostgres; }

  Result<std::vector<SqlRow>> Query(std::string_view sql,
                                    const std::vector<SqlValue>& params) override {
    Reconnect();
    auto it = numbered_.find(std::string(sql));
    if (it == numbered_.end()) it = numbered_.emplace(std::string(sql), Numbered(sql)).first;
    std::vector<std::string> text(params.size());
    std::vector<const char*> values(params.size(), nullptr);
    for (size_t i = 0; i < params.size(); ++i) {
      if (const auto* v = std::get_if<int64_t>(&params[i])) {
        text[i] = std::to_string(*v);
        values[i] = text[i].c_str();
      } else if (const auto* t = std::get_if<std::string>(&params[i])) {
        values[i] = t->c_str();
      }
    }
    PgResult res(PQexecParams(conn_.get(), it->second.c_str(), static_cast<int>(params.size()),
                              nullptr, values.data(), nullptr, nullptr, 0));
    ExecStatusType st = PQresultStatus(res.get());
    if (st != PGRES_COMMAND_OK && st != PGRES_TUPLES_OK) {
      return Error("postgresql: \"" + std::string(sql.substr(0, 60)) +
                   "\": " + PQerrorMessage(conn_.get()));
    }
    std::vector<SqlRow> rows;
    int nrows = PQntuples(res.get()), ncols = PQnfields(res.get());
    rows.reserve(static_cast<size_t>(nrows));
    for (int r = 0; r < nrows; ++r) {
      SqlRow row;
      for (int c = 0; c < ncols; ++c) {
        if (PQgetisnull(res.get(), r, c)) {
          row.columns.emplace_back(std::nullopt);
        } else {
          row.columns.emplace_back(std::string(PQgetvalue(res.get(), r, c),
                                               static_cast<size_t>(PQgetlength(res.get(), r, c))));
        }
      }
      rows.push_back(std::move(row));
    }
    return rows;
  }

  Status ExecScript(std::string_view sql) override {
    Reconnect();
    PgResult res(PQexec(conn_.get(), std::string(sql).c_str()));
    ExecStatusType st = PQresultStatus(res.get());
    if (st != PGRES_COMMAND_OK && st != PGRES_TUPLES_OK) {
      return Error(std::string("postgresql: ") + PQerrorMessage(conn_.get()));
    }
    return Status::Ok();
  }
  Status Begin() override { return ExecScript("BEGIN"); }
  Status Commit() override { return ExecScript("COMMIT"); }
  void Rollback() override {
    if (PQtransactionStatus(conn_.get()) != PQTRANS_IDLE) (void)ExecScript("ROLLBACK");
  }
  Status Backup(const std::string&) override {
    return Error("backup: the PostgreSQL index is backed up with pg_dump or its own tools");
  }

 private:
  // After the server restarted or the network dropped, the next statement reconnects (the
  // failed one has already reported its error; a transaction in flight was lost with it).
  void Reconnect() {
    if (PQstatus(conn_.get()) == CONNECTION_BAD) PQreset(conn_.get());
  }

  PgConn conn_;
  std::map<std::string, std::string, std::less<>> numbered_;
};

}  // namespace

Result<std::unique_ptr<SqlConnection>> OpenPostgresConnection(const std::string& url) {
  PgConn conn(PQconnectdb(url.c_str()));
  if (!conn || PQstatus(conn.get()) != CONNECTION_OK) {
    std::string msg = conn ? PQerrorMessage(conn.get()) : "out of memory";
    while (!msg.empty() && msg.back() == '\n') msg.pop_back();
    return Error("connect to PostgreSQL: " + msg);
  }
  PgResult res(PQexec(conn.get(), "SET client_min_messages = warning"));
  return std::unique_ptr<SqlConnection>(new PostgresConnection(std::move(conn)));
}

}  // namespace granary::receiver
