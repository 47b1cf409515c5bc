#include "receiver/restore.h"

#include <fmt/format.h>
#include <mosquitto.h>

#include <algorithm>
#include <chrono>
#include <map>
#include <memory>
#include <queue>

#include "archive/segment_reader.h"

namespace granary::receiver {
namespace {

constexpr int kPage = 10000;
constexpr uint64_t kMaxRawBytes = 1ull << 34;

// One stream's messages in seq order, read forward through its segments with one reader at a
// time, so a segment is decompressed once however many of its messages are selected.
class StreamCursor {
 public:
  explicit StreamCursor(std::vector<MessageRow> rows) : rows_(std::move(rows)) {
    std::sort(rows_.begin(), rows_.end(),
              [](const MessageRow& a, const MessageRow& b) { return a.seq < b.seq; });
  }
  bool done() const { return next_ == rows_.size(); }
  const MessageRow& head() const { return rows_[next_]; }

  // The head's document; the cursor moves past it.
  Result<archive::ArchivedMessage> Take(const ObjectStore& store, uint32_t max_document) {
    const MessageRow& row = rows_[next_++];
    std::string where =
        fmt::format("message {} ({}/{} seq {})", row.id, row.bucket, row.key, row.seq);
    if (reader_ == nullptr || open_bucket_ != row.bucket || open_key_ != row.key ||
        (have_ && doc_.offset > row.offset)) {
      reader_ = std::make_unique<archive::SegmentReader>(max_document, kMaxRawBytes);
      auto object = store.OpenReader(row.bucket, row.key);
      if (!object) return object.error().Wrap(where);
      if (Status s =
              reader_->OpenGzip(SequentialSource(std::move(*object)), row.bucket + "/" + row.key);
          !s)
        return s.error().Wrap(where);
      open_bucket_ = row.bucket;
      open_key_ = row.key;
      have_ = reader_->Next(&doc_);
    }
    while (have_ && doc_.offset < row.offset) have_ = reader_->Next(&doc_);
    if (!have_ || doc_.offset != row.offset || doc_.bytes.size() != row.length) {
      std::string why = !reader_->status().ok() ? reader_->status().error().message()
                                                : "no document at the indexed offset";
      return Error(fmt::format("{}: {} (run verify)", where, why));
    }
    auto m = archive::DecodeBson(doc_.bytes);
    if (!m) return m.error().Wrap(where);
    if (archive::UuidText(m->id) != row.id) {
      return Error(fmt::format("{}: the document has another _id (run verify)", where));
    }
    return m;
  }

 private:
  std::vector<MessageRow> rows_;
  size_t next_ = 0;
  std::unique_ptr<archive::SegmentReader> reader_;
  std::string open_bucket_, open_key_;
  archive::SegmentDocument doc_;
  bool have_ = false;
};

Result<std::vector<MessageRow>> Select(Index& index, const RestoreOptions& o) {
  MessageQuery q;
  q.device = o.device;
  q.from_ms = o.from_ms;
  q.to_ms = o.to_ms;
  q.limit = kPage;
  std::vector<MessageRow> out;
  for (;;) {
    auto page = index.Messages(q);
    if (!page) return page.error();
    for (MessageRow& m : *page) {
      bool match = true;
      if (!o.topic_filter.empty()) {
        mosquitto_topic_matches_sub(o.topic_filter.c_str(), m.topic.c_str(), &match);
      }
      if (match) out.push_back(std::move(m));
    }
    if (static_cast<int>(page->size()) < kPage) return out;
    q.after.emplace(page->back().ts, page->back().id);
  }
}

void Progress(uint64_t done, uint64_t total, bool last) {
  std::fprintf(stderr, "\rrestored %llu/%llu (%.0f%%)%s", static_cast<unsigned long long>(done),
               static_cast<unsigned long long>(total),
               total == 0 ? 100.0 : 100.0 * static_cast<double>(done) / static_cast<double>(total),
               last ? "\n" : "");
  std::fflush(stderr);
}

}  // namespace

Result<RestoreReport> Restore(Index& index, const ObjectStore& store, const RestoreOptions& o,
                              std::FILE* out) {
  if (!o.topic_filter.empty()) {
    bool valid = mosquitto_sub_topic_check(o.topic_filter.c_str()) == MOSQ_ERR_SUCCESS;
    if (!valid) return Error(fmt::format("--topic {}: not an MQTT topic filter", o.topic_filter));
  }
  auto rows = Select(index, o);
  if (!rows) return rows.error();
  RestoreReport report;
  report.selected = rows->size();
  std::map<std::pair<std::string, std::string>, std::vector<MessageRow>> by_stream;
  for (MessageRow& m : *rows) by_stream[{m.device, m.source}].push_back(std::move(m));
  std::vector<StreamCursor> streams;
  for (auto& [stream, list] : by_stream) streams.emplace_back(std::move(list));
  // The stream whose next message was received first goes next; ties by stream order.
  auto later = [&](size_t a, size_t b) {
    const MessageRow &x = streams[a].head(), &y = streams[b].head();
    return x.ts != y.ts ? x.ts > y.ts : a > b;
  };
  std::priority_queue<size_t, std::vector<size_t>, decltype(later)> heads(later);
  for (size_t i = 0; i < streams.size(); ++i) heads.push(i);

  std::unique_ptr<archive::Republisher> publisher;
  if (!o.dry_run) {
    auto connected = archive::Republisher::Connect(o.publish);
    if (!connected) return connected.error();
    publisher = std::move(*connected);
  }
  auto last_progress = std::chrono::steady_clock::now();
  while (!heads.empty()) {
    size_t i = heads.top();
    heads.pop();
    auto m = streams[i].Take(store, o.max_document_bytes);
    if (!m) return m.error();
    if (!streams[i].done()) heads.push(i);
    if (o.dry_run) {
      std::fprintf(out, "%lld %s/%s seq %lld %s qos %d%s %zu bytes %s\n",
                   static_cast<long long>(m->ts_ms), m->device.c_str(), m->source.c_str(),
                   static_cast<long long>(m->seq), m->topic.c_str(), m->qos,
                   m->retain && !o.publish.no_retain ? " retain" : "", m->payload.size(),
                   archive::UuidText(m->id).c_str());
    } else {
      Status s = publisher->Publish(*m);
      if (!s) return s.error().Wrap(fmt::format("after {} published", report.published));
    }
    ++report.published;
    auto now = std::chrono::steady_clock::now();
    if (o.progress && now - last_progress > std::chrono::milliseconds(200)) {
      Progress(report.published, report.selected, false);
      last_progress = now;
    }
  }
  if (publisher != nullptr) {
    if (Status s = publisher->Finish(); !s) return s.error();
  }
  if (o.progress) Progress(report.published, report.selected, true);
  return report;
}

}  // namespace granary::receiver
