// The index over a SqlConnection: one schema and one set of statements for SQLite and
// PostgreSQL (design.md: "same schema").
#include <fmt/format.h>

#include <algorithm>
#include <mutex>

#include "receiver/index.h"
#include "receiver/report_sql.h"
#include "receiver/sql_connection.h"

namespace granary::receiver {
namespace {

// 2: messages (archive segments). 3: multipart_uploads and multipart_parts (the state of
// multipart uploads in progress, receiver/upload_table.h); reports, report_files, files
// and validations. 4: in_place (objects indexed where they lie, in_place_store.h). Every
// table is CREATE IF NOT EXISTS, so opening an older index adds what it lacks and raises
// the version.
constexpr int kSchemaVersion = 4;

// {ID} is the dialect's auto-numbered primary key, {JSON} its JSON type.
constexpr const char* kSchema = R"(
CREATE TABLE IF NOT EXISTS objects (
  bucket TEXT NOT NULL, key TEXT NOT NULL, size BIGINT NOT NULL, md5 TEXT NOT NULL,
  sha256 TEXT NOT NULL, content_type TEXT NOT NULL, metadata TEXT NOT NULL, kind TEXT NOT NULL,
  stored_ms BIGINT NOT NULL,
  PRIMARY KEY (bucket, key));
CREATE TABLE IF NOT EXISTS segments (
  bucket TEXT NOT NULL, key TEXT NOT NULL, device TEXT NOT NULL, source TEXT NOT NULL,
  first_seq BIGINT NOT NULL, last_seq BIGINT NOT NULL, count BIGINT NOT NULL,
  first_ts BIGINT NOT NULL, last_ts BIGINT NOT NULL, clock TEXT NOT NULL,
  content_sha256 TEXT NOT NULL, accepted_ms BIGINT NOT NULL,
  PRIMARY KEY (device, source, first_seq), UNIQUE (bucket, key));
CREATE INDEX IF NOT EXISTS segments_by_ts ON segments (device, source, last_ts);
CREATE TABLE IF NOT EXISTS coverage (
  device TEXT NOT NULL, source TEXT NOT NULL, first_seq BIGINT NOT NULL, last_seq BIGINT NOT NULL,
  PRIMARY KEY (device, source, first_seq));
CREATE TABLE IF NOT EXISTS tombstones (
  device TEXT NOT NULL, source TEXT NOT NULL, first_seq BIGINT NOT NULL, last_seq BIGINT NOT NULL,
  count BIGINT NOT NULL, reason TEXT NOT NULL, at_ms BIGINT NOT NULL, bucket TEXT NOT NULL,
  key TEXT NOT NULL,
  PRIMARY KEY (device, source, first_seq));
CREATE TABLE IF NOT EXISTS rejections (
  id {ID}, bucket TEXT NOT NULL, key TEXT NOT NULL, sha256 TEXT NOT NULL, device TEXT NOT NULL,
  kind TEXT NOT NULL, reason TEXT NOT NULL, path TEXT NOT NULL, at_ms BIGINT NOT NULL,
  UNIQUE (bucket, key, sha256));
CREATE TABLE IF NOT EXISTS devices (
  device TEXT PRIMARY KEY, first_seen_ms BIGINT NOT NULL, last_seen_ms BIGINT NOT NULL,
  segments BIGINT NOT NULL, readings BIGINT NOT NULL, rejected BIGINT NOT NULL,
  conflicts BIGINT NOT NULL, status TEXT NOT NULL, status_ms BIGINT NOT NULL,
  online INTEGER NOT NULL);
CREATE TABLE IF NOT EXISTS events (
  id {ID}, at_ms BIGINT NOT NULL, kind TEXT NOT NULL, device TEXT NOT NULL, bucket TEXT NOT NULL,
  key TEXT NOT NULL, detail TEXT NOT NULL);
CREATE INDEX IF NOT EXISTS events_by_device ON events (device, id);
CREATE TABLE IF NOT EXISTS messages (
  id TEXT PRIMARY KEY, device TEXT NOT NULL, source TEXT NOT NULL, topic TEXT NOT NULL,
  ts BIGINT NOT NULL, seq BIGINT NOT NULL, bucket TEXT NOT NULL, key TEXT NOT NULL,
  byte_offset BIGINT NOT NULL, byte_length BIGINT NOT NULL);
CREATE INDEX IF NOT EXISTS messages_by_ts ON messages (ts, id);
CREATE INDEX IF NOT EXISTS messages_by_segment ON messages (bucket, key, seq);
CREATE TABLE IF NOT EXISTS multipart_uploads (
  upload_id TEXT PRIMARY KEY, bucket TEXT NOT NULL, key TEXT NOT NULL, device TEXT NOT NULL,
  content_type TEXT NOT NULL, metadata TEXT NOT NULL, created_ms BIGINT NOT NULL,
  state TEXT NOT NULL, result TEXT NOT NULL, finished_ms BIGINT NOT NULL);
CREATE INDEX IF NOT EXISTS multipart_uploads_by_age ON multipart_uploads (state, created_ms);
CREATE TABLE IF NOT EXISTS multipart_parts (
  upload_id TEXT NOT NULL, part_number INTEGER NOT NULL, size BIGINT NOT NULL, md5 TEXT NOT NULL,
  sha256 TEXT NOT NULL, path TEXT NOT NULL, uploaded_ms BIGINT NOT NULL,
  PRIMARY KEY (upload_id, part_number));
CREATE TABLE IF NOT EXISTS reports (
  uuid TEXT PRIMARY KEY, device TEXT NOT NULL, kind TEXT NOT NULL, bucket TEXT NOT NULL,
  key TEXT NOT NULL, sha256 TEXT NOT NULL, fields {JSON} NOT NULL, state TEXT NOT NULL,
  reason TEXT NOT NULL, size BIGINT NOT NULL, time_ms BIGINT NOT NULL, checked INTEGER NOT NULL,
  UNIQUE (bucket, key));
CREATE INDEX IF NOT EXISTS reports_by_time ON reports (time_ms, uuid);
CREATE INDEX IF NOT EXISTS reports_unchecked ON reports (checked, time_ms);
CREATE TABLE IF NOT EXISTS report_files (
  uuid TEXT NOT NULL, name TEXT NOT NULL, size BIGINT, sha256 TEXT NOT NULL,
  PRIMARY KEY (uuid, name));
CREATE TABLE IF NOT EXISTS files (
  uuid TEXT NOT NULL, name TEXT NOT NULL, device TEXT NOT NULL, kind TEXT NOT NULL,
  bucket TEXT NOT NULL, key TEXT NOT NULL, sha256 TEXT NOT NULL, state TEXT NOT NULL,
  reason TEXT NOT NULL, size BIGINT NOT NULL, stored_ms BIGINT NOT NULL, checked INTEGER NOT NULL,
  PRIMARY KEY (uuid, name), UNIQUE (bucket, key));
CREATE INDEX IF NOT EXISTS files_unchecked ON files (checked, stored_ms);
CREATE TABLE IF NOT EXISTS validations (
  request_id TEXT PRIMARY KEY, what TEXT NOT NULL, kind TEXT NOT NULL, uuid TEXT NOT NULL,
  name TEXT NOT NULL, device TEXT NOT NULL, bucket TEXT NOT NULL, key TEXT NOT NULL,
  sha256 TEXT NOT NULL, size BIGINT NOT NULL, tries BIGINT NOT NULL, next_ms BIGINT NOT NULL);
CREATE TABLE IF NOT EXISTS in_place (
  bucket TEXT NOT NULL, key TEXT NOT NULL, etag TEXT NOT NULL, sha256 TEXT NOT NULL,
  size BIGINT NOT NULL, PRIMARY KEY (bucket, key));
CREATE TABLE IF NOT EXISTS schema_version (version INTEGER NOT NULL);
CREATE TABLE IF NOT EXISTS health_probe (at_ms BIGINT NOT NULL);
)";

constexpr const char* kObjectColumns =
    "bucket, key, size, md5, sha256, content_type, metadata, kind, stored_ms";
constexpr const char* kMessageColumns =
    "id, device, source, topic, ts, seq, bucket, key, byte_offset, byte_length";
constexpr const char* kDeviceColumns =
    "device, first_seen_ms, last_seen_ms, segments, readings, rejected, conflicts, status, "
    "status_ms, online";

ObjectRow ToObject(const SqlRow& r) {
  return ObjectRow{r.Text(0), r.Text(1), static_cast<uint64_t>(r.Int(2)),
                   r.Text(3), r.Text(4), r.Text(5),
                   r.Text(6), r.Text(7), r.Int(8)};
}

constexpr const char* kInPlaceColumns = "bucket, key, etag, sha256, size";

InPlaceRow ToInPlace(const SqlRow& r) {
  return InPlaceRow{r.Text(0), r.Text(1), r.Text(2), r.Text(3), static_cast<uint64_t>(r.Int(4))};
}

DeviceRow ToDevice(const SqlRow& r) {
  DeviceRow d;
  d.device = r.Text(0);
  d.first_seen_ms = r.Int(1);
  d.last_seen_ms = r.Int(2);
  d.segments = static_cast<uint64_t>(r.Int(3));
  d.readings = static_cast<uint64_t>(r.Int(4));
  d.rejected = static_cast<uint64_t>(r.Int(5));
  d.conflicts = static_cast<uint64_t>(r.Int(6));
  d.status_json = r.Text(7);
  d.status_ms = r.Int(8);
  d.online = r.Int(9) != 0;
  return d;
}

int64_t I(uint64_t v) { return static_cast<int64_t>(v); }

class SqlIndex final : public Index {
 public:
  explicit SqlIndex(std::unique_ptr<SqlConnection> db) : db_(std::move(db)), reports_(*db_) {}

