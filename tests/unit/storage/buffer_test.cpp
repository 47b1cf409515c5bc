#include "tests/unit/storage/buffer_fixture.h"

namespace granary {
namespace {

using namespace buffer_fixture;  // NOLINT(google-build-using-namespace)

TEST_F(BufferTest, FlushWritesOneSegmentWithEveryReading) {
  auto b = OpenBuffer(Options());
  ASSERT_EQ(b->Submit(Make("meter", 500, kT0 + 1000, 10), milliseconds{1000}), 500u);
  ASSERT_TRUE(b->Flush().ok());
  auto files = SegmentFiles();
  ASSERT_EQ(files.size(), 1u);
  EXPECT_EQ(files[0], "h017-meter-20241122T14-1.jsonl.gz");
  auto lines = AllLines("meter");
  ExpectContiguous(lines, 1, 500);
  EXPECT_EQ(lines[0].device, "h017");
  EXPECT_EQ(lines[0].source, "meter");
  EXPECT_EQ(lines[0].ts, kT0 + 1000);
  EXPECT_EQ(lines[7].data, "{\"i\":7}");
  EXPECT_EQ(lines[0].clock, "");
  BufferStats s = b->Stats();
  EXPECT_EQ(s.captured, 500u);
  EXPECT_EQ(s.buffered, 0u);
  EXPECT_EQ(s.segments_sealed, 1u);
  EXPECT_EQ(s.last_seq["meter"], 500u);
  EXPECT_EQ(s.oldest_pending_ts_ms, kT0 + 1000);
  EXPECT_EQ(QueryInt("SELECT total(count) FROM readings"), 0);
  EXPECT_EQ(QueryInt("SELECT last_seq FROM segments"), 500);
}

TEST_F(BufferTest, HourChangeSealsWithoutFlush) {
  auto b = OpenBuffer(Options());
  // 14:59:50 .. 15:00:09 in 1 s steps: 10 readings in hour 14, then hour 15.
  ASSERT_EQ(b->Submit(Make("meter", 20, kT0 + kHour - 10'000, 1000), milliseconds{1000}), 20u);
  ASSERT_TRUE(b->Flush().ok());
  auto files = SegmentFiles();
  ASSERT_EQ(files.size(), 2u);
  EXPECT_EQ(files[0], "h017-meter-20241122T14-1.jsonl.gz");
  EXPECT_EQ(files[1], "h017-meter-20241122T15-11.jsonl.gz");
  auto first = ReadGzipLines(SegmentsDir(dir_.path()) + "/" + files[0]);
  EXPECT_EQ(first.size(), 10u);
  for (const auto& t : first) EXPECT_LT(ParseLine(t).ts, kT0 + kHour);
  ExpectContiguous(AllLines("meter"), 1, 20);
}

TEST_F(BufferTest, ASegmentOpenForAnHourIsSealedWithoutAnotherReading) {
  auto b = OpenBuffer(Options());
  ASSERT_EQ(b->Submit(Make("meter", 5, kT0, 1), milliseconds{1000}), 5u);
  std::this_thread::sleep_for(milliseconds{1500});
  EXPECT_TRUE(SegmentFiles().empty()) << "sealed before it was open for an hour";
  env_.StepMonoClock(kHour * 1'000'000);  // an hour passes; no further reading comes
  // An idle writer checks ages every 10 s (kUpkeepEvery), on the real clock.
  for (int i = 0; i < 150 && QueryInt("SELECT count(*) FROM segments") == 0; ++i) {
    std::this_thread::sleep_for(milliseconds{100});
  }
  ASSERT_EQ(SegmentFiles().size(), 1u);
  ExpectContiguous(AllLines("meter"), 1, 5);
}

// Overwrites the database header: SQLite then refuses it as "not a database".

TEST_F(BufferTest, ACorruptDatabaseIsMovedAsideAndSealedSegmentsAreAdopted) {
  {
    auto b = OpenBuffer(Options());
    ASSERT_EQ(b->Submit(Make("meter", 30, kT0, 1000), milliseconds{1000}), 30u);
    ASSERT_TRUE(b->Flush().ok());  // seq 1-30 sealed
    ASSERT_EQ(b->Submit(Make("meter", 5, kT0 + 60'000, 1000), milliseconds{1000}), 5u);
    b->Stop(/*seal=*/false);  // seq 31-35 committed, not sealed
  }
  Corrupt(BufferDbPath(dir_.path()));
  auto b = OpenBuffer(Options());
  ASSERT_NE(b, nullptr) << "a corrupt buffer must not stop the agent";
  BufferStats st = b->Stats();
  EXPECT_EQ(st.buffers_moved_aside, 1u);
  EXPECT_EQ(st.segments_sealed, 1u) << "the sealed segment was not adopted";
  int corrupt_dirs = 0;
  for (auto& e : fs::directory_iterator(dir_.path())) {
    if (e.path().filename().string().rfind("corrupt-", 0) == 0) {
      ++corrupt_dirs;
      EXPECT_TRUE(fs::exists(e.path() / "buffer.db")) << "the corrupt database was not kept";
      EXPECT_TRUE(fs::exists(e.path() / "REASON"));
    }
  }
  EXPECT_EQ(corrupt_dirs, 1);
  // Seqs go on after the highest sealed one: no key that may be in S3 is reused.
  ASSERT_EQ(b->Submit(Make("meter", 3, kT0 + 120'000, 1000), milliseconds{1000}), 3u);
  ASSERT_TRUE(b->Flush().ok());
  std::vector<Line> lines = AllLines("meter");
  ASSERT_EQ(lines.size(), 33u);
  EXPECT_EQ(lines[29].seq, 30u);
  EXPECT_GT(lines[30].seq, 30u);
  EXPECT_EQ(QueryInt("SELECT count(*) FROM segments WHERE state='sealed'"), 2);
}

TEST_F(BufferTest, AfterCorruptionSeqsContinuePastSegmentsWhoseFilesAreGone) {
  BufferOptions o = Options();
  o.keep_uploaded = milliseconds{0};
  {
    auto b = OpenBuffer(o);
    ASSERT_EQ(b->Submit(Make("meter", 30, kT0, 1000), milliseconds{1000}), 30u);
    ASSERT_TRUE(b->Flush().ok());
    ASSERT_TRUE(b->MarkUploaded(QueryInt("SELECT id FROM segments")).ok());
    for (int i = 0; i < 50 && !SegmentFiles().empty(); ++i) {
      std::this_thread::sleep_for(milliseconds{100});
    }
    ASSERT_TRUE(SegmentFiles().empty()) << "the uploaded file was not removed";
    b->Stop(/*seal=*/false);
  }
  Corrupt(BufferDbPath(dir_.path()));
  auto b = OpenBuffer(o);
  ASSERT_NE(b, nullptr);
  ASSERT_EQ(b->Submit(Make("meter", 2, kT0 + 60'000, 1000), milliseconds{1000}), 2u);
  ASSERT_TRUE(b->Flush().ok());
  std::vector<Line> lines = AllLines("meter");
  ASSERT_EQ(lines.size(), 2u);
  EXPECT_EQ(lines[0].seq, 31u) << "a seq whose segment may be in S3 was reused";
}

TEST_F(BufferTest, ClockStepBackEndsTheSegmentAndKeysStayUnique) {
  auto b = OpenBuffer(Options());
  ASSERT_EQ(b->Submit(Make("m", 5, kT0 + 600'000, 1000), milliseconds{1000}), 5u);
  // Same hour, but the clock went back five minutes.
  ASSERT_EQ(b->Submit(Make("m", 5, kT0 + 300'000, 1000), milliseconds{1000}), 5u);
  ASSERT_TRUE(b->Flush().ok());
  auto files = SegmentFiles();
  ASSERT_EQ(files.size(), 2u);
  EXPECT_NE(files[0], files[1]);
  ExpectContiguous(AllLines("m"), 1, 10);
}

TEST_F(BufferTest, MaxReadingsAndMaxBytesCut) {
  BufferOptions o = Options();
  o.segment_max_readings = 100;
  auto b = OpenBuffer(o);
  ASSERT_EQ(b->Submit(Make("m", 250, kT0, 1), milliseconds{1000}), 250u);
  ASSERT_TRUE(b->Flush().ok());
  EXPECT_EQ(SegmentFiles().size(), 3u);
  ExpectContiguous(AllLines("m"), 1, 250);

  BufferOptions o2 = Options();
  o2.state_dir = dir_.path() + "/bytes";
  o2.segment_max_bytes = 4096;
  auto b2 = OpenBuffer(o2);
  ASSERT_EQ(b2->Submit(Make("m", 200, kT0, 1), milliseconds{1000}), 200u);
  ASSERT_TRUE(b2->Flush().ok());
  EXPECT_GE(b2->Stats().segments_sealed, 3u);
  // Every segment but the last ends at the first line that reaches the limit.
  sqlite3* raw = nullptr;
  sqlite3_open_v2(BufferDbPath(o2.state_dir).c_str(), &raw, SQLITE_OPEN_READONLY, nullptr);
  SqliteDb db(raw);
  sqlite3_stmt* st = nullptr;
  sqlite3_prepare_v2(raw, "SELECT raw_bytes, count FROM segments ORDER BY first_seq", -1, &st,
                     nullptr);
  SqliteStmt stmt(st);
  std::vector<std::pair<int64_t, int64_t>> rows;
  while (sqlite3_step(st) == SQLITE_ROW) {
    rows.emplace_back(sqlite3_column_int64(st, 0), sqlite3_column_int64(st, 1));
  }
  ASSERT_GE(rows.size(), 3u);
  for (size_t i = 0; i + 1 < rows.size(); ++i) {
    EXPECT_GE(rows[i].first, 4096);
    EXPECT_LT(rows[i].first, 4096 + 200) << "segment " << i << " overshot by more than a line";
  }
}

// Holds the writing of one segment file (its name contains `hold`) until Release().
class HoldingEnv : public EnvWrapper {
 public:
  HoldingEnv(Env& target, std::string hold) : EnvWrapper(target), hold_(std::move(hold)) {}
  Result<std::unique_ptr<WritableFile>> NewWritableFile(const std::string& path) override {
    if (path.find(hold_) != std::string::npos) released_.wait();
    return EnvWrapper::NewWritableFile(path);
  }
  void Release() {
    std::call_once(once_, [this] { release_.set_value(); });
  }

 private:
  std::string hold_;
  std::once_flag once_;
  std::promise<void> release_;
  std::shared_future<void> released_ = release_.get_future().share();
};

TEST_F(BufferTest, ASegmentSealedBeforeAnEarlierOneIsRecordedAfterIt) {
  if (std::thread::hardware_concurrency() < 2) GTEST_SKIP() << "one sealing thread here";
  HoldingEnv env(env_, "-m-20241122T14-1.jsonl.gz.tmp");
  BufferOptions o = Options();
  o.segment_max_readings = 100;
  auto opened = Buffer::Open(env, o);
  ASSERT_TRUE(opened.ok()) << opened.error().message();
  auto& b = *opened;
  // Released before the buffer is destroyed on every path: its Stop joins the sealers.
  struct ReleaseOnExit {
    HoldingEnv& env;
    ~ReleaseOnExit() { env.Release(); }
  } guard{env};
  ASSERT_EQ(b->Submit(Make("m", 200, kT0, 1), milliseconds{1000}), 200u);
  // The second segment's file is written while the first one's is held ...
  const std::string second = SegmentsDir(dir_.path()) + "/h017-m-20241122T14-101.jsonl.gz";
  for (int i = 0; i < 500 && !fs::exists(second); ++i)
    std::this_thread::sleep_for(milliseconds{10});
  ASSERT_TRUE(fs::exists(second));
  // ... but enters the catalog only after the first, so the uploader and the quota see
  // segments in seq order.
  std::this_thread::sleep_for(milliseconds{300});
  EXPECT_EQ(b->Stats().segments_sealed, 0u);
  EXPECT_EQ(QueryInt("SELECT count(*) FROM segments"), 0);
  env.Release();
  ASSERT_TRUE(b->Flush().ok());
  EXPECT_EQ(QueryInt("SELECT count(*) FROM segments"), 2);
  EXPECT_EQ(QueryInt("SELECT first_seq FROM segments ORDER BY rowid LIMIT 1"), 1);
  ExpectContiguous(AllLines("m"), 1, 200);
}

// Threads of this process named `name` (/proc/self/task/*/comm).
int ThreadsNamed(const std::string& name) {
  int n = 0;
  for (const auto& task : fs::directory_iterator("/proc/self/task")) {
    std::ifstream comm(task.path() / "comm");
    std::string line;
    if (std::getline(comm, line) && line == name) ++n;
  }
  return n;
}

// An idle sealer thread ends, and the next seal starts one again.
TEST_F(BufferTest, AnIdleSealerThreadEndsAndTheNextSealStartsIt) {
  BufferOptions o = Options();
  o.sealer_idle_end = milliseconds{100};
  auto b = OpenBuffer(o);
  ASSERT_EQ(b->Submit(Make("m", 10, kT0, 1), milliseconds{1000}), 10u);
  ASSERT_TRUE(b->Flush().ok());
  for (int i = 0; i < 300 && ThreadsNamed("sealer") > 0; ++i)
    std::this_thread::sleep_for(milliseconds{10});
  EXPECT_EQ(ThreadsNamed("sealer"), 0);
  ASSERT_EQ(b->Submit(Make("m", 10, kT0 + 1000, 11), milliseconds{1000}), 10u);
  ASSERT_TRUE(b->Flush().ok());
  EXPECT_EQ(QueryInt("SELECT count(*) FROM segments"), 2);
  ExpectContiguous(AllLines("m"), 1, 20);
}

TEST_F(BufferTest, UnsyncedClockIsMarkedOnEachLine) {
  auto b = OpenBuffer(Options());
  auto v = Make("m", 2, 1000, 1, /*clock_ok=*/false);
  ASSERT_EQ(b->Submit(v, milliseconds{1000}), 2u);
  ASSERT_TRUE(b->Flush().ok());
  auto lines = AllLines("m");
  ASSERT_EQ(lines.size(), 2u);
  EXPECT_EQ(lines[0].clock, "unsynced");
  EXPECT_EQ(SegmentFiles()[0], "h017-m-19700101T00-1.jsonl.gz");
  EXPECT_EQ(QueryInt("SELECT clock='unsynced' FROM segments"), 1);
}

TEST_F(BufferTest, SeqIsNeverReusedAcrossRestartsAndSourcesCountSeparately) {
  {
    auto b = OpenBuffer(Options());
    ASSERT_EQ(b->Submit(Make("a", 10, kT0, 1), milliseconds{1000}), 10u);
    ASSERT_EQ(b->Submit(Make("b", 3, kT0, 1), milliseconds{1000}), 3u);
    ASSERT_TRUE(b->Flush().ok());
  }
  {
    auto b = OpenBuffer(Options());
    ASSERT_EQ(b->Submit(Make("a", 5, kT0 + 100, 1), milliseconds{1000}), 5u);
    ASSERT_TRUE(b->Flush().ok());
    EXPECT_EQ(b->Stats().last_seq["a"], 15u);
    EXPECT_EQ(b->Stats().last_seq["b"], 3u);
  }
  ExpectContiguous(AllLines("a"), 1, 15);
  ExpectContiguous(AllLines("b"), 1, 3);
}

TEST_F(BufferTest, RestartSealsSegmentsThatEndedBeforeTheCrash) {
  {
    auto b = OpenBuffer(Options());
    ASSERT_EQ(b->Submit(Make("m", 30, kT0 + kHour - 10'000, 1000), milliseconds{1000}), 30u);
    b->Stop(/*seal=*/false);
  }
  // The writer seals the completed hour on its own; then restart: the hour-15 readings
  // are still buffered and form the open segment.
  auto b = OpenBuffer(Options());
  EXPECT_EQ(b->Stats().buffered, 20u);
  ASSERT_TRUE(b->Flush().ok());
  ExpectContiguous(AllLines("m"), 1, 30);
}

TEST_F(BufferTest, RepairRemovesUnfinishedFilesAndResealsTheSameKey) {
  {
    auto b = OpenBuffer(Options());
    ASSERT_EQ(b->Submit(Make("m", 10, kT0, 1), milliseconds{1000}), 10u);
    b->Stop(false);
  }
  // As if a crash hit between rename and commit, plus a leftover temp file.
  std::string seg = SegmentsDir(dir_.path());
  std::ofstream(seg + "/h017-m-20241122T14-1.jsonl.gz") << "half";
  std::ofstream(seg + "/h017-m-20241122T14-1.jsonl.gz.tmp") << "half";
  auto b = OpenBuffer(Options());
  EXPECT_TRUE(SegmentFiles().empty());
  ASSERT_TRUE(b->Flush().ok());
  EXPECT_EQ(SegmentFiles(), std::vector<std::string>{"h017-m-20241122T14-1.jsonl.gz"});
  ExpectContiguous(AllLines("m"), 1, 10);
}

TEST_F(BufferTest, SegmentWriteFailureKeepsReadingsUntilTheFaultClears) {
  auto b = OpenBuffer(Options());
  for (const char* op : {"file.write", "file.sync", "rename", "file.create"}) {
    SCOPED_TRACE(op);
    env_.Fail(op, std::string(op) == "file.sync" ? EIO : ENOSPC);
    ASSERT_EQ(b->Submit(Make("m", 50, kT0 + 1000, 1), milliseconds{1000}), 50u);
    Status s = b->Flush();
    EXPECT_FALSE(s.ok());
    EXPECT_GT(env_.hits(op), 0);
    EXPECT_GT(b->Stats().seal_errors, 0u);
    EXPECT_FALSE(b->Stats().last_error.empty());
    env_.Clear();
    ASSERT_TRUE(b->Flush().ok());
  }
  // Nothing captured was lost, and no .tmp was left behind.
  ExpectContiguous(AllLines("m"), 1, 200);
  for (const auto& f : SegmentFiles()) EXPECT_EQ(f.find(".tmp"), std::string::npos) << f;
}

TEST_F(BufferTest, CommitFailureRetriesTheBatchAndLosesNothing) {
  auto b = OpenBuffer(Options());
  ASSERT_EQ(b->Submit(Make("m", 10, kT0, 1), milliseconds{1000}), 10u);
  ASSERT_TRUE(b->Flush().ok());
  for (auto [op, err] : {std::pair{"sqlite.write", ENOSPC}, std::pair{"sqlite.sync", EIO}}) {
    SCOPED_TRACE(op);
    env_.Fail(op, err);
    ASSERT_EQ(b->Submit(Make("m", 10, kT0 + 100, 1), milliseconds{1000}), 10u);
    for (int i = 0; i < 100 && b->Stats().commit_errors == 0; ++i) {
      std::this_thread::sleep_for(milliseconds{20});
    }
    EXPECT_GT(b->Stats().commit_errors, 0u);
    env_.Clear();
    ASSERT_TRUE(b->Flush().ok());
  }
  ExpectContiguous(AllLines("m"), 1, 30);
}

TEST_F(BufferTest, QuotaDropOldestRecordsEveryDroppedRange) {
  BufferOptions o = Options();
  o.segment_max_readings = 1000;
  o.quota_max_bytes = 1ULL << 20;
  auto b = OpenBuffer(o);
  // Random hex payloads: at least 64 compressed bytes a line, ~1.3 MB in all.
  std::mt19937_64 rng(42);
  std::vector<Reading> v;
  for (int i = 0; i < 20'000; ++i) {
    std::string pad;
    for (int k = 0; k < 8; ++k) pad += fmt::format("{:016x}", rng());
    v.push_back({"m", kT0 + i, true, "{\"p\":\"" + pad + "\"}"});
  }
  ASSERT_EQ(b->Submit(v, milliseconds{5000}), v.size());
  ASSERT_TRUE(b->Flush().ok());
  BufferStats s = b->Stats();
  EXPECT_GT(s.segments_dropped, 0u);
  EXPECT_LE(s.usage_bytes, o.quota_max_bytes);
  EXPECT_EQ(s.dropped_readings, static_cast<uint64_t>(QueryInt("SELECT sum(count) FROM drops")));
  // Kept + dropped covers every seq exactly once.
  EXPECT_EQ(QueryInt("SELECT sum(count) FROM segments"), 20'000);
  EXPECT_EQ(QueryInt("SELECT count(*) FROM drops WHERE reason='quota'"),
            static_cast<int64_t>(s.segments_dropped));
  // The oldest went first.
  EXPECT_EQ(QueryInt("SELECT min(first_seq) FROM drops"), 1);
}

TEST_F(BufferTest, QuotaPausePausesInsteadOfDropping) {
  BufferOptions o = Options();
  o.quota_pause = true;
  o.quota_max_bytes = 64 * 1024;
  auto b = OpenBuffer(o);
  std::vector<Reading> v;
  for (int i = 0; i < 3000; ++i) {
    v.push_back({"m", kT0 + i, true, "{\"v\":\"" + std::to_string(i * 2654435761u) + "\"}"});
  }
  ASSERT_EQ(b->Submit(v, milliseconds{5000}), v.size());
  ASSERT_TRUE(b->Flush().ok());
  EXPECT_TRUE(b->Paused());
  EXPECT_EQ(b->Stats().segments_dropped, 0u);
  EXPECT_EQ(QueryInt("SELECT count(*) FROM drops"), 0);
}

TEST_F(BufferTest, FullQueueRejectsAndCountsInsteadOfGrowing) {
  BufferOptions o = Options();
  o.queue_capacity = 10;
  auto b = OpenBuffer(o);
  env_.Fail("sqlite.write", EIO);  // the writer cannot drain
  size_t accepted = b->Submit(Make("m", 100, kT0, 1), milliseconds{50});
  EXPECT_LT(accepted, 100u);
  EXPECT_EQ(b->Stats().rejected, 100u - accepted);
  env_.Clear();
  ASSERT_TRUE(b->Flush().ok());
  ExpectContiguous(AllLines("m"), 1, accepted);
}

}  // namespace
}  // namespace granary
