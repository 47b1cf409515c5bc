// Reading and rendering [mqtt] and [metrics] (agent/config_mqtt.cpp). Used by the config
// loader only; the daemon sees the result in AgentConfig.
#pragma once

#include <string>

#include "agent/config.h"
#include "agent/config_reader.h"
#include "agent/monitor_config.h"

namespace granary::config_detail {

// [mqtt]: absent means no MQTT. A password file that is missing, unreadable, or readable
// by group or others is a config error, so the agent stops at start (exit 78).
void ReadMqtt(ConfigReader& root, const std::string& device, MqttConfig& out);
// [metrics]: present or not, the text file defaults to {state_dir}/metrics.prom.
void ReadMetrics(ConfigReader& root, const std::string& state_dir, MetricsConfig& out);

// Both sections into `config`; device and state_dir must be read already.
void ReadMonitoring(ConfigReader& root, AgentConfig& config);
std::string RenderMonitoring(const AgentConfig& config);

// The sections as check-config prints them; the password never, its file's path only.
std::string RenderMqtt(const MqttConfig& mqtt);
std::string RenderMetrics(const MetricsConfig& metrics);

}  // namespace granary::config_detail
