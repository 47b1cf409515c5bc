// Reports each status snapshot the daemon takes, to everyone who watches the agent:
//   MQTT      retained status every [status].interval and on every change of state,
//             events derived from what changed (agent/status_events.h)
//   metrics   Prometheus text to [metrics].textfile when it changed (at most every
//             [status].interval, at once on a change of state), and on the optional
//             127.0.0.1 /metrics made from the last status when a scraper asks
//   systemd   READY=1, a one-line STATUS=, and WATCHDOG=1 only while the scheduler makes
//             progress (agent/watchdog.h), STOPPING=1
// Driven from the daemon's main thread only; the MQTT network thread and the HTTP thread
// belong to the objects it owns.
#pragma once

#include <cstdint>
#include <memory>
#include <string>

#include "agent/config.h"
#include "agent/metrics_server.h"
#include "agent/mqtt_publisher.h"
#include "agent/status.h"
#include "platform/env.h"

namespace granary {

class Monitor {
 public:
  // Starts the MQTT publisher and the metrics server as configured. Neither can stop the
  // agent: a failure is logged and shows in the status.
  Monitor(Env& env, const AgentConfig& config);
  ~Monitor();

  // After a reload: restarts the publisher and the server when their settings changed.
  void Reconfigure(const AgentConfig& config);

  // Adds what only the monitor knows (the MQTT session) to a status being built.
  void Fill(AgentStatus& status) const;

  // Reports `status` (already judged; `json` is its StatusJson). `last_progress_ns`:
  // Scheduler::LastProgressNs(), or -1 when no scheduler runs. A status whose state is
  // "stopped" is the last: it is published retained and the MQTT session closed cleanly.
  void Report(const AgentStatus& status, const std::string& json, int64_t last_progress_ns);

  // READY=1: the buffer is open and the sources run. Also the "start" event.
  void Ready();
  // STOPPING=1 and the "stop" event, before the daemon winds down.
  void Stopping();

 private:
  void StartPublisher();
  void StartMetricsServer();
  void WriteMetricsFile(const AgentStatus& status);

  Env& env_;
  AgentConfig config_;
  std::unique_ptr<MqttPublisher> mqtt_;     // null without [mqtt]
  std::unique_ptr<MetricsServer> metrics_;  // null without [metrics].listen_port
  // The last reported, for events and changes; /metrics renders it when asked.
  std::shared_ptr<const AgentStatus> previous_;
  int64_t last_published_ns_ = 0;  // monotonic; status to MQTT and the metrics file
  std::string last_metrics_error_;
  std::string last_metrics_text_;  // the last written to [metrics].textfile
};

}  // namespace granary
