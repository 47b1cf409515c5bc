#include "agent/config.h"

#include <fmt/format.h>
#include <fmt/ranges.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <map>
#include <sstream>

#include "agent/config_sections.h"
#include "agent/sources/source.h"
#include "config/units.h"

namespace granary {
namespace config_detail {

static const toml::table& EmptyTable() {
  static const toml::table empty;
  return empty;
}

ConfigReader Section(ConfigReader& root, std::string_view key) {
  std::optional<ConfigReader> section = root.Table(key);
  if (section) return std::move(*section);
  return ConfigReader(root.diagnostics(), EmptyTable(), std::string(key));
}

size_t ErrorCount(const ConfigReader& reader) { return reader.diagnostics()->errors.size(); }

static bool IsNameChar(char c) {
  return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_' ||
         c == '.' || c == '-';
}

// Device and source names end up in object keys and file names.
bool ValidName(std::string_view name) {
  // "." and ".." would be normalised out of a key's path (and signed as something else),
  // and a leading dot hides a file.
  return !name.empty() && name.size() <= 64 && name.front() != '.' &&
         std::all_of(name.begin(), name.end(), IsNameChar);
}

}  // namespace config_detail

namespace {

using namespace config_detail;

using std::chrono::milliseconds;
using namespace std::chrono_literals;

constexpr milliseconds kDefaultSourceInterval = 10s;
constexpr milliseconds kMaxSourceTimeout = 5s;

std::string HostName() {
  char buf[256] = {};
  if (::gethostname(buf, sizeof buf - 1) != 0) return "";
  return buf;
}

void ReadGlobals(ConfigReader& root, AgentConfig& c) {
  const AgentConfig defaults;
  bool has_device = root.Has("device");
  c.device_is_host_name = !has_device;
  size_t errors = ErrorCount(root);
  c.device = root.String("device", has_device ? "" : HostName());
  if (ErrorCount(root) == errors && !ValidName(c.device)) {
    root.Fail("device", has_device
                            ? fmt::format("must be {} (got {})", kNameRule, TomlQuote(c.device))
                            : fmt::format("the host name {} is not a valid device name "
                                          "({}); set device",
                                          TomlQuote(c.device), kNameRule));
  }
  errors = ErrorCount(root);
  c.state_dir = root.String("state_dir", "/var/lib/granary");
  if (ErrorCount(root) == errors && c.state_dir.empty())
    root.Fail("state_dir", "must not be empty");
  c.log_level = root.Enum("log_level", "info", {"error", "warning", "notice", "info", "debug"});

  ConfigReader buffer = Section(root, "buffer");
  c.buffer.sync_full = buffer.Enum("sync", defaults.buffer.sync_full ? "full" : "normal",
                                   {"full", "normal"}) == "full";
  c.buffer.batch_max =
      static_cast<uint32_t>(buffer.Integer("batch_max", defaults.buffer.batch_max, 1, 100'000));
  c.buffer.queue_capacity = static_cast<uint32_t>(
      buffer.Integer("queue_capacity", defaults.buffer.queue_capacity, 1000, 10'000'000));
  c.buffer.batch_wait = buffer.Duration("batch_wait", defaults.buffer.batch_wait, 0ms);
  if (c.buffer.batch_wait > 10s) {
    buffer.Fail("batch_wait", fmt::format("must be at most 10s (got {})",
                                          TomlQuote(FormatDuration(c.buffer.batch_wait))));
    c.buffer.batch_wait = defaults.buffer.batch_wait;
  }
  c.seal_on_stop = buffer.Bool("seal_on_stop", defaults.seal_on_stop);
  c.max_reading_bytes = buffer.Size("max_reading_bytes", defaults.max_reading_bytes, 1ULL << 10);
  buffer.Finish();

  ConfigReader segment = Section(root, "segment");
  c.buffer.segment_max_bytes =
      segment.Size("max_bytes", defaults.buffer.segment_max_bytes, 4ULL << 10);
  c.buffer.segment_max_readings = static_cast<uint64_t>(segment.Integer(
      "max_readings", static_cast<int64_t>(defaults.buffer.segment_max_readings), 1, 10'000'000));
  segment.Finish();

  ConfigReader quota = Section(root, "quota");
  c.buffer.quota_max_bytes = quota.Size("max_bytes", defaults.buffer.quota_max_bytes, 1ULL << 20);
  c.buffer.quota_pause =
      quota.Enum("when_full", "drop_oldest", {"drop_oldest", "pause"}) == "pause";
  quota.Finish();

  ConfigReader status = Section(root, "status");
  c.status_interval = status.Duration("interval", defaults.status_interval, 1s);
  status.Finish();

  ReadUpload(root, c);
  ReadMonitoring(root, c);
  ReadOutboxes(root, c);
  ReadWatchers(root, c);
}

// The smaller of 5 s and 4/5 of the interval (at least 1 ms).
milliseconds DefaultTimeout(milliseconds interval) {
  return std::max(milliseconds(1), std::min(kMaxSourceTimeout, interval * 4 / 5));
}

// The keys every source has; the type reads the rest.
SourceConfig ReadSourceCommon(ConfigReader& r) {
  SourceConfig s;
  s.name = r.RequiredString("name");
  if (!s.name.empty() && !ValidName(s.name)) {
    r.Fail("name", fmt::format("must be {} (got {})", kNameRule, TomlQuote(s.name)));
  }
  s.type = r.RequiredString("type");
  size_t errors = ErrorCount(r);
  s.interval = r.Duration("interval", kDefaultSourceInterval, 10ms);
  bool interval_ok = ErrorCount(r) == errors;
  // Below the interval, so a hung poll times out (one error) before the next tick comes.
  s.timeout = r.Duration("timeout", DefaultTimeout(s.interval), 1ms);
  // Against a bad interval's stand-in default the comparison would only add noise.
  if (interval_ok && s.timeout > s.interval) {
    r.Fail("timeout",
           fmt::format("must be at most the interval, {} (got {})", FormatDuration(s.interval),
                       TomlQuote(FormatDuration(s.timeout))));
  }
  return s;
}

std::string KnownTypes() {
  std::vector<std::string_view> names;
  for (const SourceType& t : SourceTypes()) names.push_back(t.name);
  names.push_back(kMqttSourceType);
  std::sort(names.begin(), names.end());
  return fmt::format("{}", fmt::join(names, ", "));
}

// `document` owns the table `root` reads; each source's settings share it, because a copy
// of a toml::table drops the source positions that messages and file order come from.
void ReadSources(ConfigReader& root, const std::shared_ptr<const toml::table>& document,
                 AgentConfig& c) {
  std::map<std::string, std::string> first_at;  // source name -> FILE:LINE of its name key
  for (ConfigReader& r : root.TableArray("source")) {
    SourceConfig s = ReadSourceCommon(r);
    if (ValidName(s.name)) {
      auto [first, inserted] = first_at.emplace(s.name, r.At(*r.table().get("name")));
      if (!inserted) {
        r.Fail("name", fmt::format("duplicate source name {} (first defined at {})",
                                   TomlQuote(s.name), first->second));
      }
    }
    if (s.type == kMqttSourceType) {
      s.mqtt = std::make_shared<const MqttSourceConfig>(
          ReadMqttSource(r, s.name, c.device, c.mqtt.prefix));
      r.Finish();
      s.settings = std::shared_ptr<const toml::table>(document, &r.table());
      c.sources.push_back(std::move(s));
      continue;
    }
    const SourceType* type = s.type.empty() ? nullptr : FindSourceType(s.type);
    if (!s.type.empty() && type == nullptr) {
      r.Fail("type", fmt::format("unknown source type {} (known types: {})", TomlQuote(s.type),
                                 KnownTypes()));
    }
    // Without a type, its keys cannot be told from typos, so they are not reported.
    if (type != nullptr) {
      (void)type->create(r);  // only validating here; the daemon builds its own
      r.Finish();
    }
    s.settings = std::shared_ptr<const toml::table>(document, &r.table());
    c.sources.push_back(std::move(s));
  }
}

// One source's effective settings as "key = value" lines. Keys recorded by readers below the
// source's (files[0].name, sub.key) become inline arrays and tables.
class SettingTree {
 public:
  void Insert(std::string_view path, std::string value) {
    Node* node = &root_;
    while (!path.empty()) {
      size_t dot = path.find('.');
      std::string_view segment = path.substr(0, dot);
      path = dot == std::string_view::npos ? std::string_view() : path.substr(dot + 1);
      size_t bracket = segment.find('[');
      if (bracket != std::string_view::npos && segment.back() == ']') {
        node = &Child(*node, segment.substr(0, bracket));
        node->is_array = true;
        node = &Child(*node, segment.substr(bracket + 1, segment.size() - bracket - 2));
      } else {
        node = &Child(*node, segment);
      }
    }
    node->value = std::move(value);
  }

  std::string RenderLines() const {
    std::string out;
    for (size_t i = 0; i < root_.keys.size(); ++i) {
      out += fmt::format("{} = {}\n", root_.keys[i], Render(root_.children[i]));
    }
    return out;
  }

 private:
  struct Node {
    std::string value;  // set on leaves: TOML text
    bool is_array = false;
    std::vector<std::string> keys;  // in recording order, parallel to children
    std::vector<Node> children;
  };

  static Node& Child(Node& node, std::string_view key) {
    auto it = std::find(node.keys.begin(), node.keys.end(), key);
    if (it != node.keys.end()) return node.children[it - node.keys.begin()];
    node.keys.emplace_back(key);
    return node.children.emplace_back();
  }

  static std::string Render(const Node& node) {
    if (node.children.empty()) return node.value;
    std::vector<std::string> parts;
    for (size_t i = 0; i < node.children.size(); ++i) {
      parts.push_back(node.is_array
                          ? Render(node.children[i])
                          : fmt::format("{} = {}", node.keys[i], Render(node.children[i])));
    }
    return node.is_array ? fmt::format("[{}]", fmt::join(parts, ", "))
                         : fmt::format("{{ {} }}", fmt::join(parts, ", "));
  }

  Node root_;
};

std::string RenderSource(const AgentConfig& c, size_t index) {
  const SourceConfig& s = c.sources[index];
  auto diag = std::make_shared<ConfigDiagnostics>();
  diag->file = c.path;
  const std::string prefix = fmt::format("source[{}].", index);
  if (s.settings) {
    ConfigReader r(diag, *s.settings, prefix.substr(0, prefix.size() - 1));
    (void)ReadSourceCommon(r);
    if (const SourceType* type = FindSourceType(s.type)) (void)type->create(r);
    if (s.type == kMqttSourceType) (void)ReadMqttSource(r, s.name, c.device, c.mqtt.prefix);
  } else {  // built in code rather than loaded: only the common keys are known
    diag->effective = {{prefix + "name", TomlQuote(s.name)},
                       {prefix + "type", TomlQuote(s.type)},
                       {prefix + "interval", TomlQuote(FormatDuration(s.interval))},
                       {prefix + "timeout", TomlQuote(FormatDuration(s.timeout))}};
  }
  SettingTree tree;
  for (const ConfigSetting& setting : diag->effective) {
    if (setting.key.compare(0, prefix.size(), prefix) != 0) continue;
    std::string_view key = std::string_view(setting.key).substr(prefix.size());
    // Secrets are keys of the source's own table, so the comment ends its line.
    tree.Insert(
        key, setting.secret ? "\"***\"  # secret, not shown: put the value back" : setting.value);
  }
  return "\n[[source]]\n" + tree.RenderLines();
}

}  // namespace

std::string ConfDir(const std::string& path) {
  std::error_code ec;  // an absolute name: the daemon's watch compares event paths to it
  std::filesystem::path dir = std::filesystem::absolute(path, ec).parent_path();
  return ((ec ? std::filesystem::path(path).parent_path() : dir) / "conf.d").string();
}

namespace {

// `path` and the drop-in files beside it, in the order they merge.
Result<std::vector<std::string>> ConfigFiles(const std::string& path) {
  std::vector<std::string> drop_ins;
  const std::filesystem::path dir = ConfDir(path);
  std::error_code ec;
  for (std::filesystem::directory_iterator it(dir, ec), end; !ec && it != end; it.increment(ec)) {
    const std::string name = it->path().filename().string();
    if (name.front() == '.' || it->path().extension() != ".toml") continue;
    drop_ins.push_back(it->path().string());
  }
  if (ec && ec != std::errc::no_such_file_or_directory)
    return Error(fmt::format("{}: cannot list: {}", dir.string(), ec.message()));
  std::sort(drop_ins.begin(), drop_ins.end());
  drop_ins.insert(drop_ins.begin(), path);
  return drop_ins;
}

}  // namespace

Result<std::shared_ptr<const toml::table>> SourceSettings(const SourceConfig& source) {
  if (source.settings) return source.settings;
  try {
    return std::make_shared<const toml::table>(
        toml::parse(source.settings_text, std::string_view("source " + source.name)));
  } catch (const toml::parse_error& e) {
    return Error(
        fmt::format("source {}: its kept settings do not parse: {}", source.name, e.description()));
  }
}

void CompactSources(AgentConfig& config) {
  for (SourceConfig& s : config.sources) {
    if (!s.settings) continue;
    std::ostringstream text;
    text << toml::toml_formatter(*s.settings);
    s.settings_text = std::move(text).str();
    s.settings_text.shrink_to_fit();  // the stream's buffer grew by doubling
    s.settings.reset();
  }
}

Result<AgentConfig> LoadConfig(const std::string& path, const EnvLookup& env) {
  auto files = ConfigFiles(path);
  if (!files) return files.error();
  auto merged = LoadTomlFiles(*files, {"source", "outbox", "watcher"});
  if (!merged) return merged.error();
  auto diag = std::make_shared<ConfigDiagnostics>();
  diag->file = path;
  diag->files = *files;
  // Values still holding ${...} would only add confusing errors of their own.
  ExpandEnv(**merged, env, *diag);
  if (Status s = DiagnosticsStatus(*diag); !s) return s.error();
  std::shared_ptr<const toml::table> document = std::move(*merged);
  ConfigReader root(diag, *document, "");
  AgentConfig config;
  config.path = path;
  config.files = *files;
  ReadGlobals(root, config);
  ReadSources(root, document, config);
  root.Finish();
  if (Status s = DiagnosticsStatus(*diag); !s) return s.error();
  return config;
}

std::string RenderEffectiveConfig(const AgentConfig& c) {
  std::string out = fmt::format(
      "# Effective configuration of {}: every key, defaults filled in, drop-ins merged,\n"
      "# ${{NAME}} substituted, secrets as \"***\" (each marked: put the value back before\n"
      "# using this as a config).\n",
      TomlQuote(c.path));
  out += fmt::format("device = {}\nstate_dir = {}\nlog_level = {}\n", TomlQuote(c.device),
                     TomlQuote(c.state_dir), TomlQuote(c.log_level));
  out += fmt::format(
      "\n[buffer]\nsync = {}\nbatch_max = {}\nqueue_capacity = {}\nbatch_wait = {}\n"
      "seal_on_stop = {}\nmax_reading_bytes = {}\n",
      TomlQuote(c.buffer.sync_full ? "full" : "normal"), c.buffer.batch_max,
      c.buffer.queue_capacity, TomlQuote(FormatDuration(c.buffer.batch_wait)), c.seal_on_stop,
      TomlQuote(FormatSize(c.max_reading_bytes)));
  out +=
      fmt::format("\n[segment]\nmax_bytes = {}\nmax_readings = {}\n",
                  TomlQuote(FormatSize(c.buffer.segment_max_bytes)), c.buffer.segment_max_readings);
  out += fmt::format("\n[quota]\nmax_bytes = {}\nwhen_full = {}\n",
                     TomlQuote(FormatSize(c.buffer.quota_max_bytes)),
                     TomlQuote(c.buffer.quota_pause ? "pause" : "drop_oldest"));
  out += fmt::format("\n[status]\ninterval = {}\n", TomlQuote(FormatDuration(c.status_interval)));
  out += RenderUpload(c);
  out += RenderMonitoring(c);
  out += RenderOutboxes(c);
  out += RenderWatchers(c);
  for (size_t i = 0; i < c.sources.size(); ++i) out += RenderSource(c, i);
  return out;
}

}  // namespace granary
