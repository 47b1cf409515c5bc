#include "agent/service_access.h"

#include <fcntl.h>
#include <grp.h>
#include <pwd.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include "platform/handles.h"

namespace granary {
namespace {

struct Need {
  std::string path;
  bool write_dir = false;  // else: read a file
};

std::vector<Need> NeedsOf(const AgentConfig& c) {
  std::vector<Need> needs;
  for (const std::string& f : c.files) needs.push_back({f});
  auto file = [&](const std::string& path) {
    if (!path.empty()) needs.push_back({path});
  };
  if (c.upload.enabled) {
    file(c.upload.credentials_file);
    file(c.upload.s3.ca_file);
  }
  if (c.mqtt.enabled) {
    for (const std::string* f :
         {&c.mqtt.password_file, &c.mqtt.ca_file, &c.mqtt.cert_file, &c.mqtt.key_file}) {
      file(*f);
    }
  }
  needs.push_back({c.state_dir, true});
  return needs;
}

// The problem with `need` for the calling process's ids ("" when none).
std::string Check(const Need& need) {
  if (need.write_dir) {
    // A state dir not made yet is made by the daemon in its parent.
    std::string dir = need.path;
    if (::access(dir.c_str(), F_OK) != 0) {
      size_t slash = dir.find_last_of('/');
      dir = slash == 0 ? "/" : dir.substr(0, slash);
    }
    if (::access(dir.c_str(), W_OK | X_OK) == 0) return "";
    return dir + ": cannot write (" + std::strerror(errno) + ")";
  }
  int fd = ::open(need.path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd >= 0) {
    ::close(fd);
    return "";
  }
  return need.path + ": cannot read (" + std::strerror(errno) + ")";
}

// Takes `pw`'s uid and groups, then checks; one problem per line on `out`.
[[noreturn]] void CheckInChild(const passwd& pw, const std::vector<Need>& needs, int out) {
  if (::initgroups(pw.pw_name, pw.pw_gid) != 0 || ::setgid(pw.pw_gid) != 0 ||
      ::setuid(pw.pw_uid) != 0) {
    std::string why =
        std::string("cannot take user ") + pw.pw_name + "'s ids: " + std::strerror(errno) + "\n";
    (void)!::write(out, why.data(), why.size());
    ::_exit(2);
  }
  for (const Need& need : needs) {
    std::string problem = Check(need);
    if (problem.empty()) continue;
    problem += "\n";
    (void)!::write(out, problem.data(), problem.size());
  }
  ::_exit(0);
}

}  // namespace

Result<std::vector<std::string>> CheckServiceAccess(const AgentConfig& config,
                                                    const std::string& user) {
  passwd pw{};
  passwd* found = nullptr;
  std::vector<char> buf(16384);
  if (::getpwnam_r(user.c_str(), &pw, buf.data(), buf.size(), &found) != 0 || found == nullptr) {
    return Error("no user \"" + user + "\" on this system");
  }
  std::vector<Need> needs = NeedsOf(config);
  std::vector<std::string> problems;
  if (pw.pw_uid == ::geteuid()) {
    for (const Need& need : needs) {
      if (std::string p = Check(need); !p.empty()) problems.push_back(p);
    }
    return problems;
  }
  if (::geteuid() != 0) return Error("checking as user \"" + user + "\" needs root");
  int fds[2];
  if (::pipe2(fds, O_CLOEXEC) != 0) return Error::FromErrno("pipe");
  UniqueFd read_end(fds[0]), write_end(fds[1]);
  pid_t pid = ::fork();
  if (pid < 0) return Error::FromErrno("fork");
  if (pid == 0) CheckInChild(pw, needs, write_end.get());
  write_end.Reset();
  std::string text;
  char chunk[4096];
  for (ssize_t n; (n = ::read(read_end.get(), chunk, sizeof chunk)) != 0;) {
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) break;
    text.append(chunk, static_cast<size_t>(n));
  }
  int wstatus = 0;
  while (::waitpid(pid, &wstatus, 0) < 0 && errno == EINTR) {
  }
  if (!WIFEXITED(wstatus) || WEXITSTATUS(wstatus) != 0) {
    return Error(text.empty() ? "the check as user \"" + user + "\" failed" : text);
  }
  for (size_t start = 0, end; start < text.size(); start = end + 1) {
    end = text.find('\n', start);
    if (end == std::string::npos) end = text.size();
    problems.push_back(text.substr(start, end - start));
  }
  return problems;
}

}  // namespace granary
