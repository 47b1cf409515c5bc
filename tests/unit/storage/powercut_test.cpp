// Power cuts at random points of poll -> commit -> seal -> upload -> file removal (LevelDB's
// fault_injection_test, with directories and SQLite): PowerCutEnv fails every change from
// the cut on, the buffer stops, the disk goes back to what was durable, and a fresh buffer
// over the same state dir must account for every reading. With sync "full", every reading
// captured before a cut is in exactly one segment file or uploaded object; with "normal",
// only readings committed after the WAL's last fsync may be lost (docs/operations.md).
// Either way a seq never names two readings, and a seq missing is in a recorded drop.
//
// GRANARY_POWERCUT_CUTS=5000 runs a longer soak; GRANARY_POWERCUT_SEED replays a failure.
#include <atomic>
#include <cstdlib>
#include <future>
#include <map>
#include <random>
#include <set>

#include "storage/catalog.h"
#include "tests/support/power_cut_env.h"
#include "tests/unit/storage/buffer_fixture.h"

namespace granary {
namespace {

using namespace buffer_fixture;  // NOLINT(google-build-using-namespace)
using testing::PowerCutEnv;

constexpr int kCutsPerRun = 8;
constexpr int64_t kTsStep = 20'000;  // an hour boundary every 180 readings

uint64_t EnvNumber(const char* name, uint64_t def) {
  const char* v = std::getenv(name);
  return v != nullptr ? std::strtoull(v, nullptr, 10) : def;
}

// One state dir through a series of cuts. What the world outside the buffer knows: every
// reading submitted, the ones that must survive, and the objects "uploaded".
class PowerCutRun {
 public:
  PowerCutRun(uint64_t seed, int run) : rng_(seed), run_(run) {
    options_.state_dir = std::filesystem::canonical(dir_.path()).string();
    options_.device = "pc";
    options_.sync_full = run % 4 != 3;
    options_.keep_uploaded = run % 2 == 0 ? milliseconds{0} : milliseconds{3'600'000};
    options_.batch_max = 1 + static_cast<uint32_t>(rng_() % 8);
    options_.batch_wait = milliseconds{1};
    options_.segment_max_readings = 3 + rng_() % 10;
    options_.stop_grace = milliseconds{50};
  }

  // Returns the readings checked at the last verification.
  size_t Go(int cuts) {
    for (int i = 0; i < cuts && !::testing::Test::HasFatalFailure(); ++i) Cycle(/*cut=*/true);
    Cycle(/*cut=*/false);
    return must_survive_.size();
  }

 private:
  void Cycle(bool cut);
  std::optional<Status> FlushUnlessCut(Buffer& b, PowerCutEnv& env);
  void Work(Buffer& b, PowerCutEnv& env, SegmentCatalog& uploader);
  void Upload(Buffer& b, SegmentCatalog& uploader);
  void Verify(Buffer& b);
  std::vector<DropRecord> Drops();
  // seq -> data of one source, from the objects and the local files.
  std::map<std::string, std::map<uint64_t, std::string>> Seen();

