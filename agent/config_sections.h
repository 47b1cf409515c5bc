// Shared by the files that read one config section each (config.cpp reads the globals and
// the sources, config_<section>.cpp the rest). Not part of the config's public interface.
#pragma once

#include <string>
#include <string_view>

#include "agent/config.h"
#include "agent/config_reader.h"

namespace granary::config_detail {

// A TOML basic string literal: a value that fits on its "key = value" line.
std::string Quote(std::string_view s);
// The reader of [key]. An absent section (or a mistyped one, already reported) reads as
// empty, so its defaults still take effect and are recorded.
ConfigReader Section(ConfigReader& root, std::string_view key);
size_t ErrorCount(const ConfigReader& reader);

// [upload]
void ReadUpload(ConfigReader& root, AgentConfig& config);
std::string RenderUpload(const AgentConfig& config);

}  // namespace granary::config_detail
