#include "config/units.h"

#include <fmt/format.h>

#include <array>
#include <charconv>
#include <limits>

namespace granary {
namespace {

struct Unit {
  std::string_view name;
  uint64_t factor;
};

constexpr std::array<Unit, 5> kDurationUnits{
    {{"ms", 1}, {"s", 1000}, {"m", 60'000}, {"h", 3'600'000}, {"d", 86'400'000}}};

constexpr std::array<Unit, 9> kSizeUnits{{{"B", 1},
                                          {"KB", 1000},
                                          {"MB", 1000'000},
                                          {"GB", 1000'000'000},
                                          {"KiB", 1ULL << 10},
                                          {"MiB", 1ULL << 20},
                                          {"GiB", 1ULL << 30},
                                          {"TiB", 1ULL << 40},
                                          {"", 1}}};

// Reads a leading unsigned integer; returns digits consumed (0 = none).
size_t ReadNumber(std::string_view s, uint64_t& out) {
  auto [ptr, ec] = std::from_chars(s.data(), s.data() + s.size(), out);
  if (ec != std::errc()) return 0;
  return static_cast<size_t>(ptr - s.data());
}

bool MulAdd(uint64_t& total, uint64_t n, uint64_t factor) {
  if (n != 0 && factor > std::numeric_limits<uint64_t>::max() / n) return false;
  uint64_t v = n * factor;
  if (total > std::numeric_limits<uint64_t>::max() - v) return false;
  total += v;
  return true;
}

}  // namespace

Result<std::chrono::milliseconds> ParseDuration(std::string_view text) {
  const std::string bad = "invalid duration \"" + std::string(text) +
                          "\": expected a whole number with a unit, e.g. 500ms, 10s, 5m, 1h30m";
  if (text.empty()) return Error(bad);
  uint64_t total = 0;
  std::string_view s = text;
  while (!s.empty()) {
    uint64_t n = 0;
    size_t digits = ReadNumber(s, n);
    if (digits == 0) return Error(bad);
    s.remove_prefix(digits);
    size_t unit_len = 0;
    while (unit_len < s.size() && s[unit_len] >= 'a' && s[unit_len] <= 'z') ++unit_len;
    std::string_view unit = s.substr(0, unit_len);
    s.remove_prefix(unit_len);
    const Unit* found = nullptr;
    for (const Unit& u : kDurationUnits) {
      if (u.name == unit) found = &u;
    }
    if (found == nullptr) return Error(bad);
    if (!MulAdd(total, n, found->factor) ||
        total > static_cast<uint64_t>(std::numeric_limits<int64_t>::max())) {
      return Error("duration \"" + std::string(text) + "\" is too large");
    }
  }
  return std::chrono::milliseconds(static_cast<int64_t>(total));
}

Result<uint64_t> ParseSize(std::string_view text) {
  const std::string bad = "invalid size \"" + std::string(text) +
                          "\": expected a whole number with an optional unit, e.g. 4096, 64KiB, "
                          "512MiB, 2GB";
  uint64_t n = 0;
  size_t digits = ReadNumber(text, n);
  if (digits == 0) return Error(bad);
  std::string_view unit = text.substr(digits);
  for (const Unit& u : kSizeUnits) {
    if (u.name == unit) {
      uint64_t total = 0;
      if (!MulAdd(total, n, u.factor)) {
        return Error("size \"" + std::string(text) + "\" is too large");
      }
      return total;
    }
  }
  return Error(bad);
}

std::string FormatDuration(std::chrono::milliseconds d) {
  int64_t ms = d.count();
  if (ms == 0) return "0s";
  std::string out;
  for (auto it = kDurationUnits.rbegin(); it != kDurationUnits.rend(); ++it) {
    auto f = static_cast<int64_t>(it->factor);
    if (ms >= f) {
      out += std::to_string(ms / f) + std::string(it->name);
      ms %= f;
    }
  }
  return out;
}

std::string FormatSize(uint64_t bytes) {
  static constexpr std::array<Unit, 4> kBinary{
      {{"TiB", 1ULL << 40}, {"GiB", 1ULL << 30}, {"MiB", 1ULL << 20}, {"KiB", 1ULL << 10}}};
  for (const Unit& u : kBinary) {
    if (bytes >= u.factor && bytes % u.factor == 0) {
      return std::to_string(bytes / u.factor) + std::string(u.name);
    }
  }
  return std::to_string(bytes) + "B";
}

std::string HumanSize(uint64_t bytes) {
  static constexpr std::array<std::string_view, 5> kNames{"B", "KiB", "MiB", "GiB", "TiB"};
  double value = static_cast<double>(bytes);
  size_t unit = 0;
  while (value >= 1024 && unit + 1 < kNames.size()) {
    value /= 1024;
    ++unit;
  }
  std::string text = fmt::format("{:.1f}", value);
  if (text.size() > 2 && text.compare(text.size() - 2, 2, ".0") == 0) text.resize(text.size() - 2);
  return fmt::format("{} {}", unit == 0 ? std::to_string(bytes) : text, kNames[unit]);
}

}  // namespace granary
