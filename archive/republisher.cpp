#include "archive/republisher.h"

#include <fmt/format.h>

#include <algorithm>
#include <charconv>
#include <condition_variable>
#include <map>
#include <mutex>
#include <set>
#include <thread>

#include "platform/handles_mosquitto.h"

namespace granary::archive {
namespace {

void LibraryInitOnce() {
  static std::once_flag once;
  std::call_once(once, [] { mosquitto_lib_init(); });
}

struct PropertyListFree {
  void operator()(mosquitto_property* p) const { mosquitto_property_free_all(&p); }
};
using PropertyList = std::unique_ptr<mosquitto_property, PropertyListFree>;

}  // namespace

Result<BrokerAddress> ParseBrokerUrl(std::string_view url) {
  BrokerAddress a;
  std::string_view rest;
  if (url.starts_with("mqtt://")) {
    rest = url.substr(7);
  } else if (url.starts_with("mqtts://")) {
    a.tls = true;
    rest = url.substr(8);
  } else {
    return Error(fmt::format("broker URL {}: must start with mqtt:// or mqtts://", url));
  }
  if (!rest.empty() && rest.back() == '/') rest.remove_suffix(1);
  std::string_view port;
  bool has_port = false;
  if (rest.starts_with("[")) {
    size_t close = rest.find(']');
    if (close == std::string_view::npos) return Error(fmt::format("broker URL {}: no ]", url));
    a.host = std::string(rest.substr(1, close - 1));
    std::string_view after = rest.substr(close + 1);
    if (!after.empty() && !after.starts_with(":")) {
      return Error(fmt::format("broker URL {}: expected :port after ]", url));
    }
    has_port = !after.empty();
    if (has_port) port = after.substr(1);
    if (a.host.find_first_of("/@?#[]") != std::string::npos) a.host.clear();
  } else {
    size_t colon = rest.rfind(':');
    a.host = std::string(rest.substr(0, colon));
    has_port = colon != std::string_view::npos;
    if (has_port) port = rest.substr(colon + 1);
    if (a.host.find_first_of("/@?#:[]") != std::string::npos) a.host.clear();
  }
  if (a.host.empty()) {
    return Error(fmt::format("broker URL {}: expected mqtt[s]://host[:port]", url));
  }
  a.port = a.tls ? 8883 : 1883;
  if (has_port) {
    auto [end, ec] = std::from_chars(port.data(), port.data() + port.size(), a.port);
    if (ec != std::errc() || end != port.data() + port.size() || a.port < 1 || a.port > 65535) {
      return Error(fmt::format("broker URL {}: port must be 1..65535", url));
    }
  }
  return a;
}

std::chrono::steady_clock::time_point Pacer::Due(int64_t ts_ms,
                                                 std::chrono::steady_clock::time_point now) {
  if (count_++ == 0) {
    start_ = now;
    first_ts_ = ts_ms;
    return now;
  }
  auto due = start_;
  if (rate_ > 0) {
    due = std::max(due, start_ + std::chrono::duration_cast<std::chrono::steady_clock::duration>(
                                     std::chrono::duration<double>((count_ - 1) / rate_)));
  }
  if (speed_ > 0 && ts_ms > first_ts_) {
    double seconds = static_cast<double>(ts_ms - first_ts_) / 1000.0 / speed_;
    due = std::max(due, start_ + std::chrono::duration_cast<std::chrono::steady_clock::duration>(
                                     std::chrono::duration<double>(seconds)));
  }
  return due;
}

Result<mosquitto_property*> PublishProperties(const Headers& h) {
  mosquitto_property* raw = nullptr;
  PropertyList list;
  auto check = [&](int rc, const char* what) -> Status {
    list.reset(raw);  // the list so far is freed on every exit
    if (rc != MOSQ_ERR_SUCCESS) {
      return Error(fmt::format("{}: {}", what, mosquitto_strerror(rc)));
    }
    list.release();
    return Status::Ok();
  };
  Status s;
  for (const UserProperty& p : h.user_properties) {
    s = check(mosquitto_property_add_string_pair(&raw, MQTT_PROP_USER_PROPERTY, p.name.c_str(),
                                                 p.value.c_str()),
              "user property");
    if (!s) return s.error();
  }
  if (h.content_type) {
    s = check(mosquitto_property_add_string(&raw, MQTT_PROP_CONTENT_TYPE, h.content_type->c_str()),
              "content type");
    if (!s) return s.error();
  }
  if (h.payload_format) {
    s = check(mosquitto_property_add_byte(&raw, MQTT_PROP_PAYLOAD_FORMAT_INDICATOR,
                                          static_cast<uint8_t>(*h.payload_format)),
              "payload format");
    if (!s) return s.error();
  }
  if (h.response_topic) {
    s = check(
        mosquitto_property_add_string(&raw, MQTT_PROP_RESPONSE_TOPIC, h.response_topic->c_str()),
        "response topic");
    if (!s) return s.error();
  }
  if (h.correlation_data) {
    s = check(
        mosquitto_property_add_binary(&raw, MQTT_PROP_CORRELATION_DATA, h.correlation_data->data(),
                                      static_cast<uint16_t>(h.correlation_data->size())),
        "correlation data");
    if (!s) return s.error();
  }
  if (h.message_expiry) {
    s = check(mosquitto_property_add_int32(&raw, MQTT_PROP_MESSAGE_EXPIRY_INTERVAL,
                                           static_cast<uint32_t>(*h.message_expiry)),
              "message expiry");
    if (!s) return s.error();
  }
  return raw;
}

struct Republisher::Impl {
  RepublishOptions options;
  Pacer pacer{0, 0};
  MosquittoPtr mosq;
  std::mutex mu;
  std::condition_variable cv;
  bool connack = false, loop_started = false;
  std::string failure;                // set once: the connection or a refusal ended the run
  std::set<int> pending, early_acks;  // mids sent and not acknowledged; acked before registered
  std::map<int, std::string> pending_qos2;  // of pending, the QoS 2 ones: mid -> topic
  size_t receive_maximum = 65535;           // the broker's, from CONNACK
  uint64_t acknowledged = 0;

