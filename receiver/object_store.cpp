#include "receiver/object_store.h"

#include <cjson/cJSON.h>
#include <fmt/format.h>
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

// Unique across processes sharing the store and across restarts: time, pid, counter, random.
std::string NewId(Env& env) {
  static std::atomic<uint64_t> counter{0};
  static const uint64_t salt = std::random_device{}();
  return fmt::format("{:013d}-{}-{}-{:08x}", env.WallNowMs(), ::getpid(), counter.fetch_add(1),
                     static_cast<uint32_t>(salt));
}

std::string JsonString(const cJSON* obj, const char* name) {
  const cJSON* item = cJSON_GetObjectItemCaseSensitive(obj, name);
  return cJSON_IsString(item) ? item->valuestring : "";
}

std::string Dirname(const std::string& path) {
  size_t slash = path.rfind('/');
  return slash == std::string::npos ? "." : path.substr(0, slash);
}

}  // namespace

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

Result<std::unique_ptr<ObjectStore>> ObjectStore::Open(Env& env, const std::string& data_dir) {
  for (const char* sub : {"quarantine", "accepted", "rejected", "conflicts"}) {
    Status s = env.CreateDirs(data_dir + "/" + sub);
    if (!s) return s.error();
  }
  return std::unique_ptr<ObjectStore>(new ObjectStore(env, data_dir));
}

std::string ObjectStore::QuarantineBodyPath(const std::string& id) const {
  return dir_ + "/quarantine/" + id + ".body";
}

bool ObjectStore::QuarantineBodyExists(const std::string& id) const {
  std::error_code ec;
  return fs::exists(QuarantineBodyPath(id), ec);
}

std::string ObjectStore::AcceptedPath(const std::string& bucket, const std::string& key) const {
  return dir_ + "/accepted/" + bucket + "/" + key;
}

std::string ObjectStore::RejectedPath(const std::string& id, bool conflict) const {
  return dir_ + (conflict ? "/conflicts/" : "/rejected/") + id + ".body";
}

Result<std::unique_ptr<QuarantineWriter>> ObjectStore::NewQuarantine() {
  std::string id = NewId(env_);
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
  std::string id = fmt::format("{:05d}-{}", part_number, NewId(env_));
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
  return WriteFileAtomically(env_, dir_ + "/quarantine/" + id + ".json", meta.ToJson(), false);
}

