#include "platform/test_hooks.h"

#include <signal.h>
#include <unistd.h>

#include <cstdlib>
#include <optional>
#include <string>

#include "platform/strings.h"

namespace granary {
namespace {

std::optional<int64_t> IntVar(const char* name) {
  const char* v = std::getenv(name);
  return v == nullptr ? std::nullopt : ParseDecimal<int64_t>(v);
}

class TestHookEnv final : public EnvWrapper {
 public:
  TestHookEnv() : EnvWrapper(Env::Default()) {
    if (const char* crash = std::getenv("GRANARY_CRASH_POINT")) crash_point_ = crash;
    wall_offset_ms_ = IntVar("GRANARY_TEST_CLOCK_OFFSET_MS").value_or(0);
    const char* unsynced = std::getenv("GRANARY_TEST_CLOCK_UNSYNCED");
    force_unsynced_ = unsynced != nullptr && std::string_view(unsynced) == "1";
    if (auto hang = IntVar("GRANARY_TEST_HANG_SCHEDULER")) {
      hang_at_ns_ = MonoNowNs() + *hang * 1'000'000;
    }
  }

  static bool Wanted() {
    for (const char* v : {"GRANARY_CRASH_POINT", "GRANARY_TEST_CLOCK_OFFSET_MS",
                          "GRANARY_TEST_CLOCK_UNSYNCED", "GRANARY_TEST_HANG_SCHEDULER"}) {
      if (std::getenv(v) != nullptr) return true;
    }
    return false;
  }

  int64_t WallNowMs() override { return EnvWrapper::WallNowMs() + wall_offset_ms_; }
  bool ClockSynchronized() override { return !force_unsynced_ && EnvWrapper::ClockSynchronized(); }
  void CrashPoint(std::string_view name) override {
    if (!crash_point_.empty() && name == crash_point_) ::kill(::getpid(), SIGKILL);
  }
  void HangPoint(std::string_view name) override {
    if (hang_at_ns_ < 0 || name != "scheduler.poll" || MonoNowNs() < hang_at_ns_) return;
    for (;;) ::pause();
  }

 private:
  std::string crash_point_;
  int64_t wall_offset_ms_ = 0;
  bool force_unsynced_ = false;
  int64_t hang_at_ns_ = -1;  // monotonic ns from which HangPoint hangs; -1: never
};

}  // namespace

Env& ProcessEnv() {
  if (!TestHookEnv::Wanted()) return Env::Default();
  static TestHookEnv hooks;
  return hooks;
}

}  // namespace granary
