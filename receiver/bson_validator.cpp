// Validation of an archive segment (docs/formats.md "Archive segments"): one gzip stream of
// BSON documents, each a strict archive message (archive/message.h) of the key's device, all
// of one source with contiguous seqs; first/last seq and count must match the metadata.
#include <fmt/format.h>

#include "archive/message.h"
#include "archive/segment_reader.h"
#include "platform/crypto.h"
#include "platform/utf8.h"
#include "receiver/validator_checks.h"

namespace granary::receiver::validator_checks {
namespace {

void HashObserver(void* ctx, std::string_view data) {
  static_cast<StreamHasher*>(ctx)->Update(data);
}

}  // namespace

Validation ValidateBsonSegment(const std::string& path, const ObjectMeta& meta,
                               const std::string& device, const ValidatorLimits& limits) {
  archive::SegmentReader reader(limits.max_document_bytes, limits.max_raw_bytes);
  if (Status s = reader.OpenGzip(path); !s) return Reject(s.error().message());
  StreamHasher content(/*with_md5=*/false);
  reader.SetObserver(&HashObserver, &content);

  Validation v;
  SegmentFacts& f = v.segment;
  f.format = "bson.gz/1";
  f.device = device;
  std::string meta_source = meta.UserMetadata("granary-source");
  bool any_unsynced = false, any_synced = false;
  uint64_t n = 0;
  archive::SegmentDocument doc;
  while (reader.Next(&doc)) {
    ++n;
    std::string where = fmt::format("document {} (byte {})", n, doc.offset);
    if (std::chrono::steady_clock::now() > limits.deadline) {
      Validation late = Reject(fmt::format("validation ran out of time at {}", where));
      late.over_budget = true;
      return late;
    }
    auto m = archive::DecodeBson(doc.bytes);
    if (!m) return Reject(fmt::format("{}: {}", where, m.error().message()));
    if (m->device != device) {
      return Reject(fmt::format("{}: device \"{}\" but the key is device \"{}\"", where,
                                Utf8Prefix(m->device, 64), device));
    }
    if (m->seq < 1) return Reject(fmt::format("{}: seq {} is not positive", where, m->seq));
    uint64_t seq = static_cast<uint64_t>(m->seq);
    if (n == 1) {
      f.source = m->source;
      f.first_seq = seq;
      f.first_ts = m->ts_ms;
      if (!meta_source.empty() && meta_source != f.source) {
        return Reject(fmt::format("{}: source \"{}\" but metadata granary-source is \"{}\"", where,
                                  Utf8Prefix(f.source, 64), Utf8Prefix(meta_source, 64)));
      }
    } else {
      if (m->source != f.source) {
        return Reject(fmt::format("{}: source \"{}\" differs from document 1's \"{}\"", where,
                                  Utf8Prefix(m->source, 64), f.source));
      }
      if (seq != f.last_seq + 1) {
        return Reject(
            fmt::format("{}: seq {} after {} (seqs must be contiguous)", where, seq, f.last_seq));
      }
    }
    (m->clock_unsynced ? any_unsynced : any_synced) = true;
    f.last_seq = seq;
    f.last_ts = m->ts_ms;
    f.messages.push_back(MessageFacts{archive::UuidText(m->id), std::move(m->topic), m->ts_ms, seq,
                                      doc.offset, doc.bytes.size()});
  }
  return FinishSegment(std::move(v), meta, reader.status(), "document", n, reader.offset(),
                       any_unsynced, any_synced, &content);
}

}  // namespace granary::receiver::validator_checks