std::vector<std::string> ObjectStore::SealedQuarantine(int64_t orphan_age_ms) {
  std::vector<std::string> ids;
  std::error_code ec;
  int64_t now_ms = env_.WallNowMs();
  for (const auto& entry : fs::directory_iterator(dir_ + "/quarantine", ec)) {
    std::string name = entry.path().filename().string();
    if (name.ends_with(".json")) {
      ids.push_back(name.substr(0, name.size() - 5));
    } else if (name.ends_with(".body")) {
      std::string id = name.substr(0, name.size() - 5);
      if (fs::exists(dir_ + "/quarantine/" + id + ".json", ec)) continue;
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
  std::string path = dir_ + "/quarantine/" + id + ".json";
  std::ifstream in(path, std::ios::binary);
  if (!in) return Error::FromErrno("open " + path);
  std::stringstream s;
  s << in.rdbuf();
  auto meta = ObjectMeta::FromJson(s.str());
  if (!meta) return meta.error().Wrap(path);
  return meta;
}

Status ObjectStore::Place(const std::string& id, const ObjectMeta& meta) {
  std::string to = AcceptedPath(meta.bucket, meta.key);
  std::string dir = Dirname(to);
  Status s = env_.CreateDirs(dir);
  if (!s) return s;
  // link() fails on an existing name where rename() would silently replace it.
  if (::link(QuarantineBodyPath(id).c_str(), to.c_str()) != 0) {
    if (errno != EEXIST) return Error::FromErrno("link " + to);
    auto present = DigestFile(to);
    if (!present) return present.error();
    if (present->sha256_hex != meta.sha256_hex) {
      return Error(to + " holds other bytes (sha256 " + present->sha256_hex + "); not replaced");
    }
  }
  return env_.SyncDir(dir);  // the new name is durable before the client hears 200
}

Status ObjectStore::Unplace(const ObjectMeta& meta) {
  std::string path = AcceptedPath(meta.bucket, meta.key);
  Status s = env_.RemoveFile(path);
  if (!s && s.error().sys_errno() != ENOENT) return s;  // a concurrent twin removed it
  return env_.SyncDir(Dirname(path));
}

Status ObjectStore::DropQuarantine(const std::string& id) {
  Status s = env_.RemoveFile(QuarantineBodyPath(id));
  if (!s) return s;
  // A sidecar that survives a power cut is harmless: recovery finds its body gone.
  return env_.RemoveFile(dir_ + "/quarantine/" + id + ".json");
}

Status ObjectStore::Accept(const std::string& id, const ObjectMeta& meta) {
  Status s = Place(id, meta);
  if (!s) return s;
  return DropQuarantine(id);
}

Status ObjectStore::Reject(const std::string& id, ObjectMeta meta, bool conflict) {
  std::string body_to = RejectedPath(id, conflict);
  std::string json_to = body_to.substr(0, body_to.size() - 5) + ".json";
  Status s = WriteFileAtomically(env_, json_to, meta.ToJson(), false);
  if (!s) return s;
  s = env_.RenameFile(QuarantineBodyPath(id), body_to);
  if (!s) return s;
  s = env_.SyncDir(Dirname(body_to));
  if (!s) return s;
  return env_.RemoveFile(dir_ + "/quarantine/" + id + ".json");
}

Status ObjectStore::Discard(const std::string& id) {
  (void)env_.RemoveFile(QuarantineBodyPath(id));
  Status s = env_.RemoveFile(dir_ + "/quarantine/" + id + ".json");
  if (!s && s.error().sys_errno() != ENOENT) return s;
  return Status::Ok();
}

bool ObjectStore::AcceptedExists(const std::string& bucket, const std::string& key) const {
  std::error_code ec;
  return fs::is_regular_file(AcceptedPath(bucket, key), ec);
}

std::string ObjectStore::PathClash(const std::string& bucket, const std::string& key) const {
  std::error_code ec;
  std::string path = AcceptedPath(bucket, key);
  if (fs::is_directory(path, ec)) return "other keys lie under it";
  std::string root = dir_ + "/accepted/" + bucket;
  for (size_t slash = path.rfind('/'); slash != std::string::npos && slash > root.size();
       slash = path.rfind('/', slash - 1)) {
    std::string parent = path.substr(0, slash);
    // One stat per parent: a concurrent upload may create it between two calls, and a
    // directory seen as "missing" then "present" must not read as a clashing file.
    fs::file_status st = fs::status(parent, ec);
    if (fs::is_directory(st)) break;  // and so are its own parents
    if (fs::exists(st)) return "the key " + parent.substr(root.size() + 1) + " is a prefix of it";
  }
  return "";
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

std::vector<std::pair<std::string, std::string>> ObjectStore::ListAccepted() const {
  std::vector<std::pair<std::string, std::string>> out;
  std::error_code ec;
  fs::path root = dir_ + "/accepted";
  for (const auto& bucket : fs::directory_iterator(root, ec)) {
    if (!bucket.is_directory()) continue;
    for (auto it = fs::recursive_directory_iterator(bucket.path(), ec);
         it != fs::recursive_directory_iterator(); it.increment(ec)) {
      if (!it->is_regular_file()) continue;
      out.emplace_back(bucket.path().filename().string(),
                       fs::relative(it->path(), bucket.path(), ec).string());
    }
  }
  std::sort(out.begin(), out.end());
  return out;
}

Result<StreamDigests> DigestFile(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return Error::FromErrno("open " + path);
  StreamHasher digest;
  char buf[65536];
  while (in) {
    in.read(buf, sizeof buf);
    std::streamsize n = in.gcount();
    if (n <= 0) break;
    digest.Update(std::string_view(buf, static_cast<size_t>(n)));
  }
  if (in.bad()) return Error::FromErrno("read " + path);
  return digest.Finish();
}

}  // namespace granary::receiver
