// Loading a TOML config file and reporting on it the same way in both programs: the
// file is read whole (a wrong path to a log or a device must not eat memory), a syntax
// error names file, line and column, and the readers' errors come out in file order.
#pragma once

#include <toml++/toml.h>

#include <memory>
#include <string>
#include <string_view>

#include "config/reader.h"
#include "platform/result.h"

namespace granary {

// The parsed document. Shared, because a copy of a toml::table drops the source positions
// that messages and file order come from, so readers keep pointing into this one.
Result<std::shared_ptr<const toml::table>> LoadTomlFile(const std::string& path);

// Every error the readers recorded, sorted by line (the user reads the file top to
// bottom), one per line; ok when there are none.
Status DiagnosticsStatus(ConfigDiagnostics& diagnostics);

// `s` as a TOML basic string on one line, so a value fits on its "key = value" line and
// in messages.
std::string TomlQuote(std::string_view s);

}  // namespace granary
