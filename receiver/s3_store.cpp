#include "receiver/s3_store.h"

#include <fmt/format.h>

#include <algorithm>

#include "platform/log.h"
#include "platform/strings.h"
#include "receiver/s3_reader.h"

namespace granary::receiver {
namespace {

// Our own record of the bytes, so a HEAD answers what a conflict check needs.
constexpr const char* kShaHeader = "x-amz-meta-receiver-sha256";

Error Refused(const std::string& what, const S3Response& r) {
  return Error(fmt::format("{}: HTTP {} {} {}", what, r.status, r.error_code, r.error_message));
}

}  // namespace

class S3Store::Lease {
 public:
  Lease(const S3Store& store, std::unique_ptr<S3Client> client)
      : store_(store), client_(std::move(client)) {}
  Lease(Lease&&) = default;
  ~Lease() {
    if (!client_) return;
    std::lock_guard lock(store_.pool_mu_);
    store_.idle_.push_back(std::move(client_));
  }
  S3Client* operator->() const { return client_.get(); }

 private:
  const S3Store& store_;
  std::unique_ptr<S3Client> client_;
};

S3Store::S3Store(Env& env, std::string dir, StoreSettings settings, S3Options options,
                 Credentials credentials, std::unique_ptr<ReadCache> cache)
    : ObjectStore(env, std::move(dir)),
      settings_(std::move(settings)),
      options_(std::move(options)),
      credentials_(std::move(credentials)),
      cache_(std::move(cache)) {}

Result<std::unique_ptr<S3Store>> S3Store::Open(Env& env, const std::string& data_dir,
                                               const StoreSettings& settings) {
  if (Status s = CreateQuarantine(env, data_dir); !s) return s.error();
  Credentials credentials{settings.access_key, settings.secret_key, ""};
  if (!settings.credentials_file.empty()) {
    auto loaded = LoadCredentials(settings.credentials_file, settings.profile);
    if (!loaded) return loaded.error().Wrap("[store] credentials_file");
    credentials = *loaded;
  }
  S3Options options;
  options.endpoint = settings.endpoint;
  options.region = settings.region;
  options.bucket = settings.bucket;
  options.tls_verify = settings.tls_verify;
  auto cache = ReadCache::Open(env, data_dir + "/cache", settings.cache_max_bytes);
  if (!cache) return cache.error();
  std::unique_ptr<S3Store> store(new S3Store(env, data_dir, settings, std::move(options),
                                             std::move(credentials), std::move(*cache)));
  // Fails early on a wrong endpoint, bucket or key rather than at the first upload.
  auto probe = store->Borrow()->ListObjects(settings.accepted_prefix, "");
  if (!probe) return probe.error().Wrap("[store] bucket " + settings.bucket);
  if (!probe->response.ok()) return Refused("[store] list " + settings.bucket, probe->response);
  if (Status s = store->ProbeConditionalPut(); !s) return s.error();
  return store;
}

Status S3Store::ProbeConditionalPut() {
  // Asked with an empty object, not with the first upload: a service that refuses the
  // condition may answer before reading a large body and cut the connection.
  const std::string key = fmt::format("{}probe-{}", settings_.uploads_prefix, NewStoreId(env_));
  auto r = Borrow()->PutObjectData(key, "", {{"if-none-match", "*"}});
  if (!r) return r.error().Wrap("[store] probe");
  if (r->ok()) {
    auto gone = Borrow()->DeleteObject(key);
    if (!gone) return gone.error().Wrap("[store] probe");
    log::Info("[store] {} supports conditional PUTs (If-None-Match: *)", settings_.endpoint);
    return Status::Ok();
  }
  if (r->status != 501 && r->error_code != "NotImplemented") {
    return Refused("[store] probe PUT " + key, *r);
  }
  no_conditional_ = true;
  log::Notice("[store] {} does not support conditional PUTs ({}); the index owns each key",
              settings_.endpoint, r->error_message);
  return Status::Ok();
}

S3Store::Lease S3Store::Borrow() const {
  std::lock_guard lock(pool_mu_);
  if (idle_.empty()) {
    return Lease(*this, std::make_unique<S3Client>(env_, options_, credentials_));
  }
  std::unique_ptr<S3Client> client = std::move(idle_.back());
  idle_.pop_back();
  return Lease(*this, std::move(client));
}

std::string S3Store::AcceptedKey(const std::string& bucket, const std::string& key) const {
  return settings_.accepted_prefix + bucket + "/" + key;
}

Status S3Store::PutFile(const std::string& object_key, const std::string& path,
                        const ObjectMeta& meta, bool conditional, S3Response* response) const {
  sigv4::Headers headers{{kShaHeader, meta.sha256_hex}};
  if (conditional) headers.emplace_back("if-none-match", "*");
  std::string md5_hex = meta.md5_hex;
  if (md5_hex.size() != 32) {
    // A completed multipart upload's md5_hex is its S3 ETag ("md5-N"); Content-MD5 needs
    // the bytes' own.
    auto digest = DigestFile(path);
    if (!digest) return digest.error();
    md5_hex = digest->md5_hex;
  }
  auto r = Borrow()->PutObject(object_key, path, meta.size, md5_hex, meta.sha256_hex, headers);
  if (!r) return r.error();
  *response = std::move(*r);
  return Status::Ok();
}

Status S3Store::Place(const std::string& id, const ObjectMeta& meta) {
  const std::string key = AcceptedKey(meta.bucket, meta.key);
  auto compare = [&](const std::string& present) -> Status {
    if (present == meta.sha256_hex) return Status::Ok();
    return Error(fmt::format("{} holds other bytes (sha256 {}); not replaced", key, present));
  };
  S3Response r;
  if (!no_conditional_.load()) {
    if (Status s = PutFile(key, QuarantineBodyPath(id), meta, true, &r); !s) return s;
    if (r.ok()) return Status::Ok();
    if (r.status == 412) {  // the key is taken: ours only if the same bytes
      auto present = AcceptedSha256(meta.bucket, meta.key);
      if (!present) return present.error();
      return compare(*present);
    }
    if (r.status != 501 && r.error_code != "NotImplemented") return Refused("PUT " + key, r);
    no_conditional_ = true;
    log::Notice("[store] {} does not support conditional PUTs; the index owns each key",
                settings_.endpoint);
  }
  // Without a conditional PUT, bytes present under the key (another replica's) are never
  // written over, and the index's unique (bucket, key) decides whose upload the key is.
  auto present = AcceptedSha256(meta.bucket, meta.key);
  if (!present) return present.error();
  if (!present->empty()) return compare(*present);
  if (Status s = PutFile(key, QuarantineBodyPath(id), meta, false, &r); !s) return s;
  return r.ok() ? Status::Ok() : Status(Refused("PUT " + key, r));
}

Status S3Store::Unplace(const ObjectMeta& meta) {
  const std::string key = AcceptedKey(meta.bucket, meta.key);
  auto r = Borrow()->DeleteObject(key);
  if (!r) return r.error();
  if (!r->ok() && r->status != 404) return Refused("DELETE " + key, *r);
  return Status::Ok();
}

std::string S3Store::RejectedPath(const std::string& id, bool conflict) const {
  return fmt::format("s3://{}/{}{}.body", settings_.bucket,
                     conflict ? settings_.conflicts_prefix : settings_.rejected_prefix, id);
}

Status S3Store::Reject(const std::string& id, ObjectMeta meta, bool conflict) {
  const std::string where = RejectedPath(id, conflict);
  const std::string body_key = where.substr(5 + settings_.bucket.size() + 1);
  const std::string json_key = body_key.substr(0, body_key.size() - 5) + ".json";
  auto sidecar = Borrow()->PutObjectData(json_key, meta.ToJson(), {});
  if (!sidecar) return sidecar.error();
  if (!sidecar->ok()) return Refused("PUT " + json_key, *sidecar);
  S3Response r;
  if (Status s = PutFile(body_key, QuarantineBodyPath(id), meta, false, &r); !s) return s;
  if (!r.ok()) return Refused("PUT " + body_key, r);
  // The evidence is in the bucket now; the local copy was only scratch.
  return Discard(id);
}

bool S3Store::EvidenceExists(const std::string& where) const {
  const std::string head = "s3://" + settings_.bucket + "/";
  if (!where.starts_with(head)) return false;
  auto r = Borrow()->HeadObject(where.substr(head.size()));
  return r && r->ok();
}

Result<std::string> S3Store::AcceptedSha256(const std::string& bucket,
                                            const std::string& key) const {
  const std::string object_key = AcceptedKey(bucket, key);
  auto r = Borrow()->HeadObject(object_key);
  if (!r) return r.error();
  if (r->status == 404) return std::string();
  if (!r->ok()) return Refused("HEAD " + object_key, *r);
  std::string sha = r->Header(kShaHeader);
  if (sha.size() == 64) return sha;
  // Stored by other means: the bytes themselves say.
  StreamHasher digest;
  const std::function<bool(std::string_view)> sink = [&digest](std::string_view chunk) {
    digest.Update(chunk);
    return true;
  };
  auto got = Borrow()->GetObject(object_key, sink);
  if (!got) return got.error();
  if (!got->ok()) return Refused("GET " + object_key, *got);
  return digest.Finish().sha256_hex;
}

uint64_t S3Store::small_object_bytes() const {
  return std::min<uint64_t>(1ull << 20, settings_.cache_max_bytes / 8);
}

Result<std::unique_ptr<ObjectReader>> S3Store::OpenReader(const std::string& bucket,
                                                          const std::string& key) const {
  const std::string object_key = AcceptedKey(bucket, key);
  // Accepted bytes never change, so a cached copy is never stale.
  if (std::optional<AcceptedFile> hit = cache_->Find(object_key)) {
    return OpenFileReader(hit->path, std::move(hit->pin));
  }
  auto head = Borrow()->HeadObject(object_key);
  if (!head) return head.error().Wrap("HEAD " + object_key);
  if (!head->ok()) return Refused("HEAD " + object_key, *head);
  auto size = ParseDecimal<uint64_t>(head->Header("content-length"));
  if (!size) return Error("HEAD " + object_key + ": no Content-Length");
  if (*size <= small_object_bytes()) {
    auto file = cache_->Get(object_key, [&](const std::string& path) -> Status {
      auto file = env_.NewWritableFile(path);
      if (!file) return file.error();
      Status write;
      const std::function<bool(std::string_view)> sink = [&](std::string_view chunk) {
        write = (*file)->Append(chunk);
        return write.ok();
      };
      auto r = Borrow()->GetObject(object_key, sink);
      if (!r) return r.error();
      if (!write) return write;
      if (!r->ok()) return Refused("GET " + object_key, *r);
      return (*file)->Close();
    });
    if (!file) return file.error();
    return OpenFileReader(file->path, std::move(file->pin));
  }
  auto get = [this, object_key](uint64_t first, uint64_t last,
                                const std::function<bool(std::string_view)>& sink) {
    return Borrow()->GetObjectRange(object_key, first, last, sink);
  };
  return std::unique_ptr<ObjectReader>(
      new S3RangeReader(object_key, *size, head->Header("etag"), std::move(get)));
}

Result<std::vector<std::pair<std::string, std::string>>> S3Store::ListAccepted() const {
  std::vector<std::pair<std::string, std::string>> out;
  std::string token;
  Lease client = Borrow();
  do {
    auto page = client->ListObjects(settings_.accepted_prefix, token);
    if (!page) return page.error();
    if (!page->response.ok()) return Refused("list " + settings_.accepted_prefix, page->response);
    for (const S3ListedObject& o : page->list.objects) {
      std::string rest = o.key.substr(settings_.accepted_prefix.size());
      size_t slash = rest.find('/');
      if (slash == std::string::npos) continue;  // not {bucket}/{key}: not ours
      out.emplace_back(rest.substr(0, slash), rest.substr(slash + 1));
    }
    token = page->list.truncated ? page->list.next_token : "";
  } while (!token.empty());
  std::sort(out.begin(), out.end());
  return out;
}

std::string S3Store::PartKey(const std::string& rel) const {
  const std::string local = UploadDir("");  // quarantine/uploads/
  return settings_.uploads_prefix + (rel.starts_with(local) ? rel.substr(local.size()) : rel);
}

Status S3Store::KeepUploadPart(const std::string& rel) {
  const std::string path = data_dir() + "/" + rel;
  auto digest = DigestFile(path);
  if (!digest) return digest.error();
  ObjectMeta meta;
  meta.size = digest->bytes;
  meta.md5_hex = digest->md5_hex;
  meta.sha256_hex = digest->sha256_hex;
  S3Response r;
  if (Status s = PutFile(PartKey(rel), path, meta, false, &r); !s) return s;
  if (!r.ok()) return Refused("PUT " + PartKey(rel), r);
  return env_.RemoveFile(path);  // the bucket's copy is the part now
}

Status S3Store::ReadUploadPart(const std::string& rel,
                               const std::function<bool(std::string_view)>& sink) const {
  auto r = Borrow()->GetObject(PartKey(rel), sink);
  if (!r) return r.error();
  if (!r->ok()) return Refused("GET " + PartKey(rel), *r);
  return Status::Ok();
}

Status S3Store::RemoveUploadPart(const std::string& rel) {
  auto r = Borrow()->DeleteObject(PartKey(rel));
  if (!r) return r.error();
  if (!r->ok() && r->status != 404) return Refused("DELETE " + PartKey(rel), *r);
  return Status::Ok();
}

Status S3Store::RemoveUploadDir(const std::string& upload_id) {
  // Parts of an upload in progress are not accepted data: an ended upload's go.
  const std::string prefix = settings_.uploads_prefix + upload_id + "/";
  Lease client = Borrow();
  std::string token;
  do {
    auto page = client->ListObjects(prefix, token);
    if (!page) return page.error();
    if (!page->response.ok()) return Refused("list " + prefix, page->response);
    for (const S3ListedObject& o : page->list.objects) {
      auto r = client->DeleteObject(o.key);
      if (!r) return r.error();
      if (!r->ok() && r->status != 404) return Refused("DELETE " + o.key, *r);
    }
    token = page->list.truncated ? page->list.next_token : "";
  } while (!token.empty());
  return ObjectStore::RemoveUploadDir(upload_id);
}

}  // namespace granary::receiver
