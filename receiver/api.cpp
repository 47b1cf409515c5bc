// The read API (bearer tokens), /metrics, /healthz, and the S3 event webhook.
#include <cjson/cJSON.h>
#include <fmt/format.h>
#include <openssl/crypto.h>

#include "platform/handles.h"
#include "platform/log.h"
#include "platform/strings.h"
#include "platform/utf8.h"
#include "receiver/api_json.h"
#include "receiver/chart_api.h"
#include "receiver/context.h"
#include "receiver/dashboard.h"
#include "receiver/fleet_mqtt.h"
#include "receiver/messages_api.h"
#include "receiver/readings_stream.h"
#include "receiver/reports_api.h"
#include "receiver/s3_events.h"
#include "receiver/upstream.h"

namespace granary::receiver {
namespace {

constexpr size_t kMaxEventBody = 4 << 20;

bool SameSecret(const std::string& a, const std::string& b) {
  return a.size() == b.size() && CRYPTO_memcmp(a.data(), b.data(), a.size()) == 0;
}

cJSON* DeviceJson(const DeviceRow& d) {
  cJSON* obj = cJSON_CreateObject();
  cJSON_AddStringToObject(obj, "device", d.device.c_str());
  AddNumber(obj, "first_seen", static_cast<double>(d.first_seen_ms));
  AddNumber(obj, "last_seen", static_cast<double>(d.last_seen_ms));
  AddNumber(obj, "segments", static_cast<double>(d.segments));
  AddNumber(obj, "readings", static_cast<double>(d.readings));
  AddNumber(obj, "rejected", static_cast<double>(d.rejected));
  AddNumber(obj, "conflicts", static_cast<double>(d.conflicts));
  cJSON_AddBoolToObject(obj, "online", d.online);
  AddNumber(obj, "status_at", static_cast<double>(d.status_ms));
  if (!d.status_json.empty()) {
    cJSON* status = cJSON_Parse(d.status_json.c_str());
    if (status != nullptr) cJSON_AddItemToObject(obj, "status", status);
  }
  return obj;
}

cJSON* RangeJson(uint64_t first, uint64_t last) {
  cJSON* pair = cJSON_CreateArray();
  cJSON_AddItemToArray(pair, cJSON_CreateNumber(static_cast<double>(first)));
  cJSON_AddItemToArray(pair, cJSON_CreateNumber(static_cast<double>(last)));
  return pair;
}

cJSON* CoverageJson(const SourceCoverage& c) {
  cJSON* obj = cJSON_CreateObject();
  cJSON_AddStringToObject(obj, "source", c.source.c_str());
  AddNumber(obj, "segments", static_cast<double>(c.segments));
  AddNumber(obj, "readings", static_cast<double>(c.readings));
  cJSON* ranges = cJSON_AddArrayToObject(obj, "ranges");
  for (const SeqRange& r : c.ranges) cJSON_AddItemToArray(ranges, RangeJson(r.first, r.last));
  cJSON* gaps = cJSON_AddArrayToObject(obj, "gaps");
  uint64_t unexplained = 0;
  for (const Gap& g : c.gaps) {
    cJSON* gap = cJSON_CreateObject();
    AddNumber(gap, "first_seq", static_cast<double>(g.first));
    AddNumber(gap, "last_seq", static_cast<double>(g.last));
    cJSON_AddBoolToObject(gap, "explained", g.explained);
    if (g.explained) cJSON_AddStringToObject(gap, "reason", g.reason.c_str());
    cJSON_AddItemToArray(gaps, gap);
    if (!g.explained) unexplained += g.last - g.first + 1;
  }
  AddNumber(obj, "unexplained_missing", static_cast<double>(unexplained));
  cJSON* tombstones = cJSON_AddArrayToObject(obj, "tombstones");
  for (const SeqRange& t : c.tombstones)
    cJSON_AddItemToArray(tombstones, RangeJson(t.first, t.last));
  return obj;
}

class ApiExchange final : public HttpExchange {
 public:
  ApiExchange(ReceiverContext& context, HttpRequest request)
      : ctx_(context), request_(std::move(request)) {}
  ~ApiExchange() override { ctx_.metrics.CountRequest(request_.method, status_); }

