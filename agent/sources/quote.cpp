#include "agent/sources/quote.h"

#include <fmt/format.h>

namespace granary {

std::string QuoteRaw(std::string_view raw, size_t max_bytes) {
  std::string out = "\"";
  for (unsigned char c : raw.substr(0, max_bytes)) {
    switch (c) {
      case '\n':
        out += "\\n";
        break;
      case '\r':
        out += "\\r";
        break;
      case '\t':
        out += "\\t";
        break;
      case '"':
        out += "\\\"";
        break;
      case '\\':
        out += "\\\\";
        break;
      default:
        if (c < 0x20 || c >= 0x7f) {
          out += fmt::format("\\x{:02x}", c);
        } else {
          out += static_cast<char>(c);
        }
    }
  }
  out += '"';
  if (raw.size() > max_bytes) out += fmt::format("... ({} bytes)", raw.size());
  return out;
}

}  // namespace granary
