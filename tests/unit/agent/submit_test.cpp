// Checking and completing a report for `granary submit` and the run watchers.
#include "agent/outbox/submit.h"

#include <gtest/gtest.h>

namespace granary {
namespace {

constexpr const char* kUuid = "0f8fad5b-d9cb-469f-a165-70867728950e";

Attachment Cam(uint64_t size = 3) { return Attachment{"/x/cam0.jpg", "cam0.jpg", size, "ab"}; }

TEST(PrepareReport, CompletesUuidKindAndFiles) {
  auto r = PrepareReport({R"({"uuid":")" + std::string(kUuid) + R"(","t":1.5})", "", "", "errors"},
                         {Cam()});
  ASSERT_TRUE(r.ok()) << r.error().message();
  EXPECT_EQ(r->uuid, kUuid);
  EXPECT_EQ(r->kind, "errors");
  EXPECT_EQ(r->json, R"({"uuid":")" + std::string(kUuid) +
                         R"(","t":1.5,"kind":"errors","files":[{"name":"cam0.jpg","size":3,)"
                         R"("sha256":"ab"}]})"
                         "\n");
}

TEST(PrepareReport, GeneratesAV4UuidAndReplacesAFilesEntry) {
  auto r = PrepareReport({R"({"kind":"job","files":[{"name":"cam0.jpg","size":9}]})", "", "", "x"},
                         {Cam(4)});
  ASSERT_TRUE(r.ok()) << r.error().message();
  EXPECT_TRUE(ValidUuid(r->uuid));
  EXPECT_EQ(r->uuid[14], '4');
  EXPECT_EQ(r->kind, "job");
  EXPECT_NE(r->json.find(R"("files":[{"name":"cam0.jpg","size":4,"sha256":"ab"}])"),
            std::string::npos);
}

TEST(PrepareReport, Refusals) {
  auto error = [](ReportRequest req, std::vector<Attachment> a = {}) {
    auto r = PrepareReport(req, a);
    return r.ok() ? std::string() : r.error().message();
  };
  EXPECT_NE(error({"{", "", "", "k"}).find("not valid JSON"), std::string::npos);
  EXPECT_NE(error({"[1]", "", "", "k"}).find("one JSON object"), std::string::npos);
  EXPECT_NE(error({"{} {}", "", "", "k"}).find("more than one"), std::string::npos);
  EXPECT_NE(error({R"({"a":1,"a":2})", "", "", "k"}).find("duplicate key \"a\""),
            std::string::npos);
  EXPECT_NE(error({R"({"o":{"b":1,"b":2}})", "", "", "k"}).find("duplicate key \"b\""),
            std::string::npos);
  EXPECT_NE(
      error({R"({"uuid":"0F8FAD5B-D9CB-469F-A165-70867728950E"})", "", "", "k"}).find("lowercase"),
      std::string::npos);
  EXPECT_NE(error({R"({"kind":"a"})", "b", "", "k"}).find("contradicts"), std::string::npos);
  EXPECT_NE(error({R"({"uuid":")" + std::string(kUuid) + "\"}", "", NewUuidV4(), "k"})
                .find("contradicts"),
            std::string::npos);
  EXPECT_NE(error({R"({"kind":"Bad"})", "", "", "k"}).find("kind"), std::string::npos);
  EXPECT_NE(error({R"({"files":{}})", "", "", "k"}, {Cam()}).find("array"), std::string::npos);
  EXPECT_NE(error({"{}", "", "", "k"}, {Cam(), Cam()}).find("two attachments"), std::string::npos);
}

TEST(FileNames, ContractRule) {
  EXPECT_TRUE(ValidFileName("cam0.jpg"));
  EXPECT_TRUE(ValidFileName(std::string(200, 'a')));
  EXPECT_FALSE(ValidFileName(std::string(201, 'a')));
  EXPECT_FALSE(ValidFileName(".hidden"));
  EXPECT_FALSE(ValidFileName("a b"));
  EXPECT_FALSE(ValidFileName("a/b"));
  EXPECT_FALSE(ValidFileName(""));
}

}  // namespace
}  // namespace granary
