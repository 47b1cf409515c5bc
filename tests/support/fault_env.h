// A test Env over the real one (LevelDB's fault_injection_test idea): fail named
// operations with an errno, step the wall clock, or claim the clock is unsynchronized.
// Ops: "file.create", "file.write", "file.sync", "rename", "sqlite.write", "sqlite.sync".
#pragma once

#include <atomic>
#include <cerrno>
#include <map>
#include <mutex>
#include <string>

#include "platform/env.h"

namespace granary::testing {

class FaultEnv : public EnvWrapper {
 public:
  FaultEnv() : EnvWrapper(Env::Default()) {}

  // Fail `op` with `err` for the next `times` calls (-1: until Clear).
  void Fail(const std::string& op, int err, int times = -1) {
    std::lock_guard<std::mutex> lock(mu_);
    faults_[op] = {err, times};
  }
  void Clear() {
    std::lock_guard<std::mutex> lock(mu_);
    faults_.clear();
  }
  int hits(const std::string& op) {
    std::lock_guard<std::mutex> lock(mu_);
    return hits_[op];
  }

  void StepWallClock(int64_t delta_ms) { wall_offset_ms_ += delta_ms; }
  // As if the machine slept: the boot-time clock jumps ahead.
  void StepMonoClock(int64_t delta_ns) { mono_offset_ns_ += delta_ns; }
  void SetClockSynchronized(bool synced) { synced_ = synced; }

  int64_t WallNowMs() override { return EnvWrapper::WallNowMs() + wall_offset_ms_.load(); }
  int64_t MonoNowNs() override { return EnvWrapper::MonoNowNs() + mono_offset_ns_.load(); }
  bool ClockSynchronized() override { return synced_.load(); }

  int InjectedErrno(std::string_view op) override {
    std::lock_guard<std::mutex> lock(mu_);
    auto it = faults_.find(std::string(op));
    if (it == faults_.end() || it->second.times == 0) return 0;
    if (it->second.times > 0) --it->second.times;
    ++hits_[std::string(op)];
    return it->second.err;
  }

  Result<std::unique_ptr<WritableFile>> NewWritableFile(const std::string& path) override {
    if (int err = InjectedErrno("file.create")) return Error::FromErrno("create " + path, err);
    auto f = EnvWrapper::NewWritableFile(path);
    if (!f) return f;
    return std::unique_ptr<WritableFile>(new File(*this, path, std::move(*f)));
  }

  Status RenameFile(const std::string& from, const std::string& to) override {
    if (int err = InjectedErrno("rename")) return Error::FromErrno("rename " + from, err);
    return EnvWrapper::RenameFile(from, to);
  }

 private:
  class File : public WritableFile {
   public:
    File(FaultEnv& env, std::string path, std::unique_ptr<WritableFile> real)
        : env_(env), path_(std::move(path)), real_(std::move(real)) {}
    Status Append(std::string_view data) override {
      if (int err = env_.InjectedErrno("file.write"))
        return Error::FromErrno("write " + path_, err);
      return real_->Append(data);
    }
    Status Sync() override {
      if (int err = env_.InjectedErrno("file.sync")) return Error::FromErrno("fsync " + path_, err);
      return real_->Sync();
    }
    Status Close() override { return real_->Close(); }

   private:
    FaultEnv& env_;
    std::string path_;
    std::unique_ptr<WritableFile> real_;
  };

  struct Fault {
    int err = 0;
    int times = 0;
  };
  std::mutex mu_;
  std::map<std::string, Fault> faults_;
  std::map<std::string, int> hits_;
  std::atomic<int64_t> wall_offset_ms_{0};
  std::atomic<int64_t> mono_offset_ns_{0};
  std::atomic<bool> synced_{true};
};

}  // namespace granary::testing
