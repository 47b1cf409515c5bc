#include "config/reader.h"

#include <fmt/format.h>
#include <fmt/ranges.h>

#include <algorithm>
#include <tuple>
#include <utility>

#include "config/toml_file.h"
#include "config/units.h"

namespace granary {
namespace {

using std::chrono::milliseconds;

bool IsBareKey(std::string_view key) {
  if (key.empty()) return false;
  return std::all_of(key.begin(), key.end(), [](char c) {
    return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_' ||
           c == '-';
  });
}

std::string TomlKey(std::string_view key) {
  return IsBareKey(key) ? std::string(key) : TomlQuote(key);
}

std::string_view TypeName(const toml::node& node) {
  switch (node.type()) {
    case toml::node_type::string:
      return "string";
    case toml::node_type::integer:
      return "integer";
    case toml::node_type::floating_point:
      return "float";
    case toml::node_type::boolean:
      return "boolean";
    case toml::node_type::table:
      return "table";
    case toml::node_type::array:
      return "array";
    case toml::node_type::date:
      return "date";
    case toml::node_type::time:
      return "time";
    case toml::node_type::date_time:
      return "date-time";
    default:
      return "nothing";
  }
}

int LineOfNode(const toml::node& node) {
  return std::max<int>(1, static_cast<int>(node.source().begin.line));
}

// Positions in the file, for reporting and rendering in file order (toml::table is sorted).
bool BeforeInFile(const toml::node* a, const toml::node* b) {
  const toml::source_position& pa = a->source().begin;
  const toml::source_position& pb = b->source().begin;
  return std::tie(pa.line, pa.column) < std::tie(pb.line, pb.column);
}

size_t EditDistance(std::string_view a, std::string_view b) {
  std::vector<size_t> row(b.size() + 1);
  for (size_t j = 0; j <= b.size(); ++j) row[j] = j;
  for (size_t i = 1; i <= a.size(); ++i) {
    size_t diagonal = row[0];
    row[0] = i;
    for (size_t j = 1; j <= b.size(); ++j) {
      size_t above = row[j];
      row[j] = std::min({row[j] + 1, row[j - 1] + 1, diagonal + (a[i - 1] != b[j - 1] ? 1 : 0)});
      diagonal = above;
    }
  }
  return row[b.size()];
}

}  // namespace

ConfigReader::ConfigReader(std::shared_ptr<ConfigDiagnostics> diag, const toml::table& table,
                           std::string prefix)
    : diag_(std::move(diag)), table_(table), prefix_(std::move(prefix)) {}

std::string ConfigReader::FullKey(std::string_view key) const {
  return prefix_.empty() ? std::string(key) : fmt::format("{}.{}", prefix_, key);
}

const toml::node* ConfigReader::Lookup(std::string_view key) {
  if (std::find(used_.begin(), used_.end(), key) == used_.end()) used_.emplace_back(key);
  return table_.get(key);
}

void ConfigReader::Record(std::string_view key, std::string value, bool secret) {
  diag_->effective.push_back({FullKey(key), std::move(value), secret});
}

std::string NodeLocation(const toml::node& node, std::string_view fallback_file) {
  const auto& path = node.source().path;
  return fmt::format("{}:{}", path && !path->empty() ? std::string_view(*path) : fallback_file,
                     LineOfNode(node));
}

std::string ConfigReader::At(const toml::node& node) const {
  return NodeLocation(node, diag_->file);
}

void ConfigReader::Fail(std::string_view key, std::string_view message) {
  const toml::node* node = table_.get(key);
  diag_->errors.push_back(
      fmt::format("{}: {}: {}", At(node != nullptr ? *node : table_), FullKey(key), message));
}

std::string ConfigReader::String(std::string_view key, std::string def) {
  const toml::node* node = Lookup(key);
  if (node != nullptr) {
    if (const auto* s = node->as_string()) {
      def = s->get();
    } else {
      Fail(key, fmt::format("expected a string, got {}", TypeName(*node)));
    }
  }
  Record(key, TomlQuote(def));
  return def;
}

std::string ConfigReader::RequiredString(std::string_view key) {
  if (!Has(key)) {
    Lookup(key);
    Fail(key, "missing required key");
    return "";
  }
  std::string value = String(key, "");
  if (value.empty() && table_.get(key)->is_string()) Fail(key, "must not be empty");
  return value;
}

std::string ConfigReader::SecretString(std::string_view key, std::string def) {
  size_t recorded = diag_->effective.size();
  std::string value = String(key, std::move(def));
  // An unset secret reveals nothing, and printing it as it is keeps the output a config.
  if (diag_->effective.size() > recorded && !value.empty()) diag_->effective.back().secret = true;
  return value;
}

int64_t ConfigReader::Integer(std::string_view key, int64_t def, int64_t min, int64_t max) {
  const toml::node* node = Lookup(key);
  if (node != nullptr) {
    if (const auto* i = node->as_integer()) {
      int64_t v = i->get();
      if (v < min || v > max) {
        Fail(key, fmt::format("must be between {} and {} (got {})", min, max, v));
      } else {
        def = v;
      }
    } else {
      Fail(key, fmt::format("expected an integer, got {}", TypeName(*node)));
    }
  }
  Record(key, std::to_string(def));
  return def;
}

double ConfigReader::Number(std::string_view key, double def) {
  const toml::node* node = Lookup(key);
  if (node != nullptr) {
    if (const auto* i = node->as_integer()) {
      def = static_cast<double>(i->get());
    } else if (const auto* f = node->as_floating_point()) {
      def = f->get();
    } else {
      Fail(key, fmt::format("expected a number, got {}", TypeName(*node)));
    }
  }
  // fmt's shortest round-trip form is valid TOML for finite values, inf and nan alike.
  Record(key, fmt::format("{}", def));
  return def;
}

bool ConfigReader::Bool(std::string_view key, bool def) {
  const toml::node* node = Lookup(key);
  if (node != nullptr) {
    if (const auto* b = node->as_boolean()) {
      def = b->get();
    } else {
      Fail(key, fmt::format("expected a boolean (true or false), got {}", TypeName(*node)));
    }
  }
  Record(key, def ? "true" : "false");
  return def;
}

milliseconds ConfigReader::Duration(std::string_view key, milliseconds def, milliseconds min) {
  const toml::node* node = Lookup(key);
  if (node != nullptr) {
    if (const auto* s = node->as_string()) {
      const std::string& text = s->get();
      Result<milliseconds> parsed = ParseDuration(text);
      if (!text.empty() && text[0] == '-') {
        Fail(key, fmt::format("must not be negative (got {})", TomlQuote(text)));
      } else if (!parsed) {
        Fail(key, parsed.error().message());
      } else if (*parsed < min) {
        Fail(key,
             fmt::format("must be at least {} (got {})", FormatDuration(min), TomlQuote(text)));
      } else {
        def = *parsed;
      }
    } else {
      Fail(key, fmt::format("expected a string, got {} (durations are strings with a unit, "
                            "e.g. \"10s\")",
                            TypeName(*node)));
    }
  }
  Record(key, TomlQuote(FormatDuration(def)));
  return def;
}

uint64_t ConfigReader::Size(std::string_view key, uint64_t def, uint64_t min) {
  const toml::node* node = Lookup(key);
  if (node != nullptr) {
    std::optional<uint64_t> value;
    std::string shown;  // the value as written, for messages
    if (const auto* i = node->as_integer()) {
      shown = std::to_string(i->get());
      if (i->get() < 0) {
        Fail(key, fmt::format("must not be negative (got {})", shown));
      } else {
        value = static_cast<uint64_t>(i->get());
      }
    } else if (const auto* s = node->as_string()) {
      shown = TomlQuote(s->get());
      Result<uint64_t> parsed = ParseSize(s->get());
      if (!s->get().empty() && s->get()[0] == '-') {
        Fail(key, fmt::format("must not be negative (got {})", shown));
      } else if (!parsed) {
        Fail(key, parsed.error().message());
      } else {
        value = *parsed;
      }
    } else {
      Fail(key, fmt::format("expected a size (a string such as \"64MiB\" or a number of bytes), "
                            "got {}",
                            TypeName(*node)));
    }
    if (value && *value < min) {
      Fail(key, fmt::format("must be at least {} (got {})", FormatSize(min), shown));
    } else if (value) {
      def = *value;
    }
  }
  Record(key, TomlQuote(FormatSize(def)));
  return def;
}

std::string ConfigReader::Enum(std::string_view key, std::string def,
                               const std::vector<std::string_view>& allowed) {
  const toml::node* node = Lookup(key);
  if (node != nullptr) {
    if (const auto* s = node->as_string()) {
      if (std::find(allowed.begin(), allowed.end(), s->get()) != allowed.end()) {
        def = s->get();
      } else {
        std::vector<std::string> quoted;
        for (std::string_view a : allowed) quoted.push_back(TomlQuote(a));
        Fail(key, fmt::format("must be one of {} (got {})", fmt::join(quoted, ", "),
                              TomlQuote(s->get())));
      }
    } else {
      Fail(key, fmt::format("expected a string, got {}", TypeName(*node)));
    }
  }
  Record(key, TomlQuote(def));
  return def;
}

std::vector<std::string> ConfigReader::StringArray(std::string_view key) {
  std::vector<std::string> values;
  const toml::node* node = Lookup(key);
  if (node != nullptr) {
    if (const auto* array = node->as_array()) {
      for (size_t i = 0; i < array->size(); ++i) {
        const toml::node& element = *array->get(i);
        if (const auto* s = element.as_string()) {
          values.push_back(s->get());
        } else {
          diag_->errors.push_back(fmt::format("{}: {}[{}]: expected a string, got {}", At(element),
                                              FullKey(key), i, TypeName(element)));
        }
      }
    } else {
      Fail(key, fmt::format("expected an array of strings, got {}", TypeName(*node)));
    }
  }
  std::vector<std::string> quoted;
  for (const std::string& v : values) quoted.push_back(TomlQuote(v));
  Record(key, fmt::format("[{}]", fmt::join(quoted, ", ")));
  return values;
}

std::vector<std::pair<std::string, std::string>> ConfigReader::StringMap(std::string_view key) {
  std::vector<std::pair<std::string, std::string>> entries;
  const toml::node* node = Lookup(key);
  if (node == nullptr) {
    Record(key, "{}");
    return entries;
  }
  const toml::table* map = node->as_table();
  if (map == nullptr) {
    Fail(key, fmt::format("expected a table of strings, got {}", TypeName(*node)));
    Record(key, "{}");
    return entries;
  }
  std::vector<std::pair<std::string_view, const toml::node*>> ordered;
  for (auto&& [k, v] : *map) ordered.emplace_back(k.str(), &v);
  std::stable_sort(ordered.begin(), ordered.end(),
                   [](const auto& a, const auto& b) { return BeforeInFile(a.second, b.second); });
  std::vector<std::string> rendered;
  for (const auto& [k, v] : ordered) {
    if (const auto* s = v->as_string()) {
      entries.emplace_back(std::string(k), s->get());
      rendered.push_back(fmt::format("{} = {}", TomlKey(k), TomlQuote(s->get())));
    } else {
      diag_->errors.push_back(fmt::format("{}: {}.{}: expected a string, got {}", At(*v),
                                          FullKey(key), k, TypeName(*v)));
    }
  }
  Record(key, rendered.empty() ? "{}" : fmt::format("{{ {} }}", fmt::join(rendered, ", ")));
  return entries;
}

bool ConfigReader::Has(std::string_view key) const { return table_.contains(key); }

std::optional<ConfigReader> ConfigReader::Table(std::string_view key, bool required) {
  const toml::node* node = Lookup(key);
  if (node == nullptr) {
    if (required) Fail(key, "missing required table");
    return std::nullopt;
  }
  const toml::table* table = node->as_table();
  if (table == nullptr) {
    Fail(key, fmt::format("expected a table, got {}", TypeName(*node)));
    return std::nullopt;
  }
  return ConfigReader(diag_, *table, FullKey(key));
}

std::vector<ConfigReader> ConfigReader::TableArray(std::string_view key) {
  std::vector<ConfigReader> readers;
  const toml::node* node = Lookup(key);
  if (node == nullptr) return readers;
  const toml::array* array = node->as_array();
  if (array == nullptr) {
    // [source] where [[source]] was meant is the likely mistake at the top level.
    std::string hint = prefix_.empty() ? fmt::format(" ([[{}]])", key) : "";
    Fail(key, fmt::format("expected an array of tables{}, got {}", hint, TypeName(*node)));
    return readers;
  }
  for (size_t i = 0; i < array->size(); ++i) {
    const toml::node& element = *array->get(i);
    std::string element_key = fmt::format("{}[{}]", FullKey(key), i);
    if (const toml::table* table = element.as_table()) {
      readers.emplace_back(diag_, *table, std::move(element_key));
    } else {
      diag_->errors.push_back(fmt::format("{}: {}: expected a table, got {}", At(element),
                                          element_key, TypeName(element)));
    }
  }
  return readers;
}

void ConfigReader::Finish() {
  std::vector<std::pair<std::string_view, const toml::node*>> unknown;
  for (auto&& [k, v] : table_) {
    if (std::find(used_.begin(), used_.end(), k.str()) == used_.end()) {
      unknown.emplace_back(k.str(), &v);
    }
  }
  std::stable_sort(unknown.begin(), unknown.end(),
                   [](const auto& a, const auto& b) { return BeforeInFile(a.second, b.second); });
  for (const auto& [k, v] : unknown) {
    // The keys asked for are exactly the known ones, so they are the candidates for a typo.
    std::string_view best;
    size_t best_distance = 3;
    for (const std::string& known : used_) {
      size_t d = EditDistance(k, known);
      if (d < best_distance && d < known.size()) {
        best = known;
        best_distance = d;
      }
    }
    std::string hint = best.empty() ? "" : fmt::format(" (did you mean {}?)", TomlQuote(best));
    diag_->errors.push_back(fmt::format("{}: {}: unknown key{}", At(*v), FullKey(k), hint));
  }
}

}  // namespace granary
