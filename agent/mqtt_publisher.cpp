#include "agent/mqtt_publisher.h"

#include <cjson/cJSON.h>
#include <fmt/format.h>

#include <algorithm>
#include <cerrno>
#include <condition_variable>
#include <cstring>
#include <deque>
#include <mutex>
#include <random>
#include <thread>

#include "platform/handles.h"
#include "platform/handles_mosquitto.h"
#include "platform/log.h"
#include "platform/process.h"

namespace granary {

using std::chrono::milliseconds;

namespace {

constexpr int kQos = 1;
// Broker acknowledgements remembered for Stop(), which waits for one of them.
constexpr size_t kAckedMidsKept = 64;

void LibraryInitOnce() {
  static std::once_flag once;
  std::call_once(once, [] { mosquitto_lib_init(); });
}

}  // namespace

milliseconds ReconnectDelay(int attempt, milliseconds min, milliseconds max, double random01) {
  milliseconds cap = min;
  for (int i = 0; i < attempt && cap < max; ++i) cap *= 2;
  cap = std::min(cap, max);
  auto half = cap.count() / 2;
  return milliseconds{half +
                      static_cast<int64_t>(random01 * static_cast<double>(cap.count() - half))};
}

std::string StatusTopic(const MqttConfig& c, const std::string& device) {
  return c.prefix + "/" + device + "/status";
}

std::string EventsTopic(const MqttConfig& c, const std::string& device) {
  return c.prefix + "/" + device + "/events";
}

std::string OfflineStatusJson(const std::string& device) {
  CjsonPtr o(cJSON_CreateObject());
  cJSON_AddStringToObject(o.get(), "device", device.c_str());
  cJSON_AddStringToObject(o.get(), "version", GRANARY_VERSION);
  cJSON_AddStringToObject(o.get(), "state", "offline");
  CjsonString text(cJSON_PrintUnformatted(o.get()));
  return text.get();
}

struct MqttPublisher::Impl {
  Impl(Env& e, MqttConfig c, std::string d)
      : env(e), config(std::move(c)), device(std::move(d)), random(std::random_device{}()) {
    broker = fmt::format("{}:{}", config.host, config.EffectivePort());
    status_topic = StatusTopic(config, device);
    events_topic = EventsTopic(config, device);
    if (config.client_id.empty()) config.client_id = "granary-" + device;
  }

  Env& env;
  MqttConfig config;
  std::string device;
  std::string broker;  // host:port, for messages
  std::string status_topic;
  std::string events_topic;
  MosquittoPtr mosq;
  std::thread thread;
  std::mt19937_64 random;  // network thread only

  // Held across taking a snapshot and handing it to mosquitto_publish, so an older status
  // never overtakes a newer one. Taken before `mu`, never after.
  std::mutex publish_mu;
  mutable std::mutex mu;  // guards everything below
  std::condition_variable cv;
  bool stopping = false;  // Stop() began: no reconnect from here on
  bool abort = false;     // Stop() gave up waiting for a clean disconnect
  bool stopped = false;
  bool refused = false;  // this attempt's CONNACK refused us; its reason is the error
  std::string status;
  std::deque<std::string> events;
  std::deque<int> acked_mids;
  MqttStats stats;
  std::string library_error;  // the library's last error log line, to explain a failure
  std::string logged_error;   // the last failure logged: a broker down all day logs once

  // REQUIRES: mu held.
  void RecordFailure(std::string why) {
    if (!library_error.empty()) {
      why += ": " + library_error;
      library_error.clear();
    }
    ++stats.connect_failures;
    stats.last_error = fmt::format("mqtt {}: {}", broker, why);
    stats.last_error_ms = env.WallNowMs();
  }

  // Publishes through the library. REQUIRES: publish_mu held, mu not held.
  bool Send(const std::string& topic, const std::string& payload, bool retain, int* mid) {
    int rc = mosquitto_publish(mosq.get(), mid, topic.c_str(), static_cast<int>(payload.size()),
                               payload.data(), kQos, retain);
    return rc == MOSQ_ERR_SUCCESS;
  }

  // On the network thread, once the broker accepted the session: the current status and
  // every waiting event go out.
  void OnConnected() {
    std::lock_guard<std::mutex> publishing(publish_mu);
    std::string current;
    std::deque<std::string> waiting;
    {
      std::lock_guard<std::mutex> lock(mu);
      stats.connected = true;
      ++stats.connects;
      stats.last_connect_ms = env.WallNowMs();
      logged_error.clear();
      current = status;
      waiting.swap(events);
    }
    log::Notice("mqtt: connected to {} as {}", broker, config.client_id);
    uint64_t sent_status = 0, sent_events = 0;
    if (!current.empty() && Send(status_topic, current, /*retain=*/true, nullptr)) sent_status = 1;
    while (!waiting.empty() && Send(events_topic, waiting.front(), false, nullptr)) {
      waiting.pop_front();
      ++sent_events;
    }
    std::lock_guard<std::mutex> lock(mu);
    stats.status_published += sent_status;
    stats.events_published += sent_events;
    // Whatever did not go out waits for the next session, ahead of newer events.
    for (auto it = waiting.rbegin(); it != waiting.rend(); ++it) events.push_front(std::move(*it));
  }

