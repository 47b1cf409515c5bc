// Compact runs (storage/run_codec.h): the codec round-trips and names damage; the size the
// writer counts is the size the sealer renders; and a buffer written before schema
// version 3, its runs still rendered lines, migrates and seals beside new compact runs into
// the same bytes, cut at the same size limit.
#include <limits>

#include "storage/run_codec.h"
#include "storage/segment_file.h"
#include "tests/unit/storage/buffer_fixture.h"

namespace granary {
namespace {

using namespace buffer_fixture;  // NOLINT(google-build-using-namespace)

struct In {
  int64_t ts;
  bool clock_ok;
  std::string data;
};

std::string Encode(const std::vector<In>& in, int64_t first_ts) {
  std::string run;
  int64_t prev = first_ts;
  for (const In& r : in) {
    AppendCompactReading(run, prev, r.ts, r.clock_ok, r.data);
    prev = r.ts;
  }
  return run;
}

TEST(CompactRun, RoundTrips) {
  const std::vector<In> in = {
      {kT0, true, R"({"a":1})"},
      {kT0 + 1000, false, R"({"s":"line\nbreak"})"},
      {kT0 - 5, true, ""},  // backwards, and empty
      {std::numeric_limits<int64_t>::max(), true, std::string(300, 'x')},
      {std::numeric_limits<int64_t>::min(), false, std::string("\0\xff", 2)},
  };
  const std::string run = Encode(in, kT0);
  CompactRunReader reader(run, 41, kT0, in.size());
  CompactRunReader::Item item;
  for (size_t i = 0; i < in.size(); ++i) {
    ASSERT_TRUE(reader.Next(&item)) << i << ": " << reader.status().error().message();
    EXPECT_EQ(item.seq, 41 + i);
    EXPECT_EQ(item.ts_ms, in[i].ts);
    EXPECT_EQ(item.clock_ok, in[i].clock_ok);
    EXPECT_EQ(item.data_json, in[i].data);
  }
  EXPECT_FALSE(reader.Next(&item));
  EXPECT_TRUE(reader.status());
}

std::string DecodeError(std::string_view run, uint64_t count) {
  CompactRunReader reader(run, 1, kT0, count);
  CompactRunReader::Item item;
  while (reader.Next(&item)) {
  }
  return reader.status() ? "" : reader.status().error().message();
}

TEST(CompactRun, DamageIsAnError) {
  const std::string run = Encode({{kT0, true, R"({"a":1})"}, {kT0 + 1, true, R"({"b":2})"}}, kT0);
  EXPECT_EQ(DecodeError(run, 2), "");
  EXPECT_EQ(DecodeError(run, 3), "compact run damaged at seq 3: truncated header");
  EXPECT_EQ(DecodeError(run, 1), "compact run damaged at seq 2: 9 bytes after the last reading");
  EXPECT_EQ(DecodeError(run.substr(0, run.size() - 1), 2),
            "compact run damaged at seq 2: 7 bytes of data where 6 are left");
  EXPECT_EQ(DecodeError(std::string(11, '\xff'), 1),
            "compact run damaged at seq 1: truncated header");
}

TEST(CompactRun, LineSizeIsTheRenderedSize) {
  std::string unsynced;
  AppendJsonLine(unsynced, "h017", "meter", 9, -1, false, R"({"v":1.5})");
  EXPECT_EQ(
      unsynced,
      R"({"device":"h017","source":"meter","seq":9,"ts":-1,"clock":"unsynced","data":{"v":1.5}})"
      "\n");
  for (uint64_t seq :
       {uint64_t{1}, uint64_t{9}, uint64_t{10}, std::numeric_limits<uint64_t>::max()}) {
    for (int64_t ts : {int64_t{0}, int64_t{-1}, kT0, std::numeric_limits<int64_t>::min()}) {
      for (bool clock_ok : {true, false}) {
        std::string line;
        AppendJsonLine(line, "h017", "meter", seq, ts, clock_ok, R"({"v":1.5})");
        EXPECT_EQ(JsonLineSize("h017", "meter", seq, ts, clock_ok, 9), line.size()) << line;
      }
    }
  }
}

std::string Hex(std::string_view bytes) {
  std::string hex;
  for (unsigned char c : bytes) hex += fmt::format("{:02x}", c);
  return hex;
}

class CompactRunBufferTest : public BufferTest {
 protected:
  // What the agent wrote for reading i (seq i + 1) before version 3, rendered here by hand.
  static std::string OldLine(uint64_t seq) {
    const int64_t i = static_cast<int64_t>(seq) - 1;
    return fmt::format(R"({{"device":"h017","source":"meter","seq":{},"ts":{},"data":{{"i":{}}}}})",
                       seq, kT0 + i * 1000, i);
  }

