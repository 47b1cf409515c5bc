// The agent's health as Prometheus text exposition (version 0.0.4), for node_exporter's
// textfile collector (written atomically to a file) and for the optional local /metrics.
// Every counter is cumulative since the daemon started; docs/operations.md lists them.
#pragma once

#include <string>

#include "agent/mqtt_publisher.h"
#include "agent/status.h"

namespace granary {

// `mqtt` null: MQTT is not configured and its metrics are left out.
std::string PrometheusText(const AgentStatus& status, const MqttStats* mqtt);

// "a\"b" for a label value: backslash, double quote and newline escaped.
std::string PrometheusLabel(const std::string& value);

}  // namespace granary
