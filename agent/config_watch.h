// What the daemon applies without a signal: drop-in files appearing, changing or going in
// conf.d (reloaded as on SIGHUP), and the upload credentials file's content changing (new
// credentials, and the segments a permanent error parked are retried at once).
#pragma once

#include <optional>
#include <string>
#include <vector>

#include "agent/config.h"
#include "platform/dir_watch.h"
#include "platform/env.h"

namespace granary {

class ConfigWatch {
 public:
  // Watches what `config` names. What cannot be watched is logged, never fatal: SIGHUP
  // still works.
  ConfigWatch(Env& env, const AgentConfig& config);

  struct Changes {
    std::vector<std::string> config;  // drop-in files (or conf.d itself) changed
    bool credentials = false;         // the credentials file's content differs
  };
  // Non-blocking.
  Changes Poll();
  // SIGIO when something watched changes (DirWatch::SignalOnChange); returns false when
  // that cannot be arranged, and then only Poll() finds changes.
  bool SignalOnChange();

 private:
  std::string CredentialsDigest();

  Env& env_;
  std::optional<DirWatch> watch_;
  const std::string conf_dir_;
  const std::string credentials_file_;  // empty: from the environment, nothing to watch
  std::string credentials_digest_;
};

}  // namespace granary
