// Small helpers shared by the unit tests.
#pragma once

#include <stdlib.h>
#include <zlib.h>

#include <filesystem>
#include <string>
#include <vector>

#include "platform/handles.h"

namespace granary::testing {

// A fresh directory under the test temp dir, removed by the destructor.
class TempDir {
 public:
  TempDir() {
    std::string tmpl = (std::filesystem::temp_directory_path() / "granary-test-XXXXXX").string();
    path_ = mkdtemp(tmpl.data());
  }
  ~TempDir() {
    std::error_code ec;
    std::filesystem::remove_all(path_, ec);
  }
  const std::string& path() const { return path_; }

 private:
  std::string path_;
};

// The lines of a gzip file; `ok` false when the stream is not valid gzip to the end.
inline std::vector<std::string> ReadGzipLines(const std::string& path, bool* ok = nullptr) {
  std::vector<std::string> lines;
  GzFile f(gzopen(path.c_str(), "rb"));
  if (ok) *ok = f != nullptr;
  if (!f) return lines;
  std::string all;
  char buf[65536];
  int n;
  while ((n = gzread(f.get(), buf, sizeof buf)) > 0) all.append(buf, static_cast<size_t>(n));
  int err = Z_OK;
  gzerror(f.get(), &err);
  if (ok) *ok = n == 0 && err == Z_OK;
  size_t start = 0;
  while (start < all.size()) {
    size_t nl = all.find('\n', start);
    if (nl == std::string::npos) nl = all.size();
    lines.push_back(all.substr(start, nl - start));
    start = nl + 1;
  }
  return lines;
}

}  // namespace granary::testing
