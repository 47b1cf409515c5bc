// granary-receiver: the cloud side. `run` serves the S3-compatible ingest and the API;
// `check-config`, `verify`, `reindex`, `backup DEST` and `restore` are for operators. Bad config:
// exit 78.
#include <curl/curl.h>
#include <fmt/format.h>
#include <mosquitto.h>
#include <signal.h>
#include <unistd.h>

#include <CLI/CLI.hpp>
#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <vector>

#include "platform/log.h"
#include "platform/process.h"
#include "platform/service_notify.h"
#include "platform/test_hooks.h"
#include "receiver/api_json.h"
#include "receiver/context.h"
#include "receiver/device_cli.h"
#include "receiver/device_keys.h"
#include "receiver/fleet_mqtt.h"
#include "receiver/in_place_store.h"
#include "receiver/maintenance.h"
#include "receiver/multipart.h"
#include "receiver/pipeline.h"
#include "receiver/reindex.h"
#include "receiver/report_validation.h"
#include "receiver/restore.h"
#include "receiver/store_open.h"
#include "receiver/upstream.h"

namespace granary::receiver {
namespace {

std::string DefaultConfigPath() {
  const char* env = std::getenv("GRANARY_RECEIVER_CONFIG");
  return env != nullptr ? env : "/etc/granary/receiver.toml";
}

ReceiverConfig LoadOrExit(const std::string& path) {
  auto config = LoadReceiverConfig(path);
  if (!config) {
    std::fprintf(stderr, "%s\n", config.error().message().c_str());
    std::exit(kExitConfig);
  }
  return std::move(*config);
}

VerifierOptions VerifierOptionsFrom(const ReceiverConfig& c) {
  VerifierOptions o;
  o.region = c.region;
  o.max_skew = c.max_skew;
  o.allow_unsigned_payload = c.allow_unsigned_payload;
  return o;
}

// The PEM certificate and key of [http] (both empty without TLS).
Status ReadTls(Env& env, const ReceiverConfig& c, HttpServerOptions* options) {
  if (c.tls_cert.empty()) return Status::Ok();
  auto cert = env.ReadFile(c.tls_cert, 1 << 20);
  if (!cert) return cert.error().Wrap("http.tls_cert");
  auto key = env.ReadFile(c.tls_key, 1 << 20);
  if (!key) return key.error().Wrap("http.tls_key");
  options->tls_cert_pem = std::move(*cert);
  options->tls_key_pem = std::move(*key);
  return Status::Ok();
}

// SIGHUP: devices, readers, log level and TLS certificates take effect now; a new config that
// does not load changes nothing. Keys that shape the process (listen, data_dir, index, ...)
// are logged as needing a restart.
void Reload(Env& env, const ReceiverConfig& running, ReceiverContext& context,
            DeviceKeyRefresher& keys, HttpServer& server) {
  auto next = LoadReceiverConfig(running.path);
  if (!next) {
    log::Error("reload {}: {} (keeping the running config)", running.path, next.error().message());
    return;
  }
  HttpServerOptions tls;
  if (Status s = ReadTls(env, *next, &tls); !s) {
    log::Error("reload {}: {} (keeping the running config)", running.path, s.error().message());
    return;
  }
  if (next->listen_address != running.listen_address || next->listen_port != running.listen_port ||
      next->data_dir != running.data_dir || next->index != running.index ||
      next->tls_cert.empty() != running.tls_cert.empty()) {
    log::Warning("reload: listen, data_dir, index or turning TLS on/off take a restart");
  }
  if (next->kinds.size() != running.kinds.size() ||
      !std::equal(next->kinds.begin(), next->kinds.end(), running.kinds.begin(),
                  [](const KindSettings& a, const KindSettings& b) {
                    return a.name == b.name && a.max_bytes == b.max_bytes &&
                           a.validator == b.validator;
                  }) ||
      next->attachment_grace != running.attachment_grace ||
      next->validator_timeout != running.validator_timeout) {
    log::Warning("reload: [[kind]] and [reports] take a restart");
  }
  granary::log::SetMaxLevel(next->log_level);
  context.readers.Set(next->readers);
  if (Status s = keys.SetConfigKeys(next->devices); !s) {
    log::Error("reload: device registry: {}", s.error().message());
  }
  if (!tls.tls_cert_pem.empty() && !running.tls_cert.empty()) {
    Status s = server.ReplaceCertificate(tls.tls_cert_pem, tls.tls_key_pem);
    if (!s) log::Error("reload: {}", s.error().message());
  }
  log::Notice("reloaded {}: {} [[device]] key(s), {} reader token(s)", running.path,
              next->devices.size(), next->readers.size());
}

int Run(const ReceiverConfig& config, bool allow_stale_index) {
  BlockControlSignals();
  Env& env = ProcessEnv();
  auto store = OpenObjectStore(env, config);
  if (!store) {
    log::Error("object store: {}", store.error().message());
    return 1;
  }
  auto index = OpenIndex(env, config);
  if (!index) {
    log::Error("index: {}", index.error().message());
    return 1;
  }
  *store = WithInPlace(env, config, std::move(*store), **index);
  // A shared bucket holds other replicas' uploads between their PUT and their commit, and
  // listing it all at each start does not scale: `verify` finds unindexed objects there.
  auto behind = config.store.type == "s3" ? Result<std::string>(std::string())
                                          : IndexBehindStore(**index, **store);
  if (!behind) {
    log::Error("index: {}", behind.error().message());
    return 1;
  }
  std::string refused;
  if (!behind->empty()) {
    log::Error("{}", *behind);
    if (allow_stale_index) {
      log::Warning(
          "--allow-stale-index: taking uploads anyway (accepted files are still never "
          "replaced)");
    } else {
      refused = *behind;
    }
  }
  Metrics metrics;
  Pipeline pipeline(env, **store, **index, config, metrics);
  if (refused.empty()) {  // else quarantine waits for the reindexed index
    auto recovered = pipeline.Recover();
    if (recovered && *recovered > 0)
      log::Notice("recovered {} object(s) from quarantine", *recovered);
  }
  auto registry = OpenRegistry(env, config);
  if (!registry) {
    log::Error("device registry: {}", registry.error().message());
    return 1;
  }
  RequestVerifier verifier({}, VerifierOptionsFrom(config));
  DeviceKeyRefresher keys(env, **registry, verifier, config.registry.poll);
  if (Status s = keys.Start(config.devices); !s) {
    log::Error("device registry: {}", s.error().message());
    return 1;
  }
  auto uploads = UploadTable::Open(env, config);
  if (!uploads) {
    log::Error("index: {}", uploads.error().message());
    return 1;
  }
  ReceiverContext context{env, config, **store, **index, pipeline, metrics, verifier};
  context.ingest_refused = refused;
  context.uploads = uploads->get();
  ValidationPool validation(
      {config.validation_threads, config.validation_per_device, config.validation_queue});
  context.validation = &validation;
  context.registry = registry->get();
  std::unique_ptr<UpstreamFetcher> upstream;
  if (config.upstream.enabled) {
    upstream = std::make_unique<UpstreamFetcher>(context, config.upstream);
    context.upstream = upstream.get();
  }
  // Declared first so it outlives the MQTT thread that hands it answers.
  std::unique_ptr<ReportValidation> reports;
  std::unique_ptr<FleetMqtt> mqtt;
  if (config.mqtt.enabled) {
    mqtt = std::make_unique<FleetMqtt>(env, **index, config, [&verifier](const std::string& d) {
      return verifier.KnowsDevice(d);
    });
    reports = std::make_unique<ReportValidation>(env, **index, config, mqtt.get());
    mqtt->SetValidationHandler([r = reports.get()](const std::string& id, std::string_view body) {
      r->OnAnswer(id, body);
    });
    Status s = mqtt->Start();
    if (!s) log::Error("{}", s.error().message());  // ingest goes on without MQTT
    context.mqtt = &mqtt->stats();
    pipeline.SetAcceptedListener([m = mqtt.get()](const ObjectMeta& meta, const SegmentFacts& f) {
      m->PublishAvailable(meta, f);
    });
  } else {
    reports = std::make_unique<ReportValidation>(env, **index, config, nullptr);
  }
  pipeline.SetUploadListener([r = reports.get()](const ObjectMeta& meta, const Validation& v,
                                                 bool pending) { r->Indexed(meta, v, pending); });
  HttpServerOptions options;
  options.address = config.listen_address;
  options.port = config.listen_port;
  options.threads = config.threads;
  options.connection_limit = config.connection_limit;
  options.per_ip_limit = config.per_ip_limit;
  options.idle_timeout =
      std::chrono::duration_cast<std::chrono::seconds>(config.connection_timeout);
  options.header_timeout = std::chrono::duration_cast<std::chrono::seconds>(config.header_timeout);
  options.min_body_rate = config.min_body_rate;
  options.on_cut = [&metrics](bool body) {
    (body ? metrics.slow_bodies_cut : metrics.slow_headers_cut) += 1;
  };
  if (Status s = ReadTls(env, config, &options); !s) {
    log::Error("{}", s.error().message());
    return 1;
  }
  auto server = HttpServer::Start(options, MakeRouter(context));
  if (!server) {
    log::Error("{}", server.error().message());
    return 1;
  }
  reports->SetApiBase(fmt::format("{}://{}:{}", config.tls_cert.empty() ? "http" : "https",
                                  config.listen_address, (*server)->port()));
  std::printf("listening %s:%d\n", config.listen_address.c_str(), (*server)->port());
  std::fflush(stdout);
  log::Notice("granary-receiver listening on {}:{}{} ({} device key(s), index {})",
              config.listen_address, (*server)->port(), config.tls_cert.empty() ? "" : " (TLS)",
              verifier.key_count(), config.index == "sqlite" ? config.IndexPath() : "postgresql");
  // Ready only now: the index is open, quarantine recovered and the socket bound, so a
  // unit ordered after this one finds it accepting.
  service::NotifyReady(fmt::format("listening on {}:{}", config.listen_address, (*server)->port()));
  // Often enough that an upload outlives expire_after by at most a quarter of it.
  const auto expiry_interval = std::clamp<std::chrono::milliseconds>(
      config.multipart.expire_after / 4, std::chrono::seconds{1}, std::chrono::minutes{10});
  auto next_expiry = std::chrono::steady_clock::now();
  for (;;) {
    if (std::chrono::steady_clock::now() >= next_expiry) {
      ExpireUploads(context);
      next_expiry = std::chrono::steady_clock::now() + expiry_interval;
    }
    int sig = WaitControlSignal(std::chrono::milliseconds{1000});
    if (sig == SIGTERM || sig == SIGINT) break;
    reports->Tick();
    if (sig == SIGHUP) {
      service::NotifyStatus("reloading the config");
      Reload(env, config, context, keys, **server);
      if (!(*server)->serving()) {
        log::Error("no HTTP server is listening after the reload; exiting");
        validation.Stop();
        return 1;
      }
      service::NotifyStatus("reloaded");
    }
  }
  log::Notice("granary-receiver stopping");
  service::NotifyStopping("stopping: finishing open requests");
  // Validations in flight answer their suspended connections before the server stops.
  validation.Stop();
  (*server)->Stop();
  pipeline.SetUploadListener(nullptr);
  mqtt.reset();
  return 0;
}

// The store and index for an offline command; prints why not and returns false.
bool OpenOffline(const ReceiverConfig& config, std::unique_ptr<ObjectStore>* store,
                 std::unique_ptr<Index>* index) {
  Env& env = ProcessEnv();
  auto s = OpenObjectStore(env, config);
  if (!s) {
    std::fprintf(stderr, "object store: %s\n", s.error().message().c_str());
    return false;
  }
  auto i = OpenIndex(env, config);
  if (!i) {
    std::fprintf(stderr, "index: %s\n", i.error().message().c_str());
    return false;
  }
  *store = WithInPlace(env, config, std::move(*s), **i);
  *index = std::move(*i);
  return true;
}

int Verify(const ReceiverConfig& config) {
  std::unique_ptr<ObjectStore> store;
  std::unique_ptr<Index> index;
  if (!OpenOffline(config, &store, &index)) return 1;
  auto report =
      VerifyStore(*index, *store, ValidatorLimitsOf(config).max_document_bytes, config.prefix);
  if (!report) {
    std::fprintf(stderr, "verify: %s\n", report.error().message().c_str());
    return 1;
  }
  for (const auto& k : report->missing) std::printf("missing %s\n", k.c_str());
  for (const auto& k : report->hash_mismatch) std::printf("hash-mismatch %s\n", k.c_str());
  for (const auto& k : report->unindexed) std::printf("unindexed %s\n", k.c_str());
  for (const auto& k : report->message_mismatch) std::printf("message-mismatch %s\n", k.c_str());
  for (const auto& k : report->upload_mismatch) std::printf("upload-mismatch %s\n", k.c_str());
  std::printf(
      "checked %zu indexed object(s), %zu accepted file(s) and %zu archived message(s): %zu "
      "missing, %zu with other bytes, %zu not indexed, %zu message(s) not where indexed\n",
      report->objects_checked, report->files_checked, report->messages_checked,
      report->missing.size(), report->hash_mismatch.size(), report->unindexed.size(),
      report->message_mismatch.size());
  std::printf("checked %zu report(s) and file(s): %zu not as indexed\n", report->uploads_checked,
              report->upload_mismatch.size());
  return report->clean() ? 0 : 1;
}

int RunReindex(const ReceiverConfig& config) {
  std::unique_ptr<ObjectStore> store;
  std::unique_ptr<Index> index;
  if (!OpenOffline(config, &store, &index)) return 1;
  auto report = Reindex(ProcessEnv(), *index, *store, config);
  if (!report) {
    std::fprintf(stderr, "reindex: %s\n", report.error().message().c_str());
    return 1;
  }
  for (const auto& p : report->problems) std::printf("not indexed %s\n", p.c_str());
  std::printf("reindexed %zu accepted file(s): %zu added, %zu already indexed, %zu not indexed\n",
              report->files, report->indexed, report->already, report->problems.size());
  return report->problems.empty() ? 0 : 1;
}

int Backup(const ReceiverConfig& config, const std::string& dest) {
  auto report = BackupIndex(ProcessEnv(), config, dest);
  if (!report) {
    std::fprintf(stderr, "backup: %s\n", report.error().message().c_str());
    return 1;
  }
  for (const auto& [table, rows] : report->table_rows) {
    std::printf("%-15s %lld rows\n", table.c_str(), static_cast<long long>(rows));
  }
  std::printf("backup %s: verified (integrity_check ok, row counts equal)\n", dest.c_str());
  return 0;
}

// The restore command's flags as given (times as text until the config is loaded).
struct RestoreFlags {
  RestoreOptions options;
  std::string from, to, password_file;
};

int RunRestore(const ReceiverConfig& config, RestoreFlags& flags) {
  RestoreOptions& o = flags.options;
  for (auto [text, out] : {std::pair{&flags.from, &o.from_ms}, std::pair{&flags.to, &o.to_ms}}) {
    if (text->empty()) continue;
    *out = ParseTime(*text);
    if (!*out) {
      std::fprintf(stderr, "restore: %s: not ms since the epoch or YYYY-MM-DDTHH:MM:SS[.mmm]Z\n",
                   text->c_str());
      return 2;
    }
  }
  if (!o.dry_run && o.publish.broker_url.empty()) {
    std::fprintf(stderr, "restore: --broker URL is required (or --dry-run)\n");
    return 2;
  }
  if (o.publish.rate > 0 && o.publish.speed > 0) {
    std::fprintf(stderr, "restore: --rate and --speed exclude each other\n");
    return 2;
  }
  if (!flags.password_file.empty()) {
    auto password = ProcessEnv().ReadFile(flags.password_file, 4096);
    if (!password) {
      std::fprintf(stderr, "restore: %s\n", password.error().message().c_str());
      return 1;
    }
    while (!password->empty() && (password->back() == '\n' || password->back() == '\r')) {
      password->pop_back();
    }
    o.publish.password = *password;
  }
  o.max_document_bytes = ValidatorLimitsOf(config).max_document_bytes;
  o.progress = !o.dry_run && isatty(STDERR_FILENO) == 1;
  std::unique_ptr<ObjectStore> store;
  std::unique_ptr<Index> index;
  if (!OpenOffline(config, &store, &index)) return 1;
  auto report = Restore(*index, *store, o, stdout);
  if (!report) {
    std::fprintf(stderr, "restore: %s\n", report.error().message().c_str());
    return 1;
  }
  std::printf("%s %llu of %llu selected message(s)%s\n", o.dry_run ? "listed" : "restored",
              static_cast<unsigned long long>(report->published),
              static_cast<unsigned long long>(report->selected),
              o.dry_run ? "" : (" to " + o.publish.broker_url).c_str());
  return 0;
}

}  // namespace
}  // namespace granary::receiver

