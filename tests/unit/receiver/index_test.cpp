// The SQLite index: exactly once (duplicate, key conflict, seq overlap), coverage ranges
// merged in any arrival order, gaps split by tombstones; and the pipeline over a real store.
#include "receiver/index.h"

#include <gtest/gtest.h>

#include "pipeline_fixture.h"
#include "receiver/pipeline.h"
#include "receiver_test_util.h"
#include "tests/support/test_util.h"

namespace granary::receiver {
namespace {

using namespace testing;

SegmentFacts Facts(uint64_t first, uint64_t last, const std::string& content = "") {
  SegmentFacts f;
  f.device = "h017";
  f.source = "meter";
  f.first_seq = first;
  f.last_seq = last;
  f.count = last - first + 1;
  f.first_ts = static_cast<int64_t>(first) * 1000;
  f.last_ts = static_cast<int64_t>(last) * 1000;
  f.clock = "ok";
  f.content_sha256 = content.empty() ? Sha256Hex(std::to_string(first)) : content;
  return f;
}

ObjectRow Row(uint64_t first, const std::string& sha = "") {
  ObjectRow r;
  r.bucket = "granary";
  r.key = SegmentKey("h017", "meter", first);
  r.size = 10;
  r.md5_hex = "m";
  r.sha256_hex = sha.empty() ? Sha256Hex("bytes" + std::to_string(first)) : sha;
  r.kind = "segment";
  return r;
}

class IndexTest : public ::testing::Test {
 protected:
  IndexTest() {
    config_.data_dir = dir_.path();
    auto index = OpenIndex(Env::Default(), config_);
    EXPECT_TRUE(index.ok()) << index.error().message();
    index_ = std::move(*index);
  }
  RecordOutcome Add(uint64_t first, uint64_t last) {
    auto r = index_->RecordSegment(Row(first), Facts(first, last), 1);
    EXPECT_TRUE(r.ok());
    return r->outcome;
  }
  SourceCoverage Cover() {
    auto c = index_->Coverage("h017", "meter", std::nullopt, std::nullopt);
    EXPECT_TRUE(c.ok());
    return *c;
  }
  granary::testing::TempDir dir_;
  ReceiverConfig config_;
  std::unique_ptr<Index> index_;
};

TEST_F(IndexTest, RangesMergeInAnyOrder) {
  EXPECT_EQ(Add(21, 30), RecordOutcome::kIndexed);
  EXPECT_EQ(Add(1, 10), RecordOutcome::kIndexed);
  SourceCoverage c = Cover();
  ASSERT_EQ(c.ranges.size(), 2u);
  ASSERT_EQ(c.gaps.size(), 1u);
  EXPECT_EQ(c.gaps[0].first, 11u);
  EXPECT_EQ(c.gaps[0].last, 20u);
  EXPECT_FALSE(c.gaps[0].explained);
  EXPECT_EQ(Add(11, 20), RecordOutcome::kIndexed);
  c = Cover();
  ASSERT_EQ(c.ranges.size(), 1u);
  EXPECT_EQ(c.ranges[0].first, 1u);
  EXPECT_EQ(c.ranges[0].last, 30u);
  EXPECT_TRUE(c.gaps.empty());
  EXPECT_EQ(c.readings, 30u);
  auto counts = index_->Counts();
  EXPECT_EQ(counts->segments, 3u);
  EXPECT_EQ(counts->coverage_ranges, 1u);
  auto device = index_->Device("h017");
  EXPECT_EQ((*device)->readings, 30u);
}

TEST_F(IndexTest, SameKeySameBytesIsDuplicate) {
  EXPECT_EQ(Add(1, 10), RecordOutcome::kIndexed);
  EXPECT_EQ(Add(1, 10), RecordOutcome::kDuplicate);
  EXPECT_EQ(Cover().readings, 10u);
}

TEST_F(IndexTest, SameKeyOtherBytesSameReadingsIsDuplicate) {
  EXPECT_EQ(Add(1, 10), RecordOutcome::kIndexed);
  auto r = index_->RecordSegment(Row(1, Sha256Hex("other gzip")), Facts(1, 10), 2);
  EXPECT_EQ(r->outcome, RecordOutcome::kDuplicate);
}

TEST_F(IndexTest, SameKeyOtherContentIsConflictAndChangesNothing) {
  EXPECT_EQ(Add(1, 10), RecordOutcome::kIndexed);
  auto r =
      index_->RecordSegment(Row(1, Sha256Hex("other")), Facts(1, 10, Sha256Hex("other lines")), 2);
  EXPECT_EQ(r->outcome, RecordOutcome::kConflict);
  auto o = index_->FindObject("granary", SegmentKey("h017", "meter", 1));
  EXPECT_EQ((*o)->sha256_hex, Row(1).sha256_hex);
}

TEST_F(IndexTest, OverlappingSeqsUnderAnotherKeyAreConflict) {
  EXPECT_EQ(Add(1, 10), RecordOutcome::kIndexed);
  auto r = index_->RecordSegment(Row(5), Facts(5, 15), 2);
  EXPECT_EQ(r->outcome, RecordOutcome::kConflict);
  EXPECT_NE(r->detail.find("overlap"), std::string::npos);
  EXPECT_EQ(Cover().readings, 10u);
}

TEST_F(IndexTest, TombstonesExplainGaps) {
  EXPECT_EQ(Add(1, 10), RecordOutcome::kIndexed);
  EXPECT_EQ(Add(31, 40), RecordOutcome::kIndexed);
  TombstoneFacts t{"h017", "meter", "quota", 11, 20, 10, 5};
  ObjectRow row = Row(11);
  row.key = "granary/h017/meter/tombstones/h017-meter-11-20.tombstone.json";
  row.kind = "tombstone";
  EXPECT_EQ(index_->RecordTombstone(row, t, 3)->outcome, RecordOutcome::kIndexed);
  EXPECT_EQ(index_->RecordTombstone(row, t, 3)->outcome, RecordOutcome::kDuplicate);
  SourceCoverage c = Cover();
  ASSERT_EQ(c.gaps.size(), 2u);
  EXPECT_TRUE(c.gaps[0].explained);
  EXPECT_EQ(c.gaps[0].first, 11u);
  EXPECT_EQ(c.gaps[0].last, 20u);
  EXPECT_EQ(c.gaps[0].reason, "quota");
  EXPECT_FALSE(c.gaps[1].explained);
  EXPECT_EQ(c.gaps[1].first, 21u);
  EXPECT_EQ(c.gaps[1].last, 30u);
}

TEST_F(IndexTest, WiderTombstoneFromTheSameSeqWidensNarrowerIsConflict) {
  EXPECT_EQ(Add(1, 10), RecordOutcome::kIndexed);
  EXPECT_EQ(Add(41, 50), RecordOutcome::kIndexed);
  auto tombstone = [&](uint64_t last) {
    ObjectRow row = Row(11);
    row.key = fmt::format("granary/h017/meter/tombstones/h017-meter-11-{}.tombstone.json", last);
    row.sha256_hex = Sha256Hex(row.key);
    row.kind = "tombstone";
    TombstoneFacts t{"h017", "meter", "quota", 11, last, last - 10, 5};
    return index_->RecordTombstone(row, t, 3)->outcome;
  };
  EXPECT_EQ(tombstone(20), RecordOutcome::kIndexed);
  EXPECT_EQ(tombstone(40), RecordOutcome::kIndexed);
  EXPECT_EQ(tombstone(30), RecordOutcome::kConflict);
  EXPECT_EQ(tombstone(40), RecordOutcome::kDuplicate);  // the same key and bytes again
  SourceCoverage c = Cover();
  ASSERT_EQ(c.tombstones.size(), 1u);
  EXPECT_EQ(c.tombstones[0].last, 40u);
  ASSERT_EQ(c.gaps.size(), 1u);
  EXPECT_TRUE(c.gaps[0].explained);
  EXPECT_EQ(c.gaps[0].last, 40u);
}

TEST_F(IndexTest, ListObjectsByPrefixInKeyOrder) {
  Add(1, 10);
  Add(11, 20);
  Add(100, 110);
  auto all = index_->ListObjects("granary", "granary/h017/", "", 10);
  ASSERT_EQ(all->size(), 3u);
  EXPECT_LT((*all)[0].key, (*all)[1].key);
  auto after = index_->ListObjects("granary", "granary/h017/", (*all)[0].key, 10);
  EXPECT_EQ(after->size(), 2u);
  EXPECT_TRUE(index_->ListObjects("granary", "granary/h018/", "", 10)->empty());
}

// A key's in-place location keeps its first bytes: the same bytes under a new ETag update the
// ETag, other bytes leave the row as it was; only a refused row's own bytes remove it.
TEST_F(IndexTest, InPlaceKeepsTheFirstBytesOfAKey) {
  const std::string a(64, 'a'), b(64, 'b');
  auto first = index_->RecordInPlace({"src", "k", "e1", a, 10});
  ASSERT_TRUE(first.ok()) << first.error().message();
  EXPECT_EQ(first->etag, "e1");
  auto same = index_->RecordInPlace({"src", "k", "e2", a, 10});
  ASSERT_TRUE(same.ok());
  EXPECT_EQ(same->etag, "e2");
  auto other = index_->RecordInPlace({"src", "k", "e3", b, 11});
  ASSERT_TRUE(other.ok());
  EXPECT_EQ(other->sha256_hex, a);
  EXPECT_EQ(other->etag, "e2");
  ASSERT_TRUE(index_->ForgetInPlace("src", "k", b).ok());
  EXPECT_TRUE(index_->FindInPlace("src", "k")->has_value());
  ASSERT_TRUE(index_->ForgetInPlace("src", "k", a).ok());
  EXPECT_FALSE(index_->FindInPlace("src", "k")->has_value());
  EXPECT_TRUE(index_->AllInPlace()->empty());
}

TEST(FindGapsTest, SplitsHolesByTombstones) {
  std::vector<SeqRange> ranges = {{5, 10}, {20, 30}};
  std::vector<std::pair<SeqRange, std::string>> tomb = {{{12, 14}, "quota"}, {{40, 45}, "quota"}};
  std::vector<Gap> gaps = FindGaps(ranges, tomb);
  ASSERT_EQ(gaps.size(), 6u);
  EXPECT_EQ(gaps[0].first, 1u);    // 1..4 unexplained
  EXPECT_EQ(gaps[1].first, 11u);   // 11 unexplained
  EXPECT_TRUE(gaps[2].explained);  // 12..14
  EXPECT_EQ(gaps[3].first, 15u);   // 15..19 unexplained
  EXPECT_EQ(gaps[4].first, 31u);   // 31..39 unexplained
  EXPECT_TRUE(gaps[5].explained);  // 40..45
  EXPECT_EQ(gaps[5].last, 45u);
}

// The pipeline over a real store and index: accept, duplicate, conflict, reject, recover.
class PipelineTest : public PipelineFixture {
 protected:
  PipelineOutcome Put(const std::string& lines, uint64_t first, uint64_t last) {
    return PutAt(SegmentKey("h017", "meter", first), lines, first, last);
  }
};

TEST_F(PipelineTest, AcceptDuplicateConflictReject) {
  EXPECT_EQ(Put(SegmentLines("h017", "meter", 1, 10), 1, 10), PipelineOutcome::kAccepted);
  EXPECT_TRUE(store_->AcceptedExists("granary", SegmentKey("h017", "meter", 1)));
  EXPECT_EQ(Put(SegmentLines("h017", "meter", 1, 10), 1, 10), PipelineOutcome::kDuplicate);
  EXPECT_EQ(Put(SegmentLines("h017", "meter", 1, 10, 5), 1, 10), PipelineOutcome::kConflict);
  EXPECT_EQ(Put(SegmentLines("h017", "meter", 1, 4) + SegmentLines("h017", "meter", 6, 10), 1, 10),
            PipelineOutcome::kRejected);
  auto counts = index_->Counts();
  EXPECT_EQ(counts->segments, 1u);
  EXPECT_EQ(counts->conflicts, 1u);
  EXPECT_EQ(counts->rejections, 1u);
  auto events = index_->Events("h017", 10);
  ASSERT_EQ(events->size(), 3u);
  EXPECT_EQ((*events)[0].kind, "rejected");
  EXPECT_EQ((*events)[1].kind, "conflict");
  EXPECT_EQ((*events)[2].kind, "accepted");
  // Nothing left in quarantine; the accepted bytes are the first ones.
  EXPECT_TRUE(store_->SealedQuarantine(0).empty());
  auto digest = DigestFile(store_->AcceptedPath("granary", SegmentKey("h017", "meter", 1)));
  EXPECT_EQ(digest->sha256_hex, Sha256Hex(Gzip(SegmentLines("h017", "meter", 1, 10))));
}

TEST_F(PipelineTest, RecoverFinishesWhatACrashLeft) {
  std::string body = Gzip(SegmentLines("h017", "meter", 1, 10));
  ObjectMeta meta = SegmentMeta(SegmentKey("h017", "meter", 1), "h017", "meter", 1, 10, body);
  // Crash after indexing, before the move: the index has it, accepted/ does not.
  std::string id = Quarantine(body, meta);
  ObjectRow row;
  Validation v = ValidateObject(store_->QuarantineBodyPath(id), meta, config_.prefix);
  ASSERT_TRUE(v.ok);
  row.bucket = meta.bucket;
  row.key = meta.key;
  row.size = meta.size;
  row.md5_hex = meta.md5_hex;
  row.sha256_hex = meta.sha256_hex;
  row.kind = "segment";
  ASSERT_EQ(index_->RecordSegment(row, v.segment, 1)->outcome, RecordOutcome::kIndexed);
  EXPECT_FALSE(store_->AcceptedExists(meta.bucket, meta.key));
  auto n = pipeline_->Recover();
  ASSERT_TRUE(n.ok());
  EXPECT_EQ(*n, 1u);
  EXPECT_TRUE(store_->AcceptedExists(meta.bucket, meta.key));
  EXPECT_EQ(index_->Counts()->segments, 1u);
  EXPECT_TRUE(store_->SealedQuarantine(0).empty());
}

}  // namespace
}  // namespace granary::receiver

namespace granary::receiver {
namespace {

TEST_F(PipelineTest, RecoverAfterTheMoveOnlyDropsTheSidecar) {
  std::string body = testing::Gzip(testing::SegmentLines("h017", "meter", 1, 10));
  ObjectMeta meta =
      testing::SegmentMeta(testing::SegmentKey("h017", "meter", 1), "h017", "meter", 1, 10, body);
  std::string id = Quarantine(body, meta);
  ASSERT_EQ(pipeline_->Process(id, meta)->outcome, PipelineOutcome::kAccepted);
  // A crash after the body's rename, before the sidecar was removed.
  ASSERT_TRUE(store_->SealQuarantine(id, meta).ok());
  auto n = pipeline_->Recover();
  ASSERT_TRUE(n.ok());
  EXPECT_TRUE(store_->SealedQuarantine(0).empty());
  auto counts = index_->Counts();
  EXPECT_EQ(counts->segments, 1u);
  EXPECT_EQ(counts->rejections, 0u);
  EXPECT_TRUE(store_->AcceptedExists(meta.bucket, meta.key));
}

}  // namespace
}  // namespace granary::receiver
