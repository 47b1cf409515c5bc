// A corrupt buffer database is moved aside, never deleted and never fatal: polling must go
// on. What can be saved is saved. Sealed segment files are complete and self-describing,
// so the fresh catalog adopts them (an already uploaded one is re-PUT under the same key
// with the same bytes: a no-op). Seqs continue after the highest one ever sealed, known
// from the adopted files and from seqmark, a small file rewritten before any segment file
// is removed (after upload, or by the quota), so no key that may exist in S3 is reused
// with other bytes. Readings that were committed but
// not yet sealed are in the moved-aside database only; the event says so.
#include <dirent.h>
#include <unistd.h>
#include <zlib.h>

#include <cjson/cJSON.h>
#include <fmt/format.h>

#include <algorithm>
#include <cstdio>
#include <fstream>
#include <map>
#include <optional>

#include "platform/handles.h"
#include "platform/log.h"
#include "storage/buffer_store.h"
#include "storage/segment_file.h"
#include "platform/sqlite.h"

namespace granary {
namespace {

struct Adopted {
  std::string source;
  uint64_t first_seq = 0, last_seq = 0, count = 0;
  int64_t first_ts = 0, last_ts = 0;
  std::string clock;
  SegmentDigest digest;
};

// Reads one segment file completely; nullopt when it is not a whole, contiguous segment.
std::optional<Adopted> ReadSegment(const std::string& path) {
  Adopted a;
  std::ifstream raw(path, std::ios::binary);
  std::string bytes((std::istreambuf_iterator<char>(raw)), std::istreambuf_iterator<char>());
  DigestBytes(bytes, a.digest);

  GzFile gz(gzopen(path.c_str(), "rb"));
  if (!gz) return std::nullopt;
  std::string text;
  char buf[65536];
  int got;
  while ((got = gzread(gz.get(), buf, sizeof buf)) > 0) text.append(buf, static_cast<size_t>(got));
  int err = 0;
  gzerror(gz.get(), &err);
  if (got < 0 || (err != Z_OK && err != Z_STREAM_END) || text.empty() || text.back() != '\n') {
    return std::nullopt;
  }
  a.digest.raw_bytes = text.size();
  bool any_unsynced = false, any_synced = false;
  size_t start = 0;
  while (start < text.size()) {
    size_t end = text.find('\n', start);
    CjsonPtr line(cJSON_ParseWithLength(text.data() + start, end - start));
    start = end + 1;
    const cJSON* seq = line ? cJSON_GetObjectItemCaseSensitive(line.get(), "seq") : nullptr;
    const cJSON* ts = line ? cJSON_GetObjectItemCaseSensitive(line.get(), "ts") : nullptr;
    const char* source = line ? cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(line.get(), "source")) : nullptr;
    if (!cJSON_IsNumber(seq) || !cJSON_IsNumber(ts) || source == nullptr) return std::nullopt;
    uint64_t s = static_cast<uint64_t>(seq->valuedouble);
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
  a.clock = any_unsynced ? (any_synced ? "mixed" : "unsynced") : "ok";
  return a;
}

bool EndsWith(const std::string& s, std::string_view suffix) {
  return s.size() >= suffix.size() && s.compare(s.size() - suffix.size(), suffix.size(), suffix) == 0;
}

}  // namespace

std::string SeqMarkPath(const std::string& state_dir) { return state_dir + "/seqmark"; }

void BufferStore::WriteSeqMark() {
  std::string text;
  for (const auto& [name, src] : sources_) text += fmt::format("{} {}\n", name, src.next_seq);
  Status s = WriteFileAtomically(env_, SeqMarkPath(options_.state_dir), text, /*durable=*/true);
  if (!s) log::Warning("buffer: seqmark: {}", s.error().message());
}

Result<std::string> BufferStore::MoveAside(const std::string& why) {
  std::string dir = fmt::format("{}/corrupt-{}", options_.state_dir, env_.WallNowMs());
  if (Status s = env_.CreateDirs(dir); !s) return s.error();
  for (const char* suffix : {"", "-wal", "-shm"}) {
    std::string from = db_path_ + suffix;
    if (::access(from.c_str(), F_OK) != 0) continue;
    if (Status s = env_.RenameFile(from, dir + "/buffer.db" + suffix); !s) return s.error();
  }
  (void)WriteFileAtomically(env_, dir + "/REASON", why + "\n", /*durable=*/true);
  return dir;
}

Status BufferStore::AdoptSegments(const std::string& aside_dir) {
  std::map<std::string, uint64_t> next;  // source -> next seq
  std::ifstream mark(SeqMarkPath(options_.state_dir));
  std::string name;
  uint64_t seq;
  while (mark >> name >> seq) next[name] = std::max(next[name], seq);

  std::vector<std::string> files;
  if (DIR* d = opendir(segments_dir_.c_str())) {
    while (dirent* e = readdir(d)) {
      if (EndsWith(e->d_name, ".jsonl.gz")) files.emplace_back(e->d_name);
    }
    closedir(d);
  }
  std::sort(files.begin(), files.end());
  sqlite3* db = db_.get();
  if (Status s = sql::Exec(db, "BEGIN IMMEDIATE"); !s) return s;
  auto st = sql::Prepare(db,
      "INSERT OR IGNORE INTO segments(source, first_seq, last_seq, count, first_ts, last_ts,"
      " clock, format, file, bytes, raw_bytes, md5, sha256, state, sealed_at)"
      " VALUES(?,?,?,?,?,?,?,'jsonl.gz',?,?,?,?,?,'sealed',?)");
  if (!st) return st.error();
  sqlite3_stmt* ins = st->get();
  size_t adopted = 0;
  for (const std::string& f : files) {
    std::optional<Adopted> a = ReadSegment(segments_dir_ + "/" + f);
    if (!a) {
      log::Warning("buffer: {} is not a whole segment; moved to {}", f, aside_dir);
      (void)env_.RenameFile(segments_dir_ + "/" + f, aside_dir + "/" + f);
      continue;
    }
    sql::StmtScope scope(ins);
    sql::Bind(ins, 1, a->source);
    sql::Bind(ins, 2, static_cast<int64_t>(a->first_seq));
    sql::Bind(ins, 3, static_cast<int64_t>(a->last_seq));
    sql::Bind(ins, 4, static_cast<int64_t>(a->count));
    sql::Bind(ins, 5, a->first_ts);
    sql::Bind(ins, 6, a->last_ts);
    sql::Bind(ins, 7, a->clock);
    sql::Bind(ins, 8, f);
    sql::Bind(ins, 9, static_cast<int64_t>(a->digest.bytes));
    sql::Bind(ins, 10, static_cast<int64_t>(a->digest.raw_bytes));
    sql::Bind(ins, 11, a->digest.md5_hex);
    sql::Bind(ins, 12, a->digest.sha256_hex);
    sql::Bind(ins, 13, env_.WallNowMs());
    if (Status s = sql::StepDone(db, ins, "adopt segment"); !s) return s;
    next[a->source] = std::max(next[a->source], a->last_seq + 1);
    ++adopted;
  }
  for (const auto& [source, next_seq] : next) {
    auto st = sql::Prepare(db, "INSERT INTO sources(name, next_seq) VALUES(?, ?)");
    if (!st) return st.error();
    sql::Bind(st->get(), 1, source);
    sql::Bind(st->get(), 2, static_cast<int64_t>(next_seq));
    if (Status s = sql::StepDone(db, st->get(), "restore next seq"); !s) return s;
  }
  if (Status s = sql::Exec(db, "COMMIT"); !s) return s;
  if (Status s = AddCounter("buffers_moved_aside", 1); !s) return s;
  log::Error("buffer: started a fresh database; adopted {} sealed segments; readings captured "
             "but not yet sealed are only in {}/buffer.db",
             adopted, aside_dir);
  return Status::Ok();
}

}  // namespace granary
