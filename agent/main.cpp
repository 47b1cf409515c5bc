// The `granary` command line: run the agent, or inspect and test its configuration and
// state. Every command that takes -c validates the whole config first (exit 78 on error).
#include <curl/curl.h>
#include <pwd.h>
#include <signal.h>
#include <unistd.h>

#include <CLI/CLI.hpp>
#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <memory>
#include <sstream>
#include <string_view>
#include <thread>

#include "agent/archive/cli.h"
#include "agent/config.h"
#include "agent/daemon.h"
#include "agent/enroll.h"
#include "agent/outbox/submit_cli.h"
#include "agent/service_access.h"
#include "agent/status.h"
#include "config/units.h"
#include "platform/log.h"
#include "platform/process.h"
#include "platform/test_hooks.h"
#include "storage/buffer.h"

namespace granary {
namespace {

using std::chrono::milliseconds;

constexpr int kExitUsage = 2;  // docs/operations.md, "Exit codes"
constexpr const char* kSystemConfig = "/etc/granary/granary.toml";
constexpr const char* kServiceUser = "granary";  // packaging/debian: the unit's User=

std::string DefaultConfigPath() {
  const char* env = std::getenv("GRANARY_CONFIG");
  return env != nullptr ? env : kSystemConfig;
}

// Loads the config or exits 78 with every problem on stderr.
AgentConfig LoadOrExit(const std::string& path) {
  auto config = LoadConfig(path);
  if (!config) {
    std::fprintf(stderr, "%s\n", config.error().message().c_str());
    std::exit(kExitConfig);
  }
  return std::move(*config);
}

int CmdPoll(const AgentConfig& config, const std::string& name) {
  for (const SourceConfig& sc : config.sources) {
    if (sc.name != name) continue;
    auto diag = std::make_shared<ConfigDiagnostics>();
    diag->file = config.path;
    ConfigReader reader(diag, *sc.settings, "source." + sc.name);
    auto source = FindSourceType(sc.type)->create(reader);
    if (!source) {
      std::fprintf(stderr, "source %s: %s\n", name.c_str(),
                   diag->errors.empty() ? "could not be created" : diag->errors.front().c_str());
      return 1;
    }
    auto started = std::chrono::steady_clock::now();
    auto result = source->Poll(sc.timeout);
    auto took =
        std::chrono::duration_cast<milliseconds>(std::chrono::steady_clock::now() - started);
    if (!result) {
      std::fprintf(stderr, "poll %s failed after %lld ms: %s\n", name.c_str(),
                   static_cast<long long>(took.count()), result.error().message().c_str());
      return 1;
    }
    for (const SourceReading& r : *result) std::printf("%s\n", r.data_json.c_str());
    std::fprintf(stderr, "poll %s: %zu reading(s) in %lld ms\n", name.c_str(), result->size(),
                 static_cast<long long>(took.count()));
    return 0;
  }
  std::fprintf(stderr, "no source named \"%s\" in %s\n", name.c_str(), config.path.c_str());
  return 1;
}

uint64_t DaemonFlushes(Env& env, const std::string& state_dir) {
  auto s = ReadStatusFile(env, state_dir);
  return s ? s->flushes : 0;
}

int CmdFlush(Env& env, const AgentConfig& config, milliseconds timeout) {
  pid_t daemon = PidLock::Holder(LockFilePath(config.state_dir));
  if (daemon != 0) {
    uint64_t before = DaemonFlushes(env, config.state_dir);
    if (::kill(daemon, SIGUSR1) != 0) {
      std::perror("signal the running granary");
      return 1;
    }
    std::fprintf(stderr, "asked the running granary (pid %d) to seal; waiting", daemon);
    const int64_t deadline = env.MonoNowNs() + timeout.count() * 1'000'000;
    while (env.MonoNowNs() < deadline) {
      env.SleepForMs(100);
      if (DaemonFlushes(env, config.state_dir) > before) {
        std::fprintf(stderr, " done\n");
        return 0;
      }
      std::fputc('.', stderr);
    }
    std::fprintf(stderr, "\ntimed out after %lld ms waiting for the daemon to flush\n",
                 static_cast<long long>(timeout.count()));
    return 1;
  }
  // Offline: take the lock ourselves so a daemon cannot start underneath us.
  auto lock = PidLock::Acquire(LockFilePath(config.state_dir));
  if (!lock) {
    std::fprintf(stderr, "%s\n", lock.error().message().c_str());
    return 1;
  }
  auto buffer = Buffer::Open(env, BufferOptionsFrom(config));
  if (!buffer) {
    std::fprintf(stderr, "open buffer: %s\n", buffer.error().message().c_str());
    return 1;
  }
  Status s = (*buffer)->Flush();
  (*buffer)->Stop(false);
  if (!s) {
    std::fprintf(stderr, "flush: %s\n", s.error().message().c_str());
    return 1;
  }
  BufferStats st = (*buffer)->Stats();
  std::fprintf(stderr, "sealed; %llu segments pending upload\n",
               static_cast<unsigned long long>(st.segments_sealed));
  return 0;
}

// Prints the buffered readings of a buffer database as JSON Lines: what is captured but not
// yet sealed, or what a database moved aside after a state loss still holds.
int CmdBuffered(Env& env, const std::string& db_path, const std::string& device,
                const std::string& source) {
  uint64_t lines = 0, records = 0;
  Status s = ForEachBufferedLine(
      env, db_path, device, source,
      [&](std::string_view text) {
        std::fwrite(text.data(), 1, text.size(), stdout);
        lines += static_cast<uint64_t>(std::count(text.begin(), text.end(), '\n'));
      },
      &records);
  std::fflush(stdout);
  std::fprintf(stderr, "%s: %llu reading(s)", db_path.c_str(),
               static_cast<unsigned long long>(lines));
  if (records > 0) {
    std::fprintf(stderr, ", and %llu archived message(s) (granary archive reads them)",
                 static_cast<unsigned long long>(records));
  }
  std::fputc('\n', stderr);
  if (!s) {
    std::fprintf(stderr, "%s\n", s.error().message().c_str());
    return 1;
  }
  return 0;
}

int Main(int argc, char** argv) {
  // On the heap so that `run` can free it: its option tables would otherwise stay allocated
  // for the daemon's whole life.
  auto app = std::make_unique<CLI::App>(
      "granary: captures readings from field devices and delivers them to S3, exactly once",
      "granary");
  app->set_version_flag("--version", std::string("granary ") + GRANARY_VERSION);
  app->require_subcommand(1);
  std::string config_path = DefaultConfigPath();
  auto add_config = [&](CLI::App* cmd) {
    cmd->add_option("-c,--config", config_path,
                    "configuration file (default $GRANARY_CONFIG or /etc/granary/granary.toml)");
  };

  CLI::App* run =
      app->add_subcommand("run", "run the agent until SIGTERM (SIGHUP reloads, SIGUSR1 flushes)");
  add_config(run);
  CLI::App* check = app->add_subcommand(
      "check-config", "validate the configuration and print it with defaults, secrets masked");
  add_config(check);
  std::string as_user;
  check->add_option("--as-user", as_user,
                    "also check that USER (the service's, granary) can read every file the "
                    "config names and write the state dir; as root with the default config, "
                    "granary is checked when it exists");
  CLI::App* poll = app->add_subcommand("poll", "poll one source once and print its reading(s)");
  add_config(poll);
  std::string source_name;
  poll->add_option("SOURCE", source_name, "source name")->required();
  CLI::App* status = app->add_subcommand(
      "status", "show buffer, segments and sources; works with the daemon stopped");
  add_config(status);
  bool json = false;
  status->add_flag("--json", json, "print JSON (the status.json schema)");
  std::string state_dir;
  status->add_option("--state-dir", state_dir, "read this state dir instead of the config's");
  CLI::App* buffered = app->add_subcommand(
      "buffered",
      "print the readings captured but not yet sealed, as JSON Lines; --db reads a database "
      "moved aside after a state loss");
  add_config(buffered);
  std::string buffered_db, buffered_device, buffered_source;
  buffered->add_option("--db", buffered_db,
                       "a buffer.db (default: the state dir's; e.g. corrupt-<ms>/buffer.db)");
  buffered->add_option("--device", buffered_device,
                       "the device name the lines carry (default: the config's)");
  buffered->add_option("--source", buffered_source, "only this source");
  CLI::App* flush = app->add_subcommand(
      "flush", "seal every open segment now (asks the running daemon, or works offline)");
  add_config(flush);
  std::string flush_timeout = "60s";
  flush->add_option("--timeout", flush_timeout, "how long to wait for the daemon (default 60s)");

  CLI::App* archive = app->add_subcommand(
      "archive", "the archived MQTT messages held locally (segments/ and the buffer)");
  archive->require_subcommand(1);
  CLI::App* archive_ls =
      archive->add_subcommand("ls", "per mqtt source: time range, topics, counts");
  add_config(archive_ls);
  CLI::App* archive_inspect = archive->add_subcommand("inspect", "print one message as JSON");
  add_config(archive_inspect);
  std::string inspect_id;
  archive_inspect->add_option("UUID", inspect_id, "the message's _id")->required();
  CLI::App* replay = app->add_subcommand(
      "replay", "republish archived messages to a broker, byte-exact and in order");
  add_config(replay);
  ReplayArgs replay_args;
  replay->add_option("--broker", replay_args.publish.broker_url, "mqtt://HOST[:PORT] or mqtts://");
  replay->add_option("--from", replay_args.from, "first receive time (2026-11-30T05:00:00Z or ms)");
  replay->add_option("--to", replay_args.to, "end of the range, exclusive");
  replay->add_option("--topic", replay_args.topic, "MQTT topic filter");
  replay->add_option("--device", replay_args.device,
                     "another device's segments (state dir or bucket)");
  replay->add_option("--source", replay_args.source, "one mqtt source");
  replay->add_option("--rate", replay_args.publish.rate,
                     "messages per second (default: as fast as "
                     "the broker takes them)");
  replay->add_option("--speed", replay_args.publish.speed,
                     "keep the recorded spacing, divided by X");
  replay->add_option("--ca", replay_args.publish.ca_file, "CA bundle for mqtts://");
  replay->add_option("--client-id", replay_args.publish.client_id, "MQTT client id");
  replay->add_flag("--no-retain", replay_args.publish.no_retain, "publish with retain off");
  replay->add_flag("--dry-run", replay_args.dry_run, "print what would be published");
  replay->add_flag("--s3", replay_args.s3,
                   "read the uploaded segments from the [upload] bucket, not the state dir");

  CLI::App* enroll = app->add_subcommand(
      "enroll", "fetch this device's S3 key from a receiver with a one-time token");
  add_config(enroll);
  EnrollOptions enroll_options;
  enroll->add_option("--receiver", enroll_options.receiver_url, "https://HOST[:PORT]")->required();
  enroll->add_option("--token", enroll_options.token, "from granary-receiver device add --enroll")
      ->required();
  enroll->add_option("--ca", enroll_options.ca_file, "CA certificate file (PEM) to trust");

  CLI::App* submit = app->add_subcommand(
      "submit",
      "put a report and its attachments into an outbox and print its UUID; exit 0 ok, "
      "65 invalid report or attachment name, 66 missing or unreadable file, 73 outbox full "
      "or not writable, 78 config error (docs/runs.md)");
  add_config(submit);
  SubmitArgs submit_args;
  submit->add_option("--outbox", submit_args.outbox, "the [[outbox]] (needed when several)");
  submit->add_option("--kind", submit_args.kind,
                     "the report's kind (default: its own, else the outbox's)");
  submit->add_option("--uuid", submit_args.uuid,
                     "the report's UUID (default: its own, else a new one)");
  submit->add_option("--margin", submit_args.margin,
                     "free space to leave on the outbox's filesystem (default 16MiB)");
  submit->add_option("REPORT", submit_args.report, "the report, one JSON object")->required();
  submit->add_option("--attach", submit_args.attach, "files to attach");

  try {
    app->parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    // --help and --version end here with 0; anything else is a usage error, exit 2.
    return app->exit(e) == 0 ? 0 : kExitUsage;
  }
  Env& env = ProcessEnv();
  if (enroll->parsed()) {  // before loading the config: it may not be complete yet
    enroll_options.config_path = config_path;
    return RunEnroll(enroll_options);
  }

  if (status->parsed() && !state_dir.empty()) {
    auto text = RenderStatus(env, state_dir, json);
    if (!text) {
      std::fprintf(stderr, "%s\n", text.error().message().c_str());
      return 1;
    }
    std::fputs(text->c_str(), stdout);
    return 0;
  }

  if (buffered->parsed() && !buffered_db.empty() && !buffered_device.empty()) {
    return CmdBuffered(env, buffered_db, buffered_device, buffered_source);
  }

  AgentConfig config = LoadOrExit(config_path);
  log::SetMaxLevel(config.log_level);
  if (check->parsed()) {
    std::fputs(RenderEffectiveConfig(config).c_str(), stdout);
    if (as_user.empty() && ::geteuid() == 0 && config_path == kSystemConfig &&
        ::getpwnam(kServiceUser) != nullptr) {
      as_user = kServiceUser;  // root reads anything; the daemon runs as granary
    }
    if (!as_user.empty()) {
      auto problems = CheckServiceAccess(config, as_user);
      if (!problems) {
        std::fprintf(stderr, "%s: %s\n", config.path.c_str(), problems.error().message().c_str());
        return kExitConfig;
      }
      for (const std::string& p : *problems) {
        std::fprintf(stderr, "%s: as user %s: %s\n", config.path.c_str(), as_user.c_str(),
                     p.c_str());
      }
      if (!problems->empty()) return kExitConfig;
    }
    std::fprintf(stderr, "%s: OK (%zu sources)%s\n", config.path.c_str(), config.sources.size(),
                 as_user.empty() ? "" : (" and readable by " + as_user).c_str());
    return 0;
  }
  if (poll->parsed()) return CmdPoll(config, source_name);
  if (submit->parsed()) return CmdSubmit(config, submit_args);
  if (archive_ls->parsed()) return CmdArchiveLs(env, config);
  if (archive_inspect->parsed()) return CmdArchiveInspect(env, config, inspect_id);
  if (replay->parsed()) return CmdReplay(env, config, replay_args);
  if (buffered->parsed()) {
    return CmdBuffered(env, buffered_db.empty() ? BufferDbPath(config.state_dir) : buffered_db,
                       buffered_device.empty() ? config.device : buffered_device, buffered_source);
  }
  if (status->parsed()) {
    auto text = RenderStatus(env, config.state_dir, json);
    if (!text) {
      std::fprintf(stderr, "%s\n", text.error().message().c_str());
      return 1;
    }
    std::fputs(text->c_str(), stdout);
    return 0;
  }
  if (flush->parsed()) {
    auto timeout = ParseDuration(flush_timeout);
    if (!timeout) {
      std::fprintf(stderr, "--timeout: %s\n", timeout.error().message().c_str());
      return kExitUsage;
    }
    return CmdFlush(env, config, *timeout);
  }
  app.reset();  // the subcommand pointers above dangle from here on
  // run: signals must be blocked before any thread starts.
  BlockControlSignals();
  ReleaseImplicitGnutls();
  curl_global_init(CURL_GLOBAL_DEFAULT);
  int rc = RunDaemon(env, std::move(config));
  curl_global_cleanup();
  return rc;
}

}  // namespace
}  // namespace granary

int main(int argc, char** argv) {
  granary::TuneMalloc();
  // Threads reach 12-20 KiB of stack in a Release build (docs/benchmarks.md measures
  // each); sanitizer builds use two to three times that, and libcurl's resolver more.
  granary::BoundThreadStacks(512 << 10);
  // A SIGTERM that arrives while `run` is still loading its config must be a clean stop,
  // not death by the default action: block it from the first instruction.
  if (argc > 1 && std::string_view(argv[1]) == "run") granary::BlockControlSignals();
  return granary::Main(argc, argv);
}