  Status CreateSchema() {
    std::lock_guard<std::mutex> lock(mu_);
    bool pg = db_->dialect() == SqlDialect::kPostgres;
    std::string schema = kSchema;
    std::string id = pg ? "BIGSERIAL PRIMARY KEY" : "INTEGER PRIMARY KEY";
    for (size_t p; (p = schema.find("{ID}")) != std::string::npos;) schema.replace(p, 4, id);
    for (size_t p; (p = schema.find("{JSON}")) != std::string::npos;) {
      schema.replace(p, 6, pg ? "JSONB" : "JSON");
    }
    // Two receivers starting together over one PostgreSQL must not race on CREATE.
    if (pg) {
      Status s = db_->ExecScript("SELECT pg_advisory_lock(4711001)");
      if (!s) return s;
    }
    Status s = db_->ExecScript(schema);
    if (s) {
      auto v = db_->Query("SELECT version FROM schema_version");
      if (!v) {
        s = v.error();
      } else if (v->empty()) {
        s = db_->Exec("INSERT INTO schema_version (version) VALUES (?)", {int64_t{kSchemaVersion}});
      } else if (v->front().Int(0) > kSchemaVersion) {
        s = Error(fmt::format("index schema version {} is newer than this receiver's {}",
                              v->front().Int(0), kSchemaVersion));
      } else if (v->front().Int(0) < kSchemaVersion) {
        s = db_->Exec("UPDATE schema_version SET version = ?", {int64_t{kSchemaVersion}});
      }
    }
    if (pg) (void)db_->ExecScript("SELECT pg_advisory_unlock(4711001)");
    return s;
  }

