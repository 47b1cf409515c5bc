// type = "file": numbers from sysfs/hwmon-style files, one per file, one reading per poll:
//   files = [ { name = "temp", path = "/sys/class/hwmon/hwmon0/temp1_input", scale = 0.001 } ]
// gives {"temp":42.5}. One unreadable or malformed file fails the whole poll, so a reading
// never silently lacks a value.
#include <fcntl.h>
#include <fmt/format.h>
#include <unistd.h>

#include <cctype>
#include <cerrno>
#include <charconv>
#include <cmath>
#include <set>

#include "agent/sources/quote.h"
#include "agent/sources/source.h"

namespace granary {
namespace {

using std::chrono::milliseconds;

constexpr size_t kMaxFileBytes = 4096;
constexpr size_t kQuoteBytes = 64;
constexpr std::string_view kSpace = " \t\r\n\v\f";

std::string QuoteRaw(std::string_view raw) { return granary::QuoteRaw(raw, kQuoteBytes); }

class Descriptor {
 public:
  explicit Descriptor(int fd) : fd_(fd) {}
  ~Descriptor() {
    if (fd_ >= 0) ::close(fd_);
  }
  Descriptor(const Descriptor&) = delete;
  Descriptor& operator=(const Descriptor&) = delete;
  int get() const { return fd_; }

 private:
  int fd_;
};

Result<std::string> ReadSmallFile(const std::string& path) {
  Descriptor fd(::open(path.c_str(), O_RDONLY | O_CLOEXEC | O_NOCTTY));
  if (fd.get() < 0) return Error::FromErrno("open " + path);
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

class FileSource : public Source {
 public:
  explicit FileSource(std::vector<FileSpec> files) : files_(std::move(files)) {}

  Result<std::vector<SourceReading>> Poll(milliseconds /*timeout*/) override {
    std::string json = "{";
    for (const FileSpec& f : files_) {
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
};

bool ValidName(const std::string& name) {
  if (name.empty() || name.size() > 64) return false;
  for (unsigned char c : name) {
    if (!std::isalnum(c) && c != '_') return false;
  }
  return true;
}

std::unique_ptr<Source> CreateFileSource(ConfigReader& reader) {
  size_t errors_before = reader.diagnostics()->errors.size();
  if (!reader.Has("files")) {
    reader.Fail("files", R"(required: an array of { name = "...", path = "..." })");
    return nullptr;
  }
  std::vector<ConfigReader> entries = reader.TableArray("files");
  if (entries.empty() && reader.diagnostics()->errors.size() == errors_before) {
    reader.Fail("files", "must list at least one file");
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
  return std::make_unique<FileSource>(std::move(files));
}

}  // namespace

extern const SourceType kFileSourceType{"file", &CreateFileSource};

}  // namespace granary
