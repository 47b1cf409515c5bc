// A database that cannot vouch for the files beside it (corrupt, emptied, replaced by an
// older copy, or missing the WAL a crash left) is moved aside, never deleted, and a fresh
// one adopts every segment file on disk: sealed files are complete and self-describing
// (an already uploaded one is re-PUT under the same key with the same bytes: a no-op).
// Seqs continue above everything ever issued, known from the files and the seq marks, so
// no key that may exist in S3 is reused with other bytes. What no file holds between the
// sealed mark and the last reserved seq (readings captured but not sealed, or seqs never
// issued) is recorded as a dropped range with the reason, so a tombstone tells the receiver.
#include <cjson/cJSON.h>
#include <fmt/format.h>

#include <algorithm>
#include <map>
#include <optional>
#include <random>

#include "platform/gzip_lines.h"
#include "platform/handles.h"
#include "platform/log.h"
#include "platform/sqlite.h"
#include "storage/buffer_store.h"
#include "storage/segment_file.h"

namespace granary {
namespace {

constexpr uint64_t kMaxSegmentFile = 1ULL << 30;
constexpr uint64_t kMaxSegmentRaw = 16ULL << 30;
constexpr uint64_t kMaxLine = 64ULL << 20;

// A whole, contiguous segment file, read back into its catalog record; nullopt otherwise.
std::optional<SegmentRecord> ReadSegment(Env& env, const std::string& path) {
  auto bytes = env.ReadFile(path, kMaxSegmentFile);
  if (!bytes) return std::nullopt;
  SegmentDigest digest;
  DigestBytes(*bytes, digest);
  SegmentRecord a;
  a.bytes = digest.bytes;
  a.md5_hex = digest.md5_hex;
  a.sha256_hex = digest.sha256_hex;
  GzipLineReader lines(kMaxLine, kMaxSegmentRaw);
  if (!lines.Open(path)) return std::nullopt;
  bool any_unsynced = false, any_synced = false;
  std::string_view text;
  while (lines.Next(&text)) {
    CjsonPtr line(cJSON_ParseWithLength(text.data(), text.size()));
    const cJSON* seq = line ? cJSON_GetObjectItemCaseSensitive(line.get(), "seq") : nullptr;
    const cJSON* ts = line ? cJSON_GetObjectItemCaseSensitive(line.get(), "ts") : nullptr;
    const char* source =
        line ? cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(line.get(), "source"))
             : nullptr;
    if (!cJSON_IsNumber(seq) || !cJSON_IsNumber(ts) || source == nullptr || seq->valuedouble < 1) {
      return std::nullopt;
    }
    auto s = static_cast<uint64_t>(seq->valuedouble);
    if (a.count == 0) {
      a.source = source;
      a.first_seq = s;
      a.first_ts = static_cast<int64_t>(ts->valuedouble);
    } else if (s != a.last_seq + 1 || a.source != source) {
      return std::nullopt;
    }
    a.last_seq = s;
    a.last_ts = static_cast<int64_t>(ts->valuedouble);
    ++a.count;
    (cJSON_GetObjectItemCaseSensitive(line.get(), "clock") ? any_unsynced : any_synced) = true;
  }
  if (!lines.status() || lines.last_line_unterminated() || a.count == 0) return std::nullopt;
  a.raw_bytes = lines.raw_bytes();
  a.clock = any_unsynced ? (any_synced ? "mixed" : "unsynced") : "ok";
  return a;
}

std::string NewDbId() {
  std::random_device rd;
  return fmt::format("{:08x}{:08x}{:08x}{:08x}", rd(), rd(), rd(), rd());
}

}  // namespace

std::vector<DropRecord> BufferStore::PendingTombstonesIn(const std::string& aside_dir) {
  auto db = sql::Open(env_, aside_dir + "/buffer.db", /*read_only=*/true);
  if (!db) return {};
  SegmentCatalog old(env_, db->get(), segments_dir_);
  auto drops = old.PendingTombstones(1'000'000);
  if (!drops) {
    log::Warning("buffer: the damaged database's pending tombstones are unreadable: {}",
                 drops.error().message());
    return {};
  }
  return std::move(*drops);
}

