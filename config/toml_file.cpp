#include "config/toml_file.h"

#include <fmt/format.h>
#include <fmt/ranges.h>

#include <algorithm>
#include <cstdio>
#include <sstream>

#include "config/units.h"
#include "platform/strings.h"

namespace granary {
namespace {

// Anything bigger is not a config file.
constexpr size_t kMaxConfigBytes = 16 << 20;

struct FileCloser {
  void operator()(std::FILE* f) const { std::fclose(f); }
};
using FilePtr = std::unique_ptr<std::FILE, FileCloser>;

Result<std::string> ReadConfigFile(const std::string& path) {
  FilePtr file(std::fopen(path.c_str(), "rb"));
  if (!file) return Error::FromErrno(path + ": cannot open");
  std::string content;
  char buf[65536];
  size_t n;
  while ((n = std::fread(buf, 1, sizeof buf, file.get())) > 0) {
    content.append(buf, n);
    if (content.size() > kMaxConfigBytes) {
      return Error(
          fmt::format("{}: larger than {}, not a config file", path, FormatSize(kMaxConfigBytes)));
    }
  }
  if (std::ferror(file.get())) return Error::FromErrno(path + ": cannot read");
  return content;
}

// Errors read "file:line: ..."; one without a line (none is) sorts first.
int64_t LineOf(const std::string& error, const std::string& file) {
  if (error.size() <= file.size() || error.compare(0, file.size(), file) != 0) return 0;
  std::string_view rest = std::string_view(error).substr(file.size() + 1);
  return ParseDecimal<int64_t>(rest.substr(0, rest.find(':'))).value_or(0);
}

}  // namespace

Result<std::shared_ptr<const toml::table>> LoadTomlFile(const std::string& path) {
  Result<std::string> text = ReadConfigFile(path);
  if (!text) return text.error();
  try {
    return std::make_shared<const toml::table>(
        toml::parse(std::string_view(*text), std::string_view(path)));
  } catch (const toml::parse_error& e) {
    return Error(fmt::format("{}:{}:{}: syntax error: {}", path, e.source().begin.line,
                             e.source().begin.column, e.description()));
  }
}

Status DiagnosticsStatus(ConfigDiagnostics& diagnostics) {
  if (diagnostics.errors.empty()) return Status::Ok();
  std::vector<std::string>& errors = diagnostics.errors;
  const std::string& file = diagnostics.file;
  std::stable_sort(errors.begin(), errors.end(), [&](const std::string& a, const std::string& b) {
    return LineOf(a, file) < LineOf(b, file);
  });
  return Error(fmt::format("{}", fmt::join(errors, "\n")));
}

std::string TomlQuote(std::string_view s) {
  std::ostringstream out;
  out << toml::toml_formatter{toml::value<std::string>(std::string(s)),
                              toml::format_flags::allow_unicode_strings};
  return out.str();
}

}  // namespace granary
