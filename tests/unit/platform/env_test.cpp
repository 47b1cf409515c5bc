// The real Env's files and clocks, and WriteFileAtomically over it and under faults.
#include "platform/env.h"

#include <gtest/gtest.h>

#include <chrono>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <thread>

#include "tests/support/fault_env.h"
#include "tests/support/test_util.h"

namespace granary {
namespace {

namespace fs = std::filesystem;

std::string ReadAll(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::ostringstream out;
  out << in.rdbuf();
  return out.str();
}

void WriteAll(const std::string& path, const std::string& text) {
  std::ofstream(path, std::ios::binary | std::ios::trunc) << text;
}

// Counts directory syncs, which the real Env cannot show.
class CountingEnv : public EnvWrapper {
 public:
  CountingEnv() : EnvWrapper(Env::Default()) {}
  Status SyncDir(const std::string& dir) override {
    synced_dirs.push_back(dir);
    return EnvWrapper::SyncDir(dir);
  }
  std::vector<std::string> synced_dirs;
};

class EnvTest : public ::testing::Test {
 protected:
  std::string Path(const std::string& name) const { return dir_.path() + "/" + name; }
  Env& env_ = Env::Default();
  testing::TempDir dir_;
};

TEST_F(EnvTest, WallClockIsTheSystemClock) {
  auto system_ms = std::chrono::duration_cast<std::chrono::milliseconds>(
                       std::chrono::system_clock::now().time_since_epoch())
                       .count();
  EXPECT_NEAR(static_cast<double>(env_.WallNowMs()), static_cast<double>(system_ms), 5'000.0);
  EXPECT_GT(env_.WallNowMs(), 1'577'836'800'000);  // 2020-01-01
}

TEST_F(EnvTest, MonotonicClockAdvances) {
  int64_t a = env_.MonoNowNs();
  std::this_thread::sleep_for(std::chrono::milliseconds(20));
  int64_t b = env_.MonoNowNs();
  EXPECT_GE(b - a, 20'000'000);
  EXPECT_LT(b - a, 5'000'000'000);
  for (int i = 0; i < 1000; ++i) {
    int64_t next = env_.MonoNowNs();
    ASSERT_GE(next, b);
    b = next;
  }
  (void)env_.ClockSynchronized();  // either answer is right on a test machine; must not crash
}

TEST_F(EnvTest, WritableFileWritesAndTruncates) {
  const std::string path = Path("f");
  WriteAll(path, "old content that is longer");
  auto file = env_.NewWritableFile(path);
  ASSERT_TRUE(file.ok()) << file.error().message();
  ASSERT_TRUE((*file)->Append("hello ").ok());
  ASSERT_TRUE((*file)->Append(std::string(100'000, 'x')).ok());
  ASSERT_TRUE((*file)->Sync().ok());
  ASSERT_TRUE((*file)->Close().ok());
  EXPECT_EQ(ReadAll(path), "hello " + std::string(100'000, 'x'));
}

TEST_F(EnvTest, FileErrorsNameThePathAndKeepErrno) {
  const std::string path = Path("missing/f");
  auto file = env_.NewWritableFile(path);
  ASSERT_FALSE(file.ok());
  EXPECT_EQ(file.error().message(), "create " + path + ": No such file or directory");
  EXPECT_EQ(file.error().sys_errno(), ENOENT);

  Status s = env_.RenameFile(Path("nope"), Path("dest"));
  ASSERT_FALSE(s.ok());
  EXPECT_EQ(s.error().sys_errno(), ENOENT);
  EXPECT_NE(s.error().message().find(Path("nope")), std::string::npos) << s.error().message();
  EXPECT_NE(s.error().message().find(Path("dest")), std::string::npos) << s.error().message();

  s = env_.SyncDir(Path("missing"));
  ASSERT_FALSE(s.ok());
  EXPECT_EQ(s.error().sys_errno(), ENOENT);
  EXPECT_FALSE(env_.FreeBytes(Path("missing")).ok());
}

TEST_F(EnvTest, RenameRemoveAndDirectories) {
  WriteAll(Path("a"), "A");
  ASSERT_TRUE(env_.RenameFile(Path("a"), Path("b")).ok());
  EXPECT_FALSE(fs::exists(Path("a")));
  EXPECT_EQ(ReadAll(Path("b")), "A");

  ASSERT_TRUE(env_.RemoveFile(Path("b")).ok());
  EXPECT_FALSE(fs::exists(Path("b")));
  EXPECT_TRUE(env_.RemoveFile(Path("b")).ok()) << "removing a missing file is not an error";

  ASSERT_TRUE(env_.CreateDirs(Path("x/y/z")).ok());
  EXPECT_TRUE(fs::is_directory(Path("x/y/z")));
  EXPECT_TRUE(env_.CreateDirs(Path("x/y/z")).ok()) << "an existing directory is fine";
  EXPECT_TRUE(env_.SyncDir(Path("x/y")).ok());
  WriteAll(Path("file"), "");
  Status s = env_.CreateDirs(Path("file/sub"));
  ASSERT_FALSE(s.ok());
  EXPECT_NE(s.error().message().find(Path("file/sub")), std::string::npos) << s.error().message();

  auto free = env_.FreeBytes(dir_.path());
  ASSERT_TRUE(free.ok()) << free.error().message();
  EXPECT_GT(*free, 0u);
}

TEST_F(EnvTest, WriteFileAtomicallyReplacesAndSyncsTheDirectory) {
  CountingEnv env;
  const std::string path = Path("status.json");
  ASSERT_TRUE(WriteFileAtomically(env, path, "one").ok());
  EXPECT_EQ(ReadAll(path), "one");
  ASSERT_TRUE(WriteFileAtomically(env, path, "two, longer").ok());
  EXPECT_EQ(ReadAll(path), "two, longer");
  EXPECT_EQ(env.synced_dirs, (std::vector<std::string>{dir_.path(), dir_.path()}));
  EXPECT_FALSE(fs::exists(path + ".tmp"));

  // Not durable: no fsync of the directory (flash wear), same visible result.
  ASSERT_TRUE(WriteFileAtomically(env, path, "", /*durable=*/false).ok());
  EXPECT_EQ(ReadAll(path), "");
  EXPECT_EQ(env.synced_dirs.size(), 2u);
}

TEST_F(EnvTest, WriteFileAtomicallyKeepsTheOldFileOnFailure) {
  const std::string path = Path("metrics.prom");
  WriteAll(path, "old");
  testing::FaultEnv env;
  for (const char* op : {"file.create", "file.write", "file.sync", "rename"}) {
    env.Clear();
    env.Fail(op, op == std::string("file.write") ? ENOSPC : EIO);
    Status s = WriteFileAtomically(env, path, "new");
    ASSERT_FALSE(s.ok()) << op;
    EXPECT_EQ(s.error().sys_errno(), op == std::string("file.write") ? ENOSPC : EIO) << op;
    EXPECT_NE(s.error().message().find(path), std::string::npos) << s.error().message();
    EXPECT_EQ(ReadAll(path), "old") << op;
    EXPECT_FALSE(fs::exists(path + ".tmp")) << op;
  }
  env.Clear();
  ASSERT_TRUE(WriteFileAtomically(env, path, "new").ok());
  EXPECT_EQ(ReadAll(path), "new");
}

TEST_F(EnvTest, WriteFileAtomicallyIntoAMissingDirectoryFails) {
  Status s = WriteFileAtomically(env_, Path("nodir/f"), "x");
  ASSERT_FALSE(s.ok());
  EXPECT_EQ(s.error().sys_errno(), ENOENT);
  EXPECT_FALSE(fs::exists(Path("nodir")));
}

}  // namespace
}  // namespace granary
