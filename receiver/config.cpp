#include "receiver/config.h"

#include <fmt/format.h>
#include <fmt/ranges.h>
#include <toml++/toml.h>

#include <algorithm>
#include <optional>
#include <set>

#include "config/reader.h"
#include "config/toml_file.h"
#include "platform/strings.h"
#include "receiver/report_format.h"

namespace granary::receiver {
namespace {

using std::chrono::milliseconds;

bool IsNameChar(char c) {
  return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_' ||
         c == '-' || c == '.';
}

// An S3 bucket name as AWS allows it: 3-63 of [a-z0-9.-].
bool IsBucketName(const std::string& s) {
  if (s.size() < 3 || s.size() > 63) return false;
  return std::all_of(s.begin(), s.end(), [](char c) {
    return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '.' || c == '-';
  });
}

void ReadListen(ConfigReader& root, ReceiverConfig& c) {
  std::string listen = root.String("listen", "127.0.0.1:9000");
  size_t colon = listen.rfind(':');
  std::optional<int> port =
      colon == std::string::npos ? std::nullopt : ParseDecimal<int>(listen.substr(colon + 1));
  if (colon == std::string::npos || colon == 0 || !port || *port < 0 || *port > 65535) {
    root.Fail(
        "listen",
        fmt::format("expected \"ADDRESS:PORT\" such as \"0.0.0.0:9000\" (got \"{}\")", listen));
    return;
  }
  c.listen_address = listen.substr(0, colon);
  c.listen_port = *port;
}

void ReadDevices(ConfigReader& root, ReceiverConfig& c) {
  std::set<std::string> names, keys;
  for (ConfigReader& r : root.TableArray("device")) {
    DeviceKey d;
    d.device = r.RequiredString("name");
    d.access_key = r.RequiredString("access_key");
    d.secret_key = r.SecretString("secret_key", "");
    if (d.secret_key.empty()) r.Fail("secret_key", "missing required key");
    if (!d.device.empty() && !IsDeviceName(d.device)) {
      r.Fail("name", "must be 1-64 of A-Z a-z 0-9 _ - . (it is a key path segment)");
    }
    if (!d.device.empty() && !names.insert(d.device).second) {
      r.Fail("name", fmt::format("device \"{}\" is configured twice", d.device));
    }
    if (!d.access_key.empty() && !keys.insert(d.access_key).second) {
      r.Fail("access_key", "this access key is already given to another device");
    }
    if (d.access_key.find_first_of(",/ =") != std::string::npos) {
      r.Fail("access_key", "must not contain ',', '/', '=' or spaces");
    }
    r.Finish();
    c.devices.push_back(std::move(d));
  }
}

void ReadRegistry(ConfigReader& root, ReceiverConfig& c) {
  RegistrySettings& g = c.registry;
  g.key_file = c.data_dir + "/registry.key";
  std::optional<ConfigReader> r = root.Table("registry");
  if (!r) return;
  g.key_file = r->String("key_file", g.key_file);
  g.rotate_grace = r->Duration("rotate_grace", g.rotate_grace, milliseconds{0});
  g.enroll_ttl = r->Duration("enroll_ttl", g.enroll_ttl, milliseconds{60'000});
  g.poll = r->Duration("poll", g.poll, milliseconds{100});
  r->Finish();
}

void ReadReaders(ConfigReader& root, ReceiverConfig& c) {
  for (ConfigReader& r : root.TableArray("reader")) {
    ReaderToken t;
    t.name = r.RequiredString("name");
    t.token = r.SecretString("token", "");
    if (t.token.size() < 16) r.Fail("token", "must be at least 16 characters");
    r.Finish();
    c.readers.push_back(std::move(t));
  }
}

void ReadUpstream(ConfigReader& root, ReceiverConfig& c) {
  std::optional<ConfigReader> s3 = root.Table("s3");
  if (!s3) return;
  UpstreamS3& u = c.upstream;
  u.enabled = true;
  u.endpoint = s3->RequiredString("endpoint");
  u.region = s3->String("region", "us-east-1");
  u.bucket = s3->RequiredString("bucket");
  u.access_key = s3->RequiredString("access_key");
  u.secret_key = s3->SecretString("secret_key", "");
  if (u.secret_key.empty()) s3->Fail("secret_key", "missing required key");
  u.tls_verify = s3->Bool("tls_verify", true);
  u.mode = s3->Enum("mode", u.mode, {"copy", "in_place"});
  u.event_token = s3->SecretString("event_token", "");
  if (u.event_token.size() < 16) s3->Fail("event_token", "must be at least 16 characters");
  if (!u.endpoint.empty() && u.endpoint.rfind("http://", 0) != 0 &&
      u.endpoint.rfind("https://", 0) != 0) {
    s3->Fail("endpoint", "must start with http:// or https://");
  }
  s3->Finish();
}

void ReadStore(ConfigReader& root, ReceiverConfig& c) {
  std::optional<ConfigReader> r = root.Table("store");
  if (!r) return;
  StoreSettings& st = c.store;
  st.type = r->Enum("type", st.type, {"filesystem", "s3"});
  st.quarantine_max_bytes =
      r->Size("quarantine_max_bytes", st.type == "s3" ? 4ull << 30 : 0, st.type == "s3" ? 1 : 0);
  if (st.type == "filesystem") {
    r->Finish();
    return;
  }
  st.endpoint = r->RequiredString("endpoint");
  st.region = r->String("region", st.region);
  st.bucket = r->RequiredString("bucket");
  // In this file like [[device]] keys, or in an AWS-style credentials file.
  st.access_key = r->String("access_key", "");
  st.secret_key = r->SecretString("secret_key", "");
  st.credentials_file = r->String("credentials_file", "");
  st.profile = r->String("profile", st.profile);
  if (st.access_key.empty() == st.credentials_file.empty()) {
    r->Fail("credentials_file", "give either access_key and secret_key or credentials_file");
  } else if (!st.access_key.empty() && st.secret_key.empty()) {
    r->Fail("secret_key", "access_key needs secret_key");
  }
  st.tls_verify = r->Bool("tls_verify", st.tls_verify);
  for (auto [name, value] : {std::pair{"accepted_prefix", &st.accepted_prefix},
                             std::pair{"rejected_prefix", &st.rejected_prefix},
                             std::pair{"conflicts_prefix", &st.conflicts_prefix},
                             std::pair{"uploads_prefix", &st.uploads_prefix}}) {
    *value = r->String(name, *value);
    if (value->starts_with('/') || value->find("..") != std::string::npos) {
      r->Fail(name, "must not start with '/' nor contain \"..\"");
    }
  }
  // One area must not lie inside another: verify would count evidence or parts as unindexed.
  const std::string* prefixes[] = {&st.accepted_prefix, &st.rejected_prefix, &st.conflicts_prefix,
                                   &st.uploads_prefix};
  bool nested = false;
  for (const std::string* a : prefixes) {
    for (const std::string* b : prefixes) nested = nested || (a != b && b->starts_with(*a));
  }
  if (nested) {
    r->Fail("accepted_prefix",
            "the accepted, rejected, conflicts and uploads prefixes must differ and none may "
            "begin with another");
  }
  st.cache_max_bytes = r->Size("cache_max_bytes", st.cache_max_bytes, 0);
  if (!st.endpoint.empty() && st.endpoint.rfind("http://", 0) != 0 &&
      st.endpoint.rfind("https://", 0) != 0) {
    r->Fail("endpoint", "must start with http:// or https://");
  }
  r->Finish();
}

void ReadMqtt(ConfigReader& root, ReceiverConfig& c) {
  std::optional<ConfigReader> mqtt = root.Table("mqtt");
  if (!mqtt) return;
  MqttSettings& m = c.mqtt;
  m.enabled = true;
  m.host = mqtt->String("host", m.host);
  m.port = static_cast<int>(mqtt->Integer("port", m.port, 1, 65535));
  m.username = mqtt->String("username", m.username);
  m.password = mqtt->SecretString("password", m.password);
  m.client_id = mqtt->String("client_id", m.client_id);
  m.topic_prefix = mqtt->String("topic_prefix", m.topic_prefix);
  if (m.topic_prefix.empty() || m.topic_prefix.find_first_of("+#") != std::string::npos) {
    mqtt->Fail("topic_prefix", "must be non-empty, without + or #");
  }
  m.keepalive = mqtt->Duration("keepalive", m.keepalive, milliseconds{5000});
  mqtt->Finish();
}

void ReadMultipart(ConfigReader& root, ReceiverConfig& c) {
  std::optional<ConfigReader> r = root.Table("multipart");
  if (!r) return;
  MultipartSettings& m = c.multipart;
  m.max_part_bytes = r->Size("max_part_bytes", m.max_part_bytes, 5ull << 20);
  m.max_upload_bytes = r->Size("max_upload_bytes", m.max_upload_bytes, 5ull << 20);
  m.expire_after = r->Duration("expire_after", m.expire_after, milliseconds{1000});
  r->Finish();
}

void ReadKinds(ConfigReader& root, ReceiverConfig& c) {
  std::set<std::string> names;
  for (ConfigReader& r : root.TableArray("kind")) {
    KindSettings k;
    k.name = r.RequiredString("name");
    k.max_bytes = r.Size("max_bytes", k.max_bytes, 2);
    k.validator = r.Enum("validator", k.validator, {"none", "mqtt"});
    if (!k.name.empty() && !IsKindName(k.name)) {
      r.Fail("name", "must be [a-z0-9][a-z0-9_-]{0,63} (it is a key path segment)");
    }
    if (!k.name.empty() && !names.insert(k.name).second) {
      r.Fail("name", fmt::format("kind \"{}\" is configured twice", k.name));
    }
    if (k.validator == "mqtt" && !c.mqtt.enabled) {
      r.Fail("validator", "\"mqtt\" needs an [mqtt] section");
    }
    r.Finish();
    c.kinds.push_back(std::move(k));
  }
  if (std::optional<ConfigReader> r = root.Table("reports")) {
    c.attachment_grace = r->Duration("attachment_grace", c.attachment_grace, milliseconds{100});
    c.validator_timeout = r->Duration("validator_timeout", c.validator_timeout, milliseconds{100});
    r->Finish();
  }
}

}  // namespace

bool IsDeviceName(const std::string& s) {
  return !s.empty() && s.size() <= 64 && s != "." && s != ".." &&
         std::all_of(s.begin(), s.end(), IsNameChar);
}

Result<ReceiverConfig> LoadReceiverConfig(const std::string& path) {
  auto document = LoadTomlFile(path);
  if (!document) return document.error();
  auto diag = std::make_shared<ConfigDiagnostics>();
  diag->file = path;
  ConfigReader root(diag, **document, "");
  ReceiverConfig c;
  c.path = path;
  c.data_dir = root.RequiredString("data_dir");
  ReadListen(root, c);
  c.region = root.String("region", c.region);
  c.prefix = root.String("prefix", c.prefix);
  if (c.prefix.find("..") != std::string::npos || c.prefix.starts_with('/') ||
      c.prefix.ends_with('/')) {
    root.Fail("prefix", "must not contain \"..\" nor start or end with '/'");
  }
  if (root.Has("buckets")) {
    c.buckets = root.StringArray("buckets");
    if (c.buckets.empty()) root.Fail("buckets", "must name at least one bucket");
    for (const std::string& b : c.buckets) {
      if (!IsBucketName(b)) root.Fail("buckets", fmt::format("\"{}\" is not an S3 bucket name", b));
      if (b == "api" || b == "v1" || b == "healthz" || b == "metrics") {
        root.Fail("buckets", fmt::format("\"{}\" is reserved for the API", b));
      }
    }
  }
  c.max_object_bytes = root.Size("max_object_bytes", c.max_object_bytes, 1024);
  c.max_line_bytes = root.Size("max_line_bytes", c.max_line_bytes, 4096);
  c.max_message_bytes = root.Size("max_message_bytes", c.max_message_bytes, 1024);
  c.min_free_bytes = root.Size("min_free_bytes", c.min_free_bytes, 0);
  c.evidence_max_bytes = root.Size("evidence_max_bytes", c.evidence_max_bytes, 0);
  c.max_skew = root.Duration("max_skew", c.max_skew, milliseconds{1000});
  c.allow_unsigned_payload = root.Bool("allow_unsigned_payload", c.allow_unsigned_payload);
  c.index = root.SecretString("index", c.index);
  if (c.index != "sqlite" && c.index.rfind("postgresql://", 0) != 0 &&
      c.index.rfind("postgres://", 0) != 0) {
    root.Fail("index", "must be \"sqlite\" or a postgresql:// URL");
  }
  c.log_level =
      root.Enum("log_level", c.log_level, {"error", "warning", "notice", "info", "debug"});

  if (std::optional<ConfigReader> http = root.Table("http")) {
    c.threads = static_cast<int>(http->Integer("threads", c.threads, 1, 256));
    c.connection_limit =
        static_cast<int>(http->Integer("connection_limit", c.connection_limit, 4, 65536));
    c.per_ip_limit = static_cast<int>(http->Integer("per_ip_limit", c.per_ip_limit, 0, 65536));
    c.connection_timeout = http->Duration("timeout", c.connection_timeout, milliseconds{1000});
    c.header_timeout = http->Duration("header_timeout", c.header_timeout, milliseconds{1000});
    c.min_body_rate = http->Size("min_body_rate", c.min_body_rate, 0);
    c.tls_cert = http->String("tls_cert", "");
    c.tls_key = http->String("tls_key", "");
    if (c.tls_cert.empty() != c.tls_key.empty()) {
      http->Fail(c.tls_cert.empty() ? "tls_cert" : "tls_key", "tls_cert and tls_key go together");
    }
    http->Finish();
  }
  if (std::optional<ConfigReader> v = root.Table("validation")) {
    c.validation_threads = static_cast<int>(v->Integer("threads", c.validation_threads, 1, 256));
    c.validation_per_device =
        static_cast<int>(v->Integer("per_device", c.validation_per_device, 1, 256));
    c.validation_queue = static_cast<size_t>(
        v->Integer("queue", static_cast<int64_t>(c.validation_queue), 1, 1'000'000));
    c.validation_budget = v->Duration("object_budget", c.validation_budget, milliseconds{100});
    v->Finish();
  }
  if (std::optional<ConfigReader> api = root.Table("api")) {
    c.metrics_require_token = api->Bool("metrics_require_token", c.metrics_require_token);
    api->Finish();
  }
  if (std::optional<ConfigReader> d = root.Table("dashboard")) {
    c.dashboard_enabled = d->Bool("enabled", c.dashboard_enabled);
    c.dashboard_www_dir = d->String("www_dir", c.dashboard_www_dir);
    c.dashboard_chartjs_dir = d->String("chartjs_dir", c.dashboard_chartjs_dir);
    d->Finish();
  }
  ReadRegistry(root, c);
  ReadDevices(root, c);
  ReadReaders(root, c);
  ReadUpstream(root, c);
  ReadStore(root, c);
  ReadMqtt(root, c);
  ReadMultipart(root, c);
  ReadKinds(root, c);
  root.Finish();
  if (Status s = DiagnosticsStatus(*diag); !s) return s.error();
  return c;
}

}  // namespace granary::receiver
