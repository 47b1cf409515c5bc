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

// Errors read "file:line: ..." and sort by the file's place in `files`, then by line; one
// without a line (none is) sorts first.
std::pair<size_t, int64_t> PlaceOf(const std::string& error,
                                   const std::vector<std::string>& files) {
  for (size_t i = 0; i < files.size(); ++i) {
    const std::string& file = files[i];
    if (error.size() <= file.size() + 1 || error.compare(0, file.size(), file) != 0 ||
        error[file.size()] != ':') {
      continue;
    }
    std::string_view rest = std::string_view(error).substr(file.size() + 1);
    return {i, ParseDecimal<int64_t>(rest.substr(0, rest.find(':'))).value_or(0)};
  }
  return {0, 0};
}

}  // namespace

Result<toml::table> ParseTomlFile(const std::string& path) {
  Result<std::string> text = ReadConfigFile(path);
  if (!text) return text.error();
  try {
    return toml::parse(std::string_view(*text), std::string_view(path));
  } catch (const toml::parse_error& e) {
    return Error(fmt::format("{}:{}:{}: syntax error: {}", path, e.source().begin.line,
                             e.source().begin.column, e.description()));
  }
}

Result<std::shared_ptr<const toml::table>> LoadTomlFile(const std::string& path) {
  Result<toml::table> document = ParseTomlFile(path);
  if (!document) return document.error();
  return std::make_shared<const toml::table>(std::move(*document));
}

Status DiagnosticsStatus(ConfigDiagnostics& diagnostics) {
  if (diagnostics.errors.empty()) return Status::Ok();
  std::vector<std::string>& errors = diagnostics.errors;
  const std::vector<std::string> files =
      diagnostics.files.empty() ? std::vector<std::string>{diagnostics.file} : diagnostics.files;
  std::stable_sort(errors.begin(), errors.end(), [&](const std::string& a, const std::string& b) {
    return PlaceOf(a, files) < PlaceOf(b, files);
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
