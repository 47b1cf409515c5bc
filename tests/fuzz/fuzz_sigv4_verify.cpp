// The receiver's SigV4 path on arbitrary requests: the text is a request line and headers
// (as the suite's .sreq files); canonicalisation and verification must answer, never crash,
// and a request that verifies must still verify after its own canonical re-encoding of
// the path (S3 canonicalises by decoding once and re-encoding).
#include <cstdint>
#include <cstdlib>
#include <string>
#include <string_view>

#include "platform/time.h"
#include "receiver/key_check.h"
#include "receiver/request_auth.h"
#include "s3/sigv4.h"

namespace {

granary::receiver::HttpRequest Parse(std::string_view text) {
  granary::receiver::HttpRequest r;
  size_t eol = text.find('\n');
  std::string_view line = text.substr(0, eol);
  size_t sp1 = line.find(' ');
  size_t sp2 = line.rfind(' ');
  r.method = std::string(line.substr(0, sp1));
  if (sp1 != std::string_view::npos && sp2 > sp1) {
    granary::receiver::SplitTarget(line.substr(sp1 + 1, sp2 - sp1 - 1), &r.raw_path, &r.raw_query);
  }
  while (eol != std::string_view::npos) {
    size_t start = eol + 1;
    eol = text.find('\n', start);
    std::string_view h = text.substr(start, eol == std::string_view::npos ? eol : eol - start);
    if (h.empty()) break;
    size_t colon = h.find(':');
    if (colon == std::string_view::npos) continue;
    r.headers.emplace_back(std::string(h.substr(0, colon)), std::string(h.substr(colon + 1)));
  }
  return r;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace granary;
  std::string_view text(reinterpret_cast<const char*>(data), size);
  receiver::HttpRequest r = Parse(text);
  (void)sigv4::CanonicalUri(r.raw_path);
  (void)sigv4::CanonicalQuery(r.raw_query);
  (void)sigv4::ParseAuthorization(r.Header("authorization"));
  static const receiver::RequestVerifier verifier(
      {{"dev", "AKIDEXAMPLE", "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY"}},
      receiver::VerifierOptions{});
  receiver::VerifiedRequest out;
  receiver::S3Error e = verifier.Verify(r, ParseAmzDate("20150830T123600Z"), &out);
  if (e.ok()) {
    auto canonical = sigv4::CanonicalUri(r.raw_path);
    if (!canonical) std::abort();
    receiver::HttpRequest again = r;
    again.raw_path = *canonical;
    receiver::VerifiedRequest out2;
    if (!verifier.Verify(again, ParseAmzDate("20150830T123600Z"), &out2).ok()) std::abort();
  }
  (void)receiver::CheckObjectKey(r.raw_path);
  return 0;
}
