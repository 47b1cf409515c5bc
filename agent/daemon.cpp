#include "agent/daemon.h"

#include <fmt/ranges.h>
#include <malloc.h>
#include <signal.h>
#include <unistd.h>

#include <algorithm>
#include <cstdint>
#include <thread>

#include "agent/archive/mqtt_source.h"
#include "agent/config_watch.h"
#include "agent/health.h"
#include "agent/monitor.h"
#include "agent/outbox/run_watchers.h"
#include "agent/outbox/watcher.h"
#include "agent/status.h"
#include "agent/status_file.h"
#include "agent/upload/worker.h"
#include "platform/log.h"
#include "platform/process.h"
#include "s3/credentials.h"
#include "storage/segment_file.h"

namespace granary {
namespace {

using std::chrono::milliseconds;

// How often the status is rebuilt and compared with the one written (agent/status_file.h).
// Drop-in and credentials changes do not wait for it: they arrive as SIGIO.
constexpr milliseconds kStatusCheck{2000};
// Free heap beyond this since the last trim goes back to the kernel (see TrimAfterLargeFrees).
constexpr size_t kTrimAbove = 128 << 10;
constexpr milliseconds kSchedulerStopWait{1500};
// How long a stop waits for what its final seal made to upload (while uploads succeed).
constexpr milliseconds kStopUploadWait{5000};
constexpr int kLockWaitTries = 100;  // 10 s

UploadOptions UploadOptionsFrom(const AgentConfig& c, Credentials credentials) {
  const UploadConfig& u = c.upload;
  UploadOptions o;
  o.s3 = u.s3;
  o.credentials = std::move(credentials);
  o.device = c.device;
  o.prefix = u.prefix;
  o.key_template = u.key_template;
  o.report_key_template = u.report_key_template;
  o.file_key_template = u.file_key_template;
  o.retry_min = u.retry_min;
  o.retry_max = u.retry_max;
  o.permanent_retry = u.permanent_retry;
  o.part_size = u.part_size;
  o.multipart_max_age = u.multipart_max_age;
  return o;
}

// Counters survive a reload (which replaces the worker); the newest last_* wins.
UploadStats Accumulate(const UploadStats& before, const UploadStats& now) {
  UploadStats t = now;
  t.uploaded += before.uploaded;
  t.uploaded_bytes += before.uploaded_bytes;
  t.failed += before.failed;
  t.tombstones += before.tombstones;
  t.outbox_uploaded += before.outbox_uploaded;
  t.outbox_uploaded_bytes += before.outbox_uploaded_bytes;
  if (now.last_ok_ms == 0) t.last_ok_ms = before.last_ok_ms;
  if (now.last_error_ms == 0) {
    t.last_error_ms = before.last_error_ms;
    t.last_error = before.last_error;
    t.last_error_permanent = before.last_error_permanent;
  }
  return t;
}

// A config that runs but misleads: the device named after the host (two devices cloned
// from one image would upload as one), or nothing to poll.
void WarnAboutDefaults(const AgentConfig& c) {
  if (c.device_is_host_name) {
    log::Warning(
        "device is not set: using the host name \"{}\"; set device in {} so that "
        "devices cloned from one image do not upload as one",
        c.device, c.path);
  }
  if (c.sources.empty()) {
    log::Warning("no [[source]] in {} or {}/*.toml: granary captures nothing", c.path,
                 ConfDir(c.path));
  }
}

// Rebuilding the status allocates and frees the same few hundred KiB every check (with
// 100 sources); glibc keeps freed pages mapped between live chunks unless asked, so
// without a trim the private memory is the high-water mark of that churn. The free total
// cannot tell which of it is still resident (the next rebuild touches the same pages
// again), so every check that finds this much free asks; a trim costs a walk of the bins
// and an madvise per free run of pages, tens of µs.
void TrimAfterLargeFrees() {
  if (mallinfo2().fordblks < kTrimAbove) return;
  malloc_trim(0);
}

class Daemon {
 public:
  Daemon(Env& env, AgentConfig config) : env_(env), config_(std::move(config)) {}

