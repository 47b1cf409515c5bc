// type = "eagle": a Rainforest EAGLE gateway on the LAN (docs/configuration.md, protocol in
// eagle-protocol.md). gen2 (EAGLE-200, EAGLE 3): device_list to find the meter(s), then one
// device_query per meter per poll. gen1 (legacy EAGLE): get_instantaneous_demand and
// get_current_summation. The decoding lives in eagle_decode.cpp; this file is the talking:
// one request at a time per gateway, at least `request_gap` apart, and a doubling back-off
// after failures so a struggling gateway is not hammered.
#include <fmt/format.h>
#include <fmt/ranges.h>

#include <algorithm>
#include <map>
#include <mutex>
#include <set>
#include <thread>

#include "agent/sources/eagle_decode.h"
#include "agent/sources/http_client.h"
#include "agent/sources/quote.h"
#include "agent/sources/source.h"
#include "platform/log.h"

namespace granary {
namespace {

using std::chrono::milliseconds;
using Clock = std::chrono::steady_clock;

constexpr size_t kQuoteBytes = 256;
constexpr const char* kPath = "/cgi-bin/post_manager";
constexpr int kSummationConfirmPolls = 3;

enum class Generation { kAuto, kGen2, kGen1 };

struct EagleOptions {
  std::string url;  // scheme://host[:port], no path
  std::string cloud_id;
  std::string install_code;
  Generation generation = Generation::kAuto;
  std::vector<std::string> meters;  // pinned HardwareAddresses; empty: select one
  bool all_variables = false;
  bool tls_verify = true;
  std::string ca_file;
  std::string pinned_public_key;
  uint64_t max_body = 256 * 1024;
  milliseconds request_gap{1000};
  milliseconds backoff_max{300'000};
  milliseconds interval{10'000};
};

// Requests to one gateway are serialised across every source that names it, and spaced
// request_gap apart: the EAGLE's CGI server falls over under concurrent or rapid requests.
struct Gateway {
  std::timed_mutex mu;
  Clock::time_point last_request_end;  // guarded by mu
};

Gateway& GatewayFor(const std::string& url) {
  static std::mutex map_mutex;
  static std::map<std::string, std::unique_ptr<Gateway>> gateways;
  std::lock_guard<std::mutex> guard(map_mutex);
  std::unique_ptr<Gateway>& gateway = gateways[url];
  if (!gateway) gateway = std::make_unique<Gateway>();
  return *gateway;
}

std::string DeviceQueryBody(const std::string& address, bool all) {
  std::string body = "<Command><Name>device_query</Name><DeviceDetails><HardwareAddress>" +
                     address + "</HardwareAddress></DeviceDetails><Components>";
  if (all) {
    body += "<All>Y</All>";
  } else {
    // Never Multiplier/Divisor by name: old firmware answers that with malformed XML.
    body +=
        "<Component><Name>Main</Name><Variables>"
        "<Variable><Name>zigbee:InstantaneousDemand</Name></Variable>"
        "<Variable><Name>zigbee:CurrentSummationDelivered</Name></Variable>"
        "<Variable><Name>zigbee:CurrentSummationReceived</Name></Variable>"
        "</Variables></Component>";
  }
  return body + "</Components></Command>";
}

std::string Gen1Body(const char* command) {
  return fmt::format("<Command><Name>{}</Name></Command>", command);
}

// The reading's data: only the values the meter gave; a missing one is absent, never 0.
std::string Render(const eagle::MeterValues& v) {
  std::string json = "{\"meter\":" + QuoteRaw(v.meter, 64);
  auto add = [&json](const char* key, const std::optional<double>& value) {
    if (value) json += fmt::format(",\"{}\":{}", key, *value);
  };
  add("demand_kw", v.demand_kw);
  add("delivered_kwh", v.delivered_kwh);
  add("received_kwh", v.received_kwh);
  add("price", v.price);
  if (!v.currency.empty()) json += ",\"currency\":" + QuoteRaw(v.currency, 16);
  if (v.meter_time_unix) json += fmt::format(",\"meter_ts\":{}", *v.meter_time_unix * 1000);
  return json + "}";
}

class EagleSource : public Source {
 public:
  explicit EagleSource(EagleOptions options)
      : o_(std::move(options)),
        client_(ClientOptions(o_)),
        gateway_(GatewayFor(o_.url)),
        generation_(o_.generation) {}

  Result<std::vector<SourceReading>> Poll(milliseconds timeout) override {
    if (skip_polls_ > 0) {
      --skip_polls_;
      return Error(fmt::format("backing off after {} failed polls ({} more to skip); last: {}",
                               failures_, skip_polls_, last_error_));
    }
    deadline_ = Clock::now() + timeout;
    Result<std::vector<SourceReading>> result = PollOnce();
    if (result) {
      failures_ = 0;
      return result;
    }
    ++failures_;
    last_error_ = result.error().message();
    // The effective interval doubles with each failure in a row, up to backoff_max.
    uint64_t max_skip =
        static_cast<uint64_t>(o_.backoff_max / std::max(o_.interval, milliseconds(1)));
    uint64_t skip = failures_ >= 32 ? max_skip : (uint64_t{1} << (failures_ - 1)) - 1;
    skip_polls_ = std::min(skip, max_skip > 0 ? max_skip - 1 : 0);
    return result;
  }

 private:
  static HttpClientOptions ClientOptions(const EagleOptions& o) {
    HttpClientOptions c;
    c.url = o.url + kPath;
    c.username = o.cloud_id;
    c.password = o.install_code;
    c.tls_verify = o.tls_verify;
    c.ca_file = o.ca_file;
    c.pinned_public_key = o.pinned_public_key;
    c.max_body = o.max_body;
    // The reply's Content-Type is text/html whatever it holds, so nothing asks for one;
    // an empty Expect: stops curl waiting for a 100 the CGI server never sends.
    c.headers = {"Content-Type: text/xml", "Expect:"};
    c.reuse_connection = false;
    return c;
  }

  Result<std::vector<SourceReading>> PollOnce() {
    if (generation_ == Generation::kAuto) {
      Status detected = Detect();
      if (!detected) return detected.error();
    }
    return generation_ == Generation::kGen2 ? PollGen2() : PollGen1();
  }

  // One POST, serialised per gateway and spaced `request_gap` after the previous one ended.
  // Any status but 200 is an error.
  Result<std::string> Post(const std::string& body) {
    auto remaining = [&] {
      return std::chrono::duration_cast<milliseconds>(deadline_ - Clock::now());
    };
    std::unique_lock<std::timed_mutex> lock(gateway_.mu, std::defer_lock);
    if (!lock.try_lock_for(std::max(remaining(), milliseconds(0)))) {
      return Error("POST " + client_.display_url() + ": gateway busy with another request");
    }
    Clock::time_point earliest = gateway_.last_request_end + o_.request_gap;
    if (Clock::now() < earliest) {
      if (earliest > deadline_) {
        return Error("POST " + client_.display_url() + ": no time left within the timeout");
      }
      std::this_thread::sleep_until(earliest);
    }
    milliseconds left = remaining();
    if (left <= milliseconds(0)) {
      return Error("POST " + client_.display_url() + ": no time left within the timeout");
    }
    Result<HttpReply> reply = client_.Fetch(body, left);
    gateway_.last_request_end = Clock::now();
    if (!reply) return reply.error();
    if (reply->status == 401) {
      return Error("HTTP 401 from " + client_.display_url() + ": wrong cloud_id or install_code");
    }
    if (reply->status != 200) return client_.StatusError(*reply);
    return std::move(reply->body);
  }

  Error ReplyError(const std::string& command, const Error& e, const std::string& body) const {
    return Error(fmt::format("{} from {}: {}: {}", command, client_.display_url(), e.message(),
                             QuoteRaw(body, kQuoteBytes)));
  }

  // gen2 answers device_list with a DeviceList; else a legacy unit names itself Z109-EAGLE.
  Status Detect() {
    Result<std::string> list = Post("<Command><Name>device_list</Name></Command>");
    if (!list && list.error().message().find("HTTP 401") != std::string::npos) {
      return list.error();
    }
    if (list) {
      Result<std::vector<eagle::Device>> devices = eagle::ParseDeviceList(*list);
      if (devices) {
        generation_ = Generation::kGen2;
        log::Notice("eagle {}: EAGLE-200 local API (gen2)", client_.display_url());
        return ChooseMeters(*devices);
      }
    }
    Result<std::string> info = Post(Gen1Body("get_network_info"));
    if (!info) return info.error().Wrap("detecting the EAGLE generation");
    Result<eagle::Fragment> fragment = eagle::ParseFragment(*info);
    if (fragment) {
      Result<eagle::NetworkInfo> n = eagle::DecodeNetworkInfo(*fragment);
      if (n && n->model_id == "Z109-EAGLE") {
        generation_ = Generation::kGen1;
        log::Notice("eagle {}: legacy EAGLE REST API (gen1), firmware {}", client_.display_url(),
                    n->fw_version);
        return Status::Ok();
      }
    }
    return Error(
        "detecting the EAGLE generation at " + client_.display_url() +
        ": neither a gen2 DeviceList nor a gen1 Z109-EAGLE: " + QuoteRaw(*info, kQuoteBytes));
  }

  // The meters to query: the pinned ones, or the one SelectMeter picks. Re-run when a meter
  // stops being Connected; a change of meter is logged, never silent.
  Status Discover() {
    Result<std::string> body = Post("<Command><Name>device_list</Name></Command>");
    if (!body) return body.error();
    Result<std::vector<eagle::Device>> devices = eagle::ParseDeviceList(*body);
    if (!devices) return ReplyError("device_list", devices.error(), *body);
    return ChooseMeters(*devices);
  }

  Status ChooseMeters(const std::vector<eagle::Device>& devices) {
    std::vector<std::string> chosen;
    if (o_.meters.empty()) {
      std::optional<size_t> pick = eagle::SelectMeter(devices, "");
      if (!pick) {
        return Error(fmt::format("device_list from {}: no electric meter among {} devices",
                                 client_.display_url(), devices.size()));
      }
      chosen.push_back(devices[*pick].hardware_address);
    } else {
      for (const std::string& pin : o_.meters) {
        if (!eagle::SelectMeter(devices, pin)) {
          return Error(fmt::format("device_list from {}: meter {} is not paired",
                                   client_.display_url(), pin));
        }
        chosen.push_back(pin);
      }
    }
    if (chosen != meters_) {
      std::string was = meters_.empty() ? "none" : fmt::format("{}", fmt::join(meters_, ", "));
      log::Notice("eagle {}: polling meter(s) {} (was {})", client_.display_url(),
                  fmt::join(chosen, ", "), was);
      meters_ = std::move(chosen);
    }
    rediscover_ = false;
    return Status::Ok();
  }

  Result<std::vector<SourceReading>> PollGen2() {
    if (meters_.empty() || rediscover_) {
      Status found = Discover();
      if (!found) return found.error();
    }
    std::vector<SourceReading> readings;
    for (const std::string& meter : meters_) {
      bool all = o_.all_variables || needs_all_.count(meter) > 0;
      Result<std::string> body = Post(DeviceQueryBody(meter, all));
      if (!body) return body.error();
      Result<eagle::DeviceQuery> query = eagle::ParseDeviceQuery(*body);
      if (!query) return ReplyError("device_query " + meter, query.error(), *body);
      if (!query->details.IsConnected()) {
        rediscover_ = true;
        return Error(fmt::format("meter {} at {} is {}: no fresh data", meter,
                                 client_.display_url(),
                                 QuoteRaw(query->details.connection_status, 64)));
      }
      if (!all && eagle::NeedsAllVariables(*query)) {
        log::Notice("eagle {}: meter {} left out a requested variable; asking for all from now on",
                    client_.display_url(), meter);
        needs_all_.insert(meter);
      }
      Result<eagle::MeterValues> values = eagle::DecodeDeviceQuery(*query);
      if (!values) return ReplyError("device_query " + meter, values.error(), *body);
      if (!values->demand_kw && !values->delivered_kwh && !values->received_kwh) {
        return ReplyError("device_query " + meter, Error("no demand or summation value"), *body);
      }
      GuardSummation(meter, *values);
      readings.push_back({0, Render(*values)});
    }
    return readings;
  }

  Result<std::vector<SourceReading>> PollGen1() {
    Result<eagle::MeterValues> demand = Gen1Values("get_instantaneous_demand");
    if (!demand) return demand.error();
    Result<eagle::MeterValues> summation = Gen1Values("get_current_summation");
    if (!summation) return summation.error();
    // A TimeStamp unchanged since the last poll is the same reading again.
    if (demand->meter_time_unix && demand->meter_time_unix == last_gen1_time_) {
      return std::vector<SourceReading>{};
    }
    last_gen1_time_ = demand->meter_time_unix;
    eagle::MeterValues v = std::move(*demand);
    v.delivered_kwh = summation->delivered_kwh;
    v.received_kwh = summation->received_kwh;
    GuardSummation(v.meter, v);
    return std::vector<SourceReading>{{0, Render(v)}};
  }

  // A delivered summation below the last good one (0 after a power cut) is left out, unless
  // it persists for kSummationConfirmPolls polls: downstream would see a huge negative, then
  // positive, delta.
  void GuardSummation(const std::string& meter, eagle::MeterValues& v) {
    if (!v.delivered_kwh) return;
    SummationState& s = summations_[meter];
    if (s.last_good && *v.delivered_kwh < *s.last_good) {
      if (++s.lower_polls < kSummationConfirmPolls) {
        log::Warning("eagle {}: meter {} summation fell from {} to {} kWh; left out",
                     client_.display_url(), meter, *s.last_good, *v.delivered_kwh);
        v.delivered_kwh.reset();
        return;
      }
      log::Warning("eagle {}: meter {} summation stays at {} kWh; accepted", client_.display_url(),
                   meter, *v.delivered_kwh);
    }
    s.last_good = v.delivered_kwh;
    s.lower_polls = 0;
  }

  Result<eagle::MeterValues> Gen1Values(const char* command) {
    Result<std::string> body = Post(Gen1Body(command));
    if (!body) return body.error();
    Result<eagle::Fragment> fragment = eagle::ParseFragment(*body);
    if (!fragment) return ReplyError(command, fragment.error(), *body);
    Result<eagle::MeterValues> values = eagle::DecodeFragment(*fragment);
    if (!values) return ReplyError(command, values.error(), *body);
    return values;
  }

  const EagleOptions o_;
  HttpClient client_;
  Gateway& gateway_;
  Generation generation_;
  std::vector<std::string> meters_;
  std::set<std::string> needs_all_;
  bool rediscover_ = false;
  std::optional<int64_t> last_gen1_time_;
  Clock::time_point deadline_;
  struct SummationState {
    std::optional<double> last_good;
    int lower_polls = 0;
  };
  std::map<std::string, SummationState> summations_;
  uint64_t failures_ = 0;
  uint64_t skip_polls_ = 0;
  std::string last_error_;
};

std::unique_ptr<Source> CreateEagle(ConfigReader& reader) {
  size_t errors_before = reader.diagnostics()->errors.size();
  EagleOptions o;
  o.url = reader.RequiredString("url");
  if (!o.url.empty()) {
    size_t host = o.url.find("://");
    bool has_path =
        host != std::string::npos && o.url.find_first_of("/?#@", host + 3) != std::string::npos;
    if (!HasHttpScheme(o.url) || has_path) {
      reader.Fail("url", "must be http://HOST[:PORT] or https://HOST[:PORT], without a path (got " +
                             QuoteRaw(o.url, 128) + ")");
    }
  }
  o.cloud_id = reader.String("cloud_id", "");
  o.install_code = reader.SecretString("install_code", "");
  if (o.cloud_id.empty() != o.install_code.empty()) {
    reader.Fail(o.cloud_id.empty() ? "cloud_id" : "install_code",
                "cloud_id and install_code go together (both from the gateway's label)");
  }
  std::string generation = reader.Enum("generation", "auto", {"auto", "gen2", "gen1"});
  o.generation = generation == "gen2"   ? Generation::kGen2
                 : generation == "gen1" ? Generation::kGen1
                                        : Generation::kAuto;
  o.meters = reader.StringArray("meters");
  for (const std::string& m : o.meters) {
    if (!eagle::ParseHex(m)) {
      reader.Fail("meters", "each entry must be a HardwareAddress such as 0x0013500100aa3ce7");
      break;
    }
  }
  o.all_variables = reader.Bool("all_variables", false);
  o.tls_verify = reader.Bool("tls_verify", true);
  o.ca_file = reader.String("ca_file", "");
  o.pinned_public_key = reader.String("pinned_public_key", "");
  if (!o.pinned_public_key.empty() && o.url.rfind("https://", 0) != 0) {
    reader.Fail("pinned_public_key", "needs an https:// url");
  }
  o.max_body = reader.Size("max_body", o.max_body, 1024);
  o.request_gap = reader.Duration("request_gap", o.request_gap, milliseconds(0));
  o.backoff_max = reader.Duration("backoff_max", o.backoff_max, milliseconds(0));
  o.interval = SourceInterval(reader);
  if (reader.diagnostics()->errors.size() > errors_before) return nullptr;
  return std::make_unique<EagleSource>(std::move(o));
}

}  // namespace

extern const SourceType kEagleSourceType{"eagle", &CreateEagle};

}  // namespace granary