  Result<RecordResult> RecordSegment(const ObjectRow& object, const SegmentFacts& f,
                                     int64_t now_ms) override {
    std::lock_guard<std::mutex> lock(mu_);
    return Transaction(f.device + "/" + f.source, [&]() -> Result<RecordResult> {
      auto existing = SameKey(object);
      if (!existing) return existing.error();
      if (existing->has_value()) {
        const ObjectRow& old = **existing;
        if (old.sha256_hex == object.sha256_hex) return RecordResult{RecordOutcome::kDuplicate, ""};
        auto seg = db_->Query("SELECT content_sha256 FROM segments WHERE bucket = ? AND key = ?",
                              {object.bucket, object.key});
        if (!seg) return seg.error();
        if (!seg->empty() && seg->front().Text(0) == f.content_sha256) {
          return RecordResult{RecordOutcome::kDuplicate, "same readings in other gzip bytes"};
        }
        return RecordResult{RecordOutcome::kConflict,
                            "the key holds other bytes (sha256 " + old.sha256_hex + ")"};
      }
      auto clash = ClashingKey(object.bucket, object.key);
      if (!clash) return clash.error();
      if (!clash->empty()) {
        return RecordResult{RecordOutcome::kInvalidName, "the key clashes with " + *clash};
      }
      auto overlap = db_->Query(
          "SELECT key, first_seq, last_seq FROM segments WHERE device = ? AND source = ? AND "
          "first_seq <= ? AND last_seq >= ? ORDER BY first_seq LIMIT 1",
          {f.device, f.source, I(f.last_seq), I(f.first_seq)});
      if (!overlap) return overlap.error();
      if (!overlap->empty()) {
        const SqlRow& o = overlap->front();
        return RecordResult{RecordOutcome::kConflict,
                            fmt::format("seqs {}..{} overlap the indexed segment {} ({}..{})",
                                        f.first_seq, f.last_seq, o.Text(0), o.Int(1), o.Int(2))};
      }
      Status s = InsertObject(object);
      if (!s) return s.error();
      s = db_->Exec(
          "INSERT INTO segments (bucket, key, device, source, first_seq, last_seq, count, "
          "first_ts, last_ts, clock, content_sha256, accepted_ms) "
          "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
          {object.bucket, object.key, f.device, f.source, I(f.first_seq), I(f.last_seq), I(f.count),
           f.first_ts, f.last_ts, f.clock, f.content_sha256, now_ms});
      if (!s) return s.error();
      s = MergeCoverage(f.device, f.source, f.first_seq, f.last_seq);
      if (!s) return s.error();
      RecordResult result{RecordOutcome::kIndexed, ""};
      s = InsertMessages(object, f, now_ms, &result);
      if (!s) return s.error();
      s = db_->Exec(
          "INSERT INTO devices (device, first_seen_ms, last_seen_ms, segments, readings, "
          "rejected, conflicts, status, status_ms, online) VALUES (?, ?, ?, 1, ?, 0, 0, '', 0, 0) "
          "ON CONFLICT (device) DO UPDATE SET last_seen_ms = excluded.last_seen_ms, "
          "segments = devices.segments + 1, readings = devices.readings + excluded.readings",
          {f.device, now_ms, now_ms, I(f.count)});
      if (!s) return s.error();
      s = AddEvent(now_ms, "accepted", f.device, object.bucket, object.key,
                   fmt::format("{} seqs {}..{}", f.source, f.first_seq, f.last_seq));
      if (!s) return s.error();
      return result;
    });
  }

  Result<RecordResult> RecordTombstone(const ObjectRow& object, const TombstoneFacts& t,
                                       int64_t now_ms) override {
    std::lock_guard<std::mutex> lock(mu_);
    return Transaction(t.device + "/" + t.source, [&]() -> Result<RecordResult> {
      auto existing = SameKey(object);
      if (!existing) return existing.error();
      if (existing->has_value()) {
        if ((*existing)->sha256_hex == object.sha256_hex) {
          return RecordResult{RecordOutcome::kDuplicate, ""};
        }
        return RecordResult{RecordOutcome::kConflict, "the key holds another tombstone"};
      }
      auto clash = ClashingKey(object.bucket, object.key);
      if (!clash) return clash.error();
      if (!clash->empty()) {
        return RecordResult{RecordOutcome::kInvalidName, "the key clashes with " + *clash};
      }
      // The agent widens a drop by sending a new tombstone from the same first seq; anything
      // else from that seq would take back or contradict a recorded drop.
      auto prior = db_->Query(
          "SELECT last_seq, key FROM tombstones WHERE device = ? AND source = ? AND first_seq = ?",
          {t.device, t.source, I(t.first_seq)});
      if (!prior) return prior.error();
      if (!prior->empty() && static_cast<uint64_t>(prior->front().Int(0)) >= t.last_seq) {
        return RecordResult{
            RecordOutcome::kConflict,
            fmt::format("seqs {}..{} do not widen the tombstone {} ({}..{})", t.first_seq,
                        t.last_seq, prior->front().Text(1), t.first_seq, prior->front().Int(0))};
      }
      Status s = InsertObject(object);
      if (!s) return s.error();
      s = db_->Exec(
          "INSERT INTO tombstones (device, source, first_seq, last_seq, count, reason, at_ms, "
          "bucket, key) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT (device, source, first_seq) "
          "DO UPDATE SET last_seq = excluded.last_seq, count = excluded.count, "
          "reason = excluded.reason, at_ms = excluded.at_ms, bucket = excluded.bucket, "
          "key = excluded.key",
          {t.device, t.source, I(t.first_seq), I(t.last_seq), I(t.count), t.reason, t.at,
           object.bucket, object.key});
      if (!s) return s.error();
      s = TouchDevice(t.device, now_ms);
      if (!s) return s.error();
      s = AddEvent(
          now_ms, "tombstone", t.device, object.bucket, object.key,
          fmt::format("{} seqs {}..{} dropped ({})", t.source, t.first_seq, t.last_seq, t.reason));
      if (!s) return s.error();
      return RecordResult{RecordOutcome::kIndexed, ""};
    });
  }

