// The receiver's config: defaults, and every problem reported as FILE:LINE: KEY: message.
#include "receiver/config.h"

#include <gtest/gtest.h>

#include <fstream>

#include "tests/support/test_util.h"

namespace granary::receiver {
namespace {

class ReceiverConfigTest : public ::testing::Test {
 protected:
  Result<ReceiverConfig> Load(const std::string& text) {
    path_ = dir_.path() + "/receiver.toml";
    std::ofstream(path_) << text;
    return LoadReceiverConfig(path_);
  }
  granary::testing::TempDir dir_;
  std::string path_;
};

TEST_F(ReceiverConfigTest, MinimalConfigGetsDefaults) {
  auto c = Load("data_dir = \"/srv/r\"\n");
  ASSERT_TRUE(c.ok()) << c.error().message();
  EXPECT_EQ(c->listen_address, "127.0.0.1");
  EXPECT_EQ(c->listen_port, 9000);
  EXPECT_EQ(c->index, "sqlite");
  EXPECT_EQ(c->IndexPath(), "/srv/r/index.db");
  EXPECT_EQ(c->max_skew.count(), 15 * 60 * 1000);
  EXPECT_EQ(c->DevicePrefix("h017"), "granary/h017/");
  EXPECT_FALSE(c->upstream.enabled);
  EXPECT_FALSE(c->mqtt.enabled);
  EXPECT_TRUE(c->dashboard_enabled);
  EXPECT_EQ(c->dashboard_www_dir, "");  // the built-in copy
  EXPECT_EQ(c->dashboard_chartjs_dir, "/usr/share/javascript/chart.js");
}

TEST_F(ReceiverConfigTest, DashboardSection) {
  auto c = Load(
      "data_dir = \"/srv/r\"\n[dashboard]\nenabled = false\nwww_dir = \"/srv/www\"\n"
      "chartjs_dir = \"/opt/chart\"\n");
  ASSERT_TRUE(c.ok()) << c.error().message();
  EXPECT_FALSE(c->dashboard_enabled);
  EXPECT_EQ(c->dashboard_www_dir, "/srv/www");
  EXPECT_EQ(c->dashboard_chartjs_dir, "/opt/chart");
  auto bad = Load("data_dir = \"/srv/r\"\n[dashboard]\nenabled = \"yes\"\nthemes = 1\n");
  ASSERT_FALSE(bad.ok());
  EXPECT_NE(bad.error().message().find(":3: dashboard.enabled:"), std::string::npos)
      << bad.error().message();
  EXPECT_NE(bad.error().message().find(":4: dashboard.themes:"), std::string::npos)
      << bad.error().message();
}

TEST_F(ReceiverConfigTest, MultipartSection) {
  auto d = Load("data_dir = \"/srv/r\"\n");
  ASSERT_TRUE(d.ok()) << d.error().message();
  EXPECT_EQ(d->multipart.max_part_bytes, 512ull << 20);
  EXPECT_EQ(d->multipart.max_upload_bytes, 2ull << 30);  // a 1 GiB file fits
  EXPECT_EQ(d->multipart.expire_after.count(), 24 * 3600 * 1000);
  auto c = Load(
      "data_dir = \"/srv/r\"\n[multipart]\nmax_part_bytes = \"16MiB\"\n"
      "max_upload_bytes = \"1GiB\"\nexpire_after = \"2s\"\n");
  ASSERT_TRUE(c.ok()) << c.error().message();
  EXPECT_EQ(c->multipart.max_part_bytes, 16ull << 20);
  EXPECT_EQ(c->multipart.max_upload_bytes, 1ull << 30);
  EXPECT_EQ(c->multipart.expire_after.count(), 2000);
  // S3 clients send 5 MiB parts: a smaller cap would refuse every multipart upload.
  auto bad = Load("data_dir = \"/srv/r\"\n[multipart]\nmax_part_bytes = \"4MiB\"\nparts = 3\n");
  ASSERT_FALSE(bad.ok());
  EXPECT_NE(bad.error().message().find(":3: multipart.max_part_bytes:"), std::string::npos)
      << bad.error().message();
  EXPECT_NE(bad.error().message().find(":4: multipart.parts:"), std::string::npos)
      << bad.error().message();
}

TEST_F(ReceiverConfigTest, StoreSection) {
  auto d = Load("data_dir = \"/srv/r\"\n");
  ASSERT_TRUE(d.ok()) << d.error().message();
  EXPECT_EQ(d->store.type, "filesystem");  // the single-node default, unchanged
  EXPECT_EQ(d->store.quarantine_max_bytes, 0u);
  auto c = Load(
      "data_dir = \"/srv/r\"\n[store]\ntype = \"s3\"\nendpoint = \"http://127.0.0.1:9\"\n"
      "bucket = \"fleet\"\naccess_key = \"AK\"\nsecret_key = \"SK\"\n"
      "cache_max_bytes = \"8MiB\"\n");
  ASSERT_TRUE(c.ok()) << c.error().message();
  EXPECT_EQ(c->store.type, "s3");
  EXPECT_EQ(c->store.region, "us-east-1");
  EXPECT_EQ(c->store.accepted_prefix, "accepted/");
  EXPECT_EQ(c->store.rejected_prefix, "rejected/");
  EXPECT_EQ(c->store.conflicts_prefix, "conflicts/");
  EXPECT_EQ(c->store.uploads_prefix, "uploads/");
  EXPECT_EQ(c->store.quarantine_max_bytes, 4ull << 30);
  EXPECT_EQ(c->store.cache_max_bytes, 8ull << 20);
  auto bad = Load(
      "data_dir = \"/srv/r\"\n"         // 1
      "[store]\ntype = \"s3\"\n"        // 2-3
      "endpoint = \"ftp://x\"\n"        // 4
      "accepted_prefix = \"a/\"\n"      // 5
      "rejected_prefix = \"a/r/\"\n");  // 6
  ASSERT_FALSE(bad.ok());
  for (const char* want :
       {":2: store.bucket: missing required key", ":4: store.endpoint: must start with http",
        ":5: store.accepted_prefix: the accepted, rejected",
        "store.credentials_file: give either access_key and secret_key or credentials_file"}) {
    EXPECT_NE(bad.error().message().find(want), std::string::npos) << bad.error().message();
  }
  auto kind = Load("data_dir = \"/srv/r\"\n[store]\ntype = \"nfs\"\n");
  ASSERT_FALSE(kind.ok());
  EXPECT_NE(kind.error().message().find(":3: store.type:"), std::string::npos)
      << kind.error().message();
}

TEST_F(ReceiverConfigTest, ReportKinds) {
  auto c = Load(
      "data_dir = \"/srv/r\"\n[mqtt]\nport = 1883\n[reports]\nattachment_grace = \"5m\"\n"
      "[[kind]]\nname = \"error\"\n[[kind]]\nname = \"clip\"\nmax_bytes = \"4KiB\"\n"
      "validator = \"mqtt\"\n");
  ASSERT_TRUE(c.ok()) << c.error().message();
  ASSERT_EQ(c->kinds.size(), 2u);
  EXPECT_EQ(c->Kind("error")->max_bytes, 1u << 20);
  EXPECT_EQ(c->Kind("error")->validator, "none");
  EXPECT_EQ(c->Kind("clip")->max_bytes, 4096u);
  EXPECT_EQ(c->Kind("clip")->validator, "mqtt");
  EXPECT_EQ(c->Kind("job"), nullptr);
  EXPECT_EQ(c->attachment_grace.count(), 5 * 60 * 1000);
  EXPECT_EQ(c->validator_timeout.count(), 30'000);
  auto bad = Load(
      "data_dir = \"/srv/r\"\n"                           // 1
      "[[kind]]\nname = \"Error\"\n"                      // 2-3
      "[[kind]]\nname = \"a\"\nvalidator = \"mqtt\"\n"    // 4-6
      "[[kind]]\nname = \"a\"\nvalidator = \"http\"\n");  // 7-9
  ASSERT_FALSE(bad.ok());
  for (const char* want :
       {":3: kind[0].name: must be [a-z0-9]", ":6: kind[1].validator: \"mqtt\" needs",
        ":8: kind[2].name: kind \"a\" is configured twice", ":9: kind[2].validator:"}) {
    EXPECT_NE(bad.error().message().find(want), std::string::npos) << bad.error().message();
  }
}

TEST_F(ReceiverConfigTest, EveryProblemNamesFileLineAndKey) {
  auto c = Load(
      "data_dir = \"/srv/r\"\n"  // 1
      "listen = \"9000\"\n"      // 2
      "index = \"mysql://x\"\n"  // 3
      "buckets = [\"api\"]\n"    // 4
      "colour = \"blue\"\n"      // 5
      "[[device]]\n"             // 6
      "name = \"h017\"\n"        // 7
      "access_key = \"AK1\"\n"   // 8
      "[[device]]\n"             // 9
      "name = \"h017\"\n"        // 10
      "access_key = \"AK1\"\n"   // 11
      "secret_key = \"s\"\n"     // 12
      "[[reader]]\n"             // 13
      "name = \"r\"\n"           // 14
      "token = \"short\"\n");    // 15
  ASSERT_FALSE(c.ok());
  const std::string& m = c.error().message();
  for (const std::string& want :
       {path_ + ":2: listen: expected \"ADDRESS:PORT\"", path_ + ":3: index: must be \"sqlite\"",
        path_ + ":4: buckets: \"api\" is reserved",
        path_ + ":5: colour:", path_ + ":6: device[0].secret_key: missing required key",
        path_ + ":10: device[1].name: device \"h017\" is configured twice",
        path_ + ":11: device[1].access_key: this access key is already given",
        path_ + ":15: reader[0].token: must be at least 16 characters"}) {
    EXPECT_NE(m.find(want), std::string::npos) << "missing: " << want << "\nin:\n" << m;
  }
}

TEST_F(ReceiverConfigTest, SyntaxErrorNamesTheLine) {
  auto c = Load("data_dir = \"/srv/r\"\nlisten = \n");
  ASSERT_FALSE(c.ok());
  EXPECT_EQ(c.error().message().rfind(path_ + ":2:", 0), 0u) << c.error().message();
}

}  // namespace
}  // namespace granary::receiver
