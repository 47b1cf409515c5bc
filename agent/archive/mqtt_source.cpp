#include "agent/archive/mqtt_source.h"

#include <fmt/format.h>
#include <mosquitto.h>
#include <mqtt_protocol.h>
#include <poll.h>

#include <algorithm>
#include <cerrno>
#include <condition_variable>
#include <cstring>
#include <mutex>
#include <optional>
#include <random>
#include <thread>

#include "agent/archive/known_ids.h"
#include "agent/archive/redeliveries.h"
#include "archive/message.h"
#include "archive/segment_reader.h"
#include "platform/handles_mosquitto.h"
#include "platform/log.h"
#include "storage/segment_file.h"

namespace granary {
namespace {

using std::chrono::milliseconds;

// How long one poll(2) waits; bounds how late the thread sees Stop().
constexpr int kPollMs = 250;
// Messages read before the commit that releases their acknowledgements. The broker's
// in-flight window (max_inflight_messages, 20 by default) is usually smaller.
constexpr uint64_t kMaxPass = 1000;
// How long Stop() waits for the writer to commit what was read before it closes the
// connection without acknowledging it (the broker then delivers it again).
constexpr milliseconds kStopCommitWait{3000};
constexpr uint32_t kMaxDocumentBytes = 16U << 20;  // BSON's own limit
constexpr uint64_t kMaxSegmentRawBytes = 1ULL << 40;
// The document's first fields are _id (binary, 16 bytes) and seq (int64): the seq's value
// starts at 4 (length) + 1+4+4+1+16 (_id) + 1+4 (type and name "seq").
constexpr size_t kSeqOffset = 35;

void LibraryInitOnce() {
  static std::once_flag once;
  std::call_once(once, [] { mosquitto_lib_init(); });
}

// The seq slot of an encoded document, checked against the format rather than assumed.
std::optional<size_t> SeqSlot(const std::string& doc) {
  static constexpr char kSeqElement[] = {0x12, 's', 'e', 'q', 0};
  if (doc.size() < kSeqOffset + 8) return std::nullopt;
  if (std::memcmp(doc.data() + kSeqOffset - 5, kSeqElement, 5) != 0) return std::nullopt;
  return kSeqOffset;
}

// The MQTT 5 properties a message carried, in the order of the format.
archive::Headers ReadHeaders(const mosquitto_property* props) {
  archive::Headers h;
  for (const mosquitto_property* p = props; p != nullptr; p = mosquitto_property_next(p)) {
    const int id = mosquitto_property_identifier(p);
    switch (id) {
      case MQTT_PROP_USER_PROPERTY: {
        char *name = nullptr, *value = nullptr;
        if (mosquitto_property_read_string_pair(p, id, &name, &value, false)) {
          h.user_properties.push_back({name ? name : "", value ? value : ""});
        }
        std::free(name);
        std::free(value);
        break;
      }
      case MQTT_PROP_CONTENT_TYPE:
      case MQTT_PROP_RESPONSE_TOPIC: {
        char* text = nullptr;
        if (mosquitto_property_read_string(p, id, &text, false)) {
          (id == MQTT_PROP_CONTENT_TYPE ? h.content_type : h.response_topic) = text ? text : "";
        }
        std::free(text);
        break;
      }
      case MQTT_PROP_PAYLOAD_FORMAT_INDICATOR: {
        uint8_t v = 0;
        if (mosquitto_property_read_byte(p, id, &v, false)) h.payload_format = v;
        break;
      }
      case MQTT_PROP_CORRELATION_DATA: {
        void* data = nullptr;
        uint16_t len = 0;
        if (mosquitto_property_read_binary(p, id, &data, &len, false)) {
          h.correlation_data = std::string(static_cast<const char*>(data), len);
        }
        std::free(data);
        break;
      }
      case MQTT_PROP_MESSAGE_EXPIRY_INTERVAL: {
        uint32_t v = 0;
        if (mosquitto_property_read_int32(p, id, &v, false)) {
          h.message_expiry = static_cast<int32_t>(std::min<uint32_t>(v, INT32_MAX));
        }
        break;
      }
      default:
        break;  // transport properties (topic alias, subscription id) are not the message's
    }
  }
  return h;
}

// The publisher's `_id` when one of its user properties holds a UUID.
std::optional<archive::Uuid> PublisherId(const archive::Headers& h) {
  for (const archive::UserProperty& p : h.user_properties) {
    if (p.name != "_id") continue;
    if (auto id = archive::ParseUuid(p.value)) return id;
  }
  return std::nullopt;
}

milliseconds Backoff(int attempt, milliseconds min, milliseconds max, double random01) {
  milliseconds cap = min;
  for (int i = 0; i < attempt && cap < max; ++i) cap *= 2;
  cap = std::min(cap, max);
  auto half = cap.count() / 2;
  return milliseconds{half +
                      static_cast<int64_t>(random01 * static_cast<double>(cap.count() - half))};
}

}  // namespace

struct MqttArchiver::Impl {
  Impl(Env& e, MqttSourceConfig c, std::string d, std::string s, Buffer& b)
      : env(e),
        config(std::move(c)),
        device(std::move(d)),
        state_dir(std::move(s)),
        buffer(b),
        random(std::random_device{}()),
        known(config.dedupe_window),
        redeliveries(env, state_dir + "/archive-" + config.name + ".inflight",
                     config.receive_maximum) {
    stats.name = config.name;
    stats.broker = fmt::format("{}:{}", config.host, config.port);
    stats.ack_before_commit = std::any_of(config.topics.begin(), config.topics.end(),
                                          [](const MqttTopic& t) { return t.qos == 2; });
    v5 = config.protocol != "3.1.1";
  }