int main(int argc, char** argv) {
  using namespace granary::receiver;
  CLI::App app{"granary-receiver: S3-compatible ingest, validation, index and fleet API",
               "granary-receiver"};
  app.set_version_flag("--version", std::string("granary-receiver ") + GRANARY_VERSION);
  app.require_subcommand(1);
  std::string config_path = DefaultConfigPath();
  app.add_option("-c,--config", config_path, "config file (env GRANARY_RECEIVER_CONFIG)");
  auto* run = app.add_subcommand("run", "serve ingest and the API until SIGTERM");
  auto* check = app.add_subcommand("check-config", "validate the config file and exit");
  bool allow_stale_index = false;
  run->add_flag("--allow-stale-index", allow_stale_index,
                "take uploads even when accepted/ holds files the index does not list");
  auto* verify = app.add_subcommand("verify", "check the object store against the index");
  auto* reindex =
      app.add_subcommand("reindex", "rebuild the index from accepted/ (after a lost database)");
  auto* backup = app.add_subcommand("backup", "online, verified copy of the SQLite index");
  std::string dest;
  backup->add_option("DEST", dest, "path of the copy (must not exist)")->required();
  auto* restore =
      app.add_subcommand("restore", "republish archived MQTT messages to a broker, byte-exact");
  RestoreFlags restore_flags;
  RestoreOptions& ro = restore_flags.options;
  restore->add_option("--broker", ro.publish.broker_url, "mqtt://host[:port] or mqtts://...");
  restore->add_option("--device", ro.device, "only this device's messages");
  restore->add_option("--topic", ro.topic_filter, "only topics matching this MQTT filter");
  restore->add_option("--from", restore_flags.from, "received at or after (ms or ISO 8601 UTC)");
  restore->add_option("--to", restore_flags.to, "received at or before (ms or ISO 8601 UTC)");
  restore->add_option("--rate", ro.publish.rate, "messages per second (default: unpaced)")
      ->check(CLI::PositiveNumber);
  restore
      ->add_option("--speed", ro.publish.speed, "keep the recorded spacing, this many times faster")
      ->check(CLI::PositiveNumber);
  restore->add_flag("--no-retain", ro.publish.no_retain, "publish with the retain flag off");
  restore->add_flag("--dry-run", ro.dry_run, "list the messages instead of publishing");
  restore->add_option("--client-id", ro.publish.client_id, "MQTT client id");
  restore->add_option("--username", ro.publish.username, "MQTT user name");
  restore->add_option("--password-file", restore_flags.password_file,
                      "file holding the MQTT password");
  restore->add_option("--ca-file", ro.publish.ca_file, "CA bundle for mqtts://");
  auto* device = app.add_subcommand("device", "manage the device registry (keys, enrollment)");
  device->require_subcommand(1);
  DeviceCommand device_command;
  std::vector<CLI::App*> device_actions;
  for (const char* action : {"add", "list", "rotate", "revoke", "disable", "enable"}) {
    CLI::App* a = device->add_subcommand(action, std::string(action) + " a device");
    if (std::string(action) != "list") {
      a->add_option("NAME", device_command.name, "device name")->required();
    }
    a->add_option("-c,--config", config_path, "config file");
    device_actions.push_back(a);
  }
  device_actions[0]->add_flag("--enroll", device_command.enroll,
                              "print a one-time enrollment token instead of the secret");
  device_actions[0]->add_option("--ttl", device_command.ttl,
                                "enrollment token lifetime (default registry.enroll_ttl)");
  device_actions[2]->add_option(
      "--grace", device_command.grace,
      "how long the old key keeps working (default registry.rotate_grace)");
  for (CLI::App* sub : {run, check, verify, reindex, backup, restore, device}) {
    sub->add_option("-c,--config", config_path, "config file");
  }
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    // Usage errors exit 2, as sysexits' callers and shells expect; --help and --version 0.
    int rc = app.exit(e);
    return rc == 0 ? 0 : 2;
  }

  curl_global_init(CURL_GLOBAL_DEFAULT);
  mosquitto_lib_init();
  ReceiverConfig config = LoadOrExit(config_path);
  granary::log::SetMaxLevel(config.log_level);
  if (check->parsed()) {
    std::printf("%s: ok (%zu device key(s), %zu reader token(s), index %s)\n", config_path.c_str(),
                config.devices.size(), config.readers.size(),
                config.index == "sqlite" ? "sqlite" : "postgresql");
    return 0;
  }
  for (CLI::App* a : device_actions) {
    if (a->parsed()) {
      device_command.action = a->get_name();
      return RunDeviceCommand(config, device_command);
    }
  }
  if (verify->parsed()) return Verify(config);
  if (reindex->parsed()) return RunReindex(config);
  if (backup->parsed()) return Backup(config, dest);
  if (restore->parsed()) return RunRestore(config, restore_flags);
  return Run(config, allow_stale_index);
}
