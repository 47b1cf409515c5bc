// [[watcher]]: producers the agent runs itself; type "runs" is run detection (docs/runs.md).
#include <fmt/format.h>

#include <set>
#include <string>

#include "agent/config_sections.h"
#include "agent/outbox/outbox_config.h"
#include "agent/outbox/runs.h"
#include "config/units.h"

namespace granary::config_detail {
namespace {

using namespace std::chrono_literals;

void ReadOutboxChoice(ConfigReader& r, const AgentConfig& c, RunsWatcherConfig& w) {
  w.outbox = r.String("outbox", c.outboxes.size() == 1 ? c.outboxes.front().name : "");
  if (w.outbox.empty()) {
    r.Fail("outbox", c.outboxes.empty() ? "needs an [[outbox]] to write into"
                                        : "required: several [[outbox]] are configured");
    return;
  }
  for (const OutboxConfig& o : c.outboxes) {
    if (o.name == w.outbox) w.outbox_path = o.path;
  }
  if (w.outbox_path.empty())
    r.Fail("outbox", fmt::format("no [[outbox]] named {}", TomlQuote(w.outbox)));
}

void ReadFileTemplates(ConfigReader& r, RunsWatcherConfig& w) {
  const toml::node* n = r.table().get("file_template");
  if (n != nullptr && n->is_string()) {
    w.file_templates.push_back(r.String("file_template", ""));
  } else {
    w.file_templates = r.StringArray("file_template");
  }
  for (const std::string& t : w.file_templates) {
    auto expanded = ExpandRunTemplate(t, "instrument", 1);
    if (!expanded) {
      r.Fail("file_template", fmt::format("{}: {}", TomlQuote(t), expanded.error().message()));
    } else if (expanded->empty() || expanded->front() != '/') {
      r.Fail("file_template", fmt::format("must be an absolute path (got {})", TomlQuote(t)));
    }
  }
}

RunsWatcherConfig ReadRuns(ConfigReader& r, const AgentConfig& c, const std::string& name) {
  const RunsWatcherConfig defaults;
  RunsWatcherConfig w;
  w.name = name;
  ReadOutboxChoice(r, c, w);
  w.instrument = r.String("instrument", "");
  w.counter_file = r.String("counter_file", "");
  w.counter_regex = r.String("counter_regex", defaults.counter_regex);
  w.run_dir = r.String("run_dir", "");
  w.run_dir_pattern = r.String("run_dir_pattern", "");
  if (w.counter_file.empty() == w.run_dir.empty())
    r.Fail("counter_file", "set exactly one of counter_file and run_dir");
  if (auto p = CompileCounterPattern(w.counter_regex, true); !p)
    r.Fail("counter_regex", fmt::format("{}: {}", TomlQuote(w.counter_regex), p.error().message()));
  if (!w.run_dir.empty()) {
    if (w.run_dir_pattern.empty()) r.Fail("run_dir_pattern", "required with run_dir");
    if (auto p = CompileCounterPattern(w.run_dir_pattern, false); !p)
      r.Fail("run_dir_pattern",
             fmt::format("{}: {}", TomlQuote(w.run_dir_pattern), p.error().message()));
  }
  w.interval = r.Duration("interval", defaults.interval, 100ms);
  ReadFileTemplates(r, w);
  w.file_timeout = r.Duration("file_timeout", defaults.file_timeout, 0ms);
  w.kind = r.String("kind", defaults.kind);
  if (!ValidKind(w.kind))
    r.Fail("kind", fmt::format("must be 1 to 64 characters of a-z 0-9 _ -, starting a-z or 0-9 "
                               "(got {})",
                               TomlQuote(w.kind)));
  if (r.Has("start_run"))
    w.start_run = static_cast<uint64_t>(r.Integer("start_run", 0, 0, INT64_MAX));
  return w;
}

}  // namespace

void ReadWatchers(ConfigReader& root, AgentConfig& c) {
  std::set<std::string> names;
  for (ConfigReader& r : root.TableArray("watcher")) {
    const std::string name = r.RequiredString("name");
    if (!name.empty() && !ValidName(name))
      r.Fail("name", fmt::format("must be {} (got {})", kNameRule, TomlQuote(name)));
    else if (!name.empty() && !names.insert(name).second)
      r.Fail("name", fmt::format("duplicate watcher name {}", TomlQuote(name)));
    const std::string type = r.Enum("type", "runs", {"runs"});
    if (type == "runs") c.run_watchers.push_back(ReadRuns(r, c, name));
    r.Finish();
  }
}

std::string RenderWatchers(const AgentConfig& c) {
  std::string out;
  for (const RunsWatcherConfig& w : c.run_watchers) {
    std::string templates;
    for (const std::string& t : w.file_templates)
      templates += (templates.empty() ? "" : ", ") + TomlQuote(t);
    out += fmt::format(
        "\n[[watcher]]\nname = {}\ntype = \"runs\"\noutbox = {}\ninstrument = {}\n"
        "counter_file = {}\ncounter_regex = {}\nrun_dir = {}\nrun_dir_pattern = {}\n"
        "interval = {}\nfile_template = [{}]\nfile_timeout = {}\nkind = {}\n",
        TomlQuote(w.name), TomlQuote(w.outbox), TomlQuote(w.instrument), TomlQuote(w.counter_file),
        TomlQuote(w.counter_regex), TomlQuote(w.run_dir), TomlQuote(w.run_dir_pattern),
        TomlQuote(FormatDuration(w.interval)), templates, TomlQuote(FormatDuration(w.file_timeout)),
        TomlQuote(w.kind));
    if (w.start_run) out += fmt::format("start_run = {}\n", *w.start_run);
  }
  return out;
}

}  // namespace granary::config_detail