  Env& env;
  const MqttSourceConfig config;
  const std::string device;
  const std::string state_dir;
  Buffer& buffer;
  MosquittoPtr mosq;
  std::thread thread;
  std::mt19937_64 random;

  // The thread's own state.
  KnownIds known;
  Redeliveries redeliveries;
  std::vector<Reading> pass_readings;  // read in this pass, handed over at its end
  bool pass_seen = false;              // a QoS 1 or 2 message was read in this pass
  bool save_failed = false;            // said once
  bool v5 = true;
  bool connack = false;        // this connection got its CONNACK
  bool fall_back = false;      // the broker refused MQTT 5: the next attempt speaks 3.1.1
  bool refused = false;        // this connection's CONNACK refused us; its reason is the error
  bool clock_ok = true;        // sampled once per pass
  uint64_t pass_messages = 0;  // handed to the buffer since the last commit
  bool uncaptured = false;     // a message read was not handed over: never acknowledge
  bool window_noted = false;   // this connection exceeded the receive maximum once

  mutable std::mutex mu;  // guards below
  std::condition_variable cv;
  bool stopping = false;
  MqttSourceStats stats;
  std::string library_error;

  // REQUIRES: mu held.
  void RecordError(std::string why) {
    if (!library_error.empty()) {
      why += ": " + library_error;
      library_error.clear();
    }
    stats.last_error = fmt::format("mqtt source {} ({}): {}", config.name, stats.broker, why);
    stats.last_error_ms = env.WallNowMs();
  }

  bool Stopping() const {
    std::lock_guard<std::mutex> lock(mu);
    return stopping;
  }

  // What the source still holds locally: sealed files, then buffered runs (newest last,
  // so the window keeps the newest when it is full).
  void Seed() {
    auto add_all = [&](archive::SegmentReader& reader) {
      archive::SegmentDocument doc;
      while (reader.Next(&doc)) {
        if (auto m = archive::DecodeBson(doc.bytes)) known.Insert(m->id);
      }
    };
    const std::string dir = SegmentsDir(state_dir);
    std::vector<std::pair<uint64_t, std::string>> files;
    if (auto names = env.ListDir(dir)) {
      for (const std::string& f : *names) {
        std::string source;
        uint64_t first = 0;
        if (f.ends_with(".bson.gz") && ParseSegmentFileName(f, device, &source, &first) &&
            source == config.name) {
          files.emplace_back(first, f);
        }
      }
    }
    std::sort(files.begin(), files.end());
    for (const auto& [first, f] : files) {
      archive::SegmentReader reader(kMaxDocumentBytes, kMaxSegmentRawBytes);
      if (reader.OpenGzip(dir + "/" + f)) add_all(reader);
    }
    Status s = ForEachBufferedRun(env, state_dir, config.name, [&](std::string_view run) {
      archive::SegmentReader reader(kMaxDocumentBytes, kMaxSegmentRawBytes);
      reader.OpenMemory(run);
      add_all(reader);
    });
    if (!s) log::Warning("mqtt source {}: dedupe window: {}", config.name, s.error().message());
    redeliveries.Load();
    std::lock_guard<std::mutex> lock(mu);
    stats.known_ids = known.size();
  }