  Result<std::string> RecordRejection(const std::string& device, const ObjectMeta& meta,
                                      bool conflict, const std::string& reason,
                                      const std::string& path, int64_t now_ms) override {
    std::lock_guard<std::mutex> lock(mu_);
    auto r = Transaction(device, [&]() -> Result<RecordResult> {
      auto fresh = db_->Query(
          "INSERT INTO rejections (bucket, key, sha256, device, kind, reason, path, at_ms) "
          "VALUES (?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT DO NOTHING RETURNING bucket",
          {meta.bucket, meta.key, meta.sha256_hex, device, conflict ? "conflict" : "rejected",
           reason, path, now_ms});
      if (!fresh) return fresh.error();
      if (fresh->empty()) {
        auto first =
            db_->Query("SELECT path FROM rejections WHERE bucket = ? AND key = ? AND sha256 = ?",
                       {meta.bucket, meta.key, meta.sha256_hex});
        if (!first) return first.error();
        return RecordResult{RecordOutcome::kDuplicate,
                            first->empty() ? path : first->front().Text(0)};
      }
      Status s = db_->Exec(
          "INSERT INTO devices (device, first_seen_ms, last_seen_ms, segments, readings, "
          "rejected, conflicts, status, status_ms, online) VALUES (?, ?, ?, 0, 0, ?, ?, '', 0, 0) "
          "ON CONFLICT (device) DO UPDATE SET last_seen_ms = excluded.last_seen_ms, "
          "rejected = devices.rejected + excluded.rejected, "
          "conflicts = devices.conflicts + excluded.conflicts",
          {device, now_ms, now_ms, int64_t{conflict ? 0 : 1}, int64_t{conflict ? 1 : 0}});
      if (!s) return s.error();
      s = AddEvent(now_ms, conflict ? "conflict" : "rejected", device, meta.bucket, meta.key,
                   reason);
      if (!s) return s.error();
      return RecordResult{RecordOutcome::kIndexed, path};
    });
    if (!r) return r.error();
    return r->detail;
  }

  Result<std::optional<ObjectRow>> FindObject(const std::string& bucket,
                                              const std::string& key) override {
    std::lock_guard<std::mutex> lock(mu_);
    ObjectRow probe;
    probe.bucket = bucket;
    probe.key = key;
    return SameKey(probe);
  }

  Result<std::string> KeyClash(const std::string& bucket, const std::string& key) override {
    std::lock_guard<std::mutex> lock(mu_);
    return ClashingKey(bucket, key);
  }

  Result<std::vector<ObjectRow>> ListObjects(const std::string& bucket, const std::string& prefix,
                                             const std::string& start_after, int limit) override {
    std::lock_guard<std::mutex> lock(mu_);
    // Keys are compared bytewise (SQLite: BINARY; PostgreSQL: COLLATE "C"), as S3 orders them.
    std::string collate = db_->dialect() == SqlDialect::kPostgres ? " COLLATE \"C\"" : "";
    auto rows = db_->Query(
        fmt::format("SELECT {} FROM objects WHERE bucket = ? AND "
                    "substr(key, 1, ?) = ? AND key{} > ? ORDER BY key{} LIMIT ?",
                    kObjectColumns, collate, collate),
        {bucket, static_cast<int64_t>(CharCount(prefix)), prefix, start_after, int64_t{limit}});
    if (!rows) return rows.error();
    std::vector<ObjectRow> out;
    for (const SqlRow& r : *rows) out.push_back(ToObject(r));
    return out;
  }

  Result<std::vector<ObjectRow>> AllObjects() override {
    std::lock_guard<std::mutex> lock(mu_);
    auto rows =
        db_->Query(fmt::format("SELECT {} FROM objects ORDER BY bucket, key", kObjectColumns));
    if (!rows) return rows.error();
    std::vector<ObjectRow> out;
    for (const SqlRow& r : *rows) out.push_back(ToObject(r));
    return out;
  }

  Result<InPlaceRow> RecordInPlace(const InPlaceRow& row) override {
    std::lock_guard<std::mutex> lock(mu_);
    // One statement: two replicas recording one key agree on whose bytes it holds.
    Status s = db_->Exec(fmt::format("INSERT INTO in_place ({}) VALUES (?, ?, ?, ?, ?) "
                                     "ON CONFLICT (bucket, key) DO UPDATE SET etag = excluded.etag "
                                     "WHERE in_place.sha256 = excluded.sha256",
                                     kInPlaceColumns),
                         {row.bucket, row.key, row.etag, row.sha256_hex, I(row.size)});
    if (!s) return s.error();
    auto held = InPlaceLocked(row.bucket, row.key);
    if (!held) return held.error();
    if (!*held) return Error("in_place: " + row.bucket + "/" + row.key + " vanished");
    return **held;
  }

  Result<std::optional<InPlaceRow>> FindInPlace(const std::string& bucket,
                                                const std::string& key) override {
    std::lock_guard<std::mutex> lock(mu_);
    return InPlaceLocked(bucket, key);
  }

  Status ForgetInPlace(const std::string& bucket, const std::string& key,
                       const std::string& sha256_hex) override {
    std::lock_guard<std::mutex> lock(mu_);
    return db_->Exec("DELETE FROM in_place WHERE bucket = ? AND key = ? AND sha256 = ?",
                     {bucket, key, sha256_hex});
  }

  Result<std::vector<InPlaceRow>> AllInPlace() override {
    std::lock_guard<std::mutex> lock(mu_);
    auto rows =
        db_->Query(fmt::format("SELECT {} FROM in_place ORDER BY bucket, key", kInPlaceColumns));
    if (!rows) return rows.error();
    std::vector<InPlaceRow> out;
    for (const SqlRow& r : *rows) out.push_back(ToInPlace(r));
    return out;
  }

  Result<std::vector<DeviceRow>> Devices() override {
    std::lock_guard<std::mutex> lock(mu_);
    auto rows = db_->Query(fmt::format("SELECT {} FROM devices ORDER BY device", kDeviceColumns));
    if (!rows) return rows.error();
    std::vector<DeviceRow> out;
    for (const SqlRow& r : *rows) out.push_back(ToDevice(r));
    return out;
  }

