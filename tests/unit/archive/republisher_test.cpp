#include "archive/republisher.h"

#include <gtest/gtest.h>

namespace granary::archive {
namespace {

using std::chrono::milliseconds;
using Clock = std::chrono::steady_clock;

TEST(BrokerUrl, Forms) {
  auto a = ParseBrokerUrl("mqtt://127.0.0.1:18830");
  ASSERT_TRUE(a) << a.error().message();
  EXPECT_FALSE(a->tls);
  EXPECT_EQ(a->host, "127.0.0.1");
  EXPECT_EQ(a->port, 18830);
  a = ParseBrokerUrl("mqtts://broker.example");
  ASSERT_TRUE(a);
  EXPECT_TRUE(a->tls);
  EXPECT_EQ(a->port, 8883);
  a = ParseBrokerUrl("mqtt://[::1]:1884/");
  ASSERT_TRUE(a);
  EXPECT_EQ(a->host, "::1");
  EXPECT_EQ(a->port, 1884);
  EXPECT_EQ(ParseBrokerUrl("mqtt://h")->port, 1883);
  for (const char* bad : {"http://h", "mqtt://", "mqtt://h:0", "mqtt://h:99999", "mqtt://h:x",
                          "mqtt://u@h", "mqtt://h:1/x", "mqtt://[::1"}) {
    EXPECT_FALSE(ParseBrokerUrl(bad)) << bad;
  }
}

TEST(Pacer, Unpaced) {
  Pacer p(0, 0);
  auto t0 = Clock::now();
  for (int i = 0; i < 5; ++i) EXPECT_LE(p.Due(1000 + i * 5000, t0), t0);
}

TEST(Pacer, RateSpacesMessages) {
  Pacer p(100, 0);  // 10 ms apart
  auto t0 = Clock::now();
  EXPECT_EQ(p.Due(0, t0), t0);
  EXPECT_EQ(p.Due(0, t0), t0 + milliseconds(10));
  EXPECT_EQ(p.Due(0, t0 + milliseconds(50)), t0 + milliseconds(20));  // late: due already
}

TEST(Pacer, SpeedScalesRecordedSpacing) {
  Pacer p(0, 2);
  auto t0 = Clock::now();
  EXPECT_EQ(p.Due(10'000, t0), t0);
  EXPECT_EQ(p.Due(11'000, t0), t0 + milliseconds(500));
  EXPECT_EQ(p.Due(14'000, t0), t0 + milliseconds(2000));
  EXPECT_EQ(p.Due(9'000, t0), t0);  // out of order in time: no waiting
}

TEST(PublishProperties, InStoredOrder) {
  Headers h;
  h.user_properties = {{"z", "1"}, {"_id", "0f8fad5b-d9cb-469f-a165-70867728950e"}, {"z", "2"}};
  h.content_type = "text/plain";
  h.payload_format = 1;
  h.response_topic = "r";
  h.correlation_data = std::string("\0c", 2);
  h.message_expiry = 30;
  auto props = PublishProperties(h);
  ASSERT_TRUE(props) << props.error().message();
  mosquitto_property* list = *props;
  std::vector<std::pair<std::string, std::string>> seen;
  char *name = nullptr, *value = nullptr;
  const mosquitto_property* at =
      mosquitto_property_read_string_pair(list, MQTT_PROP_USER_PROPERTY, &name, &value, false);
  while (at != nullptr) {
    seen.emplace_back(name, value);
    free(name);
    free(value);
    at = mosquitto_property_read_string_pair(at, MQTT_PROP_USER_PROPERTY, &name, &value, true);
  }
  ASSERT_EQ(seen.size(), 3u);
  EXPECT_EQ(seen[0], (std::pair<std::string, std::string>("z", "1")));
  EXPECT_EQ(seen[1].first, "_id");
  EXPECT_EQ(seen[2], (std::pair<std::string, std::string>("z", "2")));
  char* ct = nullptr;
  ASSERT_NE(mosquitto_property_read_string(list, MQTT_PROP_CONTENT_TYPE, &ct, false), nullptr);
  EXPECT_STREQ(ct, "text/plain");
  free(ct);
  uint8_t format = 0;
  ASSERT_NE(mosquitto_property_read_byte(list, MQTT_PROP_PAYLOAD_FORMAT_INDICATOR, &format, false),
            nullptr);
  EXPECT_EQ(format, 1);
  void* corr = nullptr;
  uint16_t corr_len = 0;
  ASSERT_NE(
      mosquitto_property_read_binary(list, MQTT_PROP_CORRELATION_DATA, &corr, &corr_len, false),
      nullptr);
  EXPECT_EQ(std::string(static_cast<char*>(corr), corr_len), std::string("\0c", 2));
  free(corr);
  uint32_t expiry = 0;
  ASSERT_NE(mosquitto_property_read_int32(list, MQTT_PROP_MESSAGE_EXPIRY_INTERVAL, &expiry, false),
            nullptr);
  EXPECT_EQ(expiry, 30u);
  mosquitto_property_free_all(&list);
}

TEST(PublishProperties, NoneIsAnEmptyList) {
  auto props = PublishProperties(Headers{});
  ASSERT_TRUE(props);
  EXPECT_EQ(*props, nullptr);
}

TEST(Republisher, UnreachableBrokerIsAClearError) {
  RepublishOptions o;
  o.broker_url = "mqtt://127.0.0.1:1";
  o.timeout = milliseconds(2000);
  auto r = Republisher::Connect(o);
  ASSERT_FALSE(r);
  EXPECT_NE(r.error().message().find("broker mqtt://127.0.0.1:1"), std::string::npos)
      << r.error().message();
}

}  // namespace
}  // namespace granary::archive
