// SQLite stays outside the Env seam (it has its own VFS), but fault tests must be able to
// fail a commit with ENOSPC or EIO. This VFS forwards every call to SQLite's default VFS
// and, before each write and sync, asks env.InjectedErrno("sqlite.write" / "sqlite.sync").
#pragma once

#include "platform/env.h"

namespace granary::sql {

// Name of the VFS to open databases with for `env`, registering it on first use.
// nullptr (SQLite's default VFS, no overhead) for Env::Default().
const char* FaultVfsName(Env& env);

}  // namespace granary::sql
