// One [[watcher]] of type "runs": run detection (docs/runs.md). Read by
// agent/config_watcher.cpp, run by agent/outbox/run_watcher.h.
#pragma once

#include <chrono>
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

namespace granary {

// The lastruns.txt form: `INSTRUMENT RUN [FIELDS...]`.
inline constexpr const char* kDefaultCounterRegex = R"(^\s*(?<instrument>\S+)\s+(?<run>\d+))";

struct RunsWatcherConfig {
  std::string name;    // [A-Za-z0-9_.-]{1,64}, unique among watchers
  std::string outbox;  // an [[outbox]] name; filled in when there is only one
  std::string outbox_path;
  std::string instrument;  // a filter for counter_file; the instrument of run_dir's runs
  std::string counter_file;
  std::string counter_regex = kDefaultCounterRegex;
  std::string run_dir;
  std::string run_dir_pattern;  // a whole entry name, with a run capture
  std::chrono::milliseconds interval{5'000};
  std::vector<std::string> file_templates;
  std::chrono::milliseconds file_timeout{600'000};
  std::string kind = "run";
  std::optional<uint64_t> start_run;  // first start: submit runs after this one
};

}  // namespace granary
