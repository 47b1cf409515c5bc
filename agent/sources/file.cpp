// type = "file": numbers from sysfs/hwmon-style files, one per file, one reading per poll:
//   files = [ { name = "temp", path = "/sys/class/hwmon/hwmon0/temp1_input", scale = 0.001 } ]
// gives {"temp":42.5}. Whole directories (hwmon, thermal zones, power supplies) too:
//   dirs = [ { path = "/sys/class/power_supply/BAT0", match = ["capacity", "*_now"],
//              prefix = "bat_" } ]
// reads every regular file whose name matches, named prefix + file name, in name order.
// One unreadable or malformed file fails the whole poll, so a reading never silently lacks
// a value; a directory with no matching file fails it too.
#include <fcntl.h>
#include <fmt/format.h>
#include <fmt/ranges.h>
#include <fnmatch.h>
#include <unistd.h>

#include <algorithm>
#include <cctype>
#include <cerrno>
#include <charconv>
#include <cmath>
#include <filesystem>
#include <set>

#include "agent/sources/quote.h"
#include "agent/sources/source.h"
#include "platform/handles.h"

namespace granary {
namespace {

using std::chrono::milliseconds;

constexpr size_t kMaxFileBytes = 4096;
constexpr size_t kQuoteBytes = 64;
constexpr std::string_view kSpace = " \t\r\n\v\f";

std::string QuoteRaw(std::string_view raw) { return granary::QuoteRaw(raw, kQuoteBytes); }

Result<std::string> ReadSmallFile(const std::string& path) {
  UniqueFd fd(::open(path.c_str(), O_RDONLY | O_CLOEXEC | O_NOCTTY));
  if (!fd) return Error::FromErrno("open " + path);
  std::string text(kMaxFileBytes, '\0');
  size_t used = 0;
  while (used < text.size()) {
    ssize_t n = ::read(fd.get(), text.data() + used, text.size() - used);
    if (n < 0 && errno == EINTR) continue;
    // hwmon drivers report a failed sensor as a read error (EIO, ENODATA), not as text.
    if (n < 0) return Error::FromErrno("read " + path);
    if (n == 0) break;
    used += static_cast<size_t>(n);
  }
  text.resize(used);
  return text;
}

bool IsInteger(std::string_view s) {
  if (!s.empty() && s[0] == '-') s.remove_prefix(1);
  return !s.empty() && s.find_first_not_of("0123456789") == std::string_view::npos;
}

// The JSON number for `text` × `scale`, or an error quoting the text.
Result<std::string> Convert(const std::string& path, const std::string& raw, double scale) {
  std::string_view text = raw;
  size_t first = text.find_first_not_of(kSpace);
  text = first == std::string_view::npos ? std::string_view() : text.substr(first);
  text = text.substr(0, text.find_last_not_of(kSpace) + 1);
  if (!text.empty() && text[0] == '+') text.remove_prefix(1);
  auto bad = [&] { return Error(path + ": not a number: " + QuoteRaw(raw)); };
  const char* end = text.data() + text.size();

  // Counters such as rx_bytes may pass 2^53; keep them exact when nothing scales them.
  if (scale == 1.0 && IsInteger(text)) {
    int64_t exact = 0;
    auto [ptr, ec] = std::from_chars(text.data(), end, exact);
    if (ec == std::errc() && ptr == end) return fmt::format("{}", exact);
  }
  double value = 0;
  auto [ptr, ec] = std::from_chars(text.data(), end, value);
  if (text.empty() || ec != std::errc() || ptr != end || !std::isfinite(value)) return bad();
  // Dividing by 1000 is exact where multiplying by 0.001 is not (3 × 0.1 = 0.30000000000000004),
  // and hwmon scales are almost always such inverses.
  double inverse = std::round(1.0 / scale);
  double result = std::fabs(1.0 / scale - inverse) < 1e-9 * std::fabs(inverse) && inverse != 0
                      ? value / inverse
                      : value * scale;
  if (!std::isfinite(result)) return Error(path + ": value out of range: " + QuoteRaw(raw));
  return fmt::format("{}", result);
}

struct FileSpec {
  std::string name;
  std::string path;
  double scale = 1.0;
};

struct DirSpec {
  std::string path;
  std::vector<std::string> match;
  std::string prefix;
  double scale = 1.0;
};

bool ValidName(const std::string& name) {
  if (name.empty() || name.size() > 64) return false;
  for (unsigned char c : name) {
    if (!std::isalnum(c) && c != '_') return false;
  }
  return true;
}

// The files of `dir` to read this poll, sorted by name. Listed at each poll: hwmon and
// power_supply entries come and go with drivers and hot-plugged batteries.
Result<std::vector<FileSpec>> ListDir(const DirSpec& dir) {
  std::error_code ec;
  std::vector<FileSpec> files;
  std::filesystem::directory_iterator it(dir.path, ec);
  if (ec) return Error("list " + dir.path + ": " + ec.message(), ec.value());
  for (const auto& entry : it) {
    std::string name = entry.path().filename().string();
    bool wanted = std::any_of(dir.match.begin(), dir.match.end(), [&](const std::string& glob) {
      return fnmatch(glob.c_str(), name.c_str(), 0) == 0;
    });
    // is_regular_file follows symlinks, so "device" or "subsystem" links to directories drop out.
    if (!wanted || !entry.is_regular_file(ec) || !ValidName(dir.prefix + name)) continue;
    files.push_back({dir.prefix + name, entry.path().string(), dir.scale});
  }
  if (files.empty())
    return Error(fmt::format("{}: no file matches {}", dir.path, fmt::join(dir.match, ", ")));
  std::sort(files.begin(), files.end(),
            [](const FileSpec& a, const FileSpec& b) { return a.name < b.name; });
  return files;
}

class FileSource : public Source {
 public:
  FileSource(std::vector<FileSpec> files, std::vector<DirSpec> dirs)
      : files_(std::move(files)), dirs_(std::move(dirs)) {}

