#include "agent/sources/child_process.h"

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>

#include "platform/handles.h"

extern char** environ;

namespace granary {
namespace {

using Clock = std::chrono::steady_clock;
using std::chrono::milliseconds;

constexpr size_t kMaxStderr = 4096;

struct Pipe {
  UniqueFd read;
  UniqueFd write;
  bool Open() {
    int fds[2];
    if (pipe2(fds, O_CLOEXEC) != 0) return false;
    read.Reset(fds[0]);
    write.Reset(fds[1]);
    return true;
  }
};

// The spawned child: its group is SIGKILLed and the child reaped unless Wait already did.
class Child {
 public:
  explicit Child(pid_t pid) : pid_(pid) {}
  ~Child() {
    if (pid_ > 0) {
      KillGroup();
      int status;
      while (waitpid(pid_, &status, 0) < 0 && errno == EINTR) {
      }
    }
  }
  Child(const Child&) = delete;
  Child& operator=(const Child&) = delete;

  // The child leads its own group, so -pid reaches everything it started that stayed there.
  void KillGroup() const { ::kill(-pid_, SIGKILL); }

  // True once the child has exited. It stays a zombie until Reap, so its pid, which is
  // also its group's id, cannot be reused while KillGroup may still be called.
  bool Exited() const {
    siginfo_t info{};
    return waitid(P_PID, static_cast<id_t>(pid_), &info, WEXITED | WNOHANG | WNOWAIT) == 0 &&
           info.si_pid == pid_;
  }
  void Reap(int* status) {
    while (waitpid(pid_, status, 0) < 0 && errno == EINTR) {
    }
    pid_ = 0;
  }

 private:
  pid_t pid_;
};

class SpawnSetup {
 public:
  SpawnSetup() {
    posix_spawn_file_actions_init(&actions_);
    posix_spawnattr_init(&attr_);
  }
  ~SpawnSetup() {
    posix_spawn_file_actions_destroy(&actions_);
    posix_spawnattr_destroy(&attr_);
  }
  SpawnSetup(const SpawnSetup&) = delete;
  SpawnSetup& operator=(const SpawnSetup&) = delete;
  posix_spawn_file_actions_t actions_;
  posix_spawnattr_t attr_;
};

void ReadSome(int fd, std::string& into, size_t cap, bool* open, bool* overflow) {
  char buf[16384];
  ssize_t n = ::read(fd, buf, sizeof buf);
  if (n < 0 && (errno == EINTR || errno == EAGAIN)) return;
  if (n <= 0) {
    *open = false;
    return;
  }
  size_t room = cap > into.size() ? cap - into.size() : 0;
  into.append(buf, std::min(room, static_cast<size_t>(n)));
  if (static_cast<size_t>(n) > room && overflow != nullptr) *overflow = true;
}

}  // namespace

Result<ChildOutcome> RunChild(const std::vector<std::string>& argv, milliseconds timeout,
                              size_t max_stdout) {
  if (argv.empty()) return Error("empty command");
  Pipe out, err;
  if (!out.Open() || !err.Open()) return Error::FromErrno("pipe");

  SpawnSetup setup;
  posix_spawn_file_actions_addopen(&setup.actions_, STDIN_FILENO, "/dev/null", O_RDONLY, 0);
  posix_spawn_file_actions_adddup2(&setup.actions_, out.write.get(), STDOUT_FILENO);
  posix_spawn_file_actions_adddup2(&setup.actions_, err.write.get(), STDERR_FILENO);
  sigset_t empty, defaults;
  sigemptyset(&empty);
  sigemptyset(&defaults);
  for (int s : {SIGPIPE, SIGTERM, SIGINT, SIGHUP, SIGUSR1, SIGCHLD}) sigaddset(&defaults, s);
  posix_spawnattr_setsigmask(&setup.attr_, &empty);
  posix_spawnattr_setsigdefault(&setup.attr_, &defaults);
  posix_spawnattr_setpgroup(&setup.attr_, 0);
  posix_spawnattr_setflags(&setup.attr_,
                           POSIX_SPAWN_SETPGROUP | POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF);
  std::vector<char*> args;
  for (const std::string& a : argv) args.push_back(const_cast<char*>(a.c_str()));
  args.push_back(nullptr);
  pid_t pid = 0;
  int rc = posix_spawnp(&pid, args[0], &setup.actions_, &setup.attr_, args.data(), environ);
  if (rc != 0) return Error::FromErrno("run " + argv[0], rc);
  Child child(pid);
  out.write.Close();  // so EOF comes when the child (and its descendants) close theirs
  err.write.Close();

  ChildOutcome outcome;
  Clock::time_point deadline = Clock::now() + timeout;
  bool out_open = true, err_open = true;
  while (true) {
    auto left = std::chrono::duration_cast<milliseconds>(deadline - Clock::now());
    if (left <= milliseconds(0)) {
      outcome.timed_out = true;
      break;
    }
    if (!out_open && !err_open) {
      // Output is closed; the child may still be running. Poll for its exit.
      if (child.Exited()) break;
      ::usleep(static_cast<useconds_t>(std::min<int64_t>(left.count(), 10) * 1000));
      continue;
    }
    pollfd fds[2] = {{out_open ? out.read.get() : -1, POLLIN, 0},
                     {err_open ? err.read.get() : -1, POLLIN, 0}};
    int n = ::poll(fds, 2, static_cast<int>(std::min<int64_t>(left.count(), 1000)));
    if (n < 0 && errno != EINTR) return Error::FromErrno("poll the output of " + argv[0]);
    if (n <= 0) continue;
    if (fds[0].revents != 0) {
      ReadSome(out.read.get(), outcome.out, max_stdout, &out_open, &outcome.stdout_overflow);
    }
    if (fds[1].revents != 0) ReadSome(err.read.get(), outcome.err, kMaxStderr, &err_open, nullptr);
    if (outcome.stdout_overflow) break;
  }
  // Also when the leader exited on its own: descendants left in its group die with it.
  child.KillGroup();
  int status = 0;
  child.Reap(&status);
  if (WIFEXITED(status)) {
    outcome.exited = true;
    outcome.exit_status = WEXITSTATUS(status);
  } else if (WIFSIGNALED(status)) {
    outcome.term_signal = WTERMSIG(status);
  }
  return outcome;
}

}  // namespace granary
