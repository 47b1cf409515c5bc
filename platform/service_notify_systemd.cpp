// service_notify.h over libsystemd's sd_notify.
#include <systemd/sd-daemon.h>

#include <algorithm>
#include <string>

#include "platform/service_notify.h"

namespace granary::service {
namespace {

// One STATUS= line: a newline would end the assignment and start a bogus one.
std::string StatusLine(std::string_view status) {
  std::string line = "STATUS=" + std::string(status);
  std::replace(line.begin(), line.end(), '\n', ' ');
  return line;
}

void Send(const std::string& message) {
  // unset_environment = 0: a reload or a second notification must still reach systemd.
  (void)sd_notify(0, message.c_str());
}

}  // namespace

void NotifyReady(std::string_view status) { Send("READY=1\n" + StatusLine(status)); }

void NotifyStatus(std::string_view status) { Send(StatusLine(status)); }

void NotifyWatchdog() { Send("WATCHDOG=1"); }

void NotifyStopping(std::string_view status) { Send("STOPPING=1\n" + StatusLine(status)); }

std::chrono::microseconds WatchdogTimeout() {
  uint64_t usec = 0;
  if (sd_watchdog_enabled(0, &usec) <= 0) return std::chrono::microseconds{0};
  return std::chrono::microseconds{usec};
}

}  // namespace granary::service