  static void HandleConnect(mosquitto*, void* obj, int rc) {
    auto* self = static_cast<Impl*>(obj);
    if (rc == 0) {
      self->OnConnected();
      return;
    }
    std::lock_guard<std::mutex> lock(self->mu);
    self->refused = true;
    self->RecordFailure(
        fmt::format("broker refused the connection: {}", mosquitto_connack_string(rc)));
  }

  static void HandleDisconnect(mosquitto*, void* obj, int) {
    auto* self = static_cast<Impl*>(obj);
    std::lock_guard<std::mutex> lock(self->mu);
    self->stats.connected = false;
    self->cv.notify_all();
  }

  static void HandlePublish(mosquitto*, void* obj, int mid) {
    auto* self = static_cast<Impl*>(obj);
    std::lock_guard<std::mutex> lock(self->mu);
    self->acked_mids.push_back(mid);
    if (self->acked_mids.size() > kAckedMidsKept) self->acked_mids.pop_front();
    self->cv.notify_all();
  }

  static void HandleLog(mosquitto*, void* obj, int level, const char* line) {
    if (level != MOSQ_LOG_ERR) return;
    auto* self = static_cast<Impl*>(obj);
    std::lock_guard<std::mutex> lock(self->mu);
    self->library_error = line;
  }

  // Creates and configures the client; the error, or "". Takes no lock: the library may
  // log (HandleLog takes mu) from inside these calls.
  std::string Setup() {
    LibraryInitOnce();
    mosq.reset(mosquitto_new(config.client_id.c_str(), /*clean_session=*/false, this));
    if (!mosq) return fmt::format("cannot create the client: {}", std::strerror(errno));
    mosquitto_threaded_set(mosq.get(), true);
    mosquitto_int_option(mosq.get(), MOSQ_OPT_PROTOCOL_VERSION, MQTT_PROTOCOL_V311);
    mosquitto_connect_callback_set(mosq.get(), HandleConnect);
    mosquitto_disconnect_callback_set(mosq.get(), HandleDisconnect);
    mosquitto_publish_callback_set(mosq.get(), HandlePublish);
    mosquitto_log_callback_set(mosq.get(), HandleLog);
    std::string will = OfflineStatusJson(device);
    int rc = mosquitto_will_set(mosq.get(), status_topic.c_str(), static_cast<int>(will.size()),
                                will.data(), kQos, /*retain=*/true);
    if (rc != MOSQ_ERR_SUCCESS) {
      return fmt::format("last will on {}: {}", status_topic, mosquitto_strerror(rc));
    }
    if (!config.username.empty()) {
      rc = mosquitto_username_pw_set(
          mosq.get(), config.username.c_str(),
          config.password_file.empty() ? nullptr : config.password.c_str());
      if (rc != MOSQ_ERR_SUCCESS) {
        return fmt::format("username: {}", mosquitto_strerror(rc));
      }
    }
    if (config.tls()) {
      rc = mosquitto_tls_set(mosq.get(), config.ca_file.c_str(), nullptr,
                             config.cert_file.empty() ? nullptr : config.cert_file.c_str(),
                             config.key_file.empty() ? nullptr : config.key_file.c_str(), nullptr);
      if (rc != MOSQ_ERR_SUCCESS) {
        return fmt::format("TLS files (ca {}, cert {}, key {}): {}", config.ca_file,
                           config.cert_file, config.key_file, DescribeMosquittoError(rc));
      }
    }
    return "";
  }

