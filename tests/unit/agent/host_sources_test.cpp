// Sources that read the host itself: exec (a command that hangs, floods, prints garbage,
// exits non-zero; never a zombie), system (against a fake /proc and /sys, and the real one),
// and file's directories (hwmon-style).
#include <dirent.h>
#include <gtest/gtest.h>
#include <signal.h>
#include <unistd.h>

#include <chrono>
#include <fstream>
#include <thread>

#include "platform/handles.h"
#include "tests/support/build_source.h"
#include "tests/support/test_util.h"

namespace granary {
namespace {

using std::chrono::milliseconds;
using testing::Build;
using testing::Built;
using Clock = std::chrono::steady_clock;

std::unique_ptr<Source> Make(const std::string& toml) {
  Built b = Build(toml);
  EXPECT_TRUE(b.errors.empty()) << b.AllErrors();
  return std::move(b.source);
}

std::string PollData(Source& s, milliseconds timeout = milliseconds(5000)) {
  auto r = s.Poll(timeout);
  if (!r) return "ERROR: " + r.error().message();
  EXPECT_EQ(r->size(), 1u);
  return r->empty() ? "(none)" : r->front().data_json;
}

// Direct children of this process that exist in /proc, zombies included.
std::vector<pid_t> ChildrenOfThisProcess() {
  std::vector<pid_t> children;
  DIR* proc = opendir("/proc");
  if (proc == nullptr) return children;
  while (dirent* e = readdir(proc)) {
    pid_t pid = std::atoi(e->d_name);
    if (pid <= 0) continue;
    std::ifstream stat("/proc/" + std::string(e->d_name) + "/stat");
    std::string line;
    std::getline(stat, line);
    size_t paren = line.rfind(')');
    if (paren == std::string::npos) continue;
    char state;
    int ppid;
    if (std::sscanf(line.c_str() + paren + 1, " %c %d", &state, &ppid) == 2 && ppid == getpid()) {
      children.push_back(pid);
    }
  }
  closedir(proc);
  return children;
}

bool Alive(pid_t pid) {
  // A zombie still answers kill(0), so look at its state too.
  std::ifstream stat("/proc/" + std::to_string(pid) + "/stat");
  std::string line;
  if (!std::getline(stat, line)) return false;
  size_t paren = line.rfind(')');
  return paren != std::string::npos && line[paren + 2] != 'Z';
}

std::string Exec(const std::string& script, const std::string& extra = "") {
  return "type = \"exec\"\ncommand = [\"/bin/sh\", \"-c\", '" + script + "']\n" + extra;
}

// ---- exec ----

TEST(ExecSourceTest, StoresTheJsonObjectItPrints) {
  auto s = Make(Exec(R"(printf "{ \"weight_kg\": 12.5,\n \"ok\": true }\n")"));
  ASSERT_TRUE(s);
  EXPECT_EQ(PollData(*s), R"({"weight_kg":12.5,"ok":true})");
  EXPECT_TRUE(ChildrenOfThisProcess().empty());
}

TEST(ExecSourceTest, HangIsKilledWithItsWholeGroupAtTheTimeout) {
  testing::TempDir dir;
  std::string pidfile = dir.path() + "/grandchild";
  auto s = Make(Exec("sleep 30 & echo $! > " + pidfile + "; wait"));
  ASSERT_TRUE(s);
  Clock::time_point start = Clock::now();
  std::string m = PollData(*s, milliseconds(300));
  double seconds = std::chrono::duration<double>(Clock::now() - start).count();
  EXPECT_NE(m.find("command \"/bin/sh\": killed after the 300ms timeout"), std::string::npos) << m;
  EXPECT_LT(seconds, 2.0);
  EXPECT_TRUE(ChildrenOfThisProcess().empty()) << "a zombie or a live child is left";
  std::ifstream in(pidfile);
  pid_t grandchild = 0;
  in >> grandchild;
  ASSERT_GT(grandchild, 0);
  // It was SIGKILLed with the group; init reaps it soon after.
  for (int i = 0; i < 100 && Alive(grandchild); ++i) std::this_thread::sleep_for(milliseconds(10));
  EXPECT_FALSE(Alive(grandchild)) << "the backgrounded sleep survived";
}

TEST(ExecSourceTest, FloodIsCutAtMaxStdout) {
  auto s = Make(Exec("yes", "max_stdout = \"1KiB\""));
  ASSERT_TRUE(s);
  Clock::time_point start = Clock::now();
  std::string m = PollData(*s, milliseconds(5000));
  EXPECT_NE(m.find("killed for printing more than max_stdout (1024 bytes)"), std::string::npos)
      << m;
  EXPECT_LT(std::chrono::duration<double>(Clock::now() - start).count(), 2.0);
  EXPECT_TRUE(ChildrenOfThisProcess().empty());
}

TEST(ExecSourceTest, GarbageIsNotJson) {
  for (const char* script : {"echo not json", "echo [1,2]", "echo {} {}", "true"}) {
    auto s = Make(Exec(script));
    ASSERT_TRUE(s);
    std::string m = PollData(*s);
    EXPECT_NE(m.find("stdout is not one JSON object"), std::string::npos) << script << ": " << m;
  }
  EXPECT_TRUE(ChildrenOfThisProcess().empty());
}

TEST(ExecSourceTest, NonZeroExitAndSignalsAreErrorsWithTheirStatus) {
  auto s = Make(Exec("echo {}; echo sensor offline >&2; exit 3"));
  ASSERT_TRUE(s);
  std::string m = PollData(*s);
  EXPECT_NE(m.find("exit status 3; stdout \"{}\\n\"; stderr \"sensor offline\\n\""),
            std::string::npos)
      << m;
  auto killed = Make(Exec("kill -9 $$"));
  ASSERT_TRUE(killed);
  m = PollData(*killed);
  EXPECT_NE(m.find("killed by signal 9"), std::string::npos) << m;
  EXPECT_TRUE(ChildrenOfThisProcess().empty());
}

TEST(ExecSourceTest, ChildGetsDefaultSignalsThoughTheAgentBlocksThem) {
  // The daemon blocks SIGTERM in every thread; a child must not inherit that.
  sigset_t block, old;
  sigemptyset(&block);
  sigaddset(&block, SIGTERM);
  pthread_sigmask(SIG_BLOCK, &block, &old);
  auto s = Make(Exec("kill -TERM $$; sleep 5"));
  ASSERT_TRUE(s);
  std::string m = PollData(*s, milliseconds(3000));
  pthread_sigmask(SIG_SETMASK, &old, nullptr);
  EXPECT_NE(m.find("killed by signal 15"), std::string::npos) << m;
}

TEST(ExecSourceTest, MissingProgramAndConfigErrors) {
  auto s = Make("type = \"exec\"\ncommand = [\"/nonexistent/sensor\"]");
  ASSERT_TRUE(s);
  std::string m = PollData(*s);
  EXPECT_NE(m.find("run /nonexistent/sensor: No such file or directory"), std::string::npos) << m;
  EXPECT_FALSE(Build("type = \"exec\"").errors.empty());
  EXPECT_FALSE(Build("type = \"exec\"\ncommand = []").errors.empty());
  EXPECT_FALSE(Build("type = \"exec\"\ncommand = \"/bin/true\"").errors.empty());
  EXPECT_FALSE(
      Build("type = \"exec\"\ncommand = [\"/bin/true\"]\nmax_stdout = \"1GiB\"").errors.empty());
}

// ---- system ----

void Write(const std::string& path, const std::string& text) { std::ofstream(path) << text; }

class SystemSourceTest : public ::testing::Test {
 protected:
  void SetUp() override {
    std::filesystem::create_directories(proc_ + "/x");
    std::filesystem::create_directories(sys_ + "/class/thermal/thermal_zone0");
    std::filesystem::create_directories(sys_ + "/class/thermal/thermal_zone1");
    std::filesystem::create_directories(sys_ + "/class/thermal/cooling_device0");
    Write(proc_ + "/stat", "cpu  100 0 100 700 100 0 0 0 0 0\ncpu0 1 2 3 4\n");
    Write(proc_ + "/loadavg", "0.42 0.30 0.25 1/123 4567\n");
    Write(
        proc_ + "/meminfo",
        "MemTotal:        1000000 kB\nMemFree:          100000 kB\nMemAvailable:     250000 kB\n");
    Write(proc_ + "/uptime", "86400.50 170000.00\n");
    Write(sys_ + "/class/thermal/thermal_zone0/temp", "48500\n");
    Write(sys_ + "/class/thermal/thermal_zone1/temp", "51000\n");
    Write(sys_ + "/class/thermal/cooling_device0/temp", "99000\n");  // not a zone
  }

  std::unique_ptr<Source> MakeSystem() {
    return Make("type = \"system\"\nproc_root = \"" + proc_ + "\"\nsys_root = \"" + sys_ +
                "\"\ndisks = [\"/\", \"" + dir_.path() + "\"]");
  }

  testing::TempDir dir_;
  std::string proc_ = dir_.path() + "/proc";
  std::string sys_ = dir_.path() + "/sys";
};

TEST_F(SystemSourceTest, ReadsEveryFigure) {
  auto s = MakeSystem();
  ASSERT_TRUE(s);
  // 100 more busy jiffies (user 50, system 50) out of 400 more in all.
  Write(proc_ + "/stat", "cpu  150 0 150 900 200 0 0 0 0 0\n");
  std::string data = PollData(*s);
  CjsonPtr root(cJSON_Parse(data.c_str()));
  ASSERT_TRUE(root) << data;
  auto number = [&](const char* key) {
    const cJSON* item = cJSON_GetObjectItemCaseSensitive(root.get(), key);
    EXPECT_TRUE(cJSON_IsNumber(item)) << key << " in " << data;
    return cJSON_IsNumber(item) ? item->valuedouble : -1;
  };
  EXPECT_EQ(number("cpu_percent"), 25.0);
  EXPECT_EQ(number("load1"), 0.42);
  EXPECT_EQ(number("load5"), 0.30);
  EXPECT_EQ(number("load15"), 0.25);
  EXPECT_EQ(number("mem_total_bytes"), 1024000000.0);
  EXPECT_EQ(number("mem_available_bytes"), 256000000.0);
  EXPECT_EQ(number("mem_used_percent"), 75.0);
  EXPECT_EQ(number("uptime_s"), 86400.5);
  EXPECT_EQ(number("temp_c"), 51.0);  // the hottest zone
  const cJSON* disks = cJSON_GetObjectItemCaseSensitive(root.get(), "disks");
  ASSERT_TRUE(cJSON_IsObject(disks)) << data;
  EXPECT_EQ(cJSON_GetArraySize(disks), 2);
  const cJSON* slash = cJSON_GetObjectItemCaseSensitive(disks, "/");
  ASSERT_TRUE(cJSON_IsObject(slash)) << data;
  EXPECT_GT(cJSON_GetObjectItemCaseSensitive(slash, "total_bytes")->valuedouble, 0);
}

TEST_F(SystemSourceTest, NoThermalZoneLeavesTemperatureOut) {
  std::filesystem::remove_all(sys_ + "/class/thermal");
  auto s = MakeSystem();
  ASSERT_TRUE(s);
  std::string data = PollData(*s);
  EXPECT_EQ(data.find("temp_c"), std::string::npos) << data;
  EXPECT_NE(data.find("\"uptime_s\":86400.5"), std::string::npos) << data;
}

TEST_F(SystemSourceTest, UnparsableFileFailsThePollNamingIt) {
  auto s = MakeSystem();
  ASSERT_TRUE(s);
  Write(proc_ + "/loadavg", "garbage\n");
  std::string m = PollData(*s);
  EXPECT_NE(m.find(proc_ + "/loadavg: not a load average: \"garbage\\n\""), std::string::npos) << m;
  Write(proc_ + "/loadavg", "1 1 1\n");
  std::filesystem::remove(proc_ + "/meminfo");
  m = PollData(*s);
  EXPECT_NE(m.find("open " + proc_ + "/meminfo"), std::string::npos) << m;
}

TEST(SystemSourceRealTest, ThisHost) {
  auto s = Make("type = \"system\"");
  ASSERT_TRUE(s);
  std::string data = PollData(*s);
  for (const char* key :
       {"\"load1\":", "\"mem_total_bytes\":", "\"uptime_s\":", "\"disks\":{\"/\":"}) {
    EXPECT_NE(data.find(key), std::string::npos) << key << " in " << data;
  }
  EXPECT_FALSE(Build("type = \"system\"\ndisks = [\"relative\"]").errors.empty());
}

// ---- file: directories ----

TEST(FileDirsTest, HwmonStyleDirectoryIsOneReading) {
  testing::TempDir dir;
  std::string hwmon = dir.path() + "/hwmon0";
  std::filesystem::create_directories(hwmon + "/device");
  Write(hwmon + "/name", "coretemp\n");
  Write(hwmon + "/temp2_input", "38000\n");
  Write(hwmon + "/temp1_input", "42500\n");
  Write(hwmon + "/temp1_label", "Package id 0\n");
  auto s = Make("type = \"file\"\ndirs = [ { path = \"" + hwmon +
                "\", match = [\"temp*_input\", \"device\"], scale = 0.001, prefix = \"cpu_\" } ]\n"
                "files = [ { name = \"extra\", path = \"" +
                hwmon + "/temp1_input\" } ]");
  ASSERT_TRUE(s);
  EXPECT_EQ(PollData(*s), R"({"extra":42500,"cpu_temp1_input":42.5,"cpu_temp2_input":38})");
  // A sensor that appears later is read from then on.
  Write(hwmon + "/temp3_input", "40000\n");
  EXPECT_EQ(PollData(*s),
            R"({"extra":42500,"cpu_temp1_input":42.5,"cpu_temp2_input":38,"cpu_temp3_input":40})");
  Write(hwmon + "/temp3_input", "N/A\n");
  std::string m = PollData(*s);
  EXPECT_NE(m.find(hwmon + "/temp3_input: not a number: \"N/A\\n\""), std::string::npos) << m;
}

TEST(FileDirsTest, MissingDirectoryOrNoMatchFailsThePoll) {
  testing::TempDir dir;
  auto s =
      Make("type = \"file\"\ndirs = [ { path = \"" + dir.path() + "/nope\", match = [\"*\"] } ]");
  ASSERT_TRUE(s);
  std::string m = PollData(*s);
  EXPECT_NE(m.find("list " + dir.path() + "/nope: No such file or directory"), std::string::npos)
      << m;
  auto empty =
      Make("type = \"file\"\ndirs = [ { path = \"" + dir.path() + "\", match = [\"temp*\"] } ]");
  ASSERT_TRUE(empty);
  m = PollData(*empty);
  EXPECT_NE(m.find(dir.path() + ": no file matches temp*"), std::string::npos) << m;
  EXPECT_FALSE(Build("type = \"file\"\ndirs = [ { path = \"/x\" } ]").errors.empty());
  EXPECT_FALSE(
      Build("type = \"file\"\ndirs = [ { path = \"/x\", match = [\"*\"], prefix = \"a-\" } ]")
          .errors.empty());
  EXPECT_FALSE(Build("type = \"file\"\ndirs = []").errors.empty());
}

}  // namespace
}  // namespace granary
