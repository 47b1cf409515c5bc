#include "platform/sqlite_fault_vfs.h"

#include <sqlite3.h>

#include <cerrno>
#include <map>
#include <memory>
#include <mutex>
#include <string>

namespace granary::sql {
namespace {

using Io = Env::SqliteIo;

struct FaultFile {
  sqlite3_file base;  // must be first: SQLite casts
  Env* env;
  const char* path;    // SQLite keeps the name valid until xClose; null for temp files
  sqlite3_file* real;  // lives right after this struct, in the same allocation
};

int ErrnoToSqlite(int err, int io_code) { return err == ENOSPC ? SQLITE_FULL : io_code; }

FaultFile* Self(sqlite3_file* f) { return reinterpret_cast<FaultFile*>(f); }
sqlite3_file* Real(sqlite3_file* f) { return Self(f)->real; }

void Observe(Env& env, Io io, const char* path, int64_t offset, int64_t size) {
  if (path != nullptr) env.ObserveSqlite(io, path, offset, size);
}

int Close(sqlite3_file* f) { return Real(f)->pMethods->xClose(Real(f)); }
int Read(sqlite3_file* f, void* buf, int n, sqlite3_int64 off) {
  return Real(f)->pMethods->xRead(Real(f), buf, n, off);
}
int Write(sqlite3_file* f, const void* buf, int n, sqlite3_int64 off) {
  int err = Self(f)->env->InjectedErrno("sqlite.write");
  if (err != 0) return ErrnoToSqlite(err, SQLITE_IOERR_WRITE);
  Observe(*Self(f)->env, Io::kWrite, Self(f)->path, off, n);
  return Real(f)->pMethods->xWrite(Real(f), buf, n, off);
}
int Truncate(sqlite3_file* f, sqlite3_int64 size) {
  int err = Self(f)->env->InjectedErrno("sqlite.truncate");
  if (err != 0) return ErrnoToSqlite(err, SQLITE_IOERR_TRUNCATE);
  Observe(*Self(f)->env, Io::kTruncate, Self(f)->path, 0, size);
  return Real(f)->pMethods->xTruncate(Real(f), size);
}
int Sync(sqlite3_file* f, int flags) {
  int err = Self(f)->env->InjectedErrno("sqlite.sync");
  if (err != 0) return ErrnoToSqlite(err, SQLITE_IOERR_FSYNC);
  int rc = Real(f)->pMethods->xSync(Real(f), flags);
  if (rc == SQLITE_OK) Observe(*Self(f)->env, Io::kSynced, Self(f)->path, 0, 0);
  return rc;
}
int FileSize(sqlite3_file* f, sqlite3_int64* size) {
  return Real(f)->pMethods->xFileSize(Real(f), size);
}
int Lock(sqlite3_file* f, int l) { return Real(f)->pMethods->xLock(Real(f), l); }
int Unlock(sqlite3_file* f, int l) { return Real(f)->pMethods->xUnlock(Real(f), l); }
int CheckReservedLock(sqlite3_file* f, int* out) {
  return Real(f)->pMethods->xCheckReservedLock(Real(f), out);
}
int FileControl(sqlite3_file* f, int op, void* arg) {
  return Real(f)->pMethods->xFileControl(Real(f), op, arg);
}
int SectorSize(sqlite3_file* f) { return Real(f)->pMethods->xSectorSize(Real(f)); }
int DeviceCharacteristics(sqlite3_file* f) {
  return Real(f)->pMethods->xDeviceCharacteristics(Real(f));
}
int ShmMap(sqlite3_file* f, int pg, int sz, int extend, void volatile** out) {
  return Real(f)->pMethods->xShmMap(Real(f), pg, sz, extend, out);
}
int ShmLock(sqlite3_file* f, int off, int n, int flags) {
  return Real(f)->pMethods->xShmLock(Real(f), off, n, flags);
}
void ShmBarrier(sqlite3_file* f) { Real(f)->pMethods->xShmBarrier(Real(f)); }
int ShmUnmap(sqlite3_file* f, int del) { return Real(f)->pMethods->xShmUnmap(Real(f), del); }
int Fetch(sqlite3_file* f, sqlite3_int64 off, int n, void** out) {
  return Real(f)->pMethods->xFetch(Real(f), off, n, out);
}
int Unfetch(sqlite3_file* f, sqlite3_int64 off, void* p) {
  return Real(f)->pMethods->xUnfetch(Real(f), off, p);
}

const sqlite3_io_methods kMethods = {3,
                                     Close,
                                     Read,
                                     Write,
                                     Truncate,
                                     Sync,
                                     FileSize,
                                     Lock,
                                     Unlock,
                                     CheckReservedLock,
                                     FileControl,
                                     SectorSize,
                                     DeviceCharacteristics,
                                     ShmMap,
                                     ShmLock,
                                     ShmBarrier,
                                     ShmUnmap,
                                     Fetch,
                                     Unfetch};

struct FaultVfs {
  sqlite3_vfs vfs;  // must be first
  sqlite3_vfs* base;
  Env* env;
  std::string name;
};

int Open(sqlite3_vfs* vfs, const char* name, sqlite3_file* file, int flags, int* out_flags) {
  auto* self = reinterpret_cast<FaultVfs*>(vfs);
  auto* ff = reinterpret_cast<FaultFile*>(file);
  ff->env = self->env;
  ff->path = name;
  ff->real = reinterpret_cast<sqlite3_file*>(ff + 1);
  if ((flags & SQLITE_OPEN_CREATE) != 0) Observe(*self->env, Io::kOpen, name, 0, 0);
  int rc = self->base->xOpen(self->base, name, ff->real, flags, out_flags);
  // SQLite calls xClose only when pMethods is set, so leave it null on failure.
  file->pMethods = (rc == SQLITE_OK && ff->real->pMethods != nullptr) ? &kMethods : nullptr;
  return rc;
}

#define FORWARD(ret, fn, params, args)                \
  ret fn params {                                     \
    auto* b = reinterpret_cast<FaultVfs*>(vfs)->base; \
    return b->fn args;                                \
  }
FORWARD(int, xAccess, (sqlite3_vfs * vfs, const char* n, int f, int* o), (b, n, f, o))
FORWARD(int, xFullPathname, (sqlite3_vfs * vfs, const char* n, int sz, char* o), (b, n, sz, o))
FORWARD(void*, xDlOpen, (sqlite3_vfs * vfs, const char* n), (b, n))
FORWARD(void, xDlError, (sqlite3_vfs * vfs, int n, char* m), (b, n, m))
FORWARD(void, xDlClose, (sqlite3_vfs * vfs, void* h), (b, h))
FORWARD(int, xRandomness, (sqlite3_vfs * vfs, int n, char* o), (b, n, o))
FORWARD(int, xSleep, (sqlite3_vfs * vfs, int us), (b, us))
FORWARD(int, xCurrentTime, (sqlite3_vfs * vfs, double* o), (b, o))
FORWARD(int, xGetLastError, (sqlite3_vfs * vfs, int n, char* o), (b, n, o))
FORWARD(int, xCurrentTimeInt64, (sqlite3_vfs * vfs, sqlite3_int64* o), (b, o))
#undef FORWARD

int xDelete(sqlite3_vfs* vfs, const char* name, int sync_dir) {
  auto* self = reinterpret_cast<FaultVfs*>(vfs);
  if (int err = self->env->InjectedErrno("sqlite.delete"); err != 0) return SQLITE_IOERR_DELETE;
  Observe(*self->env, Io::kDelete, name, 0, 0);
  return self->base->xDelete(self->base, name, sync_dir);
}

using DlSymbol = void (*)();
DlSymbol xDlSym(sqlite3_vfs* vfs, void* handle, const char* symbol) {
  auto* b = reinterpret_cast<FaultVfs*>(vfs)->base;
  return b->xDlSym(b, handle, symbol);
}

}  // namespace

const char* FaultVfsName(Env& env) {
  if (&env == &Env::Default()) return nullptr;
  static std::mutex mu;
  // Registered VFSes must outlive every connection; they are never unregistered.
  static std::map<Env*, std::unique_ptr<FaultVfs>> registry;
  std::lock_guard<std::mutex> lock(mu);
  auto& slot = registry[&env];
  if (!slot) {
    sqlite3_vfs* base = sqlite3_vfs_find(nullptr);
    slot = std::make_unique<FaultVfs>();
    slot->base = base;
    slot->env = &env;
    slot->name = "granary-fault-" + std::to_string(reinterpret_cast<uintptr_t>(&env));
    sqlite3_vfs& v = slot->vfs;
    v.iVersion = 2;
    v.szOsFile = static_cast<int>(sizeof(FaultFile)) + base->szOsFile;
    v.mxPathname = base->mxPathname;
    v.zName = slot->name.c_str();
    v.pAppData = nullptr;
    v.xOpen = Open;
    v.xDelete = xDelete;
    v.xAccess = xAccess;
    v.xFullPathname = xFullPathname;
    v.xDlOpen = xDlOpen;
    v.xDlError = xDlError;
    v.xDlSym = xDlSym;
    v.xDlClose = xDlClose;
    v.xRandomness = xRandomness;
    v.xSleep = xSleep;
    v.xCurrentTime = xCurrentTime;
    v.xGetLastError = xGetLastError;
    v.xCurrentTimeInt64 = xCurrentTimeInt64;
    sqlite3_vfs_register(&v, 0);
  }
  return slot->name.c_str();
}

}  // namespace granary::sql