  // The buffer as schema version 2 left it: every run rendered, no encoding column.
  void Downgrade() {
    sqlite3* raw = nullptr;
    ASSERT_EQ(sqlite3_open(BufferDbPath(dir_.path()).c_str(), &raw), SQLITE_OK);
    SqliteDb db(raw);
    sqlite3_stmt* st = nullptr;
    ASSERT_EQ(
        sqlite3_prepare_v2(raw, "SELECT id, first_seq, count FROM readings", -1, &st, nullptr),
        SQLITE_OK);
    SqliteStmt stmt(st);
    std::vector<std::pair<int64_t, std::string>> rendered;
    while (sqlite3_step(st) == SQLITE_ROW) {
      std::string lines;
      const auto first = static_cast<uint64_t>(sqlite3_column_int64(st, 1));
      for (int64_t k = 0; k < sqlite3_column_int64(st, 2); ++k) {
        lines += OldLine(first + static_cast<uint64_t>(k)) + "\n";
      }
      rendered.emplace_back(sqlite3_column_int64(st, 0), lines);
    }
    ASSERT_FALSE(rendered.empty());
    for (const auto& [id, lines] : rendered) {
      const std::string sql =
          fmt::format("UPDATE readings SET lines = x'{}' WHERE id = {}", Hex(lines), id);
      ASSERT_EQ(sqlite3_exec(raw, sql.c_str(), nullptr, nullptr, nullptr), SQLITE_OK);
    }
    ASSERT_EQ(sqlite3_exec(raw,
                           "ALTER TABLE readings DROP COLUMN encoding;"
                           "ALTER TABLE readings DROP COLUMN rendered_bytes;"
                           "PRAGMA user_version = 2",
                           nullptr, nullptr, nullptr),
              SQLITE_OK)
        << sqlite3_errmsg(raw);
  }
};

TEST_F(CompactRunBufferTest, VersionTwoRunsSealBesideCompactOnes) {
  BufferOptions o = Options();
  // The size limit falls after the 15th line: 10 from the old runs, 5 from new ones.
  o.segment_max_bytes = 0;
  for (uint64_t seq = 1; seq <= 15; ++seq) o.segment_max_bytes += OldLine(seq).size() + 1;
  {
    auto b = OpenBuffer(o);
    ASSERT_TRUE(b);
    ASSERT_EQ(b->Submit(Make("meter", 10, kT0, 1000), milliseconds{100}), 10u);
    ASSERT_TRUE(b->WaitCaptured(milliseconds{5000}));
    b->Stop(false);
  }
  EXPECT_EQ(QueryInt("SELECT count(*) FROM readings WHERE encoding = 1"), 1);
  Downgrade();
  // `granary buffered` reads a version-2 database (one moved aside by an older granary).
  std::string printed, expected;
  uint64_t records = 0;
  ASSERT_TRUE(ForEachBufferedLine(
      env_, BufferDbPath(dir_.path()), "h017", "", [&](std::string_view text) { printed += text; },
      &records));
  for (uint64_t seq = 1; seq <= 10; ++seq) expected += OldLine(seq) + "\n";
  EXPECT_EQ(printed, expected);
  EXPECT_EQ(records, 0u);
  auto b = OpenBuffer(o);
  ASSERT_TRUE(b);
  EXPECT_EQ(QueryInt("PRAGMA user_version"), 3);
  std::vector<Reading> more = Make("meter", 20, kT0, 1000);
  more.erase(more.begin(), more.begin() + 10);
  ASSERT_EQ(b->Submit(more, milliseconds{100}), 10u);
  ASSERT_TRUE(b->Flush());
  std::vector<std::string> files = SegmentFiles();
  ASSERT_EQ(files.size(), 2u);
  EXPECT_EQ(files[0], "h017-meter-20241122T14-1.jsonl.gz");
  EXPECT_EQ(files[1], "h017-meter-20241122T14-16.jsonl.gz");
  std::vector<std::string> got = ReadGzipLines(SegmentsDir(dir_.path()) + "/" + files[0]);
  for (const std::string& line : ReadGzipLines(SegmentsDir(dir_.path()) + "/" + files[1])) {
    got.push_back(line);
  }
  ASSERT_EQ(got.size(), 20u);
  for (uint64_t seq = 1; seq <= 20; ++seq) EXPECT_EQ(got[seq - 1], OldLine(seq));
  EXPECT_EQ(QueryInt("SELECT raw_bytes FROM segments WHERE first_seq = 1"),
            static_cast<int64_t>(o.segment_max_bytes));
}

TEST_F(CompactRunBufferTest, BufferedLinesNameDamageAndKeepWhatPrecedesIt) {
  {
    auto b = OpenBuffer(Options());
    ASSERT_TRUE(b);
    ASSERT_EQ(b->Submit(Make("meter", 5, kT0, 1000), milliseconds{100}), 5u);
    ASSERT_TRUE(b->WaitCaptured(milliseconds{5000}));
    b->Stop(false);
  }
  sqlite3* raw = nullptr;
  ASSERT_EQ(sqlite3_open(BufferDbPath(dir_.path()).c_str(), &raw), SQLITE_OK);
  {
    SqliteDb db(raw);
    // The last reading's data loses its last 3 bytes.
    ASSERT_EQ(sqlite3_exec(raw, "UPDATE readings SET lines = substr(lines, 1, length(lines) - 3)",
                           nullptr, nullptr, nullptr),
              SQLITE_OK);
  }
  std::string printed;
  uint64_t records = 0;
  Status s = ForEachBufferedLine(
      env_, BufferDbPath(dir_.path()), "h017", "meter",
      [&](std::string_view text) { printed += text; }, &records);
  ASSERT_FALSE(s);
  EXPECT_EQ(s.error().message(),
            "meter: compact run damaged at seq 5: 7 bytes of data where 4 are left");
  std::string expected;
  for (uint64_t seq = 1; seq <= 4; ++seq) expected += OldLine(seq) + "\n";
  EXPECT_EQ(printed, expected);
}

TEST_F(CompactRunBufferTest, UnsyncedReadingsKeepTheirMark) {
  auto b = OpenBuffer(Options());
  ASSERT_TRUE(b);
  std::vector<Reading> batch = Make("meter", 3, kT0, 10);
  batch[1].clock_ok = false;
  ASSERT_EQ(b->Submit(batch, milliseconds{100}), 3u);
  ASSERT_TRUE(b->Flush());
  std::vector<Line> lines = AllLines("meter");
  ASSERT_EQ(lines.size(), 3u);
  EXPECT_EQ(lines[0].clock, "");
  EXPECT_EQ(lines[1].clock, "unsynced");
  EXPECT_EQ(lines[1].ts, kT0 + 10);
  EXPECT_EQ(lines[1].data, R"({"i":1})");
  EXPECT_EQ(lines[2].clock, "");
}

}  // namespace
}  // namespace granary
