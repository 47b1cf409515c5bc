// The health-reporting pieces that need no broker: reconnect backoff, topics and the last
// will, events derived from status changes, Prometheus text, the local /metrics server,
// the watchdog's progress test, [mqtt]/[metrics] config, and a publisher with no broker.
#include <curl/curl.h>
#include <gtest/gtest.h>
#include <sys/stat.h>

#include <atomic>
#include <fstream>
#include <thread>

#include "agent/config_sections.h"
#include "agent/health.h"
#include "agent/metrics.h"
#include "agent/metrics_server.h"
#include "agent/mqtt_publisher.h"
#include "agent/status_events.h"
#include "agent/watchdog.h"
#include "platform/handles.h"
#include "tests/support/test_util.h"

namespace granary {
namespace {

using namespace std::chrono_literals;
using std::chrono::milliseconds;

TEST(ReconnectDelay, DoublesUpToTheCapWithJitterInTheUpperHalf) {
  EXPECT_EQ(ReconnectDelay(0, 1000ms, 60'000ms, 0.0), 500ms);
  EXPECT_EQ(ReconnectDelay(0, 1000ms, 60'000ms, 0.999999), 999ms);
  EXPECT_EQ(ReconnectDelay(3, 1000ms, 60'000ms, 0.0), 4000ms);
  EXPECT_EQ(ReconnectDelay(6, 1000ms, 60'000ms, 0.0), 30'000ms);     // 64 s capped to 60 s
  EXPECT_EQ(ReconnectDelay(1000, 1000ms, 60'000ms, 0.5), 45'000ms);  // no overflow
}

TEST(MqttTopics, PrefixDeviceAndKind) {
  MqttConfig c;
  c.prefix = "fleet/eu";
  EXPECT_EQ(StatusTopic(c, "h017"), "fleet/eu/h017/status");
  EXPECT_EQ(EventsTopic(c, "h017"), "fleet/eu/h017/events");
  std::string will = OfflineStatusJson("h017");
  EXPECT_NE(will.find("\"state\":\"offline\""), std::string::npos) << will;
  EXPECT_NE(will.find("\"device\":\"h017\""), std::string::npos) << will;
}

AgentStatus BaseStatus() {
  AgentStatus s;
  s.device = "h017";
  s.state = "running";
  SourceStats meter;
  meter.name = "meter";
  meter.type = "http_json";
  s.sources.push_back(meter);
  return s;
}

TEST(StatusEvents, NoneWhenNothingChanged) {
  AgentStatus s = BaseStatus();
  EXPECT_TRUE(StatusEvents(s, s, 1).empty());
}

TEST(StatusEvents, RunDecrease) {
  AgentStatus a = BaseStatus();
  a.runs.push_back(RunWatcherStats{"merlin", 4, 0, "", {RunInstrumentStats{"MERLIN", 15, 15}}});
  AgentStatus b = a;
  RunInstrumentStats& i = b.runs[0].instruments[0];
  i.last_seen = 12;
  i.decreases = 1;
  i.last_decrease_from = 15;
  i.last_decrease_to = 12;
  std::vector<std::string> events = StatusEvents(a, b, 1234);
  ASSERT_EQ(events.size(), 1u);
  EXPECT_NE(events[0].find(R"("type":"run_decrease","watcher":"merlin","instrument":"MERLIN",)"
                           R"("from":15,"to":12,"last_submitted":15})"),
            std::string::npos)
      << events[0];
  EXPECT_TRUE(StatusEvents(b, b, 1235).empty());
}

TEST(StatusEvents, UploadsDropsErrorsRecoveriesAndPause) {
  AgentStatus a = BaseStatus();
  AgentStatus b = a;
  b.buffer.segments_uploaded = 2;
  b.buffer.segments_dropped = 1;
  b.buffer.dropped_readings = 600;
  b.buffer.rejected = 7;
  b.sources[0].consecutive_failures = kFailingPolls;
  b.sources[0].last_error = "GET http://x: timeout";
  b.buffer.paused = true;
  std::vector<std::string> events = StatusEvents(a, b, 1234);
  ASSERT_EQ(events.size(), 5u);
  EXPECT_EQ(events[0],
            R"({"device":"h017","ts":1234,"type":"upload","segments":2,"segments_uploaded":2})");
  EXPECT_EQ(
      events[1],
      R"({"device":"h017","ts":1234,"type":"drop","reason":"quota","segments":1,"readings":600})");
  EXPECT_EQ(events[2],
            R"({"device":"h017","ts":1234,"type":"drop","reason":"queue_full","readings":7})");
  EXPECT_EQ(
      events[3],
      R"({"device":"h017","ts":1234,"type":"error","source":"meter","consecutive_failures":3,"message":"GET http://x: timeout"})");
  EXPECT_EQ(events[4], R"({"device":"h017","ts":1234,"type":"paused","reason":"quota"})");

  // Still failing: no second error event. Recovered: one event.
  AgentStatus c = b;
  c.sources[0].consecutive_failures = 9;
  EXPECT_TRUE(StatusEvents(b, c, 1).empty());
  AgentStatus d = c;
  d.sources[0].consecutive_failures = 0;
  d.buffer.paused = false;
  events = StatusEvents(c, d, 5);
  ASSERT_EQ(events.size(), 2u);
  EXPECT_EQ(events[0], R"({"device":"h017","ts":5,"type":"recovered","source":"meter"})");
  EXPECT_EQ(events[1], R"({"device":"h017","ts":5,"type":"resumed","reason":"quota"})");
}

TEST(StatusEvents, OutboxRejectionsAndQuotaWaits) {
  AgentStatus a = BaseStatus();
  OutboxStatus box;
  box.name = "jobs";
  a.outbox.push_back(box);
  AgentStatus b = a;
  b.outbox[0].rejected = 1;
  b.outbox[0].last_rejection = "/box/bad.json: not valid JSON";
  b.outbox[0].waiting_quota = 2;
  std::vector<std::string> events = StatusEvents(a, b, 1234);
  ASSERT_EQ(events.size(), 2u);
  EXPECT_EQ(
      events[0],
      R"({"device":"h017","ts":1234,"type":"outbox_rejected","outbox":"jobs","entries":1,"message":"/box/bad.json: not valid JSON"})");
  EXPECT_EQ(events[1],
            R"({"device":"h017","ts":1234,"type":"paused","reason":"quota","outbox":"jobs"})");
  b.outbox[0].waiting_quota = 0;
  events = StatusEvents(a, b, 1234);
  ASSERT_EQ(events.size(), 1u);  // rejected still counts against `a`
  AgentStatus c = b;
  c.outbox[0].waiting_quota = 1;
  events = StatusEvents(c, b, 1234);
  ASSERT_EQ(events.size(), 1u);
  EXPECT_EQ(events[0],
            R"({"device":"h017","ts":1234,"type":"resumed","reason":"quota","outbox":"jobs"})");
}

TEST(Metrics, TextHasHelpTypeAndLabelledSamples) {
  AgentStatus s = BaseStatus();
  s.sources[0].polls = 42;
  s.sources[0].name = "me\"ter";
  s.buffer.captured = 1000;
  s.buffer.last_seq["meter"] = 999;
  s.started_ms = 1'700'000'000'500;
  MqttStats mqtt;
  mqtt.connected = true;
  mqtt.connects = 3;
  std::string text = PrometheusText(s, &mqtt);
  EXPECT_NE(text.find("# TYPE granary_source_polls_total counter\n"), std::string::npos);
  EXPECT_NE(text.find("granary_source_polls_total{source=\"me\\\"ter\"} 42\n"), std::string::npos)
      << text;
  EXPECT_NE(text.find("granary_state{state=\"running\"} 1\n"), std::string::npos);
  EXPECT_NE(text.find("granary_state{state=\"degraded\"} 0\n"), std::string::npos);
  EXPECT_NE(text.find("granary_buffer_captured_total 1000\n"), std::string::npos);
  EXPECT_NE(text.find("granary_source_last_seq{source=\"meter\"} 999\n"), std::string::npos);
  EXPECT_NE(text.find("granary_start_time_seconds 1700000000.5\n"), std::string::npos);
  EXPECT_NE(text.find("granary_mqtt_connected 1\n"), std::string::npos);
  EXPECT_NE(text.find("granary_mqtt_connects_total 3\n"), std::string::npos);
  EXPECT_EQ(PrometheusText(s, nullptr).find("mqtt"), std::string::npos);
  EXPECT_EQ(text.find("outbox"), std::string::npos);
  OutboxStatus box;
  box.name = "jobs";
  box.taken = 7;
  box.waiting_quota = 1;
  box.kinds.push_back({"error", 2, 300, 5, 0});
  s.outbox.push_back(box);
  const std::string with_outbox = PrometheusText(s, nullptr);
  EXPECT_NE(with_outbox.find("granary_outbox_taken_total{outbox=\"jobs\"} 7\n"), std::string::npos)
      << with_outbox;
  EXPECT_NE(with_outbox.find("granary_outbox_waiting_quota{outbox=\"jobs\"} 1\n"),
            std::string::npos);
  EXPECT_NE(with_outbox.find("granary_outbox_pending{outbox=\"jobs\",kind=\"error\"} 2\n"),
            std::string::npos);
  EXPECT_NE(with_outbox.find("granary_outbox_pending_bytes{outbox=\"jobs\",kind=\"error\"} 300\n"),
            std::string::npos);
  EXPECT_EQ(with_outbox.find("granary_runs_"), std::string::npos);
  RunWatcherStats runs;
  runs.name = "merlin";
  runs.submitted = 4;
  runs.missing = 1;
  runs.error = "cannot read lastruns.txt";
  RunInstrumentStats merlin;
  merlin.instrument = "MERLIN";
  merlin.last_seen = 14;
  merlin.last_submitted = 13;
  merlin.pending = 1;
  merlin.decreases = 2;
  runs.instruments.push_back(merlin);
  s.runs.push_back(runs);
  const std::string with_runs = PrometheusText(s, nullptr);
  for (const char* line :
       {"granary_runs_submitted_total{watcher=\"merlin\"} 4\n",
        "granary_runs_missing_files_total{watcher=\"merlin\"} 1\n",
        "granary_runs_watcher_error{watcher=\"merlin\"} 1\n",
        "granary_runs_last_seen{watcher=\"merlin\",instrument=\"MERLIN\"} 14\n",
        "granary_runs_last_submitted{watcher=\"merlin\",instrument=\"MERLIN\"} 13\n",
        "granary_runs_pending{watcher=\"merlin\",instrument=\"MERLIN\"} 1\n",
        "granary_runs_decreases_total{watcher=\"merlin\",instrument=\"MERLIN\"} 2\n"}) {
    EXPECT_NE(with_runs.find(line), std::string::npos) << line << with_runs;
  }
  // Every line is a comment or "name[{labels}] value".
  size_t start = 0;
  while (start < text.size()) {
    size_t nl = text.find('\n', start);
    ASSERT_NE(nl, std::string::npos);
    std::string line = text.substr(start, nl - start);
    EXPECT_TRUE(line.rfind("# HELP granary_", 0) == 0 || line.rfind("# TYPE granary_", 0) == 0 ||
                line.rfind("granary_", 0) == 0)
        << line;
    start = nl + 1;
  }
}

size_t Collect(char* data, size_t size, size_t n, void* out) {
  static_cast<std::string*>(out)->append(data, size * n);
  return size * n;
}

// GET on loopback; the HTTP status, the body in `body`.
long Get(const std::string& url, std::string* body) {
  CurlEasy curl(curl_easy_init());
  curl_easy_setopt(curl.get(), CURLOPT_URL, url.c_str());
  curl_easy_setopt(curl.get(), CURLOPT_WRITEFUNCTION, Collect);
  curl_easy_setopt(curl.get(), CURLOPT_WRITEDATA, body);
  curl_easy_setopt(curl.get(), CURLOPT_TIMEOUT_MS, 5000L);
  if (curl_easy_perform(curl.get()) != CURLE_OK) return 0;
  long code = 0;
  curl_easy_getinfo(curl.get(), CURLINFO_RESPONSE_CODE, &code);
  return code;
}

TEST(MetricsServer, ServesTheLatestTextOnLoopback) {
  auto server = MetricsServer::Start(0);
  ASSERT_TRUE(server.ok()) << server.error().message();
  int port = (*server)->port();
  ASSERT_GT(port, 0);
  (*server)->Set("granary_up 1\n");
  std::string body;
  EXPECT_EQ(Get("http://127.0.0.1:" + std::to_string(port) + "/metrics", &body), 200);
  EXPECT_EQ(body, "granary_up 1\n");
  (*server)->Set("granary_up 2\n");
  body.clear();
  EXPECT_EQ(Get("http://127.0.0.1:" + std::to_string(port) + "/metrics", &body), 200);
  EXPECT_EQ(body, "granary_up 2\n");
  body.clear();
  EXPECT_EQ(Get("http://127.0.0.1:" + std::to_string(port) + "/other", &body), 404);
  // The same port twice: the second cannot listen.
  EXPECT_FALSE(MetricsServer::Start(port).ok());
}

// The text is made when a scraper asks, once per request, not when the status is taken.
TEST(MetricsServer, RendersTheTextWhenAsked) {
  auto server = MetricsServer::Start(0);
  ASSERT_TRUE(server.ok()) << server.error().message();
  const std::string url = "http://127.0.0.1:" + std::to_string((*server)->port()) + "/metrics";
  std::atomic<int> renders{0};
  (*server)->Set([&renders] { return "granary_renders " + std::to_string(++renders) + "\n"; });
  EXPECT_EQ(renders.load(), 0);
  std::string body;
  EXPECT_EQ(Get(url, &body), 200);
  EXPECT_EQ(body, "granary_renders 1\n");
  body.clear();
  EXPECT_EQ(Get(url, &body), 200);
  EXPECT_EQ(body, "granary_renders 2\n");
  (*server).reset();  // stops the server before `renders` goes
}

TEST(Watchdog, ProgressMustBeWithinTheLongestIntervalPlusTimeoutPlusSlack) {
  std::vector<SourceConfig> sources(2);
  sources[0].interval = 1s;
  sources[0].timeout = 1s;
  sources[1].interval = 60s;
  sources[1].timeout = 5s;
  auto deadline = ProgressDeadline(sources);
  EXPECT_EQ(deadline, 70s);
  const int64_t s = 1'000'000'000;
  EXPECT_TRUE(ProgressIsRecent(100 * s, 31 * s, deadline));
  EXPECT_FALSE(ProgressIsRecent(100 * s, 29 * s, deadline));
  EXPECT_EQ(ProgressDeadline({}), 0ns);
  EXPECT_TRUE(ProgressIsRecent(1000 * s, 0, ProgressDeadline({})));
}

// [mqtt] and [metrics] read through a ConfigReader, as config.cpp does.
class MonitorConfigTest : public ::testing::Test {
 protected:
  std::vector<std::string> Read(const std::string& text, MqttConfig& mqtt, MetricsConfig& metrics) {
    table_ = toml::parse(std::string_view(text), std::string_view("granary.toml"));
    auto diag = std::make_shared<ConfigDiagnostics>();
    diag->file = "granary.toml";
    ConfigReader root(diag, table_, "");
    config_detail::ReadMqtt(root, "h017", mqtt);
    config_detail::ReadMetrics(root, "/var/lib/granary", metrics);
    return diag->errors;
  }
  std::string WriteSecret(const std::string& content, mode_t mode) {
    std::string path = dir_.path() + "/mqtt.password";
    std::ofstream(path, std::ios::trunc) << content;
    ::chmod(path.c_str(), mode);
    return path;
  }
  testing::TempDir dir_;
  toml::table table_;
};

TEST_F(MonitorConfigTest, AbsentSectionsMeanNoMqttAndTheDefaultTextfile) {
  MqttConfig mqtt;
  MetricsConfig metrics;
  EXPECT_TRUE(Read("", mqtt, metrics).empty());
  EXPECT_FALSE(mqtt.enabled);
  EXPECT_EQ(metrics.textfile, "/var/lib/granary/metrics.prom");
  EXPECT_EQ(metrics.listen_port, 0);
}

TEST_F(MonitorConfigTest, FullSection) {
  std::string secret = WriteSecret("s3cret\n", 0600);
  MqttConfig m;
  MetricsConfig metrics;
  auto errors = Read(
      "[mqtt]\nhost = \"broker\"\nprefix = \"fleet/eu\"\nusername = \"h017\"\n"
      "password_file = \"" +
          secret +
          "\"\nkeepalive = \"30s\"\n"
          "[metrics]\ntextfile = \"\"\nlisten_port = 9469\n",
      m, metrics);
  EXPECT_TRUE(errors.empty()) << errors.front();
  EXPECT_TRUE(m.enabled);
  EXPECT_EQ(m.host, "broker");
  EXPECT_EQ(m.EffectivePort(), 1883);
  EXPECT_EQ(m.prefix, "fleet/eu");
  EXPECT_EQ(m.client_id, "granary-h017");
  EXPECT_EQ(m.password, "s3cret");
  EXPECT_EQ(m.keepalive, 30s);
  EXPECT_EQ(metrics.textfile, "");
  EXPECT_EQ(metrics.listen_port, 9469);
  std::string rendered = config_detail::RenderMqtt(m);
  EXPECT_EQ(rendered.find("s3cret"), std::string::npos) << rendered;
  EXPECT_NE(rendered.find("password_file = "), std::string::npos);
}

TEST_F(MonitorConfigTest, PasswordFileReadableByOthersIsRefused) {
  std::string secret = WriteSecret("s3cret", 0644);
  MqttConfig m;
  MetricsConfig metrics;
  auto errors =
      Read("[mqtt]\nusername = \"h017\"\npassword_file = \"" + secret + "\"\n", m, metrics);
  ASSERT_EQ(errors.size(), 1u);
  EXPECT_EQ(errors[0], "granary.toml:3: mqtt.password_file: password file " + secret +
                           " has mode 0644; it must be 0600 or 0400 (chmod 600 " + secret + ")");
  EXPECT_EQ(errors[0].find("s3cret"), std::string::npos);
}

TEST_F(MonitorConfigTest, BadValuesAreReportedByKey) {
  MqttConfig m;
  MetricsConfig metrics;
  auto errors = Read(
      "[mqtt]\nprefix = \"a/#\"\ncert_file = \"/nonexistent/c.pem\"\n"
      "reconnect_min = \"10s\"\nreconnect_max = \"1s\"\nbogus = 1\n",
      m, metrics);
  ASSERT_EQ(errors.size(), 6u) << ::testing::PrintToString(errors);
  EXPECT_EQ(errors[0], "granary.toml:2: mqtt.prefix: must not contain + or # (got \"a/#\")");
  EXPECT_EQ(errors[1], "granary.toml:5: mqtt.reconnect_max: must be at least reconnect_min, 10s");
  EXPECT_EQ(
      errors[2],
      "granary.toml:3: mqtt.cert_file: cannot read /nonexistent/c.pem: No such file or directory");
  EXPECT_EQ(errors[3], "granary.toml:3: mqtt.cert_file: cert_file and key_file go together");
  EXPECT_EQ(errors[4],
            "granary.toml:3: mqtt.cert_file: a client certificate needs TLS: set ca_file too");
  EXPECT_EQ(errors[5], "granary.toml:6: mqtt.bogus: unknown key");
}

TEST(MqttPublisher, NoBrokerMeansAnErrorInStatsAndAPromptStop) {
  MqttConfig c;
  c.enabled = true;
  c.host = "127.0.0.1";
  c.port = 1;  // nothing listens on port 1 of loopback
  c.reconnect_min = 100ms;
  c.reconnect_max = 200ms;
  c.event_queue = 2;
  MqttPublisher publisher(Env::Default(), c, "h017");
  publisher.PublishStatus("{\"state\":\"running\"}");
  for (int i = 0; i < 3; ++i) publisher.PublishEvent("{\"n\":" + std::to_string(i) + "}");
  MqttStats stats;
  for (int i = 0; i < 100 && stats.connect_failures < 2; ++i) {
    std::this_thread::sleep_for(50ms);
    stats = publisher.Stats();
  }
  EXPECT_FALSE(stats.connected);
  EXPECT_GE(stats.connect_failures, 2u);
  EXPECT_EQ(stats.last_error, "mqtt 127.0.0.1:1: Connection refused");
  EXPECT_EQ(stats.events_dropped, 1u);
  auto t0 = std::chrono::steady_clock::now();
  publisher.Stop("{\"state\":\"stopped\"}", 1000ms);
  EXPECT_LT(std::chrono::steady_clock::now() - t0, 1500ms);
}

}  // namespace
}  // namespace granary