  Result<std::optional<DeviceRow>> Device(const std::string& device) override {
    std::lock_guard<std::mutex> lock(mu_);
    auto rows = db_->Query(fmt::format("SELECT {} FROM devices WHERE device = ?", kDeviceColumns),
                           {device});
    if (!rows) return rows.error();
    if (rows->empty()) return std::optional<DeviceRow>();
    return std::optional<DeviceRow>(ToDevice(rows->front()));
  }

  Result<std::vector<std::string>> Sources(const std::string& device) override {
    std::lock_guard<std::mutex> lock(mu_);
    auto rows = db_->Query(
        "SELECT source FROM coverage WHERE device = ? UNION SELECT source FROM tombstones "
        "WHERE device = ? ORDER BY 1",
        {device, device});
    if (!rows) return rows.error();
    std::vector<std::string> out;
    for (const SqlRow& r : *rows) out.push_back(r.Text(0));
    return out;
  }

  Result<SourceCoverage> Coverage(const std::string& device, const std::string& source,
                                  std::optional<int64_t> from_ms,
                                  std::optional<int64_t> to_ms) override {
    std::lock_guard<std::mutex> lock(mu_);
    SourceCoverage c;
    c.source = source;
    bool windowed = from_ms.has_value() || to_ms.has_value();
    int64_t from = from_ms.value_or(INT64_MIN), to = to_ms.value_or(INT64_MAX);
    auto segs = db_->Query(
        "SELECT first_seq, last_seq, count FROM segments WHERE device = ? AND source = ? AND "
        "last_ts >= ? AND first_ts <= ? ORDER BY first_seq",
        {device, source, from, to});
    if (!segs) return segs.error();
    for (const SqlRow& r : *segs) {
      c.segments += 1;
      c.readings += static_cast<uint64_t>(r.Int(2));
      SeqRange s{static_cast<uint64_t>(r.Int(0)), static_cast<uint64_t>(r.Int(1))};
      if (windowed) {
        if (!c.ranges.empty() && c.ranges.back().last + 1 == s.first) {
          c.ranges.back().last = s.last;
        } else {
          c.ranges.push_back(s);
        }
      }
    }
    if (!windowed) {
      auto ranges = db_->Query(
          "SELECT first_seq, last_seq FROM coverage WHERE device = ? AND source = ? "
          "ORDER BY first_seq",
          {device, source});
      if (!ranges) return ranges.error();
      for (const SqlRow& r : *ranges) {
        c.ranges.push_back({static_cast<uint64_t>(r.Int(0)), static_cast<uint64_t>(r.Int(1))});
      }
    }
    auto tomb = db_->Query(
        "SELECT first_seq, last_seq, reason FROM tombstones WHERE device = ? AND source = ? "
        "ORDER BY first_seq",
        {device, source});
    if (!tomb) return tomb.error();
    std::vector<std::pair<SeqRange, std::string>> tombstones;
    for (const SqlRow& r : *tomb) {
      SeqRange t{static_cast<uint64_t>(r.Int(0)), static_cast<uint64_t>(r.Int(1))};
      c.tombstones.push_back(t);
      tombstones.emplace_back(t, r.Text(2));
    }
    if (windowed) {
      // Only the holes between what the window holds; tombstones past it do not extend it.
      std::vector<std::pair<SeqRange, std::string>> inside;
      if (!c.ranges.empty()) {
        for (auto& t : tombstones) {
          if (t.first.last >= c.ranges.front().first && t.first.first <= c.ranges.back().last) {
            inside.push_back(t);
          }
        }
        std::vector<Gap> gaps = FindGaps(c.ranges, inside);
        for (Gap& g : gaps) {
          if (g.first >= c.ranges.front().first) c.gaps.push_back(g);
        }
      }
    } else {
      c.gaps = FindGaps(c.ranges, tombstones);
    }
    return c;
  }

  Result<std::vector<SegmentRow>> Segments(const std::string& device, const std::string& source,
                                           int64_t from_ms, int64_t to_ms) override {
    std::lock_guard<std::mutex> lock(mu_);
    auto rows = db_->Query(
        "SELECT s.bucket, s.key, s.device, s.source, s.clock, s.content_sha256, o.sha256, "
        "s.first_seq, s.last_seq, s.count, o.size, s.first_ts, s.last_ts, s.accepted_ms "
        "FROM segments s JOIN objects o ON o.bucket = s.bucket AND o.key = s.key "
        "WHERE s.device = ? AND s.source = ? AND s.last_ts >= ? AND s.first_ts <= ? "
        "ORDER BY s.first_seq",
        {device, source, from_ms, to_ms});
    if (!rows) return rows.error();
    std::vector<SegmentRow> out;
    for (const SqlRow& r : *rows) {
      SegmentRow s;
      s.bucket = r.Text(0);
      s.key = r.Text(1);
      s.device = r.Text(2);
      s.source = r.Text(3);
      s.clock = r.Text(4);
      s.content_sha256 = r.Text(5);
      s.sha256_hex = r.Text(6);
      s.first_seq = static_cast<uint64_t>(r.Int(7));
      s.last_seq = static_cast<uint64_t>(r.Int(8));
      s.count = static_cast<uint64_t>(r.Int(9));
      s.size = static_cast<uint64_t>(r.Int(10));
      s.first_ts = r.Int(11);
      s.last_ts = r.Int(12);
      s.accepted_ms = r.Int(13);
      out.push_back(std::move(s));
    }
    return out;
  }

  Result<std::vector<EventRow>> Events(const std::string& device, int limit) override {
    std::lock_guard<std::mutex> lock(mu_);
    auto rows = device.empty()
                    ? db_->Query(
                          "SELECT id, at_ms, kind, device, bucket, key, detail FROM events "
                          "ORDER BY id DESC LIMIT ?",
                          {int64_t{limit}})
                    : db_->Query(
                          "SELECT id, at_ms, kind, device, bucket, key, detail FROM events "
                          "WHERE device = ? ORDER BY id DESC LIMIT ?",
                          {device, int64_t{limit}});
    if (!rows) return rows.error();
    std::vector<EventRow> out;
    for (const SqlRow& r : *rows) {
      out.push_back({r.Int(0), r.Int(1), r.Text(2), r.Text(3), r.Text(4), r.Text(5), r.Text(6)});
    }
    return out;
  }

