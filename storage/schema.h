// The buffer database's schema and its migrations (PRAGMA user_version).
#pragma once

#include <sqlite3.h>

#include "platform/result.h"

namespace granary::schema {

inline constexpr int kVersion = 3;

// Brings the database to kVersion in one transaction per step. A database newer than
// this binary is refused rather than guessed at.
Status Migrate(sqlite3* db);

}  // namespace granary::schema
