#include "archive/message.h"

#include <fmt/format.h>
#include <openssl/rand.h>

#include <cstring>

#include "platform/handles_bson.h"

namespace granary::archive {
namespace {

int Len(std::string_view s) { return static_cast<int>(s.size()); }

void AppendUtf8(bson_t* doc, const char* key, std::string_view value) {
  bson_append_utf8(doc, key, -1, value.data(), Len(value));
}

void AppendBinary(bson_t* doc, const char* key, bson_subtype_t subtype, std::string_view bytes) {
  bson_append_binary(doc, key, -1, subtype, reinterpret_cast<const uint8_t*>(bytes.data()),
                     static_cast<uint32_t>(bytes.size()));
}

void AppendHeaders(bson_t* doc, const Headers& h) {
  bson_t headers;
  bson_append_document_begin(doc, "headers", -1, &headers);
  if (!h.user_properties.empty()) {
    bson_t list;
    bson_append_array_begin(&headers, "user_properties", -1, &list);
    for (size_t i = 0; i < h.user_properties.size(); ++i) {
      std::string index = std::to_string(i);
      bson_t pair;
      bson_append_array_begin(&list, index.c_str(), -1, &pair);
      AppendUtf8(&pair, "0", h.user_properties[i].name);
      AppendUtf8(&pair, "1", h.user_properties[i].value);
      bson_append_array_end(&list, &pair);
    }
    bson_append_array_end(&headers, &list);
  }
  if (h.content_type) AppendUtf8(&headers, "content_type", *h.content_type);
  if (h.payload_format) bson_append_int32(&headers, "payload_format", -1, *h.payload_format);
  if (h.response_topic) AppendUtf8(&headers, "response_topic", *h.response_topic);
  if (h.correlation_data) {
    AppendBinary(&headers, "correlation_data", BSON_SUBTYPE_BINARY, *h.correlation_data);
  }
  if (h.message_expiry) bson_append_int32(&headers, "message_expiry", -1, *h.message_expiry);
  bson_append_document_end(doc, &headers);
}

// Walks one document's fields in the format's order: each Take names the field expected next
// and refuses anything else, so order, presence, type and unknown fields are checked in one
// pass. `where` prefixes every error ("headers.").
class FieldWalk {
 public:
  FieldWalk(bson_iter_t* iter, std::string where) : iter_(iter), where_(std::move(where)) {
    more_ = bson_iter_next(iter_);
  }

  // The next field when it is `key` (advancing past it), else nullptr; an absent optional
  // field is simply not taken.
  bson_iter_t* Take(const char* key) {
    if (!more_ || std::strcmp(bson_iter_key(iter_), key) != 0) return nullptr;
    current_ = *iter_;
    more_ = bson_iter_next(iter_);
    return &current_;
  }
  std::string Missing(const char* key) const {
    if (!more_) return fmt::format("{}{} is missing", where_, key);
    return fmt::format("{}{} expected, found {} (unknown, repeated or out of order)", where_, key,
                       Quoted(bson_iter_key(iter_)));
  }
  std::string Leftover() const {
    return fmt::format("{}{} is not a field of the format (unknown, repeated or out of order)",
                       where_, Quoted(bson_iter_key(iter_)));
  }
  bool more() const { return more_; }
  const std::string& where() const { return where_; }

