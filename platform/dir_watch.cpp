#include "platform/dir_watch.h"

#include <fcntl.h>
#include <sys/inotify.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>

namespace granary {

namespace {

// IN_CLOSE_WRITE, not IN_MODIFY: a file being written is seen once, when it is complete.
constexpr uint32_t kMask = IN_CLOSE_WRITE | IN_MOVED_TO | IN_MOVED_FROM | IN_CREATE | IN_DELETE |
                           IN_DELETE_SELF | IN_MOVE_SELF | IN_ONLYDIR;

}  // namespace

Result<DirWatch> DirWatch::Open() {
  int fd = ::inotify_init1(IN_NONBLOCK | IN_CLOEXEC);
  if (fd < 0) return Error::FromErrno("inotify_init1");
  return DirWatch(UniqueFd(fd));
}

Status DirWatch::Add(const std::string& dir) {
  int wd = ::inotify_add_watch(fd_.get(), dir.c_str(), kMask);
  if (wd < 0) return Error::FromErrno("watch " + dir);
  dirs_[wd] = dir;
  return Status::Ok();
}

Status DirWatch::SignalOnChange() {
  const int flags = ::fcntl(fd_.get(), F_GETFL);
  if (flags < 0 || ::fcntl(fd_.get(), F_SETOWN, ::getpid()) != 0 ||
      ::fcntl(fd_.get(), F_SETFL, flags | O_ASYNC) != 0) {
    return Error::FromErrno("inotify: O_ASYNC");
  }
  return Status::Ok();
}

std::vector<std::string> DirWatch::Changed(std::vector<std::string>* moved_in) {
  std::vector<std::string> changed;
  alignas(inotify_event) char buf[16384];
  for (int reads = 0; reads < 64; ++reads) {  // bounded: a storm is picked up next call
    ssize_t n = ::read(fd_.get(), buf, sizeof buf);
    if (n <= 0) break;  // EAGAIN: drained
    for (ssize_t off = 0; off < n;) {
      const auto* ev = reinterpret_cast<const inotify_event*>(buf + off);
      off += static_cast<ssize_t>(sizeof(inotify_event) + ev->len);
      if (ev->mask & IN_Q_OVERFLOW) {  // events were lost: anything may have changed
        if (std::find(changed.begin(), changed.end(), "") == changed.end()) changed.emplace_back();
        continue;
      }
      auto dir = dirs_.find(ev->wd);
      if (dir == dirs_.end()) continue;
      std::string path = ev->len > 0 ? dir->second + "/" + ev->name : dir->second;
      if (ev->mask & IN_IGNORED) dirs_.erase(dir);  // the directory is gone
      if (moved_in != nullptr && (ev->mask & IN_MOVED_TO) && ev->len > 0) moved_in->push_back(path);
      if (std::find(changed.begin(), changed.end(), path) == changed.end())
        changed.push_back(std::move(path));
    }
  }
  return changed;
}

}  // namespace granary