  Result<std::vector<SourceReading>> Poll(milliseconds /*timeout*/) override {
    std::vector<FileSpec> all = files_;
    for (const DirSpec& d : dirs_) {
      Result<std::vector<FileSpec>> listed = ListDir(d);
      if (!listed) return listed.error();
      all.insert(all.end(), listed->begin(), listed->end());
    }
    std::set<std::string> seen;
    std::string json = "{";
    for (const FileSpec& f : all) {
      if (!seen.insert(f.name).second) {
        return Error(f.path + ": the name " + f.name + " is already taken by another file");
      }
      Result<std::string> raw = ReadSmallFile(f.path);
      if (!raw) return raw.error();
      Result<std::string> number = Convert(f.path, raw.value(), f.scale);
      if (!number) return number.error();
      if (json.size() > 1) json += ',';
      // Names are [A-Za-z0-9_], so they need no JSON escaping.
      json += fmt::format("\"{}\":{}", f.name, number.value());
    }
    json += '}';
    return std::vector<SourceReading>{{0, std::move(json)}};
  }

 private:
  const std::vector<FileSpec> files_;
  const std::vector<DirSpec> dirs_;
};

std::vector<DirSpec> ReadDirs(ConfigReader& reader) {
  std::vector<DirSpec> dirs;
  for (ConfigReader& entry : reader.TableArray("dirs")) {
    DirSpec d;
    d.path = entry.RequiredString("path");
    d.match = entry.StringArray("match");
    if (d.match.empty())
      entry.Fail("match", R"(required: file name patterns, e.g. ["temp*_input"])");
    d.prefix = entry.String("prefix", "");
    if (!d.prefix.empty() && !ValidName(d.prefix)) {
      entry.Fail("prefix", "must be 1 to 64 of A-Z a-z 0-9 _ (got " + QuoteRaw(d.prefix) + ")");
    }
    d.scale = entry.Number("scale", 1.0);
    if (!std::isfinite(d.scale) || d.scale == 0) entry.Fail("scale", "must be a non-zero number");
    entry.Finish();
    dirs.push_back(std::move(d));
  }
  return dirs;
}

std::unique_ptr<Source> CreateFileSource(ConfigReader& reader) {
  size_t errors_before = reader.diagnostics()->errors.size();
  if (!reader.Has("files") && !reader.Has("dirs")) {
    reader.Fail("files", R"(required: an array of { name = "...", path = "..." }, or dirs)");
    return nullptr;
  }
  std::vector<DirSpec> dirs = ReadDirs(reader);
  std::vector<ConfigReader> entries = reader.TableArray("files");
  if (entries.empty() && dirs.empty() && reader.diagnostics()->errors.size() == errors_before) {
    reader.Fail(reader.Has("files") ? "files" : "dirs", "must list at least one file or directory");
  }
  std::vector<FileSpec> files;
  std::set<std::string> names;
  for (ConfigReader& entry : entries) {
    FileSpec f;
    f.name = entry.RequiredString("name");
    if (!f.name.empty() && !ValidName(f.name)) {
      entry.Fail("name", "must be 1 to 64 of A-Z a-z 0-9 _ (got \"" + f.name + "\")");
    } else if (!f.name.empty() && !names.insert(f.name).second) {
      entry.Fail("name", "\"" + f.name + "\" is used twice");
    }
    f.path = entry.RequiredString("path");
    f.scale = entry.Number("scale", 1.0);
    if (!std::isfinite(f.scale) || f.scale == 0) entry.Fail("scale", "must be a non-zero number");
    entry.Finish();
    files.push_back(std::move(f));
  }
  if (reader.diagnostics()->errors.size() > errors_before) return nullptr;
  return std::make_unique<FileSource>(std::move(files), std::move(dirs));
}

}  // namespace

extern const SourceType kFileSourceType{"file", &CreateFileSource};

}  // namespace granary