Status BufferStore::WriteSeqMark() {
  Status s = seqmark_.Save();
  if (!s) return s.error().Wrap("write seq marks");
  return Status::Ok();
}

Status BufferStore::StartSeqMarks() {
  auto id = catalog_->Meta("db_id");
  if (!id) return id.error();
  if (id->empty()) {
    *id = NewDbId();
    if (Status s = catalog_->SetMeta("db_id", *id); !s) return s;
    // Under sync "normal" a new database (and a salvage's drops) is not on disk yet: the
    // marks must never name one that a power cut can still take back.
    if (Status s = sql::Exec(db_.get(), "PRAGMA wal_checkpoint(FULL)"); !s) return s;
  }
  seqmark_.db_id = *id;
  auto sum = catalog_->Summary();
  if (!sum) return sum.error();
  seqmark_.losses = std::max(seqmark_.losses, sum->state_losses);
  for (const auto& [name, src] : sources_) {
    SeqMark& m = seqmark_.marks[name];
    m.sealed = std::max(m.sealed, src.first_unsealed);
    m.reserved = std::max(m.reserved, src.next_seq);
  }
  seqmark_.stopped_cleanly = false;
  if (Status s = seqmark_.Save(); !s) return s.error().Wrap("write seq marks");
  return Status::Ok();
}

Result<std::string> BufferStore::MoveAside(const std::string& why) {
  std::string dir = fmt::format("{}/corrupt-{}", options_.state_dir, env_.WallNowMs());
  if (Status s = env_.CreateDirs(dir); !s) return s.error();
  for (const char* suffix : {"", "-wal", "-shm"}) {
    std::string from = db_path_ + suffix;
    if (!env_.FileExists(from)) continue;
    if (Status s = env_.RenameFile(from, dir + "/buffer.db" + suffix); !s) return s.error();
  }
  if (seqmark_.present()) {
    // A copy, not the file: the marks are still what the fresh database starts from.
    auto text = env_.ReadFile(SeqMarkPath(options_.state_dir), 16 << 20);
    if (text) (void)WriteFileAtomically(env_, dir + "/seqmark", *text, /*durable=*/true);
  }
  if (Status s = WriteFileAtomically(env_, dir + "/REASON", why + "\n", /*durable=*/true); !s) {
    return s.error();
  }
  if (Status s = env_.SyncDir(options_.state_dir); !s) return s.error();
  return dir;
}

Status BufferStore::Salvage(const std::string& why) {
  log::Error("buffer: state lost: {}; moving the database aside and adopting the segment files",
             why);
  CloseDatabase();
  auto aside = MoveAside(why);
  if (!aside) return aside.error().Wrap("move the damaged buffer aside");
  if (Status s = OpenDatabase(); !s) return s.error().Wrap("start a fresh buffer");
  return AdoptAndRecord(*aside, why);
}