  Result<std::vector<MessageRow>> Messages(const MessageQuery& q) override {
    std::lock_guard<std::mutex> lock(mu_);
    std::string sql =
        fmt::format("SELECT {} FROM messages WHERE ts >= ? AND ts <= ?", kMessageColumns);
    std::vector<SqlValue> params{q.from_ms.value_or(INT64_MIN), q.to_ms.value_or(INT64_MAX)};
    if (!q.device.empty()) {
      sql += " AND device = ?";
      params.emplace_back(q.device);
    }
    if (!q.topic.empty()) {
      sql += " AND topic = ?";
      params.emplace_back(q.topic);
    }
    if (q.after) {
      sql += " AND (ts > ? OR (ts = ? AND id > ?))";
      params.insert(params.end(), {q.after->first, q.after->first, q.after->second});
    }
    sql += " ORDER BY ts, id LIMIT ?";
    params.emplace_back(int64_t{q.limit});
    return MessageRows(sql, params);
  }

  Result<std::optional<MessageRow>> Message(const std::string& id) override {
    std::lock_guard<std::mutex> lock(mu_);
    auto rows =
        MessageRows(fmt::format("SELECT {} FROM messages WHERE id = ?", kMessageColumns), {id});
    if (!rows) return rows.error();
    if (rows->empty()) return std::optional<MessageRow>();
    return std::optional<MessageRow>(std::move(rows->front()));
  }

  Result<std::vector<MessageRow>> SegmentMessages(const std::string& bucket,
                                                  const std::string& key) override {
    std::lock_guard<std::mutex> lock(mu_);
    return MessageRows(
        fmt::format("SELECT {} FROM messages WHERE bucket = ? AND key = ? ORDER BY seq",
                    kMessageColumns),
        {bucket, key});
  }

  Result<IndexCounts> Counts() override {
    std::lock_guard<std::mutex> lock(mu_);
    auto rows = db_->Query(
        "SELECT (SELECT count(*) FROM devices), (SELECT count(*) FROM objects), "
        "(SELECT count(*) FROM segments), (SELECT coalesce(sum(count), 0) FROM segments), "
        "(SELECT count(*) FROM coverage), (SELECT count(*) FROM tombstones), "
        "(SELECT count(*) FROM rejections WHERE kind = 'rejected'), "
        "(SELECT count(*) FROM rejections WHERE kind = 'conflict'), (SELECT count(*) FROM events)");
    if (!rows) return rows.error();
    const SqlRow& r = rows->front();
    auto u = [&](size_t i) { return static_cast<uint64_t>(r.Int(i)); };
    return IndexCounts{u(0), u(1), u(2), u(3), u(4), u(5), u(6), u(7), u(8)};
  }

  Status RecordDeviceStatus(const std::string& device, const std::string& status_json, bool online,
                            int64_t now_ms) override {
    std::lock_guard<std::mutex> lock(mu_);
    return db_->Exec(
        "INSERT INTO devices (device, first_seen_ms, last_seen_ms, segments, readings, rejected, "
        "conflicts, status, status_ms, online) VALUES (?, ?, ?, 0, 0, 0, 0, ?, ?, ?) "
        "ON CONFLICT (device) DO UPDATE SET status = excluded.status, "
        "status_ms = excluded.status_ms, online = excluded.online",
        {device, now_ms, now_ms, status_json, now_ms, int64_t{online ? 1 : 0}});
  }

  Status RecordDeviceEvent(const std::string& device, const std::string& kind,
                           const std::string& detail, int64_t now_ms) override {
    std::lock_guard<std::mutex> lock(mu_);
    return AddEvent(now_ms, kind, device, "", "", detail);
  }

  // A read succeeds on a locked, full or damaged database that fails every upload: a write
  // that is rolled back proves what ingest needs without leaving anything behind.
  Status Ping() override {
    std::lock_guard<std::mutex> lock(mu_);
    Status s = db_->Begin();
    if (!s) return s;
    s = db_->Exec("INSERT INTO health_probe (at_ms) VALUES (0)");
    db_->Rollback();
    return s;
  }

  SqlConnection& connection() { return *db_; }

  Result<RecordResult> RecordReport(const ObjectRow& object, const ReportFacts& f, bool pending,
                                    int64_t now_ms) override {
    std::lock_guard<std::mutex> lock(mu_);
    return RecordUpload(
        object, f.device, "report",
        fmt::format("{} {}{}", f.kind, f.uuid, pending ? " (pending)" : ""),
        [&] { return reports_.InsertReport(object, f, pending); }, now_ms);
  }

  Result<RecordResult> RecordFile(const ObjectRow& object, const FileFacts& f, bool pending,
                                  int64_t now_ms) override {
    std::lock_guard<std::mutex> lock(mu_);
    return RecordUpload(
        object, f.device, "file",
        fmt::format("{}/{}{}", f.uuid, f.name, pending ? " (pending)" : ""),
        [&] { return reports_.InsertFile(object, f, pending); }, now_ms);
  }

  Result<std::vector<ReportRow>> Reports(const ReportQuery& query) override {
    std::lock_guard<std::mutex> lock(mu_);
    return reports_.Reports(query);
  }

  Result<std::optional<ReportRow>> Report(const std::string& uuid) override {
    std::lock_guard<std::mutex> lock(mu_);
    ReportQuery q;
    q.limit = 1;
    q.uuid = uuid;
    auto rows = reports_.Reports(q);
    if (!rows) return rows.error();
    if (rows->empty()) return std::optional<ReportRow>();
    return std::optional<ReportRow>(std::move(rows->front()));
  }

