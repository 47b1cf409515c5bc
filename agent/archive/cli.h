// The archive's command line: `granary archive ls`, `granary archive inspect UUID` and
// `granary replay`, over the messages this device still holds locally (sealed .bson.gz
// segments in the state dir, then what is still buffered); `replay --s3` reads the
// uploaded segments back from the [upload] bucket instead.
#pragma once

#include <cstdint>
#include <optional>
#include <string>

#include "agent/config.h"
#include "archive/republisher.h"
#include "platform/env.h"

namespace granary {

struct ReplayArgs {
  std::string from, to;  // RFC 3339 UTC (2026-11-30T05:00:00Z) or ms since the epoch
  std::string topic;     // an MQTT topic filter; empty: every topic
  std::string device;    // empty: this device
  std::string source;    // empty: every mqtt source
  bool dry_run = false;  // print instead of publishing
  bool s3 = false;       // read the segments back from the [upload] bucket, not the state dir
  archive::RepublishOptions publish;
};

// ms since the epoch from RFC 3339 UTC ("2026-11-30T05:00:00Z") or a plain number.
std::optional<int64_t> ParseReplayTime(const std::string& text);

int CmdArchiveLs(Env& env, const AgentConfig& config);
int CmdArchiveInspect(Env& env, const AgentConfig& config, const std::string& uuid);
int CmdReplay(Env& env, const AgentConfig& config, const ReplayArgs& args);

}  // namespace granary
