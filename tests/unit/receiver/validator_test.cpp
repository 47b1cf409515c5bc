// Every way a segment can be wrong ends in a rejection that says why; good segments and
// tombstones pass with the facts the index needs.
#include "receiver/validator.h"

#include <gtest/gtest.h>

#include "receiver_test_util.h"
#include "tests/support/test_util.h"

namespace granary::receiver {
namespace {

using namespace testing;

class ValidatorTest : public ::testing::Test {
 protected:
  Validation Run(const std::string& body, const ObjectMeta& meta) {
    std::string path = dir_.path() + "/body";
    WriteFile(path, body);
    return ValidateObject(path, meta, "granary");
  }
  Validation RunLines(const std::string& lines, uint64_t first = 1, uint64_t last = 10) {
    std::string body = Gzip(lines);
    return Run(body,
               SegmentMeta(SegmentKey("h017", "meter", first), "h017", "meter", first, last, body));
  }
  granary::testing::TempDir dir_;
};

TEST_F(ValidatorTest, GoodSegmentGivesItsFacts) {
  Validation v = RunLines(SegmentLines("h017", "meter", 1, 10));
  ASSERT_TRUE(v.ok) << v.reason;
  EXPECT_EQ(v.kind, ObjectKind::kSegment);
  EXPECT_EQ(v.segment.device, "h017");
  EXPECT_EQ(v.segment.source, "meter");
  EXPECT_EQ(v.segment.first_seq, 1u);
  EXPECT_EQ(v.segment.last_seq, 10u);
  EXPECT_EQ(v.segment.count, 10u);
  EXPECT_EQ(v.segment.first_ts, 1732284001000);
  EXPECT_EQ(v.segment.last_ts, 1732284010000);
  EXPECT_EQ(v.segment.clock, "ok");
  EXPECT_EQ(v.segment.content_sha256, Sha256Hex(SegmentLines("h017", "meter", 1, 10)));
}

TEST_F(ValidatorTest, CorruptGzipIsRejected) {
  std::string body = Gzip(SegmentLines("h017", "meter", 1, 10));
  body[body.size() / 2] ^= 0x55;
  Validation v =
      Run(body, SegmentMeta(SegmentKey("h017", "meter", 1), "h017", "meter", 1, 10, body));
  EXPECT_FALSE(v.ok);
  EXPECT_NE(v.reason.find("gzip"), std::string::npos) << v.reason;
}

TEST_F(ValidatorTest, TruncatedGzipIsRejected) {
  std::string body = Gzip(SegmentLines("h017", "meter", 1, 10));
  body.resize(body.size() - 6);
  Validation v =
      Run(body, SegmentMeta(SegmentKey("h017", "meter", 1), "h017", "meter", 1, 10, body));
  EXPECT_FALSE(v.ok);
  EXPECT_NE(v.reason.find("truncated"), std::string::npos) << v.reason;
}

TEST_F(ValidatorTest, NonJsonLineIsRejectedWithItsNumber) {
  std::string lines = SegmentLines("h017", "meter", 1, 3) + "<html>502 Bad Gateway</html>\n" +
                      SegmentLines("h017", "meter", 4, 10);
  Validation v = RunLines(lines);
  EXPECT_FALSE(v.ok);
  EXPECT_EQ(v.reason, "line 4: not a JSON object");
}

TEST_F(ValidatorTest, DuplicateKeyAtAnyDepthIsRejected) {
  std::string top =
      R"({"device":"h017","source":"meter","seq":4,"ts":1,"device":"h018","data":{}})";
  std::string deep =
      R"({"device":"h017","source":"meter","seq":4,"ts":1,"data":{"a":[{"v":1,"v":2}]}})";
  Validation v = RunLines(SegmentLines("h017", "meter", 1, 3) + top + "\n" +
                          SegmentLines("h017", "meter", 5, 10));
  EXPECT_FALSE(v.ok);
  EXPECT_EQ(v.reason, "line 4: the key \"device\" appears twice");
  v = RunLines(SegmentLines("h017", "meter", 1, 3) + deep + "\n" +
               SegmentLines("h017", "meter", 5, 10));
  EXPECT_FALSE(v.ok);
  EXPECT_EQ(v.reason, "line 4: the key \"v\" appears twice");
}

TEST_F(ValidatorTest, LineThatIsNotUtf8IsRejected) {
  std::string bad =
      "{\"device\":\"h017\",\"source\":\"meter\",\"seq\":4,\"ts\":1,\"data\":{\"s\":\"\xff\"}}";
  Validation v = RunLines(SegmentLines("h017", "meter", 1, 3) + bad + "\n" +
                          SegmentLines("h017", "meter", 5, 10));
  EXPECT_FALSE(v.ok);
  EXPECT_EQ(v.reason, "line 4: not valid UTF-8");
}

TEST_F(ValidatorTest, SeqHoleIsRejected) {
  Validation v =
      RunLines(SegmentLines("h017", "meter", 1, 4) + SegmentLines("h017", "meter", 6, 11));
  EXPECT_FALSE(v.ok);
  EXPECT_EQ(v.reason, "line 5: seq 6 after 4 (seqs must be contiguous)");
}

TEST_F(ValidatorTest, WrongDeviceInLinesIsRejected) {
  Validation v =
      RunLines(SegmentLines("h017", "meter", 1, 5) + SegmentLines("h099", "meter", 6, 10));
  EXPECT_FALSE(v.ok);
  EXPECT_EQ(v.reason, "line 6: device \"h099\" but the key is device \"h017\"");
}

TEST_F(ValidatorTest, CountMismatchIsRejected) {
  std::string body = Gzip(SegmentLines("h017", "meter", 1, 10));
  ObjectMeta meta = SegmentMeta(SegmentKey("h017", "meter", 1), "h017", "meter", 1, 10, body);
  for (auto& [n, v] : meta.user_metadata) {
    if (n == "granary-count") v = "11";
  }
  Validation v = Run(body, meta);
  EXPECT_FALSE(v.ok);
  EXPECT_EQ(v.reason, "metadata granary-count is 11 but the lines say 10");
}

TEST_F(ValidatorTest, LastSeqMismatchIsRejected) {
  Validation v = RunLines(SegmentLines("h017", "meter", 1, 9), 1, 10);
  EXPECT_FALSE(v.ok);
  EXPECT_EQ(v.reason, "metadata granary-last-seq is 10 but the lines say 9");
}

TEST_F(ValidatorTest, SourceNotInKeyIsRejected) {
  Validation v = RunLines(SegmentLines("h017", "other", 1, 10));
  EXPECT_FALSE(v.ok);
}

TEST_F(ValidatorTest, KeyOutsideDevicePrefixIsRejected) {
  std::string body = Gzip(SegmentLines("h017", "meter", 1, 10));
  ObjectMeta meta = SegmentMeta("elsewhere/x.jsonl.gz", "h017", "meter", 1, 10, body);
  EXPECT_FALSE(Run(body, meta).ok);
}

TEST_F(ValidatorTest, EmptyAndGarbageAreRejected) {
  ObjectMeta meta = SegmentMeta(SegmentKey("h017", "meter", 1), "h017", "meter", 1, 10, "");
  EXPECT_FALSE(Run("", meta).ok);
  EXPECT_FALSE(Run(Gzip(""), meta).ok);
  std::string good = Gzip(SegmentLines("h017", "meter", 1, 10));
  EXPECT_FALSE(Run(good + "trailing", meta).ok);
}

TEST_F(ValidatorTest, UnsyncedClockIsMixed) {
  std::string lines = SegmentLines("h017", "meter", 1, 9);
  lines += R"({"device":"h017","source":"meter","seq":10,"ts":5,"clock":"unsynced","data":{}})"
           "\n";
  Validation v = RunLines(lines);
  ASSERT_TRUE(v.ok) << v.reason;
  EXPECT_EQ(v.segment.clock, "mixed");
}

TEST_F(ValidatorTest, TombstonePasses) {
  std::string body =
      R"({"device":"h017","source":"meter","first_seq":11,"last_seq":20,"count":10,"reason":"quota","at":5})"
      "\n";
  ObjectMeta meta;
  meta.bucket = "granary";
  meta.key = "granary/h017/meter/tombstones/h017-meter-11-20.tombstone.json";
  meta.size = body.size();
  meta.user_metadata = {{"granary-device", "h017"}, {"granary-format", "tombstone/1"}};
  Validation v = Run(body, meta);
  ASSERT_TRUE(v.ok) << v.reason;
  EXPECT_EQ(v.kind, ObjectKind::kTombstone);
  EXPECT_EQ(v.tombstone.first_seq, 11u);
  EXPECT_EQ(v.tombstone.last_seq, 20u);
  EXPECT_EQ(v.tombstone.reason, "quota");
}

TEST(DeviceOfKeyTest, ReadsTheSegmentAfterThePrefix) {
  EXPECT_EQ(DeviceOfKey("granary/h017/meter/x", "granary"), "h017");
  EXPECT_EQ(DeviceOfKey("h017/meter/x", ""), "h017");
  EXPECT_EQ(DeviceOfKey("granaryX/h017/meter/x", "granary"), "");
  EXPECT_EQ(DeviceOfKey("granary/h017", "granary"), "");
}

}  // namespace
}  // namespace granary::receiver
