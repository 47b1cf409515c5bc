// The agent's configuration: one TOML file, validated completely on load.
// docs/configuration.md documents every key; keep the two in step.
#pragma once

#include <toml++/toml.h>

#include <chrono>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "agent/archive/mqtt_source_config.h"
#include "agent/monitor_config.h"
#include "agent/outbox/outbox_config.h"
#include "agent/outbox/runs_config.h"
#include "config/reader.h"
#include "config/toml_file.h"
#include "platform/result.h"
#include "s3/s3_client.h"
#include "storage/buffer.h"

namespace granary {

// Exit code for a bad config (EX_CONFIG from sysexits.h); systemd units must not
// restart-loop on it.
inline constexpr int kExitConfig = 78;

struct SourceConfig {
  std::string name;  // [A-Za-z0-9_.-]{1,64}; appears in object keys and file names
  std::string type;  // a registered source type
  std::chrono::milliseconds interval{10'000};
  std::chrono::milliseconds timeout{5'000};  // <= interval
  // The whole [[source]] table; the source type reads its own keys from it. Null once the
  // daemon has compacted the config (CompactSources): `settings_text` holds it then.
  std::shared_ptr<const toml::table> settings;
  std::string settings_text;
  // Set for type "mqtt": a subscriber, not polled (agent/archive/mqtt_source.h).
  std::shared_ptr<const MqttSourceConfig> mqtt;
};

// The type of the subscribing source that archives MQTT messages into BSON segments.
inline constexpr std::string_view kMqttSourceType = "mqtt";

// [upload]: absent means the agent only buffers and seals (segments wait in the state dir).
struct UploadConfig {
  bool enabled = false;
  // endpoint (scheme://host[:port]), bucket, region, addressing (path_style), ca_file,
  // tls_verify, proxy, connect_timeout, stall_timeout, max_bandwidth (max_send_bytes_per_s).
  S3Options s3;
  std::string prefix = "granary";
  std::string key_template;         // default: agent/upload/object_key.h kDefaultKeyTemplate
  std::string report_key_template;  // outbox reports; default kDefaultReportKeyTemplate
  std::string file_key_template;    // outbox files; default kDefaultFileKeyTemplate
  std::string credentials_file;     // empty: the AWS_* environment variables
  std::string profile = "default";
  std::chrono::milliseconds retry_min{1'000};
  std::chrono::milliseconds retry_max{300'000};
  std::chrono::milliseconds permanent_retry{300'000};
  std::chrono::milliseconds keep_uploaded{3'600'000};
  // Health turns "degraded" when segments wait and nothing uploaded for this long.
  std::chrono::milliseconds stale_after{3'600'000};
  // Files larger than one part go by resumable multipart upload (agent/upload/multipart.h).
  uint64_t part_size = 8ULL << 20;
  std::chrono::milliseconds multipart_max_age{7LL * 24 * 3'600'000};
};

struct AgentConfig {
  std::string path;                  // the main file (-c)
  std::vector<std::string> files;    // path, then conf.d/*.toml beside it in name order
  std::string device;                // default: the host name; same charset as source names
  bool device_is_host_name = false;  // `device` was not set
  std::string state_dir;             // default /var/lib/granary
  std::string log_level;             // error, warning, notice, info, debug

  // [buffer] sync, batch_max, queue_capacity, batch_wait; [segment] max_bytes and
  // max_readings; [quota] max_bytes and when_full. The buffer's own options, so the two
  // cannot drift; state_dir, device and keep_uploaded are filled in by BufferOptionsFrom.
  BufferOptions buffer;
  bool seal_on_stop = true;  // [buffer]
  // [buffer] the largest `data` of one reading; a larger one is a poll error, never
  // captured: the receiver's line cap must be at least this plus 256 bytes of envelope.
  uint64_t max_reading_bytes = 1ULL << 20;

  // [status]
  std::chrono::milliseconds status_interval{30'000};

  UploadConfig upload;
  MqttConfig mqtt;        // [mqtt]
  MetricsConfig metrics;  // [metrics]

  std::vector<SourceConfig> sources;
  std::vector<OutboxConfig> outboxes;           // [[outbox]]
  std::vector<RunsWatcherConfig> run_watchers;  // [[watcher]] type = "runs"
};

// The directory of drop-in files beside `path`: DIR/conf.d for DIR/granary.toml.
std::string ConfDir(const std::string& path);

// Loads and validates `path` merged with the drop-in files of ConfDir(path) (*.toml in
// name order, names starting with "." skipped): [[source]] tables are appended; any other
// key set in two files is an error naming both. `${NAME}` in a string value is the
// environment variable NAME (unset: an error), `$$` is a `$`. On failure the error message holds
// one line per problem, each "FILE:LINE: KEY: problem", in line order; KEY is named as
// config_reader.h describes. Two failures stop at one line: a TOML syntax error ("FILE:LINE:COLUMN:
// syntax error: ...") and a file that cannot be read ("FILE: cannot open: <OS error>" or "FILE:
// cannot read: ...", errno kept).
Result<AgentConfig> LoadConfig(const std::string& path, const EnvLookup& env = GetEnv);

// The source's [[source]] table: `settings`, or `settings_text` parsed again.
Result<std::shared_ptr<const toml::table>> SourceSettings(const SourceConfig& source);

// Keeps each source's table as TOML text and lets go of the parsed document, which keeps
// every node with its file position (87 KiB with 100 sources, against 15 KiB of text).
// The daemon calls it once its sources are built: only a reload that falls back to the
// running configuration builds them again.
void CompactSources(AgentConfig& config);

// The effective configuration (defaults filled in, secrets as "***") as TOML text.
// Validates the source-specific keys too, so it can only be called on a loaded config.
std::string RenderEffectiveConfig(const AgentConfig& config);

}  // namespace granary
