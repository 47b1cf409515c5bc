// Every C handle the project uses is owned exactly once, by one of these.
// Business code never calls a bare free/finalize/cleanup.
#pragma once

#include <cjson/cJSON.h>
#include <curl/curl.h>
#include <sqlite3.h>
#include <unistd.h>
#include <zlib.h>

#include <memory>
#include <utility>

namespace granary {

struct SqliteCloser {
  void operator()(sqlite3* db) const { sqlite3_close_v2(db); }
};
struct SqliteStmtFinalizer {
  void operator()(sqlite3_stmt* stmt) const { sqlite3_finalize(stmt); }
};
struct CurlCleanup {
  void operator()(CURL* curl) const { curl_easy_cleanup(curl); }
};
struct CurlMultiCleanup {
  void operator()(CURLM* multi) const { curl_multi_cleanup(multi); }
};
struct CurlSlistFree {
  void operator()(curl_slist* list) const { curl_slist_free_all(list); }
};
struct CjsonDelete {
  void operator()(cJSON* json) const { cJSON_Delete(json); }
};
struct CjsonStringFree {
  void operator()(char* s) const { cJSON_free(s); }
};
struct GzClose {
  void operator()(gzFile_s* f) const { gzclose(f); }
};

using SqliteDb = std::unique_ptr<sqlite3, SqliteCloser>;
using SqliteStmt = std::unique_ptr<sqlite3_stmt, SqliteStmtFinalizer>;
using CurlEasy = std::unique_ptr<CURL, CurlCleanup>;
using CurlMulti = std::unique_ptr<CURLM, CurlMultiCleanup>;
using CurlSlist = std::unique_ptr<curl_slist, CurlSlistFree>;
using CjsonPtr = std::unique_ptr<cJSON, CjsonDelete>;
using CjsonString = std::unique_ptr<char, CjsonStringFree>;
using GzFile = std::unique_ptr<gzFile_s, GzClose>;

// A file descriptor, closed once. The one fd owner: pipes, lock files and writable files
// all hold theirs in this.
class UniqueFd {
 public:
  UniqueFd() = default;
  explicit UniqueFd(int fd) : fd_(fd) {}
  ~UniqueFd() { (void)Close(); }
  UniqueFd(UniqueFd&& other) noexcept : fd_(std::exchange(other.fd_, -1)) {}
  UniqueFd& operator=(UniqueFd&& other) noexcept {
    if (this != &other) Reset(std::exchange(other.fd_, -1));
    return *this;
  }
  int get() const { return fd_; }
  explicit operator bool() const { return fd_ >= 0; }
  // Closes the old descriptor, if any, and owns `fd`.
  void Reset(int fd = -1) {
    (void)Close();
    fd_ = fd;
  }
  // Gives up ownership without closing (a child process takes the descriptor over).
  int Release() { return std::exchange(fd_, -1); }
  // close(2)'s result, for callers that must see a failed close (a file's last write-back
  // error surfaces there); 0 when nothing was open.
  int Close() {
    int fd = std::exchange(fd_, -1);
    return fd >= 0 ? ::close(fd) : 0;
  }

 private:
  int fd_ = -1;
};

// z_stream is a struct, not a pointer: the owner inits it and this ends it.
class Deflater {
 public:
  // gzip framing (windowBits 15 + 16), so the output is a .gz member.
  explicit Deflater(int level) {
    init_ok_ = deflateInit2(&zs_, level, Z_DEFLATED, 15 + 16, 8, Z_DEFAULT_STRATEGY) == Z_OK;
  }
  ~Deflater() {
    if (init_ok_) deflateEnd(&zs_);
  }
  Deflater(const Deflater&) = delete;
  Deflater& operator=(const Deflater&) = delete;
  bool ok() const { return init_ok_; }
  z_stream* get() { return &zs_; }

 private:
  z_stream zs_{};
  bool init_ok_ = false;
};

class Inflater {
 public:
  Inflater() { init_ok_ = inflateInit2(&zs_, 15 + 32) == Z_OK; }  // auto-detect gzip/zlib
  ~Inflater() {
    if (init_ok_) inflateEnd(&zs_);
  }
  Inflater(const Inflater&) = delete;
  Inflater& operator=(const Inflater&) = delete;
  bool ok() const { return init_ok_; }
  z_stream* get() { return &zs_; }

 private:
  z_stream zs_{};
  bool init_ok_ = false;
};

}  // namespace granary
