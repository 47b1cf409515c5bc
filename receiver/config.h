// The receiver's configuration: one TOML file, read with the agent's ConfigReader so
// every problem names the file, line and key (exit 78, like the agent).
#pragma once

#include <chrono>
#include <cstdint>
#include <string>
#include <vector>

#include "platform/result.h"

namespace granary::receiver {

inline constexpr int kExitConfig = 78;

// One device's S3 access key. A device may write only under {prefix}/{device}/.
struct DeviceKey {
  std::string device;
  std::string access_key;
  std::string secret_key;
  int64_t expires_ms = 0;  // a rotated-out key's end of grace; 0: none
  bool disabled = false;   // known, but refused (AccessDenied)
};

// [registry]: devices managed with `granary-receiver device ...` (receiver/registry.h).
struct RegistrySettings {
  std::string key_file;  // default {data_dir}/registry.key
  std::chrono::milliseconds rotate_grace{24 * 3600 * 1000};
  std::chrono::milliseconds enroll_ttl{24 * 3600 * 1000};
  // How often a running receiver checks the registry's generation.
  std::chrono::milliseconds poll{1000};
};

// A bearer token for the read API.
struct ReaderToken {
  std::string name;
  std::string token;
};

// Real-S3 mode: objects arrive in a real S3 bucket; event notifications name them.
struct UpstreamS3 {
  bool enabled = false;
  std::string endpoint;
  std::string region = "us-east-1";
  std::string bucket;
  std::string access_key;
  std::string secret_key;
  bool tls_verify = true;
  std::string event_token;  // bearer token the notifier sends to POST /v1/events/s3
  // "copy": accepted objects are copied into [store]; "in_place": validated from a scratch
  // copy, then indexed where they lie and never copied (in_place_store.h).
  std::string mode = "copy";
};

// [store]: where accepted, rejected and conflicting bytes are kept (docs/receiver.md
// "Object store"). Quarantine is always local scratch under data_dir.
struct StoreSettings {
  std::string type = "filesystem";  // or "s3": a bucket, shared by replicas
  std::string endpoint;
  std::string region = "us-east-1";
  std::string bucket;
  std::string access_key, secret_key;  // or:
  std::string credentials_file;        // AWS-style INI, mode 0600 or 0400
  std::string profile;                 // "": default
  bool tls_verify = true;
  std::string accepted_prefix = "accepted/";
  std::string rejected_prefix = "rejected/";
  std::string conflicts_prefix = "conflicts/";
  std::string uploads_prefix = "uploads/";  // multipart parts, shared by replicas
  // Bodies waiting in quarantine/; over this, new uploads are refused until it drains.
  // 0: none (the filesystem default); 4 GiB with s3, where quarantine is only scratch.
  uint64_t quarantine_max_bytes = 0;
  uint64_t cache_max_bytes = 256ull << 20;  // {data_dir}/cache: copies of accepted objects
};

// [mqtt]: fleet health in, "segment available" out. Absent: no MQTT.
struct MqttSettings {
  bool enabled = false;
  std::string host = "127.0.0.1";
  int port = 1883;
  std::string username;
  std::string password;
  std::string client_id = "granary-receiver";
  std::string topic_prefix = "granary";
  std::chrono::milliseconds keepalive{30'000};
};

// [multipart]: S3 multipart uploads (receiver/multipart.h).
struct MultipartSettings {
  uint64_t max_part_bytes = 512ull << 20;
  uint64_t max_upload_bytes = 2ull << 30;  // the whole object
  // An upload neither completed nor aborted this long after it began is removed, parts and
  // all; a finished one is forgotten (a retried Complete no longer answers) after as long.
  std::chrono::milliseconds expire_after{24 * 3600 * 1000};
};

// [[kind]]: a kind of report the receiver takes (docs/receiver.md "Reports and files").
struct KindSettings {
  std::string name;
  uint64_t max_bytes = 1ull << 20;
  // "none": accepted once valid; "mqtt": pending until the validation service answers.
  std::string validator = "none";
};

struct ReceiverConfig {
  std::string path;
  std::string data_dir;
  std::string listen_address = "127.0.0.1";
  int listen_port = 9000;  // 0: any free port (printed and written to {data_dir}/port)
  std::string region = "us-east-1";
  std::string prefix = "granary";  // devices write under {prefix}/{device}/
  std::vector<std::string> buckets{"granary"};
  uint64_t max_object_bytes = 64ull << 20;
  // One line (reading) of a segment; must be at least the agent's max_reading_bytes plus
  // the line's own fields, or the agent captures readings no receiver will take.
  uint64_t max_line_bytes = (1ull << 20) + (64ull << 10);
  // One BSON document (archived MQTT message) of an archive segment; at least the largest
  // message the agent archives plus its envelope.
  uint64_t max_message_bytes = 16ull << 20;
  std::chrono::milliseconds max_skew{15 * 60 * 1000};
  // Off: over plain HTTP an UNSIGNED-PAYLOAD request captured on the wire can be replayed
  // with another body within max_skew.
  bool allow_unsigned_payload = false;
  std::string index = "sqlite";  // or a postgresql:// URL
  // /healthz fails below this much free space in data_dir: uploads would start failing.
  uint64_t min_free_bytes = 256ull << 20;
  uint64_t evidence_max_bytes = 1ull << 30;  // rejected/ + conflicts/; 0: no cap
  std::string log_level = "info";

  // [http]
  int threads = 4;
  int connection_limit = 1024;
  int per_ip_limit = 64;
  std::chrono::milliseconds connection_timeout{30'000};
  std::chrono::milliseconds header_timeout{10'000};
  uint64_t min_body_rate = 1024;  // bytes a second; 0: none
  // [validation]
  int validation_threads = 4;
  int validation_per_device = 2;
  size_t validation_queue = 1024;
  std::chrono::milliseconds validation_budget{20'000};
  std::string tls_cert, tls_key;  // PEM files; both or neither (re-read on SIGHUP)

  // [api]
  bool metrics_require_token = false;

  // [dashboard]: the fleet dashboard at / and /ui/ (receiver/dashboard.h).
  bool dashboard_enabled = true;
  std::string dashboard_www_dir;  // "": the copy built into the binary
  std::string dashboard_chartjs_dir = "/usr/share/javascript/chart.js";

  RegistrySettings registry;
  std::vector<DeviceKey> devices;  // [[device]] entries; the registry adds its own
  std::vector<ReaderToken> readers;
  UpstreamS3 upstream;
  StoreSettings store;
  MqttSettings mqtt;
  MultipartSettings multipart;
  std::vector<KindSettings> kinds;
  // [reports]: a report missing a listed file, or a file with no report, after this long is
  // an event; an external validator's answer is awaited this long before asking again.
  std::chrono::milliseconds attachment_grace{3600 * 1000};
  std::chrono::milliseconds validator_timeout{30'000};

  const KindSettings* Kind(const std::string& name) const {
    for (const KindSettings& k : kinds) {
      if (k.name == name) return &k;
    }
    return nullptr;
  }

  // {prefix}/{device}/, or {device}/ with an empty prefix.
  std::string DevicePrefix(const std::string& device) const {
    return prefix.empty() ? device + "/" : prefix + "/" + device + "/";
  }
  std::string IndexPath() const { return data_dir + "/index.db"; }
};

// A device name as a key path segment allows: 1-64 of A-Z a-z 0-9 _ - . (not . or ..).
bool IsDeviceName(const std::string& name);

// Reads and validates `path`; every problem is one line of the error.
Result<ReceiverConfig> LoadReceiverConfig(const std::string& path);

}  // namespace granary::receiver
