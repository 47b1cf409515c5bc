// Pure decoders for the replies of Rainforest EAGLE gateways (docs: eagle-protocol.md):
//   gen2 (EAGLE-200, EAGLE 3): device_list and device_query XML, values already scaled;
//   gen1 (legacy EAGLE, RFA-Z109): hex fragments with Multiplier/Divisor, as XML or JSON, and
//   the web-UI API's get_usage_data JSON.
// No I/O here, so every function is unit-tested against recorded replies and fuzzed.
// "Missing" (std::nullopt) is never turned into 0: an empty, "invalid" or "nan" value, an
// unset time or the SE "invalid" demand are all missing.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "platform/result.h"

namespace granary::eagle {

// Seconds from the Unix epoch to the ZigBee epoch, 2000-01-01T00:00:00Z.
constexpr int64_t kZigbeeEpochUnix = 946684800;

// What a poll yields for one meter, in the units the reading stores.
struct MeterValues {
  std::string meter;                // the meter's address, e.g. "0x0013500100aa3ce7"
  std::optional<double> demand_kw;  // signed: negative is export
  std::optional<double> delivered_kwh;
  std::optional<double> received_kwh;
  std::optional<double> price;  // currency units per kWh
  std::string currency;         // ISO 4217 letters, or the numeric code when unknown; "" none
  std::optional<int64_t> meter_time_unix;  // gen1 TimeStamp; gen2 LastContact
};

// ---- gen2 ----

struct Device {
  std::string name;  // absent on 2017-2019 firmware
  std::string hardware_address;
  std::string manufacturer;
  std::string model_id;
  std::string protocol;
  std::string connection_status;
  std::string network_address;
  std::string network_interface;             // the gateway's own ZigBee MAC; device_query only
  std::optional<int64_t> last_contact_unix;  // nullopt: never (0x00000000)

  bool IsElectricMeter() const;
  bool IsConnected() const;
};

// A `<DeviceList>` reply. An `<Error>` reply, another root or bad XML is an error.
Result<std::vector<Device>> ParseDeviceList(std::string_view body);

// The index of the meter to poll: the device whose HardwareAddress equals `pinned` (any case)
// when one is given; else among electric meters the Connected ones before the others, then the
// newest LastContact. Never just the first device. nullopt when no device qualifies.
std::optional<size_t> SelectMeter(const std::vector<Device>& devices, std::string_view pinned);

struct Variable {
  std::string component;
  std::string name;   // e.g. "zigbee:InstantaneousDemand"
  std::string value;  // trimmed
  std::string units;  // trimmed
};

struct DeviceQuery {
  Device details;
  std::vector<Variable> variables;  // every component's, in document order
  // First variable named `name` (exact), or nullptr.
  const Variable* Find(std::string_view name) const;
};

// A `device_query` reply (`<Device>`).
Result<DeviceQuery> ParseDeviceQuery(std::string_view body);

enum class Quantity { kPower, kEnergy, kPlain };

// One gen2 value string: trimmed; empty, "invalid", "nan" and other non-numbers are missing.
// An inline unit ("0.070000 kW") or the <Units> text is checked against `quantity`: W/kW for
// kPower (result in kW), Wh/kWh for kEnergy (result in kWh); an unknown unit is an error
// rather than a mis-scaled number. kPlain ignores units.
Result<std::optional<double>> ParseValue(std::string_view value, std::string_view units,
                                         Quantity quantity);

// A gen2 time variable: decimal Unix seconds or a ctime() string ("Wed Feb  6 15:37:59 2019",
// UTC). 0 and 946684800 (2000-01-01, the firmware's "unset") are missing.
std::optional<int64_t> ParseTime(std::string_view value);

// Demand, summations, price and currency of a device_query reply. The three core variables
// may each be missing (see NeedsAllVariables); a present one with a bad unit is an error.
Result<MeterValues> DecodeDeviceQuery(const DeviceQuery& query);

// True when a reply to a query naming the three core variables lacks one of them, so the
// client should ask for <All>Y</All> from then on.
bool NeedsAllVariables(const DeviceQuery& query);

// ---- gen1 ----

// One fragment such as <InstantaneousDemand>…</InstantaneousDemand> or its JSON form
// {"InstantaneousDemand": {…}}: the root's name and its children's trimmed texts.
struct Fragment {
  std::string name;
  std::vector<std::pair<std::string, std::string>> fields;
  // The field named `field` (any case), or "" when absent.
  std::string_view Field(std::string_view field) const;
};

// XML or JSON, told apart by the first non-space byte, never by Content-Type.
Result<Fragment> ParseFragment(std::string_view body);

// "0x…" with 1 to 16 hex digits of either case, unsigned.
Result<uint64_t> ParseHex(std::string_view text);

// Signed demand from the raw attribute: 24-bit values (6 hex digits) and 32-bit sign-extended
// ones both decode; -8388608 (the SE "invalid" value) is missing.
std::optional<int64_t> SignedDemand(uint64_t raw);

// ZigBee seconds to Unix seconds; 0 and 0xffffffff (unset) are missing.
std::optional<int64_t> ZigbeeToUnix(uint64_t zigbee_seconds);

// ISO 4217 letters for a numeric code (840 → "USD"); the number as text when unknown.
std::string CurrencyName(uint64_t numeric_code);

// InstantaneousDemand, CurrentSummation (or the uploader's CurrentSummationDelivered) or
// PriceCluster. Another fragment, or a malformed required field, is an error.
Result<MeterValues> DecodeFragment(const Fragment& fragment);

// get_network_info / get_network_status (both answer <NetworkInfo>). Never holds the install
// code or link keys the first one carries.
struct NetworkInfo {
  std::string device_mac;
  std::string model_id;  // "Z109-EAGLE" on a legacy unit
  std::string fw_version;
  std::string hw_version;
  std::string manufacturer;
  std::string date_code;
  std::optional<uint64_t> image_type;
  std::string protocol;
  std::string status;
  std::string coord_mac;
  std::string ext_pan_id;
  std::optional<uint64_t> short_address;
  std::optional<int> channel;  // decimal on the wire
  std::optional<int> link_strength_percent;
};
Result<NetworkInfo> DecodeNetworkInfo(const Fragment& fragment);

// get_message (<MessageCluster>). All-zero Id and times mean "no message".
struct Message {
  bool present = false;
  uint64_t id = 0;
  std::string text;
  std::optional<int64_t> time_unix;
  std::optional<int64_t> start_unix;
  uint64_t duration_min = 0;
  bool confirmation_required = false;
  bool confirmed = false;
  bool read = false;
  std::string queue;
};
Result<Message> DecodeMessage(const Fragment& fragment);

// The web-UI API's get_usage_data: flat JSON of decoded decimal strings.
struct UsageData {
  MeterValues values;  // meter_time_unix from demand_timestamp (approximate, see the doc)
  std::string meter_status;
  std::string price_label;
  bool message_present = false;
};
Result<UsageData> DecodeUsageData(std::string_view body);

}  // namespace granary::eagle
