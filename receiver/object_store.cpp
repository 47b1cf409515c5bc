#include "receiver/object_store.h"

#include <cjson/cJSON.h>
#include <fcntl.h>
#include <fmt/format.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <filesystem>
#include <fstream>
#include <random>
#include <sstream>

#include "platform/handles.h"

namespace granary::receiver {
namespace {

namespace fs = std::filesystem;

std::string JsonString(const cJSON* obj, const char* name) {
  const cJSON* item = cJSON_GetObjectItemCaseSensitive(obj, name);
  return cJSON_IsString(item) ? item->valuestring : "";
}

// Pieces handed to a sink: large enough for few calls, small enough to stay bounded.
constexpr size_t kPiece = 256 * 1024;

class FileReader final : public ObjectReader {
 public:
  FileReader(UniqueFd fd, uint64_t size, std::string path, std::shared_ptr<void> pin)
      : ObjectReader(size), fd_(std::move(fd)), path_(std::move(path)), pin_(std::move(pin)) {}

  Result<size_t> ReadAt(uint64_t offset, char* buf, size_t n) override {
    if (offset >= size_) return size_t{0};
    n = static_cast<size_t>(std::min<uint64_t>(n, size_ - offset));
    for (;;) {
      ssize_t got = ::pread(fd_.get(), buf, n, static_cast<off_t>(offset));
      if (got < 0 && errno == EINTR) continue;
      if (got < 0) return Error::FromErrno("read " + path_);
      return static_cast<size_t>(got);
    }
  }
  std::string LocalPath() const override { return path_; }

