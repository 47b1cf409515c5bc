// Downsampling for charts: bucket edges and widths, min/max/mean/first/last per bucket, and
// the series of stored segments against values computed here from the same readings.
#include "receiver/series.h"

#include <gtest/gtest.h>

#include <cstdint>

#include "pipeline_fixture.h"

namespace granary::receiver {
namespace {

TEST(SeriesBucketsTest, EqualWholeMsBucketsCoverTheWindow) {
  SeriesBuckets b(1000, 1999, 10);  // 1000 ms in 10 buckets of 100
  ASSERT_EQ(b.buckets().size(), 10u);
  EXPECT_EQ(b.width_ms(), 100);
  EXPECT_EQ(b.buckets()[0].start_ms, 1000);
  EXPECT_EQ(b.buckets()[9].start_ms, 1900);
  b.Add(1000, 1);    // first ms of bucket 0
  b.Add(1099, 3);    // last ms of bucket 0
  b.Add(1100, 5);    // first ms of bucket 1
  b.Add(1999, 7);    // last ms of the window
  b.Add(999, 100);   // before: ignored
  b.Add(2000, 100);  // after: ignored
  const auto& v = b.buckets();
  EXPECT_EQ(v[0].count, 2u);
  EXPECT_EQ(v[0].min, 1);
  EXPECT_EQ(v[0].max, 3);
  EXPECT_EQ(v[0].mean(), 2);
  EXPECT_EQ(v[1].count, 1u);
  EXPECT_EQ(v[1].mean(), 5);
  EXPECT_EQ(v[9].count, 1u);
  EXPECT_EQ(v[9].last, 7);
  uint64_t total = 0;
  for (const auto& x : v) total += x.count;
  EXPECT_EQ(total, 4u);
}

TEST(SeriesBucketsTest, UnevenSpanMakesTheLastBucketNarrower) {
  SeriesBuckets b(0, 1000, 3);  // 1001 ms: width 334, buckets at 0, 334, 668
  EXPECT_EQ(b.width_ms(), 334);
  ASSERT_EQ(b.buckets().size(), 3u);
  EXPECT_EQ(b.buckets()[2].start_ms, 668);
  b.Add(1000, 9);
  EXPECT_EQ(b.buckets()[2].count, 1u);
}

TEST(SeriesBucketsTest, AWindowShorterThanPointsHasOneMsBuckets) {
  SeriesBuckets b(50, 54, 500);
  EXPECT_EQ(b.width_ms(), 1);
  EXPECT_EQ(b.buckets().size(), 5u);
  SeriesBuckets one(7, 7, 10);
  EXPECT_EQ(one.buckets().size(), 1u);
  one.Add(7, 2);
  EXPECT_EQ(one.buckets()[0].count, 1u);
}

TEST(SeriesBucketsTest, TheWholeInt64RangeDoesNotOverflow) {
  SeriesBuckets b(INT64_MIN, INT64_MAX, 4);
  ASSERT_EQ(b.buckets().size(), 4u);
  b.Add(INT64_MIN, 1);
  b.Add(-1, 2);
  b.Add(0, 3);
  b.Add(INT64_MAX, 4);
  EXPECT_EQ(b.buckets()[0].count, 1u);
  EXPECT_EQ(b.buckets()[1].count, 1u);
  EXPECT_EQ(b.buckets()[2].count, 1u);
  EXPECT_EQ(b.buckets()[3].count, 1u);
}

TEST(SeriesBucketsTest, FirstAndLastFollowTimeNotArrival) {
  SeriesBuckets b(0, 99, 1);
  b.Add(50, 5);
  b.Add(10, 1);  // earlier, arriving later
  b.Add(90, 9);
  b.Add(20, 2);
  EXPECT_EQ(b.buckets()[0].first, 1);
  EXPECT_EQ(b.buckets()[0].last, 9);
}

TEST(SeriesBucketsTest, MergeEqualsAddingEverythingToOne) {
  SeriesBuckets all(0, 999, 7), early(0, 999, 7), late(0, 999, 7);
  for (int64_t t = 0; t < 1000; t += 13) {
    double v = static_cast<double>((t * 7919) % 101) - 50;
    all.Add(t, v);
    (t < 500 ? early : late).Add(t, v);
  }
  all.Add(416, 1000);  // a tie in ts (416 = 13 * 32) across the halves: the later is `last`
  late.Add(416, 1000);
  early.Merge(late);
  for (size_t i = 0; i < all.buckets().size(); ++i) {
    const SeriesBucket &a = all.buckets()[i], &m = early.buckets()[i];
    EXPECT_EQ(a.start_ms, m.start_ms);
    EXPECT_EQ(a.count, m.count);
    EXPECT_EQ(a.min, m.min);
    EXPECT_EQ(a.max, m.max);
    EXPECT_EQ(a.sum, m.sum);  // integers: exact in any order
    EXPECT_EQ(a.first, m.first);
    EXPECT_EQ(a.last, m.last) << "bucket " << i;
  }
}

using SeriesStoreTest = testing::PipelineFixture;

TEST_F(SeriesStoreTest, StreamsSegmentsIntoBuckets) {
  // Two segments of readings v = seq at ts0 + seq * 1000, with a hole between them.
  constexpr int64_t kTs0 = 1732284000000;
  ASSERT_EQ(PutAt(testing::SegmentKey("h017", "meter", 1),
                  testing::SegmentLines("h017", "meter", 1, 100), 1, 100),
            PipelineOutcome::kAccepted);
  ASSERT_EQ(PutAt(testing::SegmentKey("h017", "meter", 151),
                  testing::SegmentLines("h017", "meter", 151, 300), 151, 300),
            PipelineOutcome::kAccepted);
  int64_t from = kTs0 + 50 * 1000, to = kTs0 + 250 * 1000 - 1;  // seqs 50..249
  auto segments = index_->Segments("h017", "meter", from, to);
  ASSERT_TRUE(segments.ok());
  auto series = ComputeSeries(*store_, *segments, "v", from, to, 20, config_.max_line_bytes);
  ASSERT_TRUE(series.ok()) << series.error().message();
  EXPECT_EQ(series->width_ms, 10000);  // 200 s in 20 buckets
  ASSERT_EQ(series->buckets.size(), 20u);
  EXPECT_EQ(series->total.count, 51u + 99u);  // 50..100 and 151..249
  for (size_t i = 0; i < 20; ++i) {
    const SeriesBucket& b = series->buckets[i];
    uint64_t lo = 50 + i * 10, hi = lo + 9;
    uint64_t count = 0;
    double sum = 0;
    for (uint64_t s = lo; s <= hi; ++s) {
      if (s <= 100 || s >= 151) count += 1, sum += static_cast<double>(s);
    }
    EXPECT_EQ(b.count, count) << "bucket " << i;
    if (count == 0) continue;
    EXPECT_DOUBLE_EQ(b.mean(), sum / static_cast<double>(count)) << "bucket " << i;
    EXPECT_EQ(b.min, static_cast<double>(lo < 151 && hi >= 151 ? 151 : lo));
  }
  EXPECT_EQ(series->fields, std::set<std::string>{"v"});
}

TEST_F(SeriesStoreTest, ManySegmentsReadOnTwoThreadsGiveTheSameBuckets) {
  // 12 segments of 50 (more than kSeriesSplitSegments): v = seq, one a second.
  constexpr int64_t kTs0 = 1732284000000;
  for (uint64_t first = 1; first <= 551; first += 50) {
    ASSERT_EQ(PutAt(testing::SegmentKey("h017", "meter", first),
                    testing::SegmentLines("h017", "meter", first, first + 49), first, first + 49),
              PipelineOutcome::kAccepted);
  }
  int64_t from = kTs0 + 1000, to = kTs0 + 600 * 1000;
  auto segments = index_->Segments("h017", "meter", from, to);
  ASSERT_TRUE(segments.ok());
  ASSERT_GE(segments->size(), kSeriesSplitSegments);
  auto series = ComputeSeries(*store_, *segments, "v", from, to, 6, config_.max_line_bytes);
  ASSERT_TRUE(series.ok()) << series.error().message();
  EXPECT_EQ(series->total.count, 600u);
  EXPECT_EQ(series->total.first, 1);
  EXPECT_EQ(series->total.last, 600);
  ASSERT_EQ(series->buckets.size(), 6u);
  for (size_t i = 0; i < 6; ++i) {  // bucket i holds seqs 100i+1 .. 100i+100
    const SeriesBucket& b = series->buckets[i];
    EXPECT_EQ(b.count, 100u);
    EXPECT_EQ(b.first, static_cast<double>(100 * i + 1));
    EXPECT_EQ(b.last, static_cast<double>(100 * i + 100));
    EXPECT_DOUBLE_EQ(b.mean(), 100.0 * static_cast<double>(i) + 50.5);
  }
}

TEST_F(SeriesStoreTest, NoFieldListsFieldsFromTheNewestSegment) {
  std::string lines =
      R"({"device":"h017","source":"meter","seq":1,"ts":1000,"data":{"a":1,"s":"x","b":2.5}})"
      "\n";
  ASSERT_EQ(PutAt(testing::SegmentKey("h017", "meter", 1), lines, 1, 1),
            PipelineOutcome::kAccepted);
  auto segments = index_->Segments("h017", "meter", 0, 5000);
  ASSERT_TRUE(segments.ok());
  auto series = ComputeSeries(*store_, *segments, "", 0, 5000, 10, config_.max_line_bytes);
  ASSERT_TRUE(series.ok());
  EXPECT_EQ(series->fields, (std::set<std::string>{"a", "b"}));
  EXPECT_TRUE(series->buckets.empty());
  auto s = ComputeSeries(*store_, *segments, "s", 0, 5000, 10, config_.max_line_bytes);
  ASSERT_TRUE(s.ok());
  EXPECT_EQ(s->skipped, 1u);  // a string is not charted
  EXPECT_EQ(s->total.count, 0u);
}

}  // namespace
}  // namespace granary::receiver
