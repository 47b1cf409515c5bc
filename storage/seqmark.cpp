#include "storage/seqmark.h"

#include <fmt/format.h>

#include <algorithm>
#include <cerrno>
#include <charconv>
#include <sstream>
#include <vector>

namespace granary {
namespace {

constexpr uint64_t kMinBlock = 1024;
constexpr uint64_t kMaxBlock = 1 << 22;
constexpr int64_t kOftenNs = 60'000'000'000;      // reserving again within a minute: grow
constexpr int64_t kRarelyNs = 3'600'000'000'000;  // not within an hour: shrink

bool ParseU64(const std::string& s, uint64_t& out) {
  auto [p, ec] = std::from_chars(s.data(), s.data() + s.size(), out);
  return ec == std::errc() && p == s.data() + s.size();
}

}  // namespace

std::string SeqMarkPath(const std::string& state_dir) { return state_dir + "/seqmark"; }

SeqMarkFile::SeqMarkFile(Env& env, std::string state_dir)
    : env_(env), path_(SeqMarkPath(state_dir)) {}

Status SeqMarkFile::Load() {
  marks.clear();
  db_id.clear();
  stopped_cleanly = true;
  losses = 0;
  auto text = env_.ReadFile(path_, 16 << 20);
  if (!text) {
    if (text.error().sys_errno() == ENOENT) {
      present_ = false;
      return Status::Ok();
    }
    return text.error();
  }
  present_ = true;
  std::istringstream in(*text);
  std::string line;
  int n = 0;
  while (std::getline(in, line)) {
    ++n;
    std::istringstream fields(line);
    std::vector<std::string> f;
    for (std::string w; fields >> w;) f.push_back(w);
    if (f.empty()) continue;
    SeqMark m;
    if (f.size() == 2 && f[0] == "db") {
      db_id = f[1];
    } else if (f.size() == 2 && f[0] == "losses" && ParseU64(f[1], losses)) {
    } else if (f.size() == 2 && f[0] == "state") {
      stopped_cleanly = f[1] == "stopped";
    } else if (f.size() == 2 && ParseU64(f[1], m.sealed)) {
      m.reserved = m.sealed;
      marks[f[0]] = m;
    } else if (f.size() == 3 && ParseU64(f[1], m.sealed) && ParseU64(f[2], m.reserved)) {
      marks[f[0]] = m;
    } else {
      return Error(fmt::format("{}:{}: not a seq mark: {}", path_, n, line.substr(0, 80)), EBADMSG);
    }
  }
  return Status::Ok();
}

Status SeqMarkFile::Save() {
  std::string text;
  if (!db_id.empty()) text += "db " + db_id + "\n";
  text += stopped_cleanly ? "state stopped\n" : "state running\n";
  if (losses > 0) text += fmt::format("losses {}\n", losses);
  for (const auto& [name, m] : marks) text += fmt::format("{} {} {}\n", name, m.sealed, m.reserved);
  Status s = WriteFileAtomically(env_, path_, text, /*durable=*/true);
  if (s) present_ = true;
  return s;
}

bool SeqMarkFile::Reserve(const std::string& source, uint64_t next_seq, uint64_t count,
                          int64_t now_ns) {
  SeqMark& m = marks[source];
  if (next_seq + count <= m.reserved) return false;
  if (m.block == 0) {
    m.block = kMinBlock;
  } else if (now_ns - m.reserved_at_ns < kOftenNs) {
    m.block = std::min(kMaxBlock, m.block * 2);
  } else if (now_ns - m.reserved_at_ns > kRarelyNs) {
    m.block = std::max(kMinBlock, m.block / 2);
  }
  m.reserved = next_seq + count + m.block;
  m.reserved_at_ns = now_ns;
  return true;
}

}  // namespace granary
