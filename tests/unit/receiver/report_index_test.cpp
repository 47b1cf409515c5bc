// The index's reports and files: linked in either arrival order, each attachment check raised
// once, a uuid under two keys refused, and an external validation decided exactly once.
#include <gtest/gtest.h>

#include "receiver/index.h"
#include "receiver_test_util.h"
#include "tests/support/test_util.h"

namespace granary::receiver {
namespace {

const std::string kR1 = "0b9d3c9e-5a7f-4c1e-9a51-2f6f3d1c8e47";
const std::string kR2 = "7c0e1f2a-3b4c-4d5e-8f60-718293a4b5c6";

ObjectRow Row(const std::string& key, const std::string& bytes, const char* kind) {
  ObjectRow r;
  r.bucket = "granary";
  r.key = key;
  r.size = bytes.size();
  r.md5_hex = "m";
  r.sha256_hex = Sha256Hex(bytes);
  r.kind = kind;
  r.stored_ms = 1000;
  return r;
}

class ReportIndexTest : public ::testing::Test {
 protected:
  ReportIndexTest() {
    config_.data_dir = dir_.path();
    auto index = OpenIndex(Env::Default(), config_);
    EXPECT_TRUE(index.ok()) << index.error().message();
    index_ = std::move(*index);
  }
  RecordOutcome AddReport(const std::string& uuid, std::vector<ReportAttachment> files,
                          bool pending = false, const std::string& day = "30") {
    ReportFacts f{"h017", "error", uuid, "{\"uuid\":\"" + uuid + "\"}", std::move(files)};
    auto r =
        index_->RecordReport(Row("granary/h017/reports/error/2026/11/" + day + "/" + uuid + ".json",
                                 f.fields_json, "report"),
                             f, pending, 1000);
    EXPECT_TRUE(r.ok()) << r.error().message();
    return r->outcome;
  }
  RecordOutcome AddFile(const std::string& uuid, const std::string& name,
                        const std::string& bytes) {
    auto r = index_->RecordFile(Row("granary/h017/files/" + uuid + "/" + name, bytes, "file"),
                                FileFacts{"h017", uuid, name, ""}, false, 1000);
    EXPECT_TRUE(r.ok()) << r.error().message();
    return r->outcome;
  }
  size_t Check(int64_t due_ms) {
    auto n = index_->CheckAttachments(due_ms, 5000);
    EXPECT_TRUE(n.ok()) << n.error().message();
    return *n;
  }
  granary::testing::TempDir dir_;
  ReceiverConfig config_;
  std::unique_ptr<Index> index_;
};

TEST_F(ReportIndexTest, LinkedInEitherOrderAndCheckedOnce) {
  EXPECT_EQ(AddReport(kR1, {{"a.bin", 3, Sha256Hex("abc")}, {"b.bin", std::nullopt, ""}}),
            RecordOutcome::kIndexed);
  EXPECT_EQ(AddFile(kR1, "a.bin", "abc"), RecordOutcome::kIndexed);
  EXPECT_EQ(AddFile(kR2, "c.bin", "xyz"), RecordOutcome::kIndexed);  // before its report
  EXPECT_EQ(Check(999), 0u);                                         // stored at 1000: not due yet
  EXPECT_EQ(Check(1000), 2u);  // b.bin missing; kR2's file has no report yet
  auto events = index_->Events("h017", 10);
  ASSERT_TRUE(events.ok());
  EXPECT_EQ(events->front().kind, "file-without-report");
  EXPECT_EQ((*events)[1].kind, "report-files-missing");
  EXPECT_NE((*events)[1].detail.find("b.bin missing"), std::string::npos) << (*events)[1].detail;
  EXPECT_EQ(Check(2000), 0u);  // each checked once
  EXPECT_EQ(AddFile(kR1, "b.bin", "late"), RecordOutcome::kIndexed);
  auto files = index_->Files(kR1);
  ASSERT_TRUE(files.ok());
  ASSERT_EQ(files->size(), 2u);
  EXPECT_EQ((*files)[1].name, "b.bin");
}

TEST_F(ReportIndexTest, FilesFirstThenTheReportRaisesNothing) {
  EXPECT_EQ(AddFile(kR2, "c.bin", "xyz"), RecordOutcome::kIndexed);
  EXPECT_EQ(AddReport(kR2, {{"c.bin", 3, Sha256Hex("xyz")}}), RecordOutcome::kIndexed);
  EXPECT_EQ(Check(1000), 0u);
}

TEST_F(ReportIndexTest, AFileOtherThanListedIsAnEvent) {
  EXPECT_EQ(AddReport(kR1, {{"a.bin", 4, ""}}), RecordOutcome::kIndexed);
  EXPECT_EQ(AddFile(kR1, "a.bin", "abc"), RecordOutcome::kIndexed);
  EXPECT_EQ(Check(1000), 1u);
  auto events = index_->Events("h017", 1);
  ASSERT_TRUE(events.ok());
  EXPECT_NE(events->front().detail.find("a.bin has 3 bytes, listed 4"), std::string::npos);
}

TEST_F(ReportIndexTest, OneUuidUnderTwoKeysIsAConflict) {
  EXPECT_EQ(AddReport(kR1, {}), RecordOutcome::kIndexed);
  EXPECT_EQ(AddReport(kR1, {}), RecordOutcome::kDuplicate);
  EXPECT_EQ(AddReport(kR1, {}, false, "29"), RecordOutcome::kConflict);
  EXPECT_EQ(AddFile(kR1, "a.bin", "abc"), RecordOutcome::kIndexed);
  auto again = index_->RecordFile(Row("granary/h018/files/" + kR1 + "/a.bin", "abc", "file"),
                                  FileFacts{"h018", kR1, "a.bin", ""}, false, 1000);
  ASSERT_TRUE(again.ok());
  EXPECT_EQ(again->outcome, RecordOutcome::kConflict);
}

TEST_F(ReportIndexTest, AValidationIsDecidedOnce) {
  EXPECT_EQ(AddReport(kR1, {}, /*pending=*/true), RecordOutcome::kIndexed);
  auto due = index_->DueValidations(1000, 10);
  ASSERT_TRUE(due.ok());
  ASSERT_EQ(due->size(), 1u);
  const std::string id = due->front().request_id;
  EXPECT_EQ(due->front().uuid, kR1);
  ASSERT_TRUE(index_->ValidationSent(id, 3000).ok());
  EXPECT_TRUE(index_->DueValidations(2999, 10)->empty());
  auto retry = index_->DueValidations(3000, 10);
  ASSERT_EQ(retry->size(), 1u);
  EXPECT_EQ(retry->front().request_id, id);
  EXPECT_EQ(retry->front().tries, 1);
  EXPECT_EQ((*index_->Report(kR1))->state, "pending");
  auto decided = index_->DecideValidation(id, false, "bad", 4000);
  ASSERT_TRUE(decided.ok());
  ASSERT_TRUE(decided->has_value());
  auto late = index_->DecideValidation(id, true, "", 4001);  // a second answer changes nothing
  ASSERT_TRUE(late.ok());
  EXPECT_FALSE(late->has_value());
  auto row = index_->Report(kR1);
  ASSERT_TRUE(row.ok() && row->has_value());
  EXPECT_EQ((*row)->state, "rejected");
  EXPECT_EQ((*row)->reason, "bad");
  EXPECT_TRUE(index_->DueValidations(INT64_MAX, 10)->empty());
  auto counts = index_->KindCounts();
  ASSERT_TRUE(counts.ok());
  ASSERT_EQ(counts->size(), 1u);
  EXPECT_EQ(counts->front().state, "rejected");
}

}  // namespace
}  // namespace granary::receiver
