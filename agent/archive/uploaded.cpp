#include "agent/archive/uploaded.h"

#include <fmt/format.h>
#include <stdlib.h>

#include <algorithm>
#include <cstdio>
#include <filesystem>
#include <memory>
#include <optional>
#include <set>
#include <vector>

#include "agent/upload/object_key.h"
#include "platform/crypto.h"
#include "platform/strings.h"
#include "s3/credentials.h"
#include "s3/s3_client.h"

namespace granary {
namespace {

// An object larger than this is not a segment this agent wrote ([segment] max_bytes is
// far below), so it is reported as damaged instead of filling the disk.
constexpr uint64_t kMaxObjectBytes = 4ULL << 30;

std::string Refused(const S3Options& s3, const std::string& what, const S3Response& r) {
  std::string text = fmt::format("{} at {}: HTTP {}", what, s3.endpoint, r.status);
  if (!r.error_code.empty()) text += " " + r.error_code;
  if (!r.error_message.empty()) text += ": " + r.error_message;
  if (r.status == 401 || r.status == 403) {
    text += " (check [upload] credentials_file/profile or AWS_* and the bucket policy)";
  }
  return text;
}

// The prefixes to list: one under the device when the template puts every source below
// it, else one per source.
std::set<std::string> ListPrefixes(const AgentConfig& config, const std::string& device,
                                   const std::string& only) {
  const std::string& t = config.upload.key_template.empty() ? std::string(kDefaultKeyTemplate)
                                                            : config.upload.key_template;
  KeyFields f{config.upload.prefix, device, only, "bson.gz"};
  const size_t at_source = t.find("{source}"), at_device = t.find("{device}");
  std::set<std::string> prefixes;
  if (!only.empty() || at_source == std::string::npos ||
      (at_device != std::string::npos && at_device < at_source)) {
    prefixes.insert(RenderKeyPrefix(t, f));
    return prefixes;
  }
  for (const SourceConfig& s : config.sources) {
    if (!s.mqtt) continue;
    f.source = s.name;
    prefixes.insert(RenderKeyPrefix(t, f));
  }
  return prefixes;
}

// A temporary file that is removed when it goes out of scope.
struct TempFile {
  std::string path;
  FILE* file = nullptr;
  ~TempFile() {
    if (file != nullptr) std::fclose(file);
    if (!path.empty()) std::remove(path.c_str());
  }
};

Result<std::unique_ptr<TempFile>> MakeTempFile() {
  std::error_code ec;
  std::filesystem::path dir = std::filesystem::temp_directory_path(ec);
  if (ec) return Error("no temporary directory: " + ec.message());
  auto t = std::make_unique<TempFile>();
  std::string name = (dir / "granary-replay-XXXXXX").string();
  int fd = mkstemp(name.data());
  if (fd < 0) return Error::FromErrno("create " + name);
  t->path = name;
  t->file = fdopen(fd, "w+b");
  if (t->file == nullptr) return Error::FromErrno("open " + name);
  return t;
}

// What the object's digests must be: its SHA-256 from the upload's metadata, else an ETag
// that is a plain MD5 (a multipart ETag is not a digest of the bytes).
std::string VerifyDigests(const S3Response& r, const StreamDigests& got) {
  const std::string sha = AsciiLower(r.Header("x-amz-meta-granary-sha256"));
  if (!sha.empty()) {
    return sha == got.sha256_hex
               ? ""
               : fmt::format("SHA-256 {} but x-amz-meta-granary-sha256 {}", got.sha256_hex, sha);
  }
  std::string etag = AsciiLower(r.Header("etag"));
  if (etag.size() >= 2 && etag.front() == '"' && etag.back() == '"') {
    etag = etag.substr(1, etag.size() - 2);
  }
  if (etag.size() != 32 || etag.find('-') != std::string::npos) {
    return "no x-amz-meta-granary-sha256 and no MD5 ETag: cannot be verified";
  }
  return etag == got.md5_hex ? "" : fmt::format("MD5 {} but ETag {}", got.md5_hex, etag);
}

}  // namespace

Result<UploadedScan> ForEachUploadedMessage(Env& env, const AgentConfig& config,
                                            const std::string& device, const std::string& only,
                                            int64_t to_ms, const MessageVisit& visit) {
  if (!config.upload.enabled || config.upload.s3.endpoint.empty()) {
    return Error(
        fmt::format("--s3 reads the [upload] section of {} (endpoint, bucket, prefix, "
                    "credentials), and there is none",
                    config.path));
  }
  Result<Credentials> credentials =
      LoadCredentials(config.upload.credentials_file, config.upload.profile);
  if (!credentials) return credentials.error().Wrap("[upload] credentials");
  const S3Options& s3 = config.upload.s3;
  S3Client client(env, s3, *credentials);
  const std::string& t = config.upload.key_template.empty() ? std::string(kDefaultKeyTemplate)
                                                            : config.upload.key_template;

  std::vector<S3ListedObject> objects;
  for (const std::string& prefix : ListPrefixes(config, device, only)) {
    std::string token;
    do {
      Result<S3ListPage> page = client.ListObjects(prefix, token);
      if (!page) return page.error().Wrap(fmt::format("list {} at {}", prefix, s3.endpoint));
      if (!page->response.ok()) {
        return Error(
            Refused(s3, fmt::format("list s3://{}/{}", s3.bucket, prefix), page->response));
      }
      for (S3ListedObject& o : page->list.objects) {
        if (o.key.ends_with(".bson.gz")) objects.push_back(std::move(o));
      }
      token = page->list.truncated ? page->list.next_token : "";
    } while (!token.empty());
  }
  std::sort(objects.begin(), objects.end(),
            [](const S3ListedObject& a, const S3ListedObject& b) { return a.key < b.key; });

  UploadedScan scan;
  const KeyFields fields{config.upload.prefix, device, only, "bson.gz"};
  for (const S3ListedObject& o : objects) {
    std::optional<int64_t> hour = KeyHourMs(t, fields, o.key);
    if (hour && *hour >= to_ms) {
      ++scan.skipped;
      continue;
    }
    auto damaged = [&](const std::string& why) {
      std::fprintf(stderr, "s3://%s/%s is damaged, skipped: %s\n", s3.bucket.c_str(), o.key.c_str(),
                   why.c_str());
      ++scan.damaged;
    };
    if (o.size > kMaxObjectBytes) {
      damaged(fmt::format("{} bytes, more than a segment can be ({})", o.size, kMaxObjectBytes));
      continue;
    }
    Result<std::unique_ptr<TempFile>> tmp = MakeTempFile();
    if (!tmp) return tmp.error();
    StreamHasher hasher;
    uint64_t received = 0;
    bool write_failed = false;
    Result<S3Response> got = client.GetObject(o.key, [&](std::string_view chunk) {
      received += chunk.size();
      if (received > o.size) return false;
      hasher.Update(chunk);
      write_failed = std::fwrite(chunk.data(), 1, chunk.size(), (*tmp)->file) != chunk.size();
      return !write_failed;
    });
    if (!got) return got.error();
    if (!got->ok()) {
      return Error(Refused(s3, fmt::format("get s3://{}/{}", s3.bucket, o.key), *got));
    }
    if (write_failed || std::fflush((*tmp)->file) != 0) {
      return Error::FromErrno("write " + (*tmp)->path);
    }
    if (received != o.size) {
      damaged(fmt::format("{} bytes where the listing said {}", received, o.size));
      continue;
    }
    if (std::string why = VerifyDigests(*got, hasher.Finish()); !why.empty()) {
      damaged(why);
      continue;
    }
    archive::SegmentReader reader(kMaxArchiveDocumentBytes, kMaxArchiveRawBytes);
    if (Status s = reader.OpenGzip((*tmp)->path); !s) {
      damaged(s.error().message());
      continue;
    }
    ++scan.objects;
    bool bad = false;
    const bool go_on = VisitSegment(
        reader, o.key,
        [&](const archive::ArchivedMessage& m, const std::string& where) {
          // A key prefix can be shared (device "a" and "ab" under a flat template).
          if (m.device != device || (!only.empty() && m.source != only)) return true;
          return visit(m, where);
        },
        &bad);
    if (bad) ++scan.damaged;
    if (!go_on) break;
  }
  return scan;
}

}  // namespace granary