  std::optional<HttpResponse> Start() override {
    auto decoded = sigv4::UriDecode(request_.raw_path);
    path_ = decoded ? *decoded : "";
    const std::string& m = request_.method;
    if (path_ == "/healthz") return Done(Health());
    if (path_ == "/metrics") {
      if (ctx_.config.metrics_require_token && !ReaderAuthorized()) return Done(Unauthorized());
      return Done(MetricsText());
    }
    if (path_ == "/v1/events/s3") {
      if (m != "POST") return Done(JsonError(405, "POST only"));
      if (!ctx_.config.upstream.enabled || ctx_.upstream == nullptr) {
        return Done(JsonError(404, "real-S3 mode is not configured ([s3] section)"));
      }
      if (!BearerIs(ctx_.config.upstream.event_token)) return Done(Unauthorized());
      collecting_ = true;
      return std::nullopt;
    }
    if (path_ == "/api/v1/enroll") {  // the one-time token is the credential
      if (m != "POST") return Done(JsonError(405, "POST only"));
      collecting_ = enrolling_ = true;
      return std::nullopt;
    }
    if (m != "GET" && m != "HEAD") return Done(JsonError(405, "GET only"));
    if (!ReaderAuthorized()) return Done(Unauthorized());
    return Done(Route());
  }

  std::optional<HttpResponse> Body(std::string_view data) override {
    if (!collecting_) return std::nullopt;
    if (body_.size() + data.size() > kMaxEventBody) {
      collecting_ = false;
      return Done(JsonError(413, "event document larger than 4MiB"));
    }
    body_.append(data);
    return std::nullopt;
  }

  HttpResponse Finish() override {
    if (!collecting_) return *Done(JsonError(400, "no request body"));
    if (enrolling_) return *Done(EnrollAnswer(ctx_, body_, request_.peer));
    return *Done(HandleEvents());
  }

 private:
  std::optional<HttpResponse> Done(HttpResponse r) {
    status_ = r.status;
    AddBrowserHeaders(r);
    return r;
  }

  std::string Bearer() const {
    std::string auth = request_.Header("authorization");
    if (auth.size() < 7 || !HttpRequest::NameIs(auth.substr(0, 7), "bearer ")) return "";
    return auth.substr(7);
  }
  bool BearerIs(const std::string& token) const {
    return !token.empty() && SameSecret(Bearer(), token);
  }
  bool ReaderAuthorized() const {
    std::string given = Bearer();
    if (given.empty()) return false;
    bool ok = false;
    for (const ReaderToken& r : *ctx_.readers.Get()) ok |= SameSecret(given, r.token);
    return ok;
  }
  HttpResponse Unauthorized() {
    HttpResponse r = JsonError(401, "a reader's bearer token is required");
    r.headers.emplace_back("WWW-Authenticate", "Bearer realm=\"granary-receiver\"");
    return r;
  }

  // What ingest needs, the failing part named ("index", ...) with why.
  HttpResponse Health() {
    std::string failing, why;
    if (!ctx_.ingest_refused.empty()) {
      failing = "index";
      why = ctx_.ingest_refused;
    } else if (Status s = ctx_.index.Ping(); !s) {
      failing = "index";
      why = s.error().message();
    } else if (Status d = ctx_.store.CheckWritable(ctx_.config.min_free_bytes); !d) {
      failing = "data_dir";
      why = d.error().message();
    }
    CjsonPtr obj(cJSON_CreateObject());
    cJSON_AddStringToObject(obj.get(), "status", failing.empty() ? "ok" : "unavailable");
    if (!failing.empty()) {
      cJSON_AddStringToObject(obj.get(), "failing", failing.c_str());
      cJSON_AddStringToObject(obj.get(), "error", why.c_str());
    }
    return Json(failing.empty() ? 200 : 503, obj.get());
  }

