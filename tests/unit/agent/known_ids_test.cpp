#include "agent/archive/known_ids.h"

#include <gtest/gtest.h>

#include "agent/archive/redeliveries.h"
#include "tests/support/test_util.h"

namespace granary {
namespace {

archive::Uuid Id(uint8_t n) {
  archive::Uuid id{};
  id[15] = n;
  return id;
}

TEST(KnownIdsTest, RemembersUpToItsCapacityForgettingTheOldest) {
  KnownIds known(3);
  EXPECT_TRUE(known.Insert(Id(1)));
  EXPECT_FALSE(known.Insert(Id(1)));
  EXPECT_TRUE(known.Insert(Id(2)));
  EXPECT_TRUE(known.Insert(Id(3)));
  EXPECT_TRUE(known.Insert(Id(4)));  // 1 is forgotten
  EXPECT_EQ(known.size(), 3u);
  EXPECT_FALSE(known.Contains(Id(1)));
  EXPECT_TRUE(known.Contains(Id(2)));
  EXPECT_TRUE(known.Contains(Id(4)));
  EXPECT_TRUE(known.Insert(Id(1)));
}

TEST(KnownIdsTest, ZeroCapacityRemembersNothing) {
  KnownIds known(0);
  EXPECT_TRUE(known.Insert(Id(1)));
  EXPECT_TRUE(known.Insert(Id(1)));
  EXPECT_FALSE(known.Contains(Id(1)));
}

class RedeliveriesTest : public ::testing::Test {
 protected:
  std::string Path() const { return dir_.path() + "/archive-bus.inflight"; }
  testing::TempDir dir_;
};

TEST_F(RedeliveriesTest, AResendAfterARestartKeepsItsId) {
  const std::string a = Redeliveries::Digest("t", "on");
  const std::string b = Redeliveries::Digest("t", "off");
  {
    Redeliveries r(Env::Default(), Path(), 20);
    r.Load();
    r.Reconnected();
    r.Add(7, a, Id(1));
    r.Add(8, b, Id(2));
    ASSERT_TRUE(r.Save());
  }
  Redeliveries r(Env::Default(), Path(), 20);
  r.Load();
  r.Reconnected();
  EXPECT_EQ(r.Match(8, b), Id(2));
  EXPECT_EQ(r.Match(7, a), Id(1));
  // The resends are over: the same packet id and content again is a new message.
  EXPECT_EQ(r.Match(7, a), std::nullopt);
}

TEST_F(RedeliveriesTest, TheFirstNewMessageEndsTheResends) {
  const std::string a = Redeliveries::Digest("t", "on");
  Redeliveries r(Env::Default(), Path(), 20);
  r.Load();
  r.Reconnected();
  r.Add(7, a, Id(1));
  r.Add(9, a, Id(3));
  r.Reconnected();
  EXPECT_EQ(r.Match(7, Redeliveries::Digest("t", "other")), std::nullopt);
  EXPECT_EQ(r.Match(9, a), std::nullopt);  // packet id 9 may be reused from here on
}

TEST_F(RedeliveriesTest, KeepsOnlyTheLastCapacityAndMovesADamagedFileAside) {
  const std::string a = Redeliveries::Digest("t", "x");
  {
    Redeliveries r(Env::Default(), Path(), 2);
    r.Reconnected();
    for (uint16_t mid = 1; mid <= 5; ++mid) {
      r.Add(mid, a, Id(static_cast<uint8_t>(mid)));
      r.EndPass();
    }
    EXPECT_EQ(r.size(), 2u);
    ASSERT_TRUE(r.Save());
  }
  {
    Redeliveries r(Env::Default(), Path(), 2);
    r.Load();
    r.Reconnected();
    EXPECT_EQ(r.Match(1, a), std::nullopt);  // forgotten
  }
  ASSERT_TRUE(WriteFileAtomically(Env::Default(), Path(), "7 zz\n"));
  Redeliveries r(Env::Default(), Path(), 2);
  r.Load();
  EXPECT_EQ(r.size(), 0u);
  EXPECT_FALSE(Env::Default().FileExists(Path()));
}

}  // namespace
}  // namespace granary