  ~Impl() {
    if (mosq != nullptr) {
      mosquitto_disconnect(mosq.get());
      if (loop_started) mosquitto_loop_stop(mosq.get(), true);
    }
  }

  static Impl* Of(void* obj) { return static_cast<Impl*>(obj); }

  static void OnConnect(mosquitto*, void* obj, int rc, int, const mosquitto_property* props) {
    Impl* self = Of(obj);
    std::lock_guard lock(self->mu);
    if (rc == 0) {
      self->connack = true;
      uint16_t maximum = 0;
      if (mosquitto_property_read_int16(props, MQTT_PROP_RECEIVE_MAXIMUM, &maximum, false)) {
        self->receive_maximum = maximum;
      }
    } else if (self->failure.empty()) {
      self->failure = fmt::format("broker refused the connection: {}", mosquitto_reason_string(rc));
    }
    self->cv.notify_all();
  }
  static void OnDisconnect(mosquitto*, void* obj, int rc, const mosquitto_property*) {
    Impl* self = Of(obj);
    std::lock_guard lock(self->mu);
    if (self->failure.empty()) {
      self->failure = fmt::format("connection lost ({}) with {} messages unacknowledged",
                                  mosquitto_strerror(rc), self->pending.size());
    }
    self->cv.notify_all();
  }
  static void OnPublish(mosquitto*, void* obj, int mid, int reason, const mosquitto_property*) {
    Impl* self = Of(obj);
    std::lock_guard lock(self->mu);
    if (reason >= 128 && self->failure.empty()) {
      self->failure = fmt::format("broker refused a message: {}", mosquitto_reason_string(reason));
    }
    if (self->pending.erase(mid) == 0) self->early_acks.insert(mid);
    self->pending_qos2.erase(mid);
    ++self->acknowledged;
    self->cv.notify_all();
  }