  HttpResponse MetricsText() {
    std::string extra;
    auto counts = ctx_.index.Counts();
    if (counts) {
      auto gauge = [&extra](const char* name, const char* help, uint64_t v) {
        extra += fmt::format("# HELP {0} {1}\n# TYPE {0} gauge\n{0} {2}\n", name, help, v);
      };
      gauge("granary_receiver_index_devices", "Devices in the index.", counts->devices);
      gauge("granary_receiver_index_segments", "Segments in the index.", counts->segments);
      gauge("granary_receiver_index_readings", "Readings in indexed segments.", counts->readings);
      gauge("granary_receiver_index_coverage_ranges", "Coverage ranges over all streams.",
            counts->coverage_ranges);
      gauge("granary_receiver_index_rejections", "Rejected objects kept.", counts->rejections);
      gauge("granary_receiver_index_conflicts", "Conflicting objects kept.", counts->conflicts);
    }
    if (auto kinds = ctx_.index.KindCounts(); kinds) {
      extra +=
          "# HELP granary_receiver_index_uploads Reports and files indexed, by kind and state.\n"
          "# TYPE granary_receiver_index_uploads gauge\n";
      for (const KindCount& k : *kinds) {
        extra += fmt::format(
            "granary_receiver_index_uploads{{type=\"{}\",kind=\"{}\",state=\"{}\"}} {}\n", k.what,
            k.kind, k.state, k.count);
      }
    }
    if (ctx_.mqtt != nullptr) {
      const FleetMqttStats& m = *ctx_.mqtt;
      extra += fmt::format(
          "# HELP granary_receiver_mqtt_connected Whether the MQTT session is up.\n"
          "# TYPE granary_receiver_mqtt_connected gauge\ngranary_receiver_mqtt_connected {}\n"
          "# HELP granary_receiver_mqtt_messages_total Status and event messages received.\n"
          "# TYPE granary_receiver_mqtt_messages_total counter\n"
          "granary_receiver_mqtt_messages_total {}\n"
          "# HELP granary_receiver_mqtt_available_published_total Segment announcements sent.\n"
          "# TYPE granary_receiver_mqtt_available_published_total counter\n"
          "granary_receiver_mqtt_available_published_total {}\n"
          "# HELP granary_receiver_mqtt_available_dropped_total Announcements dropped (broker "
          "down).\n"
          "# TYPE granary_receiver_mqtt_available_dropped_total counter\n"
          "granary_receiver_mqtt_available_dropped_total {}\n",
          m.connected ? 1 : 0, m.messages.load(), m.published.load(), m.dropped.load());
    }
    if (ctx_.validation != nullptr) {
      extra += fmt::format(
          "# HELP granary_receiver_validation_queued Uploads waiting for validation.\n"
          "# TYPE granary_receiver_validation_queued gauge\n"
          "granary_receiver_validation_queued {}\n"
          "# HELP granary_receiver_validation_running Uploads being validated.\n"
          "# TYPE granary_receiver_validation_running gauge\n"
          "granary_receiver_validation_running {}\n",
          ctx_.validation->queued(), ctx_.validation->running());
    }
    extra += fmt::format(
        "# HELP granary_receiver_index_up Whether the index answers.\n"
        "# TYPE granary_receiver_index_up gauge\ngranary_receiver_index_up {}\n",
        counts ? 1 : 0);
    return HttpResponse::Text(200, ctx_.metrics.Render(extra), "text/plain; version=0.0.4");
  }

  HttpResponse Route() {
    constexpr std::string_view kDevices = "/api/v1/devices";
    if (path_ == kDevices) return ListDevices();
    if (path_ == "/api/v1/messages" || path_.starts_with("/api/v1/messages/")) {
      return MessagesAnswer(ctx_, path_, request_.raw_query);
    }
    if (path_ == "/api/v1/reports" || path_.starts_with("/api/v1/reports/")) {
      return ReportsAnswer(ctx_, path_, request_.raw_query);
    }
    if (path_.starts_with("/api/v1/files/")) {
      return FileAnswer(ctx_, path_, request_.Header("range"));
    }
    if (path_ == "/api/v1/events") {
      return Events(QueryParam(request_.raw_query, "device"));
    }
    if (!path_.starts_with(std::string(kDevices) + "/")) return JsonError(404, "no such endpoint");
    std::string rest = path_.substr(kDevices.size() + 1);
    size_t slash = rest.find('/');
    std::string device = rest.substr(0, slash);
    std::string what = slash == std::string::npos ? "" : rest.substr(slash + 1);
    auto row = ctx_.index.Device(device);
    if (!row) return JsonError(500, row.error().message());
    if (!row->has_value()) return JsonError(404, "no device \"" + device + "\"");
    if (what.empty()) return OneDevice(**row);
    if (what == "coverage") return Coverage(device);
    if (what == "coverage/hours") return HoursAnswer(ctx_, device, request_.raw_query);
    if (what == "series") return SeriesAnswer(ctx_, device, request_.raw_query);
    if (what == "readings") return Readings(device);
    if (what == "events") return Events(device);
    return JsonError(404, "no such endpoint");
  }

