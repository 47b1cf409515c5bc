// ASCII text helpers that several modules need identically (header names, XML element
// names, config lines): one copy each, so their edge cases cannot drift apart.
#pragma once

#include <charconv>
#include <optional>
#include <string>
#include <string_view>

namespace granary {

// `s` without leading and trailing ASCII whitespace (space, \t, \r, \n, \v, \f).
std::string_view TrimSpace(std::string_view s);
// ASCII case-insensitive equality.
bool EqualsIgnoreCase(std::string_view a, std::string_view b);
// `s` with A-Z lowered; other bytes, UTF-8 included, unchanged.
std::string AsciiLower(std::string_view s);
// All of `text` as a decimal integer of type T; nullopt for anything else (empty, spaces,
// a '+', trailing bytes, out of range). For numbers read from files and the wire, where
// std::stoi would throw and atoi would quietly read garbage as 0.
template <typename T>
std::optional<T> ParseDecimal(std::string_view text) {
  T value{};
  const char* end = text.data() + text.size();
  auto [stop, ec] = std::from_chars(text.data(), end, value);
  if (text.empty() || ec != std::errc() || stop != end) return std::nullopt;
  return value;
}
// The value of one hex digit (either case), or -1.
int HexDigitValue(char c);

}  // namespace granary
