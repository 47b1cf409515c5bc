#include "platform/process.h"

#include <dlfcn.h>
#include <fcntl.h>
#include <malloc.h>
#include <pthread.h>
#include <signal.h>
#include <sys/file.h>
#include <unistd.h>

#include <cerrno>
#include <charconv>
#include <string>

namespace granary {
namespace {

sigset_t ControlSet() {
  sigset_t set;
  sigemptyset(&set);
  for (int sig : {SIGTERM, SIGINT, SIGHUP, SIGUSR1, SIGIO}) sigaddset(&set, sig);
  return set;
}

}  // namespace

Result<PidLock> PidLock::Acquire(const std::string& path) {
  UniqueFd fd(::open(path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0644));
  if (!fd) return Error::FromErrno("open lock file " + path);
  if (::flock(fd.get(), LOCK_EX | LOCK_NB) != 0) {
    int err = errno;
    if (err == EWOULDBLOCK) {
      return Error("another granary (pid " + std::to_string(Holder(path)) + ") owns " + path, err);
    }
    return Error::FromErrno("lock " + path, err);
  }
  std::string pid = std::to_string(::getpid()) + "\n";
  if (::ftruncate(fd.get(), 0) != 0 || ::pwrite(fd.get(), pid.data(), pid.size(), 0) < 0) {
    return Error::FromErrno("write lock file " + path);
  }
  return PidLock(std::move(fd));
}

pid_t PidLock::Holder(const std::string& path) {
  UniqueFd fd(::open(path.c_str(), O_RDONLY | O_CLOEXEC | O_NOFOLLOW));
  if (!fd) return 0;
  if (::flock(fd.get(), LOCK_SH | LOCK_NB) == 0 || errno != EWOULDBLOCK) return 0;
  char buf[32] = {};
  ssize_t n = ::pread(fd.get(), buf, sizeof buf - 1, 0);
  // The file is another process's to write: a torn or foreign content reads as "unknown".
  pid_t pid = 0;
  if (n > 0) std::from_chars(buf, buf + n, pid);
  return pid;
}

void TuneMalloc() {
  // One malloc arena for every thread. glibc would give each thread that allocates an arena
  // of its own (up to 8 per core), and returns a non-main arena's free memory only from the
  // top of its heap: with a second arena, what the sealer and the uploader freed stayed
  // resident between seals (about 100-165 KiB of the low-rate bench's RssAnon, and 100 KiB
  // with 100 HTTP sources). The threads mostly sleep, and each takes its small blocks from
  // its own tcache without the arena's lock, so durable ingest was not measurably slower
  // (docs/benchmarks.md).
  // (A fixed M_MMAP_THRESHOLD of 64 KiB, so that a seal's zlib state went back to the
  // kernel at once, cut durable ingest from 64% to 25% of raw SQLite: every batch's
  // blocks were mapped and unmapped, each unmap a TLB shootdown across the threads.)
  mallopt(M_ARENA_MAX, 1);
}

void ReleaseImplicitGnutls() {
  // GnuTLS initialises itself from its constructor in every process that loads it (its ASN.1
  // trees and tables, about 110 KiB of private memory), and the agent loads it only because
  // Debian's libcurl links librtmp, which links GnuTLS. Nothing in the agent uses it: its
  // TLS is libcurl's OpenSSL, and every curl handle allows http and https only. A library
  // that needs GnuTLS later calls gnutls_global_init itself (libmicrohttpd does, when the
  // metrics server loads it), which counts up from zero and initialises it again.
  // Looked up rather than linked: the agent has no other reason to depend on GnuTLS.
  using Deinit = void (*)();
  auto deinit = reinterpret_cast<Deinit>(::dlsym(RTLD_DEFAULT, "gnutls_global_deinit"));
  if (deinit == nullptr) return;
  deinit();
  (void)malloc_trim(0);  // the trees were freed in the middle of the heap
}

void BoundThreadStacks(size_t bytes) {
  pthread_attr_t attr;
  if (pthread_attr_init(&attr) != 0) return;
  if (pthread_attr_setstacksize(&attr, bytes) == 0) (void)pthread_setattr_default_np(&attr);
  pthread_attr_destroy(&attr);
}

void NameThisThread(const std::string& name) {
  (void)pthread_setname_np(pthread_self(), name.substr(0, 15).c_str());
}

void BlockControlSignals() {
  sigset_t set = ControlSet();
  pthread_sigmask(SIG_BLOCK, &set, nullptr);
  signal(SIGPIPE, SIG_IGN);
}

int WaitControlSignal(std::chrono::milliseconds timeout) {
  sigset_t set = ControlSet();
  timespec ts{};
  ts.tv_sec = static_cast<time_t>(timeout.count() / 1000);
  ts.tv_nsec = static_cast<long>((timeout.count() % 1000) * 1'000'000);
  int sig = sigtimedwait(&set, nullptr, &ts);
  return sig > 0 ? sig : 0;
}

}  // namespace granary