  int Run() {
    if (Status s = env_.CreateDirs(config_.state_dir); !s) {
      log::Error("{}", s.error().message());
      return 1;
    }
    // A command run offline (`granary flush`, `granary poll`) holds the lock for a moment;
    // a daemon started meanwhile waits for it instead of failing its start.
    auto lock = PidLock::Acquire(LockFilePath(config_.state_dir));
    for (int i = 0; !lock && i < kLockWaitTries; ++i) {
      env_.SleepForMs(100);
      lock = PidLock::Acquire(LockFilePath(config_.state_dir));
    }
    if (!lock) {
      log::Error("{}", lock.error().message());
      return 1;
    }
    // Before the buffer opens: a state loss it finds belongs to this start.
    started_ms_ = env_.WallNowMs();
    NewWatch();
    Result<Credentials> credentials = UploadCredentials(config_);
    if (!credentials) {
      log::Error("{}", credentials.error().message());
      return kExitConfig;
    }
    if (!OpenBuffer() || !StartScheduler()) return 1;
    StartUploader(std::move(*credentials));
    StartRunWatchers();
    StartOutbox();
    monitor_ = std::make_unique<Monitor>(env_, config_);
    log::Notice("granary {} started: device {}, {} sources, state in {}", GRANARY_VERSION,
                config_.device, config_.sources.size(), config_.state_dir);
    WarnAboutDefaults(config_);
    monitor_->Ready();
    WriteStatus("running", /*force=*/true);

    // Asleep until a signal, a watched file changes (SIGIO) or the next status check.
    int64_t next_status_ns = env_.MonoNowNs() + kStatusCheck.count() * 1'000'000;
    for (;;) {
      int64_t wake_ns = next_status_ns;
      if (outbox_ && outbox_->NextDueNs() != 0) wake_ns = std::min(wake_ns, outbox_->NextDueNs());
      const int64_t left_ns = wake_ns - env_.MonoNowNs();
      int sig = left_ns > 0 ? WaitControlSignal(milliseconds(left_ns / 1'000'000 + 1)) : 0;
      if (sig == SIGTERM || sig == SIGINT) break;
      if (sig == SIGHUP) Reload();
      if (sig == SIGUSR1) Flush();
      bool changed = ApplyWatchedChanges();
      if (outbox_) changed = outbox_->Poll() || changed;
      bool acted = (sig != 0 && sig != SIGIO) || changed;
      if (!acted && env_.MonoNowNs() < next_status_ns) continue;
      next_status_ns = env_.MonoNowNs() + kStatusCheck.count() * 1'000'000;
      WriteStatus("running", /*force=*/acted);
      TrimAfterLargeFrees();
    }

    log::Notice("stopping: finishing the current batch{}",
                config_.seal_on_stop ? " and sealing" : "");
    monitor_->Stopping();
    run_watchers_.reset();
    outbox_.reset();
    StopSources();
    SealAndUpload();
    StopUploader();
    buffer_->Stop(config_.seal_on_stop);
    WriteStatus("stopped", /*force=*/true);
    log::Notice("stopped");
    return 0;
  }

 private:
  bool OpenBuffer() {
    auto buffer = Buffer::Open(env_, BufferOptionsFrom(config_));
    if (!buffer) {
      log::Error("open buffer: {}", buffer.error().message());
      return false;
    }
    buffer_ = std::move(*buffer);
    return true;
  }

  // Read at start and on every reload, so fixed credentials plus SIGHUP recover.
  static Result<Credentials> UploadCredentials(const AgentConfig& c) {
    if (!c.upload.enabled) return Credentials{};
    return LoadCredentials(c.upload.credentials_file, c.upload.profile);
  }

  void StartUploader(Credentials credentials) {
    if (!config_.upload.enabled) return;
    const std::string who = credentials.Redacted();
    uploader_ = std::make_unique<UploadWorker>(env_, *buffer_, config_.state_dir,
                                               UploadOptionsFrom(config_, std::move(credentials)));
    uploader_->Start();
    log::Info("uploading to {} bucket {} as {}", config_.upload.s3.endpoint,
              config_.upload.s3.bucket, who);
  }

  // With polling stopped, seals every open segment and gives a healthy uploader up to
  // kStopUploadWait to send what is waiting, so a clean stop leaves nothing behind. An
  // uploader that is failing is not waited for: its retries could take minutes, and
  // whatever is left goes at the next start.
  void SealAndUpload() {
    if (!uploader_ || !config_.seal_on_stop) return;
    const UploadStats before = uploader_->Stats();
    if (before.last_error_ms > before.last_ok_ms) return;
    if (Status s = buffer_->Flush(); !s) {
      log::Error("stopping: seal: {}", s.error().message());
      return;
    }
    const int64_t deadline_ns = env_.MonoNowNs() + kStopUploadWait.count() * 1'000'000;
    uint64_t waiting = buffer_->Stats().segments_sealed;
    while (waiting > 0 && env_.MonoNowNs() < deadline_ns &&
           uploader_->Stats().failed == before.failed) {
      env_.SleepForMs(100);
      waiting = buffer_->Stats().segments_sealed;
    }
    if (waiting > 0) {
      log::Notice("stopping with {} segment(s) still to upload; they go at the next start",
                  waiting);
    } else {
      log::Info("stopping: every sealed segment is uploaded");
    }
  }

  void StartRunWatchers() {
    run_watchers_ = std::make_unique<RunWatchers>(env_, config_);
    run_watchers_->Start();
  }

