// Merging config files into one document and expanding ${NAME} in its strings.
#include <fmt/format.h>

#include <algorithm>
#include <cstdlib>

#include "config/toml_file.h"

namespace granary {
namespace {

std::string JoinKey(std::string_view prefix, std::string_view key) {
  return prefix.empty() ? std::string(key) : fmt::format("{}.{}", prefix, key);
}

// A table written with [header] (or dotted keys) continues across files; an inline
// table is one value, like a string.
bool Mergeable(const toml::node& node) {
  const toml::table* t = node.as_table();
  return t != nullptr && !t->is_inline();
}

void Merge(toml::table& into, toml::table& from, std::string_view prefix,
           const std::vector<std::string_view>& append_keys, std::vector<std::string>& errors) {
  for (auto&& [key, node] : from) {
    const std::string full = JoinKey(prefix, key.str());
    toml::node* existing = into.get(key.str());
    if (existing == nullptr) {
      node.visit([&, &k = key](auto&& n) { into.insert(k, std::move(n)); });
    } else if (Mergeable(*existing) && Mergeable(node)) {
      Merge(*existing->as_table(), *node.as_table(), full, {}, errors);
    } else if (std::find(append_keys.begin(), append_keys.end(), key.str()) != append_keys.end() &&
               existing->is_array_of_tables() && node.is_array_of_tables()) {
      toml::array& target = *existing->as_array();
      for (toml::node& element : *node.as_array()) target.push_back(std::move(*element.as_table()));
    } else {
      errors.push_back(fmt::format("{}: {}: also set at {}", NodeLocation(node, ""), full,
                                   NodeLocation(*existing, "")));
    }
  }
}

bool IsNameStart(char c) { return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || c == '_'; }
bool IsNameChar(char c) { return IsNameStart(c) || (c >= '0' && c <= '9'); }

// `text` with ${NAME} and $$ expanded, or the problem.
Result<std::string> Expand(std::string_view text, const EnvLookup& lookup) {
  std::string out;
  for (size_t i = 0; i < text.size(); ++i) {
    if (text[i] != '$' || i + 1 == text.size() || (text[i + 1] != '$' && text[i + 1] != '{')) {
      out += text[i];
    } else if (text[i + 1] == '$') {
      out += '$';
      ++i;
    } else {
      size_t close = text.find('}', i + 2);
      if (close == std::string_view::npos)
        return Error("unterminated \"${\" (write \"$$\" for a $)");
      std::string name(text.substr(i + 2, close - i - 2));
      if (name.empty() || !IsNameStart(name[0]) ||
          !std::all_of(name.begin(), name.end(), IsNameChar)) {
        return Error(fmt::format("${{{}}}: not a variable name ([A-Za-z_][A-Za-z0-9_]*)", name));
      }
      std::optional<std::string> value = lookup(name);
      if (!value) return Error(fmt::format("environment variable {} is not set", name));
      out += *value;
      i = close;
    }
  }
  return out;
}

void ExpandNode(toml::node& node, const std::string& key, const EnvLookup& lookup,
                std::vector<std::string>& errors) {
  if (toml::table* table = node.as_table()) {
    for (auto&& [k, child] : *table) ExpandNode(child, JoinKey(key, k.str()), lookup, errors);
  } else if (toml::array* array = node.as_array()) {
    for (size_t i = 0; i < array->size(); ++i)
      ExpandNode(*array->get(i), fmt::format("{}[{}]", key, i), lookup, errors);
  } else if (toml::value<std::string>* s = node.as_string()) {
    if (s->get().find('$') == std::string::npos) return;
    Result<std::string> expanded = Expand(s->get(), lookup);
    if (expanded) {
      s->get() = std::move(*expanded);
    } else {
      errors.push_back(
          fmt::format("{}: {}: {}", NodeLocation(node, ""), key, expanded.error().message()));
    }
  }
}

}  // namespace

Result<std::shared_ptr<toml::table>> LoadTomlFiles(
    const std::vector<std::string>& paths, const std::vector<std::string_view>& append_keys) {
  auto merged = std::make_shared<toml::table>();
  ConfigDiagnostics diagnostics;
  diagnostics.files = paths;
  for (const std::string& path : paths) {
    Result<toml::table> document = ParseTomlFile(path);
    if (!document) return document.error();
    Merge(*merged, *document, "", append_keys, diagnostics.errors);
  }
  if (Status s = DiagnosticsStatus(diagnostics); !s) return s.error();
  return merged;
}

std::optional<std::string> GetEnv(const std::string& name) {
  const char* value = std::getenv(name.c_str());
  if (value == nullptr) return std::nullopt;
  return std::string(value);
}

void ExpandEnv(toml::table& document, const EnvLookup& lookup, ConfigDiagnostics& diagnostics) {
  ExpandNode(document, "", lookup, diagnostics.errors);
}

}  // namespace granary
