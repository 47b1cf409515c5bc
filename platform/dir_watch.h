// Names that changed in watched directories, through inotify(7): a file closed after
// writing, moved in or out, created or deleted. Non-blocking: the owner asks at its own
// pace (or on SIGIO), so no thread is needed.
#pragma once

#include <map>
#include <string>
#include <vector>

#include "platform/handles.h"
#include "platform/result.h"

namespace granary {

class DirWatch {
 public:
  static Result<DirWatch> Open();

  // Watches the entries of `dir` (not below). Watching a directory twice is harmless.
  Status Add(const std::string& dir);
  // "DIR/NAME" of every entry changed since the last call, in event order, each once;
  // "DIR" itself when the directory was deleted or moved; "" when the kernel dropped events
  // (its queue overflowed), so anything watched may have changed. Empty when nothing did.
  // `moved_in`, when given, also gets the paths renamed into a watched directory: those are
  // complete (a producer renames a finished file in), unlike a file merely closed.
  std::vector<std::string> Changed(std::vector<std::string>* moved_in = nullptr);
  // Asks the kernel to send this process SIGIO whenever an event is ready (O_ASYNC), so a
  // caller that blocks SIGIO and waits in sigtimedwait learns of a change without polling.
  // Only for a process that blocks SIGIO in every thread: its default action kills.
  Status SignalOnChange();

 private:
  explicit DirWatch(UniqueFd fd) : fd_(std::move(fd)) {}

  UniqueFd fd_;
  std::map<int, std::string> dirs_;  // watch descriptor -> directory
};

}  // namespace granary
