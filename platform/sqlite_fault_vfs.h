// SQLite stays outside the Env seam (it has its own VFS), but fault tests must be able to
// fail a commit with ENOSPC or EIO. This VFS forwards every call to SQLite's default VFS
// and, before each write, truncate, sync and delete, asks env.InjectedErrno("sqlite.write",
// "sqlite.truncate", "sqlite.sync", "sqlite.delete"); it tells env.ObserveSqlite() what
// it changes and what it made durable, so a power-cut test can undo the rest.
#pragma once

#include "platform/env.h"

namespace granary::sql {

// Name of the VFS to open databases with for `env`, registering it on first use.
// nullptr (SQLite's default VFS, no overhead) for Env::Default().
const char* FaultVfsName(Env& env);

}  // namespace granary::sql
