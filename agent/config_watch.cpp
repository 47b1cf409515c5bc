#include "agent/config_watch.h"

#include <filesystem>

#include "platform/crypto.h"
#include "platform/log.h"

namespace granary {
namespace {

constexpr uint64_t kMaxCredentialsBytes = 1 << 20;

std::string Parent(const std::string& path) {
  return std::filesystem::path(path).parent_path().string();
}

bool IsDropIn(const std::filesystem::path& path) {
  const std::string name = path.filename().string();
  return !name.empty() && name.front() != '.' && path.extension() == ".toml";
}

}  // namespace

ConfigWatch::ConfigWatch(Env& env, const AgentConfig& config)
    : env_(env),
      conf_dir_(ConfDir(config.path)),
      credentials_file_(config.upload.enabled ? config.upload.credentials_file : "") {
  auto watch = DirWatch::Open();
  if (!watch) {
    log::Warning("config watch: {}; conf.d and credentials changes need SIGHUP",
                 watch.error().message());
    return;
  }
  watch_ = std::move(*watch);
  // The parent too, so a conf.d created (or replaced) later is picked up.
  for (const std::string& dir : {Parent(conf_dir_), conf_dir_}) {
    if (Status s = watch_->Add(dir); !s && dir != conf_dir_)
      log::Warning("config watch: {}", s.error().message());
  }
  if (!credentials_file_.empty()) {
    if (Status s = watch_->Add(Parent(credentials_file_)); !s)
      log::Warning("config watch: {}", s.error().message());
    credentials_digest_ = CredentialsDigest();
  }
}

std::string ConfigWatch::CredentialsDigest() {
  auto content = env_.ReadFile(credentials_file_, kMaxCredentialsBytes);
  return content ? Sha256Hex(*content) : "";
}

bool ConfigWatch::SignalOnChange() {
  if (!watch_) return false;
  Status s = watch_->SignalOnChange();
  if (!s)
    log::Warning("config watch: {}; changes are seen at the next status check",
                 s.error().message());
  return static_cast<bool>(s);
}

ConfigWatch::Changes ConfigWatch::Poll() {
  Changes changes;
  if (!watch_) return changes;
  for (const std::string& path : watch_->Changed()) {
    if (path.empty()) {  // the kernel's queue overflowed: check everything
      changes.config.push_back(conf_dir_);
      std::string digest = CredentialsDigest();
      changes.credentials = changes.credentials || digest != credentials_digest_;
      credentials_digest_ = std::move(digest);
    } else if (path == conf_dir_) {
      (void)watch_->Add(conf_dir_);  // created or replaced; gone is fine too
      changes.config.push_back(path);
    } else if (Parent(path) == conf_dir_ && IsDropIn(path)) {
      changes.config.push_back(path);
    } else if (path == credentials_file_ && !changes.credentials) {
      std::string digest = CredentialsDigest();
      changes.credentials = digest != credentials_digest_;
      credentials_digest_ = std::move(digest);
    }
  }
  return changes;
}

}  // namespace granary
