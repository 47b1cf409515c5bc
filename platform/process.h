// Process-level plumbing: the state dir lock that says "a daemon owns this", and
// synchronous signal handling (signals are blocked in every thread and taken by the
// main loop with sigtimedwait, so no handler ever runs in a random thread).
#pragma once

#include <sys/types.h>

#include <chrono>
#include <cstddef>
#include <string>

#include "platform/handles.h"
#include "platform/result.h"

namespace granary {

// An exclusive flock on a file holding our PID. Released when destroyed or on exit,
// including kill -9, so a stale lock never blocks a restart.
class PidLock {
 public:
  // Takes the lock, or fails with EWOULDBLOCK when another process holds it.
  static Result<PidLock> Acquire(const std::string& path);
  // The PID of the process holding the lock at `path`, or 0 when nobody does.
  static pid_t Holder(const std::string& path);

 private:
  explicit PidLock(UniqueFd fd) : fd_(std::move(fd)) {}
  UniqueFd fd_;
};

// The agent's malloc settings, for it and for the benchmarks that stand for it (see
// process.cpp). Call first thing in main, before any thread starts.
void TuneMalloc();

// Gives back what GnuTLS's implicit initialisation holds (see process.cpp) in a process
// that never uses GnuTLS. Call before any thread starts and before anything could use it.
void ReleaseImplicitGnutls();

// The stack every thread created from now on gets (std::thread and the libraries' threads
// alike), instead of the 8 MiB ulimit default. Only the depth a thread reaches is
// resident; the bound keeps a runaway recursion from growing private memory unseen.
void BoundThreadStacks(size_t bytes);

// Names the calling thread (at most 15 bytes are kept), so top -H, /proc/PID/task/*/comm
// and the footprint bench tell the threads apart.
void NameThisThread(const std::string& name);

// Blocks SIGTERM, SIGINT, SIGHUP, SIGUSR1 and SIGIO (see DirWatch::SignalOnChange) in the
// calling thread; threads created
// afterwards inherit the mask. Also ignores SIGPIPE. Call before starting any thread.
void BlockControlSignals();

// Waits up to `timeout` for one of the blocked signals; returns it, or 0 on timeout.
// SIGIO means a watched directory changed.
int WaitControlSignal(std::chrono::milliseconds timeout);

}  // namespace granary