 private:
  static std::string Quoted(const char* key) { return fmt::format("\"{}\"", key); }
  bson_iter_t* iter_;
  bson_iter_t current_{};
  std::string where_;
  bool more_ = false;
};

std::string TypeError(const FieldWalk& w, const char* key, const char* want) {
  return fmt::format("{}{} must be {}", w.where(), key, want);
}

// bson_validate (1.23) lets invalid UTF-8 in values through, so every string is checked here.
std::optional<std::string> Utf8(const bson_iter_t* it) {
  if (!BSON_ITER_HOLDS_UTF8(it)) return std::nullopt;
  uint32_t n = 0;
  const char* s = bson_iter_utf8(it, &n);
  if (!bson_utf8_validate(s, n, /*allow_null=*/false)) return std::nullopt;
  return std::string(s, n);
}

std::optional<std::string> Binary(const bson_iter_t* it, bson_subtype_t want) {
  if (!BSON_ITER_HOLDS_BINARY(it)) return std::nullopt;
  bson_subtype_t subtype;
  uint32_t n = 0;
  const uint8_t* data = nullptr;
  bson_iter_binary(it, &subtype, &n, &data);
  if (subtype != want) return std::nullopt;
  return std::string(reinterpret_cast<const char*>(data), n);
}

// A required or optional field through `read`, which returns nullopt on a wrong type or range.
template <typename T, typename Read>
Status Field(FieldWalk& w, const char* key, const char* want, bool required, Read read,
             std::optional<T>* out) {
  bson_iter_t* it = w.Take(key);
  if (it == nullptr) return required ? Status(Error(w.Missing(key))) : Status::Ok();
  *out = read(it);
  if (!*out) return Error(TypeError(w, key, want));
  return Status::Ok();
}

std::optional<std::string> NonEmptyUtf8(const bson_iter_t* it) {
  auto s = Utf8(it);
  if (s && s->empty()) return std::nullopt;
  return s;
}

std::optional<int32_t> Int32In(const bson_iter_t* it, int32_t lo, int32_t hi) {
  if (!BSON_ITER_HOLDS_INT32(it)) return std::nullopt;
  int32_t v = bson_iter_int32(it);
  if (v < lo || v > hi) return std::nullopt;
  return v;
}

std::optional<bool> Bool(const bson_iter_t* it) {
  if (!BSON_ITER_HOLDS_BOOL(it)) return std::nullopt;
  return bson_iter_bool(it);
}

Status DecodeUserProperties(bson_iter_t* list, std::vector<UserProperty>* out) {
  bson_iter_t items;
  bson_iter_recurse(list, &items);
  for (size_t i = 0; bson_iter_next(&items); ++i) {
    std::string where = fmt::format("headers.user_properties[{}]", i);
    if (std::to_string(i) != bson_iter_key(&items) || !BSON_ITER_HOLDS_ARRAY(&items)) {
      return Error(where + " must be an array element [name, value]");
    }
    bson_iter_t pair;
    bson_iter_recurse(&items, &pair);
    UserProperty p;
    for (int k = 0; k < 2; ++k) {
      auto s = bson_iter_next(&pair) ? Utf8(&pair) : std::nullopt;
      if (!s || std::to_string(k) != bson_iter_key(&pair)) {
        return Error(where + " must be [name, value], UTF-8 strings");
      }
      (k == 0 ? p.name : p.value) = std::move(*s);
    }
    if (bson_iter_next(&pair)) return Error(where + " has more than two elements");
    out->push_back(std::move(p));
  }
  return Status::Ok();
}

Status DecodeHeaders(bson_iter_t* doc, Headers* h) {
  bson_iter_t iter;
  bson_iter_recurse(doc, &iter);
  FieldWalk w(&iter, "headers.");
  if (bson_iter_t* list = w.Take("user_properties")) {
    if (!BSON_ITER_HOLDS_ARRAY(list)) return Error(TypeError(w, "user_properties", "an array"));
    if (Status s = DecodeUserProperties(list, &h->user_properties); !s) return s;
  }
  Status s = Field<std::string>(w, "content_type", "a UTF-8 string", false, Utf8, &h->content_type);
  if (s) {
    s = Field<int32_t>(
        w, "payload_format", "an int32 0 or 1", false,
        [](const bson_iter_t* it) { return Int32In(it, 0, 1); }, &h->payload_format);
  }
  if (s)
    s = Field<std::string>(w, "response_topic", "a UTF-8 string", false, Utf8, &h->response_topic);
  if (s) {
    s = Field<std::string>(
        w, "correlation_data", "binary subtype 0", false,
        [](const bson_iter_t* it) { return Binary(it, BSON_SUBTYPE_BINARY); },
        &h->correlation_data);
  }
  if (s) {
    s = Field<int32_t>(
        w, "message_expiry", "an int32 >= 0", false,
        [](const bson_iter_t* it) { return Int32In(it, 0, INT32_MAX); }, &h->message_expiry);
  }
  if (s && w.more()) return Error(w.Leftover());
  return s;
}

}  // namespace

std::string EncodeBson(const ArchivedMessage& m) {
  BsonDocument doc;
  bson_append_binary(doc.get(), "_id", -1, BSON_SUBTYPE_UUID, m.id.data(),
                     static_cast<uint32_t>(m.id.size()));
  bson_append_int64(doc.get(), "seq", -1, m.seq);
  bson_append_date_time(doc.get(), "ts", -1, m.ts_ms);
  AppendUtf8(doc.get(), "device", m.device);
  AppendUtf8(doc.get(), "source", m.source);
  AppendUtf8(doc.get(), "topic", m.topic);
  bson_append_int32(doc.get(), "qos", -1, m.qos);
  bson_append_bool(doc.get(), "retain", -1, m.retain);
  bson_append_bool(doc.get(), "dup", -1, m.dup);
  if (m.clock_unsynced) AppendUtf8(doc.get(), "clock", "unsynced");
  AppendHeaders(doc.get(), m.headers);
  AppendBinary(doc.get(), "payload", BSON_SUBTYPE_BINARY, m.payload);
  return std::string(reinterpret_cast<const char*>(bson_get_data(doc.get())), doc.get()->len);
}

Result<ArchivedMessage> DecodeBson(std::string_view bytes) {
  bson_t doc;
  if (bytes.size() < 5 ||
      !bson_init_static(&doc, reinterpret_cast<const uint8_t*>(bytes.data()), bytes.size())) {
    return Error(
        fmt::format("not a BSON document ({} bytes, length field disagrees)", bytes.size()));
  }
  size_t bad_offset = 0;
  if (!bson_validate(&doc, BSON_VALIDATE_UTF8, &bad_offset)) {
    return Error(
        fmt::format("invalid BSON at byte {} (structure, or a string not UTF-8 or "
                    "holding NUL)",
                    bad_offset));
  }
  bson_iter_t iter;
  bson_iter_init(&iter, &doc);
  FieldWalk w(&iter, "");
  ArchivedMessage m;
  std::optional<std::string> id, device, source, topic, clock, payload;
  std::optional<int64_t> seq, ts;
  std::optional<int32_t> qos;
  std::optional<bool> retain, dup;
  auto nonempty = NonEmptyUtf8;
  Status s = Field<std::string>(
      w, "_id", "binary subtype 4 of 16 bytes", true,
      [](const bson_iter_t* it) {
        auto b = Binary(it, BSON_SUBTYPE_UUID);
        return b && b->size() == 16 ? b : std::nullopt;
      },
      &id);
  if (s) {
    s = Field<int64_t>(
        w, "seq", "an int64 >= 0", true,
        [](const bson_iter_t* it) -> std::optional<int64_t> {
          if (!BSON_ITER_HOLDS_INT64(it) || bson_iter_int64(it) < 0) return std::nullopt;
          return bson_iter_int64(it);
        },
        &seq);
  }
  if (s) {
    s = Field<int64_t>(
        w, "ts", "a BSON datetime", true,
        [](const bson_iter_t* it) -> std::optional<int64_t> {
          if (!BSON_ITER_HOLDS_DATE_TIME(it)) return std::nullopt;
          return bson_iter_date_time(it);
        },
        &ts);
  }
  if (s) s = Field<std::string>(w, "device", "a non-empty UTF-8 string", true, nonempty, &device);
  if (s) s = Field<std::string>(w, "source", "a non-empty UTF-8 string", true, nonempty, &source);
  if (s) s = Field<std::string>(w, "topic", "a non-empty UTF-8 string", true, nonempty, &topic);
  if (s) {
    s = Field<int32_t>(
        w, "qos", "an int32 0..2", true, [](const bson_iter_t* it) { return Int32In(it, 0, 2); },
        &qos);
  }
  if (s) s = Field<bool>(w, "retain", "a bool", true, Bool, &retain);
  if (s) s = Field<bool>(w, "dup", "a bool", true, Bool, &dup);
  if (s) {
    s = Field<std::string>(
        w, "clock", "the string \"unsynced\"", false,
        [](const bson_iter_t* it) {
          auto c = Utf8(it);
          return c && *c == "unsynced" ? c : std::nullopt;
        },
        &clock);
  }
  if (s) {
    if (bson_iter_t* h = w.Take("headers")) {
      if (!BSON_ITER_HOLDS_DOCUMENT(h)) return Error(TypeError(w, "headers", "a document"));
      s = DecodeHeaders(h, &m.headers);
    } else {
      s = Error(w.Missing("headers"));
    }
  }
  if (s) {
    s = Field<std::string>(
        w, "payload", "binary subtype 0", true,
        [](const bson_iter_t* it) { return Binary(it, BSON_SUBTYPE_BINARY); }, &payload);
  }
  if (s && w.more()) s = Error(w.Leftover());
  if (!s) return s.error();
  std::memcpy(m.id.data(), id->data(), m.id.size());
  m.seq = *seq;
  m.ts_ms = *ts;
  m.device = std::move(*device);
  m.source = std::move(*source);
  m.topic = std::move(*topic);
  if (m.topic.find_first_of("+#") != std::string::npos) {
    return Error("topic holds a wildcard (+ or #), which no published message has");
  }
  m.qos = *qos;
  m.retain = *retain;
  m.dup = *dup;
  m.clock_unsynced = clock.has_value();
  m.payload = std::move(*payload);
  return m;
}

std::string UuidText(const Uuid& id) {
  std::string hex;
  for (size_t i = 0; i < id.size(); ++i) {
    if (i == 4 || i == 6 || i == 8 || i == 10) hex += '-';
    hex += fmt::format("{:02x}", id[i]);
  }
  return hex;
}

std::optional<Uuid> ParseUuid(std::string_view s) {
  Uuid id{};
  if (s.size() == id.size()) {
    std::memcpy(id.data(), s.data(), id.size());
    return id;
  }
  if (s.size() != 36) return std::nullopt;
  auto nibble = [](char c) -> int {
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    return -1;
  };
  size_t byte = 0;
  for (size_t i = 0; i < s.size();) {
    if (i == 8 || i == 13 || i == 18 || i == 23) {
      if (s[i++] != '-') return std::nullopt;
      continue;
    }
    int hi = nibble(s[i]), lo = nibble(s[i + 1]);
    if (hi < 0 || lo < 0) return std::nullopt;
    id[byte++] = static_cast<uint8_t>(hi << 4 | lo);
    i += 2;
  }
  return id;
}

Uuid NewUuidV4() {
  Uuid id{};
  if (RAND_bytes(id.data(), static_cast<int>(id.size())) != 1) {
    // OpenSSL's generator failing means the process cannot make any secret either; an archive
    // with colliding ids would be worse than stopping.
    std::abort();
  }
  id[6] = static_cast<uint8_t>((id[6] & 0x0f) | 0x40);  // version 4
  id[8] = static_cast<uint8_t>((id[8] & 0x3f) | 0x80);  // RFC 4122 variant
  return id;
}

}  // namespace granary::archive
