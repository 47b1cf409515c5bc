#include "agent/outbox/runs.h"

#include <fmt/format.h>

#include <charconv>

namespace granary {
namespace {

std::optional<uint64_t> ParseRun(std::string_view digits) {
  uint64_t v = 0;
  auto [end, ec] = std::from_chars(digits.data(), digits.data() + digits.size(), v);
  if (ec != std::errc() || end != digits.data() + digits.size() || digits.empty() ||
      v >= (1ULL << 63))
    return std::nullopt;
  return v;
}

// std::regex (ECMAScript) has no named groups: (?<name>...) becomes a plain group whose
// number is recorded. Escapes and bracket expressions are skipped while counting.
struct Translated {
  std::string pattern;
  std::map<std::string, int> names;
  int groups = 0;
};
Result<Translated> TranslateNamedGroups(std::string_view in) {
  Translated t;
  bool in_class = false;
  for (size_t i = 0; i < in.size(); ++i) {
    const char c = in[i];
    if (c == '\\' && i + 1 < in.size()) {
      t.pattern += in.substr(i, 2);
      ++i;
      continue;
    }
    if (in_class) {
      in_class = c != ']';
    } else if (c == '[') {
      in_class = true;
    } else if (c == '(') {
      if (in.substr(i).starts_with("(?<") && !in.substr(i).starts_with("(?<=") &&
          !in.substr(i).starts_with("(?<!")) {
        const size_t close = in.find('>', i);
        if (close == std::string_view::npos) return Error("unterminated group name");
        std::string name(in.substr(i + 3, close - i - 3));
        if (!t.names.emplace(name, ++t.groups).second)
          return Error("group name \"" + name + "\" used twice");
        t.pattern += '(';
        i = close;
        continue;
      }
      if (!in.substr(i).starts_with("(?")) ++t.groups;
    }
    t.pattern += c;
  }
  return t;
}

}  // namespace

Result<CounterPattern> CompileCounterPattern(std::string_view pattern, bool with_instrument) {
  auto t = TranslateNamedGroups(pattern);
  if (!t) return t.error();
  CounterPattern p;
  try {
    p.regex = std::regex(t->pattern, std::regex::ECMAScript);
  } catch (const std::regex_error& e) {
    return Error(std::string("not a valid regex: ") + e.what());
  }
  const int groups = static_cast<int>(p.regex.mark_count());
  if (t->names.count("run") != 0) {
    p.run_group = t->names.at("run");
    if (t->names.count("instrument") != 0) p.instrument_group = t->names.at("instrument");
  } else if (!t->names.empty()) {
    return Error("has named groups but none named \"run\"");
  } else if (with_instrument) {
    p.instrument_group = 1;
    p.run_group = 2;
  } else {
    p.run_group = 1;
  }
  if (p.run_group > groups || p.instrument_group > groups)
    return Error(with_instrument && t->names.empty()
                     ? "needs two groups, the instrument then the run, or named ones"
                     : "needs a group for the run number, (?<run>...) or the first");
  if (with_instrument && p.instrument_group == 0)
    return Error("needs a group for the instrument, (?<instrument>...)");
  return p;
}

std::map<std::string, uint64_t> ParseCounterFile(std::string_view text,
                                                 const CounterPattern& pattern) {
  std::map<std::string, uint64_t> runs;
  while (!text.empty()) {
    size_t nl = text.find('\n');
    std::string_view line = text.substr(0, nl);
    text = nl == std::string_view::npos ? std::string_view() : text.substr(nl + 1);
    if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
    if (line.size() > kMaxCounterLine) continue;
    std::match_results<std::string_view::const_iterator> m;
    if (!std::regex_search(line.begin(), line.end(), m, pattern.regex)) continue;
    auto run = ParseRun(std::string_view(&*m[pattern.run_group].first,
                                         static_cast<size_t>(m[pattern.run_group].length())));
    const std::string instrument =
        pattern.instrument_group > 0 ? m[pattern.instrument_group].str() : std::string();
    if (!run || (pattern.instrument_group > 0 && instrument.empty())) continue;
    runs[instrument] = *run;
  }
  return runs;
}

std::optional<uint64_t> HighestRunEntry(const std::vector<std::string>& names,
                                        const CounterPattern& pattern) {
  std::optional<uint64_t> best;
  for (const std::string& name : names) {
    std::smatch m;
    if (name.size() > kMaxCounterLine || !std::regex_match(name, m, pattern.regex)) continue;
    auto run = ParseRun(m[pattern.run_group].str());
    if (run && (!best || *run > *best)) best = run;
  }
  return best;
}

RunDecision DecideRuns(std::optional<uint64_t> last_submitted, std::optional<uint64_t> last_seen,
                       uint64_t current, std::optional<uint64_t> start_run) {
  RunDecision d;
  if (!last_submitted) {
    d.first_start = true;
    d.baseline = start_run ? std::min(*start_run, current) : current;
    last_submitted = d.baseline;
  }
  d.baseline = *last_submitted;
  // The first reading after a restart compares with the durable mark, so a counter reset
  // while the agent was down is reported too.
  d.seen_before = last_seen.value_or(*last_submitted);
  if (!d.first_start && current < d.seen_before) d.decreased = true;
  if (current > *last_submitted) {
    d.first = *last_submitted + 1;
    d.last = current;
    d.too_far = current - *last_submitted > kMaxRunJump;
  } else {
    d.first = 1;
    d.last = 0;
  }
  return d;
}

Result<std::string> ExpandRunTemplate(std::string_view tmpl, std::string_view instrument,
                                      uint64_t run) {
  std::string out;
  for (size_t i = 0; i < tmpl.size(); ++i) {
    const char c = tmpl[i];
    if ((c == '{' || c == '}') && i + 1 < tmpl.size() && tmpl[i + 1] == c) {
      out += c;
      ++i;
      continue;
    }
    if (c == '}') return Error("a lone \"}\" (write \"}}\")");
    if (c != '{') {
      out += c;
      continue;
    }
    const size_t close = tmpl.find('}', i);
    if (close == std::string_view::npos) return Error("an unclosed \"{\"");
    const std::string_view field = tmpl.substr(i + 1, close - i - 1);
    if (field == "instrument") {
      out += instrument;
    } else if (field == "run") {
      out += std::to_string(run);
    } else if (field.starts_with("run:0") && field.size() > 5 && field.size() <= 7) {
      int width = 0;
      auto [end, ec] = std::from_chars(field.data() + 5, field.data() + field.size(), width);
      if (ec != std::errc() || end != field.data() + field.size() || width < 1 || width > 20)
        return Error(fmt::format("{{{}}}: the width must be 1 to 20", field));
      out += fmt::format("{:0{}}", run, width);
    } else {
      return Error(
          fmt::format("unknown field {{{}}} (known: {{instrument}}, {{run}}, {{run:0N}})", field));
    }
    i = close;
  }
  return out;
}

}  // namespace granary
