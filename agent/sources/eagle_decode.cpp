#include "agent/sources/eagle_decode.h"

#include <cjson/cJSON.h>
#include <fmt/format.h>
#include <time.h>

#include <charconv>
#include <cmath>
#include <limits>

#include "agent/sources/quote.h"
#include "platform/handles.h"
#include "platform/strings.h"
#include "platform/xml_tree.h"

namespace granary::eagle {
namespace {

constexpr size_t kQuoteBytes = 64;

bool AllDigits(std::string_view s) {
  return !s.empty() && s.find_first_not_of("0123456789") == std::string_view::npos;
}

// The reply's `<Error><Description>` (gen2 firmware answers a bad command this way), else
// what the root should have been.
Error WrongRoot(const XmlElement& root, std::string_view wanted) {
  if (EqualsIgnoreCase(root.name, "Error")) {
    return Error("EAGLE answered an error: " + QuoteRaw(root.ChildText("Description"), 256));
  }
  return Error(fmt::format("expected <{}>, got <{}>", wanted, QuoteRaw(root.name, kQuoteBytes)));
}

// Absent or empty: nullopt. Malformed: an error naming the field.
Result<std::optional<uint64_t>> OptionalHex(std::string_view field, std::string_view text) {
  if (text.empty()) return std::optional<uint64_t>();
  Result<uint64_t> v = ParseHex(text);
  if (!v) return v.error().Wrap(std::string(field));
  return std::optional<uint64_t>(*v);
}

Result<Device> DeviceFrom(const XmlElement& e) {
  Device d;
  d.name = e.ChildText("Name");
  d.hardware_address = e.ChildText("HardwareAddress");
  d.manufacturer = e.ChildText("Manufacturer");
  d.model_id = e.ChildText("ModelId");
  d.protocol = e.ChildText("Protocol");
  d.connection_status = e.ChildText("ConnectionStatus");
  d.network_address = e.ChildText("NetworkAddress");
  d.network_interface = e.ChildText("NetworkInterface");
  // gen2 LastContact is hex *Unix* seconds, unlike gen1's ZigBee-epoch TimeStamp.
  Result<std::optional<uint64_t>> contact = OptionalHex("LastContact", e.ChildText("LastContact"));
  if (!contact) return contact.error().Wrap("device " + QuoteRaw(d.hardware_address, kQuoteBytes));
  if (contact->has_value() && **contact != 0) {
    if (**contact > static_cast<uint64_t>(std::numeric_limits<int64_t>::max())) {
      return Error("device " + QuoteRaw(d.hardware_address, kQuoteBytes) +
                   ": LastContact out of range");
    }
    d.last_contact_unix = static_cast<int64_t>(**contact);
  }
  return d;
}

// a × b / c without overflow in the product; `c` is never 0.
double Scale(long double raw, uint64_t multiplier, uint64_t divisor) {
  return static_cast<double>(raw * static_cast<long double>(multiplier) /
                             static_cast<long double>(divisor));
}

// Multiplier or Divisor: absent or 0 means 1 (manual rule).
Result<uint64_t> ScaleFactor(const Fragment& f, std::string_view field) {
  Result<std::optional<uint64_t>> v = OptionalHex(field, f.Field(field));
  if (!v) return v.error();
  return v->value_or(1) == 0 ? 1 : v->value_or(1);
}

Result<std::optional<int64_t>> FragmentTime(const Fragment& f, std::string_view field) {
  Result<std::optional<uint64_t>> v = OptionalHex(field, f.Field(field));
  if (!v) return v.error();
  if (!v->has_value()) return std::optional<int64_t>();
  return ZigbeeToUnix(**v);
}

Result<uint64_t> RequiredHex(const Fragment& f, std::string_view field) {
  std::string_view text = f.Field(field);
  if (text.empty()) return Error(fmt::format("<{}> has no {}", f.name, field));
  Result<uint64_t> v = ParseHex(text);
  if (!v) return v.error().Wrap(std::string(field));
  return v;
}

Result<MeterValues> DecodeDemand(const Fragment& f, MeterValues v) {
  Result<uint64_t> raw = RequiredHex(f, "Demand");
  Result<uint64_t> multiplier = ScaleFactor(f, "Multiplier");
  Result<uint64_t> divisor = ScaleFactor(f, "Divisor");
  if (!raw) return raw.error();
  if (!multiplier) return multiplier.error();
  if (!divisor) return divisor.error();
  std::optional<int64_t> demand = SignedDemand(*raw);
  if (demand) v.demand_kw = Scale(static_cast<long double>(*demand), *multiplier, *divisor);
  return v;
}

Result<MeterValues> DecodeSummation(const Fragment& f, MeterValues v) {
  Result<uint64_t> multiplier = ScaleFactor(f, "Multiplier");
  Result<uint64_t> divisor = ScaleFactor(f, "Divisor");
  if (!multiplier) return multiplier.error();
  if (!divisor) return divisor.error();
  Result<uint64_t> delivered = RequiredHex(f, "SummationDelivered");
  if (!delivered) return delivered.error();
  v.delivered_kwh = Scale(static_cast<long double>(*delivered), *multiplier, *divisor);
  Result<std::optional<uint64_t>> received =
      OptionalHex("SummationReceived", f.Field("SummationReceived"));
  if (!received) return received.error();
  if (received->has_value()) {
    v.received_kwh = Scale(static_cast<long double>(**received), *multiplier, *divisor);
  }
  return v;
}

Result<MeterValues> DecodePrice(const Fragment& f, MeterValues v) {
  Result<uint64_t> price = RequiredHex(f, "Price");
  if (!price) return price.error();
  Result<std::optional<uint64_t>> digits = OptionalHex("TrailingDigits", f.Field("TrailingDigits"));
  if (!digits) return digits.error();
  if (digits->value_or(0) > 18) return Error("TrailingDigits out of range");
  Result<std::optional<uint64_t>> currency = OptionalHex("Currency", f.Field("Currency"));
  if (!currency) return currency.error();
  if (*price != 0) {  // zero: no price set
    uint64_t ten_power = 1;
    for (uint64_t i = 0; i < digits->value_or(0); ++i) ten_power *= 10;
    v.price = static_cast<double>(static_cast<long double>(*price) / ten_power);
    if (currency->has_value()) v.currency = CurrencyName(**currency);
  }
  return v;
}

// A JSON member as text: strings as they are, numbers printed; "" for anything else.
std::string JsonText(const cJSON* object, const char* key) {
  const cJSON* item = cJSON_GetObjectItemCaseSensitive(object, key);
  if (cJSON_IsString(item)) return item->valuestring;
  if (cJSON_IsNumber(item)) return fmt::format("{}", item->valuedouble);
  return {};
}

Result<CjsonPtr> ParseJsonObject(std::string_view body) {
  const char* end = nullptr;
  CjsonPtr root(cJSON_ParseWithLengthOpts(body.data(), body.size(), &end, false));
  if (!root) return Error("malformed JSON: " + QuoteRaw(body, kQuoteBytes));
  auto consumed = static_cast<size_t>(end - body.data());
  if (!TrimSpace(body.substr(consumed)).empty()) {
    return Error("malformed JSON (trailing bytes): " + QuoteRaw(body, kQuoteBytes));
  }
  if (!cJSON_IsObject(root.get()))
    return Error("not a JSON object: " + QuoteRaw(body, kQuoteBytes));
  return root;
}

bool IsYes(std::string_view flag) { return EqualsIgnoreCase(flag, "Y") || flag == "true"; }

}  // namespace

// ---- gen2 ----

bool Device::IsElectricMeter() const { return EqualsIgnoreCase(model_id, "electric_meter"); }
bool Device::IsConnected() const { return EqualsIgnoreCase(connection_status, "Connected"); }

Result<std::vector<Device>> ParseDeviceList(std::string_view body) {
  Result<XmlElement> root = ParseXml(body);
  if (!root) return root.error();
  if (!EqualsIgnoreCase(root->name, "DeviceList")) return WrongRoot(*root, "DeviceList");
  std::vector<Device> devices;
  for (const XmlElement& child : root->children) {
    if (!EqualsIgnoreCase(child.name, "Device")) continue;
    Result<Device> d = DeviceFrom(child);
    if (!d) return d.error();
    devices.push_back(std::move(*d));
  }
  return devices;
}

std::optional<size_t> SelectMeter(const std::vector<Device>& devices, std::string_view pinned) {
  std::optional<size_t> best;
  for (size_t i = 0; i < devices.size(); ++i) {
    const Device& d = devices[i];
    if (!pinned.empty()) {
      if (EqualsIgnoreCase(d.hardware_address, pinned)) return i;
      continue;
    }
    if (!d.IsElectricMeter() || d.hardware_address.empty()) continue;
    if (!best) {
      best = i;
      continue;
    }
    const Device& b = devices[*best];
    auto rank = [](const Device& x) {
      return std::pair(x.IsConnected(), x.last_contact_unix.value_or(-1));
    };
    if (rank(d) > rank(b)) best = i;
  }
  return best;
}

const Variable* DeviceQuery::Find(std::string_view name) const {
  for (const Variable& v : variables) {
    if (v.name == name) return &v;
  }
  return nullptr;
}

Result<DeviceQuery> ParseDeviceQuery(std::string_view body) {
  Result<XmlElement> root = ParseXml(body);
  if (!root) return root.error();
  if (!EqualsIgnoreCase(root->name, "Device")) return WrongRoot(*root, "Device");
  DeviceQuery q;
  const XmlElement* details = root->Child("DeviceDetails");
  if (details == nullptr) return Error("<Device> has no <DeviceDetails>");
  Result<Device> d = DeviceFrom(*details);
  if (!d) return d.error();
  q.details = std::move(*d);
  const XmlElement* components = root->Child("Components");
  if (components == nullptr) return q;
  for (const XmlElement& component : components->children) {
    if (!EqualsIgnoreCase(component.name, "Component")) continue;
    const XmlElement* variables = component.Child("Variables");
    if (variables == nullptr) continue;
    for (const XmlElement& v : variables->children) {
      if (!EqualsIgnoreCase(v.name, "Variable")) continue;
      Variable out;
      out.component = component.ChildText("Name");
      // device_details lists bare names: <Variable>zigbee:…</Variable>.
      out.name = v.children.empty() ? TrimSpace(v.text) : v.ChildText("Name");
      out.value = v.ChildText("Value");
      out.units = v.ChildText("Units");
      q.variables.push_back(std::move(out));
    }
  }
  return q;
}

Result<std::optional<double>> ParseValue(std::string_view value, std::string_view units,
                                         Quantity quantity) {
  std::string_view text = TrimSpace(value);
  if (text.empty()) return std::optional<double>();
  double number = 0;
  auto [ptr, ec] = std::from_chars(text.data(), text.data() + text.size(), number);
  // "invalid", "nan", "inf": missing, never 0.
  if (ec != std::errc() || !std::isfinite(number)) return std::optional<double>();
  std::string_view inline_unit = TrimSpace(text.substr(static_cast<size_t>(ptr - text.data())));
  std::string_view unit = inline_unit.empty() ? TrimSpace(units) : inline_unit;
  if (quantity == Quantity::kPlain) return std::optional<double>(number);
  std::string_view base = quantity == Quantity::kPower ? "W" : "Wh";
  std::string kilo = "k" + std::string(base);
  // An empty unit is the documented one (kW, kWh): empty <Units> elements are common.
  if (unit.empty() || EqualsIgnoreCase(unit, kilo)) return std::optional<double>(number);
  if (EqualsIgnoreCase(unit, base)) return std::optional<double>(number / 1000);
  return Error(fmt::format("unit {} is not {} or {}", QuoteRaw(unit, kQuoteBytes), base, kilo));
}

std::optional<int64_t> ParseTime(std::string_view value) {
  std::string text(TrimSpace(value));
  int64_t seconds = 0;
  if (AllDigits(text)) {
    auto [ptr, ec] = std::from_chars(text.data(), text.data() + text.size(), seconds);
    if (ec != std::errc()) return std::nullopt;
  } else {
    struct tm tm {};
    const char* end = strptime(text.c_str(), "%a %b %d %H:%M:%S %Y", &tm);
    if (end == nullptr || !TrimSpace(end).empty()) return std::nullopt;
    seconds = timegm(&tm);
  }
  if (seconds <= 0 || seconds == kZigbeeEpochUnix) return std::nullopt;
  return seconds;
}

Result<MeterValues> DecodeDeviceQuery(const DeviceQuery& query) {
  MeterValues v;
  v.meter = query.details.hardware_address;
  v.meter_time_unix = query.details.last_contact_unix;
  struct Target {
    const char* name;
    Quantity quantity;
    std::optional<double>* out;
  };
  const Target targets[] = {
      {"zigbee:InstantaneousDemand", Quantity::kPower, &v.demand_kw},
      {"zigbee:CurrentSummationDelivered", Quantity::kEnergy, &v.delivered_kwh},
      {"zigbee:CurrentSummationReceived", Quantity::kEnergy, &v.received_kwh},
      {"zigbee:Price", Quantity::kPlain, &v.price},
  };
  for (const Target& t : targets) {
    const Variable* var = query.Find(t.name);
    if (var == nullptr) continue;
    Result<std::optional<double>> parsed = ParseValue(var->value, var->units, t.quantity);
    if (!parsed) return parsed.error().Wrap(t.name);
    *t.out = *parsed;
  }
  // Renamed in 2021 firmware.
  const Variable* currency = query.Find("zigbee:PriceCurrency");
  if (currency == nullptr) currency = query.Find("zigbee:Currency");
  if (v.price && currency != nullptr) v.currency = currency->value;
  return v;
}

bool NeedsAllVariables(const DeviceQuery& query) {
  return query.Find("zigbee:InstantaneousDemand") == nullptr ||
         query.Find("zigbee:CurrentSummationDelivered") == nullptr ||
         query.Find("zigbee:CurrentSummationReceived") == nullptr;
}

// ---- gen1 ----

std::string_view Fragment::Field(std::string_view field) const {
  for (const auto& [name, text] : fields) {
    if (EqualsIgnoreCase(name, field)) return text;
  }
  return {};
}

Result<Fragment> ParseFragment(std::string_view body) {
  std::string_view text = TrimSpace(body);
  Fragment f;
  if (!text.empty() && text[0] == '<') {
    Result<XmlElement> root = ParseXml(text);
    if (!root) return root.error();
    f.name = root->name;
    for (const XmlElement& child : root->children) {
      f.fields.emplace_back(child.name, TrimSpace(child.text));
    }
    return f;
  }
  if (text.empty() || text[0] != '{') {
    return Error("reply is neither XML nor JSON: " + QuoteRaw(body, kQuoteBytes));
  }
  Result<CjsonPtr> root = ParseJsonObject(text);
  if (!root) return root.error();
  const cJSON* inner = (*root)->child;
  if (inner == nullptr || !cJSON_IsObject(inner) || inner->next != nullptr) {
    return Error("JSON fragment must be one object member: " + QuoteRaw(body, kQuoteBytes));
  }
  f.name = inner->string;
  for (const cJSON* item = inner->child; item != nullptr; item = item->next) {
    f.fields.emplace_back(item->string, TrimSpace(JsonText(inner, item->string)));
  }
  return f;
}

Result<uint64_t> ParseHex(std::string_view text) {
  std::string_view t = TrimSpace(text);
  auto bad = [&] { return Error("not a hex number: " + QuoteRaw(text, kQuoteBytes)); };
  if (t.size() < 3 || t[0] != '0' || (t[1] != 'x' && t[1] != 'X') || t.size() > 18) return bad();
  t.remove_prefix(2);
  uint64_t v = 0;
  auto [ptr, ec] = std::from_chars(t.data(), t.data() + t.size(), v, 16);
  if (ec != std::errc() || ptr != t.data() + t.size()) return bad();
  return v;
}

std::optional<int64_t> SignedDemand(uint64_t raw) {
  int64_t v;
  if (raw >= 0x8000000000000000ULL) {
    v = static_cast<int64_t>(raw);  // 64-bit two's complement
  } else if (raw >= 0x80000000ULL && raw <= 0xFFFFFFFFULL) {
    v = static_cast<int64_t>(raw) - (int64_t{1} << 32);
  } else if (raw >= 0x800000ULL && raw <= 0xFFFFFFULL) {
    v = static_cast<int64_t>(raw) - (int64_t{1} << 24);
  } else {
    v = static_cast<int64_t>(raw);
  }
  if (v == -8388608) return std::nullopt;  // ZigBee SE "invalid"
  return v;
}

std::optional<int64_t> ZigbeeToUnix(uint64_t zigbee_seconds) {
  if (zigbee_seconds == 0 || zigbee_seconds >= 0xFFFFFFFFULL) return std::nullopt;
  return static_cast<int64_t>(zigbee_seconds) + kZigbeeEpochUnix;
}

std::string CurrencyName(uint64_t numeric_code) {
  switch (numeric_code) {
    case 36:
      return "AUD";
    case 124:
      return "CAD";
    case 554:
      return "NZD";
    case 826:
      return "GBP";
    case 840:
      return "USD";
    case 978:
      return "EUR";
    default:
      return fmt::format("{:03}", numeric_code);
  }
}

Result<MeterValues> DecodeFragment(const Fragment& f) {
  MeterValues v;
  v.meter = f.Field("MeterMacId");
  Result<std::optional<int64_t>> time = FragmentTime(f, "TimeStamp");
  if (!time) return time.error().Wrap("<" + f.name + ">");
  v.meter_time_unix = *time;
  Result<MeterValues> out = Error("");
  if (EqualsIgnoreCase(f.name, "InstantaneousDemand")) {
    out = DecodeDemand(f, std::move(v));
  } else if (EqualsIgnoreCase(f.name, "CurrentSummation") ||
             EqualsIgnoreCase(f.name, "CurrentSummationDelivered")) {
    out = DecodeSummation(f, std::move(v));
  } else if (EqualsIgnoreCase(f.name, "PriceCluster")) {
    out = DecodePrice(f, std::move(v));
  } else {
    return Error("unexpected fragment <" + QuoteRaw(f.name, kQuoteBytes) + ">");
  }
  if (!out) return out.error().Wrap("<" + f.name + ">");
  return out;
}

Result<NetworkInfo> DecodeNetworkInfo(const Fragment& f) {
  if (!EqualsIgnoreCase(f.name, "NetworkInfo") && !EqualsIgnoreCase(f.name, "NetworkStatus")) {
    return Error("expected <NetworkInfo>, got <" + QuoteRaw(f.name, kQuoteBytes) + ">");
  }
  NetworkInfo n;
  n.device_mac = f.Field("DeviceMacId");
  n.model_id = f.Field("ModelId");
  n.fw_version = f.Field("FWVersion");
  n.hw_version = f.Field("HWVersion");
  n.manufacturer = f.Field("Manufacturer");
  n.date_code = f.Field("DateCode");
  n.protocol = f.Field("Protocol");
  n.status = f.Field("Status");
  n.coord_mac = f.Field("CoordMacId");
  n.ext_pan_id = f.Field("ExtPanId");
  Result<std::optional<uint64_t>> image = OptionalHex("ImageType", f.Field("ImageType"));
  Result<std::optional<uint64_t>> short_address = OptionalHex("ShortAddr", f.Field("ShortAddr"));
  Result<std::optional<uint64_t>> link = OptionalHex("LinkStrength", f.Field("LinkStrength"));
  if (!image) return image.error();
  if (!short_address) return short_address.error();
  if (!link) return link.error();
  n.image_type = *image;
  n.short_address = *short_address;
  if (link->has_value()) {
    if (**link > 100) return Error(fmt::format("LinkStrength {} is over 100%", **link));
    n.link_strength_percent = static_cast<int>(**link);
  }
  std::string_view channel = f.Field("Channel");  // decimal, unlike its neighbours
  if (!channel.empty()) {
    int c = 0;
    auto [ptr, ec] = std::from_chars(channel.data(), channel.data() + channel.size(), c);
    if (ec != std::errc() || ptr != channel.data() + channel.size()) {
      return Error("Channel is not a decimal number: " + QuoteRaw(channel, kQuoteBytes));
    }
    n.channel = c;
  }
  return n;
}

Result<Message> DecodeMessage(const Fragment& f) {
  if (!EqualsIgnoreCase(f.name, "MessageCluster")) {
    return Error("expected <MessageCluster>, got <" + QuoteRaw(f.name, kQuoteBytes) + ">");
  }
  Message m;
  Result<std::optional<uint64_t>> id = OptionalHex("Id", f.Field("Id"));
  Result<std::optional<uint64_t>> duration = OptionalHex("Duration", f.Field("Duration"));
  Result<std::optional<int64_t>> time = FragmentTime(f, "TimeStamp");
  Result<std::optional<int64_t>> start = FragmentTime(f, "StartTime");
  if (!id) return id.error();
  if (!duration) return duration.error();
  if (!time) return time.error();
  if (!start) return start.error();
  m.id = id->value_or(0);
  m.duration_min = duration->value_or(0);
  m.time_unix = *time;
  m.start_unix = *start;
  m.text = f.Field("Text");
  m.confirmation_required = IsYes(f.Field("ConfirmationRequired"));
  m.confirmed = IsYes(f.Field("Confirmed"));
  m.read = IsYes(f.Field("Read"));
  m.queue = f.Field("Queue");
  m.present = m.id != 0 || !m.text.empty() || m.time_unix.has_value();
  return m;
}

Result<UsageData> DecodeUsageData(std::string_view body) {
  Result<CjsonPtr> root = ParseJsonObject(body);
  if (!root) return root.error();
  const cJSON* r = root->get();
  UsageData u;
  struct Target {
    const char* value;
    const char* units;
    Quantity quantity;
    std::optional<double>* out;
  };
  const Target targets[] = {
      {"demand", "demand_units", Quantity::kPower, &u.values.demand_kw},
      {"summation_delivered", "summation_units", Quantity::kEnergy, &u.values.delivered_kwh},
      {"summation_received", "summation_units", Quantity::kEnergy, &u.values.received_kwh},
      {"price", "price_units", Quantity::kPlain, &u.values.price},
  };
  for (const Target& t : targets) {
    Result<std::optional<double>> parsed =
        ParseValue(JsonText(r, t.value), JsonText(r, t.units), t.quantity);
    if (!parsed) return parsed.error().Wrap(t.value);
    *t.out = *parsed;
  }
  // The web API says -1.00 when no price is set.
  if (u.values.price && *u.values.price < 0) u.values.price.reset();
  // "$" could be USD, CAD or AUD: only ISO letters are kept.
  std::string units = JsonText(r, "price_units");
  if (u.values.price && units.size() == 3 &&
      units.find_first_not_of("ABCDEFGHIJKLMNOPQRSTUVWXYZ") == std::string::npos) {
    u.values.currency = units;
  }
  u.values.meter_time_unix = ParseTime(JsonText(r, "demand_timestamp"));
  u.meter_status = JsonText(r, "meter_status");
  u.price_label = JsonText(r, "price_label");
  std::string id = JsonText(r, "message_id");
  u.message_present = ParseTime(JsonText(r, "message_timestamp")).has_value() ||
                      !JsonText(r, "message_text").empty() || (!id.empty() && id != "0");
  return u;
}

}  // namespace granary::eagle