  HttpResponse ListDevices() {
    auto devices = ctx_.index.Devices();
    if (!devices) return JsonError(500, devices.error().message());
    bool summary = QueryParam(request_.raw_query, "summary") == "1";
    int64_t now = ctx_.env.WallNowMs();
    CjsonPtr arr(cJSON_CreateArray());
    for (const DeviceRow& d : *devices) {
      cJSON* item = DeviceJson(d);
      cJSON_AddItemToArray(arr.get(), item);
      std::string error;
      if (summary && !AddDeviceSummary(ctx_, d.device, now, item, &error))
        return JsonError(500, error);
    }
    CjsonPtr obj(cJSON_CreateObject());
    AddNumber(obj.get(), "now", static_cast<double>(now));
    cJSON_AddItemToObject(obj.get(), "devices", arr.release());
    return Json(200, obj.get());
  }

  HttpResponse OneDevice(const DeviceRow& d) {
    CjsonPtr obj(DeviceJson(d));
    auto sources = ctx_.index.Sources(d.device);
    if (!sources) return JsonError(500, sources.error().message());
    cJSON* arr = cJSON_AddArrayToObject(obj.get(), "sources");
    for (const std::string& s : *sources) {
      auto c = ctx_.index.Coverage(d.device, s, std::nullopt, std::nullopt);
      if (!c) return JsonError(500, c.error().message());
      cJSON_AddItemToArray(arr, CoverageJson(*c));
    }
    return Json(200, obj.get());
  }

  bool Window(std::optional<int64_t>* from, std::optional<int64_t>* to, std::string* error) {
    std::string f = QueryParam(request_.raw_query, "from"),
                t = QueryParam(request_.raw_query, "to");
    *from = ParseTime(f);
    *to = ParseTime(t);
    if ((!f.empty() && !*from) || (!t.empty() && !*to)) {
      *error = "from/to must be ms since the epoch or YYYY-MM-DDTHH:MM:SS[.mmm]Z";
      return false;
    }
    return true;
  }

  HttpResponse Coverage(const std::string& device) {
    std::optional<int64_t> from, to;
    std::string error;
    if (!Window(&from, &to, &error)) return JsonError(400, error);
    std::string source = QueryParam(request_.raw_query, "source");
    std::vector<std::string> sources;
    if (source.empty()) {
      auto all = ctx_.index.Sources(device);
      if (!all) return JsonError(500, all.error().message());
      sources = *all;
    } else {
      sources.push_back(source);
    }
    CjsonPtr obj(cJSON_CreateObject());
    cJSON_AddStringToObject(obj.get(), "device", device.c_str());
    cJSON* arr = cJSON_AddArrayToObject(obj.get(), "sources");
    for (const std::string& s : sources) {
      auto c = ctx_.index.Coverage(device, s, from, to);
      if (!c) return JsonError(500, c.error().message());
      cJSON_AddItemToArray(arr, CoverageJson(*c));
    }
    return Json(200, obj.get());
  }

  HttpResponse Readings(const std::string& device) {
    std::optional<int64_t> from, to;
    std::string error;
    if (!Window(&from, &to, &error)) return JsonError(400, error);
    std::string source = QueryParam(request_.raw_query, "source");
    if (source.empty()) return JsonError(400, "source= is required");
    std::string format = QueryParam(request_.raw_query, "format");
    if (format.empty()) format = "jsonl";
    if (format != "jsonl" && format != "csv") return JsonError(400, "format must be jsonl or csv");
    int64_t f = from.value_or(INT64_MIN), t = to.value_or(INT64_MAX);
    auto segments = ctx_.index.Segments(device, source, f, t);
    if (!segments) return JsonError(500, segments.error().message());
    auto stream = std::make_shared<ReadingsStream>(
        ctx_.store, std::move(*segments), f, t,
        format == "csv" ? ReadingsStream::Format::kCsv : ReadingsStream::Format::kJsonLines,
        ctx_.config.max_line_bytes);
    HttpResponse r;
    r.status = 200;
    r.headers.emplace_back("Content-Type",
                           format == "csv" ? "text/csv; charset=utf-8" : "application/x-ndjson");
    r.stream = [stream](char* buf, size_t max) { return stream->Fill(buf, max); };
    return r;
  }

