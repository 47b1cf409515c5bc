// Talking to the service manager (systemd's sd_notify protocol). Every call is a no-op
// when the process was not started with NOTIFY_SOCKET, so the daemon calls them
// unconditionally. Safe to call from any thread.
#pragma once

#include <chrono>
#include <string_view>

namespace granary::service {

// READY=1 plus a STATUS= line: the daemon is up and its buffer is open.
void NotifyReady(std::string_view status);
// STATUS=: one human line that `systemctl status` shows. Newlines are replaced.
void NotifyStatus(std::string_view status);
// WATCHDOG=1. Send only from a loop that has just proved progress: a ping from a thread
// that is merely alive would keep a hung agent running forever.
void NotifyWatchdog();
// STOPPING=1 plus a STATUS= line.
void NotifyStopping(std::string_view status);

// The watchdog timeout systemd expects pings within (WatchdogSec=, from WATCHDOG_USEC),
// or zero when no watchdog is set up for this process.
std::chrono::microseconds WatchdogTimeout();

}  // namespace granary::service
