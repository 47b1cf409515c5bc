// The S3 store's bounded read cache: copies are reused, the least recently used go first,
// a pinned copy outlives the bound until it is released, and a failed fetch leaves nothing.
#include "receiver/read_cache.h"

#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>

#include "tests/support/test_util.h"

namespace granary::receiver {
namespace {

class ReadCacheTest : public ::testing::Test {
 protected:
  std::unique_ptr<ReadCache> Open(uint64_t max_bytes) {
    auto c = ReadCache::Open(Env::Default(), dir_.path() + "/cache", max_bytes);
    EXPECT_TRUE(c.ok());
    return std::move(*c);
  }
  // A fetch that writes `bytes` bytes and counts its calls.
  std::function<Status(const std::string&)> Writes(size_t bytes) {
    return [this, bytes](const std::string& path) {
      ++fetches_;
      std::ofstream(path) << std::string(bytes, 'x');
      return Status::Ok();
    };
  }
  size_t Files() const {
    size_t n = 0;
    for (const auto& e : std::filesystem::directory_iterator(dir_.path() + "/cache")) {
      (void)e;
      ++n;
    }
    return n;
  }
  granary::testing::TempDir dir_;
  int fetches_ = 0;
};

TEST_F(ReadCacheTest, ReusesACopyAndEvictsTheLeastRecentlyUsed) {
  auto cache = Open(250);
  { ASSERT_TRUE(cache->Get("a", Writes(100)).ok()); }
  { ASSERT_TRUE(cache->Get("b", Writes(100)).ok()); }
  { ASSERT_TRUE(cache->Get("a", Writes(100)).ok()); }  // a is now the most recent
  EXPECT_EQ(fetches_, 2);
  { ASSERT_TRUE(cache->Get("c", Writes(100)).ok()); }  // over 250: b goes
  EXPECT_EQ(cache->bytes(), 200u);
  EXPECT_EQ(Files(), 2u);
  { ASSERT_TRUE(cache->Get("a", Writes(100)).ok()); }
  EXPECT_EQ(fetches_, 3);
  { ASSERT_TRUE(cache->Get("b", Writes(100)).ok()); }
  EXPECT_EQ(fetches_, 4);
}

TEST_F(ReadCacheTest, APinnedCopyStaysUntilReleased) {
  auto cache = Open(0);
  auto big = cache->Get("big", Writes(1000));
  ASSERT_TRUE(big.ok());
  EXPECT_TRUE(std::filesystem::exists(big->path));
  EXPECT_EQ(cache->bytes(), 1000u);
  std::string path = big->path;
  big->pin.reset();
  EXPECT_FALSE(std::filesystem::exists(path));
  EXPECT_EQ(cache->bytes(), 0u);
}

TEST_F(ReadCacheTest, AFailedFetchLeavesNothing) {
  auto cache = Open(1000);
  auto r = cache->Get("x", [](const std::string& path) -> Status {
    std::ofstream(path) << "partial";
    return Error("connection reset");
  });
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().message(), "connection reset");
  EXPECT_EQ(Files(), 0u);
  EXPECT_EQ(cache->bytes(), 0u);
}

TEST_F(ReadCacheTest, OpenEmptiesWhatAPreviousProcessLeft) {
  std::filesystem::create_directories(dir_.path() + "/cache");
  std::ofstream(dir_.path() + "/cache/7.obj") << "old";
  auto cache = Open(1000);
  EXPECT_EQ(Files(), 0u);
}

}  // namespace
}  // namespace granary::receiver