  // The message callback, on this thread inside mosquitto_loop_read.
  void OnMessage(const mosquitto_message* msg, const mosquitto_property* props) {
    if (uncaptured) return;  // the pass is already lost to a stop; the broker resends
    // QoS 0 has no packet id and is never delivered again.
    const bool acked = msg->qos > 0;
    const std::string_view payload(
        msg->payloadlen > 0 ? static_cast<const char*>(msg->payload) : "",
        msg->payloadlen > 0 ? static_cast<size_t>(msg->payloadlen) : 0);
    std::string digest;
    std::optional<archive::Uuid> earlier;
    if (acked) {
      pass_seen = true;
      digest = Redeliveries::Digest(msg->topic, payload);
      earlier = redeliveries.Match(static_cast<uint16_t>(msg->mid), digest);
    }
    bool veto = false;
    for (const std::string& f : config.veto) {
      bool match = false;
      if (mosquitto_topic_matches_sub(f.c_str(), msg->topic, &match) == MOSQ_ERR_SUCCESS && match) {
        veto = true;
        break;
      }
    }
    {
      std::lock_guard<std::mutex> lock(mu);
      ++stats.received;
      stats.last_message_ms = env.WallNowMs();
      if (veto) ++stats.vetoed;
    }
    if (veto) {
      if (acked) redeliveries.Add(static_cast<uint16_t>(msg->mid), std::move(digest), {});
      return;
    }
    archive::ArchivedMessage m;
    m.headers = ReadHeaders(props);
    if (auto id = PublisherId(m.headers)) {
      m.id = *id;
    } else {
      // A resend of a message handled before keeps the `_id` it was given then.
      m.id = earlier ? *earlier : archive::NewUuidV4();
      m.headers.user_properties.push_back({"_id", archive::UuidText(m.id)});
    }
    if (acked) redeliveries.Add(static_cast<uint16_t>(msg->mid), std::move(digest), m.id);
    if (known.Contains(m.id)) {
      std::lock_guard<std::mutex> lock(mu);
      ++stats.duplicates;
      return;
    }
    m.ts_ms = env.WallNowMs();
    m.device = device;
    m.source = config.name;
    m.topic = msg->topic;
    m.qos = msg->qos;
    m.retain = msg->retain;
    m.clock_unsynced = !clock_ok;
    m.payload.assign(payload);
    Reading r;
    r.source = config.name;
    r.ts_ms = m.ts_ms;
    r.clock_ok = clock_ok;
    r.record = archive::EncodeBson(m);
    std::optional<size_t> slot = SeqSlot(r.record);
    if (!slot) {
      // Only a broken encoder gets here; acknowledging would lose the message.
      log::Error("mqtt source {}: the encoded document has no seq slot", config.name);
      uncaptured = true;
      return;
    }
    r.seq_offset = *slot;
    pass_readings.push_back(std::move(r));
    ++pass_messages;
    // A pass that is not handed over ends the connection unacknowledged, in a stop.
    known.Insert(m.id);
    std::lock_guard<std::mutex> lock(mu);
    stats.known_ids = known.size();
  }

