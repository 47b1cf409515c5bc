#include "receiver/fs_store.h"

#include <fmt/format.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <filesystem>

namespace granary::receiver {
namespace {

namespace fs = std::filesystem;

std::string Dirname(const std::string& path) {
  size_t slash = path.rfind('/');
  return slash == std::string::npos ? "." : path.substr(0, slash);
}

}  // namespace

Result<std::unique_ptr<FilesystemStore>> FilesystemStore::Open(Env& env,
                                                               const std::string& data_dir) {
  if (Status s = CreateQuarantine(env, data_dir); !s) return s.error();
  for (const char* sub : {"accepted", "rejected", "conflicts"}) {
    Status s = env.CreateDirs(data_dir + "/" + sub);
    if (!s) return s.error();
  }
  return std::unique_ptr<FilesystemStore>(new FilesystemStore(env, data_dir));
}

std::string FilesystemStore::AcceptedPath(const std::string& bucket, const std::string& key) const {
  return dir_ + "/accepted/" + bucket + "/" + key;
}

std::string FilesystemStore::RejectedPath(const std::string& id, bool conflict) const {
  return dir_ + (conflict ? "/conflicts/" : "/rejected/") + id + ".body";
}

Status FilesystemStore::Place(const std::string& id, const ObjectMeta& meta) {
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

Status FilesystemStore::Unplace(const ObjectMeta& meta) {
  std::string path = AcceptedPath(meta.bucket, meta.key);
  Status s = env_.RemoveFile(path);
  if (!s && s.error().sys_errno() != ENOENT) return s;  // a concurrent twin removed it
  return env_.SyncDir(Dirname(path));
}

Status FilesystemStore::Reject(const std::string& id, ObjectMeta meta, bool conflict) {
  std::string body_to = RejectedPath(id, conflict);
  std::string json_to = body_to.substr(0, body_to.size() - 5) + ".json";
  Status s = WriteFileAtomically(env_, json_to, meta.ToJson(), false);
  if (!s) return s;
  s = env_.RenameFile(QuarantineBodyPath(id), body_to);
  if (!s) return s;
  s = env_.SyncDir(Dirname(body_to));
  if (!s) return s;
  return env_.RemoveFile(QuarantineSidecarPath(id));
}

Result<std::string> FilesystemStore::AcceptedSha256(const std::string& bucket,
                                                    const std::string& key) const {
  std::error_code ec;
  std::string path = AcceptedPath(bucket, key);
  if (!fs::is_regular_file(path, ec)) return std::string();
  auto present = DigestFile(path);
  if (!present) return present.error();
  return present->sha256_hex;
}

Result<std::unique_ptr<ObjectReader>> FilesystemStore::OpenReader(const std::string& bucket,
                                                                  const std::string& key) const {
  return OpenFileReader(AcceptedPath(bucket, key));
}

bool FilesystemStore::EvidenceExists(const std::string& where) const {
  std::error_code ec;
  return fs::exists(where, ec);
}

std::string FilesystemStore::PathClash(const std::string& bucket, const std::string& key) const {
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

Result<std::vector<std::pair<std::string, std::string>>> FilesystemStore::ListAccepted() const {
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

}  // namespace granary::receiver
