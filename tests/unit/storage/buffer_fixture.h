// The buffer tests' fixture: a state dir, a FaultEnv, and readers of what landed on disk.
#pragma once

#include <cjson/cJSON.h>
#include <fmt/format.h>
#include <gtest/gtest.h>
#include <sqlite3.h>

#include <filesystem>
#include <fstream>
#include <future>
#include <mutex>
#include <random>
#include <set>
#include <thread>

#include "platform/handles.h"
#include "storage/buffer.h"
#include "tests/support/fault_env.h"
#include "tests/support/test_util.h"

namespace granary::buffer_fixture {

namespace fs = std::filesystem;
using std::chrono::milliseconds;
using testing::FaultEnv;
using testing::ReadGzipLines;
using testing::TempDir;

constexpr int64_t kHour = 3'600'000;
constexpr int64_t kT0 = 1'732'284'000'000;  // 2024-11-22T14:00:00Z

struct Line {
  std::string device, source, clock;
  uint64_t seq = 0;
  int64_t ts = 0;
  std::string data;
};

inline Line ParseLine(const std::string& text) {
  CjsonPtr j(cJSON_Parse(text.c_str()));
  EXPECT_TRUE(j) << text;
  Line l;
  if (!j) return l;
  l.device = cJSON_GetStringValue(cJSON_GetObjectItem(j.get(), "device"));
  l.source = cJSON_GetStringValue(cJSON_GetObjectItem(j.get(), "source"));
  l.seq = static_cast<uint64_t>(cJSON_GetNumberValue(cJSON_GetObjectItem(j.get(), "seq")));
  l.ts = static_cast<int64_t>(cJSON_GetNumberValue(cJSON_GetObjectItem(j.get(), "ts")));
  if (cJSON* c = cJSON_GetObjectItem(j.get(), "clock")) l.clock = cJSON_GetStringValue(c);
  CjsonString d(cJSON_PrintUnformatted(cJSON_GetObjectItem(j.get(), "data")));
  l.data = d.get();
  return l;
}

class BufferTest : public ::testing::Test {
 protected:
  BufferOptions Options() {
    BufferOptions o;
    o.state_dir = dir_.path();
    o.device = "h017";
    o.batch_wait = milliseconds{1};
    return o;
  }

  std::unique_ptr<Buffer> OpenBuffer(const BufferOptions& o) {
    auto b = Buffer::Open(env_, o);
    EXPECT_TRUE(b.ok()) << (b.ok() ? "" : b.error().message());
    return b.ok() ? std::move(*b) : nullptr;
  }

  static std::vector<Reading> Make(const std::string& source, int n, int64_t ts0, int64_t step,
                                   bool clock_ok = true) {
    std::vector<Reading> v;
    for (int i = 0; i < n; ++i) {
      v.push_back({source, ts0 + i * step, clock_ok, "{\"i\":" + std::to_string(i) + "}"});
    }
    return v;
  }

  std::vector<std::string> SegmentFiles() {
    std::vector<std::string> out;
    for (auto& e : fs::directory_iterator(SegmentsDir(dir_.path()))) {
      out.push_back(e.path().filename().string());
    }
    std::sort(out.begin(), out.end());
    return out;
  }

  // Every line of every segment file of `source`, in seq order.
  std::vector<Line> AllLines(const std::string& source) {
    std::vector<Line> out;
    for (const std::string& f : SegmentFiles()) {
      if (f.find("-" + source + "-") == std::string::npos) continue;
      bool ok = false;
      for (const auto& t : ReadGzipLines(SegmentsDir(dir_.path()) + "/" + f, &ok)) {
        out.push_back(ParseLine(t));
      }
      EXPECT_TRUE(ok) << f << " is not valid gzip";
    }
    std::sort(out.begin(), out.end(), [](const Line& a, const Line& b) { return a.seq < b.seq; });
    return out;
  }

  static void ExpectContiguous(const std::vector<Line>& lines, uint64_t first, uint64_t last) {
    ASSERT_EQ(lines.size(), last - first + 1);
    for (size_t i = 0; i < lines.size(); ++i) EXPECT_EQ(lines[i].seq, first + i);
  }

  int64_t QueryInt(const std::string& q) {
    sqlite3* raw = nullptr;
    sqlite3_open_v2(BufferDbPath(dir_.path()).c_str(), &raw, SQLITE_OPEN_READONLY, nullptr);
    SqliteDb db(raw);
    sqlite3_stmt* st = nullptr;
    sqlite3_prepare_v2(db.get(), q.c_str(), -1, &st, nullptr);
    SqliteStmt stmt(st);
    EXPECT_EQ(sqlite3_step(st), SQLITE_ROW) << q;
    return sqlite3_column_int64(st, 0);
  }

  TempDir dir_;
  FaultEnv env_;
};

inline void Corrupt(const std::string& db_path) {
  std::fstream f(db_path, std::ios::in | std::ios::out | std::ios::binary);
  ASSERT_TRUE(f.is_open());
  f.seekp(0);
  f.write("this is not an sqlite database!!", 32);
}

}  // namespace granary::buffer_fixture
