#include "agent/metrics.h"

#include <fmt/format.h>

namespace granary {
namespace {

class Exposition {
 public:
  // One metric family: its HELP and TYPE lines, then its samples.
  void Family(const char* name, const char* type, const char* help) {
    fmt::format_to(std::back_inserter(out_), "# HELP granary_{} {}\n# TYPE granary_{} {}\n", name,
                   help, name, type);
    name_ = name;
  }
  void Sample(double value, const std::string& labels = "") {
    fmt::format_to(std::back_inserter(out_), "granary_{}{} {}\n", name_, labels, value);
  }
  // A whole family with one unlabelled sample.
  void One(const char* name, const char* type, const char* help, double value) {
    Family(name, type, help);
    Sample(value);
  }
  std::string Take() { return std::move(out_); }

 private:
  std::string out_;
  const char* name_ = "";
};

double Seconds(int64_t ms) { return static_cast<double>(ms) / 1000.0; }
double D(uint64_t v) { return static_cast<double>(v); }

std::string SourceLabel(const std::string& name) {
  return "{source=" + PrometheusLabel(name) + "}";
}

void OutboxMetrics(Exposition& e, const std::vector<OutboxStatus>& outboxes);
void RunsMetrics(Exposition& e, const std::vector<RunWatcherStats>& watchers);

}  // namespace

std::string PrometheusLabel(const std::string& value) {
  std::string out = "\"";
  for (char c : value) {
    if (c == '\\') {
      out += "\\\\";
    } else if (c == '"') {
      out += "\\\"";
    } else if (c == '\n') {
      out += "\\n";
    } else {
      out += c;
    }
  }
  return out + "\"";
}

std::string PrometheusText(const AgentStatus& s, const MqttStats* mqtt) {
  Exposition e;
  e.Family("info", "gauge", "Always 1; the labels name the device and the agent version.");
  e.Sample(1, fmt::format("{{device={},version={}}}", PrometheusLabel(s.device),
                          PrometheusLabel(GRANARY_VERSION)));
  e.Family("state", "gauge", "1 for the daemon's current state, 0 for the others.");
  for (const char* state : {"running", "degraded", "stopped"}) {
    e.Sample(s.state == state ? 1 : 0, fmt::format("{{state=\"{}\"}}", state));
  }
  e.One("start_time_seconds", "gauge", "When the daemon started, Unix time.",
        Seconds(s.started_ms));
  e.One("clock_synced", "gauge", "1 while the kernel reports the wall clock synchronized.",
        s.clock_synced ? 1 : 0);

  struct SourceMetric {
    const char* name;
    const char* type;
    const char* help;
    double (*value)(const SourceStats&);
  };
  static const SourceMetric kSourceMetrics[] = {
      {"source_polls_total", "counter", "Polls completed.",
       [](const SourceStats& x) { return D(x.polls); }},
      {"source_errors_total", "counter", "Polls that failed.",
       [](const SourceStats& x) { return D(x.errors); }},
      {"source_overruns_total", "counter", "Ticks that came while a poll was still running.",
       [](const SourceStats& x) { return D(x.overruns); }},
      {"source_missed_total", "counter", "Ticks skipped after a suspend or a stalled thread.",
       [](const SourceStats& x) { return D(x.missed); }},
      {"source_readings_total", "counter", "Readings handed to the buffer.",
       [](const SourceStats& x) { return D(x.readings); }},
      {"source_rejected_total", "counter", "Readings the full buffer queue refused.",
       [](const SourceStats& x) { return D(x.rejected); }},
      {"source_consecutive_failures", "gauge", "Failed polls since the last good one.",
       [](const SourceStats& x) { return D(x.consecutive_failures); }},
      {"source_last_ok_timestamp_seconds", "gauge", "Wall clock of the last good poll.",
       [](const SourceStats& x) { return Seconds(x.last_ok_ms); }},
  };
  for (const SourceMetric& m : kSourceMetrics) {
    e.Family(m.name, m.type, m.help);
    for (const SourceStats& src : s.sources) e.Sample(m.value(src), SourceLabel(src.name));
  }

  const BufferStats& b = s.buffer;
  e.One("buffer_captured_total", "counter", "Readings committed to the buffer.", D(b.captured));
  e.One("buffer_readings", "gauge", "Readings buffered, not yet in a sealed segment.",
        D(b.buffered));
  e.One("buffer_rejected_total", "counter", "Readings refused by the full queue.", D(b.rejected));
  e.One("segments_pending", "gauge", "Sealed segments waiting for upload.", D(b.segments_sealed));
  e.One("segments_uploaded_total", "counter", "Segments uploaded.", D(b.segments_uploaded));
  e.One("segments_dropped_total", "counter", "Segments evicted by the quota before upload.",
        D(b.segments_dropped));
  e.One("pending_bytes", "gauge", "Bytes of sealed segments waiting for upload.",
        D(b.pending_bytes));
  e.One("oldest_pending_timestamp_seconds", "gauge",
        "First reading of the oldest segment waiting for upload, Unix time; 0 when none.",
        Seconds(b.oldest_pending_ts_ms));
  e.One("dropped_readings_total", "counter", "Readings lost to the quota, on purpose.",
        D(b.dropped_readings));
  e.One("state_losses_total", "counter",
        "Starts that found the state damaged (database moved aside, files adopted).",
        D(b.state_losses));
  e.One("buffers_moved_aside_total", "counter", "Damaged buffer databases moved aside.",
        D(b.buffers_moved_aside));
  e.One("possibly_lost_seqs_total", "counter",
        "Seqs a state loss could not account for (recorded as dropped ranges).",
        D(b.possibly_lost));
  e.One("state_dir_usage_bytes", "gauge", "State dir bytes counted against the quota.",
        D(b.usage_bytes));
  e.One("state_dir_quota_bytes", "gauge", "The state dir quota.", D(s.quota_bytes));
  e.One("polling_paused", "gauge", "1 while the quota policy pauses polling.", b.paused ? 1 : 0);
  e.One("commit_errors_total", "counter", "Buffer transactions that failed.", D(b.commit_errors));
  e.One("seal_errors_total", "counter", "Segment seals that failed.", D(b.seal_errors));
  e.Family("source_last_seq", "gauge", "The last seq committed per source.");
  for (const auto& [name, seq] : b.last_seq) e.Sample(D(seq), SourceLabel(name));

  if (!s.outbox.empty()) OutboxMetrics(e, s.outbox);
  if (!s.runs.empty()) RunsMetrics(e, s.runs);

  if (mqtt != nullptr) {
    e.One("mqtt_connected", "gauge", "1 while a broker session is up.", mqtt->connected ? 1 : 0);
    e.One("mqtt_connects_total", "counter", "Broker sessions established.", D(mqtt->connects));
    e.One("mqtt_connect_failures_total", "counter", "Connection attempts failed or refused.",
          D(mqtt->connect_failures));
    e.One("mqtt_status_published_total", "counter", "Status messages published.",
          D(mqtt->status_published));
    e.One("mqtt_events_published_total", "counter", "Events published.", D(mqtt->events_published));
    e.One("mqtt_events_dropped_total", "counter", "Events dropped while disconnected.",
          D(mqtt->events_dropped));
  }
  return e.Take();
}

namespace {

// Per outbox (docs/outbox.md); the pending ones also per kind.
void OutboxMetrics(Exposition& e, const std::vector<OutboxStatus>& outboxes) {
  auto label = [](const OutboxStatus& o) { return "{outbox=" + PrometheusLabel(o.name) + "}"; };
  e.Family("outbox_taken_total", "counter", "Reports and files taken from the outbox this run.");
  for (const OutboxStatus& o : outboxes) e.Sample(D(o.taken), label(o));
  e.Family("outbox_rejected_total", "counter", "Entries moved to the outbox's .rejected/.");
  for (const OutboxStatus& o : outboxes) e.Sample(D(o.rejected), label(o));
  e.Family("outbox_waiting_quota", "gauge", "Entries left in place because the quota is full.");
  for (const OutboxStatus& o : outboxes) e.Sample(D(o.waiting_quota), label(o));
  e.Family("outbox_pending", "gauge", "Taken entries waiting for upload.");
  for (const OutboxStatus& o : outboxes) {
    for (const OutboxKindStatus& k : o.kinds) {
      e.Sample(D(k.pending),
               "{outbox=" + PrometheusLabel(o.name) + ",kind=" + PrometheusLabel(k.kind) + "}");
    }
  }
  e.Family("outbox_pending_bytes", "gauge", "Bytes of taken entries waiting for upload.");
  for (const OutboxStatus& o : outboxes) {
    for (const OutboxKindStatus& k : o.kinds) {
      e.Sample(D(k.pending_bytes),
               "{outbox=" + PrometheusLabel(o.name) + ",kind=" + PrometheusLabel(k.kind) + "}");
    }
  }
}

// Per run watcher (docs/runs.md); the run numbers also per instrument.
void RunsMetrics(Exposition& e, const std::vector<RunWatcherStats>& watchers) {
  auto label = [](const RunWatcherStats& w) { return "{watcher=" + PrometheusLabel(w.name) + "}"; };
  auto instrument = [](const RunWatcherStats& w, const RunInstrumentStats& i) {
    return "{watcher=" + PrometheusLabel(w.name) + ",instrument=" + PrometheusLabel(i.instrument) +
           "}";
  };
  e.Family("runs_submitted_total", "counter", "Run reports submitted this run.");
  for (const RunWatcherStats& w : watchers) e.Sample(D(w.submitted), label(w));
  e.Family("runs_missing_files_total", "counter",
           "Run reports submitted with files missing after file_timeout.");
  for (const RunWatcherStats& w : watchers) e.Sample(D(w.missing), label(w));
  e.Family("runs_watcher_error", "gauge", "1 while the watcher cannot read its counter or write.");
  for (const RunWatcherStats& w : watchers) e.Sample(w.error.empty() ? 0 : 1, label(w));
  e.Family("runs_last_seen", "gauge", "The run number last read from the counter.");
  for (const RunWatcherStats& w : watchers)
    for (const RunInstrumentStats& i : w.instruments) e.Sample(D(i.last_seen), instrument(w, i));
  e.Family("runs_last_submitted", "gauge", "The last run submitted (durable).");
  for (const RunWatcherStats& w : watchers)
    for (const RunInstrumentStats& i : w.instruments)
      e.Sample(D(i.last_submitted), instrument(w, i));
  e.Family("runs_pending", "gauge", "Runs detected and waiting for their files.");
  for (const RunWatcherStats& w : watchers)
    for (const RunInstrumentStats& i : w.instruments) e.Sample(D(i.pending), instrument(w, i));
  e.Family("runs_decreases_total", "counter", "Times the run number went down this run.");
  for (const RunWatcherStats& w : watchers)
    for (const RunInstrumentStats& i : w.instruments) e.Sample(D(i.decreases), instrument(w, i));
}

}  // namespace

}  // namespace granary
