// The seq marks file, as a damaged disk may leave it: any content loads or errors, never
// crashes; what loads saves and loads back to the same marks.
#include <unistd.h>

#include <cstdint>
#include <cstdlib>
#include <string>

#include "platform/env.h"
#include "storage/seqmark.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  static std::string dir = [] {
    char tmpl[] = "/tmp/granary-fuzz-seqmark-XXXXXX";
    return std::string(mkdtemp(tmpl));
  }();
  granary::Env& env = granary::Env::Default();
  std::string text(reinterpret_cast<const char*>(data), size);
  if (!granary::WriteFileAtomically(env, granary::SeqMarkPath(dir), text, false)) return 0;
  granary::SeqMarkFile a(env, dir);
  if (!a.Load()) return 0;
  if (!a.Save()) std::abort();
  granary::SeqMarkFile b(env, dir);
  if (!b.Load() || b.db_id != a.db_id || b.stopped_cleanly != a.stopped_cleanly ||
      b.losses != a.losses || b.marks.size() != a.marks.size()) {
    std::abort();
  }
  for (const auto& [name, m] : a.marks) {
    auto it = b.marks.find(name);
    if (it == b.marks.end() || it->second.sealed != m.sealed || it->second.reserved != m.reserved) {
      std::abort();
    }
  }
  return 0;
}
