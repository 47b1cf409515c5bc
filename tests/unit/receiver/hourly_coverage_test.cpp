// Coverage by hour: present wherever a reading is, a seq hole's hours missing or tombstoned
// (with the reason), nothing claimed outside the segments.
#include "receiver/hourly_coverage.h"

#include <gtest/gtest.h>

namespace granary::receiver {
namespace {

constexpr int64_t kDay0 = 1732233600000;  // 2024-11-22T00:00:00Z

SegmentRow Seg(uint64_t first, uint64_t last, double first_h, double last_h) {
  SegmentRow s;
  s.first_seq = first;
  s.last_seq = last;
  s.count = last - first + 1;
  s.first_ts = kDay0 + static_cast<int64_t>(first_h * kHourMs);
  s.last_ts = kDay0 + static_cast<int64_t>(last_h * kHourMs);
  return s;
}

std::string States(const std::vector<HourCell>& cells) {
  std::string out;
  for (const HourCell& c : cells) out += "_PTM"[static_cast<int>(c.state)];
  return out;
}

TEST(HourlyCoverageTest, HolesBetweenSegmentsMapToTheirHours) {
  // Readings 01:00-02:59, a missing hole (03:00-04:59), 05:00-05:59, a tombstoned hole
  // (06:00-07:59), 08:00-08:30.
  std::vector<SegmentRow> segs = {Seg(1, 100, 1, 2.99), Seg(201, 260, 5, 5.99),
                                  Seg(301, 320, 8, 8.5)};
  std::vector<Gap> gaps = {{101, 200, false, ""}, {261, 300, true, "quota"}};
  auto cells = HourlyCoverage(segs, gaps, kDay0, 12);
  EXPECT_EQ(States(cells), "_PPMMPTTP___");
  EXPECT_EQ(cells[6].reason, "quota");
  EXPECT_EQ(cells[3].start_ms, kDay0 + 3 * kHourMs);
}

TEST(HourlyCoverageTest, AnHourWithAReadingIsPresentEvenIfAHoleStartsInIt) {
  std::vector<SegmentRow> segs = {Seg(1, 10, 0, 1.5), Seg(21, 30, 3.5, 4)};
  std::vector<Gap> gaps = {{11, 20, false, ""}};
  EXPECT_EQ(States(HourlyCoverage(segs, gaps, kDay0, 6)), "PPMPP_");
}

TEST(HourlyCoverageTest, APartlyExplainedHoleIsMissingAndSaysWhatWasExplained) {
  std::vector<SegmentRow> segs = {Seg(1, 10, 0, 0.5), Seg(31, 40, 3, 3.5)};
  std::vector<Gap> gaps = {{11, 20, true, "quota"}, {21, 30, false, ""}};
  auto cells = HourlyCoverage(segs, gaps, kDay0, 4);
  EXPECT_EQ(States(cells), "PMMP");
  EXPECT_EQ(cells[1].reason, "partly tombstoned: quota");
}

TEST(HourlyCoverageTest, TheWindowClipsAndHolesAtTheEdgesMarkNothing) {
  // A leading hole (seqs 1..10, no time) and a trailing tombstone: no hours claimed.
  std::vector<SegmentRow> segs = {Seg(11, 20, 10, 11)};
  std::vector<Gap> gaps = {{1, 10, false, ""}, {21, 25, true, "quota"}};
  EXPECT_EQ(States(HourlyCoverage(segs, gaps, kDay0 + 9 * kHourMs, 4)), "_PP_");
  EXPECT_EQ(States(HourlyCoverage(segs, gaps, kDay0 + 11 * kHourMs, 2)), "P_");
  EXPECT_TRUE(HourlyCoverage(segs, gaps, kDay0, 0).empty());
}

}  // namespace
}  // namespace granary::receiver
