// Accepted bytes are immutable whatever the index says, and the index never claims a key
// the store cannot hold as a file.
#include <gtest/gtest.h>
#include <sqlite3.h>

#include <filesystem>

#include "pipeline_fixture.h"
#include "receiver/reindex.h"

namespace granary::receiver {
namespace {

using namespace testing;

// Runs `sql` on the index database from a connection of its own, as an operator would.
void ExecOnIndex(const std::string& path, const std::string& sql) {
  sqlite3* db = nullptr;
  ASSERT_EQ(sqlite3_open(path.c_str(), &db), SQLITE_OK);
  char* err = nullptr;
  EXPECT_EQ(sqlite3_exec(db, sql.c_str(), nullptr, nullptr, &err), SQLITE_OK) << err;
  sqlite3_free(err);
  sqlite3_close(db);
}

class ImmutableTest : public PipelineFixture {
 protected:
  PipelineOutcome Put(const std::string& key, uint64_t first, uint64_t last, int64_t ts0) {
    return PutAt(key, SegmentLines("h017", "meter", first, last, ts0), first, last);
  }
  // Uploads h017/meter [first, last] under `key` while the index refuses every segment (a
  // real SQLite error, raised by a trigger); the trigger is gone afterwards.
  ObjectMeta PutWithFailedCommit(const std::string& key, uint64_t first, uint64_t last) {
    ExecOnIndex(config_.IndexPath(),
                "CREATE TRIGGER full BEFORE INSERT ON segments "
                "BEGIN SELECT RAISE(ABORT, 'database or disk is full'); END;");
    std::string body = Gzip(SegmentLines("h017", "meter", first, last));
    ObjectMeta meta = SegmentMeta(key, "h017", "meter", first, last, body);
    auto r = pipeline_->Process(Quarantine(body, meta), meta);
    EXPECT_FALSE(r.ok());
    if (!r.ok()) {
      EXPECT_NE(r.error().message().find("full"), std::string::npos);
    }
    ExecOnIndex(config_.IndexPath(), "DROP TRIGGER full;");
    return meta;
  }
};

TEST_F(ImmutableTest, AcceptNeverReplacesAFileWithOtherBytes) {
  std::string key = SegmentKey("h017", "meter", 1);
  std::string path = store_->AcceptedPath("granary", key);
  std::filesystem::create_directories(std::filesystem::path(path).parent_path());
  WriteFile(path, "accepted bytes");
  std::string body = Gzip(SegmentLines("h017", "meter", 1, 10));
  ObjectMeta meta = SegmentMeta(key, "h017", "meter", 1, 10, body);
  EXPECT_FALSE(store_->Accept(Quarantine(body, meta), meta).ok());
  EXPECT_EQ(DigestFile(path)->sha256_hex, Sha256Hex("accepted bytes"));
}

TEST_F(ImmutableTest, AFileTheIndexDoesNotListIsAConflict) {
  std::string key = SegmentKey("h017", "meter", 1);
  ASSERT_EQ(Put(key, 1, 10, 1732284000000), PipelineOutcome::kAccepted);
  std::string path = store_->AcceptedPath("granary", key);
  std::string sha = DigestFile(path)->sha256_hex;
  // The index is lost; the store is not.
  pipeline_.reset();
  index_.reset();
  std::filesystem::remove(config_.IndexPath());
  OpenIndexAndPipeline();
  EXPECT_EQ(Put(key, 1, 10, 5), PipelineOutcome::kConflict);
  EXPECT_EQ(DigestFile(path)->sha256_hex, sha);
  EXPECT_EQ(index_->Counts()->segments, 0u);
}

TEST_F(ImmutableTest, AKeyUnderAnotherOrAboveItIsRefusedAndNotIndexed) {
  ASSERT_EQ(Put("granary/h017/meter/a", 1, 3, 0), PipelineOutcome::kAccepted);
  EXPECT_EQ(Put("granary/h017/meter/a/b", 4, 6, 0), PipelineOutcome::kInvalidName);
  ASSERT_EQ(Put("granary/h017/meter/c/d", 11, 13, 0), PipelineOutcome::kAccepted);
  EXPECT_EQ(Put("granary/h017/meter/c", 14, 16, 0), PipelineOutcome::kInvalidName);
  EXPECT_EQ(*index_->KeyClash("granary", "granary/h017/meter/a/b/c"), "granary/h017/meter/a");
  EXPECT_EQ(*index_->KeyClash("granary", "granary/h017/meter"), "granary/h017/meter/a");
  EXPECT_EQ(*index_->KeyClash("granary", "granary/h017/meter/ab"), "");
  EXPECT_EQ(index_->Counts()->segments, 2u);
  EXPECT_TRUE(store_->SealedQuarantine(0).empty());
}

TEST_F(ImmutableTest, AFailedIndexCommitNeverClaimsBytesAndRecoveryIndexesThem) {
  std::string key = SegmentKey("h017", "meter", 1);
  ObjectMeta meta = PutWithFailedCommit(key, 1, 10);
  // The index claims nothing; the bytes are placed and their quarantine entry explains them.
  EXPECT_EQ(index_->Counts()->segments, 0u);
  EXPECT_TRUE(store_->AcceptedExists("granary", key));
  EXPECT_EQ(store_->SealedQuarantine(0).size(), 1u);
  EXPECT_EQ(*IndexBehindStore(*index_, *store_), "");
  // The database is mended; the restart's recovery indexes the entry.
  ASSERT_EQ(*pipeline_->Recover(), 1u);
  auto cov = index_->Coverage("h017", "meter", std::nullopt, std::nullopt);
  ASSERT_EQ(cov->ranges.size(), 1u);
  EXPECT_EQ(cov->ranges[0].first, 1u);
  EXPECT_EQ(cov->ranges[0].last, 10u);
  EXPECT_TRUE(store_->SealedQuarantine(0).empty());
  EXPECT_EQ(DigestFile(store_->AcceptedPath("granary", key))->sha256_hex, meta.sha256_hex);
}

TEST_F(ImmutableTest, ARefusalAfterAnEarlierPlacementRemovesTheFileToo) {
  std::string key = SegmentKey("h017", "meter", 5);
  PutWithFailedCommit(key, 5, 14);
  ASSERT_TRUE(store_->AcceptedExists("granary", key));  // placed; the commit failed
  // Meanwhile another key took seqs 1-10: recovery's attempt is a conflict, and the file
  // the first attempt placed must go although this attempt did not create it.
  ASSERT_EQ(Put(SegmentKey("h017", "meter", 1), 1, 10, 1732284000000), PipelineOutcome::kAccepted);
  ASSERT_EQ(*pipeline_->Recover(), 1u);
  EXPECT_FALSE(store_->AcceptedExists("granary", key));
  EXPECT_EQ(*IndexBehindStore(*index_, *store_), "");
  EXPECT_EQ(index_->Counts()->conflicts, 1u);
}

TEST_F(ImmutableTest, AFailedPlacementLeavesTheIndexUnchanged) {
  // accepted/granary cannot be a directory: every placement under it fails.
  std::filesystem::create_directories(dir_.path() + "/accepted");
  WriteFile(dir_.path() + "/accepted/granary", "in the way");
  std::string key = SegmentKey("h017", "meter", 1);
  std::string body = Gzip(SegmentLines("h017", "meter", 1, 10));
  ObjectMeta meta = SegmentMeta(key, "h017", "meter", 1, 10, body);
  auto r = pipeline_->Process(Quarantine(body, meta), meta);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(index_->Counts()->segments, 0u);
  EXPECT_EQ(index_->Counts()->coverage_ranges, 0u);
}

TEST_F(ImmutableTest, AnIndexRefusalRemovesOnlyTheNameItPlaced) {
  ASSERT_EQ(Put(SegmentKey("h017", "meter", 1), 1, 10, 1732284000000), PipelineOutcome::kAccepted);
  // Other key, overlapping seqs: a conflict the index finds after the placement.
  std::string other = SegmentKey("h017", "meter", 5);
  EXPECT_EQ(Put(other, 5, 14, 1732284000000), PipelineOutcome::kConflict);
  EXPECT_FALSE(store_->AcceptedExists("granary", other));
  EXPECT_TRUE(store_->AcceptedExists("granary", SegmentKey("h017", "meter", 1)));
  EXPECT_EQ(*IndexBehindStore(*index_, *store_), "");
}

}  // namespace
}  // namespace granary::receiver
