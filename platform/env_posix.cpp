// The real Env: POSIX files, CLOCK_BOOTTIME, adjtimex.
#include <dirent.h>
#include <fcntl.h>
#include <signal.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <sys/timex.h>
#include <time.h>
#include <unistd.h>

#include <cstdlib>
#include <filesystem>
#include <memory>

#include "platform/env.h"
#include "platform/handles.h"

namespace granary {
namespace {

class PosixWritableFile final : public WritableFile {
 public:
  PosixWritableFile(std::string path, int fd) : path_(std::move(path)), fd_(fd) {}

  Status Append(std::string_view data) override {
    while (!data.empty()) {
      ssize_t n = ::write(fd_.get(), data.data(), data.size());
      if (n < 0) {
        if (errno == EINTR) continue;
        return Error::FromErrno("write " + path_);
      }
      data.remove_prefix(static_cast<size_t>(n));
    }
    return Status::Ok();
  }

  Status Sync() override {
    if (::fdatasync(fd_.get()) != 0) return Error::FromErrno("fsync " + path_);
    return Status::Ok();
  }

  Status Close() override {
    if (fd_.Close() != 0) return Error::FromErrno("close " + path_);
    return Status::Ok();
  }

 private:
  std::string path_;
  UniqueFd fd_;
};

class PosixEnv final : public Env {
 public:
  int64_t WallNowMs() override {
    timespec ts{};
    clock_gettime(CLOCK_REALTIME, &ts);
    return static_cast<int64_t>(ts.tv_sec) * 1000 + ts.tv_nsec / 1000000;
  }

  int64_t MonoNowNs() override {
    timespec ts{};
    clock_gettime(CLOCK_BOOTTIME, &ts);
    return static_cast<int64_t>(ts.tv_sec) * 1000000000 + ts.tv_nsec;
  }

  bool ClockSynchronized() override {
    timex tx{};  // modes = 0: read only, no privilege needed
    int state = adjtimex(&tx);
    return state != TIME_ERROR && (tx.status & STA_UNSYNC) == 0;
  }

  Result<std::unique_ptr<WritableFile>> NewWritableFile(const std::string& path) override {
    int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    if (fd < 0) return Error::FromErrno("create " + path);
    return std::unique_ptr<WritableFile>(new PosixWritableFile(path, fd));
  }

  Status RenameFile(const std::string& from, const std::string& to) override {
    if (::rename(from.c_str(), to.c_str()) != 0) {
      return Error::FromErrno("rename " + from + " to " + to);
    }
    return Status::Ok();
  }

  Status RemoveFile(const std::string& path) override {
    if (::unlink(path.c_str()) != 0 && errno != ENOENT) return Error::FromErrno("remove " + path);
    return Status::Ok();
  }

  Status SyncDir(const std::string& dir) override {
    UniqueFd fd(::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
    if (!fd) return Error::FromErrno("open directory " + dir);
    if (::fsync(fd.get()) != 0) return Error::FromErrno("fsync directory " + dir);
    return Status::Ok();
  }

  Status CreateDirs(const std::string& dir) override {
    std::error_code ec;
    std::filesystem::create_directories(dir, ec);
    if (ec) return Error("create directory " + dir + ": " + ec.message(), ec.value());
    return Status::Ok();
  }

  Result<uint64_t> FreeBytes(const std::string& path) override {
    struct statvfs st {};
    if (::statvfs(path.c_str(), &st) != 0) return Error::FromErrno("statvfs " + path);
    return static_cast<uint64_t>(st.f_bavail) * st.f_frsize;
  }

  Result<uint64_t> FileSize(const std::string& path) override {
    struct stat st {};
    if (::lstat(path.c_str(), &st) != 0) return Error::FromErrno("stat " + path);
    return static_cast<uint64_t>(st.st_size);
  }

  bool FileExists(const std::string& path) override {
    struct stat st {};
    return ::lstat(path.c_str(), &st) == 0;
  }

  Result<std::vector<std::string>> ListDir(const std::string& dir) override {
    std::unique_ptr<DIR, int (*)(DIR*)> d(::opendir(dir.c_str()), ::closedir);
    if (!d) return Error::FromErrno("list " + dir);
    std::vector<std::string> names;
    errno = 0;
    while (dirent* e = ::readdir(d.get())) {
      std::string_view n(e->d_name);
      if (n != "." && n != "..") names.emplace_back(n);
    }
    if (errno != 0) return Error::FromErrno("list " + dir);
    return names;
  }

  Result<std::string> ReadFile(const std::string& path, uint64_t max_bytes) override {
    int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
    if (fd < 0) return Error::FromErrno("open " + path);
    std::string out;
    char buf[65536];
    for (;;) {
      ssize_t n = ::read(fd, buf, sizeof buf);
      if (n < 0 && errno == EINTR) continue;
      if (n < 0) {
        int err = errno;
        ::close(fd);
        return Error::FromErrno("read " + path, err);
      }
      if (n == 0) break;
      if (out.size() + static_cast<size_t>(n) > max_bytes) {
        ::close(fd);
        return Error("read " + path + ": larger than " + std::to_string(max_bytes) + " bytes",
                     EFBIG);
      }
      out.append(buf, static_cast<size_t>(n));
    }
    ::close(fd);
    return out;
  }

  void SleepForMs(int64_t ms) override {
    timespec ts{static_cast<time_t>(ms / 1000), static_cast<long>(ms % 1000) * 1'000'000};
    while (::clock_nanosleep(CLOCK_BOOTTIME, 0, &ts, &ts) == EINTR) {
    }
  }

  // The test hooks are TestHookEnv's (platform/test_hooks.h); here they cost nothing.
  void CrashPoint(std::string_view) override {}
  int InjectedErrno(std::string_view) override { return 0; }
  void HangPoint(std::string_view) override {}
};

}  // namespace

Env& Env::Default() {
  static PosixEnv env;
  return env;
}

Status WriteFileAtomically(Env& env, const std::string& path, std::string_view data, bool durable) {
  const std::string tmp = path + ".tmp";
  auto file = env.NewWritableFile(tmp);
  if (!file) return file.error();
  Status s = (*file)->Append(data);
  if (s && durable) s = (*file)->Sync();
  Status c = (*file)->Close();
  if (s) s = c;
  if (s) s = env.RenameFile(tmp, path);
  if (!s) {
    (void)env.RemoveFile(tmp);
    return s;
  }
  if (!durable) return Status::Ok();
  std::string dir = std::filesystem::path(path).parent_path().string();
  return env.SyncDir(dir.empty() ? "." : dir);
}

}  // namespace granary