Status BufferStore::AdoptAndRecord(const std::string& aside_dir, const std::string& why) {
  auto names = env_.ListDir(segments_dir_);
  if (!names) return names.error();
  std::sort(names->begin(), names->end());
  std::map<std::string, uint64_t> next;                 // source -> above its adopted files
  std::map<std::string, std::vector<uint64_t>> broken;  // source -> first seqs of bad files
  std::vector<SegmentRecord> adopted;
  auto set_aside = [&](const std::string& f) {
    log::Warning("buffer: {} is not a whole segment; moved to {}", f, aside_dir);
    (void)env_.RenameFile(segments_dir_ + "/" + f, aside_dir + "/" + f);
    std::string source;
    uint64_t first = 0;
    std::string base = f.ends_with(".tmp") ? f.substr(0, f.size() - 4) : f;
    if (ParseSegmentFileName(base, options_.device, &source, &first)) {
      broken[source].push_back(first);
    }
  };
  for (const std::string& f : *names) {
    // BSON segments are not adopted yet: they move aside whole, and their range is
    // recorded as dropped, so nothing is silently lost and the next start is clean.
    if (f.ends_with(".bson.gz") || f.ends_with(".bson.gz.tmp")) {
      set_aside(f);
      continue;
    }
    const bool tmp = f.ends_with(".jsonl.gz.tmp");
    if (!tmp && !f.ends_with(".jsonl.gz")) continue;
    std::optional<SegmentRecord> a = ReadSegment(env_, segments_dir_ + "/" + f);
    std::string file = tmp ? f.substr(0, f.size() - 4) : f;
    // A whole temp file is a seal that missed its rename; its final name must be free.
    if (!a || (tmp && env_.FileExists(segments_dir_ + "/" + file))) {
      set_aside(f);
      continue;
    }
    if (tmp) {
      if (Status s = env_.RenameFile(segments_dir_ + "/" + f, segments_dir_ + "/" + file); !s) {
        return s;
      }
    }
    a->file = file;
    next[a->source] = std::max(next[a->source], a->last_seq + 1);
    adopted.push_back(std::move(*a));
  }
  if (Status s = env_.SyncDir(segments_dir_); !s) return s;

  const int64_t now = env_.WallNowMs();
  sqlite3* db = db_.get();
  if (Status s = sql::Exec(db, "BEGIN IMMEDIATE"); !s) return s;
  auto fail = [&](const Error& e) -> Status {
    (void)sql::Exec(db, "ROLLBACK");
    return e.Wrap("adopt segment files");
  };
  for (const SegmentRecord& a : adopted) {
    if (Status s = catalog_->InsertSealed(a); !s) return fail(s.error());
  }
  // Ranges dropped before the loss whose tombstones never left: the receiver must still
  // hear of them, so they move to the fresh catalog when the old one can be read at all.
  for (const DropRecord& d : PendingTombstonesIn(aside_dir)) {
    if (Status s = catalog_->InsertDrop(d, /*certain=*/true); !s) return fail(s.error());
  }
  for (const auto& [name, m] : seqmark_.marks) next.emplace(name, 1);
  auto restore = sql::Prepare(db, "INSERT INTO sources(name, next_seq) VALUES(?, ?)");
  if (!restore) return fail(restore.error());
  for (auto& [source, above_files] : next) {
    const SeqMark m = seqmark_.marks.count(source) ? seqmark_.marks[source] : SeqMark{};
    const uint64_t lo = std::max(above_files, m.sealed);
    const uint64_t hi = std::max(lo, m.reserved);
    // A file that could not be read loses its readings up to the next file adopted.
    for (uint64_t first : broken[source]) {
      uint64_t end = lo;
      for (const SegmentRecord& a : adopted) {
        if (a.source == source && a.first_seq > first) end = std::min(end, a.first_seq);
      }
      if (end <= first) continue;
      DropRecord d{0,  source, first, end - 1, end - first, "state lost: segment file unreadable",
                   now};
      if (Status s = catalog_->InsertDrop(d, /*certain=*/true); !s) return fail(s.error());
    }
    if (hi > lo) {
      DropRecord d{0,
                   source,
                   lo,
                   hi - 1,
                   hi - lo,
                   "state lost (" + why +
                       "): readings captured but not sealed, or seqs reserved "
                       "and never issued",
                   now};
      if (Status s = catalog_->InsertDrop(d, /*certain=*/false); !s) return fail(s.error());
    }
    sql::StmtScope scope(restore->get());
    sql::Bind(restore->get(), 1, source);
    sql::Bind(restore->get(), 2, static_cast<int64_t>(hi));
    if (Status s = sql::StepDone(db, restore->get(), "restore next seq"); !s) {
      return fail(s.error());
    }
    SeqMark& mark = seqmark_.marks[source];
    mark.sealed = mark.reserved = hi;
  }
  // The counts of earlier losses were in the databases moved aside; the marks keep them.
  seqmark_.losses += 1;
  Status s = catalog_->SetCounter("buffers_moved_aside", static_cast<int64_t>(seqmark_.losses));
  if (s) s = catalog_->SetCounter("state_losses", static_cast<int64_t>(seqmark_.losses));
  if (s) s = catalog_->SetCounter("last_state_loss_at", now);
  if (s) s = catalog_->SetMeta("last_state_loss", why);
  if (!s) return fail(s.error());
  if (Status c = sql::Exec(db, "COMMIT"); !c) return fail(c.error());
  log::Error("buffer: started a fresh database; adopted {} segment files; the damaged one is in {}",
             adopted.size(), aside_dir);
  sources_.clear();
  return LoadSources();
}

}  // namespace granary