  // The outboxes take on the main thread, between signals (agent/outbox/watcher.h).
  void StartOutbox() {
    outbox_.reset();
    if (config_.outboxes.empty()) return;
    OutboxWatcherOptions o;
    o.state_dir = config_.state_dir;
    o.outboxes = config_.outboxes;
    o.keep_uploaded = config_.upload.keep_uploaded;
    // Files count toward the quota but never evict readings: they wait in place instead.
    o.room = [this](uint64_t more) {
      return buffer_->Stats().usage_bytes + more <= config_.buffer.quota_max_bytes;
    };
    o.taken = [this] {
      if (uploader_) uploader_->Kick();
    };
    auto watcher = OutboxWatcher::Start(env_, std::move(o));
    if (!watcher) {
      log::Error("outbox: {}", watcher.error().message());
      return;
    }
    outbox_ = std::move(*watcher);
  }

  void StopUploader() {
    if (!uploader_) return;
    uploader_->Stop();
    upload_base_ = Accumulate(upload_base_, uploader_->Stats());
    uploader_.reset();
  }

  bool StartScheduler() {
    auto scheduler = BuildScheduler(env_, config_, *buffer_);
    if (!scheduler) {
      log::Error("{}", scheduler.error().message());
      return false;
    }
    scheduler_ = std::move(*scheduler);
    scheduler_->Start();
    for (const SourceConfig& sc : config_.sources) {
      if (!sc.mqtt) continue;
      archivers_.push_back(std::make_unique<MqttArchiver>(env_, *sc.mqtt, config_.device,
                                                          config_.state_dir, *buffer_));
      archivers_.back()->Start();
    }
    CompactSources(config_);  // the sources are built; only a reload's fallback reads it again
    return true;
  }

  // Subscribers first: each acknowledges what the still running buffer committed.
  void StopSources() {
    for (auto& a : archivers_) a->Stop();
    archivers_.clear();
    scheduler_->Stop(kSchedulerStopWait);
  }

  void Flush() {
    Status s = buffer_->Flush();
    if (s) {
      log::Info("flush: every open segment sealed");
    } else {
      log::Error("flush: {}", s.error().message());
    }
    ++flushes_;
  }

  // Drop-in files reload as SIGHUP does; new credentials restart only the uploader.
  bool ApplyWatchedChanges() {
    ConfigWatch::Changes changes = watch_->Poll();
    if (!changes.config.empty()) {
      log::Notice("{} changed: reloading", fmt::join(changes.config, ", "));
      Reload();
    } else if (changes.credentials) {
      ReloadCredentials();
    }
    return !changes.config.empty() || changes.credentials;
  }

  // A watch whose changes arrive as SIGIO; without it they are found at the status check.
  void NewWatch() {
    watch_ = std::make_unique<ConfigWatch>(env_, config_);
    watch_->SignalOnChange();
  }

  void ReloadCredentials() {
    Result<Credentials> credentials = UploadCredentials(config_);
    if (!credentials) {
      log::Error("{} changed but cannot be used, keeping the running credentials: {}",
                 config_.upload.credentials_file, credentials.error().message());
      return;
    }
    log::Notice("{} changed: uploading with the new credentials", config_.upload.credentials_file);
    StopUploader();
    RetryParked("credentials");
    StartUploader(std::move(*credentials));
  }

  // Segments parked by a permanent error (wrong credentials, missing bucket) get a fresh
  // try now rather than at their permanent_retry.
  void RetryParked(const char* why) {
    if (Status r = buffer_->RetryUploadsNow(); !r) log::Warning("{}: {}", why, r.error().message());
  }

  // An invalid new config is rejected and the running one kept.
  void Reload() {
    // Before reading: what changes while it is read is seen by the next pass.
    NewWatch();
    auto fresh = LoadConfig(config_.path);
    if (!fresh) {
      log::Error("reload rejected, keeping the running configuration:\n{}",
                 fresh.error().message());
      return;
    }
    Result<Credentials> credentials = UploadCredentials(*fresh);
    if (!credentials) {
      log::Error("reload rejected, keeping the running configuration: {}",
                 credentials.error().message());
      return;
    }
    StopUploader();
    run_watchers_.reset();
    StopSources();
    scheduler_.reset();
    bool reopen = BufferOptionsFrom(config_) != BufferOptionsFrom(*fresh);
    const std::string watched_credentials = config_.upload.credentials_file;
    AgentConfig old = std::move(config_);
    config_ = std::move(*fresh);
    if (reopen) {
      buffer_->Stop(/*seal=*/false);
      buffer_.reset();
      if (!OpenBuffer()) {
        log::Error("reload: new buffer settings failed; going back to the old ones");
        config_ = std::move(old);
        if (!OpenBuffer()) std::abort();  // the old buffer opened a moment ago
        credentials = UploadCredentials(config_);
      }
    }
    if (!StartScheduler()) {
      log::Error("reload: sources failed to start; going back to the old configuration");
      config_ = std::move(old);
      if (!StartScheduler()) std::abort();
      credentials = UploadCredentials(config_);
    }
    RetryParked("reload");
    StartUploader(credentials ? std::move(*credentials) : Credentials{});
    StartRunWatchers();
    StartOutbox();
    monitor_->Reconfigure(config_);
    if (config_.upload.credentials_file != watched_credentials) NewWatch();
    log::Notice("reloaded {}: {} sources", config_.path, config_.sources.size());
    WarnAboutDefaults(config_);
  }

