#include "storage/buffer_store.h"

#include <fmt/format.h>

#include <cerrno>

#include "platform/log.h"
#include "platform/sqlite.h"
#include "storage/run_codec.h"
#include "storage/schema.h"
#include "storage/segment_file.h"

namespace granary {
namespace {

constexpr int64_t kHourMs = 3'600'000;

int64_t HourOf(int64_t ts_ms) {
  return ts_ms >= 0 ? ts_ms / kHourMs : (ts_ms - kHourMs + 1) / kHourMs;
}

}  // namespace

std::string BufferDbPath(const std::string& state_dir) { return state_dir + "/buffer.db"; }
std::string SegmentsDir(const std::string& state_dir) { return state_dir + "/segments"; }

std::string SegmentFormatOf(const BufferOptions& options, const std::string& source) {
  auto it = options.segment_formats.find(source);
  return it == options.segment_formats.end() ? std::string(kJsonlFormat) : it->second;
}

BufferStore::BufferStore(Env& env, BufferOptions options)
    : env_(env),
      options_(std::move(options)),
      db_path_(BufferDbPath(options_.state_dir)),
      segments_dir_(SegmentsDir(options_.state_dir)),
      seqmark_(env, options_.state_dir) {}

BufferStore::~BufferStore() { Close(); }

Status BufferStore::Open() {
  if (Status s = env_.CreateDirs(segments_dir_); !s) return s;
  if (Status s = seqmark_.Load(); !s) {
    // Unreadable marks vouch for nothing; the file stays as evidence under another name.
    log::Error("buffer: seq marks unreadable ({}); kept as seqmark.damaged", s.error().message());
    (void)env_.RenameFile(SeqMarkPath(options_.state_dir),
                          SeqMarkPath(options_.state_dir) + ".damaged");
    if (Status again = seqmark_.Load(); !again) return again;
  }
  // Before the open, which creates a WAL when there is none.
  const bool wal_present = env_.FileExists(db_path_ + "-wal");
  Status opened = OpenDatabase();
  if (!opened && opened.error().sys_errno() != EBADMSG) return opened;
  std::string lost;
  DiskView view;
  if (!opened) {
    lost = "database is corrupt: " + opened.error().message();
  } else {
    auto scanned = ScanSegments();
    if (!scanned) return scanned.error();
    view = std::move(*scanned);
    auto why = StateLostReason(wal_present, view);
    if (!why) return why.error();
    lost = *why;
  }
  if (!lost.empty()) {
    if (Status s = Salvage(lost); !s) return s;
  } else if (Status s = Repair(view); !s) {
    return s;
  }
  if (Status s = StartSeqMarks(); !s) return s;
  return RefreshCatalogCounts();
}

void BufferStore::Close() {
  if (!db_) return;
  // Marked clean only after the checkpoint, so a WAL found missing at the next start is
  // never one this stop removed.
  if (Status s = sql::Exec(db_.get(), "PRAGMA wal_checkpoint(TRUNCATE)"); s) {
    // Nothing above next_seq was issued: a later salvage need not count the reservation.
    for (const auto& [name, src] : sources_) seqmark_.marks[name].reserved = src.next_seq;
    seqmark_.stopped_cleanly = true;
    if (Status m = WriteSeqMark(); !m) log::Warning("buffer: {}", m.error().message());
  }
  CloseDatabase();
}

void BufferStore::CloseDatabase() {
  insert_reading_.reset();
  update_next_seq_.reset();
  insert_source_.reset();
  delete_range_.reset();
  catalog_.reset();
  db_.reset();
}

Status BufferStore::OpenDatabase() {
  auto db = sql::Open(env_, db_path_, /*read_only=*/false);
  if (!db) return db.error();
  db_ = std::move(*db);
  if (Status s = Configure(); !s) return s;
  if (Status s = schema::Migrate(db_.get()); !s) return s;
  catalog_ = std::make_unique<SegmentCatalog>(env_, db_.get(), segments_dir_);
  sources_.clear();
  buffered_ = 0;
  return LoadSources();
}

Status BufferStore::Configure() {
  // WAL: readers (granary status) never block the writer. FULL: a commit is on disk when
  // it returns, which is what "captured" promises; NORMAL may lose the last commits on
  // power loss (never on a process crash). The cache size is sql::Open's.
  // secure_delete OFF: Debian builds SQLite to zero every freed page, and sealing frees
  // every reading it sealed, so each reading was written twice more (zeroes into the WAL,
  // then into the file). What is deleted lives on in its segment file anyway.
  std::string pragmas = fmt::format(
      "PRAGMA journal_mode=WAL; PRAGMA synchronous={};"
      "PRAGMA journal_size_limit=4194304; PRAGMA foreign_keys=OFF; PRAGMA secure_delete=OFF;",
      options_.sync_full ? "FULL" : "NORMAL");
  if (Status s = sql::Exec(db_.get(), pragmas); !s) return s;
  // quick_check reads every page once: seconds for a full 1 GiB buffer on a small board,
  // paid once per start, against losing a whole buffer to a corrupt page found later.
  auto stmt = sql::Prepare(db_.get(), "PRAGMA quick_check");
  if (!stmt) return stmt.error();
  if (sqlite3_step(stmt->get()) != SQLITE_ROW) return sql::Fail(db_.get(), "quick_check");
  std::string verdict = sql::ColumnText(stmt->get(), 0);
  if (verdict != "ok") return Error("integrity check failed: " + verdict.substr(0, 200), EBADMSG);
  return Status::Ok();
}

Status BufferStore::LoadSources() {
  auto stmt = sql::Prepare(db_.get(), "SELECT id, name, next_seq FROM sources");
  if (!stmt) return stmt.error();
  int rc;
  while ((rc = sqlite3_step(stmt->get())) == SQLITE_ROW) {
    SourceState src;
    src.id = sqlite3_column_int64(stmt->get(), 0);
    src.name = sql::ColumnText(stmt->get(), 1);
    src.next_seq = static_cast<uint64_t>(sqlite3_column_int64(stmt->get(), 2));
    sources_.emplace(src.name, std::move(src));
  }
  if (rc != SQLITE_DONE) return sql::Fail(db_.get(), "load sources");
  if (Status s = PrepareStatements(); !s) return s;
  for (auto& [name, src] : sources_) {
    if (Status s = RebuildOpenSegment(src); !s) return s;
  }
  return Status::Ok();
}

Status BufferStore::PrepareStatements() {
  struct Prep {
    SqliteStmt* slot;
    const char* sql;
  };
  const Prep preps[] = {
      {&insert_reading_,
       "INSERT INTO readings(source_id, first_seq, last_seq, segment_seq, count, first_ts,"
       " last_ts, unsynced, lines, encoding, rendered_bytes) VALUES(?,?,?,?,?,?,?,?,?,?,?)"},
      {&update_next_seq_, "UPDATE sources SET next_seq=? WHERE id=?"},
      {&insert_source_, "INSERT INTO sources(name, next_seq) VALUES(?, 1)"},
      {&delete_range_, "DELETE FROM readings WHERE source_id=? AND first_seq BETWEEN ? AND ?"},
  };
  for (const Prep& p : preps) {
    auto s = sql::Prepare(db_.get(), p.sql);
    if (!s) return s.error();
    *p.slot = std::move(*s);
  }
  return Status::Ok();
}

// The cut points live in memory only; the runs' segment_seq rebuilds them exactly.
Status BufferStore::RebuildOpenSegment(SourceState& src) {
  auto stmt = sql::Prepare(db_.get(),
                           "SELECT segment_seq, count(*), sum(count),"
                           " sum(coalesce(rendered_bytes, length(lines))),"
                           " min(first_ts), max(last_ts), max(last_seq)"
                           " FROM readings WHERE source_id=? GROUP BY segment_seq"
                           " ORDER BY segment_seq");
  if (!stmt) return stmt.error();
  sql::Bind(stmt->get(), 1, src.id);
  src.first_unsealed = src.next_seq;
  int rc;
  while ((rc = sqlite3_step(stmt->get())) == SQLITE_ROW) {
    sqlite3_stmt* st = stmt->get();
    src.first_unsealed =
        std::min(src.first_unsealed, static_cast<uint64_t>(sqlite3_column_int64(st, 0)));
    // A later group exists: the previous one is complete.
    if (src.open_count > 0) EndOpenSegment(src);
    src.open_first_seq = static_cast<uint64_t>(sqlite3_column_int64(st, 0));
    src.open_count = static_cast<uint64_t>(sqlite3_column_int64(st, 2));
    src.open_bytes = static_cast<uint64_t>(sqlite3_column_int64(st, 3));
    src.open_hour = HourOf(sqlite3_column_int64(st, 4));
    src.open_last_ts = sqlite3_column_int64(st, 5);
    src.open_last_seq = static_cast<uint64_t>(sqlite3_column_int64(st, 6));
    src.open_since_mono_ns = env_.MonoNowNs();
    buffered_ += src.open_count;
  }
  if (rc != SQLITE_DONE) return sql::Fail(db_.get(), "scan readings of " + src.name);
  if (src.open_count > 0) EndIfFull(src);
  return Status::Ok();
}

bool BufferStore::StartsNewSegment(const SourceState& src, int64_t ts_ms) const {
  return src.open_count > 0 && (HourOf(ts_ms) != src.open_hour || ts_ms < src.open_last_ts);
}

void BufferStore::AddToOpenSegment(SourceState& src, uint64_t seq, int64_t ts_ms, uint64_t bytes) {
  if (src.open_count == 0) {
    src.open_first_seq = seq;
    src.open_hour = HourOf(ts_ms);
    src.open_since_mono_ns = env_.MonoNowNs();
  }
  ++src.open_count;
  src.open_bytes += bytes;
  src.open_last_ts = ts_ms;
  src.open_last_seq = seq;
}

void BufferStore::EndOpenSegment(SourceState& src) {
  src.cuts.push_back({src.id, src.name, src.open_first_seq, src.open_last_seq});
  src.open_count = 0;
  src.open_bytes = 0;
}

bool BufferStore::EndIfFull(SourceState& src) {
  if (src.open_count >= options_.segment_max_readings ||
      src.open_bytes >= options_.segment_max_bytes) {
    EndOpenSegment(src);
    return true;
  }
  return false;
}

Result<BufferStore::SourceState*> BufferStore::SourceFor(const std::string& name) {
  auto it = sources_.find(name);
  if (it != sources_.end()) return &it->second;
  sqlite3_stmt* st = insert_source_.get();
  sql::StmtScope scope(st);
  sql::Bind(st, 1, name);
  if (Status s = sql::StepDone(db_.get(), st, "add source " + name); !s) return s.error();
  SourceState src;
  src.id = sqlite3_last_insert_rowid(db_.get());
  src.name = name;
  return &sources_.emplace(name, std::move(src)).first->second;
}

// Consecutive readings of one source inside one segment, of one encoding, waiting for
// insert.
struct BufferStore::Run {
  int64_t source_id = 0;
  uint64_t first_seq = 0, last_seq = 0, segment_seq = 0, count = 0, unsynced = 0;
  int64_t first_ts = 0, last_ts = 0;
  RunEncoding encoding = RunEncoding::kRendered;
  uint64_t rendered_bytes = 0;  // what the run seals to
  std::string lines;
};

Status BufferStore::InsertRun(const Run& run) {
  sqlite3_stmt* ins = insert_reading_.get();
  sql::StmtScope scope(ins);
  sql::Bind(ins, 1, run.source_id);
  sql::Bind(ins, 2, static_cast<int64_t>(run.first_seq));
  sql::Bind(ins, 3, static_cast<int64_t>(run.last_seq));
  sql::Bind(ins, 4, static_cast<int64_t>(run.segment_seq));
  sql::Bind(ins, 5, static_cast<int64_t>(run.count));
  sql::Bind(ins, 6, run.first_ts);
  sql::Bind(ins, 7, run.last_ts);
  sql::Bind(ins, 8, static_cast<int64_t>(run.unsynced));
  sqlite3_bind_blob(ins, 9, run.lines.data(), static_cast<int>(run.lines.size()), SQLITE_STATIC);
  sql::Bind(ins, 10, static_cast<int64_t>(run.encoding));
  sql::Bind(ins, 11, static_cast<int64_t>(run.rendered_bytes));
  return sql::StepDone(db_.get(), ins, "insert readings");
}

Status BufferStore::ReserveSeqs(const std::vector<Reading>& batch) {
  std::map<std::string_view, uint64_t> wanted;
  for (const Reading& r : batch) ++wanted[r.source];
  bool save = false;
  const int64_t now = env_.MonoNowNs();
  for (const auto& [name, count] : wanted) {
    auto it = sources_.find(std::string(name));
    uint64_t next = it == sources_.end() ? 1 : it->second.next_seq;
    save |= seqmark_.Reserve(std::string(name), next, count, now);
  }
  if (!save) return Status::Ok();
  if (Status s = seqmark_.Save(); !s) return s.error().Wrap("reserve seqs");
  return Status::Ok();
}

Status BufferStore::Commit(const std::vector<Reading>& batch) {
  if (Status s = ReserveSeqs(batch); !s) return s.error().Wrap("commit");
  // Seqs and cut points change only if the transaction commits.
  std::map<std::string, SourceState> saved = sources_;
  auto fail = [&](Error e) -> Status {
    (void)sql::Exec(db_.get(), "ROLLBACK");
    sources_ = std::move(saved);
    return e.Wrap(fmt::format("commit batch of {} readings", batch.size()));
  };
  if (Status s = sql::Exec(db_.get(), "BEGIN IMMEDIATE"); !s) return fail(s.error());
  std::map<int64_t, Run> runs;  // the run being built, per source id
  std::map<int64_t, SourceState*> touched;
  for (const Reading& r : batch) {
    auto src = SourceFor(r.source);
    if (!src) return fail(src.error());
    SourceState& s = **src;
    touched[s.id] = &s;
    Run& run = runs[s.id];
    const RunEncoding encoding = r.record.empty() ? RunEncoding::kCompact : RunEncoding::kRendered;
    const bool new_segment = StartsNewSegment(s, r.ts_ms);
    if (new_segment) EndOpenSegment(s);
    if (run.count > 0 && (new_segment || run.encoding != encoding)) {
      if (Status st = InsertRun(run); !st) return fail(st.error());
      run = Run();
    }
    uint64_t seq = s.next_seq++;
    uint64_t bytes = 0;
    if (encoding == RunEncoding::kCompact) {
      AppendCompactReading(run.lines, run.count == 0 ? r.ts_ms : run.last_ts, r.ts_ms, r.clock_ok,
                           r.data_json);
      bytes = JsonLineSize(options_.device, s.name, seq, r.ts_ms, r.clock_ok, r.data_json.size());
    } else {
      AppendRecord(run.lines, r.record, r.seq_offset, seq);
      bytes = r.record.size();
    }
    AddToOpenSegment(s, seq, r.ts_ms, bytes);
    run.rendered_bytes += bytes;
    if (run.count == 0) {
      run.source_id = s.id;
      run.first_seq = seq;
      run.first_ts = r.ts_ms;
      run.segment_seq = s.open_first_seq;
      run.encoding = encoding;
    }
    ++run.count;
    run.last_seq = seq;
    run.last_ts = r.ts_ms;
    if (!r.clock_ok) ++run.unsynced;
    if (EndIfFull(s)) {
      if (Status st = InsertRun(run); !st) return fail(st.error());
      run = Run();
    }
  }
  for (auto& [id, run] : runs) {
    if (run.count == 0) continue;
    if (Status st = InsertRun(run); !st) return fail(st.error());
  }
  sqlite3_stmt* upd = update_next_seq_.get();
  for (auto& [id, s] : touched) {
    sql::StmtScope scope(upd);
    sql::Bind(upd, 1, static_cast<int64_t>(s->next_seq));
    sql::Bind(upd, 2, id);
    if (Status st = sql::StepDone(db_.get(), upd, "advance seq"); !st) return fail(st.error());
  }
  if (Status s = sql::Exec(db_.get(), "COMMIT"); !s) return fail(s.error());
  buffered_ += batch.size();
  captured_ += batch.size();
  return Status::Ok();
}

std::vector<SealJob> BufferStore::TakeCuts() {
  std::vector<SealJob> jobs;
  for (auto& [name, src] : sources_) {
    for (SealJob& j : src.cuts) jobs.push_back(std::move(j));
    src.cuts.clear();
  }
  return jobs;
}

void BufferStore::CutAll() {
  for (auto& [name, src] : sources_) {
    if (src.open_count > 0) EndOpenSegment(src);
  }
}

void BufferStore::CutAged() {
  const int64_t now = env_.MonoNowNs();
  for (auto& [name, src] : sources_) {
    if (src.open_count > 0 && now - src.open_since_mono_ns >= kHourMs * 1'000'000) {
      EndOpenSegment(src);
    }
  }
}

Status BufferStore::RefreshCatalogCounts() {
  auto sum = catalog_->Summary();
  if (!sum) return sum.error();
  summary_ = std::move(*sum);
  return Status::Ok();
}

void BufferStore::FillStats(BufferStats& stats) {
  stats.captured = captured_;
  stats.buffered = buffered_;
  FillCatalogStats(summary_, stats);
  stats.usage_bytes = UsageBytes();
  stats.paused = paused_;
  for (const auto& [name, src] : sources_) stats.last_seq[name] = src.next_seq - 1;
}

}  // namespace granary