  void OnConnect(int rc, int flags) {
    (void)flags;
    if (rc != 0) {
      // 1 is 3.1.1's "unacceptable protocol version", 132 MQTT 5's.
      if (v5 && config.protocol == "auto" &&
          (rc == 1 || rc == MQTT_RC_UNSUPPORTED_PROTOCOL_VERSION)) {
        fall_back = true;
      }
      std::lock_guard<std::mutex> lock(mu);
      refused = true;
      RecordError(fmt::format("broker refused the connection: {}",
                              v5 ? mosquitto_reason_string(rc) : mosquitto_connack_string(rc)));
      return;
    }
    connack = true;
    redeliveries.Reconnected();
    for (const MqttTopic& t : config.topics) {
      // MQTT 5: retained messages only for a new subscription, so a reconnect to the
      // kept session does not archive them again; the retain flag as the publisher set
      // it (without this option the broker clears it on live messages).
      int options = v5 ? MQTT_SUB_OPT_SEND_RETAIN_NEW | MQTT_SUB_OPT_RETAIN_AS_PUBLISHED : 0;
      int src =
          mosquitto_subscribe_v5(mosq.get(), nullptr, t.filter.c_str(), t.qos, options, nullptr);
      if (src != MOSQ_ERR_SUCCESS) {
        std::lock_guard<std::mutex> lock(mu);
        RecordError(fmt::format("subscribe {}: {}", t.filter, mosquitto_strerror(src)));
      }
    }
    std::lock_guard<std::mutex> lock(mu);
    stats.connected = true;
    stats.protocol = v5 ? "5" : "3.1.1";
    ++stats.connects;
    log::Notice("mqtt source {}: connected to {} as {} (MQTT {})", config.name, stats.broker,
                config.client_id, stats.protocol);
  }

  static void HandleConnect(mosquitto*, void* obj, int rc, int flags, const mosquitto_property*) {
    static_cast<Impl*>(obj)->OnConnect(rc, flags);
  }
  static void HandleMessage(mosquitto*, void* obj, const mosquitto_message* msg,
                            const mosquitto_property* props) {
    static_cast<Impl*>(obj)->OnMessage(msg, props);
  }
  static void HandleLog(mosquitto*, void* obj, int level, const char* line) {
    if (level != MOSQ_LOG_ERR) return;
    auto* self = static_cast<Impl*>(obj);
    std::lock_guard<std::mutex> lock(self->mu);
    self->library_error = line;
  }

  // The error, or "".
  std::string Setup() {
    LibraryInitOnce();
    mosq.reset(mosquitto_new(config.client_id.c_str(), /*clean_session=*/false, this));
    if (!mosq) return fmt::format("cannot create the client: {}", std::strerror(errno));
    // Threaded: a PUBACK created while reading is only queued, and this thread decides
    // when it is written (after the commit).
    mosquitto_threaded_set(mosq.get(), true);
    mosquitto_connect_v5_callback_set(mosq.get(), HandleConnect);
    mosquitto_message_v5_callback_set(mosq.get(), HandleMessage);
    mosquitto_log_callback_set(mosq.get(), HandleLog);
    if (!config.username.empty()) {
      int rc = mosquitto_username_pw_set(
          mosq.get(), config.username.c_str(),
          config.password_file.empty() ? nullptr : config.password.c_str());
      if (rc != MOSQ_ERR_SUCCESS) return fmt::format("username: {}", mosquitto_strerror(rc));
    }
    if (config.tls) {
      int rc =
          mosquitto_tls_set(mosq.get(), config.ca_file.c_str(), nullptr, nullptr, nullptr, nullptr);
      if (rc != MOSQ_ERR_SUCCESS) {
        return fmt::format("TLS CA file {}: {}", config.ca_file, DescribeMosquittoError(rc));
      }
    }
    return "";
  }

