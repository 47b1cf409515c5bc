#include "archive/message.h"

#include <bson/bson.h>
#include <gtest/gtest.h>

namespace granary::archive {
namespace {

ArchivedMessage Full() {
  ArchivedMessage m;
  m.id = *ParseUuid("0f8fad5b-d9cb-469f-a165-70867728950e");
  m.seq = 42;
  m.ts_ms = 1764480000123;
  m.device = "harvester-7";
  m.source = "robot";
  m.topic = "arm/joint/3";
  m.qos = 1;
  m.retain = true;
  m.dup = false;
  m.clock_unsynced = true;
  m.headers.user_properties = {{"b", "2"}, {"a", "1"}, {"b", "again"}};
  m.headers.content_type = "application/cbor";
  m.headers.payload_format = 0;
  m.headers.response_topic = "arm/reply";
  m.headers.correlation_data = std::string("\0\xff\x01", 3);
  m.headers.message_expiry = 60;
  m.payload = std::string("\0\xc3\x28 not utf-8 \0", 15);
  return m;
}

// The document with one field's value replaced, built with libbson directly.
std::string Rebuild(const std::string& doc, const char* key, void (*append)(bson_t*, const char*)) {
  bson_t in, out = BSON_INITIALIZER;
  EXPECT_TRUE(bson_init_static(&in, reinterpret_cast<const uint8_t*>(doc.data()), doc.size()));
  bson_iter_t it;
  bson_iter_init(&it, &in);
  while (bson_iter_next(&it)) {
    if (std::string(bson_iter_key(&it)) == key) {
      if (append != nullptr) append(&out, key);
    } else {
      bson_append_iter(&out, nullptr, 0, &it);
    }
  }
  std::string bytes(reinterpret_cast<const char*>(bson_get_data(&out)), out.len);
  bson_destroy(&out);
  return bytes;
}

TEST(ArchiveMessage, RoundTripsEveryField) {
  ArchivedMessage m = Full();
  std::string doc = EncodeBson(m);
  auto back = DecodeBson(doc);
  ASSERT_TRUE(back) << back.error().message();
  EXPECT_EQ(*back, m);
  EXPECT_EQ(EncodeBson(*back), doc);
}

TEST(ArchiveMessage, MinimalMessageHasEmptyHeadersAndPayload) {
  ArchivedMessage m;
  m.id = NewUuidV4();
  m.device = "d";
  m.source = "s";
  m.topic = "t";
  std::string doc = EncodeBson(m);
  auto back = DecodeBson(doc);
  ASSERT_TRUE(back) << back.error().message();
  EXPECT_EQ(*back, m);
  EXPECT_TRUE(back->payload.empty());
  EXPECT_FALSE(back->headers.content_type.has_value());
}

TEST(ArchiveMessage, FieldsAreInTheFormatsOrder) {
  std::string doc = EncodeBson(Full());
  bson_t b;
  ASSERT_TRUE(bson_init_static(&b, reinterpret_cast<const uint8_t*>(doc.data()), doc.size()));
  bson_iter_t it;
  bson_iter_init(&it, &b);
  std::string keys;
  while (bson_iter_next(&it)) keys += std::string(bson_iter_key(&it)) + ",";
  EXPECT_EQ(keys, "_id,seq,ts,device,source,topic,qos,retain,dup,clock,headers,payload,");
  ASSERT_TRUE(bson_iter_init_find(&it, &b, "_id"));
  bson_subtype_t subtype;
  uint32_t len = 0;
  const uint8_t* data = nullptr;
  bson_iter_binary(&it, &subtype, &len, &data);
  EXPECT_EQ(subtype, BSON_SUBTYPE_UUID);
  EXPECT_EQ(len, 16u);
  ASSERT_TRUE(bson_iter_init_find(&it, &b, "ts"));
  EXPECT_TRUE(BSON_ITER_HOLDS_DATE_TIME(&it));
}

TEST(ArchiveMessage, RejectsWrongTypesAndRanges) {
  std::string doc = EncodeBson(Full());
  struct Case {
    const char* key;
    void (*append)(bson_t*, const char*);
    const char* error;
  };
  const Case cases[] = {
      {"_id", [](bson_t* b, const char* k) { bson_append_utf8(b, k, -1, "x", -1); },
       "_id must be binary subtype 4 of 16 bytes"},
      {"_id",
       [](bson_t* b, const char* k) {
         uint8_t id[15] = {};
         bson_append_binary(b, k, -1, BSON_SUBTYPE_UUID, id, 15);
       },
       "_id must be binary subtype 4 of 16 bytes"},
      {"seq", [](bson_t* b, const char* k) { bson_append_int32(b, k, -1, 42); },
       "seq must be an int64 >= 0"},
      {"seq", [](bson_t* b, const char* k) { bson_append_int64(b, k, -1, -1); },
       "seq must be an int64 >= 0"},
      {"ts", [](bson_t* b, const char* k) { bson_append_int64(b, k, -1, 1); },
       "ts must be a BSON datetime"},
      {"device", [](bson_t* b, const char* k) { bson_append_utf8(b, k, -1, "", 0); },
       "device must be a non-empty UTF-8 string"},
      {"qos", [](bson_t* b, const char* k) { bson_append_int32(b, k, -1, 3); },
       "qos must be an int32 0..2"},
      {"retain", [](bson_t* b, const char* k) { bson_append_int32(b, k, -1, 1); },
       "retain must be a bool"},
      {"clock", [](bson_t* b, const char* k) { bson_append_utf8(b, k, -1, "ok", -1); },
       "clock must be the string \"unsynced\""},
      {"payload",
       [](bson_t* b, const char* k) {
         bson_append_binary(b, k, -1, BSON_SUBTYPE_USER, (const uint8_t*)"x", 1);
       },
       "payload must be binary subtype 0"},
      {"topic", [](bson_t* b, const char* k) { bson_append_utf8(b, k, -1, "a/+/b", -1); },
       "wildcard"},
      {"headers", nullptr, "headers expected, found \"payload\""},
      {"payload", nullptr, "payload is missing"},
  };
  for (const Case& c : cases) {
    auto r = DecodeBson(Rebuild(doc, c.key, c.append));
    ASSERT_FALSE(r) << c.key;
    EXPECT_NE(r.error().message().find(c.error), std::string::npos)
        << c.key << ": " << r.error().message();
  }
}

TEST(ArchiveMessage, RejectsUnknownFieldsAndBadUserProperties) {
  ArchivedMessage m = Full();
  std::string doc = EncodeBson(m);
  bson_t b;
  ASSERT_TRUE(bson_init_static(&b, reinterpret_cast<const uint8_t*>(doc.data()), doc.size()));
  bson_t* extra = bson_copy(&b);
  bson_append_int32(extra, "extra", -1, 1);
  auto r = DecodeBson(std::string(reinterpret_cast<const char*>(bson_get_data(extra)), extra->len));
  bson_destroy(extra);
  ASSERT_FALSE(r);
  EXPECT_NE(r.error().message().find("\"extra\" is not a field"), std::string::npos)
      << r.error().message();

  std::string bad = Rebuild(doc, "headers", [](bson_t* out, const char* k) {
    bson_t h, list, pair;
    bson_append_document_begin(out, k, -1, &h);
    bson_append_array_begin(&h, "user_properties", -1, &list);
    bson_append_array_begin(&list, "0", -1, &pair);
    bson_append_utf8(&pair, "0", -1, "only-a-name", -1);
    bson_append_array_end(&list, &pair);
    bson_append_array_end(&h, &list);
    bson_append_document_end(out, &h);
  });
  // Rebuild puts headers back at its place, so only the pair is wrong.
  r = DecodeBson(bad);
  ASSERT_FALSE(r);
  EXPECT_NE(r.error().message().find("headers.user_properties[0]"), std::string::npos)
      << r.error().message();
}

TEST(ArchiveMessage, RejectsDamagedBytes) {
  std::string doc = EncodeBson(Full());
  EXPECT_FALSE(DecodeBson(""));
  EXPECT_FALSE(DecodeBson(doc.substr(0, doc.size() - 1)));
  std::string longer = doc + "x";
  EXPECT_FALSE(DecodeBson(longer));
  // A string with invalid UTF-8: the device's first byte.
  size_t at = doc.find("harvester-7");
  ASSERT_NE(at, std::string::npos);
  std::string bad = doc;
  bad[at] = '\xff';
  auto r = DecodeBson(bad);
  ASSERT_FALSE(r);
  EXPECT_NE(r.error().message().find("device must be a non-empty UTF-8 string"), std::string::npos)
      << r.error().message();
  // Every single-byte truncation or flip is an error or a clean decode, never a crash.
  for (size_t i = 0; i < doc.size(); ++i) {
    std::string flipped = doc;
    flipped[i] = static_cast<char>(flipped[i] ^ 0x5a);
    (void)DecodeBson(flipped);
    (void)DecodeBson(std::string_view(doc).substr(0, i));
  }
}

TEST(ArchiveUuid, TextAndRawForms) {
  auto id = ParseUuid("0F8FAD5B-D9CB-469F-A165-70867728950E");
  ASSERT_TRUE(id);
  EXPECT_EQ(UuidText(*id), "0f8fad5b-d9cb-469f-a165-70867728950e");
  std::string raw(reinterpret_cast<const char*>(id->data()), 16);
  EXPECT_EQ(ParseUuid(raw), id);
  EXPECT_FALSE(ParseUuid("0f8fad5b-d9cb-469f-a165-70867728950"));
  EXPECT_FALSE(ParseUuid("0f8fad5b_d9cb-469f-a165-70867728950e"));
  EXPECT_FALSE(ParseUuid("0f8fad5b-d9cb-469f-a165-70867728950g"));
  EXPECT_FALSE(ParseUuid("not a uuid"));
}

TEST(ArchiveUuid, NewIsVersion4AndDistinct) {
  Uuid a = NewUuidV4(), b = NewUuidV4();
  EXPECT_NE(a, b);
  std::string text = UuidText(a);
  EXPECT_EQ(text[14], '4');
  EXPECT_NE(std::string("89ab").find(text[19]), std::string::npos);
}

}  // namespace
}  // namespace granary::archive