 private:
  UniqueFd fd_;
  std::string path_;
  std::shared_ptr<void> pin_;
};

}  // namespace

Status ObjectReader::ReadRange(uint64_t first, uint64_t last,
                               const std::function<bool(std::string_view)>& sink) {
  if (first > last || last >= size_) return Status::Ok();
  WillRead(first, last);
  std::string buf(static_cast<size_t>(std::min<uint64_t>(kPiece, last - first + 1)), '\0');
  for (uint64_t at = first; at <= last;) {
    auto n =
        ReadAt(at, buf.data(), static_cast<size_t>(std::min<uint64_t>(buf.size(), last - at + 1)));
    if (!n) return n.error();
    if (*n == 0) return Error(fmt::format("the object ends at byte {}, before {}", at, last + 1));
    at += *n;
    if (!sink(std::string_view(buf.data(), *n))) break;
  }
  return Status::Ok();
}

Status ObjectReader::ReadAll(const std::function<bool(std::string_view)>& sink) {
  return size_ == 0 ? Status::Ok() : ReadRange(0, size_ - 1, sink);
}

GzipLineReader::Source SequentialSource(std::shared_ptr<ObjectReader> reader) {
  reader->WillRead(0, reader->size() == 0 ? 0 : reader->size() - 1);
  return [reader = std::move(reader), at = uint64_t{0}](char* buf,
                                                        size_t max) mutable -> Result<size_t> {
    auto n = reader->ReadAt(at, buf, max);
    if (n) at += *n;
    return n;
  };
}

Result<std::unique_ptr<ObjectReader>> OpenFileReader(const std::string& path,
                                                     std::shared_ptr<void> pin) {
  UniqueFd fd(::open(path.c_str(), O_RDONLY | O_CLOEXEC));
  if (!fd) return Error::FromErrno("open " + path);
  struct stat st {};
  if (::fstat(fd.get(), &st) != 0) return Error::FromErrno("stat " + path);
  return std::unique_ptr<ObjectReader>(
      new FileReader(std::move(fd), static_cast<uint64_t>(st.st_size), path, std::move(pin)));
}

Result<std::unique_ptr<LocalCopy>> LocalCopy::Make(Env& env, const std::string& data_dir,
                                                   std::unique_ptr<ObjectReader> reader) {
  std::string own = reader->LocalPath();
  if (!own.empty()) {
    return std::unique_ptr<LocalCopy>(new LocalCopy(env, std::move(reader), own, false));
  }
  std::string path = data_dir + "/quarantine/" + NewStoreId(env) + ".scratch";
  auto file = env.NewWritableFile(path);
  if (!file) return file.error();
  // Owned from here, so a failed copy is removed too.
  std::unique_ptr<LocalCopy> copy(new LocalCopy(env, nullptr, path, true));
  Status write;
  Status read = reader->ReadAll([&](std::string_view piece) {
    write = (*file)->Append(piece);
    return write.ok();
  });
  if (!read) return read.error();
  if (!write) return write.error();
  if (Status s = (*file)->Close(); !s) return s.error();
  return copy;
}

LocalCopy::~LocalCopy() {
  if (scratch_) (void)env_.RemoveFile(path_);
}

std::string NewStoreId(Env& env) {
  static std::atomic<uint64_t> counter{0};
  static const uint64_t salt = std::random_device{}();
  return fmt::format("{:013d}-{}-{}-{:08x}", env.WallNowMs(), ::getpid(), counter.fetch_add(1),
                     static_cast<uint32_t>(salt));
}

std::string ObjectMeta::UserMetadata(const std::string& lower_name) const {
  for (const auto& [n, v] : user_metadata) {
    if (n == lower_name) return v;
  }
  return "";
}

std::string ObjectMeta::UserMetadataJson() const {
  CjsonPtr obj(cJSON_CreateObject());
  for (const auto& [n, v] : user_metadata) cJSON_AddStringToObject(obj.get(), n.c_str(), v.c_str());
  CjsonString text(cJSON_PrintUnformatted(obj.get()));
  return text.get();
}

sigv4::Headers ObjectMeta::UserMetadataFromJson(std::string_view json) {
  sigv4::Headers out;
  CjsonPtr obj(cJSON_ParseWithLength(json.data(), json.size()));
  if (!obj || !cJSON_IsObject(obj.get())) return out;
  const cJSON* item = nullptr;
  cJSON_ArrayForEach(item, obj.get()) {
    if (cJSON_IsString(item)) out.emplace_back(item->string, item->valuestring);
  }
  return out;
}

std::string ObjectMeta::ToJson() const {
  CjsonPtr obj(cJSON_CreateObject());
  cJSON_AddStringToObject(obj.get(), "bucket", bucket.c_str());
  cJSON_AddStringToObject(obj.get(), "key", key.c_str());
  cJSON_AddStringToObject(obj.get(), "device", device.c_str());
  cJSON_AddNumberToObject(obj.get(), "size", static_cast<double>(size));
  cJSON_AddStringToObject(obj.get(), "md5", md5_hex.c_str());
  cJSON_AddStringToObject(obj.get(), "sha256", sha256_hex.c_str());
  cJSON_AddStringToObject(obj.get(), "content_type", content_type.c_str());
  cJSON_AddNumberToObject(obj.get(), "received_ms", static_cast<double>(received_ms));
  if (!reason.empty()) cJSON_AddStringToObject(obj.get(), "reason", reason.c_str());
  if (!in_place_etag.empty()) {
    cJSON_AddStringToObject(obj.get(), "in_place_etag", in_place_etag.c_str());
  }
  cJSON* md = cJSON_AddObjectToObject(obj.get(), "metadata");
  for (const auto& [n, v] : user_metadata) cJSON_AddStringToObject(md, n.c_str(), v.c_str());
  CjsonString text(cJSON_PrintUnformatted(obj.get()));
  return std::string(text.get()) + "\n";
}

Result<ObjectMeta> ObjectMeta::FromJson(std::string_view json) {
  CjsonPtr obj(cJSON_ParseWithLength(json.data(), json.size()));
  if (!obj || !cJSON_IsObject(obj.get())) return Error("object sidecar is not a JSON object");
  ObjectMeta m;
  m.bucket = JsonString(obj.get(), "bucket");
  m.key = JsonString(obj.get(), "key");
  m.device = JsonString(obj.get(), "device");
  m.md5_hex = JsonString(obj.get(), "md5");
  m.sha256_hex = JsonString(obj.get(), "sha256");
  m.content_type = JsonString(obj.get(), "content_type");
  m.reason = JsonString(obj.get(), "reason");
  m.in_place_etag = JsonString(obj.get(), "in_place_etag");
  const cJSON* size = cJSON_GetObjectItemCaseSensitive(obj.get(), "size");
  const cJSON* received = cJSON_GetObjectItemCaseSensitive(obj.get(), "received_ms");
  m.size = cJSON_IsNumber(size) ? static_cast<uint64_t>(size->valuedouble) : 0;
  m.received_ms = cJSON_IsNumber(received) ? static_cast<int64_t>(received->valuedouble) : 0;
  const cJSON* md = cJSON_GetObjectItemCaseSensitive(obj.get(), "metadata");
  const cJSON* item = nullptr;
  cJSON_ArrayForEach(item, md) {
    if (cJSON_IsString(item)) m.user_metadata.emplace_back(item->string, item->valuestring);
  }
  if (m.bucket.empty() || m.key.empty() || m.sha256_hex.size() != 64) {
    return Error("object sidecar lacks bucket, key or sha256");
  }
  return m;
}

QuarantineWriter::QuarantineWriter(Env& env, std::string id, std::string path,
                                   std::unique_ptr<WritableFile> file)
    : env_(env), id_(std::move(id)), path_(std::move(path)), file_(std::move(file)) {}

QuarantineWriter::~QuarantineWriter() {
  if (file_) (void)file_->Close();
  if (!finished_) (void)env_.RemoveFile(path_);
}

Status QuarantineWriter::Append(std::string_view data) {
  digest_.Update(data);
  size_ += data.size();
  return file_->Append(data);
}

Result<StreamDigests> QuarantineWriter::Finish() {
  Status s = file_->Sync();
  if (!s) return s.error();
  s = file_->Close();
  file_.reset();
  if (!s) return s.error();
  finished_ = true;
  return digest_.Finish();
}

Status ObjectStore::CreateQuarantine(Env& env, const std::string& data_dir) {
  return env.CreateDirs(data_dir + "/quarantine");
}

std::string ObjectStore::QuarantineSidecarPath(const std::string& id) const {
  return dir_ + "/quarantine/" + id + ".json";
}

std::string ObjectStore::QuarantineBodyPath(const std::string& id) const {
  return dir_ + "/quarantine/" + id + ".body";
}

bool ObjectStore::QuarantineBodyExists(const std::string& id) const {
  std::error_code ec;
  return fs::exists(QuarantineBodyPath(id), ec);
}

Result<std::unique_ptr<QuarantineWriter>> ObjectStore::NewQuarantine() {
  if (quarantine_max_bytes_ > 0) {
    uint64_t used = 0;
    std::error_code ec;
    for (const auto& entry : fs::directory_iterator(dir_ + "/quarantine", ec)) {
      if (entry.is_regular_file(ec)) used += entry.file_size(ec);
    }
    if (used >= quarantine_max_bytes_) {
      return Error(fmt::format("quarantine holds {} bytes, at quarantine_max_bytes ({})", used,
                               quarantine_max_bytes_),
                   ENOSPC);
    }
  }
  std::string id = NewStoreId(env_);
  std::string path = QuarantineBodyPath(id);
  auto file = env_.NewWritableFile(path);
  if (!file) return file.error();
  return std::make_unique<QuarantineWriter>(env_, id, path, std::move(*file));
}

std::string ObjectStore::UploadDir(const std::string& upload_id) {
  return "quarantine/uploads/" + upload_id;
}

Result<std::unique_ptr<QuarantineWriter>> ObjectStore::NewUploadPart(const std::string& upload_id,
                                                                     int part_number) {
  std::string dir = dir_ + "/" + UploadDir(upload_id);
  Status s = env_.CreateDirs(dir);
  if (!s) return s.error();
  // A part sent again gets a new name: the one the index lists stays until it is replaced.
  std::string id = fmt::format("{:05d}-{}", part_number, NewStoreId(env_));
  std::string path = dir + "/" + id + ".part";
  auto file = env_.NewWritableFile(path);
  if (!file) return file.error();
  return std::make_unique<QuarantineWriter>(env_, id, path, std::move(*file));
}

Status ObjectStore::RemoveUploadDir(const std::string& upload_id) {
  std::error_code ec;
  fs::remove_all(dir_ + "/" + UploadDir(upload_id), ec);
  if (ec) return Error("remove " + UploadDir(upload_id) + ": " + ec.message());
  return Status::Ok();
}

Status ObjectStore::KeepUploadPart(const std::string& rel) {
  (void)rel;
  return Status::Ok();
}

Status ObjectStore::ReadUploadPart(const std::string& rel,
                                   const std::function<bool(std::string_view)>& sink) const {
  std::string path = dir_ + "/" + rel;
  UniqueFd fd(::open(path.c_str(), O_RDONLY | O_CLOEXEC));
  if (!fd) return Error::FromErrno("open " + rel);
  std::string buf(1 << 20, '\0');
  for (;;) {
    ssize_t n = ::read(fd.get(), buf.data(), buf.size());
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) return Error::FromErrno("read " + rel);
    if (n == 0 || !sink(std::string_view(buf.data(), static_cast<size_t>(n)))) break;
  }
  return Status::Ok();
}

