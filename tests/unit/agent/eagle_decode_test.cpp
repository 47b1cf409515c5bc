// The EAGLE decoders against every recorded reply in tests/fixtures/eagle (the values are the
// ones its MANIFEST.md states), plus the pitfalls of the protocol doc that no fixture shows:
// signed demand, 0 multipliers, units inline, missing values, <Error> replies.
#include "agent/sources/eagle_decode.h"

#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <functional>
#include <map>
#include <sstream>

namespace granary::eagle {
namespace {

const std::string kFixtureDir = std::string(GRANARY_SOURCE_DIR) + "/tests/fixtures/eagle";

std::string ReadFixture(const std::string& name) {
  std::ifstream in(kFixtureDir + "/" + name, std::ios::binary);
  std::ostringstream text;
  text << in.rdbuf();
  return text.str();
}

Fragment FragmentOf(const std::string& body) {
  Result<Fragment> f = ParseFragment(body);
  EXPECT_TRUE(f.ok()) << f.error().message();
  return f ? *f : Fragment{};
}

MeterValues ValuesOf(const std::string& body) {
  Result<MeterValues> v = DecodeFragment(FragmentOf(body));
  EXPECT_TRUE(v.ok()) << v.error().message();
  return v ? *v : MeterValues{};
}

// Fixture file name -> the checks MANIFEST.md states for it.
const std::map<std::string, std::function<void(const std::string&)>>& Expectations() {
  static const auto* table = new std::map<std::string, std::function<void(const std::string&)>>{
      {"eagle200_device_list_single_meter.xml",
       [](const std::string& body) {
         Result<std::vector<Device>> list = ParseDeviceList(body);
         ASSERT_TRUE(list.ok()) << list.error().message();
         ASSERT_EQ(list->size(), 1u);
         const Device& d = list->front();
         EXPECT_EQ(d.name, "");
         EXPECT_EQ(d.hardware_address, "0x0007810000123456");
         EXPECT_EQ(d.model_id, "electric_meter");
         EXPECT_EQ(d.manufacturer, "Generic");
         EXPECT_EQ(d.protocol, "Zigbee");
         EXPECT_EQ(d.connection_status, "Connected");
         EXPECT_EQ(d.network_address, "0x0000");
         EXPECT_EQ(d.last_contact_unix, 1549467543);  // Unix epoch, not ZigBee's (2049)
         EXPECT_EQ(SelectMeter(*list, ""), 0u);
       }},
      {"eagle200_device_list_two_meters_one_not_joined.xml",
       [](const std::string& body) {
         Result<std::vector<Device>> list = ParseDeviceList(body);
         ASSERT_TRUE(list.ok()) << list.error().message();
         ASSERT_EQ(list->size(), 2u);
         for (const Device& d : *list) {
           EXPECT_TRUE(d.IsElectricMeter());
           EXPECT_EQ(d.name, "Power Meter");
         }
         EXPECT_EQ((*list)[0].hardware_address, "0x001350050044accb");
         EXPECT_EQ((*list)[0].connection_status, "Not joined");
         EXPECT_EQ((*list)[0].last_contact_unix, std::nullopt);
         EXPECT_EQ((*list)[0].network_address, "0xffff");
         EXPECT_EQ((*list)[1].hardware_address, "0x0013500100aa3ce7");
         EXPECT_EQ((*list)[1].connection_status, "Connected");
         EXPECT_EQ((*list)[1].last_contact_unix, 1725490258);
         EXPECT_EQ((*list)[1].network_address, "0x0000");
         // The stale meter comes first; taking entry 0 is the bug of home-assistant#125281.
         EXPECT_EQ(SelectMeter(*list, ""), 1u);
         EXPECT_EQ(SelectMeter(*list, "0x001350050044ACCB"), 0u);  // a pin wins, any case
         EXPECT_EQ(SelectMeter(*list, "0x0000000000000001"), std::nullopt);
       }},
      {"eagle200_device_query_all_fw2019.xml",
       [](const std::string& body) {
         Result<DeviceQuery> q = ParseDeviceQuery(body);
         ASSERT_TRUE(q.ok()) << q.error().message();
         EXPECT_EQ(q->details.name, "Power Meter");
         EXPECT_EQ(q->details.hardware_address, "0x0007810000123456");
         EXPECT_EQ(q->details.network_interface, "0xd8d5b90000001234");
         EXPECT_EQ(q->details.connection_status, "Connected");
         EXPECT_EQ(q->details.last_contact_unix, 1549467543);
         EXPECT_EQ(q->variables.size(), 43u);
         for (const Variable& v : q->variables) EXPECT_EQ(v.component, "Main");
         EXPECT_FALSE(NeedsAllVariables(*q));
         Result<MeterValues> v = DecodeDeviceQuery(*q);
         ASSERT_TRUE(v.ok()) << v.error().message();
         EXPECT_EQ(v->meter, "0x0007810000123456");
         EXPECT_EQ(v->demand_kw, 2.790);
         EXPECT_EQ(v->delivered_kwh, 91937.250);
         EXPECT_EQ(v->received_kwh, 0.0);
         EXPECT_EQ(v->price, 0.0884);
         EXPECT_EQ(v->currency, "USD");
         EXPECT_EQ(v->meter_time_unix, 1549467543);
         auto value = [&](const char* name) {
           const Variable* var = q->Find(name);
           EXPECT_NE(var, nullptr) << name;
           return var ? var->value : std::string("(absent)");
         };
         // Informational: already applied, never applied again.
         EXPECT_EQ(value("zigbee:Multiplier"), "1");
         EXPECT_EQ(value("zigbee:Divisor"), "1000");
         EXPECT_EQ(value("zigbee:TrailingDigits"), "4");
         EXPECT_EQ(value("zigbee:RateLabel"), "Block 1");
         EXPECT_EQ(value("zigbee:PriceTier"), "0");
         EXPECT_EQ(value("zigbee:PriceStartTime"), "Wed Feb  6 15:37:59 2019");
         EXPECT_EQ(ParseTime(value("zigbee:PriceStartTime")), 1549467479);
         EXPECT_EQ(ParseTime(value("zigbee:BlockPeriodStart")), 1548316764);
         EXPECT_EQ(ParseTime(value("zigbee:BillingPeriodStart")), 1548316764);
         auto number = [&](const char* name) -> std::optional<double> {
           const Variable* var = q->Find(name);
           if (var == nullptr) return std::nullopt;
           Result<std::optional<double>> n = ParseValue(var->value, var->units, Quantity::kPlain);
           return n ? *n : std::nullopt;
         };
         EXPECT_EQ(number("zigbee:PriceDuration"), -1);
         EXPECT_EQ(number("zigbee:BlockPeriodNumberOfBlocks"), 2);
         EXPECT_EQ(number("zigbee:Block1Price"), 0.0884);
         EXPECT_EQ(number("zigbee:Block2Price"), 0.1326);
         EXPECT_EQ(number("zigbee:Block1Threshold"), 1354.0);
         for (int i = 2; i <= 8; ++i) {
           EXPECT_EQ(number(("zigbee:Block" + std::to_string(i) + "Threshold").c_str()),
                     std::nullopt)
               << i;
         }
         for (int i = 3; i <= 8; ++i) {
           EXPECT_EQ(number(("zigbee:Block" + std::to_string(i) + "Price").c_str()), std::nullopt)
               << i;
         }
         EXPECT_EQ(number("zigbee:BlockPeriodDuration"), 62860);
         EXPECT_EQ(number("zigbee:BillingPeriodDuration"), 87840);
         EXPECT_EQ(number("zigbee:BlockPeriodConsumption"), 531.646);
         EXPECT_EQ(value("zigbee:Message"), "");
         EXPECT_EQ(value("zigbee:MessageConfirmationRequired"), "N");
       }},
      {"eagle100_get_instantaneous_demand.xml",
       [](const std::string& body) {
         Fragment f = FragmentOf(body);
         EXPECT_EQ(f.name, "InstantaneousDemand");
         EXPECT_EQ(f.Field("DeviceMacId"), "0xd8d5b90000002aeb");
         EXPECT_EQ(f.Field("DigitsRight"), "0x03");
         EXPECT_EQ(f.Field("DigitsLeft"), "0x06");
         EXPECT_EQ(f.Field("SuppressLeadingZero"), "Y");
         MeterValues v = ValuesOf(body);
         EXPECT_EQ(v.demand_kw, 0.944);
         EXPECT_EQ(v.meter_time_unix, 1426010041);  // 2015-03-10T17:54:01Z
         EXPECT_EQ(v.meter, "0x000781000081fd17");
       }},
      {"eagle100_get_instantaneous_demand_format_json.json",
       [](const std::string& body) {
         Fragment f = FragmentOf(body);
         EXPECT_EQ(f.name, "InstantaneousDemand");
         EXPECT_EQ(f.Field("DeviceMacId"), "0xd8d5b90000002aeb");
         MeterValues v = ValuesOf(body);
         EXPECT_EQ(v.demand_kw, 0.944);
         EXPECT_EQ(v.meter_time_unix, 1426099000);  // 2015-03-11T18:36:40Z
         EXPECT_EQ(v.meter, "0x000781000081fd17");
       }},
      {"eagle100_get_network_info.xml",
       [](const std::string& body) {
         Result<NetworkInfo> n = DecodeNetworkInfo(FragmentOf(body));
         ASSERT_TRUE(n.ok()) << n.error().message();
         EXPECT_EQ(n->model_id, "Z109-EAGLE");
         EXPECT_EQ(n->fw_version, "1.4.48 (6952)");
         EXPECT_EQ(n->hw_version, "1.2.5");
         EXPECT_EQ(n->manufacturer, "Rainforest Automation, Inc.");
         EXPECT_EQ(n->date_code, "2014051823520701");
         EXPECT_EQ(n->image_type, 0x1301u);
         EXPECT_EQ(n->protocol, "Zigbee");
         EXPECT_EQ(n->device_mac, "0xd8d5b90000002aeb");
       }},
      {"eagle100_get_network_status_format_json.json",
       [](const std::string& body) {
         Fragment f = FragmentOf(body);
         EXPECT_EQ(f.name, "NetworkInfo");  // not NetworkStatus, as the manual says
         Result<NetworkInfo> n = DecodeNetworkInfo(f);
         ASSERT_TRUE(n.ok()) << n.error().message();
         EXPECT_EQ(n->status, "Connected");
         EXPECT_EQ(n->coord_mac, "0x000781000081fd17");
         EXPECT_EQ(n->ext_pan_id, "0x000781000081fd17");
         EXPECT_EQ(n->short_address, 0x8644u);
         EXPECT_EQ(n->channel, 18);  // decimal
         EXPECT_EQ(n->link_strength_percent, 100);
       }},
      {"eagle100_get_price.xml",
       [](const std::string& body) {
         Fragment f = FragmentOf(body);
         EXPECT_EQ(f.Field("Tier"), "1");
         EXPECT_EQ(f.Field("RateLabel"), "Price1");
         EXPECT_EQ(ParseHex(f.Field("Duration")).value(), 65535u);
         EXPECT_EQ(ZigbeeToUnix(ParseHex(f.Field("StartTime")).value()), 1426010046);
         MeterValues v = ValuesOf(body);
         EXPECT_EQ(v.price, 0.10);
         EXPECT_EQ(v.currency, "EUR");
         EXPECT_EQ(v.meter_time_unix, 1426010038);  // 2015-03-10T17:53:58Z
       }},
      {"eagle100_get_message_format_json.json",
       [](const std::string& body) {
         Result<Message> m = DecodeMessage(FragmentOf(body));
         ASSERT_TRUE(m.ok()) << m.error().message();
         EXPECT_FALSE(m->present);  // not a message at 2000-01-01
         EXPECT_EQ(m->id, 0u);
         EXPECT_EQ(m->time_unix, std::nullopt);
         EXPECT_EQ(m->start_unix, std::nullopt);
         EXPECT_EQ(m->duration_min, 0u);
         EXPECT_FALSE(m->confirmation_required);
         EXPECT_FALSE(m->confirmed);
         EXPECT_TRUE(m->read);
         EXPECT_EQ(m->queue, "active");
         EXPECT_EQ(m->text, "");
       }},
      {"eagle100_cgi_manager_get_usage_data.json",
       [](const std::string& body) {
         Result<UsageData> u = DecodeUsageData(body);
         ASSERT_TRUE(u.ok()) << u.error().message();
         EXPECT_EQ(u->values.demand_kw, 0.498);
         EXPECT_EQ(u->values.meter_time_unix, 1394505386);  // decimal Unix
         EXPECT_EQ(u->values.delivered_kwh, 2667.867);
         EXPECT_EQ(u->values.received_kwh, 37.283);
         EXPECT_EQ(u->values.price, 0.14);
         EXPECT_EQ(u->values.currency, "");  // "$" names no ISO currency
         EXPECT_EQ(u->price_label, "Set by User");
         EXPECT_EQ(u->meter_status, "Connected");
         EXPECT_FALSE(u->message_present);  // message_timestamp 946684800 = ZigBee 0
       }},
      {"eagle100_uploader_instantaneous_demand_reconstructed.xml",
       [](const std::string& body) {
         Fragment f = FragmentOf(body);
         EXPECT_EQ(f.Field("DeviceMacId"), "0xd8d5b90000003e58");
         EXPECT_EQ(f.Field("Port"), "/dev/ttySP0");  // carried, ignored by the decoder
         MeterValues v = ValuesOf(body);
         EXPECT_EQ(v.demand_kw, 0.729);
         EXPECT_EQ(v.meter_time_unix, 1557808376);  // 2019-05-14T04:32:56Z
         EXPECT_EQ(v.meter, "0x00078100001d2c64");
       }},
      {"eagle100_uploader_current_summation_reconstructed.xml",
       [](const std::string& body) {
         MeterValues v = ValuesOf(body);
         EXPECT_EQ(v.delivered_kwh, 110442.272);  // not rounded to DigitsRight
         EXPECT_EQ(v.received_kwh, 0.0);
         EXPECT_EQ(v.demand_kw, std::nullopt);
         EXPECT_EQ(v.meter_time_unix, 1557808200);  // 2019-05-14T04:30:00Z
       }},
  };
  return *table;
}

std::vector<std::string> FixtureNames() {
  std::vector<std::string> names;
  for (const auto& entry : std::filesystem::directory_iterator(kFixtureDir)) {
    std::string name = entry.path().filename().string();
    if (name != "MANIFEST.md") names.push_back(name);
  }
  std::sort(names.begin(), names.end());
  return names;
}

class EagleFixtureTest : public ::testing::TestWithParam<std::string> {};

TEST_P(EagleFixtureTest, DecodesToTheManifestValues) {
  auto it = Expectations().find(GetParam());
  ASSERT_NE(it, Expectations().end()) << GetParam() << " has no expectations in this test";
  std::string body = ReadFixture(GetParam());
  ASSERT_FALSE(body.empty());
  it->second(body);
}

INSTANTIATE_TEST_SUITE_P(AllFixtures, EagleFixtureTest, ::testing::ValuesIn(FixtureNames()),
                         [](const ::testing::TestParamInfo<std::string>& info) {
                           std::string name = info.param;
                           for (char& c : name) {
                             if (!std::isalnum(static_cast<unsigned char>(c))) c = '_';
                           }
                           return name;
                         });

TEST(EagleFixtureSetTest, EveryExpectationHasItsFixture) {
  std::vector<std::string> names = FixtureNames();
  EXPECT_EQ(names.size(), Expectations().size());
  for (const auto& [name, check] : Expectations()) {
    EXPECT_NE(std::find(names.begin(), names.end(), name), names.end()) << name;
  }
}

// ---- the pitfalls of the protocol doc ----

MeterValues Demand(const std::string& demand, const std::string& multiplier,
                   const std::string& divisor) {
  return ValuesOf("<InstantaneousDemand><Demand>" + demand + "</Demand><Multiplier>" + multiplier +
                  "</Multiplier><Divisor>" + divisor + "</Divisor></InstantaneousDemand>");
}

TEST(EagleGen1Test, DemandIsSigned24Or32Bit) {
  EXPECT_EQ(Demand("0xFFFFFFF0", "0x4", "0x2").demand_kw, -32.0);
  EXPECT_EQ(Demand("0xfffff0", "0x1", "0x3e8").demand_kw, -0.016);  // 24-bit form
  EXPECT_EQ(Demand("0x001738", "0x1", "0x3e8").demand_kw, 5.944);
  EXPECT_EQ(Demand("0x7fffff", "0x1", "0x1").demand_kw, 8388607.0);
  // The SE "invalid" value in both widths: no reading, never -8388.608 kW.
  EXPECT_EQ(Demand("0x800000", "0x1", "0x3e8").demand_kw, std::nullopt);
  EXPECT_EQ(Demand("0xff800000", "0x1", "0x3e8").demand_kw, std::nullopt);
}

TEST(EagleGen1Test, ZeroMultiplierOrDivisorMeansOne) {
  EXPECT_EQ(Demand("0x0003b0", "0x0", "0x000003e8").demand_kw, 0.944);
  EXPECT_EQ(Demand("0x0003b0", "0x1", "0x00").demand_kw, 944.0);
}

TEST(EagleGen1Test, HexRules) {
  EXPECT_EQ(ParseHex("0xABCdef").value(), 0xabcdefu);
  EXPECT_EQ(ParseHex(" 0X1 ").value(), 1u);
  EXPECT_EQ(ParseHex("0xffffffffffffffff").value(), UINT64_MAX);
  EXPECT_FALSE(ParseHex("0x10000000000000000").ok());  // 17 digits
  EXPECT_FALSE(ParseHex("0x").ok());
  EXPECT_FALSE(ParseHex("12").ok());
  EXPECT_FALSE(ParseHex("0x12g").ok());
  EXPECT_FALSE(ParseHex("0x-1").ok());
}

TEST(EagleGen1Test, UnsetTimesAreMissing) {
  EXPECT_EQ(ZigbeeToUnix(0), std::nullopt);
  EXPECT_EQ(ZigbeeToUnix(0xffffffff), std::nullopt);
  EXPECT_EQ(ZigbeeToUnix(1), kZigbeeEpochUnix + 1);
}

TEST(EagleGen1Test, ManualPriceExample) {
  MeterValues v = ValuesOf(
      "<PriceCluster><Price>0x7d</Price><TrailingDigits>0x03</TrailingDigits>"
      "<Currency>0x348</Currency></PriceCluster>");
  EXPECT_EQ(v.price, 0.125);
  EXPECT_EQ(v.currency, "USD");
  MeterValues unset = ValuesOf("<PriceCluster><Price>0x0</Price></PriceCluster>");
  EXPECT_EQ(unset.price, std::nullopt);
}

TEST(EagleGen1Test, MalformedFragmentsAreErrors) {
  for (const char* body :
       {"", "   ", "<InstantaneousDemand><Demand>0x01</Demand>", "<html><body>503</body></html>",
        "<InstantaneousDemand><Demand>zz</Demand></InstantaneousDemand>",
        "<InstantaneousDemand></InstantaneousDemand>", "{\"a\":1}", "{\"A\":{}}{",
        "Timeout waiting for response"}) {
    Result<Fragment> f = ParseFragment(body);
    if (f) {
      EXPECT_FALSE(DecodeFragment(*f).ok()) << body;
    }
  }
}

// ---- gen2 ----

Result<std::optional<double>> Power(const char* value, const char* units = "") {
  return ParseValue(value, units, Quantity::kPower);
}

TEST(EagleGen2Test, ValueStrings) {
  EXPECT_EQ(Power("2.790000", "kW").value(), 2.79);
  EXPECT_EQ(Power(" -1.500000 ", "kW").value(), -1.5);  // export
  EXPECT_EQ(Power("0.070000 kW").value(), 0.07);        // units inline
  EXPECT_EQ(Power("70 w").value(), 0.07);
  EXPECT_EQ(Power("1500", "W").value(), 1.5);
  EXPECT_EQ(Power("").value(), std::nullopt);  // missing, never 0
  EXPECT_EQ(Power("invalid").value(), std::nullopt);
  EXPECT_EQ(Power("nan", "kW").value(), std::nullopt);
  EXPECT_FALSE(Power("2.5", "MW").ok());  // rather no value than a mis-scaled one
  EXPECT_FALSE(Power("2.5 kWh").ok());
  EXPECT_EQ(ParseValue("91937.25", "kWh", Quantity::kEnergy).value(), 91937.25);
  EXPECT_EQ(ParseValue("1000", "Wh", Quantity::kEnergy).value(), 1.0);
  EXPECT_FALSE(ParseValue("1", "kW", Quantity::kEnergy).ok());
}

TEST(EagleGen2Test, Times) {
  EXPECT_EQ(ParseTime("946684800"), std::nullopt);  // the firmware's "unset"
  EXPECT_EQ(ParseTime(""), std::nullopt);
  EXPECT_EQ(ParseTime("0"), std::nullopt);
  EXPECT_EQ(ParseTime("1609459200"), 1609459200);
  EXPECT_EQ(ParseTime("Fri Jan  1 00:00:00 2021"), 1609459200);
  EXPECT_EQ(ParseTime("yesterday"), std::nullopt);
}

const char* kQueryTemplate =
    "\n  <Device><DeviceDetails><HardwareAddress>0x01</HardwareAddress>"
    "<LastContact>0X5C5AFF97</LastContact><ConnectionStatus>Connected</ConnectionStatus>"
    "<unknown>x</unknown></DeviceDetails><Components><Component><Name>Main</Name><Variables>"
    "%s</Variables></Component></Components></Device>";

std::string Query(const std::string& variables) {
  std::string t = kQueryTemplate;
  return t.replace(t.find("%s"), 2, variables);
}

std::string Var(const std::string& name, const std::string& value, const std::string& units) {
  return "<Variable><Name>zigbee:" + name + "</Name><Value>" + value + "</Value><Units>" + units +
         "</Units></Variable>";
}

TEST(EagleGen2Test, EmptyCoreValuesAreMissingNotZero) {
  Result<DeviceQuery> q = ParseDeviceQuery(
      Query(Var("InstantaneousDemand", "", "kW") + Var("CurrentSummationDelivered", "", "kWh") +
            Var("CurrentSummationReceived", "", "kWh") + Var("Price", "invalid", "") +
            Var("PriceCurrency", "USD", "")));
  ASSERT_TRUE(q.ok()) << q.error().message();
  EXPECT_EQ(q->details.last_contact_unix, 1549467543);  // upper-case hex
  Result<MeterValues> v = DecodeDeviceQuery(*q);
  ASSERT_TRUE(v.ok());
  EXPECT_EQ(v->demand_kw, std::nullopt);
  EXPECT_EQ(v->delivered_kwh, std::nullopt);
  EXPECT_EQ(v->received_kwh, std::nullopt);
  EXPECT_EQ(v->price, std::nullopt);
  EXPECT_EQ(v->currency, "");
}

TEST(EagleGen2Test, NewerFirmwareNamesAndMissingVariables) {
  Result<DeviceQuery> q = ParseDeviceQuery(Query(
      Var("CurrentSummationDelivered", "10.5", "kWh") + Var("InstantaneousDemand", "-0.25", "kW") +
      Var("Price", "0.2", "") + Var("PriceCurrency", "CAD", "")));
  ASSERT_TRUE(q.ok()) << q.error().message();
  EXPECT_TRUE(NeedsAllVariables(*q));  // CurrentSummationReceived is missing
  Result<MeterValues> v = DecodeDeviceQuery(*q);
  ASSERT_TRUE(v.ok());
  EXPECT_EQ(v->demand_kw, -0.25);
  EXPECT_EQ(v->delivered_kwh, 10.5);
  EXPECT_EQ(v->received_kwh, std::nullopt);
  EXPECT_EQ(v->price, 0.2);
  EXPECT_EQ(v->currency, "CAD");
}

TEST(EagleGen2Test, BadUnitFailsTheDecode) {
  Result<DeviceQuery> q = ParseDeviceQuery(Query(Var("InstantaneousDemand", "3", "MW")));
  ASSERT_TRUE(q.ok());
  Result<MeterValues> v = DecodeDeviceQuery(*q);
  ASSERT_FALSE(v.ok());
  EXPECT_NE(v.error().message().find("zigbee:InstantaneousDemand"), std::string::npos)
      << v.error().message();
}

TEST(EagleGen2Test, ErrorRepliesAndBadXml) {
  Result<std::vector<Device>> e =
      ParseDeviceList("<Error><Description>Unknown command</Description></Error>");
  ASSERT_FALSE(e.ok());
  EXPECT_EQ(e.error().message(), "EAGLE answered an error: \"Unknown command\"");
  EXPECT_TRUE(ParseDeviceList("<DeviceList>  </DeviceList>")->empty());
  Result<std::vector<Device>> truncated = ParseDeviceList("<DeviceList><Device><Hardware");
  ASSERT_FALSE(truncated.ok());
  EXPECT_NE(truncated.error().message().find("malformed XML"), std::string::npos);
  EXPECT_FALSE(ParseDeviceList("<html><body>Server error</body></html>").ok());
  EXPECT_FALSE(ParseDeviceQuery("<DeviceList></DeviceList>").ok());
  EXPECT_FALSE(ParseDeviceQuery("").ok());
  std::string deep;
  for (int i = 0; i < 100; ++i) deep += "<a>";
  EXPECT_FALSE(ParseDeviceList(deep).ok());
}

TEST(EagleGen2Test, SelectionPrefersConnectedThenNewest) {
  std::vector<Device> devices(4);
  devices[0] = {.hardware_address = "0xa",
                .model_id = "smart_plug",
                .connection_status = "Connected",
                .last_contact_unix = 900};
  devices[1] = {.hardware_address = "0xb",
                .model_id = "Electric_Meter",
                .connection_status = "Rejoining",
                .last_contact_unix = 800};
  devices[2] = {.hardware_address = "0xc",
                .model_id = "electric_meter",
                .connection_status = "Connected",
                .last_contact_unix = 100};
  devices[3] = {.hardware_address = "0xd",
                .model_id = "electric_meter",
                .connection_status = "Connected",
                .last_contact_unix = 200};
  EXPECT_EQ(SelectMeter(devices, ""), 3u);
  devices[3].connection_status = "Not joined";
  EXPECT_EQ(SelectMeter(devices, ""), 2u);
  devices[2].connection_status = "Disconnected";
  EXPECT_EQ(SelectMeter(devices, ""), 1u);                 // newest of the unconnected meters
  EXPECT_EQ(SelectMeter({devices[0]}, ""), std::nullopt);  // no meter at all
}

}  // namespace
}  // namespace granary::eagle