  TempDir dir_;
  BufferOptions options_;
  std::mt19937_64 rng_;
  int run_;
  int64_t ts_ = kT0;
  uint64_t next_ = 0;
  std::vector<std::string> accepted_;                   // payloads, this cycle, in order
  std::set<std::string> must_survive_;                  // payloads
  std::map<std::string, std::vector<std::string>> s3_;  // object key -> lines
  uint64_t state_losses_ = 0;
  std::vector<std::future<Status>> flushes_;  // cut short; they end with the writer
};

void PowerCutRun::Cycle(bool cut) {
  PowerCutEnv env(options_.state_dir);
  std::atomic<Buffer*> live{nullptr};
  std::atomic<uint64_t> captured_at_sync{0};
  // NORMAL makes the WAL durable only when it is synced (at a checkpoint): the readings
  // published as captured by then are a floor of what survives.
  env.OnSqliteSync([&](const std::string& path) {
    Buffer* b = live.load();
    if (path.ends_with("-wal") && b != nullptr) captured_at_sync = b->Stats().captured;
  });
  const bool cut_in_open = cut && rng_() % 6 == 0;
  if (cut_in_open) env.CutAfter(1 + static_cast<int64_t>(rng_() % 80));
  auto opened = Buffer::Open(env, options_);
  if (!opened) {
    ASSERT_TRUE(env.cut()) << "open failed with no cut: " << opened.error().message();
    env.Revert();
    return;
  }
  std::unique_ptr<Buffer> b = std::move(*opened);
  live = b.get();
  if (std::optional<Status> flushed = FlushUnlessCut(*b, env)) {
    ASSERT_TRUE(flushed->ok()) << flushed->error().message();
    Verify(*b);
  }
  if (cut && !env.cut()) {
    if (!cut_in_open) env.CutAfter(1 + static_cast<int64_t>(rng_() % 600));
    auto uploader = SegmentCatalog::OpenReadOnly(env, options_.state_dir);
    ASSERT_TRUE(uploader.ok());
    Work(*b, env, **uploader);
    env.Cut();
  }
  live = nullptr;
  b->Stop(/*seal=*/false);
  for (auto& f : flushes_) (void)f.get();
  flushes_.clear();
  const uint64_t captured = b->Stats().captured;
  b.reset();
  env.Revert();
  const uint64_t durable = options_.sync_full ? captured : captured_at_sync.load();
  for (uint64_t i = 0; i < durable && i < accepted_.size(); ++i) must_survive_.insert(accepted_[i]);
  accepted_.clear();
}

// A flush waits for its commit, which a cut fails until Stop(); nullopt once cut.
std::optional<Status> PowerCutRun::FlushUnlessCut(Buffer& b, PowerCutEnv& env) {
  flushes_.push_back(std::async(std::launch::async, [&b] { return b.Flush(); }));
  while (flushes_.back().wait_for(milliseconds{5}) != std::future_status::ready) {
    if (env.cut()) return std::nullopt;
  }
  Status s = flushes_.back().get();
  flushes_.pop_back();
  return env.cut() ? std::nullopt : std::optional<Status>(s);
}

void PowerCutRun::Work(Buffer& b, PowerCutEnv& env, SegmentCatalog& uploader) {
  const int steps = 20 + static_cast<int>(rng_() % 40);
  for (int i = 0; i < steps && !env.cut(); ++i) {
    const uint64_t r = rng_() % 10;
    if (r < 6) {
      std::vector<Reading> batch;
      for (uint64_t k = 1 + rng_() % 5; k > 0; --k) {
        ts_ += kTsStep;
        batch.push_back({rng_() % 2 ? "a" : "b", ts_, true,
                         fmt::format(R"({{"run":{},"n":{}}})", run_, next_++)});
      }
      std::vector<std::string> payloads;
      for (const Reading& rd : batch) payloads.push_back(rd.data_json);
      size_t n = b.Submit(std::move(batch), milliseconds{100});
      accepted_.insert(accepted_.end(), payloads.begin(), payloads.begin() + static_cast<long>(n));
    } else if (r < 8) {
      (void)FlushUnlessCut(b, env);
    } else {
      Upload(b, uploader);
    }
  }
}

// The uploader: PUT the next due segment, then tell the buffer.
void PowerCutRun::Upload(Buffer& b, SegmentCatalog& uploader) {
  auto due = uploader.NextDue(INT64_MAX);
  if (!due || !*due) return;
  const SegmentRecord& seg = **due;
  std::vector<std::string> lines = testing::ReadGzipLines(seg.path);
  if (lines.empty()) return;  // removed since the query
  auto [it, fresh] = s3_.emplace(seg.file, lines);
  EXPECT_TRUE(fresh || it->second == lines) << seg.file << " uploaded twice with other bytes";
  (void)b.MarkUploaded(seg.id);
}

std::map<std::string, std::map<uint64_t, std::string>> PowerCutRun::Seen() {
  std::map<std::string, std::vector<std::string>> objects = s3_;
  for (auto& e : fs::directory_iterator(SegmentsDir(options_.state_dir))) {
    std::string name = e.path().filename().string();
    if (!name.ends_with(".jsonl.gz")) continue;
    auto lines = testing::ReadGzipLines(e.path().string());
    auto [it, fresh] = objects.emplace(name, lines);
    EXPECT_TRUE(fresh || it->second == lines) << name << ": local file differs from its object";
  }
  std::map<std::string, std::map<uint64_t, std::string>> seen;
  for (const auto& [name, lines] : objects) {
    for (const std::string& text : lines) {
      Line l = ParseLine(text);
      auto [it, fresh] = seen[l.source].emplace(l.seq, l.data);
      EXPECT_TRUE(fresh || it->second == l.data)
          << l.source << " seq " << l.seq << " names two readings: " << it->second << " and "
          << l.data << " (" << name << ")";
    }
  }
  return seen;
}

// The drops recorded, and under sync "normal" those of databases a later state loss moved
// aside too: a second salvage starts from the files and the seq marks, and the drops the
// first one recorded stay in the database it moved aside (see the report in
// docs/testing.md).
std::vector<DropRecord> PowerCutRun::Drops() {
  std::vector<std::string> dirs = {options_.state_dir};
  for (auto& e : fs::directory_iterator(options_.state_dir)) {
    if (!options_.sync_full && e.path().filename().string().starts_with("corrupt-")) {
      dirs.push_back(e.path().string());
    }
  }
  std::vector<DropRecord> out;
  for (const std::string& dir : dirs) {
    auto catalog = SegmentCatalog::OpenReadOnly(Env::Default(), dir);
    if (!catalog) continue;
    auto drops = (*catalog)->PendingTombstones(1'000'000);
    if (drops) out.insert(out.end(), drops->begin(), drops->end());
  }
  return out;
}

void PowerCutRun::Verify(Buffer& b) {
  const BufferStats stats = b.Stats();
  const bool loss_declared = stats.state_losses > state_losses_;
  state_losses_ = stats.state_losses;
  if (options_.sync_full) {
    EXPECT_EQ(stats.state_losses, 0u) << "state lost under sync=full: " << stats.last_state_loss;
    EXPECT_EQ(stats.dropped_readings, 0u);
  }
  auto seen = Seen();
  std::map<std::string, std::pair<std::string, uint64_t>> where;  // payload -> source, seq
  for (const auto& [source, seqs] : seen) {
    for (const auto& [seq, data] : seqs) {
      auto [it, fresh] = where.emplace(data, std::make_pair(source, seq));
      EXPECT_TRUE(fresh) << data << " stored twice: " << source << " seq " << seq << " and "
                         << it->second.second;
    }
  }
  for (const std::string& data : must_survive_) {
    EXPECT_TRUE(where.count(data) != 0 || (!options_.sync_full && loss_declared))
        << "captured reading " << data << " lost";
  }
  // A seq no file or object holds must be in a recorded drop.
  std::vector<DropRecord> drops = Drops();
  for (const auto& entry : stats.last_seq) {
    const std::string& source = entry.first;
    for (uint64_t seq = 1; seq <= entry.second; ++seq) {
      bool dropped = std::any_of(drops.begin(), drops.end(), [&](const DropRecord& d) {
        return d.source == source && d.first_seq <= seq && seq <= d.last_seq;
      });
      EXPECT_TRUE(seen[source].count(seq) != 0 || dropped)
          << source << " seq " << seq << " is missing and no drop records it";
    }
  }
  for (const auto& [data, at] : where) must_survive_.insert(data);
}

TEST(PowerCutTest, EveryCapturedReadingSurvivesACut) {
  const uint64_t cuts = EnvNumber("GRANARY_POWERCUT_CUTS", 200);
  const uint64_t seed = EnvNumber("GRANARY_POWERCUT_SEED", std::random_device{}());
  size_t checked = 0;
  for (uint64_t run = 0; run * kCutsPerRun < cuts && !HasFatalFailure(); ++run) {
    SCOPED_TRACE(fmt::format("GRANARY_POWERCUT_SEED={} run {}", seed, run));
    PowerCutRun r(seed + run, static_cast<int>(run));
    checked += r.Go(kCutsPerRun);
    if (HasFailure()) break;
  }
  std::printf("%llu cuts, %zu readings checked, seed %llu\n", static_cast<unsigned long long>(cuts),
              checked, static_cast<unsigned long long>(seed));
}

}  // namespace
}  // namespace granary
