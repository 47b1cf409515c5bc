// Typed, validated access to one TOML table of the config file. Every getter records the
// key as known (Finish() reports the rest as unknown) and records its effective value
// (default included) for `granary check-config`. Every problem becomes one error line
// naming the file, line and full key, e.g.
//   /etc/granary/granary.toml:14: source[2].interval: must be at least 10ms (got "0s")
// Errors accumulate so a user sees all of them at once.
//
// Keys are named by their full dotted path; an element of an array of tables gets its 0-based
// index in file order, e.g. source[2] for the third [[source]] block and
// source[0].files[1].path below it. The line points at the key itself, or at the table's
// header when the key is missing. Reading a table as a whole (Table, TableArray) does not
// report the keys inside it: each reader's Finish() does, so every reader must be finished.
#pragma once

#include <toml++/toml.h>

#include <chrono>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace granary {

struct ConfigSetting {
  std::string key;    // full dotted key, e.g. "source[0].url"
  std::string value;  // TOML text of the effective value
  bool secret = false;
};

// Shared by a reader and its children.
struct ConfigDiagnostics {
  std::string file;  // where a node without a file of its own comes from
  // Every file the document was merged from, in reading order (`file` first): errors are
  // reported file by file, each in line order. Empty: `file` alone.
  std::vector<std::string> files;
  std::vector<std::string> errors;
  std::vector<ConfigSetting> effective;
};

// "FILE:LINE" of `node`: the file it was parsed from (a document merged from several files,
// like the agent's conf.d, keeps each node's own), else `fallback_file`.
std::string NodeLocation(const toml::node& node, std::string_view fallback_file);

class ConfigReader {
 public:
  // `prefix` is the full key of `table` ("" for the root), used in messages.
  ConfigReader(std::shared_ptr<ConfigDiagnostics> diag, const toml::table& table,
               std::string prefix);

  // Optional keys return `def` when absent. A present key of the wrong type is an error
  // and the default is returned so reading can go on.
  std::string String(std::string_view key, std::string def);
  // Required: an error when absent.
  std::string RequiredString(std::string_view key);
  // Like String, but check-config prints "***" for it when it is set.
  std::string SecretString(std::string_view key, std::string def);
  int64_t Integer(std::string_view key, int64_t def, int64_t min, int64_t max);
  double Number(std::string_view key, double def);  // integer or float
  bool Bool(std::string_view key, bool def);
  std::chrono::milliseconds Duration(std::string_view key, std::chrono::milliseconds def,
                                     std::chrono::milliseconds min);
  uint64_t Size(std::string_view key, uint64_t def, uint64_t min);
  // One of `allowed`.
  std::string Enum(std::string_view key, std::string def,
                   const std::vector<std::string_view>& allowed);
  std::vector<std::string> StringArray(std::string_view key);
  // Sub-table of string values (e.g. fields = { power = "/a/b" }), in file order.
  std::vector<std::pair<std::string, std::string>> StringMap(std::string_view key);

  bool Has(std::string_view key) const;
  // Reader for a sub-table; nullopt (and an error if `required`) when absent or not a table.
  std::optional<ConfigReader> Table(std::string_view key, bool required = false);
  // Each element of an array of tables ([[source]]), prefixed "key[i]".
  std::vector<ConfigReader> TableArray(std::string_view key);

  // Records an error about `key` (at the key's line if present, else the table's).
  void Fail(std::string_view key, std::string_view message);
  // Reports every key of this table that no getter asked for.
  void Finish();

  std::string FullKey(std::string_view key) const;
  std::string At(const toml::node& node) const;  // NodeLocation, else in diag_->file
  const toml::table& table() const { return table_; }
  const std::shared_ptr<ConfigDiagnostics>& diagnostics() const { return diag_; }

 private:
  const toml::node* Lookup(std::string_view key);
  void Record(std::string_view key, std::string value, bool secret = false);

  std::shared_ptr<ConfigDiagnostics> diag_;
  const toml::table& table_;
  std::string prefix_;
  std::vector<std::string> used_;
};

}  // namespace granary
