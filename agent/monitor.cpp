#include "agent/monitor.h"

#include <fmt/format.h>
#include <unistd.h>

#include "agent/metrics.h"
#include "agent/status_events.h"
#include "agent/watchdog.h"
#include "platform/log.h"
#include "platform/service_notify.h"

namespace granary {
namespace {

using std::chrono::milliseconds;

// How long the last status may take to reach the broker at stop.
constexpr milliseconds kFinalPublishWait{2000};

bool SameMqtt(const MqttConfig& a, const MqttConfig& b) {
  return a.enabled == b.enabled && a.host == b.host && a.port == b.port && a.prefix == b.prefix &&
         a.client_id == b.client_id && a.keepalive == b.keepalive &&
         a.reconnect_min == b.reconnect_min && a.reconnect_max == b.reconnect_max &&
         a.username == b.username && a.password == b.password && a.ca_file == b.ca_file &&
         a.cert_file == b.cert_file && a.key_file == b.key_file && a.event_queue == b.event_queue;
}

// A change a watcher wants at once rather than at the next interval.
bool StateChanged(const AgentStatus* before, const AgentStatus& now) {
  return before == nullptr || before->state != now.state ||
         before->degraded_reasons != now.degraded_reasons;
}

// The STATUS= line `systemctl status` shows.
std::string StatusLine(const AgentStatus& s, const MqttStats* mqtt) {
  std::string line =
      fmt::format("{}: {} sources, {} readings captured, {} segments pending", s.state,
                  s.sources.size(), s.buffer.captured, s.buffer.segments_sealed);
  if (mqtt != nullptr) line += mqtt->connected ? ", mqtt connected" : ", mqtt NOT connected";
  if (!s.degraded_reasons.empty()) line += "; " + s.degraded_reasons.front();
  return line;
}

}  // namespace

Monitor::Monitor(Env& env, const AgentConfig& config) : env_(env), config_(config) {
  StartPublisher();
  StartMetricsServer();
}

Monitor::~Monitor() = default;

void Monitor::StartPublisher() {
  if (config_.mqtt.enabled) {
    mqtt_ = std::make_unique<MqttPublisher>(env_, config_.mqtt, config_.device);
  }
}

void Monitor::StartMetricsServer() {
  if (config_.metrics.listen_port == 0) return;
  auto server = MetricsServer::Start(config_.metrics.listen_port);
  if (!server) {
    log::Error("{}", server.error().message());
    return;
  }
  metrics_ = std::move(*server);
  log::Info("metrics on http://127.0.0.1:{}/metrics", metrics_->port());
}

void Monitor::Reconfigure(const AgentConfig& config) {
  AgentConfig old = std::move(config_);
  config_ = config;
  if (!SameMqtt(old.mqtt, config_.mqtt) || old.device != config_.device) {
    if (mqtt_) mqtt_->Stop(previous_ ? StatusJson(*previous_) : "", kFinalPublishWait);
    mqtt_.reset();
    StartPublisher();
    last_published_ns_ = 0;  // the new session gets the status at the next report
  }
  if (old.metrics.listen_port != config_.metrics.listen_port) {
    metrics_.reset();
    StartMetricsServer();
  }
}

void Monitor::Fill(AgentStatus& s) const {
  if (auto free = env_.FreeBytes(config_.state_dir)) s.disk_free_bytes = *free;
  s.mqtt_enabled = mqtt_ != nullptr;
  if (mqtt_) {
    s.mqtt = mqtt_->Stats();
    s.mqtt_broker = fmt::format("{}:{}", config_.mqtt.host, config_.mqtt.EffectivePort());
  }
}

void Monitor::Ready() {
  service::NotifyReady(fmt::format("running: {} sources", config_.sources.size()));
  if (mqtt_) mqtt_->PublishEvent(StartEventJson(config_.device, env_.WallNowMs(), ::getpid()));
}

void Monitor::Stopping() {
  service::NotifyStopping("stopping");
  if (mqtt_) mqtt_->PublishEvent(StopEventJson(config_.device, env_.WallNowMs(), "signal"));
}

void Monitor::WriteMetricsFile(const AgentStatus& s) {
  if (config_.metrics.textfile.empty()) return;
  std::string text = PrometheusText(s, mqtt_ ? &s.mqtt : nullptr);
  // Nothing in the text moves with the clock alone: an unchanged text is not written again.
  if (text == last_metrics_text_) return;
  Status w = WriteFileAtomically(env_, config_.metrics.textfile, text, /*durable=*/false);
  // Logged once per distinct error: a missing directory would otherwise log every period.
  std::string error = w ? "" : w.error().message();
  if (!error.empty() && error != last_metrics_error_) log::Warning("metrics: {}", error);
  last_metrics_error_ = error;
  last_metrics_text_ = w ? std::move(text) : std::string();
}

void Monitor::Report(const AgentStatus& s, const std::string& json, int64_t last_progress_ns) {
  const int64_t now_ns = env_.MonoNowNs();
  const bool final = s.state == "stopped";
  const bool due =
      last_published_ns_ == 0 ||
      now_ns - last_published_ns_ >= std::chrono::nanoseconds(config_.status_interval).count();
  const bool changed = StateChanged(previous_.get(), s);

  if (mqtt_) {
    // The first report has no earlier one to compare with; a state loss this start found
    // (before the monitor existed) is the one event that cannot wait for a second report.
    AgentStatus before_start;
    if (!previous_) {
      before_start = s;
      if (s.buffer.state_losses > 0 && s.buffer.last_state_loss_ms >= s.started_ms) {
        --before_start.buffer.state_losses;
      }
    }
    for (std::string& event :
         StatusEvents(previous_ ? *previous_ : before_start, s, env_.WallNowMs())) {
      mqtt_->PublishEvent(std::move(event));
    }
    if (final) {
      mqtt_->Stop(json, kFinalPublishWait);
    } else {
      mqtt_->PublishStatus(json, /*now=*/due || changed);
    }
  }
  if (due || changed || final) {
    WriteMetricsFile(s);
    last_published_ns_ = now_ns;
  }

  if (!final) {
    service::NotifyStatus(StatusLine(s, mqtt_ ? &s.mqtt : nullptr));
    // No proof of progress, no ping: systemd restarts a hung agent after WatchdogSec.
    if (service::WatchdogTimeout().count() > 0 &&
        (last_progress_ns < 0 ||
         ProgressIsRecent(now_ns, last_progress_ns, ProgressDeadline(config_.sources)))) {
      service::NotifyWatchdog();
    }
  }
  previous_ = std::make_shared<const AgentStatus>(s);
  if (metrics_) {
    metrics_->Set([snapshot = previous_, mqtt = mqtt_ != nullptr] {
      return PrometheusText(*snapshot, mqtt ? &snapshot->mqtt : nullptr);
    });
  }
}

}  // namespace granary
