#include "config/units.h"

#include <gtest/gtest.h>

#include <limits>

namespace granary {
namespace {

using std::chrono::milliseconds;

milliseconds Duration(std::string_view text) {
  Result<milliseconds> d = ParseDuration(text);
  EXPECT_TRUE(d.ok()) << text << ": " << d.error().message();
  return d.ok() ? *d : milliseconds(-1);
}

uint64_t Size(std::string_view text) {
  Result<uint64_t> s = ParseSize(text);
  EXPECT_TRUE(s.ok()) << text << ": " << s.error().message();
  return s.ok() ? *s : 0;
}

TEST(ParseDurationTest, AcceptsUnitsAndGroups) {
  EXPECT_EQ(Duration("250ms"), milliseconds(250));
  EXPECT_EQ(Duration("6s"), milliseconds(6'000));
  EXPECT_EQ(Duration("5m"), milliseconds(300'000));
  EXPECT_EQ(Duration("1h30m"), milliseconds(5'400'000));
  EXPECT_EQ(Duration("2d"), milliseconds(172'800'000));
  EXPECT_EQ(Duration("1s250ms"), milliseconds(1'250));
  EXPECT_EQ(Duration("0s"), milliseconds(0));
  EXPECT_EQ(Duration("0ms"), milliseconds(0));
  // Groups need not be ordered or distinct; they add up.
  EXPECT_EQ(Duration("30s1m"), milliseconds(90'000));
}

TEST(ParseDurationTest, RejectsWhatIsNotADuration) {
  for (std::string_view bad : {"", "10", "s", "1.5s", "-5s", "10 s", " 10s", "10s ", "10S", "5sec",
                               "1h30", "ms10", "+5s"}) {
    Result<milliseconds> d = ParseDuration(bad);
    ASSERT_FALSE(d.ok()) << "\"" << bad << "\"";
    EXPECT_EQ(d.error().message(),
              "invalid duration \"" + std::string(bad) +
                  "\": expected a whole number with a unit, e.g. 500ms, 10s, 5m, 1h30m");
  }
}

TEST(ParseDurationTest, RejectsOverflow) {
  Result<milliseconds> d = ParseDuration("9999999999999999d");
  ASSERT_FALSE(d.ok());
  EXPECT_EQ(d.error().message(), "duration \"9999999999999999d\" is too large");
  // Past int64 milliseconds but within uint64.
  EXPECT_FALSE(ParseDuration("9300000000000000000ms").ok());
  EXPECT_FALSE(ParseDuration("99999999999999999999ms").ok());
}

TEST(ParseSizeTest, AcceptsUnits) {
  EXPECT_EQ(Size("0"), 0u);
  EXPECT_EQ(Size("4096"), 4096u);
  EXPECT_EQ(Size("17B"), 17u);
  EXPECT_EQ(Size("10KB"), 10'000u);
  EXPECT_EQ(Size("10MB"), 10'000'000u);
  EXPECT_EQ(Size("2GB"), 2'000'000'000u);
  EXPECT_EQ(Size("64KiB"), 64u << 10);
  EXPECT_EQ(Size("512MiB"), 512ULL << 20);
  EXPECT_EQ(Size("1GiB"), 1ULL << 30);
  EXPECT_EQ(Size("3TiB"), 3ULL << 40);
}

TEST(ParseSizeTest, RejectsWhatIsNotASize) {
  for (std::string_view bad :
       {"", "12XB", "1.5MiB", "-1", "MiB", " 1", "1 MiB", "1mib", "1kb", "1KiBB", "1GiB2"}) {
    Result<uint64_t> s = ParseSize(bad);
    ASSERT_FALSE(s.ok()) << "\"" << bad << "\"";
    EXPECT_EQ(s.error().message(), "invalid size \"" + std::string(bad) +
                                       "\": expected a whole number with an optional unit, e.g. "
                                       "4096, 64KiB, 512MiB, 2GB");
  }
}

TEST(ParseSizeTest, RejectsOverflow) {
  EXPECT_EQ(Size("18446744073709551615"), std::numeric_limits<uint64_t>::max());
  Result<uint64_t> s = ParseSize("18446744073709551615KiB");
  ASSERT_FALSE(s.ok());
  EXPECT_EQ(s.error().message(), "size \"18446744073709551615KiB\" is too large");
  EXPECT_FALSE(ParseSize("16777216TiB").ok());
  EXPECT_FALSE(ParseSize("18446744073709551616").ok());
}

TEST(FormatDurationTest, ShortestExact) {
  EXPECT_EQ(FormatDuration(milliseconds(0)), "0s");
  EXPECT_EQ(FormatDuration(milliseconds(50)), "50ms");
  EXPECT_EQ(FormatDuration(milliseconds(1'000)), "1s");
  EXPECT_EQ(FormatDuration(milliseconds(1'250)), "1s250ms");
  EXPECT_EQ(FormatDuration(milliseconds(90'000)), "1m30s");
  EXPECT_EQ(FormatDuration(milliseconds(3'600'000)), "1h");
  EXPECT_EQ(FormatDuration(milliseconds(90'000'000)), "1d1h");
  EXPECT_EQ(FormatDuration(milliseconds(86'400'001)), "1d1ms");
}

TEST(FormatSizeTest, LargestExactBinaryUnit) {
  EXPECT_EQ(FormatSize(0), "0B");
  EXPECT_EQ(FormatSize(100), "100B");
  EXPECT_EQ(FormatSize(1024), "1KiB");
  EXPECT_EQ(FormatSize(1536), "1536B");
  EXPECT_EQ(FormatSize(5000), "5000B");
  EXPECT_EQ(FormatSize(64ULL << 20), "64MiB");
  EXPECT_EQ(FormatSize(1ULL << 30), "1GiB");
  EXPECT_EQ(FormatSize(3ULL << 40), "3TiB");
  EXPECT_EQ(FormatSize(2048ULL << 40), "2048TiB");
}

TEST(UnitsTest, FormatThenParseIsIdentity) {
  const int64_t durations_ms[] = {0,
                                  1,
                                  999,
                                  1'000,
                                  61'001,
                                  3'599'999,
                                  86'400'000LL * 400 + 7,
                                  std::numeric_limits<int64_t>::max()};
  for (int64_t ms : durations_ms) {
    EXPECT_EQ(Duration(FormatDuration(milliseconds(ms))), milliseconds(ms)) << ms;
  }
  const uint64_t sizes[] = {0,
                            1,
                            1023,
                            1024,
                            1025,
                            4096,
                            1ULL << 33,
                            (1ULL << 40) * 7,
                            std::numeric_limits<uint64_t>::max()};
  for (uint64_t bytes : sizes) EXPECT_EQ(Size(FormatSize(bytes)), bytes) << bytes;
}

}  // namespace
}  // namespace granary
