// Run detection's pure parts: the counter file, the runs a change submits, the file names.
#include "agent/outbox/runs.h"

#include <gtest/gtest.h>

#include "agent/outbox/runs_config.h"

namespace granary {
namespace {

CounterPattern Pattern(const std::string& regex, bool with_instrument = true) {
  auto p = CompileCounterPattern(regex, with_instrument);
  EXPECT_TRUE(p.ok()) << (p.ok() ? "" : p.error().message());
  return p.ok() ? std::move(*p) : CounterPattern{};
}

TEST(CounterFile, GoodLinesOfSeveralInstruments) {
  auto runs = ParseCounterFile("MERLIN 00012345 1 some text\nLET 77 0\r\n  WISH\t3\n",
                               Pattern(kDefaultCounterRegex));
  EXPECT_EQ(runs, (std::map<std::string, uint64_t>{{"LET", 77}, {"MERLIN", 12345}, {"WISH", 3}}));
}

TEST(CounterFile, JunkLinesAreSkipped) {
  const std::string text =
      "\n# a comment\nMERLIN\nMERLIN abc\nLET -5\nMAPS 99999999999999999999\nHUGE " +
      std::string(kMaxCounterLine, '7') + "\nGOOD 12\nGOOD 13";  // no final newline
  auto runs = ParseCounterFile(text, Pattern(kDefaultCounterRegex));
  EXPECT_EQ(runs.count("MERLIN"), 0u);
  EXPECT_EQ(runs.count("LET"), 0u);
  EXPECT_EQ(runs.count("MAPS"), 0u);  // beyond 2^63
  EXPECT_EQ(runs.count("HUGE"), 0u);
  EXPECT_EQ(runs.at("GOOD"), 13u);  // the later line wins
  EXPECT_EQ(runs.size(), 1u);
}

TEST(CounterFile, RegexOverrideNamedAndNumbered) {
  auto named = ParseCounterFile("run=41 inst=EMU\nrun=x inst=EMU\n",
                                Pattern(R"(run=(?<run>\d+) inst=(?<instrument>\w+))"));
  EXPECT_EQ(named, (std::map<std::string, uint64_t>{{"EMU", 41}}));
  auto numbered = ParseCounterFile("EMU;42;x\n", Pattern(R"(^(\w+);(\d+);)"));
  EXPECT_EQ(numbered, (std::map<std::string, uint64_t>{{"EMU", 42}}));
  // A non-capturing group and an escaped parenthesis do not shift the numbers.
  auto tricky = ParseCounterFile("(a) EMU 43\n", Pattern(R"((?:\(a\)) (\w+) (\d+))"));
  EXPECT_EQ(tricky, (std::map<std::string, uint64_t>{{"EMU", 43}}));
}

TEST(CounterFile, BadPatterns) {
  EXPECT_FALSE(CompileCounterPattern("(", true).ok());
  EXPECT_FALSE(CompileCounterPattern(R"((\d+))", true).ok());  // no instrument group
  EXPECT_FALSE(CompileCounterPattern(R"((?<instrument>\w+) (?<number>\d+))", true).ok());
  EXPECT_FALSE(CompileCounterPattern(R"((?<run>\d+)(?<run>\d+))", false).ok());
  EXPECT_TRUE(CompileCounterPattern(R"(session-(\d+))", false).ok());
}

TEST(RunDir, HighestMatchingEntry) {
  CounterPattern p = Pattern(R"(session-(\d+))", false);
  EXPECT_EQ(HighestRunEntry({"session-7", "session-12", "session-9x", "x-session-99", "notes"}, p),
            12u);
  EXPECT_FALSE(HighestRunEntry({"notes"}, p).has_value());
}

TEST(RunRange, GrowthSubmitsEveryRunBetween) {
  RunDecision d = DecideRuns(10, 10, 14, std::nullopt);
  EXPECT_FALSE(d.first_start);
  EXPECT_FALSE(d.decreased);
  ASSERT_TRUE(d.Submits());
  EXPECT_EQ(d.first, 11u);
  EXPECT_EQ(d.last, 14u);
  EXPECT_FALSE(DecideRuns(14, 14, 14, std::nullopt).Submits());
}

TEST(RunRange, DecreaseAndResetSubmitNothing) {
  RunDecision down = DecideRuns(14, 14, 12, std::nullopt);
  EXPECT_TRUE(down.decreased);
  EXPECT_FALSE(down.Submits());
  RunDecision reset = DecideRuns(14, 14, 0, std::nullopt);
  EXPECT_TRUE(reset.decreased);
  EXPECT_FALSE(reset.Submits());
  // Climbing again after a reset: only past the last submitted run.
  EXPECT_FALSE(DecideRuns(14, 0, 14, std::nullopt).Submits());
  RunDecision past = DecideRuns(14, 13, 16, std::nullopt);
  EXPECT_FALSE(past.decreased);
  EXPECT_EQ(past.first, 15u);
  EXPECT_EQ(past.last, 16u);
  // After a restart the mark is the last value known; a lower counter is a decrease.
  EXPECT_TRUE(DecideRuns(14, 14, 3, std::nullopt).decreased);
  // The first reading after a restart, before any value is seen, compares with the mark.
  RunDecision restarted = DecideRuns(14, std::nullopt, 12, std::nullopt);
  EXPECT_TRUE(restarted.decreased);
  EXPECT_EQ(restarted.seen_before, 14u);
  EXPECT_FALSE(restarted.Submits());
  EXPECT_FALSE(DecideRuns(14, std::nullopt, 14, std::nullopt).decreased);
  EXPECT_FALSE(DecideRuns(std::nullopt, std::nullopt, 3, std::nullopt).decreased);
}

TEST(RunRange, FirstStartRecordsWithoutSubmittingThePast) {
  RunDecision d = DecideRuns(std::nullopt, std::nullopt, 500, std::nullopt);
  EXPECT_TRUE(d.first_start);
  EXPECT_EQ(d.baseline, 500u);
  EXPECT_FALSE(d.Submits());
  RunDecision from = DecideRuns(std::nullopt, std::nullopt, 500, 497);
  EXPECT_TRUE(from.first_start);
  EXPECT_EQ(from.baseline, 497u);
  EXPECT_EQ(from.first, 498u);
  EXPECT_EQ(from.last, 500u);
  EXPECT_EQ(DecideRuns(std::nullopt, std::nullopt, 5, 9).baseline, 5u);  // not past the counter
}

TEST(RunRange, AHugeJumpIsNotSubmitted) {
  RunDecision d = DecideRuns(10, 10, 10 + kMaxRunJump + 1, std::nullopt);
  EXPECT_TRUE(d.too_far);
  EXPECT_FALSE(d.Submits());
  EXPECT_TRUE(DecideRuns(10, 10, 10 + kMaxRunJump, std::nullopt).Submits());
}

TEST(RunTemplate, Expansion) {
  EXPECT_EQ(*ExpandRunTemplate("/data/{instrument}/{instrument}{run:08}.nxs", "MERLIN", 12345),
            "/data/MERLIN/MERLIN00012345.nxs");
  EXPECT_EQ(*ExpandRunTemplate("/d/{run}.log", "X", 7), "/d/7.log");
  EXPECT_EQ(*ExpandRunTemplate("/d/{run:03}", "X", 123456), "/d/123456");  // never truncated
  EXPECT_EQ(*ExpandRunTemplate("/d/{{run}}-{run:01}", "X", 4), "/d/{run}-4");
  EXPECT_FALSE(ExpandRunTemplate("/d/{run:00}", "X", 1).ok());
  EXPECT_FALSE(ExpandRunTemplate("/d/{run:021}", "X", 1).ok());
  EXPECT_FALSE(ExpandRunTemplate("/d/{date}", "X", 1).ok());
  EXPECT_FALSE(ExpandRunTemplate("/d/{run", "X", 1).ok());
  EXPECT_FALSE(ExpandRunTemplate("/d/}", "X", 1).ok());
}

}  // namespace
}  // namespace granary
