// Pure pieces of the uploader: key templates, outcome judging, backoff, credentials,
// S3 XML documents.
#include <gtest/gtest.h>
#include <sys/stat.h>

#include <cstdlib>
#include <fstream>

#include "tests/support/test_util.h"
#include "uploader/credentials.h"
#include "uploader/object_key.h"
#include "uploader/retry.h"
#include "uploader/s3_xml.h"

namespace granary {
namespace {

using std::chrono::milliseconds;

TEST(ObjectKey, DefaultTemplateMatchesTheDesign) {
  KeyFields f{"fleet", "h017", "meter", "jsonl.gz", 1732284006001, 1042, 1099};
  EXPECT_EQ(RenderKey(kDefaultKeyTemplate, f),
            "fleet/h017/meter/2024/11/22/h017-meter-20241122T14-1042.jsonl.gz");
  f.prefix = "";
  EXPECT_EQ(RenderKey(kDefaultKeyTemplate, f),
            "h017/meter/2024/11/22/h017-meter-20241122T14-1042.jsonl.gz");
  EXPECT_TRUE(ValidateKeyTemplate(kDefaultKeyTemplate).ok());
  EXPECT_FALSE(ValidateKeyTemplate("{device}/{source}.gz").ok());  // no {first_seq}
  EXPECT_FALSE(ValidateKeyTemplate("{device}/{nope}/{first_seq}").ok());
  EXPECT_FALSE(ValidateKeyTemplate("{device/{first_seq}").ok());
}

S3Response Answer(long status, std::map<std::string, std::string> headers = {},
                   std::string code = "") {
  S3Response r;
  r.status = status;
  r.headers = std::move(headers);
  r.error_code = std::move(code);
  return r;
}

TEST(JudgeUpload, ClassifiesEveryKindOfAnswer) {
  const std::string md5 = "0123456789abcdef0123456789abcdef";
  EXPECT_EQ(JudgeUpload(Answer(200, {{"etag", "\"" + md5 + "\""}}), md5).outcome, Outcome::kStored);
  EXPECT_EQ(JudgeUpload(Answer(200, {{"etag", "\"ffff\""}}), md5).outcome, Outcome::kRetry);
  EXPECT_EQ(JudgeUpload(Result<S3Response>(Error("connect refused")), md5).outcome, Outcome::kRetry);
  for (long s : {408L, 429L, 500L, 502L, 503L}) {
    EXPECT_EQ(JudgeUpload(Answer(s), md5).outcome, Outcome::kRetry) << s;
  }
  EXPECT_EQ(JudgeUpload(Answer(503, {}, "SlowDown"), md5).outcome, Outcome::kRetry);
  EXPECT_EQ(JudgeUpload(Answer(403, {}, "SignatureDoesNotMatch"), md5).outcome, Outcome::kPermanent);
  EXPECT_EQ(JudgeUpload(Answer(404, {}, "NoSuchBucket"), md5).outcome, Outcome::kPermanent);
  Verdict skew = JudgeUpload(
      Answer(403, {{"date", "Sun, 22 Nov 2026 20:00:00 GMT"}}, "RequestTimeTooSkewed"), md5);
  EXPECT_EQ(skew.outcome, Outcome::kSkewed);
  EXPECT_EQ(skew.server_time_ms, 1795377600000);
  EXPECT_EQ(JudgeUpload(Answer(503, {{"retry-after", "7"}}), md5).retry_after, milliseconds{7000});
}

TEST(Backoff, FullJitterWithinBoundsAndFloor) {
  std::mt19937_64 rng(1);
  for (int attempt = 0; attempt < 30; ++attempt) {
    for (int i = 0; i < 50; ++i) {
      auto d = BackoffDelay(attempt, milliseconds{1000}, milliseconds{300'000}, milliseconds{0}, rng);
      EXPECT_GE(d.count(), 0);
      EXPECT_LE(d.count(), std::min<int64_t>(300'000, 1000LL << std::min(attempt, 20)));
    }
  }
  EXPECT_GE(BackoffDelay(0, milliseconds{1000}, milliseconds{5000}, milliseconds{7000}, rng).count(),
            7000);
}

TEST(Credentials, FileMustBePrivateAndProfilesWork) {
  testing::TempDir dir;
  std::string path = dir.path() + "/credentials";
  std::ofstream(path) << "[default]\naws_access_key_id = AKIDDEFAULT\naws_secret_access_key = s1\n"
                         "[profile edge]\naws_access_key_id=AKIDEDGE\naws_secret_access_key=s2\n"
                         "aws_session_token=tok\n";
  chmod(path.c_str(), 0644);
  auto open = LoadCredentials(path, "");
  ASSERT_FALSE(open.ok());
  EXPECT_NE(open.error().message().find("0644"), std::string::npos) << open.error().message();
  EXPECT_NE(open.error().message().find("0600"), std::string::npos);
  chmod(path.c_str(), 0600);
  auto def = LoadCredentials(path, "");
  ASSERT_TRUE(def.ok()) << def.error().message();
  EXPECT_EQ(def->access_key, "AKIDDEFAULT");
  auto edge = LoadCredentials(path, "edge");
  ASSERT_TRUE(edge.ok());
  EXPECT_EQ(edge->session_token, "tok");
  EXPECT_EQ(edge->Redacted().find("s2"), std::string::npos);
  chmod(path.c_str(), 0400);
  EXPECT_TRUE(LoadCredentials(path, "edge").ok());
  EXPECT_FALSE(LoadCredentials(path, "missing").ok());
  EXPECT_FALSE(LoadCredentials(dir.path() + "/nope", "").ok());
}

TEST(Credentials, Environment) {
  setenv("AWS_ACCESS_KEY_ID", "AKIDENV", 1);
  setenv("AWS_SECRET_ACCESS_KEY", "secret", 1);
  setenv("AWS_SESSION_TOKEN", "token", 1);
  auto c = LoadCredentials("", "");
  ASSERT_TRUE(c.ok());
  EXPECT_EQ(c->session_token, "token");
  unsetenv("AWS_SECRET_ACCESS_KEY");
  EXPECT_FALSE(LoadCredentials("", "").ok());
  unsetenv("AWS_ACCESS_KEY_ID");
  unsetenv("AWS_SESSION_TOKEN");
}

TEST(S3Xml, ErrorAndListingDocuments) {
  auto e = ParseS3Error(
      "<?xml version=\"1.0\"?><Error><Code>SlowDown</Code><Message>Reduce</Message></Error>");
  ASSERT_TRUE(e.ok());
  EXPECT_EQ(e->code, "SlowDown");
  EXPECT_FALSE(ParseS3Error("<html>nope</html>").ok());
  EXPECT_FALSE(ParseS3Error("<Error><Code>x</Cod").ok());
  auto l = ParseListObjectsV2(
      "<ListBucketResult><IsTruncated>true</IsTruncated><NextContinuationToken>t1"
      "</NextContinuationToken><Contents><Key>a b</Key><Size>12</Size><ETag>&quot;abc&quot;"
      "</ETag></Contents><Contents><Key>c</Key><Size>3</Size><ETag>\"d\"</ETag></Contents>"
      "</ListBucketResult>");
  ASSERT_TRUE(l.ok()) << l.error().message();
  ASSERT_EQ(l->objects.size(), 2u);
  EXPECT_EQ(l->objects[0].key, "a b");
  EXPECT_EQ(l->objects[0].size, 12u);
  EXPECT_EQ(l->objects[0].etag, "abc");
  EXPECT_TRUE(l->truncated);
  EXPECT_EQ(l->next_token, "t1");
}

}  // namespace
}  // namespace granary
