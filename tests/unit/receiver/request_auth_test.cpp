// The receiver's SigV4 verifier: the official AWS suite replayed as signed requests (every
// case verifies except the six path-normalisation cases S3 must not normalise), then the
// S3-specific checks: skew, payload hash header, duplicated date, unknown key, tampering.
#include "receiver/request_auth.h"

#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <set>
#include <sstream>

#include "platform/crypto.h"
#include "platform/time.h"

namespace granary::receiver {
namespace {

namespace fs = std::filesystem;
const fs::path kSuite = fs::path(GRANARY_SOURCE_DIR) / "tests/fixtures/sigv4";
const int64_t kSuiteTime = ParseAmzDate("20150830T123600Z");

std::string ReadFile(const fs::path& p) {
  std::ifstream in(p, std::ios::binary);
  std::stringstream s;
  s << in.rdbuf();
  return s.str();
}

// A .sreq file as the server would see it: request line, headers (obs-fold lines continue
// the previous header's value as a repeated header, as the suite's canonical form joins
// them with ','), body.
HttpRequest ParseSignedRequest(const std::string& text, std::string* body) {
  HttpRequest r;
  std::istringstream in(text);
  std::string line;
  std::getline(in, line);
  size_t sp1 = line.find(' '), sp2 = line.rfind(' ');
  r.method = line.substr(0, sp1);
  SplitTarget(line.substr(sp1 + 1, sp2 - sp1 - 1), &r.raw_path, &r.raw_query);
  bool in_body = false;
  while (std::getline(in, line)) {
    if (in_body) {
      *body += (body->empty() ? "" : "\n") + line;
    } else if (line.empty()) {
      in_body = true;
    } else if (line[0] == ' ' || line[0] == '\t') {
      r.headers.emplace_back(r.headers.back().first, line);
    } else {
      size_t colon = line.find(':');
      r.headers.emplace_back(line.substr(0, colon), line.substr(colon + 1));
    }
  }
  return r;
}

std::vector<DeviceKey> SuiteKeys() {
  return {{"suite", "AKIDEXAMPLE", "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY"}};
}

TEST(RequestVerifierTest, OfficialSuiteVerifiesExceptPathNormalisation) {
  VerifierOptions options;
  options.service = "service";
  options.require_content_sha256 = false;
  RequestVerifier verifier(SuiteKeys(), options);
  const std::set<std::string> must_fail = {
      "get-relative",        "get-relative-relative",   "get-slash",
      "get-slash-dot-slash", "get-slash-pointless-dot", "get-slashes"};
  int verified = 0, refused = 0;
  for (const auto& entry : fs::recursive_directory_iterator(kSuite)) {
    if (entry.path().extension() != ".sreq") continue;
    std::string name = entry.path().stem().string();
    std::string body;
    HttpRequest r = ParseSignedRequest(ReadFile(entry.path()), &body);
    VerifiedRequest out;
    S3Error e = verifier.Verify(r, kSuiteTime, &out, Sha256Hex(body));
    if (must_fail.count(name)) {
      EXPECT_EQ(e.code, "SignatureDoesNotMatch") << name;
      ++refused;
    } else {
      EXPECT_TRUE(e.ok()) << name << ": " << e.code << " " << e.message;
      if (e.ok()) {
        EXPECT_EQ(out.device, "suite");
      }
      ++verified;
    }
  }
  EXPECT_EQ(verified, 25);
  EXPECT_EQ(refused, 6);
}

// The four header-signed examples of the S3 API reference (tests/fixtures/sigv4/s3-examples.md)
// verify in S3 mode, and stop verifying when one signed byte changes.
TEST(RequestVerifierTest, S3ReferenceExamplesVerify) {
  RequestVerifier verifier(
      {{"example", "AKIAIOSFODNN7EXAMPLE", "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY"}},
      VerifierOptions{});
  const std::string empty(sigv4::kEmptyPayloadSha256);
  const std::string cred =
      "AWS4-HMAC-SHA256 Credential=AKIAIOSFODNN7EXAMPLE/20130524/us-east-1/s3/aws4_request, ";
  struct Example {
    std::string name, method, path, query;
    sigv4::Headers headers;
  };
  std::vector<Example> examples = {
      {"get-object-range",
       "GET",
       "/test.txt",
       "",
       {{"Host", "examplebucket.s3.amazonaws.com"},
        {"Range", "bytes=0-9"},
        {"x-amz-content-sha256", empty},
        {"x-amz-date", "20130524T000000Z"},
        {"Authorization",
         cred + "SignedHeaders=host;range;x-amz-content-sha256;x-amz-date, "
                "Signature=f0e8bdb87c964420e857bd35b5d6ed310bd44f0170aba48dd91039c6036bdb41"}}},
      {"put-object",
       "PUT",
       "/test%24file.text",
       "",
       {{"Host", "examplebucket.s3.amazonaws.com"},
        {"Date", "Fri, 24 May 2013 00:00:00 GMT"},
        {"x-amz-content-sha256", Sha256Hex("Welcome to Amazon S3.")},
        {"x-amz-date", "20130524T000000Z"},
        {"x-amz-storage-class", "REDUCED_REDUNDANCY"},
        {"Authorization",
         cred + "SignedHeaders=date;host;x-amz-content-sha256;x-amz-date;x-amz-storage-class, "
                "Signature=98ad721746da40c64f1a55b78f14c238d841ea1380cd77a1b5971af0ece108bd"}}},
      {"get-bucket-lifecycle",
       "GET",
       "/",
       "lifecycle",
       {{"Host", "examplebucket.s3.amazonaws.com"},
        {"x-amz-content-sha256", empty},
        {"x-amz-date", "20130524T000000Z"},
        {"Authorization",
         cred + "SignedHeaders=host;x-amz-content-sha256;x-amz-date, "
                "Signature=fea454ca298b7da1c68078a5d1bdbfbbe0d65c699e0f91ac7a200a0136783543"}}},
      {"list-objects",
       "GET",
       "/",
       "max-keys=2&prefix=J",
       {{"Host", "examplebucket.s3.amazonaws.com"},
        {"x-amz-content-sha256", empty},
        {"x-amz-date", "20130524T000000Z"},
        {"Authorization",
         cred + "SignedHeaders=host;x-amz-content-sha256;x-amz-date, "
                "Signature=34b48302e7b5fa45bde8084f4b7868a86f0a534bc59db6670ed5711ef69dc6f7"}}},
  };
  const int64_t when = ParseAmzDate("20130524T000000Z");
  for (const Example& e : examples) {
    HttpRequest r{e.method, e.path, e.query, e.headers, "test"};
    VerifiedRequest out;
    S3Error err = verifier.Verify(r, when, &out);
    EXPECT_TRUE(err.ok()) << e.name << ": " << err.code << " " << err.message;
    HttpRequest changed = r;
    changed.headers[0].second = "otherbucket.s3.amazonaws.com";
    EXPECT_EQ(verifier.Verify(changed, when, &out).code, "SignatureDoesNotMatch") << e.name;
  }
}

// Signs an S3 request the way the agent does, at `when_ms`.
HttpRequest Signed(const std::string& method, const std::string& path, const std::string& body,
                   int64_t when_ms, const std::string& secret = "secret-1") {
  HttpRequest r;
  r.method = method;
  r.raw_path = path;
  std::string date = FormatAmzDate(when_ms);
  std::string hash = Sha256Hex(body);
  r.headers = {{"Host", "127.0.0.1:9000"}, {"x-amz-date", date}, {"x-amz-content-sha256", hash}};
  sigv4::Scope scope{date.substr(0, 8), "us-east-1", "s3"};
  auto names = sigv4::HeaderNames(r.headers);
  auto creq = sigv4::CanonicalRequest({method, path, "", r.headers, hash}, names);
  std::string sig = sigv4::Signature(secret, scope, sigv4::StringToSign(date, scope, *creq));
  r.headers.emplace_back("Authorization", sigv4::FormatAuthorization("AK1", scope, names, sig));
  return r;
}

class S3VerifyTest : public ::testing::Test {
 protected:
  S3VerifyTest() : verifier_({{"dev1", "AK1", "secret-1"}}, VerifierOptions{}) {}
  S3Error Check(const HttpRequest& r, int64_t now = kNow) {
    VerifiedRequest out;
    return verifier_.Verify(r, now, &out);
  }
  static constexpr int64_t kNow = 1732284006000;
  RequestVerifier verifier_;
};

TEST_F(S3VerifyTest, GoodRequestVerifies) {
  HttpRequest r = Signed("PUT", "/granary/granary/dev1/a%20b.jsonl.gz", "body", kNow);
  VerifiedRequest out;
  S3Error e = verifier_.Verify(r, kNow, &out);
  ASSERT_TRUE(e.ok()) << e.code << " " << e.message;
  EXPECT_EQ(out.device, "dev1");
  EXPECT_EQ(out.payload_hash, Sha256Hex("body"));
}

TEST_F(S3VerifyTest, WrongSecretIsSignatureDoesNotMatch) {
  EXPECT_EQ(Check(Signed("PUT", "/b/k", "x", kNow, "other")).code, "SignatureDoesNotMatch");
}

TEST_F(S3VerifyTest, TamperedPathIsSignatureDoesNotMatch) {
  HttpRequest r = Signed("PUT", "/b/k", "x", kNow);
  r.raw_path = "/b/k2";
  EXPECT_EQ(Check(r).code, "SignatureDoesNotMatch");
}

TEST_F(S3VerifyTest, SkewBeyondFifteenMinutesIsRefusedBothWays) {
  const int64_t minute = 60'000;
  EXPECT_TRUE(Check(Signed("GET", "/b/k", "", kNow - 14 * minute)).ok());
  EXPECT_EQ(Check(Signed("GET", "/b/k", "", kNow - 16 * minute)).code, "RequestTimeTooSkewed");
  EXPECT_EQ(Check(Signed("GET", "/b/k", "", kNow + 16 * minute)).code, "RequestTimeTooSkewed");
  EXPECT_EQ(Check(Signed("GET", "/b/k", "", kNow - 16 * minute)).status, 403);
}

TEST_F(S3VerifyTest, MissingPiecesAreRefused) {
  HttpRequest r = Signed("GET", "/b/k", "", kNow);
  HttpRequest anonymous = r;
  anonymous.headers.pop_back();
  EXPECT_EQ(Check(anonymous).code, "AccessDenied");

  HttpRequest no_hash = r;
  no_hash.headers.erase(no_hash.headers.begin() + 2);
  EXPECT_EQ(Check(no_hash).code, "InvalidRequest");

  HttpRequest twice = r;
  twice.headers.emplace_back("X-Amz-Date", FormatAmzDate(kNow));
  EXPECT_EQ(Check(twice).code, "AccessDenied");

  HttpRequest unknown = r;
  unknown.headers.back().second.replace(unknown.headers.back().second.find("AK1"), 3, "AK9");
  EXPECT_EQ(Check(unknown).code, "InvalidAccessKeyId");

  HttpRequest garbage = r;
  garbage.headers.back().second = "AWS4-HMAC-SHA256 nonsense";
  EXPECT_EQ(Check(garbage).code, "AuthorizationHeaderMalformed");
}

TEST_F(S3VerifyTest, StreamingPayloadIsNotImplemented) {
  HttpRequest r = Signed("PUT", "/b/k", "x", kNow);
  r.headers[2].second = "STREAMING-UNSIGNED-PAYLOAD-TRAILER";
  EXPECT_EQ(Check(r).code, "NotImplemented");
}

TEST(AmzDateTest, RoundTripsAndRejectsGarbage) {
  EXPECT_EQ(FormatAmzDate(ParseAmzDate("20150830T123600Z")), "20150830T123600Z");
  EXPECT_EQ(ParseAmzDate("20150830T123600"), -1);
  EXPECT_EQ(ParseAmzDate("2015083XT123600Z"), -1);
  EXPECT_EQ(ParseAmzDate("20151330T123600Z"), -1);
}

TEST(QueryParamTest, DecodesAndFindsValueless) {
  bool found = false;
  EXPECT_EQ(QueryParam("list-type=2&prefix=a%2Fb+c", "prefix"), "a/b c");
  EXPECT_EQ(QueryParam("uploads&x=1", "uploads", &found), "");
  EXPECT_TRUE(found);
  QueryParam("x=1", "uploads", &found);
  EXPECT_FALSE(found);
}

}  // namespace
}  // namespace granary::receiver