  // The network thread: connect, run the session until it fails, wait, again.
  void Run() {
    int attempt = 0;
    for (;;) {
      {
        std::lock_guard<std::mutex> lock(mu);
        if (stopping) return;
        refused = false;
      }
      uint64_t connects_before = Stats().connects;
      int rc = mosquitto_connect_async(mosq.get(), config.host.c_str(), config.EffectivePort(),
                                       static_cast<int>(config.keepalive.count()));
      // Asleep until the socket has something, a publish or disconnect from another thread
      // wakes the library's socket pair, or the keepalive is due (mosquitto_loop shortens
      // the wait to its next PINGREQ itself): no wakeup while nothing happens.
      const int wait_ms = static_cast<int>(std::chrono::milliseconds(config.keepalive).count());
      while (rc == MOSQ_ERR_SUCCESS) {
        rc = mosquitto_loop(mosq.get(), wait_ms, 1);
        std::lock_guard<std::mutex> lock(mu);
        if (abort || (stopping && !stats.connected)) return;
      }
      std::string why = DescribeMosquittoError(rc);
      std::unique_lock<std::mutex> lock(mu);
      stats.connected = false;
      if (stopping) return;
      if (stats.connects > connects_before) attempt = 0;  // a session was up: start over
      if (!refused) RecordFailure(why);
      milliseconds delay = ReconnectDelay(attempt++, config.reconnect_min, config.reconnect_max,
                                          std::uniform_real_distribution<double>(0.0, 1.0)(random));
      if (stats.last_error != logged_error) {
        logged_error = stats.last_error;
        log::Warning("{}; retrying in {} ms (and quietly after that until it connects)",
                     stats.last_error, delay.count());
      }
      cv.wait_for(lock, delay, [this] { return stopping; });
    }
  }

  MqttStats Stats() const {
    std::lock_guard<std::mutex> lock(mu);
    return stats;
  }
};

MqttPublisher::MqttPublisher(Env& env, MqttConfig config, std::string device)
    : impl_(std::make_unique<Impl>(env, std::move(config), std::move(device))) {
  std::string error = impl_->Setup();
  if (error.empty()) {
    impl_->thread = std::thread([this] {
      NameThisThread("mqtt");
      impl_->Run();
    });
    return;
  }
  std::lock_guard<std::mutex> lock(impl_->mu);
  impl_->library_error.clear();
  impl_->RecordFailure(error);
  log::Error("{}", impl_->stats.last_error);
}

MqttPublisher::~MqttPublisher() {
  std::string last;
  {
    std::lock_guard<std::mutex> lock(impl_->mu);
    last = impl_->status;
  }
  Stop(std::move(last), milliseconds{1000});
}

void MqttPublisher::PublishStatus(std::string json, bool now) {
  Impl& m = *impl_;
  std::lock_guard<std::mutex> publishing(m.publish_mu);
  bool connected;
  {
    std::lock_guard<std::mutex> lock(m.mu);
    m.status = json;
    connected = m.stats.connected && !m.stopped;
  }
  if (now && connected && m.Send(m.status_topic, json, /*retain=*/true, nullptr)) {
    std::lock_guard<std::mutex> lock(m.mu);
    ++m.stats.status_published;
  }
}

void MqttPublisher::PublishEvent(std::string json) {
  Impl& m = *impl_;
  std::lock_guard<std::mutex> publishing(m.publish_mu);
  {
    std::lock_guard<std::mutex> lock(m.mu);
    if (!m.stats.connected || m.stopped) {
      if (m.events.size() >= m.config.event_queue) {
        m.events.pop_front();
        ++m.stats.events_dropped;
      }
      m.events.push_back(std::move(json));
      return;
    }
  }
  bool sent = m.Send(m.events_topic, json, /*retain=*/false, nullptr);
  std::lock_guard<std::mutex> lock(m.mu);
  if (sent) {
    ++m.stats.events_published;
  } else {
    m.events.push_back(std::move(json));  // the session just died: the next one sends it
  }
}

void MqttPublisher::Stop(std::string final_status, milliseconds wait) {
  Impl& m = *impl_;
  auto deadline = std::chrono::steady_clock::now() + wait;
  {
    std::lock_guard<std::mutex> publishing(m.publish_mu);
    int mid = -1;
    bool connected;
    {
      std::lock_guard<std::mutex> lock(m.mu);
      if (m.stopped) return;
      m.stopped = true;
      m.stopping = true;
      m.status = final_status;
      connected = m.stats.connected;
      m.cv.notify_all();
    }
    if (connected && m.Send(m.status_topic, final_status, /*retain=*/true, &mid)) {
      std::unique_lock<std::mutex> lock(m.mu);
      ++m.stats.status_published;
      m.cv.wait_until(lock, deadline, [&] {
        return !m.stats.connected ||
               std::find(m.acked_mids.begin(), m.acked_mids.end(), mid) != m.acked_mids.end();
      });
    }
    // A clean DISCONNECT: the broker discards the last will.
    if (connected) mosquitto_disconnect(m.mosq.get());
  }
  if (!m.thread.joinable()) return;
  {
    std::unique_lock<std::mutex> lock(m.mu);
    m.cv.wait_until(lock, deadline + milliseconds{500}, [&] { return !m.stats.connected; });
    m.abort = true;
  }
  // Queuing a DISCONNECT writes the library's socket pair, which ends a loop still waiting
  // (for a connect under way, or a broker that stopped reading) before its keepalive.
  mosquitto_disconnect(m.mosq.get());
  m.thread.join();
}

MqttStats MqttPublisher::Stats() const { return impl_->Stats(); }

}  // namespace granary
