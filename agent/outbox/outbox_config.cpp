#include "agent/outbox/outbox_config.h"

#include <fnmatch.h>

#include <algorithm>
#include <string>

namespace granary {

bool ValidKind(std::string_view kind) {
  auto lower_or_digit = [](char c) { return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9'); };
  return !kind.empty() && kind.size() <= 64 && lower_or_digit(kind.front()) &&
         std::all_of(kind.begin(), kind.end(),
                     [&](char c) { return lower_or_digit(c) || c == '_' || c == '-'; });
}

bool OutboxIgnores(const OutboxConfig& outbox, std::string_view name) {
  if (name.empty() || name.front() == '.' || name.ends_with(".tmp") || name.ends_with(".part"))
    return true;
  const std::string text(name);
  return std::any_of(outbox.ignore.begin(), outbox.ignore.end(), [&](const std::string& glob) {
    return ::fnmatch(glob.c_str(), text.c_str(), FNM_PERIOD) == 0;
  });
}

}  // namespace granary
