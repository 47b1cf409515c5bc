// The registry's sealed secrets and the registry itself over SQLite: a secret opens only
// unaltered, under its key and for its access key; rotation keeps the old key for the
// grace only; revoke, disable and enrollment tokens (once, until they expire).
#include "receiver/secret_box.h"

#include <gtest/gtest.h>
#include <sys/stat.h>

#include <fstream>

#include "platform/crypto.h"
#include "platform/test_hooks.h"
#include "receiver/registry.h"
#include "tests/support/test_util.h"

namespace granary::receiver {
namespace {

SecretBox Box(char fill) { return *SecretBox::FromKey(std::string(SecretBox::kKeyBytes, fill)); }

TEST(SecretBoxTest, SealedSecretOpensOnlyUnalteredUnderItsKeyAndContext) {
  SecretBox box = Box('k');
  std::string sealed = box.Seal("the-secret", "GKACCESS1");
  EXPECT_EQ(sealed.find(HexEncode("the-secret")), std::string::npos);
  auto opened = box.Open(sealed, "GKACCESS1");
  ASSERT_TRUE(opened.ok()) << opened.error().message();
  EXPECT_EQ(*opened, "the-secret");
  EXPECT_NE(box.Seal("the-secret", "GKACCESS1"), sealed);  // a fresh nonce each time

  for (size_t i = 0; i < sealed.size(); i += 7) {  // nonce, ciphertext and tag alike
    std::string tampered = sealed;
    tampered[i] = tampered[i] == '0' ? '1' : '0';
    EXPECT_FALSE(box.Open(tampered, "GKACCESS1").ok()) << "flipped hex digit " << i;
  }
  EXPECT_FALSE(box.Open(sealed, "GKACCESS2").ok());
  EXPECT_FALSE(Box('x').Open(sealed, "GKACCESS1").ok());
  EXPECT_FALSE(box.Open(sealed.substr(0, sealed.size() - 2), "GKACCESS1").ok());
  EXPECT_FALSE(box.Open("zz", "GKACCESS1").ok());
}

TEST(SecretBoxTest, KeyFileIsCreatedPrivateOnceThenReused) {
  granary::testing::TempDir dir;
  std::string path = dir.path() + "/registry.key";
  bool created = false;
  auto first = SecretBox::FromKeyFile(path, &created);
  ASSERT_TRUE(first.ok()) << first.error().message();
  EXPECT_TRUE(created);
  struct stat st {};
  ASSERT_EQ(::stat(path.c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0600u);
  auto second = SecretBox::FromKeyFile(path, &created);
  ASSERT_TRUE(second.ok());
  EXPECT_FALSE(created);
  EXPECT_EQ(*second->Open(first->Seal("s", "c"), "c"), "s");

  ::chmod(path.c_str(), 0644);
  EXPECT_FALSE(SecretBox::FromKeyFile(path, &created).ok());
  std::string short_key = dir.path() + "/short.key";
  std::ofstream(short_key) << "abcd\n";
  ::chmod(short_key.c_str(), 0600);
  EXPECT_FALSE(SecretBox::FromKeyFile(short_key, &created).ok());
}

class RegistryTest : public ::testing::Test {
 protected:
  void SetUp() override {
    config_.data_dir = dir_.path();
    auto r = DeviceRegistry::Open(ProcessEnv(), config_, Box('r'));
    ASSERT_TRUE(r.ok()) << r.error().message();
    registry_ = std::move(*r);
  }
  std::vector<std::string> KeysAt(int64_t now_ms) {
    std::vector<std::string> out;
    auto keys = registry_->Keys(now_ms);
    for (const DeviceKey& k : *keys) {
      out.push_back(k.device + ":" + k.access_key + (k.disabled ? ":disabled" : ""));
    }
    return out;
  }
  granary::testing::TempDir dir_;
  ReceiverConfig config_;
  std::unique_ptr<DeviceRegistry> registry_;
};

TEST_F(RegistryTest, RotateRevokeDisableAndTheGenerationCounter) {
  int64_t g0 = *registry_->Generation();
  auto a = registry_->Add("h017", 1000);
  ASSERT_TRUE(a.ok()) << a.error().message();
  EXPECT_EQ(a->access_key.size(), 20u);
  EXPECT_EQ(a->secret_key.size(), 40u);
  EXPECT_FALSE(registry_->Add("h017", 1001).ok());
  EXPECT_FALSE(registry_->Add("../x", 1001).ok());
  EXPECT_GT(*registry_->Generation(), g0);
  auto keys = registry_->Keys(1000);
  ASSERT_EQ(keys->size(), 1u);
  EXPECT_EQ((*keys)[0].secret_key, a->secret_key);

  auto b = registry_->Rotate("h017", std::chrono::milliseconds(500), 2000);
  ASSERT_TRUE(b.ok());
  EXPECT_EQ(KeysAt(2499).size(), 2u);
  EXPECT_EQ(KeysAt(2500), std::vector<std::string>{"h017:" + b->access_key});
  auto listed = registry_->List(2100);
  ASSERT_EQ(listed->size(), 1u);
  EXPECT_EQ((*listed)[0].access_keys.front(), b->access_key);
  EXPECT_EQ((*listed)[0].grace_until_ms, 2500);

  ASSERT_TRUE(registry_->SetEnabled("h017", false, 3000).ok());
  EXPECT_EQ(KeysAt(3000), std::vector<std::string>{"h017:" + b->access_key + ":disabled"});
  ASSERT_TRUE(registry_->SetEnabled("h017", true, 3001).ok());
  int64_t before_revoke = *registry_->Generation();
  ASSERT_TRUE(registry_->Revoke("h017", 4000).ok());
  EXPECT_GT(*registry_->Generation(), before_revoke);
  EXPECT_TRUE(KeysAt(4000).empty());
  EXPECT_FALSE(registry_->Rotate("h017", std::chrono::milliseconds(0), 4001).ok());
  EXPECT_TRUE(registry_->Add("h017", 5000).ok());  // a revoked name can be given out again
  EXPECT_FALSE(registry_->Revoke("nobody", 5000).ok());
}

TEST_F(RegistryTest, EnrollmentTokenWorksOnceAndExpires) {
  auto key = registry_->Add("h018", 1000);
  ASSERT_TRUE(key.ok());
  auto token = registry_->CreateEnrollToken("h018", std::chrono::milliseconds(1000), 1000);
  ASSERT_TRUE(token.ok());
  EXPECT_FALSE(registry_->Enroll(*token + "x", 1100).ok());
  auto got = registry_->Enroll(*token, 1100);
  ASSERT_TRUE(got.ok()) << got.error().message();
  EXPECT_EQ(got->device, "h018");
  EXPECT_EQ(got->secret_key, key->secret_key);
  EXPECT_FALSE(registry_->Enroll(*token, 1200).ok());  // spent

  auto late = registry_->CreateEnrollToken("h018", std::chrono::milliseconds(1000), 2000);
  EXPECT_FALSE(registry_->Enroll(*late, 3000).ok());  // expired
}

}  // namespace
}  // namespace granary::receiver
