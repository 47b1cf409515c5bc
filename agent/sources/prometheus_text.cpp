#include "agent/sources/prometheus_text.h"

#include <fmt/format.h>

#include <charconv>
#include <cmath>
#include <limits>

#include "agent/sources/quote.h"

namespace granary {
namespace {

constexpr size_t kQuoteBytes = 80;

bool IsNameStart(char c) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_' || c == ':';
}
bool IsNameChar(char c) { return IsNameStart(c) || (c >= '0' && c <= '9'); }

// A cursor over one line; every Take* leaves it after what it took.
class LineParser {
 public:
  explicit LineParser(std::string_view line) : s_(line) {}

  void SkipBlanks() {
    while (pos_ < s_.size() && (s_[pos_] == ' ' || s_[pos_] == '\t')) ++pos_;
  }
  bool AtEnd() const { return pos_ == s_.size(); }
  bool Peek(char c) const { return pos_ < s_.size() && s_[pos_] == c; }
  bool Take(char c) {
    if (!Peek(c)) return false;
    ++pos_;
    return true;
  }

  // [a-zA-Z_:][a-zA-Z0-9_:]*; label names may not hold ':' but are read the same way and
  // checked by the caller.
  std::string_view TakeName() {
    size_t start = pos_;
    if (pos_ < s_.size() && IsNameStart(s_[pos_])) {
      while (pos_ < s_.size() && IsNameChar(s_[pos_])) ++pos_;
    }
    return s_.substr(start, pos_ - start);
  }

  // A double-quoted label value with the escapes \\, \" and \n.
  Result<std::string> TakeQuoted() {
    if (!Take('"')) return Error("label value must be in double quotes");
    std::string out;
    while (pos_ < s_.size()) {
      char c = s_[pos_++];
      if (c == '"') return out;
      if (c != '\\') {
        out += c;
        continue;
      }
      if (pos_ == s_.size()) break;
      char e = s_[pos_++];
      if (e == 'n') {
        out += '\n';
      } else if (e == '\\' || e == '"') {
        out += e;
      } else {
        return Error(fmt::format("unknown escape \\{} in a label value", e));
      }
    }
    return Error("unterminated label value");
  }

  std::string_view TakeToken() {
    size_t start = pos_;
    while (pos_ < s_.size() && s_[pos_] != ' ' && s_[pos_] != '\t') ++pos_;
    return s_.substr(start, pos_ - start);
  }

 private:
  std::string_view s_;
  size_t pos_ = 0;
};

// Go's ParseFloat as Prometheus uses it: decimal or exponent forms, NaN, +Inf, -Inf.
std::optional<double> ParseValue(std::string_view t) {
  if (t == "NaN" || t == "nan") return std::numeric_limits<double>::quiet_NaN();
  if (t == "+Inf" || t == "Inf" || t == "+inf" || t == "inf") {
    return std::numeric_limits<double>::infinity();
  }
  if (t == "-Inf" || t == "-inf") return -std::numeric_limits<double>::infinity();
  if (!t.empty() && t[0] == '+') t.remove_prefix(1);
  if (t.empty() || t[0] == '+' || t[0] == 'n' || t[0] == 'N' || t[0] == 'i' || t[0] == 'I') {
    return std::nullopt;
  }
  double v = 0;
  auto [ptr, ec] = std::from_chars(t.data(), t.data() + t.size(), v);
  // from_chars reports out-of-range values (1e999) as errors; Go would give ±Inf.
  if (ec == std::errc::result_out_of_range && ptr == t.data() + t.size()) {
    return t[0] == '-' ? -std::numeric_limits<double>::infinity()
                       : std::numeric_limits<double>::infinity();
  }
  if (ec != std::errc() || ptr != t.data() + t.size()) return std::nullopt;
  return v;
}

Status ParseLabels(LineParser& p, PrometheusSample& sample) {
  if (!p.Take('{')) return Status::Ok();
  while (true) {
    p.SkipBlanks();
    if (p.Take('}')) return Status::Ok();
    std::string_view name = p.TakeName();
    if (name.empty() || name.find(':') != std::string_view::npos) {
      return Error("bad label name");
    }
    p.SkipBlanks();
    if (!p.Take('=')) return Error(fmt::format("label {} has no '='", name));
    p.SkipBlanks();
    Result<std::string> value = p.TakeQuoted();
    if (!value) return value.error();
    for (const auto& [existing, v] : sample.labels) {
      if (existing == name) return Error(fmt::format("label {} given twice", name));
    }
    sample.labels.emplace_back(std::string(name), std::move(*value));
    p.SkipBlanks();
    if (p.Take(',')) continue;  // a trailing comma before '}' is allowed
    if (!p.Peek('}')) return Error("expected ',' or '}' after a label");
  }
}

Status ParseSampleLine(std::string_view line, PrometheusSample& sample) {
  LineParser p(line);
  p.SkipBlanks();
  std::string_view name = p.TakeName();
  if (name.empty()) return Error("expected a metric name");
  sample.name = name;
  p.SkipBlanks();
  Status labels = ParseLabels(p, sample);
  if (!labels) return labels;
  p.SkipBlanks();
  std::string_view value_text = p.TakeToken();
  std::optional<double> value = ParseValue(value_text);
  if (!value) return Error("bad sample value " + QuoteRaw(value_text, kQuoteBytes));
  sample.value = *value;
  p.SkipBlanks();
  if (!p.AtEnd()) {
    std::string_view ts = p.TakeToken();
    int64_t ms = 0;
    auto [ptr, ec] = std::from_chars(ts.data(), ts.data() + ts.size(), ms);
    if (ec != std::errc() || ptr != ts.data() + ts.size()) {
      return Error("bad timestamp " + QuoteRaw(ts, kQuoteBytes));
    }
    sample.timestamp_ms = ms;
    p.SkipBlanks();
    if (!p.AtEnd()) return Error("text after the timestamp");
  }
  return Status::Ok();
}

}  // namespace

Result<std::vector<PrometheusSample>> ParsePrometheusText(std::string_view text, size_t max_samples,
                                                          bool (*keep)(std::string_view,
                                                                       const void*),
                                                          const void* keep_arg) {
  std::vector<PrometheusSample> samples;
  size_t line_number = 0;
  size_t start = 0;
  while (start < text.size()) {
    size_t end = text.find('\n', start);
    if (end == std::string_view::npos) end = text.size();
    std::string_view line = text.substr(start, end - start);
    start = end + 1;
    ++line_number;
    if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
    size_t first = line.find_first_not_of(" \t");
    if (first == std::string_view::npos || line[first] == '#') continue;
    if (keep != nullptr) {
      LineParser p(line.substr(first));
      std::string_view name = p.TakeName();
      if (!name.empty() && !keep(name, keep_arg)) continue;
    }
    PrometheusSample sample;
    Status parsed = ParseSampleLine(line, sample);
    if (!parsed) {
      return Error(fmt::format("line {}: {}: {}", line_number, parsed.error().message(),
                               QuoteRaw(line, kQuoteBytes)));
    }
    if (samples.size() == max_samples) {
      return Error(fmt::format("more than {} samples (line {})", max_samples, line_number));
    }
    samples.push_back(std::move(sample));
  }
  return samples;
}

}  // namespace granary
