#include "s3/sigv4.h"

#include <algorithm>
#include <map>

#include "platform/crypto.h"
#include "platform/strings.h"

namespace granary::sigv4 {
namespace {

bool Unreserved(unsigned char c) {
  return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-' ||
         c == '.' || c == '_' || c == '~';
}

// Trims and collapses runs of spaces (AWS "Trimall"; quotes get no special treatment).
std::string TrimAll(std::string_view v) {
  std::string out;
  bool space = false;
  for (char c : v) {
    if (c == ' ' || c == '\t') {
      space = !out.empty();
      continue;
    }
    if (space) out += ' ';
    space = false;
    out += c;
  }
  return out;
}

std::vector<std::string_view> Split(std::string_view s, char sep) {
  std::vector<std::string_view> parts;
  size_t start = 0;
  for (;;) {
    size_t p = s.find(sep, start);
    parts.push_back(
        s.substr(start, p == std::string_view::npos ? std::string_view::npos : p - start));
    if (p == std::string_view::npos) return parts;
    start = p + 1;
  }
}

std::string_view Strip(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t')) s.remove_suffix(1);
  return s;
}

}  // namespace

std::string UriEncode(std::string_view bytes, bool encode_slash) {
  static constexpr char kDigits[] = "0123456789ABCDEF";
  std::string out;
  out.reserve(bytes.size());
  for (unsigned char c : bytes) {
    if (Unreserved(c) || (c == '/' && !encode_slash)) {
      out += static_cast<char>(c);
    } else {
      out += '%';
      out += kDigits[c >> 4];
      out += kDigits[c & 15];
    }
  }
  return out;
}

Result<std::string> UriDecode(std::string_view text) {
  std::string out;
  out.reserve(text.size());
  for (size_t i = 0; i < text.size(); ++i) {
    if (text[i] != '%') {
      out += text[i];
      continue;
    }
    int hi = i + 1 < text.size() ? HexDigitValue(text[i + 1]) : -1;
    int lo = i + 2 < text.size() ? HexDigitValue(text[i + 2]) : -1;
    if (hi < 0 || lo < 0)
      return Error("invalid %-escape in \"" + std::string(text.substr(0, 200)) + "\"");
    out += static_cast<char>(hi * 16 + lo);
    i += 2;
  }
  return out;
}

Result<std::string> CanonicalUri(std::string_view wire_path) {
  if (wire_path.empty()) return std::string("/");
  auto decoded = UriDecode(wire_path);
  if (!decoded) return decoded.error();
  return UriEncode(*decoded, /*encode_slash=*/false);
}

Result<std::string> CanonicalQuery(std::string_view wire_query) {
  if (wire_query.empty()) return std::string();
  std::vector<std::pair<std::string, std::string>> pairs;
  for (std::string_view part : Split(wire_query, '&')) {
    if (part.empty()) continue;
    size_t eq = part.find('=');
    auto key = UriDecode(part.substr(0, eq));
    auto value = UriDecode(eq == std::string_view::npos ? std::string_view() : part.substr(eq + 1));
    if (!key) return key.error();
    if (!value) return value.error();
    pairs.emplace_back(UriEncode(*key, true), UriEncode(*value, true));
  }
  std::sort(pairs.begin(), pairs.end());
  std::string out;
  for (const auto& [k, v] : pairs) {
    if (!out.empty()) out += '&';
    out += k;
    out += '=';
    out += v;
  }
  return out;
}

std::vector<std::string> HeaderNames(const Headers& headers) {
  std::vector<std::string> names;
  for (const auto& [name, value] : headers) names.push_back(AsciiLower(name));
  std::sort(names.begin(), names.end());
  names.erase(std::unique(names.begin(), names.end()), names.end());
  return names;
}

Result<std::string> CanonicalRequest(const Request& request,
                                     const std::vector<std::string>& signed_headers) {
  auto uri = CanonicalUri(request.path);
  if (!uri) return uri.error();
  auto query = CanonicalQuery(request.query);
  if (!query) return query.error();
  // Sorted by name; values of repeated headers joined in the order they came.
  std::map<std::string, std::string> values;
  for (const auto& [name, value] : request.headers) {
    std::string lname = AsciiLower(name);
    auto [it, fresh] = values.emplace(lname, TrimAll(value));
    if (!fresh) it->second += "," + TrimAll(value);
  }
  std::vector<std::string> names = signed_headers;
  std::sort(names.begin(), names.end());
  std::string out = request.method + "\n" + *uri + "\n" + *query + "\n";
  std::string list;
  for (const std::string& n : names) {
    auto it = values.find(n);
    if (it == values.end()) return Error("signed header " + n + " is not in the request");
    out += n + ":" + it->second + "\n";
    if (!list.empty()) list += ';';
    list += n;
  }
  out += "\n" + list + "\n" + request.payload_hash;
  return out;
}

std::string StringToSign(std::string_view amz_date, const Scope& scope,
                         std::string_view canonical_request) {
  return std::string(kAlgorithm) + "\n" + std::string(amz_date) + "\n" + scope.String() + "\n" +
         Sha256Hex(canonical_request);
}

std::string Signature(std::string_view secret, const Scope& scope,
                      std::string_view string_to_sign) {
  std::string key = HmacSha256("AWS4" + std::string(secret), scope.date);
  key = HmacSha256(key, scope.region);
  key = HmacSha256(key, scope.service);
  key = HmacSha256(key, "aws4_request");
  std::string sig = HmacSha256(key, string_to_sign);
  return HexEncode(sig);
}

Result<Authorization> ParseAuthorization(std::string_view header) {
  auto bad = [&](std::string_view why) {
    return Error("malformed Authorization header (" + std::string(why) + ")");
  };
  header = Strip(header);
  if (header.substr(0, kAlgorithm.size()) != kAlgorithm) return bad("not AWS4-HMAC-SHA256");
  header.remove_prefix(kAlgorithm.size());
  if (header.empty() || header.front() != ' ') return bad("no parameters");
  Authorization a;
  bool have_cred = false, have_signed = false, have_sig = false;
  for (std::string_view part : Split(header, ',')) {
    part = Strip(part);
    size_t eq = part.find('=');
    if (eq == std::string_view::npos) return bad("parameter without '='");
    std::string_view key = part.substr(0, eq), value = part.substr(eq + 1);
    if (key == "Credential") {
      auto fields = Split(value, '/');
      if (fields.size() != 5 || fields[4] != "aws4_request" || fields[0].empty() ||
          fields[1].size() != 8) {
        return bad("Credential is not KEY/DATE/REGION/SERVICE/aws4_request");
      }
      a.access_key = fields[0];
      a.scope = {std::string(fields[1]), std::string(fields[2]), std::string(fields[3])};
      have_cred = true;
    } else if (key == "SignedHeaders") {
      for (std::string_view n : Split(value, ';')) {
        if (n.empty()) return bad("empty signed header name");
        a.signed_headers.emplace_back(n);
      }
      have_signed = true;
    } else if (key == "Signature") {
      if (value.size() != 64 ||
          !std::all_of(value.begin(), value.end(), [](char c) { return HexDigitValue(c) >= 0; })) {
        return bad("Signature is not 64 hex digits");
      }
      a.signature = value;
      have_sig = true;
    } else {
      return bad("unknown parameter " + std::string(key.substr(0, 40)));
    }
  }
  if (!have_cred || !have_signed || !have_sig)
    return bad("missing Credential, SignedHeaders or Signature");
  return a;
}

std::string FormatAuthorization(std::string_view access_key, const Scope& scope,
                                const std::vector<std::string>& signed_headers,
                                std::string_view signature) {
  std::string list;
  for (const std::string& n : signed_headers) {
    if (!list.empty()) list += ';';
    list += n;
  }
  return std::string(kAlgorithm) + " Credential=" + std::string(access_key) + "/" + scope.String() +
         ", SignedHeaders=" + list + ", Signature=" + std::string(signature);
}

}  // namespace granary::sigv4
