// The agent config loader's section readers, shared by the files that read one section
// each (config.cpp reads the globals and the sources, config_<section>.cpp the rest). Not
// part of the config's public interface: the daemon sees only the AgentConfig they fill.
#pragma once

#include <string>
#include <string_view>

#include "agent/config.h"
#include "agent/monitor_config.h"
#include "config/reader.h"
#include "config/toml_file.h"

namespace granary::config_detail {

// The reader of [key]. An absent section (or a mistyped one, already reported) reads as
// empty, so its defaults still take effect and are recorded.
ConfigReader Section(ConfigReader& root, std::string_view key);
size_t ErrorCount(const ConfigReader& reader);

// Device, source and outbox names end up in object keys and file names.
inline constexpr std::string_view kNameRule =
    "1 to 64 characters of A-Z a-z 0-9 _ . -, not starting with \".\"";
bool ValidName(std::string_view name);

// [upload]
void ReadUpload(ConfigReader& root, AgentConfig& config);
std::string RenderUpload(const AgentConfig& config);

// [mqtt] and [metrics] (config_mqtt.cpp).
// [mqtt]: absent means no MQTT. A password file that is missing, unreadable, or readable
// by group or others is a config error, so the agent stops at start (exit 78).
void ReadMqtt(ConfigReader& root, const std::string& device, MqttConfig& out);
// username and password_file of a broker section, the password read from that file (it must
// be private to its owner); shared by [mqtt] and the mqtt source.
void ReadMqttCredentials(ConfigReader& r, std::string& username, std::string& password_file,
                         std::string& password);
// [metrics]: present or not, the text file defaults to {state_dir}/metrics.prom.
void ReadMetrics(ConfigReader& root, const std::string& state_dir, MetricsConfig& out);
// Both sections into `config`; device and state_dir must be read already.
void ReadMonitoring(ConfigReader& root, AgentConfig& config);
std::string RenderMonitoring(const AgentConfig& config);
// The sections as check-config prints them; the password never, its file's path only.
std::string RenderMqtt(const MqttConfig& mqtt);
std::string RenderMetrics(const MetricsConfig& metrics);

// [[outbox]] (config_outbox.cpp): names unique, paths distinct.
void ReadOutboxes(ConfigReader& root, AgentConfig& config);
std::string RenderOutboxes(const AgentConfig& config);

// [[watcher]] (config_watcher.cpp): after the outboxes, which watchers write into.
void ReadWatchers(ConfigReader& root, AgentConfig& config);
std::string RenderWatchers(const AgentConfig& config);

}  // namespace granary::config_detail