  int Connect() {
    connack = false;
    refused = false;
    window_noted = false;
    mosquitto_int_option(mosq.get(), MOSQ_OPT_PROTOCOL_VERSION,
                         v5 ? MQTT_PROTOCOL_V5 : MQTT_PROTOCOL_V311);
    const int keepalive = static_cast<int>(config.keepalive.count());
    if (!v5) return mosquitto_connect(mosq.get(), config.host.c_str(), config.port, keepalive);
    mosquitto_property* props = nullptr;
    mosquitto_property_add_int32(&props, MQTT_PROP_SESSION_EXPIRY_INTERVAL,
                                 static_cast<uint32_t>(config.session_expiry.count()));
    // Explicit, not the library's default: it bounds what a kill -9 can make the broker
    // deliver again (docs/decisions.md).
    mosquitto_property_add_int16(&props, MQTT_PROP_RECEIVE_MAXIMUM, config.receive_maximum);
    int rc = mosquitto_connect_bind_v5(mosq.get(), config.host.c_str(), config.port, keepalive,
                                       nullptr, props);
    mosquitto_property_free_all(&props);
    return rc;
  }

  // A pass larger than the receive maximum means the broker keeps more messages in flight
  // than asked, and a kill -9 can make it deliver all of them again. Said once per
  // connection.
  void NoteWindow() {
    if (!v5 || window_noted || pass_messages <= config.receive_maximum) return;
    window_noted = true;
    log::Warning(
        "mqtt source {}: the broker sent {} messages before an acknowledgement, more than "
        "receive_maximum {}",
        config.name, pass_messages, config.receive_maximum);
  }

  // Records the pass's packet ids, then hands its messages to the buffer: a record
  // always exists before its message can be committed. False when stopping with
  // messages not handed over.
  bool HandOver() {
    if (pass_seen) {
      pass_seen = false;
      Status s = redeliveries.Save();
      if (!s && !save_failed) {
        save_failed = true;  // messages delivered again then get a new `_id`, never lost
        log::Warning("mqtt source {}: {}", config.name, s.error().message());
      }
    }
    for (Reading& r : pass_readings) {
      // A full queue holds the connection: no acknowledgement leaves until it is taken.
      while (buffer.Submit({r}, milliseconds{500}) == 0) {
        if (Stopping()) {
          uncaptured = true;
          pass_readings.clear();
          return false;
        }
      }
    }
    pass_readings.clear();
    return true;
  }

  // Waits for the writer to commit this pass's messages; false when they must not be
  // acknowledged (stopping, and the writer did not get to them in time).
  bool CommitPass() {
    if (uncaptured) return false;
    if (pass_messages == 0) return true;
    auto give_up = std::chrono::steady_clock::time_point::max();
    while (!buffer.WaitCaptured(milliseconds{250})) {
      if (Stopping()) {
        auto now = std::chrono::steady_clock::now();
        if (give_up == std::chrono::steady_clock::time_point::max())
          give_up = now + kStopCommitWait;
        if (now >= give_up) return false;
      }
    }
    std::lock_guard<std::mutex> lock(mu);
    stats.archived += pass_messages;
    pass_messages = 0;
    return true;
  }

  // One connection, until it fails or Stop(). MOSQ_ERR_SUCCESS after a clean stop;
  // MOSQ_ERR_AUTH when captured messages could not be confirmed (never acknowledged).
  int Session() {
    for (;;) {
      const int sock = mosquitto_socket(mosq.get());
      if (sock < 0) return MOSQ_ERR_NO_CONN;
      const bool stop = Stopping();
      if (stop) {
        if (!CommitPass()) return MOSQ_ERR_AUTH;
        mosquitto_disconnect_v5(mosq.get(), 0, nullptr);
        return FlushWrites(sock);
      }
      pollfd pfd{sock,
                 static_cast<short>(POLLIN | (mosquitto_want_write(mosq.get()) ? POLLOUT : 0)), 0};
      int n = ::poll(&pfd, 1, kPollMs);
      if (n < 0 && errno != EINTR) return MOSQ_ERR_ERRNO;
      clock_ok = env.ClockSynchronized();
      // Read whatever is waiting, up to one pass; each message is handed to the buffer
      // and its PUBACK queued, not written.
      int rc = MOSQ_ERR_SUCCESS;
      do {
        rc = mosquitto_loop_read(mosq.get(), 1);
        if (rc != MOSQ_ERR_SUCCESS) break;
        pfd.revents = 0;
        pfd.events = POLLIN;
      } while (pass_messages < kMaxPass && !uncaptured && ::poll(&pfd, 1, 0) > 0 &&
               (pfd.revents & POLLIN) != 0);
      NoteWindow();
      if (!HandOver() || !CommitPass()) return MOSQ_ERR_AUTH;
      if (rc != MOSQ_ERR_SUCCESS) return rc;
      redeliveries.EndPass();
      if (mosquitto_want_write(mosq.get())) {
        rc = mosquitto_loop_write(mosq.get(), 1);
        if (rc != MOSQ_ERR_SUCCESS) return rc;
      }
      rc = mosquitto_loop_misc(mosq.get());
      if (rc != MOSQ_ERR_SUCCESS) return rc;
      if (!connack && fall_back) return MOSQ_ERR_PROTOCOL;
    }
  }