  // Waits until `done` holds, failing on a recorded failure or `timeout` without progress.
  template <typename Done>
  Status Wait(std::unique_lock<std::mutex>& lock, const char* what, Done done) {
    uint64_t seen = acknowledged;
    for (;;) {
      if (!failure.empty()) return Error(failure);
      if (done()) return Status::Ok();
      if (!cv.wait_for(lock, options.timeout, [&] { return !failure.empty() || done(); }) &&
          acknowledged == seen) {
        return Error(fmt::format("no acknowledgement from the broker within {} ms ({})",
                                 options.timeout.count(), what));
      }
      seen = acknowledged;
    }
  }
};

Republisher::Republisher(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
Republisher::~Republisher() = default;

Result<std::unique_ptr<Republisher>> Republisher::Connect(const RepublishOptions& options) {
  auto address = ParseBrokerUrl(options.broker_url);
  if (!address) return address.error();
  LibraryInitOnce();
  auto impl = std::make_unique<Impl>();
  impl->options = options;
  impl->pacer = Pacer(options.rate, options.speed);
  impl->mosq.reset(mosquitto_new(options.client_id.empty() ? nullptr : options.client_id.c_str(),
                                 true, impl.get()));
  if (impl->mosq == nullptr) return Error("mosquitto_new failed");
  mosquitto* m = impl->mosq.get();
  mosquitto_int_option(m, MOSQ_OPT_PROTOCOL_VERSION, MQTT_PROTOCOL_V5);
  // Waiting for each QoS 2 handshake (see Publish) must not add Nagle's delay to every PUBREL.
  mosquitto_int_option(m, MOSQ_OPT_TCP_NODELAY, 1);
  mosquitto_connect_v5_callback_set(m, Impl::OnConnect);
  mosquitto_disconnect_v5_callback_set(m, Impl::OnDisconnect);
  mosquitto_publish_v5_callback_set(m, Impl::OnPublish);
  std::string where = fmt::format("broker {}", options.broker_url);
  if (!options.username.empty()) {
    int rc = mosquitto_username_pw_set(
        m, options.username.c_str(), options.password.empty() ? nullptr : options.password.c_str());
    if (rc != MOSQ_ERR_SUCCESS)
      return Error(fmt::format("{}: credentials: {}", where, mosquitto_strerror(rc)));
  }
  if (address->tls) {
    int rc = options.ca_file.empty() ? mosquitto_int_option(m, MOSQ_OPT_TLS_USE_OS_CERTS, 1)
                                     : mosquitto_tls_set(m, options.ca_file.c_str(), nullptr,
                                                         nullptr, nullptr, nullptr);
    if (rc != MOSQ_ERR_SUCCESS) {
      return Error(fmt::format("{}: TLS (CA {}): {}", where,
                               options.ca_file.empty() ? "system" : options.ca_file,
                               mosquitto_strerror(rc)));
    }
  }
  int rc = mosquitto_connect_bind_v5(m, address->host.c_str(), address->port, 30, nullptr, nullptr);
  if (rc != MOSQ_ERR_SUCCESS) {
    return Error(fmt::format("{}: connect: {}", where,
                             rc == MOSQ_ERR_ERRNO ? std::strerror(errno) : mosquitto_strerror(rc)));
  }
  if ((rc = mosquitto_loop_start(m)) != MOSQ_ERR_SUCCESS) {
    return Error(fmt::format("{}: network thread: {}", where, mosquitto_strerror(rc)));
  }
  impl->loop_started = true;
  {
    std::unique_lock lock(impl->mu);
    Status s = impl->Wait(lock, "CONNACK", [&] { return impl->connack; });
    if (!s) return s.error().Wrap(where);
  }
  return std::unique_ptr<Republisher>(new Republisher(std::move(impl)));
}

Status Republisher::Publish(const ArchivedMessage& message) {
  Impl& d = *impl_;
  std::this_thread::sleep_until(d.pacer.Due(message.ts_ms, std::chrono::steady_clock::now()));
  auto props = PublishProperties(message.headers);
  if (!props) return props.error().Wrap(fmt::format("message seq {}", message.seq));
  PropertyList list(*props);
  // Order per topic holds only if nothing overtakes: a QoS 1/2 message past the broker's
  // receive maximum would wait in libmosquitto while a later QoS 0 one goes out, and the broker
  // forwards a QoS 2 message only at PUBREL. So the window stays within the receive maximum,
  // and a message waits for the PUBCOMP of a QoS 2 one on its topic (order is per topic).
  std::unique_lock lock(d.mu);
  size_t window = std::max<size_t>(1, std::min(d.options.max_inflight, d.receive_maximum));
  auto qos2_on_topic = [&] {
    return std::any_of(d.pending_qos2.begin(), d.pending_qos2.end(),
                       [&](const auto& p) { return p.second == message.topic; });
  };
  Status room = d.Wait(lock, "in-flight window",
                       [&] { return d.pending.size() < window && !qos2_on_topic(); });
  if (!room) return room;
  lock.unlock();
  int mid = 0;
  int rc = mosquitto_publish_v5(d.mosq.get(), &mid, message.topic.c_str(),
                                static_cast<int>(message.payload.size()), message.payload.data(),
                                d.options.qos.value_or(message.qos),
                                message.retain && !d.options.no_retain, list.get());
  if (rc != MOSQ_ERR_SUCCESS) {
    return Error(fmt::format("publish seq {} to {}: {}", message.seq, message.topic,
                             mosquitto_strerror(rc)));
  }
  lock.lock();
  if (d.early_acks.erase(mid) == 0) {
    d.pending.insert(mid);
    if (d.options.qos.value_or(message.qos) == 2) d.pending_qos2.emplace(mid, message.topic);
  }
  return Status::Ok();
}

Status Republisher::Finish() {
  Impl& d = *impl_;
  std::unique_lock lock(d.mu);
  Status s = d.Wait(lock, "the last messages", [&] { return d.pending.empty(); });
  lock.unlock();
  if (s) {
    mosquitto_disconnect(d.mosq.get());
    mosquitto_loop_stop(d.mosq.get(), false);
    d.loop_started = false;
  }
  return s;
}

uint64_t Republisher::acknowledged() const {
  std::lock_guard lock(impl_->mu);
  return impl_->acknowledged;
}

}  // namespace granary::archive
