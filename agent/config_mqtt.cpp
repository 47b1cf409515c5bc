// [mqtt] and [metrics]: where the agent reports its health. Files named here (password,
// CA, certificate, key) are checked at load, so a wrong path stops the agent at start
// instead of failing every connection attempt later.
#include <fmt/format.h>
#include <unistd.h>

#include "agent/config_sections.h"
#include "config/units.h"
#include "platform/private_file.h"

namespace granary::config_detail {
namespace {

using namespace std::chrono_literals;

// MQTT keepalive is a 16-bit count of seconds.
constexpr auto kMaxKeepalive = std::chrono::seconds{65535};

void RequireReadable(ConfigReader& r, const char* key, const std::string& path) {
  if (path.empty()) return;
  if (::access(path.c_str(), R_OK) != 0) {
    r.Fail(key, Error::FromErrno("cannot read " + path).message());
  }
}

// Topic levels must not hold wildcards, and an empty level would make a different topic.
std::string PrefixProblem(const std::string& prefix) {
  if (prefix.empty()) return "must not be empty";
  if (prefix.size() > 128) return "must be at most 128 bytes";
  if (prefix.find_first_of("+#") != std::string::npos) return "must not contain + or #";
  if (prefix.front() == '/' || prefix.back() == '/' || prefix.find("//") != std::string::npos) {
    return "must not start or end with /, nor contain an empty level (//)";
  }
  return "";
}

}  // namespace

void ReadMqttCredentials(ConfigReader& r, std::string& username, std::string& password_file,
                         std::string& password) {
  username = r.String("username", "");
  password_file = r.String("password_file", "");
  if (password_file.empty()) return;
  if (username.empty()) r.Fail("password_file", "needs username");
  auto read = ReadPrivateFile(password_file, "password file");
  if (read) {
    password = std::move(*read);
  } else {
    r.Fail("password_file", read.error().message());
  }
}

void ReadMqtt(ConfigReader& root, const std::string& device, MqttConfig& m) {
  const MqttConfig d;
  if (!root.Has("mqtt")) return;
  ConfigReader r = Section(root, "mqtt");
  m.enabled = r.Bool("enabled", true);
  m.host = r.String("host", d.host);
  if (m.host.empty()) r.Fail("host", "must not be empty");
  m.port = static_cast<int>(r.Integer("port", 0, 0, 65535));
  size_t errors = ErrorCount(r);
  m.prefix = r.String("prefix", d.prefix);
  if (ErrorCount(r) == errors) {
    if (std::string problem = PrefixProblem(m.prefix); !problem.empty()) {
      r.Fail("prefix", fmt::format("{} (got {})", problem, TomlQuote(m.prefix)));
    }
  }
  m.client_id = r.String("client_id", "granary-" + device);
  if (m.client_id.empty() || m.client_id.size() > 256) {
    r.Fail("client_id", "must be 1 to 256 bytes");
  }
  errors = ErrorCount(r);
  auto keepalive = r.Duration("keepalive", d.keepalive, 5s);
  if (ErrorCount(r) == errors && keepalive > kMaxKeepalive) {
    r.Fail("keepalive", fmt::format("must be at most {} (got {})", FormatDuration(kMaxKeepalive),
                                    TomlQuote(FormatDuration(keepalive))));
  }
  m.keepalive = std::chrono::duration_cast<std::chrono::seconds>(keepalive);
  errors = ErrorCount(r);
  m.reconnect_min = r.Duration("reconnect_min", d.reconnect_min, 100ms);
  m.reconnect_max = r.Duration("reconnect_max", d.reconnect_max, 100ms);
  if (ErrorCount(r) == errors && m.reconnect_max < m.reconnect_min) {
    r.Fail("reconnect_max",
           fmt::format("must be at least reconnect_min, {}", FormatDuration(m.reconnect_min)));
  }
  ReadMqttCredentials(r, m.username, m.password_file, m.password);
  m.ca_file = r.String("ca_file", "");
  m.cert_file = r.String("cert_file", "");
  m.key_file = r.String("key_file", "");
  RequireReadable(r, "ca_file", m.ca_file);
  RequireReadable(r, "cert_file", m.cert_file);
  RequireReadable(r, "key_file", m.key_file);
  if (m.cert_file.empty() != m.key_file.empty()) {
    r.Fail(m.cert_file.empty() ? "key_file" : "cert_file", "cert_file and key_file go together");
  }
  if (!m.cert_file.empty() && m.ca_file.empty()) {
    r.Fail("cert_file", "a client certificate needs TLS: set ca_file too");
  }
  m.event_queue = static_cast<uint32_t>(r.Integer("event_queue", d.event_queue, 0, 100'000));
  r.Finish();
}

void ReadMetrics(ConfigReader& root, const std::string& state_dir, MetricsConfig& m) {
  ConfigReader r = Section(root, "metrics");
  m.textfile = r.String("textfile", state_dir + "/metrics.prom");
  m.listen_port = static_cast<int>(r.Integer("listen_port", 0, 0, 65535));
  r.Finish();
}

void ReadMonitoring(ConfigReader& root, AgentConfig& c) {
  ReadMqtt(root, c.device, c.mqtt);
  ReadMetrics(root, c.state_dir, c.metrics);
}

std::string RenderMonitoring(const AgentConfig& c) {
  return RenderMqtt(c.mqtt) + RenderMetrics(c.metrics);
}

std::string RenderMqtt(const MqttConfig& m) {
  if (!m.enabled && m.client_id.empty()) return "\n# [mqtt] absent: no MQTT status\n";
  auto dur = [](std::chrono::milliseconds ms) { return TomlQuote(FormatDuration(ms)); };
  return fmt::format(
      "\n[mqtt]\nenabled = {}\nhost = {}\nport = {}\nprefix = {}\nclient_id = {}\n"
      "keepalive = {}\nreconnect_min = {}\nreconnect_max = {}\nusername = {}\n"
      "password_file = {}\nca_file = {}\ncert_file = {}\nkey_file = {}\nevent_queue = {}\n",
      m.enabled, TomlQuote(m.host), m.port, TomlQuote(m.prefix), TomlQuote(m.client_id),
      dur(m.keepalive), dur(m.reconnect_min), dur(m.reconnect_max), TomlQuote(m.username),
      TomlQuote(m.password_file), TomlQuote(m.ca_file), TomlQuote(m.cert_file),
      TomlQuote(m.key_file), m.event_queue);
}

std::string RenderMetrics(const MetricsConfig& m) {
  return fmt::format("\n[metrics]\ntextfile = {}\nlisten_port = {}\n", TomlQuote(m.textfile),
                     m.listen_port);
}

}  // namespace granary::config_detail