  // The last acknowledgements and the DISCONNECT, for at most a second.
  int FlushWrites(int sock) {
    auto deadline = std::chrono::steady_clock::now() + milliseconds{1000};
    while (mosquitto_want_write(mosq.get()) && std::chrono::steady_clock::now() < deadline) {
      pollfd pfd{sock, POLLOUT, 0};
      if (::poll(&pfd, 1, 100) < 0 && errno != EINTR) break;
      if (mosquitto_loop_write(mosq.get(), 1) != MOSQ_ERR_SUCCESS) break;
    }
    return MOSQ_ERR_SUCCESS;
  }

  void Run() {
    Seed();
    if (std::string error = Setup(); !error.empty()) {
      std::lock_guard<std::mutex> lock(mu);
      RecordError(error);
      log::Error("{}", stats.last_error);
      return;
    }
    int attempt = 0;
    std::string logged;
    for (;;) {
      uint64_t connects_before = Stats().connects;
      int rc = Connect();
      if (rc == MOSQ_ERR_SUCCESS) rc = Session();
      if (rc == MOSQ_ERR_AUTH) {
        log::Warning(
            "mqtt source {}: stopped before its last messages were committed; the "
            "broker delivers them again",
            config.name);
      }
      // Nothing queued is written from here: the next connect discards it with the socket.
      std::unique_lock<std::mutex> lock(mu);
      stats.connected = false;
      pass_messages = 0;
      pass_readings.clear();
      uncaptured = false;
      if (stopping) return;
      if (stats.connects > connects_before) attempt = 0;
      if (fall_back && v5) {
        v5 = false;
        log::Notice("mqtt source {}: the broker refused MQTT 5; using 3.1.1", config.name);
        continue;
      }
      ++stats.connect_failures;
      if (!refused) RecordError(DescribeMosquittoError(rc));
      milliseconds delay = Backoff(attempt++, config.reconnect_min, config.reconnect_max,
                                   std::uniform_real_distribution<double>(0.0, 1.0)(random));
      if (stats.last_error != logged) {
        logged = stats.last_error;
        log::Warning("{}; retrying in {} ms", stats.last_error, delay.count());
      }
      cv.wait_for(lock, delay, [this] { return stopping; });
      if (stopping) return;
    }
  }

  MqttSourceStats Stats() const {
    std::lock_guard<std::mutex> lock(mu);
    MqttSourceStats s = stats;
    return s;
  }
};

MqttArchiver::MqttArchiver(Env& env, MqttSourceConfig config, std::string device,
                           std::string state_dir, Buffer& buffer)
    : impl_(std::make_unique<Impl>(env, std::move(config), std::move(device), std::move(state_dir),
                                   buffer)) {}

MqttArchiver::~MqttArchiver() { Stop(); }

void MqttArchiver::Start() {
  if (impl_->thread.joinable()) return;
  impl_->thread = std::thread([this] { impl_->Run(); });
}

void MqttArchiver::Stop() {
  {
    std::lock_guard<std::mutex> lock(impl_->mu);
    impl_->stopping = true;
    impl_->cv.notify_all();
  }
  if (impl_->thread.joinable()) impl_->thread.join();
}

MqttSourceStats MqttArchiver::Stats() const {
  MqttSourceStats s = impl_->Stats();
  return s;
}

}  // namespace granary
