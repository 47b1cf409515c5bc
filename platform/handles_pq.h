// Owners of libpq's handles (see handles.h for the rule).
#pragma once

#include <libpq-fe.h>

#include <memory>

namespace granary {

struct PgConnFinish {
  void operator()(PGconn* c) const { PQfinish(c); }
};
struct PgResultClear {
  void operator()(PGresult* r) const { PQclear(r); }
};
using PgConn = std::unique_ptr<PGconn, PgConnFinish>;
using PgResult = std::unique_ptr<PGresult, PgResultClear>;

}  // namespace granary
