// The keys of a `type = "mqtt"` source. Files (password, CA) are read or checked at load,
// so a wrong path stops the agent at start instead of failing every connection later.
#include <fmt/format.h>
#include <mosquitto.h>
#include <unistd.h>

#include "agent/archive/mqtt_source_config.h"
#include "agent/config_sections.h"
#include "config/toml_file.h"
#include "config/units.h"
#include "platform/strings.h"

namespace granary {
namespace {

using namespace std::chrono_literals;

constexpr auto kMaxKeepalive = std::chrono::seconds{65535};
constexpr auto kMaxSessionExpiry = std::chrono::seconds{0xFFFFFFFEu};

// mqtt://host[:port] or mqtts://host[:port]; the error, or "".
std::string ParseUrl(const std::string& url, MqttSourceConfig& m) {
  std::string_view rest = url;
  if (rest.starts_with("mqtt://")) {
    rest.remove_prefix(7);
  } else if (rest.starts_with("mqtts://")) {
    rest.remove_prefix(8);
    m.tls = true;
  } else {
    return "must start with mqtt:// or mqtts://";
  }
  if (!rest.empty() && rest.back() == '/') rest.remove_suffix(1);
  m.port = m.tls ? 8883 : 1883;
  size_t colon = rest.rfind(':');
  if (colon != std::string_view::npos && rest.find(']') == std::string_view::npos) {
    auto port = ParseDecimal<uint32_t>(rest.substr(colon + 1));
    if (!port || *port == 0 || *port > 65535) return "has a bad port";
    m.port = static_cast<int>(*port);
    rest = rest.substr(0, colon);
  }
  if (rest.empty() || rest.find_first_of("/@?#") != std::string_view::npos) {
    return "must be mqtt[s]://HOST[:PORT] (credentials go in username and password_file)";
  }
  m.host = std::string(rest);
  return "";
}

void ReadTopics(ConfigReader& r, MqttSourceConfig& m) {
  for (ConfigReader& t : r.TableArray("topics")) {
    MqttTopic topic;
    topic.filter = t.RequiredString("filter");
    if (!topic.filter.empty() && mosquitto_sub_topic_check(topic.filter.c_str()) != 0) {
      t.Fail("filter",
             fmt::format("is not a valid MQTT topic filter (got {})", TomlQuote(topic.filter)));
    }
    topic.qos = static_cast<int>(t.Integer("qos", 1, 0, 2));
    t.Finish();
    m.topics.push_back(std::move(topic));
  }
  if (m.topics.empty()) r.Fail("topics", "needs at least one [[source.topics]] filter");
}

void ReadVeto(ConfigReader& r, const std::string& own_prefix, MqttSourceConfig& m) {
  if (!r.Has("veto")) {
    // Not read when absent: StringArray would record [] for check-config, not this.
    m.veto = {"$SYS/#", own_prefix + "/#"};
    return;
  }
  m.veto = r.StringArray("veto");
  for (const std::string& f : m.veto) {
    if (mosquitto_sub_topic_check(f.c_str()) != 0) {
      r.Fail("veto", fmt::format("{} is not a valid MQTT topic filter", TomlQuote(f)));
    }
  }
}

}  // namespace

MqttSourceConfig ReadMqttSource(ConfigReader& r, const std::string& name, const std::string& device,
                                const std::string& own_prefix) {
  const MqttSourceConfig d;
  MqttSourceConfig m;
  m.name = name;
  const std::string url = r.RequiredString("url");
  if (!url.empty()) {
    if (std::string problem = ParseUrl(url, m); !problem.empty()) {
      r.Fail("url", fmt::format("{} (got {})", problem, TomlQuote(url)));
    }
  }
  m.ca_file = r.String("ca_file", "");
  if (!m.ca_file.empty() && ::access(m.ca_file.c_str(), R_OK) != 0) {
    r.Fail("ca_file", Error::FromErrno("cannot read " + m.ca_file).message());
  }
  if (m.tls && m.ca_file.empty()) r.Fail("ca_file", "mqtts:// needs the broker's CA (ca_file)");
  if (!m.tls && !m.ca_file.empty()) r.Fail("ca_file", "is only used with an mqtts:// url");
  config_detail::ReadMqttCredentials(r, m.username, m.password_file, m.password);
  m.protocol = r.Enum("protocol", "auto", {"auto", "5", "3.1.1"});
  m.client_id = r.String("client_id", "granary-" + device + "-" + name);
  if (m.client_id.empty() || m.client_id.size() > 23 * 10) {
    r.Fail("client_id", "must be 1 to 230 bytes");
  }
  ReadTopics(r, m);
  ReadVeto(r, own_prefix, m);
  auto expiry = r.Duration("session_expiry", d.session_expiry, 0ms);
  if (expiry > kMaxSessionExpiry) {
    r.Fail("session_expiry", "must be at most 4294967294s (0xFFFFFFFF would never expire)");
  }
  m.session_expiry = std::chrono::duration_cast<std::chrono::seconds>(expiry);
  auto keepalive = r.Duration("keepalive", d.keepalive, 5s);
  if (keepalive > kMaxKeepalive) r.Fail("keepalive", "must be at most 65535s");
  m.keepalive = std::chrono::duration_cast<std::chrono::seconds>(keepalive);
  m.reconnect_min = r.Duration("reconnect_min", d.reconnect_min, 100ms);
  m.reconnect_max = r.Duration("reconnect_max", d.reconnect_max, 100ms);
  if (m.reconnect_max < m.reconnect_min) {
    r.Fail("reconnect_max",
           fmt::format("must be at least reconnect_min, {}", FormatDuration(m.reconnect_min)));
  }
  m.dedupe_window =
      static_cast<uint32_t>(r.Integer("dedupe_window", d.dedupe_window, 0, 10'000'000));
  m.receive_maximum =
      static_cast<uint16_t>(r.Integer("receive_maximum", d.receive_maximum, 1, 65'535));
  return m;
}

}  // namespace granary
