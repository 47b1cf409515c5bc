// [[outbox]]: where producers drop reports and files (docs/configuration.md).
#include <fmt/format.h>

#include <filesystem>
#include <map>
#include <string>

#include "agent/config_sections.h"
#include "config/units.h"

namespace granary::config_detail {
namespace {

using namespace std::chrono_literals;

constexpr std::string_view kKindRule = "1 to 64 characters of a-z 0-9 _ -, starting a-z or 0-9";

// Lexically, so a directory that does not exist yet is compared too.
bool Inside(const std::string& path, const std::string& dir) {
  const std::filesystem::path p = std::filesystem::path(path).lexically_normal();
  const std::filesystem::path d = std::filesystem::path(dir).lexically_normal();
  auto [end, ignored] = std::mismatch(d.begin(), d.end(), p.begin(), p.end());
  return end == d.end() || (std::next(end) == d.end() && end->empty());
}

OutboxConfig ReadOutbox(ConfigReader& r, const AgentConfig& c) {
  const OutboxConfig defaults;
  OutboxConfig o;
  o.name = r.RequiredString("name");
  if (!o.name.empty() && !ValidName(o.name))
    r.Fail("name", fmt::format("must be {} (got {})", kNameRule, TomlQuote(o.name)));
  o.path = r.RequiredString("path");
  if (!o.path.empty()) {
    if (o.path.front() != '/') {
      r.Fail("path", fmt::format("must be an absolute path (got {})", TomlQuote(o.path)));
    } else if (Inside(o.path, c.state_dir) || Inside(c.state_dir, o.path)) {
      r.Fail("path", fmt::format("must lie outside state_dir {} (got {})", TomlQuote(c.state_dir),
                                 TomlQuote(o.path)));
    }
  }
  // An outbox named like a kind needs no kind of its own.
  const bool has_kind = r.Has("kind");
  o.kind = r.String("kind", ValidKind(o.name) ? o.name : "");
  if (!has_kind && o.kind.empty() && !o.name.empty()) {
    r.Fail("kind", fmt::format("required: the name {} is not a report kind ({})", TomlQuote(o.name),
                               kKindRule));
  } else if (has_kind && !ValidKind(o.kind)) {
    r.Fail("kind", fmt::format("must be {} (got {})", kKindRule, TomlQuote(o.kind)));
  }
  o.delete_after = r.Enum("after", "delete", {"delete", "keep"}) == "delete";
  o.settle = r.Duration("settle", defaults.settle, 100ms);
  o.rescan = r.Duration("rescan", defaults.rescan, 1s);
  o.ignore = r.StringArray("ignore");
  o.assign_uuid = r.Bool("assign_uuid", defaults.assign_uuid);
  r.Finish();
  return o;
}

}  // namespace

void ReadOutboxes(ConfigReader& root, AgentConfig& c) {
  std::map<std::string, std::string> name_at, path_at;  // -> FILE:LINE of the first
  for (ConfigReader& r : root.TableArray("outbox")) {
    OutboxConfig o = ReadOutbox(r, c);
    if (const toml::node* n = r.table().get("name"); n != nullptr && !o.name.empty()) {
      auto [first, inserted] = name_at.emplace(o.name, r.At(*n));
      if (!inserted)
        r.Fail("name", fmt::format("duplicate outbox name {} (first defined at {})",
                                   TomlQuote(o.name), first->second));
    }
    if (const toml::node* n = r.table().get("path"); n != nullptr && !o.path.empty()) {
      std::string normal = std::filesystem::path(o.path).lexically_normal().string();
      if (normal.size() > 1 && normal.back() == '/') normal.pop_back();
      auto [first, inserted] = path_at.emplace(normal, r.At(*n));
      if (!inserted)
        r.Fail("path", fmt::format("another outbox already takes from {} (defined at {})",
                                   TomlQuote(o.path), first->second));
    }
    c.outboxes.push_back(std::move(o));
  }
}

std::string RenderOutboxes(const AgentConfig& c) {
  std::string out;
  for (const OutboxConfig& o : c.outboxes) {
    std::string globs;
    for (const std::string& g : o.ignore) globs += (globs.empty() ? "" : ", ") + TomlQuote(g);
    out += fmt::format(
        "\n[[outbox]]\nname = {}\npath = {}\nkind = {}\nafter = {}\nsettle = {}\nrescan = {}\n"
        "ignore = [{}]\nassign_uuid = {}\n",
        TomlQuote(o.name), TomlQuote(o.path), TomlQuote(o.kind),
        TomlQuote(o.delete_after ? "delete" : "keep"), TomlQuote(FormatDuration(o.settle)),
        TomlQuote(FormatDuration(o.rescan)), globs, o.assign_uuid);
  }
  return out;
}

}  // namespace granary::config_detail