  void WriteStatus(const char* state, bool force) {
    AgentStatus s;
    s.device = config_.device;
    s.state = state;
    s.pid = ::getpid();
    s.started_ms = started_ms_;
    s.updated_ms = env_.WallNowMs();
    s.clock_synced = env_.ClockSynchronized();
    s.flushes = flushes_;
    s.quota_bytes = config_.buffer.quota_max_bytes;
    if (scheduler_) s.sources = scheduler_->Stats();
    for (const auto& a : archivers_) s.archive.push_back(a->Stats());
    if (run_watchers_) s.runs = run_watchers_->Stats();
    if (outbox_) s.outbox = outbox_->Stats();
    s.buffer = buffer_->Stats();
    s.uploads_enabled = config_.upload.enabled;
    s.uploads = uploader_ ? Accumulate(upload_base_, uploader_->Stats()) : upload_base_;
    s.upload_stale_after_ms = config_.upload.stale_after.count();
    monitor_->Fill(s);
    JudgeHealth(s);
    std::string json = StatusJson(s);
    status_file_.Write(StatusFilePath(config_.state_dir), s, json, config_.status_interval, force);
    monitor_->Report(s, json, scheduler_ ? scheduler_->LastProgressNs() : -1);
  }

  Env& env_;
  AgentConfig config_;
  std::unique_ptr<Buffer> buffer_;
  std::unique_ptr<Scheduler> scheduler_;
  std::vector<std::unique_ptr<MqttArchiver>> archivers_;  // the mqtt sources
  std::unique_ptr<UploadWorker> uploader_;                // null when [upload] is absent
  std::unique_ptr<RunWatchers> run_watchers_;             // [[watcher]] type = "runs"
  std::unique_ptr<Monitor> monitor_;                      // MQTT, metrics, systemd notify
  std::unique_ptr<OutboxWatcher> outbox_;                 // null without [[outbox]]
  std::unique_ptr<ConfigWatch> watch_;                    // conf.d and the credentials file
  UploadStats upload_base_;                               // from workers replaced by reloads
  StatusFile status_file_{env_};
  int64_t started_ms_ = 0;
  uint64_t flushes_ = 0;
};

}  // namespace

BufferOptions BufferOptionsFrom(const AgentConfig& c) {
  BufferOptions o = c.buffer;
  o.state_dir = c.state_dir;
  o.device = c.device;
  o.keep_uploaded = c.upload.keep_uploaded;
  for (const SourceConfig& s : c.sources) {
    if (s.mqtt) o.segment_formats[s.name] = std::string(kBsonFormat);
  }
  return o;
}

Result<std::unique_ptr<Scheduler>> BuildScheduler(Env& env, const AgentConfig& config,
                                                  Buffer& buffer) {
  auto sink = [&buffer](std::vector<Reading> readings, milliseconds wait) {
    return buffer.Submit(std::move(readings), wait);
  };
  auto paused = [&buffer] { return buffer.Paused(); };
  auto scheduler = std::make_unique<Scheduler>(env, sink, paused);
  scheduler->SetMaxReadingBytes(config.max_reading_bytes);
  for (const SourceConfig& sc : config.sources) {
    if (sc.mqtt) continue;  // a subscriber: the daemon runs it (MqttArchiver)
    const SourceType* type = FindSourceType(sc.type);
    if (type == nullptr) return Error("source " + sc.name + ": unknown type " + sc.type);
    auto settings = SourceSettings(sc);
    if (!settings) return settings.error();
    auto diag = std::make_shared<ConfigDiagnostics>();
    diag->file = config.path;
    ConfigReader reader(diag, **settings, "source." + sc.name);
    std::unique_ptr<Source> source = type->create(reader);
    if (!source || !diag->errors.empty()) {
      return Error("source " + sc.name + ": " +
                   (diag->errors.empty() ? "could not be created" : diag->errors.front()));
    }
    scheduler->Add(sc.name, sc.type, std::move(source), sc.interval, sc.timeout);
  }
  return scheduler;
}

int RunDaemon(Env& env, AgentConfig config) { return Daemon(env, std::move(config)).Run(); }

}  // namespace granary
