// Loading a TOML config file and reporting on it the same way in both programs: the
// file is read whole (a wrong path to a log or a device must not eat memory), a syntax
// error names file, line and column, and the readers' errors come out in file order.
#pragma once

#include <toml++/toml.h>

#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "config/reader.h"
#include "platform/result.h"

namespace granary {

// The parsed document. Shared, because a copy of a toml::table drops the source positions
// that messages and file order come from, so readers keep pointing into this one.
Result<std::shared_ptr<const toml::table>> LoadTomlFile(const std::string& path);
// The same, the caller's own to change.
Result<toml::table> ParseTomlFile(const std::string& path);

// `paths` in order as one document. Tables merge key by key; the arrays of tables named
// `append_keys` at the top level are appended in file order; any other key set in two
// files is an error naming both ("FILE:LINE: KEY: also set at FILE:LINE"). Every node
// keeps its own file and line for messages. All errors are reported at once.
Result<std::shared_ptr<toml::table>> LoadTomlFiles(
    const std::vector<std::string>& paths, const std::vector<std::string_view>& append_keys);

// Looks up an environment variable; nullopt when it is not set.
using EnvLookup = std::function<std::optional<std::string>(const std::string&)>;
std::optional<std::string> GetEnv(const std::string& name);

// Substitutes `${NAME}` in every string value (array elements included) and turns `$$`
// into `$`; any other `$` stays as it is. An unset variable, an unterminated `${` or a
// name that is not [A-Za-z_][A-Za-z0-9_]* is an error "FILE:LINE: KEY: ..." added to
// `diagnostics`, KEY named as ConfigReader names it.
void ExpandEnv(toml::table& document, const EnvLookup& lookup, ConfigDiagnostics& diagnostics);

// Every error the readers recorded, sorted by line (the user reads the file top to
// bottom), one per line; ok when there are none.
Status DiagnosticsStatus(ConfigDiagnostics& diagnostics);

// `s` as a TOML basic string on one line, so a value fits on its "key = value" line and
// in messages.
std::string TomlQuote(std::string_view s);

}  // namespace granary
