// The agent's health, as one JSON document: written to {state_dir}/status.json by the
// daemon every few seconds, read by `granary status`, and (later) published over MQTT.
// docs/status.md documents the fields.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "agent/archive/mqtt_source.h"
#include "agent/mqtt_publisher.h"
#include "agent/outbox/outbox_status.h"
#include "agent/outbox/run_watcher.h"
#include "agent/scheduler.h"
#include "agent/upload/worker.h"
#include "platform/result.h"
#include "storage/buffer.h"

namespace granary {

struct AgentStatus {
  std::string device;
  std::string state;  // running | degraded | stopped
  std::vector<std::string> degraded_reasons;
  int64_t pid = 0;
  int64_t started_ms = 0;
  int64_t updated_ms = 0;
  bool clock_synced = false;
  uint64_t flushes = 0;  // flush requests completed since start
  uint64_t quota_bytes = 0;
  std::vector<SourceStats> sources;
  BufferStats buffer;
  bool uploads_enabled = false;
  UploadStats uploads;
  int64_t upload_stale_after_ms = 3'600'000;
  // Filled by the Monitor (agent/monitor.h).
  uint64_t disk_free_bytes = 0;  // free space on the state dir's filesystem
  bool mqtt_enabled = false;
  std::string mqtt_broker;  // host:port
  MqttStats mqtt;
  std::vector<MqttSourceStats> archive;  // the mqtt sources
  std::vector<RunWatcherStats> runs;     // [[watcher]] type = "runs"
  std::vector<OutboxStatus> outbox;      // the [[outbox]] directories
};

std::string StatusJson(const AgentStatus& status);
Result<AgentStatus> ParseStatusJson(const std::string& text);
// The daemon's last status.json under `state_dir`.
Result<AgentStatus> ReadStatusFile(Env& env, const std::string& state_dir);

std::string StatusFilePath(const std::string& state_dir);
std::string LockFilePath(const std::string& state_dir);

// What `granary status` prints: the daemon's last status when it runs, else what the
// state dir holds. Human text, or JSON with `json`.
Result<std::string> RenderStatus(Env& env, const std::string& state_dir, bool json);

}  // namespace granary
