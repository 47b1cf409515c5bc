// Damaged state files never delete data: a database that is emptied, replaced, corrupt or
// missing its WAL is moved aside, every segment file is adopted, seqs continue above all
// ever issued, and what could not be recovered is a dropped range with its reason, the
// same offline and online.
#include <set>
#include <sstream>

#include "tests/unit/storage/buffer_fixture.h"

namespace granary {
namespace {

using namespace buffer_fixture;  // NOLINT(google-build-using-namespace)

class StateLossTest : public BufferTest {
 protected:
  // Five sealed segments of "m" (seq 1-50) and `buffered` readings after them, then a
  // clean stop. Returns the segment files.
  std::vector<std::string> FiveSealed(int buffered = 0) {
    auto b = OpenBuffer(Options());
    for (int i = 0; i < 5; ++i) {
      EXPECT_EQ(b->Submit(Make("m", 10, kT0 + i * 60'000, 1000), milliseconds{1000}), 10u);
      EXPECT_TRUE(b->Flush().ok());
    }
    if (buffered > 0) {
      EXPECT_EQ(b->Submit(Make("m", buffered, kT0 + 600'000, 1000), milliseconds{1000}),
                static_cast<size_t>(buffered));
    }
    b->Stop(/*seal=*/false);
    return SegmentFiles();
  }

  std::string Path(const std::string& name) { return dir_.path() + "/" + name; }
  void Remove(const std::string& name) { fs::remove(Path(name)); }
  void Truncate(const std::string& name) { fs::resize_file(Path(name), 0); }

  // Copies the state dir's database, WAL-less, as a crash would leave it if the WAL were
  // then lost; the buffer must still be open.
  void CopyDatabaseWithoutWal(const std::string& to_dir) {
    fs::copy_file(Path("buffer.db"), to_dir + "/buffer.db");
  }

  std::set<std::string> Contains(const std::vector<std::string>& before) {
    std::vector<std::string> now = SegmentFiles();
    std::set<std::string> missing(before.begin(), before.end());
    for (const auto& f : now) missing.erase(f);
    return missing;
  }

  // The drops recorded, as "first-last reason".
  std::vector<std::string> Drops() {
    std::vector<std::string> out;
    sqlite3* raw = nullptr;
    sqlite3_open_v2(BufferDbPath(dir_.path()).c_str(), &raw, SQLITE_OPEN_READONLY, nullptr);
    SqliteDb db(raw);
    sqlite3_stmt* st = nullptr;
    sqlite3_prepare_v2(raw, "SELECT first_seq, last_seq, reason FROM drops ORDER BY id", -1, &st,
                       nullptr);
    SqliteStmt stmt(st);
    while (sqlite3_step(st) == SQLITE_ROW) {
      out.push_back(fmt::format("{}-{} {}", sqlite3_column_int64(st, 0),
                                sqlite3_column_int64(st, 1),
                                reinterpret_cast<const char*>(sqlite3_column_text(st, 2))));
    }
    return out;
  }

  // What the daemon reports and what `granary status` reads offline must agree.
  void ExpectSameOfflineAndOnline(Buffer& b) {
    BufferStats online = b.Stats();
    auto offline = InspectBuffer(env_, dir_.path());
    ASSERT_TRUE(offline.ok()) << offline.error().message();
    EXPECT_EQ(offline->state_losses, online.state_losses);
    EXPECT_EQ(offline->buffers_moved_aside, online.buffers_moved_aside);
    EXPECT_EQ(offline->dropped_readings, online.dropped_readings);
    EXPECT_EQ(offline->possibly_lost, online.possibly_lost);
    EXPECT_EQ(offline->segments_sealed, online.segments_sealed);
    EXPECT_EQ(offline->last_state_loss, online.last_state_loss);
    EXPECT_EQ(offline->usage_bytes, online.usage_bytes);
  }

  // New readings get seqs above `above`, and every segment holds each seq once.
  void ExpectSeqsContinueAbove(Buffer& b, uint64_t above) {
    ASSERT_EQ(b.Submit(Make("m", 3, kT0 + 900'000, 1000), milliseconds{1000}), 3u);
    ASSERT_TRUE(b.Flush().ok());
    std::vector<Line> lines = AllLines("m");
    std::set<uint64_t> seen;
    for (const Line& l : lines)
      EXPECT_TRUE(seen.insert(l.seq).second) << "seq " << l.seq << " twice";
    ASSERT_GE(lines.size(), 3u);
    EXPECT_GT(lines[lines.size() - 3].seq, above) << "a seq that may be in S3 was reused";
  }
};

TEST_F(StateLossTest, AnEmptiedDatabaseAdoptsEverySegmentAndDeletesNothing) {
  std::vector<std::string> before = FiveSealed();
  ASSERT_EQ(before.size(), 5u);
  Truncate("buffer.db");
  Remove("buffer.db-wal");
  Remove("buffer.db-shm");
  auto b = OpenBuffer(Options());
  ASSERT_NE(b, nullptr);
  EXPECT_TRUE(Contains(before).empty()) << "a segment file was deleted";
  BufferStats st = b->Stats();
  EXPECT_EQ(st.segments_sealed, 5u) << "the sealed segments were not adopted";
  EXPECT_EQ(st.state_losses, 1u);
  EXPECT_EQ(st.buffers_moved_aside, 1u);
  EXPECT_NE(st.last_state_loss.find("new or empty"), std::string::npos) << st.last_state_loss;
  EXPECT_EQ(st.last_seq["m"], 50u);
  EXPECT_TRUE(Drops().empty()) << "a clean stop with everything sealed lost nothing";
  ExpectSeqsContinueAbove(*b, 50);
  ExpectSameOfflineAndOnline(*b);
}

TEST_F(StateLossTest, AHeaderOnlyDatabaseIsAStateLossNotAFreshStart) {
  std::vector<std::string> before = FiveSealed(/*buffered=*/7);
  Remove("buffer.db");
  Remove("buffer.db-wal");
  Remove("buffer.db-shm");
  {
    sqlite3* raw = nullptr;
    ASSERT_EQ(sqlite3_open(Path("buffer.db").c_str(), &raw), SQLITE_OK);
    SqliteDb db(raw);
    ASSERT_EQ(sqlite3_exec(raw, "PRAGMA user_version=0; VACUUM", nullptr, nullptr, nullptr),
              SQLITE_OK);
  }
  auto b = OpenBuffer(Options());
  ASSERT_NE(b, nullptr);
  EXPECT_TRUE(Contains(before).empty());
  EXPECT_EQ(b->Stats().segments_sealed, 5u);
  // The seven buffered readings (51-57) were only in the lost database: a recorded loss.
  std::vector<std::string> drops = Drops();
  ASSERT_EQ(drops.size(), 1u);
  EXPECT_EQ(drops[0].substr(0, 6), "51-57 ") << drops[0];
  EXPECT_NE(drops[0].find("state lost"), std::string::npos);
  EXPECT_EQ(b->Stats().possibly_lost, 7u);
  ExpectSeqsContinueAbove(*b, 57);
  ExpectSameOfflineAndOnline(*b);
}

TEST_F(StateLossTest, AnOlderCopyOfTheDatabaseIsCaughtByTheNewerFiles) {
  {
    auto b = OpenBuffer(Options());
    ASSERT_EQ(b->Submit(Make("m", 10, kT0, 1000), milliseconds{1000}), 10u);
    ASSERT_TRUE(b->Flush().ok());
    b->Stop(false);
  }
  TempDir old;
  fs::copy_file(Path("buffer.db"), old.path() + "/buffer.db");
  std::vector<std::string> before = FiveSealed();  // seq 11-60 sealed on top
  Remove("buffer.db-wal");
  Remove("buffer.db-shm");
  fs::copy_file(old.path() + "/buffer.db", Path("buffer.db"), fs::copy_options::overwrite_existing);
  auto b = OpenBuffer(Options());
  ASSERT_NE(b, nullptr);
  EXPECT_TRUE(Contains(before).empty());
  EXPECT_EQ(b->Stats().segments_sealed, 6u);
  EXPECT_EQ(b->Stats().state_losses, 1u);
  EXPECT_EQ(b->Stats().last_seq["m"], 60u);
  EXPECT_EQ(QueryInt("SELECT count(*) FROM segments"), 6) << "each file is in the catalog once";
  ExpectSeqsContinueAbove(*b, 60);
  ExpectSameOfflineAndOnline(*b);
}

TEST_F(StateLossTest, WithoutSeqMarksTheFilesStillSetTheSeqs) {
  std::vector<std::string> before = FiveSealed();
  Truncate("buffer.db");
  Remove("buffer.db-wal");
  Remove("buffer.db-shm");
  Remove("seqmark");
  auto b = OpenBuffer(Options());
  ASSERT_NE(b, nullptr);
  EXPECT_TRUE(Contains(before).empty());
  EXPECT_EQ(b->Stats().segments_sealed, 5u);
  EXPECT_EQ(b->Stats().state_losses, 1u) << "an empty database beside segment files is a loss";
  ExpectSeqsContinueAbove(*b, 50);
  ExpectSameOfflineAndOnline(*b);
}

TEST_F(StateLossTest, AWalLostAfterACrashIsDetectedAndItsSeqsAreNeverReused) {
  // The crash: the database file as it stood while the buffer ran, its WAL gone. The
  // readings committed after the last checkpoint (here, all of them) were in the WAL.
  TempDir crashed;
  std::vector<std::string> before;
  {
    BufferOptions o = Options();
    auto b = OpenBuffer(o);
    for (int i = 0; i < 3; ++i) {
      ASSERT_EQ(b->Submit(Make("m", 10, kT0 + i * 60'000, 1000), milliseconds{1000}), 10u);
      ASSERT_TRUE(b->Flush().ok());
    }
    ASSERT_EQ(b->Submit(Make("m", 4, kT0 + 600'000, 1000), milliseconds{1000}), 4u);
    ASSERT_TRUE(b->Flush().ok());  // 31-34 sealed too
    ASSERT_EQ(b->Submit(Make("m", 5, kT0 + 700'000, 1000), milliseconds{1000}), 5u);
    for (int i = 0; i < 50 && b->Stats().captured < 39; ++i)
      std::this_thread::sleep_for(milliseconds{20});
    before = SegmentFiles();
    fs::copy_file(Path("buffer.db"), crashed.path() + "/buffer.db");
    fs::copy_file(Path("seqmark"), crashed.path() + "/seqmark");
    fs::create_directories(crashed.path() + "/segments");
    for (const auto& f : before) {
      fs::copy_file(SegmentsDir(dir_.path()) + "/" + f, SegmentsDir(crashed.path()) + "/" + f);
    }
    b->Stop(false);
  }
  BufferOptions o = Options();
  o.state_dir = crashed.path();
  auto b = OpenBuffer(o);
  ASSERT_NE(b, nullptr);
  BufferStats st = b->Stats();
  EXPECT_EQ(st.state_losses, 1u);
  EXPECT_NE(st.last_state_loss.find("write-ahead log is missing"), std::string::npos)
      << st.last_state_loss;
  EXPECT_EQ(st.segments_sealed, before.size());
  // 35-39 were only in the lost WAL; with the reserved block, the recorded range covers
  // them and every seq that may have been issued.
  ASSERT_GE(st.last_seq["m"], 39u);
  std::vector<std::string> drops;
  {
    sqlite3* raw = nullptr;
    sqlite3_open_v2(BufferDbPath(crashed.path()).c_str(), &raw, SQLITE_OPEN_READONLY, nullptr);
    SqliteDb db(raw);
    sqlite3_stmt* q = nullptr;
    sqlite3_prepare_v2(raw, "SELECT first_seq, last_seq FROM drops", -1, &q, nullptr);
    SqliteStmt stmt(q);
    ASSERT_EQ(sqlite3_step(q), SQLITE_ROW) << "the lost readings were not recorded";
    EXPECT_EQ(sqlite3_column_int64(q, 0), 35);
    EXPECT_EQ(static_cast<uint64_t>(sqlite3_column_int64(q, 1)), st.last_seq["m"]);
  }
  EXPECT_EQ(st.possibly_lost, st.last_seq["m"] - 34);
}

TEST_F(StateLossTest, AnUnexplainedTempFileIsKeptAsEvidence) {
  FiveSealed();
  std::ofstream(SegmentsDir(dir_.path()) + "/h017-x-20241122T14-9.jsonl.gz.tmp") << "half";
  auto b = OpenBuffer(Options());
  ASSERT_NE(b, nullptr);
  int kept = 0;
  for (auto& e : fs::directory_iterator(dir_.path())) {
    if (e.path().filename().string().rfind("orphaned-", 0) == 0) {
      kept += fs::exists(e.path() / "h017-x-20241122T14-9.jsonl.gz.tmp");
    }
  }
  EXPECT_EQ(kept, 1) << "a file no seal explains was deleted";
  EXPECT_EQ(b->Stats().state_losses, 0u);
}

TEST_F(StateLossTest, TombstonesNotYetUploadedSurviveTheSalvage) {
  std::vector<std::string> files = FiveSealed();
  fs::remove(SegmentsDir(dir_.path()) + "/" + files[2]);  // seq 21-30: a recorded loss
  OpenBuffer(Options())->Stop(false);
  ASSERT_EQ(Drops(), std::vector<std::string>{"21-30 segment file missing"});
  // Marks that name another database: the one on disk is moved aside, readable.
  std::string marks;
  {
    std::ifstream in(Path("seqmark"));
    std::stringstream text;
    text << in.rdbuf();
    marks = text.str();
  }
  marks.replace(marks.find("db ") + 3, 4, "beef");
  std::ofstream(Path("seqmark"), std::ios::trunc) << marks;
  auto b = OpenBuffer(Options());
  ASSERT_NE(b, nullptr);
  EXPECT_EQ(b->Stats().state_losses, 1u);
  EXPECT_EQ(Drops(), std::vector<std::string>{"21-30 segment file missing"})
      << "a pending tombstone was lost with the old catalog";
}

TEST_F(StateLossTest, AHealthyRestartIsNotAStateLoss) {
  FiveSealed(/*buffered=*/3);
  auto b = OpenBuffer(Options());
  ASSERT_NE(b, nullptr);
  EXPECT_EQ(b->Stats().state_losses, 0u);
  EXPECT_EQ(b->Stats().buffered, 3u);
  EXPECT_TRUE(Drops().empty());
}

// The catalog marks an uploaded file removed, then unlinks it; a crash or power cut in
// between leaves the file. That is not a damaged state: the removal is finished at start.
TEST_F(StateLossTest, AFileWhoseRemovalWasUndoneIsRemovedAgain) {
  BufferOptions o = Options();
  o.keep_uploaded = milliseconds{0};
  auto b = OpenBuffer(o);
  ASSERT_EQ(b->Submit(Make("m", 10, kT0, 1000), milliseconds{1000}), 10u);
  ASSERT_TRUE(b->Flush().ok());
  const std::string file = SegmentFiles().at(0);
  const std::string bytes = *env_.ReadFile(SegmentsDir(dir_.path()) + "/" + file, 1 << 20);
  ASSERT_TRUE(b->MarkUploaded(QueryInt("SELECT id FROM segments")).ok());
  ASSERT_TRUE(SegmentFiles().empty());
  ASSERT_EQ(b->Submit(Make("m", 5, kT0 + 60'000, 1000), milliseconds{1000}), 5u);
  b->Stop(/*seal=*/false);
  std::ofstream(SegmentsDir(dir_.path()) + "/" + file, std::ios::binary) << bytes;

  b = OpenBuffer(o);
  EXPECT_EQ(b->Stats().state_losses, 0u) << b->Stats().last_state_loss;
  ASSERT_TRUE(b->Flush().ok());
  EXPECT_EQ(SegmentFiles().size(), 1u);
  ExpectContiguous(AllLines("m"), 11, 15);
  EXPECT_TRUE(Drops().empty());
}

}  // namespace
}  // namespace granary