  Result<std::vector<ReportAttachment>> ListedFiles(const std::string& uuid) override {
    std::lock_guard<std::mutex> lock(mu_);
    return reports_.ListedFiles(uuid);
  }

  Result<std::vector<FileRow>> Files(const std::string& uuid) override {
    std::lock_guard<std::mutex> lock(mu_);
    return reports_.Files(uuid);
  }

  Result<std::vector<PendingValidation>> DueValidations(int64_t now_ms, int limit) override {
    std::lock_guard<std::mutex> lock(mu_);
    return reports_.DueValidations(now_ms, limit);
  }

  Status ValidationSent(const std::string& request_id, int64_t next_ms) override {
    std::lock_guard<std::mutex> lock(mu_);
    return reports_.ValidationSent(request_id, next_ms);
  }

  Result<std::optional<PendingValidation>> DecideValidation(const std::string& request_id,
                                                            bool accept, const std::string& reason,
                                                            int64_t now_ms) override {
    std::lock_guard<std::mutex> lock(mu_);
    std::optional<PendingValidation> decided;
    auto r = Transaction("validation", [&]() -> Result<RecordResult> {
      auto d = reports_.DecideValidation(request_id, accept, reason, now_ms);
      if (!d) return d.error();
      decided = std::move(*d);
      return RecordResult{};
    });
    if (!r) return r.error();
    return decided;
  }

  Result<size_t> CheckAttachments(int64_t due_ms, int64_t now_ms) override {
    std::lock_guard<std::mutex> lock(mu_);
    auto due = reports_.AttachmentsDue(due_ms);
    if (!due) return due.error();
    if (!*due) return size_t{0};
    size_t events = 0;
    auto r = Transaction("attachments", [&]() -> Result<RecordResult> {
      auto n = reports_.CheckAttachments(due_ms, now_ms);
      if (!n) return n.error();
      events = *n;
      return RecordResult{};
    });
    if (!r) return r.error();
    return events;
  }

  Result<std::vector<KindCount>> KindCounts() override {
    std::lock_guard<std::mutex> lock(mu_);
    return reports_.KindCounts();
  }

 private:
  static size_t CharCount(const std::string& s) {
    // substr() counts characters, not bytes, in both databases.
    size_t n = 0;
    for (unsigned char c : s) n += (c & 0xC0) != 0x80 ? 1 : 0;
    return n;
  }

  // A key the store could not hold beside `key`: every key is a file path under accepted/.
  // REQUIRES: mu_ held.
  Result<std::string> ClashingKey(const std::string& bucket, const std::string& key) {
    std::string under = key + "/";
    auto below = db_->Query(
        "SELECT key FROM objects WHERE bucket = ? AND substr(key, 1, ?) = ? "
        "LIMIT 1",
        {bucket, static_cast<int64_t>(CharCount(under)), under});
    if (!below) return below.error();
    if (!below->empty()) return below->front().Text(0);
    for (size_t slash = key.find('/'); slash != std::string::npos;
         slash = key.find('/', slash + 1)) {
      auto above = db_->Query("SELECT key FROM objects WHERE bucket = ? AND key = ?",
                              {bucket, key.substr(0, slash)});
      if (!above) return above.error();
      if (!above->empty()) return above->front().Text(0);
    }
    return std::string();
  }

  Result<std::optional<ObjectRow>> SameKey(const ObjectRow& object) {
    auto rows = db_->Query(
        fmt::format("SELECT {} FROM objects WHERE bucket = ? AND key = ?", kObjectColumns),
        {object.bucket, object.key});
    if (!rows) return rows.error();
    if (rows->empty()) return std::optional<ObjectRow>();
    return std::optional<ObjectRow>(ToObject(rows->front()));
  }

  Result<std::optional<InPlaceRow>> InPlaceLocked(const std::string& bucket,
                                                  const std::string& key) {
    auto rows = db_->Query(
        fmt::format("SELECT {} FROM in_place WHERE bucket = ? AND key = ?", kInPlaceColumns),
        {bucket, key});
    if (!rows) return rows.error();
    if (rows->empty()) return std::optional<InPlaceRow>();
    return std::optional<InPlaceRow>(ToInPlace(rows->front()));
  }

  Status InsertObject(const ObjectRow& o) {
    return db_->Exec(
        fmt::format("INSERT INTO objects ({}) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)", kObjectColumns),
        {o.bucket, o.key, I(o.size), o.md5_hex, o.sha256_hex, o.content_type, o.metadata_json,
         o.kind, o.stored_ms});
  }

  // The messages of an archive segment being recorded; an _id indexed before (from another
  // segment, or twice in this one) is counted and reported in one event. REQUIRES: mu_ held.
  Status InsertMessages(const ObjectRow& object, const SegmentFacts& f, int64_t now_ms,
                        RecordResult* result) {
    std::string first_duplicate;
    for (const MessageFacts& m : f.messages) {
      auto fresh = db_->Query(
          "INSERT INTO messages (id, device, source, topic, ts, seq, bucket, key, byte_offset, "
          "byte_length) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT (id) DO NOTHING "
          "RETURNING id",
          {m.id, f.device, f.source, m.topic, m.ts, I(m.seq), object.bucket, object.key,
           I(m.offset), I(m.length)});
      if (!fresh) return fresh.error();
      if (!fresh->empty()) {
        ++result->messages_indexed;
      } else if (result->messages_duplicate++ == 0) {
        first_duplicate = fmt::format("seq {} _id {}", m.seq, m.id);
      }
    }
    if (result->messages_duplicate == 0) return Status::Ok();
    return AddEvent(now_ms, "duplicate-messages", f.device, object.bucket, object.key,
                    fmt::format("{} message(s) whose _id is indexed already, not indexed again "
                                "(first: {})",
                                result->messages_duplicate, first_duplicate));
  }

