// The official AWS SigV4 suite (tests/fixtures/sigv4) and the S3 API reference examples.
#include "s3/sigv4.h"

#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <sstream>

#include "platform/crypto.h"

namespace granary::sigv4 {
namespace {

namespace fs = std::filesystem;
const fs::path kSuite = fs::path(GRANARY_SOURCE_DIR) / "tests/fixtures/sigv4";
const std::string kSecret = "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY";
const Scope kScope{"20150830", "us-east-1", "service"};

std::string ReadFile(const fs::path& p) {
  std::ifstream in(p, std::ios::binary);
  std::stringstream s;
  s << in.rdbuf();
  return s.str();
}

// Parses a .req file: request line, headers (obs-fold continuation lines become further
// values of the header, which canonicalisation joins with ','), blank line, body.
Request ParseReq(const std::string& text) {
  Request r;
  std::istringstream in(text);
  std::string line;
  std::getline(in, line);
  size_t sp1 = line.find(' '), sp2 = line.rfind(' ');
  r.method = line.substr(0, sp1);
  std::string target = line.substr(sp1 + 1, sp2 - sp1 - 1);
  size_t q = target.find('?');
  r.path = target.substr(0, q);
  r.query = q == std::string::npos ? "" : target.substr(q + 1);
  std::string body;
  bool in_body = false;
  while (std::getline(in, line)) {
    if (in_body) {
      body += (body.empty() ? "" : "\n") + line;
    } else if (line.empty()) {
      in_body = true;
    } else if (line[0] == ' ' || line[0] == '\t') {
      r.headers.emplace_back(r.headers.back().first, line);
    } else {
      size_t colon = line.find(':');
      r.headers.emplace_back(line.substr(0, colon), line.substr(colon + 1));
    }
  }
  r.payload_hash = Sha256Hex(body);
  return r;
}

std::string HeaderValue(const Request& r, const std::string& lower_name) {
  for (const auto& [n, v] : r.headers) {
    std::string l = n;
    for (char& c : l) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    if (l == lower_name) return v;
  }
  return "";
}

struct CaseResult {
  bool canonical_ok, sts_ok, authz_ok;
};

CaseResult RunCase(const fs::path& dir) {
  std::string name = dir.filename().string();
  Request r = ParseReq(ReadFile(dir / (name + ".req")));
  std::vector<std::string> names = HeaderNames(r.headers);
  auto creq = CanonicalRequest(r, names);
  EXPECT_TRUE(creq.ok()) << name;
  if (!creq.ok()) return {false, false, false};
  std::string sts = StringToSign(HeaderValue(r, "x-amz-date"), kScope, *creq);
  std::string authz =
      FormatAuthorization("AKIDEXAMPLE", kScope, names, Signature(kSecret, kScope, sts));
  return {*creq == ReadFile(dir / (name + ".creq")), sts == ReadFile(dir / (name + ".sts")),
          authz == ReadFile(dir / (name + ".authz"))};
}

// Cases that assume generic (non-S3) path normalisation: S3 must not match them.
bool IsNormalisationCase(const std::string& name) {
  return name == "get-relative" || name == "get-relative-relative" || name == "get-slash" ||
         name == "get-slash-dot-slash" || name == "get-slash-pointless-dot" ||
         name == "get-slashes";
}

TEST(Sigv4Suite, EveryApplicableCaseMatchesAndNormalisationCasesDoNot) {
  int passed = 0, rejected = 0;
  for (auto& e : fs::recursive_directory_iterator(kSuite)) {
    if (e.path().extension() != ".req") continue;
    fs::path dir = e.path().parent_path();
    std::string name = dir.filename().string();
    SCOPED_TRACE(name);
    CaseResult r = RunCase(dir);
    if (IsNormalisationCase(name)) {
      EXPECT_FALSE(r.canonical_ok) << "S3 must not normalise the path";
      EXPECT_FALSE(r.authz_ok);
      ++rejected;
    } else if (name == "post-sts-header-after") {
      // The token is added after signing: the .req holds it, the signature does not.
      ++passed;
    } else {
      EXPECT_TRUE(r.canonical_ok);
      EXPECT_TRUE(r.sts_ok);
      EXPECT_TRUE(r.authz_ok);
      ++passed;
    }
  }
  EXPECT_EQ(passed + rejected, 31);
  EXPECT_EQ(rejected, 6);
}

TEST(Sigv4Suite, TokenAddedAfterSigningIsNotSigned) {
  fs::path dir = kSuite / "post-sts-token/post-sts-header-after";
  Request r = ParseReq(ReadFile(dir / "post-sts-header-after.req"));
  Headers signed_only;
  for (const auto& h : r.headers) {
    if (h.first != "X-Amz-Security-Token") signed_only.push_back(h);
  }
  std::vector<std::string> names = HeaderNames(signed_only);
  auto creq = CanonicalRequest(r, names);
  ASSERT_TRUE(creq.ok());
  EXPECT_EQ(*creq, ReadFile(dir / "post-sts-header-after.creq"));
  std::string sts = StringToSign("20150830T123600Z", kScope, *creq);
  EXPECT_EQ(FormatAuthorization("AKIDEXAMPLE", kScope, names, Signature(kSecret, kScope, sts)),
            ReadFile(dir / "post-sts-header-after.authz"));
}

TEST(Sigv4S3, ApiReferenceExamples) {
  const std::string secret = "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY";
  const Scope scope{"20130524", "us-east-1", "s3"};
  const std::string host = "examplebucket.s3.amazonaws.com";
  const std::string empty(kEmptyPayloadSha256);
  struct Example {
    Request request;
    std::string signature;
  };
  std::vector<Example> examples = {
      {{"GET",
        "/test.txt",
        "",
        {{"Host", host},
         {"Range", "bytes=0-9"},
         {"x-amz-content-sha256", empty},
         {"x-amz-date", "20130524T000000Z"}},
        empty},
       "f0e8bdb87c964420e857bd35b5d6ed310bd44f0170aba48dd91039c6036bdb41"},
      {{"PUT",
        "/test%24file.text",
        "",
        {{"Date", "Fri, 24 May 2013 00:00:00 GMT"},
         {"Host", host},
         {"x-amz-content-sha256", Sha256Hex("Welcome to Amazon S3.")},
         {"x-amz-date", "20130524T000000Z"},
         {"x-amz-storage-class", "REDUCED_REDUNDANCY"}},
        Sha256Hex("Welcome to Amazon S3.")},
       "98ad721746da40c64f1a55b78f14c238d841ea1380cd77a1b5971af0ece108bd"},
      // A valueless subresource is signed as "lifecycle=".
      {{"GET",
        "/",
        "lifecycle",
        {{"Host", host}, {"x-amz-content-sha256", empty}, {"x-amz-date", "20130524T000000Z"}},
        empty},
       "fea454ca298b7da1c68078a5d1bdbfbbe0d65c699e0f91ac7a200a0136783543"},
      // Unsorted on the wire, sorted in the canonical query.
      {{"GET",
        "/",
        "prefix=J&max-keys=2",
        {{"Host", host}, {"x-amz-content-sha256", empty}, {"x-amz-date", "20130524T000000Z"}},
        empty},
       "34b48302e7b5fa45bde8084f4b7868a86f0a534bc59db6670ed5711ef69dc6f7"},
  };
  for (const Example& ex : examples) {
    SCOPED_TRACE(ex.request.path + "?" + ex.request.query);
    auto creq = CanonicalRequest(ex.request, HeaderNames(ex.request.headers));
    ASSERT_TRUE(creq.ok());
    EXPECT_EQ(Signature(secret, scope, StringToSign("20130524T000000Z", scope, *creq)),
              ex.signature);
  }
}

TEST(Sigv4S3, PathIsDecodedAndEncodedOnceNeverNormalised) {
  EXPECT_EQ(*CanonicalUri("/b/a%20b%2Bc%3Dd%E2%82%AC~.txt"), "/b/a%20b%2Bc%3Dd%E2%82%AC~.txt");
  // Raw '=' and '+' and lowercase hex are re-encoded as S3 does.
  EXPECT_EQ(*CanonicalUri("/b/a+b=c.txt"), "/b/a%2Bb%3Dc.txt");
  EXPECT_EQ(*CanonicalUri("/b/%e2%82%ac"), "/b/%E2%82%AC");
  EXPECT_EQ(*CanonicalUri("/b/%7E"), "/b/~");
  EXPECT_EQ(*CanonicalUri("/b//x/../y"), "/b//x/../y");
  EXPECT_EQ(*CanonicalUri(""), "/");
  EXPECT_FALSE(CanonicalUri("/b/%zz").ok());
  EXPECT_FALSE(CanonicalUri("/b/%4").ok());
  EXPECT_EQ(UriEncode("a b/c", true), "a%20b%2Fc");
}

TEST(Sigv4S3, QueryIsSortedAndEveryPairHasAValue) {
  EXPECT_EQ(*CanonicalQuery("prefix=dir%2F&list-type=2"), "list-type=2&prefix=dir%2F");
  EXPECT_EQ(*CanonicalQuery("uploads"), "uploads=");
  EXPECT_EQ(*CanonicalQuery("prefix=dir/"), "prefix=dir%2F");
  EXPECT_EQ(*CanonicalQuery("a=2&a=1&A=3"), "A=3&a=1&a=2");
  EXPECT_EQ(*CanonicalQuery("x-id=PutObject"), "x-id=PutObject");
}

TEST(Sigv4S3, AuthorizationHeaderParses) {
  auto a = ParseAuthorization(
      "AWS4-HMAC-SHA256 Credential=AKID/20150830/us-east-1/s3/aws4_request, "
      "SignedHeaders=host;x-amz-date, Signature="
      "eedbc4e291e521cf13422ffca22be7d2eb8146eecf653089df300a15b2382bd1");
  ASSERT_TRUE(a.ok());
  EXPECT_EQ(a->access_key, "AKID");
  EXPECT_EQ(a->scope.String(), "20150830/us-east-1/s3/aws4_request");
  EXPECT_EQ(a->signed_headers, (std::vector<std::string>{"host", "x-amz-date"}));
  for (const char* bad :
       {"", "AWS4-HMAC-SHA256", "Bearer x",
        "AWS4-HMAC-SHA256 Credential=AKID/2015/us/s3/aws4_request",
        "AWS4-HMAC-SHA256 Credential=AKID/20150830/us-east-1/s3/aws4_request, SignedHeaders=host, "
        "Signature=xyz",
        "AWS4-HMAC-SHA256 Credential=AKID/20150830/us-east-1/s3/aws4_request, Signature="
        "eedbc4e291e521cf13422ffca22be7d2eb8146eecf653089df300a15b2382bd1"}) {
    EXPECT_FALSE(ParseAuthorization(bad).ok()) << bad;
  }
}

}  // namespace
}  // namespace granary::sigv4
