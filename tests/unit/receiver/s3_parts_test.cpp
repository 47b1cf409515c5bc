// Small S3 pieces: key safety, error documents, event notifications.
#include <gtest/gtest.h>

#include "receiver/context.h"
#include "receiver/key_check.h"
#include "receiver/s3_error.h"
#include "receiver/s3_events.h"

namespace granary::receiver {
namespace {

TEST(CheckObjectKeyTest, RefusesPathTricks) {
  EXPECT_TRUE(CheckObjectKey("granary/h017/meter/a b+c=d€.jsonl.gz").ok());
  const std::vector<std::string> bad_keys = {"",       "/abs",
                                             "a/../b", "a/./b",
                                             "..",     "a//b",
                                             "a/",     std::string("a\0b", 3),
                                             "a\nb",   std::string(1025, 'k')};
  for (const std::string& bad : bad_keys) {
    EXPECT_FALSE(CheckObjectKey(bad).ok()) << bad;
  }
  EXPECT_EQ(CheckObjectKey(std::string(300, 'k')).code, "KeyTooLongError");
}

TEST(S3ErrorTest, StatusesAndXml) {
  EXPECT_EQ(MakeS3Error("AccessDenied", "").status, 403);
  EXPECT_EQ(MakeS3Error("BadDigest", "").status, 400);
  EXPECT_EQ(MakeS3Error("NoSuchKey", "").status, 404);
  EXPECT_EQ(MakeS3Error("RequestTimeTooSkewed", "").status, 403);
  std::string xml = RenderS3ErrorXml(MakeS3Error("AccessDenied", "a<b"), "/b/k&", "R1");
  EXPECT_NE(xml.find("<Code>AccessDenied</Code><Message>a&lt;b</Message>"), std::string::npos);
  EXPECT_NE(xml.find("<Resource>/b/k&amp;</Resource>"), std::string::npos);
}

TEST(S3EventsTest, ParsesRecordsAndDecodesKeys) {
  auto batch = ParseS3Events(R"({"Records":[
    {"eventName":"ObjectCreated:Put","s3":{"bucket":{"name":"b"},
     "object":{"key":"granary/h017/a+b%3D.jsonl.gz","size":12,"eTag":"\"abc\""}}},
    {"eventName":"ObjectRemoved:Delete","s3":{"bucket":{"name":"b"},"object":{"key":"x"}}}]})");
  ASSERT_TRUE(batch.ok()) << batch.error().message();
  ASSERT_EQ(batch->records.size(), 1u);
  EXPECT_EQ(batch->records[0].key, "granary/h017/a b=.jsonl.gz");
  EXPECT_EQ(batch->records[0].size, 12u);
  EXPECT_EQ(batch->records[0].etag, "abc");
  EXPECT_EQ(batch->ignored, 1u);
}

TEST(S3EventsTest, SnsEnvelopeAndTestEvent) {
  auto sns = ParseS3Events(
      R"({"Type":"Notification","Message":"{\"Records\":[{\"eventName\":\"ObjectCreated:Put\",\"s3\":{\"bucket\":{\"name\":\"b\"},\"object\":{\"key\":\"k\"}}}]}"})");
  ASSERT_TRUE(sns.ok());
  EXPECT_EQ(sns->records.size(), 1u);
  auto test = ParseS3Events(R"({"Service":"Amazon S3","Event":"s3:TestEvent"})");
  ASSERT_TRUE(test.ok());
  EXPECT_TRUE(test->records.empty());
}

TEST(S3EventsTest, MalformedIsAnError) {
  for (
      const char* bad :
      {"", "[]", "{", R"({"Records":{}})", R"({"Records":[1]})",
       R"({"Records":[{"eventName":"ObjectCreated:Put"}]})",
       R"({"Records":[{"eventName":"ObjectCreated:Put","s3":{"bucket":{"name":"b"},"object":{"key":"%zz"}}}]})"}) {
    EXPECT_FALSE(ParseS3Events(bad).ok()) << bad;
  }
}

}  // namespace
}  // namespace granary::receiver