  Result<std::vector<MessageRow>> MessageRows(const std::string& sql,
                                              const std::vector<SqlValue>& params) {
    auto rows = db_->Query(sql, params);
    if (!rows) return rows.error();
    std::vector<MessageRow> out;
    out.reserve(rows->size());
    for (const SqlRow& r : *rows) {
      out.push_back(MessageRow{r.Text(0), r.Text(1), r.Text(2), r.Text(3), r.Int(4),
                               static_cast<uint64_t>(r.Int(5)), r.Text(6), r.Text(7),
                               static_cast<uint64_t>(r.Int(8)), static_cast<uint64_t>(r.Int(9))});
    }
    return out;
  }

  Status AddEvent(int64_t at_ms, const std::string& kind, const std::string& device,
                  const std::string& bucket, const std::string& key, const std::string& detail) {
    return InsertEvent(*db_, at_ms, kind, device, bucket, key, detail);
  }

  // A device seen now (its row made when it is new).
  Status TouchDevice(const std::string& device, int64_t now_ms) {
    return db_->Exec(
        "INSERT INTO devices (device, first_seen_ms, last_seen_ms, segments, readings, "
        "rejected, conflicts, status, status_ms, online) VALUES (?, ?, ?, 0, 0, 0, 0, '', 0, 0) "
        "ON CONFLICT (device) DO UPDATE SET last_seen_ms = excluded.last_seen_ms",
        {device, now_ms, now_ms});
  }

  // A report or file under a key: refused as a duplicate, conflict or clash, or indexed by
  // `insert` (a conflict's detail, else "") with its object row, device and event.
  template <typename Insert>
  Result<RecordResult> RecordUpload(const ObjectRow& object, const std::string& device,
                                    const std::string& what, const std::string& detail,
                                    Insert&& insert, int64_t now_ms) {
    return Transaction(device + "/" + what, [&]() -> Result<RecordResult> {
      auto existing = SameKey(object);
      if (!existing) return existing.error();
      if (existing->has_value()) {
        if ((*existing)->sha256_hex == object.sha256_hex) {
          return RecordResult{RecordOutcome::kDuplicate, ""};
        }
        return RecordResult{RecordOutcome::kConflict,
                            "the key holds other bytes (sha256 " + (*existing)->sha256_hex + ")"};
      }
      auto clash = ClashingKey(object.bucket, object.key);
      if (!clash) return clash.error();
      if (!clash->empty()) {
        return RecordResult{RecordOutcome::kInvalidName, "the key clashes with " + *clash};
      }
      Result<std::string> taken = insert();
      if (!taken) return taken.error();
      if (!taken->empty()) return RecordResult{RecordOutcome::kConflict, *taken};
      Status s = InsertObject(object);
      if (s) s = TouchDevice(device, now_ms);
      if (s) s = AddEvent(now_ms, what, device, object.bucket, object.key, detail);
      if (!s) return s.error();
      return RecordResult{RecordOutcome::kIndexed, ""};
    });
  }

  // Joins [first, last] with the ranges ending at first-1 and starting at last+1.
  Status MergeCoverage(const std::string& device, const std::string& source, uint64_t first,
                       uint64_t last) {
    int64_t new_first = I(first), new_last = I(last);
    auto left = db_->Query(
        "SELECT first_seq FROM coverage WHERE device = ? AND source = ? AND last_seq = ?",
        {device, source, I(first) - 1});
    if (!left) return left.error();
    if (!left->empty()) {
      new_first = left->front().Int(0);
      Status s = db_->Exec("DELETE FROM coverage WHERE device = ? AND source = ? AND first_seq = ?",
                           {device, source, new_first});
      if (!s) return s;
    }
    auto right = db_->Query(
        "SELECT last_seq FROM coverage WHERE device = ? AND source = ? AND first_seq = ?",
        {device, source, I(last) + 1});
    if (!right) return right.error();
    if (!right->empty()) {
      new_last = right->front().Int(0);
      Status s = db_->Exec("DELETE FROM coverage WHERE device = ? AND source = ? AND first_seq = ?",
                           {device, source, I(last) + 1});
      if (!s) return s;
    }
    return db_->Exec(
        "INSERT INTO coverage (device, source, first_seq, last_seq) VALUES (?, ?, ?, ?)",
        {device, source, new_first, new_last});
  }

  // Runs `body` in a write transaction, retried when it fails (a concurrent receiver won
  // a unique key: the retry sees its row). PostgreSQL serialises one (device, source) with
  // an advisory lock held to the end of the transaction. REQUIRES: mu_ held.
  template <typename Body>
  Result<RecordResult> Transaction(const std::string& lock_name, Body&& body) {
    Error last;
    for (int attempt = 0; attempt < 4; ++attempt) {
      Status s = db_->Begin();
      if (!s) return s.error();
      if (db_->dialect() == SqlDialect::kPostgres) {
        s = db_->Exec("SELECT pg_advisory_xact_lock(hashtext(?))", {lock_name});
        if (!s) {
          db_->Rollback();
          return s.error();
        }
      }
      Result<RecordResult> r = body();
      if (!r) {
        db_->Rollback();
        last = r.error();
        continue;
      }
      s = db_->Commit();
      if (!s) {
        db_->Rollback();
        last = s.error();
        continue;
      }
      return r;
    }
    return last;
  }

  std::mutex mu_;
  std::unique_ptr<SqlConnection> db_;
  ReportSql reports_;
};

}  // namespace

Result<std::unique_ptr<Index>> OpenIndex(Env& env, const ReceiverConfig& config) {
  Result<std::unique_ptr<SqlConnection>> conn = config.index == "sqlite"
                                                    ? OpenSqliteConnection(env, config.IndexPath())
                                                    : OpenPostgresConnection(config.index);
  if (!conn) return conn.error();
  auto index = std::make_unique<SqlIndex>(std::move(*conn));
  Status s = index->CreateSchema();
  if (!s) return s.error().Wrap("index schema");
  return std::unique_ptr<Index>(std::move(index));
}

}  // namespace granary::receiver
