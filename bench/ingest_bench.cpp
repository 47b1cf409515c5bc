// Durable ingest through to sealed segments, next to the limits of this machine measured
// in the same run: SQLite's raw batched insert rate and zlib's level-6 rate on the same
// lines. The agent's figures only mean something as a fraction of those.
// The raw rate is fsync-bound and moves by a third between runs minutes apart on the same
// quiet disk, so the durable figure that carries a target is the median of alternated
// pairs (raw, then the agent, the same count each), not one run of each.
#include <sqlite3.h>
#include <zlib.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <string>
#include <vector>

#include "platform/handles.h"
#include "platform/process.h"
#include "platform/sqlite.h"
#include "storage/buffer.h"
#include "storage/segment_file.h"

namespace {

using Clock = std::chrono::steady_clock;
using granary::Buffer;
using granary::BufferOptions;
using granary::Reading;

constexpr int kReadings = 400'000;
// Five times the burst: 20 segments of 100,000, so the first segment's fill (before the
// sealer has work) and the last one's compression (after the writer has none) weigh a
// twentieth of the run instead of a quarter, and the figure reads as a rate.
constexpr int kSustained = 2'000'000;
constexpr int kBatch = 1000;

double Seconds(Clock::time_point since) {
  return std::chrono::duration<double>(Clock::now() - since).count();
}

// ~150-byte data objects, varied enough that gzip is not trivially fed.
std::string Payload(int i) {
  char buf[160];
  std::snprintf(buf, sizeof buf,
                "{\"demand_kw\":%d.%03d,\"delivered_kwh\":%d.%02d,\"received_kwh\":0.00,"
                "\"price\":0.%04d,\"meter_ts\":%d,\"status\":\"connected\",\"pad\":\"%08x\"}",
                i % 17, i % 1000, 40000 + i / 100, i % 100, 1000 + i % 9000, 1732284006 + i,
                static_cast<unsigned>(i) * 2654435761u);
  return buf;
}

std::string TempDir() {
  std::string t = (std::filesystem::temp_directory_path() / "granary-bench-XXXXXX").string();
  return mkdtemp(t.data());
}

// Payloads are made before any clock starts, as the raw SQLite figure's are: what a
// source costs is not the buffer's.
const std::vector<std::string>& Payloads() {
  static const std::vector<std::string> pool = [] {
    std::vector<std::string> p;
    p.reserve(kReadings);
    for (int i = 0; i < kReadings; ++i) p.push_back(Payload(i));
    return p;
  }();
  return pool;
}

// `total` readings in batches of 1000, through to sealed segments. Each batch is copied
// from the payload pool inside the timed loop, on the caller's thread, as a source would
// hand it over; a run longer than the pool reuses it.
double AgentIngest(bool sync_full, int total) {
  const std::vector<std::string>& pool = Payloads();
  std::string dir = TempDir();
  BufferOptions o;
  o.state_dir = dir;
  o.device = "bench";
  o.sync_full = sync_full;
  o.quota_max_bytes = 8ULL << 30;
  o.queue_capacity = 200'000;
  auto buffer = Buffer::Open(granary::Env::Default(), o);
  if (!buffer) {
    std::fprintf(stderr, "%s\n", buffer.error().message().c_str());
    std::exit(1);
  }
  int64_t t0 = 1732284000000;
  auto start = Clock::now();
  for (int i = 0; i < total; i += kBatch) {
    std::vector<Reading> batch;
    batch.reserve(kBatch);
    for (int k = i; k < i + kBatch; ++k) {
      batch.push_back({"meter", t0 + k, true, pool[static_cast<size_t>(k) % pool.size()]});
    }
    (*buffer)->Submit(std::move(batch), std::chrono::milliseconds{60'000});
  }
  if (!(*buffer)->Flush()) std::exit(1);
  double secs = Seconds(start);
  (*buffer)->Stop(false);
  std::filesystem::remove_all(dir);
  return total / secs;
}

double RawSqliteInsert(int total) {
  std::string dir = TempDir();
  std::filesystem::create_directories(dir);
  sqlite3* raw = nullptr;
  sqlite3_open((dir + "/raw.db").c_str(), &raw);
  granary::SqliteDb db(raw);
  sqlite3_exec(raw,
               "PRAGMA journal_mode=WAL; PRAGMA synchronous=FULL;"
               "CREATE TABLE t(seq INTEGER PRIMARY KEY, ts INTEGER, data TEXT)",
               nullptr, nullptr, nullptr);
  sqlite3_stmt* st = nullptr;
  sqlite3_prepare_v2(raw, "INSERT INTO t VALUES(?,?,?)", -1, &st, nullptr);
  granary::SqliteStmt stmt(st);
  const std::vector<std::string>& pool = Payloads();
  auto start = Clock::now();
  for (int i = 0; i < total; i += kBatch) {
    sqlite3_exec(raw, "BEGIN", nullptr, nullptr, nullptr);
    for (int k = i; k < i + kBatch; ++k) {
      const std::string& payload = pool[static_cast<size_t>(k) % pool.size()];
      sqlite3_bind_int64(st, 1, k);
      sqlite3_bind_int64(st, 2, 1732284000000 + k);
      sqlite3_bind_text(st, 3, payload.data(), static_cast<int>(payload.size()), SQLITE_STATIC);
      sqlite3_step(st);
      sqlite3_reset(st);
    }
    sqlite3_exec(raw, "COMMIT", nullptr, nullptr, nullptr);
  }
  double secs = Seconds(start);
  stmt.reset();
  db.reset();
  std::filesystem::remove_all(dir);
  return total / secs;
}

// Alternated pairs of the raw insert and the agent's durable sustained ingest; prints each
// pair and the median of their ratios. BENCH_INGEST_PAIRS sets the count (default 5).
void DurablePairs() {
  int pairs = 5;
  if (const char* n = std::getenv("BENCH_INGEST_PAIRS"); n != nullptr && std::atoi(n) > 0)
    pairs = std::atoi(n);
  std::vector<double> ratios;
  for (int i = 0; i < pairs; ++i) {
    double raw = RawSqliteInsert(kSustained);
    double agent = AgentIngest(true, kSustained);
    ratios.push_back(agent / raw);
    std::printf("pair %d of %d: raw SQLite %.0f, agent durable sustained %.0f readings/s\t%.0f%%\n",
                i + 1, pairs, raw, agent, 100.0 * ratios.back());
    std::fflush(stdout);
  }
  std::sort(ratios.begin(), ratios.end());
  size_t mid = ratios.size() / 2;
  double median = ratios.size() % 2 ? ratios[mid] : (ratios[mid - 1] + ratios[mid]) / 2;
  std::printf(
      "durable sustained ingest, median of %d alternated pairs\t%.0f%%\tof raw SQLite "
      "(%.0f-%.0f%%)\n",
      pairs, 100.0 * median, 100.0 * ratios.front(), 100.0 * ratios.back());
}

// Returns lines/s; sets mb_per_s to input MB/s.
double RawZlib(double& mb_per_s) {
  std::string text;
  for (int i = 0; i < kReadings; ++i) {
    granary::AppendJsonLine(text, "bench", "meter", static_cast<uint64_t>(i + 1), 1732284000000 + i,
                            true, Payload(i));
  }
  granary::Deflater d(6);
  std::string out(64 * 1024, '\0');
  auto start = Clock::now();
  z_stream* zs = d.get();
  zs->next_in = reinterpret_cast<Bytef*>(text.data());
  zs->avail_in = static_cast<uInt>(text.size());
  int rc;
  do {
    zs->next_out = reinterpret_cast<Bytef*>(out.data());
    zs->avail_out = static_cast<uInt>(out.size());
    rc = deflate(zs, Z_FINISH);
  } while (rc == Z_OK || rc == Z_BUF_ERROR);
  double secs = Seconds(start);
  mb_per_s = static_cast<double>(text.size()) / 1e6 / secs;
  return kReadings / secs;
}

}  // namespace

int main(int argc, char** argv) {
  // The raw figure runs under the agent's SQLite and malloc settings.
  granary::TuneMalloc();
  granary::sql::ConfigureLibrary();
  // "ingest_bench full" (or "normal") runs only the agent's sustained part, and
  // "ingest_bench raw" only the raw insert of the same count, to profile either.
  if (argc == 2 && std::string(argv[1]) == "raw") {
    std::printf("raw SQLite insert, 2M\t%.0f\treadings/s\n", RawSqliteInsert(kSustained));
    return 0;
  }
  if (argc == 2 && (std::string(argv[1]) == "full" || std::string(argv[1]) == "normal")) {
    std::printf("agent ingest, sync=%s\t%.0f\treadings/s\n", argv[1],
                AgentIngest(std::string(argv[1]) == "full", kSustained));
    return 0;
  }
  double zlib_mb = 0;
  double raw_sqlite = RawSqliteInsert(kReadings);
  double raw_zlib = RawZlib(zlib_mb);
  Payloads();
  struct Row {
    const char* what;
    bool full;
    int total;
  };
  const Row rows[] = {
      {"agent durable ingest to sealed segments, sync=full, 400k burst", true, kReadings},
      {"agent ingest to sealed segments, sync=normal, 400k burst", false, kReadings},
      {"agent durable ingest to sealed segments, sync=full, 2M sustained", true, kSustained},
      {"agent ingest to sealed segments, sync=normal, 2M sustained", false, kSustained},
  };
  std::printf("raw SQLite insert, batch 1000, WAL+FULL\t%.0f\treadings/s\n", raw_sqlite);
  std::printf("raw zlib level 6 on the same lines\t%.0f\treadings/s (%.1f MB/s)\n", raw_zlib,
              zlib_mb);
  for (const Row& r : rows) {
    double rate = AgentIngest(r.full, r.total);
    std::printf("%s\t%.0f\treadings/s (%.0f%% of raw SQLite)\n", r.what, rate,
                100.0 * rate / raw_sqlite);
    std::fflush(stdout);
  }
  DurablePairs();
  return 0;
}
