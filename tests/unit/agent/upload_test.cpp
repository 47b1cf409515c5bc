// Pure pieces of the upload worker: key templates, outcome judging, backoff.
#include <gtest/gtest.h>

#include "agent/upload/object_key.h"
#include "agent/upload/retry.h"

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
  EXPECT_EQ(ValidateKeyTemplate("{device}/{nope}/{first_seq}").error().message(),
            "unknown placeholder {nope} in key template (known: prefix, device, source, yyyy, "
            "mm, dd, hh, first_seq, last_seq, ext)");
  EXPECT_EQ(ValidateKeyTemplate("{device}.gz").error().message(),
            "key template must contain {first_seq} so keys stay unique");
}

TEST(ObjectKey, ListPrefixAndHourReadBackFromAKey) {
  KeyFields f{"fleet", "h017", "bus", "bson.gz", 1732284006001, 1042, 1099};
  const std::string key = RenderKey(kDefaultKeyTemplate, f);
  EXPECT_EQ(RenderKeyPrefix(kDefaultKeyTemplate, f), "fleet/h017/bus/");
  EXPECT_EQ(KeyHourMs(kDefaultKeyTemplate, f, key), std::optional<int64_t>(1732284000000));
  KeyFields any = f;
  any.source = "";  // every source: {source} is matched, not filled in
  EXPECT_EQ(RenderKeyPrefix(kDefaultKeyTemplate, any), "fleet/h017/");
  EXPECT_EQ(KeyHourMs(kDefaultKeyTemplate, any, key), std::optional<int64_t>(1732284000000));
  KeyFields other = f;
  other.device = "h018";
  EXPECT_EQ(KeyHourMs(kDefaultKeyTemplate, other, key), std::nullopt);
  // An empty prefix leaves no leading slash in the key, nor in the pattern.
  f.prefix = any.prefix = "";
  EXPECT_EQ(KeyHourMs(kDefaultKeyTemplate, any, RenderKey(kDefaultKeyTemplate, f)),
            std::optional<int64_t>(1732284000000));
  // Without an hour in the template nothing can be skipped by its key.
  EXPECT_EQ(KeyHourMs("{prefix}/{device}/{source}/{first_seq}.{ext}", f, "h017/bus/1042.bson.gz"),
            std::nullopt);
  EXPECT_EQ(RenderKeyPrefix("{prefix}/{device}/{source}/{first_seq}.{ext}", f), "h017/bus/");
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
  EXPECT_EQ(JudgeUpload(Result<S3Response>(Error("connect refused")), md5).outcome,
            Outcome::kRetry);
  for (long s : {408L, 429L, 500L, 502L, 503L}) {
    EXPECT_EQ(JudgeUpload(Answer(s), md5).outcome, Outcome::kRetry) << s;
  }
  EXPECT_EQ(JudgeUpload(Answer(503, {}, "SlowDown"), md5).outcome, Outcome::kRetry);
  EXPECT_EQ(JudgeUpload(Answer(403, {}, "SignatureDoesNotMatch"), md5).outcome,
            Outcome::kPermanent);
  EXPECT_EQ(JudgeUpload(Answer(404, {}, "NoSuchBucket"), md5).outcome, Outcome::kPermanent);
  // Account-wide refusals heal when another upload succeeds; a refusal of one object's bytes
  // does not, or it would be sent again after every success.
  EXPECT_TRUE(JudgeUpload(Answer(403, {}, "AccessDenied"), md5).account);
  EXPECT_TRUE(JudgeUpload(Answer(403, {}, "InvalidAccessKeyId"), md5).account);
  EXPECT_TRUE(JudgeUpload(Answer(404, {}, "NoSuchBucket"), md5).account);
  for (auto [status, code] : {std::pair{400L, "InvalidSegment"}, std::pair{409L, "ObjectConflict"},
                              std::pair{413L, "EntityTooLarge"}}) {
    Verdict v = JudgeUpload(Answer(status, {}, code), md5);
    EXPECT_EQ(v.outcome, Outcome::kPermanent) << code;
    EXPECT_FALSE(v.account) << code;
  }
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
      auto d =
          BackoffDelay(attempt, milliseconds{1000}, milliseconds{300'000}, milliseconds{0}, rng);
      EXPECT_GE(d.count(), 0);
      EXPECT_LE(d.count(), std::min<int64_t>(300'000, 1000LL << std::min(attempt, 20)));
    }
  }
  EXPECT_GE(
      BackoffDelay(0, milliseconds{1000}, milliseconds{5000}, milliseconds{7000}, rng).count(),
      7000);
}

}  // namespace
}  // namespace granary
