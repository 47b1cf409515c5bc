// What the receiver's handlers see of an HTTP request: the target exactly as on the wire
// (SigV4 signs the wire form, re-encoded once) and the headers in the order received.
#pragma once

#include <algorithm>
#include <cctype>
#include <string>
#include <string_view>

#include "platform/strings.h"
#include "s3/sigv4.h"

namespace granary::receiver {

struct HttpRequest {
  std::string method;
  std::string raw_path;   // percent-encoded, no query
  std::string raw_query;  // without '?'
  sigv4::Headers headers;
  std::string peer;  // client address, for logs

  static bool NameIs(std::string_view name, std::string_view lower_name) {
    return EqualsIgnoreCase(name, lower_name);
  }
  // The first value of a header, or "" when absent.
  std::string Header(std::string_view lower_name) const {
    for (const auto& [n, v] : headers) {
      if (NameIs(n, lower_name)) return v;
    }
    return "";
  }
  bool HasHeader(std::string_view lower_name) const { return HeaderCount(lower_name) > 0; }
  int HeaderCount(std::string_view lower_name) const {
    int count = 0;
    for (const auto& [n, v] : headers) count += NameIs(n, lower_name) ? 1 : 0;
    return count;
  }
};

// Splits "/a/b?x=1" into path and query.
inline void SplitTarget(std::string_view target, std::string* path, std::string* query) {
  size_t q = target.find('?');
  *path = std::string(target.substr(0, q));
  *query = q == std::string_view::npos ? std::string() : std::string(target.substr(q + 1));
}

// The decoded value of query parameter `name` (first occurrence); `found` says whether it
// was present at all (valueless parameters such as "?uploads" are present and empty).
std::string QueryParam(std::string_view raw_query, std::string_view name, bool* found = nullptr);

}  // namespace granary::receiver
