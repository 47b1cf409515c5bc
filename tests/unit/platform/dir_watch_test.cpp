// A DirWatch that signals: a change arrives as SIGIO to a thread that blocks it, so the
// daemon's main loop sleeps until something happens instead of polling.
#include "platform/dir_watch.h"

#include <gtest/gtest.h>
#include <signal.h>

#include <fstream>

#include "tests/support/test_util.h"

namespace granary {
namespace {

int WaitSigio(int ms) {
  sigset_t set;
  sigemptyset(&set);
  sigaddset(&set, SIGIO);
  timespec ts{ms / 1000, (ms % 1000) * 1'000'000L};
  return sigtimedwait(&set, nullptr, &ts);
}

TEST(DirWatch, SignalsAChangeWithSigio) {
  sigset_t set;
  sigemptyset(&set);
  sigaddset(&set, SIGIO);
  ASSERT_EQ(pthread_sigmask(SIG_BLOCK, &set, nullptr), 0);
  testing::TempDir dir;
  auto watch = DirWatch::Open();
  ASSERT_TRUE(watch.ok()) << watch.error().message();
  ASSERT_TRUE(watch->Add(dir.path()).ok());
  ASSERT_TRUE(watch->SignalOnChange().ok());
  EXPECT_EQ(WaitSigio(200), -1) << "SIGIO with nothing changed";

  std::ofstream(dir.path() + "/a.toml") << "x = 1\n";
  EXPECT_EQ(WaitSigio(5000), SIGIO);
  auto changed = watch->Changed();
  ASSERT_FALSE(changed.empty());
  EXPECT_EQ(changed.back(), dir.path() + "/a.toml");
  EXPECT_EQ(WaitSigio(200), -1) << "a second SIGIO for one change read";
}

}  // namespace
}  // namespace granary
