// Small helpers shared by the unit tests.
#pragma once

#include <stdlib.h>

#include <filesystem>
#include <string>
#include <vector>

#include "platform/gzip_lines.h"

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
  GzipLineReader reader(/*max_line_bytes=*/64 << 20, /*max_raw_bytes=*/1ull << 32);
  bool opened = reader.Open(path).ok();
  std::string_view line;
  while (opened && reader.Next(&line)) lines.emplace_back(line);
  if (ok) *ok = opened && reader.status().ok();
  return lines;
}

}  // namespace granary::testing
