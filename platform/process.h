// Process-level plumbing: the state dir lock that says "a daemon owns this", and
// synchronous signal handling (signals are blocked in every thread and taken by the
// main loop with sigtimedwait, so no handler ever runs in a random thread).
#pragma once

#include <sys/types.h>

#include <chrono>
#include <string>

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

  PidLock(PidLock&& other) noexcept : fd_(other.fd_) { other.fd_ = -1; }
  PidLock& operator=(PidLock&& other) noexcept;
  PidLock(const PidLock&) = delete;
  PidLock& operator=(const PidLock&) = delete;
  ~PidLock();

 private:
  explicit PidLock(int fd) : fd_(fd) {}
  int fd_ = -1;
};

// Blocks SIGTERM, SIGINT, SIGHUP and SIGUSR1 in the calling thread; threads created
// afterwards inherit the mask. Also ignores SIGPIPE. Call before starting any thread.
void BlockControlSignals();

// Waits up to `timeout` for one of the blocked signals; returns it, or 0 on timeout.
int WaitControlSignal(std::chrono::milliseconds timeout);

}  // namespace granary
