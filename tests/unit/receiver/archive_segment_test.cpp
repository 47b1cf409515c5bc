// Archive segments (bson.gz/1): the validator's verdicts with the message facts the index
// needs, and the index's message rows (duplicates by _id counted, not indexed twice).
#include <gtest/gtest.h>
#include <sqlite3.h>

#include "archive/message.h"
#include "receiver/index.h"
#include "receiver/validator.h"
#include "receiver_test_util.h"
#include "tests/support/test_util.h"

namespace granary::receiver {
namespace {

using namespace testing;

archive::ArchivedMessage Message(const std::string& device, uint64_t seq) {
  archive::ArchivedMessage m;
  m.id = archive::NewUuidV4();
  m.seq = static_cast<int64_t>(seq);
  m.ts_ms = 1732284000000 + static_cast<int64_t>(seq) * 10;
  m.device = device;
  m.source = "robot";
  m.topic = "arm/" + std::to_string(seq % 3);
  m.payload = std::string("\0\xff", 2) + std::to_string(seq);
  return m;
}

std::string Documents(const std::vector<archive::ArchivedMessage>& messages) {
  std::string out;
  for (const auto& m : messages) out += archive::EncodeBson(m);
  return out;
}

std::vector<archive::ArchivedMessage> Messages(uint64_t first, uint64_t last,
                                               const std::string& device = "h017") {
  std::vector<archive::ArchivedMessage> out;
  for (uint64_t s = first; s <= last; ++s) out.push_back(Message(device, s));
  return out;
}

std::string BsonKey(uint64_t first) {
  return fmt::format("granary/h017/robot/2024/11/22/h017-robot-20241122T14-{}.bson.gz", first);
}

class ArchiveValidatorTest : public ::testing::Test {
 protected:
  Validation Run(const std::string& raw, uint64_t first, uint64_t last) {
    std::string body = Gzip(raw);
    ObjectMeta meta = SegmentMeta(BsonKey(first), "h017", "robot", first, last, body);
    for (auto& [name, value] : meta.user_metadata) {
      if (name == "granary-format") value = "bson.gz/1";
    }
    std::string path = dir_.path() + "/body";
    WriteFile(path, body);
    return ValidateObject(path, meta, "granary");
  }
  granary::testing::TempDir dir_;
};

TEST_F(ArchiveValidatorTest, GoodSegmentGivesEveryMessagesPlace) {
  auto messages = Messages(5, 14);
  std::string raw = Documents(messages);
  Validation v = Run(raw, 5, 14);
  ASSERT_TRUE(v.ok) << v.reason;
  const SegmentFacts& f = v.segment;
  EXPECT_EQ(f.format, "bson.gz/1");
  EXPECT_EQ(f.source, "robot");
  EXPECT_EQ(f.first_seq, 5u);
  EXPECT_EQ(f.last_seq, 14u);
  EXPECT_EQ(f.count, 10u);
  EXPECT_EQ(f.raw_bytes, raw.size());
  EXPECT_EQ(f.content_sha256, Sha256Hex(raw));
  ASSERT_EQ(f.messages.size(), 10u);
  uint64_t offset = 0;
  for (size_t i = 0; i < messages.size(); ++i) {
    std::string doc = archive::EncodeBson(messages[i]);
    EXPECT_EQ(f.messages[i].id, archive::UuidText(messages[i].id));
    EXPECT_EQ(f.messages[i].seq, 5 + i);
    EXPECT_EQ(f.messages[i].topic, messages[i].topic);
    EXPECT_EQ(f.messages[i].offset, offset);
    EXPECT_EQ(f.messages[i].length, doc.size());
    EXPECT_EQ(raw.substr(offset, doc.size()), doc);
    offset += doc.size();
  }
}

TEST_F(ArchiveValidatorTest, BadSegmentsAreRejectedWithWhy) {
  auto gap = Messages(1, 10);
  gap.erase(gap.begin() + 4);
  Validation v = Run(Documents(gap), 1, 10);
  EXPECT_FALSE(v.ok);
  EXPECT_NE(v.reason.find("document 5 (byte"), std::string::npos) << v.reason;
  EXPECT_NE(v.reason.find("seq 6 after 4 (seqs must be contiguous)"), std::string::npos)
      << v.reason;

  auto other = Messages(1, 3);
  other[1].device = "h018";
  v = Run(Documents(other), 1, 3);
  EXPECT_FALSE(v.ok);
  EXPECT_NE(v.reason.find("device \"h018\" but the key is device \"h017\""), std::string::npos)
      << v.reason;

  std::string raw = Documents(Messages(1, 3));
  v = Run(raw.substr(0, raw.size() - 7), 1, 3);
  EXPECT_FALSE(v.ok);
  EXPECT_NE(v.reason.find("truncated document"), std::string::npos) << v.reason;

  v = Run(raw, 1, 4);  // metadata says 4 messages
  EXPECT_FALSE(v.ok);
  EXPECT_NE(v.reason.find("metadata granary-last-seq is 4 but the documents say 3"),
            std::string::npos)
      << v.reason;

  // An _id of the wrong binary subtype (3, the legacy UUID) fails the strict decode.
  std::string bad = raw;
  size_t at = bad.find(std::string("_id\0", 4));
  ASSERT_NE(at, std::string::npos);
  bad[at + 4 + 4] = 3;  // after the key: int32 length, then the subtype byte
  v = Run(bad, 1, 3);
  EXPECT_FALSE(v.ok);
  EXPECT_NE(v.reason.find("document 1 (byte 0): _id must be binary subtype 4"), std::string::npos)
      << v.reason;

  v = Run("", 1, 1);
  EXPECT_FALSE(v.ok);
  EXPECT_EQ(v.reason, "the segment has no documents");
}

class MessageIndexTest : public ::testing::Test {
 protected:
  MessageIndexTest() {
    config_.data_dir = dir_.path();
    auto index = OpenIndex(Env::Default(), config_);
    EXPECT_TRUE(index.ok()) << index.error().message();
    index_ = std::move(*index);
  }
  Result<RecordResult> Record(uint64_t first, const std::vector<archive::ArchivedMessage>& ms) {
    SegmentFacts f;
    f.format = "bson.gz/1";
    f.device = "h017";
    f.source = "robot";
    f.first_seq = first;
    f.last_seq = first + ms.size() - 1;
    f.count = ms.size();
    f.first_ts = ms.front().ts_ms;
    f.last_ts = ms.back().ts_ms;
    f.clock = "ok";
    f.content_sha256 = Sha256Hex(Documents(ms));
    uint64_t offset = 0;
    for (const auto& m : ms) {
      uint64_t len = archive::EncodeBson(m).size();
      f.messages.push_back(
          {archive::UuidText(m.id), m.topic, m.ts_ms, static_cast<uint64_t>(m.seq), offset, len});
      offset += len;
    }
    ObjectRow row;
    row.bucket = "granary";
    row.key = BsonKey(first);
    row.size = 1;
    row.md5_hex = "m";
    row.sha256_hex = f.content_sha256;
    row.kind = "segment";
    return index_->RecordSegment(row, f, 1);
  }
  granary::testing::TempDir dir_;
  ReceiverConfig config_;
  std::unique_ptr<Index> index_;
};

TEST_F(MessageIndexTest, MessagesAreIndexedOnceByIdAndPaged) {
  auto first = Messages(1, 10);
  auto r = Record(1, first);
  ASSERT_TRUE(r) << r.error().message();
  EXPECT_EQ(r->outcome, RecordOutcome::kIndexed);
  EXPECT_EQ(r->messages_indexed, 10u);
  EXPECT_EQ(r->messages_duplicate, 0u);

  // The next segment carries a redelivery of seq 7's message under seq 11 (same _id).
  auto second = Messages(11, 15);
  second[0].id = first[6].id;
  r = Record(11, second);
  ASSERT_TRUE(r) << r.error().message();
  EXPECT_EQ(r->outcome, RecordOutcome::kIndexed);
  EXPECT_EQ(r->messages_indexed, 4u);
  EXPECT_EQ(r->messages_duplicate, 1u);
  auto events = index_->Events("h017", 10);
  ASSERT_TRUE(events);
  EXPECT_EQ(events->front().kind, "accepted");
  EXPECT_EQ((*events)[1].kind, "duplicate-messages");
  EXPECT_NE((*events)[1].detail.find(archive::UuidText(first[6].id)), std::string::npos);

  auto one = index_->Message(archive::UuidText(first[6].id));
  ASSERT_TRUE(one && one->has_value());
  EXPECT_EQ((*one)->seq, 7u);  // the first one indexed stays
  EXPECT_EQ((*one)->key, BsonKey(1));

  // Pages of 4 in (ts, id) order cover the 14 messages once each.
  MessageQuery q;
  q.limit = 4;
  std::vector<uint64_t> seqs;
  for (int page = 0; page < 10; ++page) {
    auto rows = index_->Messages(q);
    ASSERT_TRUE(rows);
    for (const auto& m : *rows) seqs.push_back(m.seq);
    if (static_cast<int>(rows->size()) < q.limit) break;
    q.after.emplace(rows->back().ts, rows->back().id);
  }
  EXPECT_EQ(seqs, (std::vector<uint64_t>{1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 12, 13, 14, 15}));

  q = MessageQuery{};
  q.topic = "arm/1";
  q.from_ms = first[3].ts_ms;  // seq 4
  auto rows = index_->Messages(q);
  ASSERT_TRUE(rows);
  seqs.clear();
  for (const auto& m : *rows) seqs.push_back(m.seq);
  EXPECT_EQ(seqs, (std::vector<uint64_t>{4, 7, 10, 13}));

  auto of_segment = index_->SegmentMessages("granary", BsonKey(11));
  ASSERT_TRUE(of_segment);
  EXPECT_EQ(of_segment->size(), 4u);
  auto cover = index_->Coverage("h017", "robot", std::nullopt, std::nullopt);
  ASSERT_TRUE(cover);
  ASSERT_EQ(cover->ranges.size(), 1u);
  EXPECT_EQ(cover->ranges[0].last, 15u);
}

// An index written before archive segments (schema 1, no messages table) gains the table
// (and the multipart tables of schema 3, in_place of schema 4) and the current version when
// opened, and indexes messages from then on.
TEST_F(MessageIndexTest, SchemaOneIndexIsUpgradedOnOpen) {
  index_.reset();
  sqlite3* db = nullptr;
  ASSERT_EQ(sqlite3_open(config_.IndexPath().c_str(), &db), SQLITE_OK);
  ASSERT_EQ(sqlite3_exec(db,
                         "DROP TABLE messages; DROP INDEX IF EXISTS messages_by_ts; "
                         "UPDATE schema_version SET version = 1",
                         nullptr, nullptr, nullptr),
            SQLITE_OK);
  sqlite3_close(db);
  auto index = OpenIndex(Env::Default(), config_);
  ASSERT_TRUE(index) << index.error().message();
  index_ = std::move(*index);
  auto r = Record(1, Messages(1, 3));
  ASSERT_TRUE(r) << r.error().message();
  EXPECT_EQ(r->messages_indexed, 3u);
  ASSERT_EQ(sqlite3_open(config_.IndexPath().c_str(), &db), SQLITE_OK);
  sqlite3_stmt* stmt = nullptr;
  ASSERT_EQ(sqlite3_prepare_v2(db, "SELECT version FROM schema_version", -1, &stmt, nullptr),
            SQLITE_OK);
  ASSERT_EQ(sqlite3_step(stmt), SQLITE_ROW);
  EXPECT_EQ(sqlite3_column_int(stmt, 0), 4);  // 4: in_place
  sqlite3_finalize(stmt);
  EXPECT_EQ(sqlite3_exec(db, "SELECT count(*) FROM multipart_parts", nullptr, nullptr, nullptr),
            SQLITE_OK);
  EXPECT_EQ(sqlite3_exec(db, "SELECT count(*) FROM in_place", nullptr, nullptr, nullptr),
            SQLITE_OK);
  sqlite3_close(db);
}

}  // namespace
}  // namespace granary::receiver