Status ObjectStore::RemoveUploadPart(const std::string& rel) {
  Status s = env_.RemoveFile(dir_ + "/" + rel);
  if (!s && s.error().sys_errno() != ENOENT) return s;
  return Status::Ok();
}

std::vector<std::string> ObjectStore::UploadDirs() const {
  std::vector<std::string> ids;
  std::error_code ec;
  for (const auto& entry : fs::directory_iterator(dir_ + "/quarantine/uploads", ec)) {
    if (entry.is_directory(ec)) ids.push_back(entry.path().filename().string());
  }
  return ids;
}

Status ObjectStore::SealQuarantine(const std::string& id, const ObjectMeta& meta) {
  // Not fsynced: until the answer the client keeps its copy and retries, so a sidecar lost
  // in a power cut costs nothing (its body is then an orphan, removed later). The body
  // itself was fsynced by Finish().
  return WriteFileAtomically(env_, QuarantineSidecarPath(id), meta.ToJson(), false);
}

std::vector<std::string> ObjectStore::SealedQuarantine(int64_t orphan_age_ms) {
  std::vector<std::string> ids;
  std::error_code ec;
  int64_t now_ms = env_.WallNowMs();
  for (const auto& entry : fs::directory_iterator(dir_ + "/quarantine", ec)) {
    std::string name = entry.path().filename().string();
    if (name.ends_with(".json")) {
      ids.push_back(name.substr(0, name.size() - 5));
    } else if (name.ends_with(".body") || name.ends_with(".scratch")) {
      // A body without its sidecar, or a LocalCopy a crash left behind.
      std::string id = name.substr(0, name.rfind('.'));
      if (name.ends_with(".body") && fs::exists(QuarantineSidecarPath(id), ec)) continue;
      auto mtime = fs::last_write_time(entry.path(), ec);
      auto age = fs::file_time_type::clock::now() - mtime;
      if (!ec &&
          std::chrono::duration_cast<std::chrono::milliseconds>(age).count() > orphan_age_ms) {
        (void)env_.RemoveFile(entry.path().string());
      }
    }
  }
  (void)now_ms;
  std::sort(ids.begin(), ids.end());  // ids begin with the receive time
  return ids;
}

