#include "agent/status_events.h"

#include <cjson/cJSON.h>

#include <algorithm>

#include "agent/health.h"
#include "platform/handles.h"

namespace granary {
namespace {

class Event {
 public:
  Event(const std::string& device, int64_t ts_ms, const char* type) : o_(cJSON_CreateObject()) {
    cJSON_AddStringToObject(o_.get(), "device", device.c_str());
    cJSON_AddNumberToObject(o_.get(), "ts", static_cast<double>(ts_ms));
    cJSON_AddStringToObject(o_.get(), "type", type);
  }
  Event& Str(const char* key, const std::string& value) {
    cJSON_AddStringToObject(o_.get(), key, value.c_str());
    return *this;
  }
  Event& Num(const char* key, double value) {
    cJSON_AddNumberToObject(o_.get(), key, value);
    return *this;
  }
  std::string Json() const {
    CjsonString text(cJSON_PrintUnformatted(o_.get()));
    return text.get();
  }

 private:
  CjsonPtr o_;
};

double Delta(uint64_t before, uint64_t after) {
  return after > before ? static_cast<double>(after - before) : 0;
}

bool Failing(const SourceStats& s) { return s.consecutive_failures >= kFailingPolls; }

const SourceStats* FindSource(const AgentStatus& s, const std::string& name) {
  for (const SourceStats& src : s.sources) {
    if (src.name == name) return &src;
  }
  return nullptr;
}

// A run counter that went down (run detection): reported, never resubmitted.
void RunDecreaseEvents(const AgentStatus& before, const AgentStatus& after, int64_t ts_ms,
                       std::vector<std::string>& out) {
  for (const RunWatcherStats& w : after.runs) {
    for (const RunInstrumentStats& i : w.instruments) {
      uint64_t was = 0;
      for (const RunWatcherStats& bw : before.runs) {
        for (const RunInstrumentStats& bi : bw.instruments) {
          if (bw.name == w.name && bi.instrument == i.instrument) was = bi.decreases;
        }
      }
      if (i.decreases <= was) continue;
      out.push_back(Event(after.device, ts_ms, "run_decrease")
                        .Str("watcher", w.name)
                        .Str("instrument", i.instrument)
                        .Num("from", static_cast<double>(i.last_decrease_from))
                        .Num("to", static_cast<double>(i.last_decrease_to))
                        .Num("last_submitted", static_cast<double>(i.last_submitted))
                        .Json());
    }
  }
}

}  // namespace

std::string StartEventJson(const std::string& device, int64_t ts_ms, int64_t pid) {
  return Event(device, ts_ms, "start")
      .Str("version", GRANARY_VERSION)
      .Num("pid", static_cast<double>(pid))
      .Json();
}

std::string StopEventJson(const std::string& device, int64_t ts_ms, const std::string& reason) {
  return Event(device, ts_ms, "stop").Str("reason", reason).Json();
}

std::vector<std::string> StatusEvents(const AgentStatus& before, const AgentStatus& after,
                                      int64_t ts_ms) {
  std::vector<std::string> out;
  const std::string& device = after.device;
  const BufferStats& b0 = before.buffer;
  const BufferStats& b1 = after.buffer;
  if (double n = Delta(b0.segments_uploaded, b1.segments_uploaded); n > 0) {
    out.push_back(Event(device, ts_ms, "upload")
                      .Num("segments", n)
                      .Num("segments_uploaded", static_cast<double>(b1.segments_uploaded))
                      .Json());
  }
  // One event per status period however many attempts failed in it: a dead link must not
  // turn into a flood of events queued for when it comes back.
  if (double n = Delta(before.uploads.failed, after.uploads.failed); n > 0) {
    out.push_back(Event(device, ts_ms, "upload_failed")
                      .Num("attempts", n)
                      .Str("message", after.uploads.last_error)
                      .Str("kind", after.uploads.last_error_permanent ? "permanent" : "retrying")
                      .Json());
  }
  double segments = Delta(b0.segments_dropped, b1.segments_dropped);
  double readings = Delta(b0.dropped_readings, b1.dropped_readings);
  if (segments > 0 || readings > 0) {
    out.push_back(Event(device, ts_ms, "drop")
                      .Str("reason", "quota")
                      .Num("segments", segments)
                      .Num("readings", readings)
                      .Json());
  }
  if (b1.state_losses > b0.state_losses) {
    out.push_back(Event(device, ts_ms, "state_lost")
                      .Str("reason", b1.last_state_loss)
                      .Num("at", static_cast<double>(b1.last_state_loss_ms))
                      .Num("possibly_lost", static_cast<double>(b1.possibly_lost))
                      .Num("buffers_moved_aside", static_cast<double>(b1.buffers_moved_aside))
                      .Json());
  }
  if (double n = Delta(b0.rejected, b1.rejected); n > 0) {
    out.push_back(
        Event(device, ts_ms, "drop").Str("reason", "queue_full").Num("readings", n).Json());
  }
  for (const SourceStats& src : after.sources) {
    const SourceStats* was = FindSource(before, src.name);
    bool failed_before = was != nullptr && Failing(*was);
    if (Failing(src) && !failed_before) {
      out.push_back(Event(device, ts_ms, "error")
                        .Str("source", src.name)
                        .Num("consecutive_failures", static_cast<double>(src.consecutive_failures))
                        .Str("message", src.last_error)
                        .Json());
    } else if (!Failing(src) && failed_before) {
      out.push_back(Event(device, ts_ms, "recovered").Str("source", src.name).Json());
    }
  }
  if (!b1.last_error.empty() && b1.last_error != b0.last_error) {
    out.push_back(Event(device, ts_ms, "error")
                      .Str("component", "buffer")
                      .Str("message", b1.last_error)
                      .Json());
  } else if (b1.last_error.empty() && !b0.last_error.empty()) {
    out.push_back(Event(device, ts_ms, "recovered").Str("component", "buffer").Json());
  }
  if (b1.paused != b0.paused) {
    out.push_back(
        Event(device, ts_ms, b1.paused ? "paused" : "resumed").Str("reason", "quota").Json());
  }
  RunDecreaseEvents(before, after, ts_ms, out);
  for (const OutboxStatus& o1 : after.outbox) {
    auto o0 = std::find_if(before.outbox.begin(), before.outbox.end(),
                           [&](const OutboxStatus& o) { return o.name == o1.name; });
    const OutboxStatus none;
    const OutboxStatus& was = o0 != before.outbox.end() ? *o0 : none;
    if (double n = Delta(was.rejected, o1.rejected); n > 0) {
      out.push_back(Event(device, ts_ms, "outbox_rejected")
                        .Str("outbox", o1.name)
                        .Num("entries", n)
                        .Str("message", o1.last_rejection)
                        .Json());
    }
    if ((o1.waiting_quota > 0) != (was.waiting_quota > 0)) {
      out.push_back(Event(device, ts_ms, o1.waiting_quota > 0 ? "paused" : "resumed")
                        .Str("reason", "quota")
                        .Str("outbox", o1.name)
                        .Json());
    }
  }
  return out;
}

}  // namespace granary
