// ConfigReader on its own: the getters the source types use, their messages and what they
// record for check-config.
#include "config/reader.h"

#include <gtest/gtest.h>

namespace granary {
namespace {

using namespace std::chrono_literals;

class ConfigReaderTest : public ::testing::Test {
 protected:
  ConfigReader Parse(std::string_view text) {
    table_ = toml::parse(text);
    diag_ = std::make_shared<ConfigDiagnostics>();
    diag_->file = "t.toml";
    return ConfigReader(diag_, table_, "source[0]");
  }

  std::string Effective(std::string_view key) const {
    for (const ConfigSetting& s : diag_->effective) {
      if (s.key == key) return s.value;
    }
    return "(not recorded)";
  }

  toml::table table_;
  std::shared_ptr<ConfigDiagnostics> diag_;
};

TEST_F(ConfigReaderTest, DefaultsAreRecorded) {
  ConfigReader r = Parse("");
  EXPECT_EQ(r.String("s", "x\"y"), "x\"y");
  EXPECT_EQ(r.Integer("i", 7, 0, 10), 7);
  EXPECT_EQ(r.Duration("d", 90s, 0ms), 90s);
  EXPECT_EQ(r.Size("z", 1ULL << 30, 0), 1ULL << 30);
  EXPECT_TRUE(r.StringArray("a").empty());
  r.Finish();
  EXPECT_TRUE(diag_->errors.empty());
  EXPECT_EQ(Effective("source[0].s"), "\"x\\\"y\"");
  EXPECT_EQ(Effective("source[0].i"), "7");
  EXPECT_EQ(Effective("source[0].d"), "\"1m30s\"");
  EXPECT_EQ(Effective("source[0].z"), "\"1GiB\"");
  EXPECT_EQ(Effective("source[0].a"), "[]");
}

TEST_F(ConfigReaderTest, SecretIsMarked) {
  ConfigReader r = Parse("password = \"hunter2\"");
  EXPECT_EQ(r.SecretString("password", ""), "hunter2");
  ASSERT_EQ(diag_->effective.size(), 1u);
  EXPECT_TRUE(diag_->effective[0].secret);
}

TEST_F(ConfigReaderTest, NumberTakesIntegerOrFloat) {
  ConfigReader r = Parse("a = 2\nb = 0.5\nc = \"3\"");
  EXPECT_EQ(r.Number("a", 0), 2.0);
  EXPECT_EQ(r.Number("b", 0), 0.5);
  EXPECT_EQ(r.Number("c", 1.5), 1.5);
  ASSERT_EQ(diag_->errors.size(), 1u);
  EXPECT_EQ(diag_->errors[0], "t.toml:3: source[0].c: expected a number, got string");
  EXPECT_EQ(Effective("source[0].b"), "0.5");
}

TEST_F(ConfigReaderTest, IntegerRejectsFloat) {
  ConfigReader r = Parse("n = 1.5");
  EXPECT_EQ(r.Integer("n", 3, 0, 10), 3);
  ASSERT_EQ(diag_->errors.size(), 1u);
  EXPECT_EQ(diag_->errors[0], "t.toml:1: source[0].n: expected an integer, got float");
}

TEST_F(ConfigReaderTest, StringArrayNamesTheBadElement) {
  ConfigReader r = Parse("h = [\"a\",\n 2, \"b\"]");
  EXPECT_EQ(r.StringArray("h"), (std::vector<std::string>{"a", "b"}));
  ASSERT_EQ(diag_->errors.size(), 1u);
  EXPECT_EQ(diag_->errors[0], "t.toml:2: source[0].h[1]: expected a string, got integer");
}

TEST_F(ConfigReaderTest, StringMapKeepsFileOrder) {
  ConfigReader r = Parse("f = { zeta = \"/z\", \"a b\" = \"/ab\", mid = 3 }");
  auto map = r.StringMap("f");
  ASSERT_EQ(map.size(), 2u);
  EXPECT_EQ(map[0], (std::pair<std::string, std::string>{"zeta", "/z"}));
  EXPECT_EQ(map[1], (std::pair<std::string, std::string>{"a b", "/ab"}));
  ASSERT_EQ(diag_->errors.size(), 1u);
  EXPECT_EQ(diag_->errors[0], "t.toml:1: source[0].f.mid: expected a string, got integer");
  EXPECT_EQ(Effective("source[0].f"), "{ zeta = \"/z\", \"a b\" = \"/ab\" }");
}

TEST_F(ConfigReaderTest, TablesAndFinish) {
  ConfigReader r = Parse("x = 1\n[sub]\nk = \"v\"\nq = 2\n");
  std::optional<ConfigReader> sub = r.Table("sub");
  ASSERT_TRUE(sub.has_value());
  EXPECT_EQ(sub->String("k", ""), "v");
  sub->Finish();
  EXPECT_FALSE(r.Table("absent").has_value());
  EXPECT_FALSE(r.Table("needed", true).has_value());
  EXPECT_FALSE(r.Table("x").has_value());
  r.Finish();
  EXPECT_EQ(diag_->errors,
            (std::vector<std::string>{"t.toml:4: source[0].sub.q: unknown key",
                                      "t.toml:1: source[0].needed: missing required table",
                                      "t.toml:1: source[0].x: expected a table, got integer"}));
  EXPECT_EQ(Effective("source[0].sub.k"), "\"v\"");
}

TEST_F(ConfigReaderTest, TableArrayIndexesElements) {
  ConfigReader r = Parse("[[e]]\na = 1\n[[e]]\na = \"two\"\n");
  std::vector<ConfigReader> elements = r.TableArray("e");
  ASSERT_EQ(elements.size(), 2u);
  EXPECT_EQ(elements[1].FullKey("a"), "source[0].e[1].a");
  elements[1].Integer("a", 0, 0, 9);
  EXPECT_EQ(
      diag_->errors,
      (std::vector<std::string>{"t.toml:4: source[0].e[1].a: expected an integer, got string"}));
  ConfigReader mixed = Parse("e = [{ a = 1 }, 5]");
  EXPECT_EQ(mixed.TableArray("e").size(), 1u);
  EXPECT_EQ(diag_->errors,
            (std::vector<std::string>{"t.toml:1: source[0].e[1]: expected a table, got integer"}));
}

TEST_F(ConfigReaderTest, FailUsesTheKeysLineOrTheTables) {
  ConfigReader r = Parse("\n\nurl = \"x\"\n");
  r.Fail("url", "bad");
  r.Fail("absent", "missing");
  EXPECT_EQ(diag_->errors, (std::vector<std::string>{"t.toml:3: source[0].url: bad",
                                                     "t.toml:1: source[0].absent: missing"}));
}

}  // namespace
}  // namespace granary