Result<ObjectMeta> ObjectStore::ReadQuarantineMeta(const std::string& id) {
  std::string path = QuarantineSidecarPath(id);
  std::ifstream in(path, std::ios::binary);
  if (!in) return Error::FromErrno("open " + path);
  std::stringstream s;
  s << in.rdbuf();
  auto meta = ObjectMeta::FromJson(s.str());
  if (!meta) return meta.error().Wrap(path);
  return meta;
}

Status ObjectStore::DropQuarantine(const std::string& id) {
  Status s = env_.RemoveFile(QuarantineBodyPath(id));
  if (!s) return s;
  // A sidecar that survives a power cut is harmless: recovery finds its body gone.
  return env_.RemoveFile(QuarantineSidecarPath(id));
}

Status ObjectStore::Accept(const std::string& id, const ObjectMeta& meta) {
  Status s = Place(id, meta);
  if (!s) return s;
  return DropQuarantine(id);
}

Status ObjectStore::Discard(const std::string& id) {
  (void)env_.RemoveFile(QuarantineBodyPath(id));
  Status s = env_.RemoveFile(QuarantineSidecarPath(id));
  if (!s && s.error().sys_errno() != ENOENT) return s;
  return Status::Ok();
}

bool ObjectStore::AcceptedExists(const std::string& bucket, const std::string& key) const {
  auto sha = AcceptedSha256(bucket, key);
  return sha && !sha->empty();
}

Status ObjectStore::CheckWritable(uint64_t min_free_bytes) const {
  struct statvfs fsinfo {};
  if (::statvfs(dir_.c_str(), &fsinfo) != 0) return Error::FromErrno("statvfs " + dir_);
  uint64_t free_bytes = static_cast<uint64_t>(fsinfo.f_bavail) * fsinfo.f_frsize;
  if (free_bytes < min_free_bytes) {
    return Error(fmt::format("{} has {} bytes free, below min_free_bytes ({})", dir_, free_bytes,
                             min_free_bytes));
  }
  std::string probe = dir_ + "/quarantine/healthz-XXXXXX";  // neither .body nor .json
  int fd = ::mkstemp(probe.data());
  if (fd < 0) return Error::FromErrno("create a file in " + dir_ + "/quarantine");
  bool wrote = ::write(fd, "ok", 2) == 2;
  int err = errno;
  ::close(fd);
  ::unlink(probe.c_str());
  if (!wrote) return Error::FromErrno("write in " + dir_ + "/quarantine", err);
  return Status::Ok();
}

namespace {

Result<StreamDigests> Digest(ObjectReader& reader) {
  StreamHasher digest;
  Status s = reader.ReadAll([&](std::string_view piece) {
    digest.Update(piece);
    return true;
  });
  if (!s) return s.error();
  return digest.Finish();
}

}  // namespace

Result<StreamDigests> DigestObject(const ObjectStore& store, const std::string& bucket,
                                   const std::string& key) {
  auto reader = store.OpenReader(bucket, key);
  if (!reader) return reader.error();
  return Digest(**reader);
}

Result<StreamDigests> DigestFile(const std::string& path) {
  auto reader = OpenFileReader(path);
  if (!reader) return reader.error();
  return Digest(**reader);
}

}  // namespace granary::receiver
