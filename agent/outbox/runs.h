// Run detection's pure parts: reading the run counter (a lastruns.txt-form file or a
// directory of numbered entries), deciding which runs a change submits, and naming a run's
// files. No I/O, so unit tests and the fuzzer drive them directly.
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <regex>
#include <string>
#include <string_view>
#include <vector>

#include "platform/result.h"

namespace granary {

// A regex with the capture groups that hold the instrument and the run number: named
// (?<instrument>...) and (?<run>...), else numbered: 1 and 2 with an instrument, 1 without.
struct CounterPattern {
  std::regex regex;
  int instrument_group = 0;  // 0: none
  int run_group = 0;
};
Result<CounterPattern> CompileCounterPattern(std::string_view pattern, bool with_instrument);

// Lines longer than this are junk, never matched (std::regex recurses per character).
inline constexpr size_t kMaxCounterLine = 4096;

// INSTRUMENT -> RUN of every line that matches; a later line for an instrument wins. Lines
// that do not match, or whose run is not a number below 2^63, are skipped.
std::map<std::string, uint64_t> ParseCounterFile(std::string_view text,
                                                 const CounterPattern& pattern);
// The highest run among directory entries the pattern matches whole; nullopt when none.
std::optional<uint64_t> HighestRunEntry(const std::vector<std::string>& names,
                                        const CounterPattern& pattern);

// What one reading of the counter means, given the last run submitted (nullopt: none
// recorded yet) and the last value seen (nullopt: none since the start, so the mark counts).
struct RunDecision {
  bool first_start = false;  // no mark: the mark becomes `baseline`
  uint64_t baseline = 0;
  uint64_t first = 0, last = 0;  // runs to submit: first..last, none when first > last
  bool decreased = false;        // below the last value seen: an event, nothing submitted
  uint64_t seen_before = 0;      // what `decreased` compared with
  bool too_far = false;          // a jump past kMaxRunJump: an event, the mark moves on
  bool Submits() const { return first <= last && !too_far; }
};
inline constexpr uint64_t kMaxRunJump = 100'000;
RunDecision DecideRuns(std::optional<uint64_t> last_submitted, std::optional<uint64_t> last_seen,
                       uint64_t current, std::optional<uint64_t> start_run);

// `/data/{instrument}/{instrument}{run:08}.nxs`: {instrument}, {run}, {run:0N} (zero-padded
// to N digits, N 1..20); "{{" and "}}" are braces. Errors name the problem.
Result<std::string> ExpandRunTemplate(std::string_view tmpl, std::string_view instrument,
                                      uint64_t run);

}  // namespace granary
