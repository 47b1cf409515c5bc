// `granary status`: the daemon's last status.json while it runs, else what the state dir's
// buffer holds, as text for an operator or as the status JSON.
#include <fmt/format.h>

#include <cerrno>
#include <map>
#include <string>

#include "agent/outbox/outbox_status.h"
#include "agent/status.h"
#include "config/units.h"
#include "platform/process.h"
#include "platform/time.h"
#include "storage/buffer.h"

namespace granary {
namespace {

std::string Iso(int64_t ms) { return ms <= 0 ? "never" : FormatIso8601(ms); }

}  // namespace

Result<std::string> RenderStatus(Env& env, const std::string& state_dir, bool json) {
  AgentStatus s;
  bool no_data = false;
  pid_t daemon = PidLock::Holder(LockFilePath(state_dir));
  if (daemon != 0) {
    auto parsed = ReadStatusFile(env, state_dir);
    if (parsed) s = std::move(*parsed);
    s.pid = daemon;
  } else {
    auto inspected = InspectBuffer(env, state_dir);
    // Right after install nothing has run yet: that is a state to show, not a failure.
    no_data = !inspected && inspected.error().sys_errno() == ENOENT;
    if (!inspected && !no_data) return inspected.error();
    if (inspected) s.buffer = std::move(*inspected);
    s.state = "stopped";
  }
  if (json) return StatusJson(s);

  std::string out;
  auto add = [&out]<typename... Args>(fmt::format_string<Args...> f, Args&&... args) {
    fmt::format_to(std::back_inserter(out), f, std::forward<Args>(args)...);
  };
  if (daemon != 0) {
    add("granary {}: {} (pid {}, up {}s, updated {})\n", s.device, s.state, s.pid,
        s.started_ms > 0 ? (s.updated_ms - s.started_ms) / 1000 : 0, Iso(s.updated_ms));
    for (const auto& r : s.degraded_reasons) add("  ! {}\n", r);
    add("clock: {}\n", s.clock_synced ? "synchronized" : "NOT synchronized");
  } else if (no_data) {
    add("granary: daemon not running; no data yet in {} (the buffer is created by the first "
        "`granary run`)\n",
        state_dir);
    return out;
  } else {
    add("granary: daemon not running; from {}\n", state_dir);
  }
  const BufferStats& b = s.buffer;
  add("buffer: {} readings buffered, {} segments pending ({}), oldest pending {}\n", b.buffered,
      b.segments_sealed, HumanSize(b.pending_bytes), Iso(b.oldest_pending_ts_ms));
  add("segments: {} uploaded, {} dropped; readings dropped by quota: {}\n", b.segments_uploaded,
      b.segments_dropped, b.dropped_readings);
  add("disk: {} used", HumanSize(b.usage_bytes));
  if (s.quota_bytes > 0) add(" of {} quota", HumanSize(s.quota_bytes));
  if (s.disk_free_bytes > 0) add(", {} free on its filesystem", HumanSize(s.disk_free_bytes));
  add("{}\n", b.paused ? " (polling PAUSED)" : "");
  if (b.rejected > 0) add("readings refused (queue full, never captured): {}\n", b.rejected);
  if (!b.last_error.empty()) add("last buffer error: {}\n", b.last_error);
  if (b.state_losses > 0) {
    add("state lost {} time(s), last {}: {}\n", b.state_losses, Iso(b.last_state_loss_ms),
        b.last_state_loss);
    add("  damaged databases moved aside (see {}/corrupt-*): {}; seqs possibly lost: {}\n",
        state_dir, b.buffers_moved_aside, b.possibly_lost);
  } else if (b.buffers_moved_aside > 0) {
    add("corrupt buffer databases moved aside (see {}/corrupt-*): {}\n", state_dir,
        b.buffers_moved_aside);
  }
  if (s.uploads_enabled) {
    const UploadStats& u = s.uploads;
    add("uploads: {} segments ({}) and {} tombstones this run, {} failed attempts, last ok {}\n",
        u.uploaded, HumanSize(u.uploaded_bytes), u.tombstones, u.failed, Iso(u.last_ok_ms));
    if (!u.last_error.empty())
      add("  last upload error {}: {}\n", Iso(u.last_error_ms), u.last_error);
    if (u.clock_offset_ms != 0)
      add("  signing with the server's clock: offset {} ms\n", u.clock_offset_ms);
  }
  if (s.mqtt_enabled) {
    const MqttStats& m = s.mqtt;
    add("mqtt: {} {}, {} sessions, {} status and {} events published, {} events dropped\n",
        m.connected ? "connected to" : "NOT connected to", s.mqtt_broker, m.connects,
        m.status_published, m.events_published, m.events_dropped);
    if (!m.last_error.empty())
      add("  last mqtt error {}: {}\n", Iso(m.last_error_ms), m.last_error);
  }
  if (daemon != 0 && s.sources.empty())
    add("sources: none configured: nothing is captured (add [[source]] tables)\n");
  std::map<std::string, uint64_t> unlisted = b.last_seq;  // buffered, not polled now
  for (const SourceStats& src : s.sources) {
    auto seq = unlisted.find(src.name);
    add("source {} ({}): {} polls, {} errors, {} overruns, {} missed, last ok {}, last seq {}\n",
        src.name, src.type, src.polls, src.errors, src.overruns, src.missed, Iso(src.last_ok_ms),
        seq != unlisted.end() ? std::to_string(seq->second) : "none");
    if (seq != unlisted.end()) unlisted.erase(seq);
    if (!src.last_error.empty())
      add("  last error {}: {}\n", Iso(src.last_error_ms), src.last_error);
  }
  for (const MqttSourceStats& a : s.archive) {
    auto seq = unlisted.find(a.name);
    add("source {} (mqtt): {} {}{}, {} received, {} archived, {} duplicates, {} vetoed, "
        "last seq {}{}\n",
        a.name, a.connected ? "connected to" : "NOT connected to", a.broker,
        a.protocol.empty() ? "" : " (MQTT " + a.protocol + ")", a.received, a.archived,
        a.duplicates, a.vetoed, seq != unlisted.end() ? std::to_string(seq->second) : "none",
        a.ack_before_commit ? "; QoS 2: acknowledged before commit" : "");
    if (seq != unlisted.end()) unlisted.erase(seq);
    if (!a.last_error.empty()) add("  last error {}: {}\n", Iso(a.last_error_ms), a.last_error);
  }
  for (const auto& [name, seq] : unlisted) add("source {}: last seq {}\n", name, seq);
  for (const RunWatcherStats& w : s.runs) {
    add("watcher {} (runs): {} submitted, {} with missing files{}\n", w.name, w.submitted,
        w.missing, w.error.empty() ? "" : "; last error: " + w.error);
    for (const RunInstrumentStats& i : w.instruments)
      add("  {}: last seen {}, last submitted {}, {} waiting for files, {} decreases\n",
          i.instrument, i.last_seen, i.last_submitted, i.pending, i.decreases);
  }
  out += OutboxText(s.outbox);
  return out;
}

}  // namespace granary
