// Report keys and bodies: each malformed part is refused with a reason naming it; a good
// report gives the facts the index needs.
#include "receiver/report_format.h"

#include <gtest/gtest.h>

namespace granary::receiver {
namespace {

const std::string kUuid = "0b9d3c9e-5a7f-4c1e-9a51-2f6f3d1c8e47";

TEST(ReportFormatTest, KeyShapes) {
  KeyParts r = ParseKeyShape("reports/error/2026/11/30/" + kUuid + ".json");
  EXPECT_EQ(r.shape, KeyShape::kReport);
  EXPECT_EQ(r.problem, "");
  EXPECT_EQ(r.kind, "error");
  EXPECT_EQ(r.uuid, kUuid);
  KeyParts f = ParseKeyShape("files/" + kUuid + "/cam0.jpg");
  EXPECT_EQ(f.shape, KeyShape::kFile);
  EXPECT_EQ(f.name, "cam0.jpg");
  EXPECT_EQ(ParseKeyShape("meter/2024/11/22/x.jsonl.gz").shape, KeyShape::kOther);
  EXPECT_NE(ParseKeyShape("reports/Error/2026/11/30/" + kUuid + ".json").problem, "");
  EXPECT_NE(ParseKeyShape("reports/error/2026/1/30/" + kUuid + ".json").problem, "");
  EXPECT_NE(ParseKeyShape("reports/error/" + kUuid + ".json").problem, "");
  EXPECT_NE(ParseKeyShape("files/" + kUuid + "/.x").problem, "");
  EXPECT_NE(ParseKeyShape("files/" + kUuid + "/a/b").problem, "");
}

TEST(ReportFormatTest, Uuids) {
  EXPECT_TRUE(IsUuidText(kUuid));
  EXPECT_FALSE(IsUuidText("0B9D3C9E-5A7F-4C1E-9A51-2F6F3D1C8E47"));  // not lowercase
  EXPECT_FALSE(IsUuidText("0b9d3c9e-5a7f-0c1e-9a51-2f6f3d1c8e47"));  // version 0
  EXPECT_FALSE(IsUuidText("0b9d3c9e-5a7f-4c1e-7a51-2f6f3d1c8e47"));  // NCS variant
  EXPECT_FALSE(IsUuidText("0b9d3c9e5a7f4c1e9a512f6f3d1c8e47"));
}

TEST(ReportFormatTest, GoodReportGivesItsFacts) {
  ReportFacts facts;
  std::string body =
      R"({"uuid":")" + kUuid +
      R"(","kind":"error","code":7,"files":[{"name":"a.bin","size":3},{"name":"b.bin"}]})";
  ASSERT_EQ(CheckReportJson(body, kUuid, "error", &facts), "");
  EXPECT_EQ(facts.uuid, kUuid);
  ASSERT_EQ(facts.files.size(), 2u);
  EXPECT_EQ(facts.files[0].size, 3u);
  EXPECT_FALSE(facts.files[1].size.has_value());
  EXPECT_NE(facts.fields_json.find("\"code\":7"), std::string::npos);
}

TEST(ReportFormatTest, BadReportsSayWhy) {
  std::string head = R"({"uuid":")" + kUuid + R"(","kind":"error")";
  struct Case {
    std::string body, reason;
  };
  for (const Case& c : std::vector<Case>{
           {head + R"(,"x":1,"x":2})", "the key \"x\" appears twice"},
           {head + R"(,"o":{"y":1,"y":1}})", "the key \"y\" appears twice"},
           {head + "} {}", "bytes after the JSON object"},
           {"[1]", "not one JSON object"},
           {R"({"kind":"error"})", "no \"uuid\" string"},
           {R"({"uuid":"x","kind":"error"})", "is not a lowercase RFC 4122 UUID"},
           {R"({"uuid":")" + kUuid + R"("})", "no \"kind\" string"},
           {R"({"uuid":")" + kUuid + R"(","kind":"job"})", "kind \"job\" but the key names"},
           {head + R"(,"files":{}})", "\"files\" is not an array"},
           {head + R"(,"files":[{"name":"a"},{"name":"a"}]})", "listed twice"},
           {head + R"(,"files":[{"name":"a","size":-1}]})", "not a byte count"},
           {head + R"(,"files":[{"name":"a","sha256":"AB"}]})", "64 lowercase hex"},
           {"{\"uuid\":\"\xff\"}", "not valid UTF-8"},
       }) {
    ReportFacts facts;
    std::string why = CheckReportJson(c.body, kUuid, "error", &facts);
    EXPECT_NE(why.find(c.reason), std::string::npos) << c.body << " -> " << why;
  }
}

}  // namespace
}  // namespace granary::receiver
