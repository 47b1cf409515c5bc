#include "agent/archive/known_ids.h"

#include <gtest/gtest.h>

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

}  // namespace
}  // namespace granary