  HttpResponse Events(const std::string& device) {
    std::string limit_text = QueryParam(request_.raw_query, "limit");
    int limit = std::clamp(ParseDecimal<int>(limit_text).value_or(100), 1, 10000);
    auto events = ctx_.index.Events(device, limit);
    if (!events) return JsonError(500, events.error().message());
    CjsonPtr obj(cJSON_CreateObject());
    cJSON* arr = cJSON_AddArrayToObject(obj.get(), "events");
    for (const EventRow& e : *events) {
      cJSON* ev = cJSON_CreateObject();
      AddNumber(ev, "id", static_cast<double>(e.id));
      AddNumber(ev, "at", static_cast<double>(e.at_ms));
      cJSON_AddStringToObject(ev, "kind", e.kind.c_str());
      cJSON_AddStringToObject(ev, "device", e.device.c_str());
      cJSON_AddStringToObject(ev, "bucket", e.bucket.c_str());
      cJSON_AddStringToObject(ev, "key", e.key.c_str());
      cJSON_AddStringToObject(ev, "detail", e.detail.c_str());
      cJSON_AddItemToArray(arr, ev);
    }
    return Json(200, obj.get());
  }

  HttpResponse HandleEvents() {
    auto batch = ParseS3Events(body_);
    if (!batch) return JsonError(400, batch.error().message());
    if (!batch->subscribe_url.empty()) {
      log::Notice("SNS subscription confirmation received; confirm it at {}", batch->subscribe_url);
    }
    ctx_.metrics.events_received += batch->records.size();
    CjsonPtr obj(cJSON_CreateObject());
    cJSON* arr = cJSON_AddArrayToObject(obj.get(), "records");
    bool failed = false;
    for (const S3EventRecord& rec : batch->records) {
      cJSON* item = cJSON_CreateObject();
      cJSON_AddStringToObject(item, "key", rec.key.c_str());
      auto result = ctx_.upstream->Fetch(rec);
      if (!result) {
        failed = true;
        ctx_.metrics.event_fetch_errors += 1;
        log::Error("s3 event {}: {}", rec.key, result.error().message());
        cJSON_AddStringToObject(item, "outcome", "error");
        cJSON_AddStringToObject(item, "error", result.error().message().c_str());
      } else {
        cJSON_AddStringToObject(item, "outcome", OutcomeName(result->outcome));
        if (!result->reason.empty())
          cJSON_AddStringToObject(item, "reason", result->reason.c_str());
      }
      cJSON_AddItemToArray(arr, item);
    }
    AddNumber(obj.get(), "ignored", static_cast<double>(batch->ignored));
    // A failed fetch answers 503 so the notifier delivers the event again.
    return Json(failed ? 503 : 200, obj.get());
  }

  ReceiverContext& ctx_;
  HttpRequest request_;
  std::string path_;
  bool collecting_ = false;
  bool enrolling_ = false;
  std::string body_;
  int status_ = 0;
};

bool IsApiPath(const std::string& raw_path) {
  return raw_path == "/healthz" || raw_path == "/metrics" || raw_path.starts_with("/api/") ||
         raw_path.starts_with("/v1/");
}

}  // namespace

std::unique_ptr<HttpExchange> NewApiExchange(ReceiverContext& context, HttpRequest request) {
  return std::make_unique<ApiExchange>(context, std::move(request));
}

Router MakeRouter(ReceiverContext& context) {
  return [&context](HttpRequest request) -> std::unique_ptr<HttpExchange> {
    // Bucket names are 3+ characters of [a-z0-9.-]: "api", "v1", "healthz" and "metrics"
    // are reserved here, documented in docs/receiver.md.
    if (IsApiPath(request.raw_path)) return NewApiExchange(context, std::move(request));
    if (IsDashboardRequest(request)) return NewDashboardExchange(context, std::move(request));
    return NewS3Exchange(context, std::move(request));
  };
}

}  // namespace granary::receiver
