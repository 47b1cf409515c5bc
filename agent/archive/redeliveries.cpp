#include "agent/archive/redeliveries.h"

#include <fmt/format.h>

#include "platform/crypto.h"
#include "platform/log.h"
#include "platform/strings.h"

namespace granary {
namespace {

constexpr uint64_t kMaxFileBytes = 16U << 20;

// One record a line: packet id, digest, _id.
std::optional<std::tuple<uint16_t, std::string, archive::Uuid>> ParseLine(std::string_view line) {
  size_t a = line.find(' ');
  if (a == std::string_view::npos) return std::nullopt;
  size_t b = line.find(' ', a + 1);
  if (b == std::string_view::npos) return std::nullopt;
  auto mid = ParseDecimal<uint32_t>(line.substr(0, a));
  std::string_view digest = line.substr(a + 1, b - a - 1);
  auto id = archive::ParseUuid(line.substr(b + 1));
  if (!mid || *mid == 0 || *mid > 65535 || digest.size() != 64 || !id) return std::nullopt;
  return std::make_tuple(static_cast<uint16_t>(*mid), std::string(digest), *id);
}

}  // namespace

std::string Redeliveries::Digest(std::string_view topic, std::string_view payload) {
  std::string data;
  data.reserve(topic.size() + 1 + payload.size());
  data.append(topic);
  data.push_back('\0');  // a topic never holds U+0000
  data.append(payload);
  return Sha256Hex(data);
}

void Redeliveries::Load() {
  earlier_.clear();
  recent_.clear();
  if (!env_.FileExists(path_)) return;
  auto text = env_.ReadFile(path_, kMaxFileBytes);
  bool damaged = !text;
  std::map<uint16_t, Record> records;
  if (text) {
    std::string_view rest = *text;
    while (!rest.empty()) {
      size_t nl = rest.find('\n');
      if (nl == std::string_view::npos) {
        damaged = true;
        break;
      }
      auto r = ParseLine(rest.substr(0, nl));
      rest.remove_prefix(nl + 1);
      if (!r) {
        damaged = true;
        break;
      }
      auto& [mid, digest, id] = *r;
      records[mid] = Record{mid, std::move(digest), id, 0};
    }
  }
  if (damaged) {
    std::string aside = fmt::format("{}.damaged-{}", path_, env_.WallNowMs());
    Status s = env_.RenameFile(path_, aside);
    log::Warning(
        "{} is damaged; moved to {}{}: messages the broker delivers again without an "
        "_id are archived again",
        path_, aside, s ? "" : " (failed: " + s.error().message() + ")");
    return;
  }
  earlier_ = std::move(records);
}

void Redeliveries::Reconnected() {
  // What this connection's predecessor handled may come again too.
  for (Record& r : recent_) earlier_[r.mid] = std::move(r);
  recent_.clear();
  resending_ = !earlier_.empty();
}

std::optional<archive::Uuid> Redeliveries::Match(uint16_t mid, const std::string& digest) {
  if (!resending_) return std::nullopt;
  auto it = earlier_.find(mid);
  if (it == earlier_.end() || it->second.digest != digest) {
    // Something new: the resends are over, and the packet ids they held may be reused.
    resending_ = false;
    earlier_.clear();
    return std::nullopt;
  }
  archive::Uuid id = it->second.id;
  earlier_.erase(it);  // Add() keeps it until its new PUBACK is out
  if (earlier_.empty()) resending_ = false;
  return id;
}

void Redeliveries::Add(uint16_t mid, std::string digest, const archive::Uuid& id) {
  if (capacity_ == 0) return;
  recent_.push_back(Record{mid, std::move(digest), id, pass_});
  // A broker may send more than the receive maximum before an acknowledgement (mosquitto
  // 2.0.11 after a reconnect): the last two passes are kept whatever their size.
  while (recent_.size() > capacity_ && recent_.front().pass + 1 < pass_) recent_.pop_front();
}

Status Redeliveries::Save() {
  std::string text;
  for (const auto& [mid, r] : earlier_) {
    text += fmt::format("{} {} {}\n", mid, r.digest, archive::UuidText(r.id));
  }
  for (const Record& r : recent_) {
    text += fmt::format("{} {} {}\n", r.mid, r.digest, archive::UuidText(r.id));
  }
  // Not fsynced: a kill -9 keeps the page cache; a power cut loses the connection's
  // acknowledgements too, and costs duplicates at worst.
  return WriteFileAtomically(env_, path_, text, /*durable=*/false);
}

}  // namespace granary
