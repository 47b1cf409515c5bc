// The outbox pieces: report parsing, UUIDs, the catalog's outbox rows, and taking a file
// (identity matching, rejection, a take redone after a crash before its record).
#include <gtest/gtest.h>
#include <sys/stat.h>

#include <filesystem>
#include <fstream>

#include "agent/outbox/report.h"
#include "agent/outbox/take.h"
#include "agent/outbox/uuid.h"
#include "agent/upload/object_key.h"
#include "platform/crypto.h"
#include "storage/buffer.h"
#include "storage/catalog.h"
#include "tests/support/test_util.h"

namespace granary {
namespace {

namespace fs = std::filesystem;
using testing::TempDir;

constexpr const char* kUuid = "0f8fad5b-d9cb-469f-a165-70867728950e";

OutboxConfig Outbox(const std::string& path) {
  OutboxConfig o;
  o.name = "jobs";
  o.path = path;
  o.kind = "job";
  return o;
}

void Write(const std::string& path, const std::string& text) {
  std::ofstream(path, std::ios::binary) << text;
}

std::string Read(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  return std::string(std::istreambuf_iterator<char>(in), {});
}

TEST(OutboxUuid, NewOnesAreValidAndDistinct) {
  const std::string a = NewUuidV4(), b = NewUuidV4();
  EXPECT_TRUE(ValidUuid(a)) << a;
  EXPECT_NE(a, b);
  EXPECT_EQ(a[14], '4');
  EXPECT_TRUE(ValidUuid(kUuid));
  EXPECT_FALSE(ValidUuid("0F8FAD5B-D9CB-469F-A165-70867728950E"));  // uppercase
  EXPECT_FALSE(ValidUuid("0f8fad5b-d9cb-069f-a165-70867728950e"));  // version 0
  EXPECT_FALSE(ValidUuid("0f8fad5b-d9cb-469f-c165-70867728950e"));  // variant
  EXPECT_FALSE(ValidUuid("0f8fad5bd9cb469fa16570867728950e"));
}

TEST(OutboxReport, TakesUuidKindAndFiles) {
  const OutboxConfig o = Outbox("/x");
  const std::string text = std::string(R"({"uuid":")") + kUuid +
                           R"(","kind":"error","files":[{"name":"a.jpg","size":3}]})";
  auto r = ParseReport(text, o);
  ASSERT_TRUE(r) << r.error().message();
  EXPECT_EQ(r->uuid, kUuid);
  EXPECT_EQ(r->kind, "error");
  EXPECT_EQ(r->body, text);  // stored byte for byte
  EXPECT_FALSE(r->uuid_assigned);
  auto no_kind = ParseReport(std::string(R"({"uuid":")") + kUuid + "\"}", o);
  ASSERT_TRUE(no_kind);
  EXPECT_EQ(no_kind->kind, "job");
}

TEST(OutboxReport, RefusesWhatIsNotAReport) {
  const OutboxConfig o = Outbox("/x");
  const std::string u = std::string(R"("uuid":")") + kUuid + "\"";
  EXPECT_FALSE(ParseReport("{", o));
  EXPECT_FALSE(ParseReport("[1]", o));
  EXPECT_FALSE(ParseReport("{" + u + "} {}", o));
  EXPECT_FALSE(ParseReport(R"({"kind":"x"})", o));  // no uuid, assign_uuid off
  EXPECT_FALSE(ParseReport(R"({"uuid":"nope"})", o));
  EXPECT_FALSE(ParseReport("{" + u + R"(,"kind":"Bad Kind"})", o));
  EXPECT_FALSE(ParseReport("{" + u + R"(,"files":"a.jpg"})", o));
  EXPECT_FALSE(ParseReport("{" + u + R"(,"files":[{"size":1}]})", o));
  auto why = ParseReport(R"({"kind":"x"})", o);
  EXPECT_NE(why.error().message().find("uuid"), std::string::npos);
}

TEST(OutboxReport, AssignsAUuidIntoTheStoredCopy) {
  OutboxConfig o = Outbox("/x");
  o.assign_uuid = true;
  auto r = ParseReport(R"({"temp":21.5})", o);
  ASSERT_TRUE(r) << r.error().message();
  EXPECT_TRUE(r->uuid_assigned);
  EXPECT_TRUE(ValidUuid(r->uuid));
  EXPECT_NE(r->body.find(r->uuid), std::string::npos);
  EXPECT_NE(r->body.find("21.5"), std::string::npos);
}

TEST(OutboxKeys, DefaultTemplatesAndValidation) {
  OutboxKeyFields f{"granary", "h017", "error", kUuid, "cam0.jpg", 1'732'284'000'000};
  EXPECT_EQ(RenderOutboxKey(kDefaultReportKeyTemplate, f),
            std::string("granary/h017/reports/error/2024/11/22/") + kUuid + ".json");
  EXPECT_EQ(RenderOutboxKey(kDefaultFileKeyTemplate, f),
            std::string("granary/h017/files/") + kUuid + "/cam0.jpg");
  f.prefix.clear();
  EXPECT_EQ(RenderOutboxKey(kDefaultFileKeyTemplate, f),
            std::string("h017/files/") + kUuid + "/cam0.jpg");
  EXPECT_TRUE(ValidateOutboxKeyTemplate(kDefaultReportKeyTemplate, false));
  EXPECT_TRUE(ValidateOutboxKeyTemplate(kDefaultFileKeyTemplate, true));
  EXPECT_FALSE(ValidateOutboxKeyTemplate("{prefix}/{name}", true));         // no uuid
  EXPECT_FALSE(ValidateOutboxKeyTemplate("{prefix}/{uuid}", true));         // no name
  EXPECT_FALSE(ValidateOutboxKeyTemplate("{prefix}/{uuid}/{seq}", false));  // unknown
  EXPECT_FALSE(ValidateOutboxKeyTemplate("{prefix/{uuid}", false));
  EXPECT_EQ(ValidateOutboxKeyTemplate("{prefix}/{uuid}/{seq}", false).error().message(),
            "unknown placeholder {seq} in key template (known: prefix, device, kind, yyyy, mm, "
            "dd, uuid, name)");
  EXPECT_EQ(ValidateOutboxKeyTemplate("{prefix}/{uuid}", true).error().message(),
            "file key template must contain {name}");
}

class OutboxTakeTest : public ::testing::Test {
 protected:
  void SetUp() override {
    state_ = dir_.path() + "/state";
    box_ = dir_.path() + "/box";
    fs::create_directories(box_);
    // The buffer creates the database and its tables.
    BufferOptions bo;
    bo.state_dir = state_;
    bo.device = "h017";
    auto buffer = Buffer::Open(env_, bo);
    ASSERT_TRUE(buffer) << buffer.error().message();
    (*buffer)->Stop(false);
    fs::create_directories(OutboxCopiesDir(state_));
    auto c = SegmentCatalog::OpenForUploads(env_, state_);
    ASSERT_TRUE(c) << c.error().message();
    catalog_ = std::move(*c);
    taker_ = std::make_unique<OutboxTaker>(env_, state_, *catalog_,
                                           [this](uint64_t b) { return b <= room_; });
  }

  Env& env_ = Env::Default();
  TempDir dir_;
  std::string state_, box_;
  std::unique_ptr<SegmentCatalog> catalog_;
  std::unique_ptr<OutboxTaker> taker_;
  uint64_t room_ = 1 << 30;
};

TEST_F(OutboxTakeTest, TakesAFileRecordsItAndRemovesTheOriginal) {
  const OutboxConfig o = Outbox(box_);
  Write(box_ + "/cam0.jpg", "pixels");
  TakeResult r = taker_->Take(o, box_ + "/cam0.jpg", "");
  ASSERT_EQ(r.outcome, TakeOutcome::kTaken) << r.detail;
  EXPECT_FALSE(fs::exists(box_ + "/cam0.jpg"));
  EXPECT_EQ(Read(OutboxCopiesDir(state_) + "/" + r.entry.local), "pixels");
  EXPECT_EQ(r.entry.role, "file");
  EXPECT_EQ(r.entry.kind, "job");
  EXPECT_TRUE(ValidUuid(r.entry.uuid));
  auto due = catalog_->NextOutboxDue(INT64_MAX);
  ASSERT_TRUE(due && due->has_value());
  EXPECT_EQ((*due)->sha256_hex, Sha256Hex("pixels"));
  EXPECT_EQ((*due)->md5_hex, Md5Hex("pixels"));
  EXPECT_EQ((*due)->size, 6u);
  ASSERT_TRUE(catalog_->MarkOutboxUploaded((*due)->id, 5));
  due = catalog_->NextOutboxDue(INT64_MAX);
  ASSERT_TRUE(due);
  EXPECT_FALSE(due->has_value());
  auto counts = catalog_->OutboxCounts();
  ASSERT_TRUE(counts && counts->size() == 1);
  EXPECT_EQ((*counts)[0].uploaded, 1u);
  EXPECT_EQ((*counts)[0].pending, 0u);
}

TEST_F(OutboxTakeTest, ReportsGoBeforeFilesAndAttachmentsKeepTheirUuid) {
  const OutboxConfig o = Outbox(box_);
  fs::create_directories(box_ + "/" + kUuid);
  Write(box_ + "/" + kUuid + "/log.txt", "lines");
  Write(box_ + "/r.json", std::string(R"({"uuid":")") + kUuid + R"(","kind":"error"})");
  ASSERT_EQ(taker_->Take(o, box_ + "/" + kUuid + "/log.txt", kUuid).outcome, TakeOutcome::kTaken);
  ASSERT_EQ(taker_->Take(o, box_ + "/r.json", "").outcome, TakeOutcome::kTaken);
  auto due = catalog_->NextOutboxDue(INT64_MAX);
  ASSERT_TRUE(due && due->has_value());
  EXPECT_EQ((*due)->role, "report");
  EXPECT_EQ((*due)->name, std::string(kUuid) + ".json");
  EXPECT_EQ((*due)->kind, "error");
  auto file = catalog_->FindOutboxEntry("file", kUuid, "log.txt");
  ASSERT_TRUE(file && file->has_value());
  EXPECT_EQ((*file)->kind, "job");
}

TEST_F(OutboxTakeTest, KeepDoesNotTakeTheSameFileTwice) {
  OutboxConfig o = Outbox(box_);
  o.delete_after = false;
  Write(box_ + "/a.bin", "abc");
  ASSERT_EQ(taker_->Take(o, box_ + "/a.bin", "").outcome, TakeOutcome::kTaken);
  EXPECT_TRUE(fs::exists(box_ + "/a.bin"));
  EXPECT_EQ(taker_->Take(o, box_ + "/a.bin", "").outcome, TakeOutcome::kAlreadyTaken);
  auto counts = catalog_->OutboxCounts();
  ASSERT_TRUE(counts && counts->size() == 1);
  EXPECT_EQ((*counts)[0].pending, 1u);
}

TEST_F(OutboxTakeTest, RecordedButNotRemovedIsNotTakenTwice) {
  // A crash after the record and before the original went: the original's identity is
  // recorded, so the next take only removes it.
  OutboxConfig keep = Outbox(box_);
  keep.delete_after = false;
  Write(box_ + "/a.bin", "abc");
  ASSERT_EQ(taker_->Take(keep, box_ + "/a.bin", "").outcome, TakeOutcome::kTaken);
  const OutboxConfig o = Outbox(box_);
  EXPECT_EQ(taker_->Take(o, box_ + "/a.bin", "").outcome, TakeOutcome::kAlreadyTaken);
  EXPECT_FALSE(fs::exists(box_ + "/a.bin"));
  auto counts = catalog_->OutboxCounts();
  ASSERT_TRUE(counts && counts->size() == 1);
  EXPECT_EQ((*counts)[0].pending, 1u);
}

TEST_F(OutboxTakeTest, ACopyWithoutARecordIsTakenAgainOverIt) {
  // A crash after the copy and before the record: the copy's name comes from the
  // original's identity, so the retake writes over it.
  const OutboxConfig o = Outbox(box_);
  Write(box_ + "/a.bin", "abc");
  auto id = IdentityOf(box_ + "/a.bin");
  ASSERT_TRUE(id);
  const std::string local = OutboxCopiesDir(state_) + "/" + std::to_string(id->inode) + "-" +
                            std::to_string(id->mtime_ns) + "-" + std::to_string(id->size);
  Write(local, "half");
  TakeResult r = taker_->Take(o, box_ + "/a.bin", "");
  ASSERT_EQ(r.outcome, TakeOutcome::kTaken) << r.detail;
  EXPECT_EQ(OutboxCopiesDir(state_) + "/" + r.entry.local, local);
  EXPECT_EQ(Read(local), "abc");
}

TEST_F(OutboxTakeTest, ABadReportIsMovedAsideWithItsReason) {
  const OutboxConfig o = Outbox(box_);
  Write(box_ + "/bad.json", "{\"kind\": ");
  TakeResult r = taker_->Take(o, box_ + "/bad.json", "");
  EXPECT_EQ(r.outcome, TakeOutcome::kRejected);
  EXPECT_FALSE(fs::exists(box_ + "/bad.json"));
  EXPECT_EQ(Read(box_ + "/.rejected/bad.json"), "{\"kind\": ");
  EXPECT_NE(Read(box_ + "/.rejected/bad.json.reason").find("not valid JSON"), std::string::npos);
  Write(box_ + "/bad.json", "[]");
  EXPECT_EQ(taker_->Take(o, box_ + "/bad.json", "").outcome, TakeOutcome::kRejected);
  EXPECT_EQ(Read(box_ + "/.rejected/bad.json.1"), "[]");  // the first is kept
}

TEST_F(OutboxTakeTest, OverTheQuotaItWaitsInPlace) {
  const OutboxConfig o = Outbox(box_);
  room_ = 2;
  Write(box_ + "/a.bin", "abc");
  EXPECT_EQ(taker_->Take(o, box_ + "/a.bin", "").outcome, TakeOutcome::kWaitQuota);
  EXPECT_TRUE(fs::exists(box_ + "/a.bin"));
  room_ = 3;
  EXPECT_EQ(taker_->Take(o, box_ + "/a.bin", "").outcome, TakeOutcome::kTaken);
}

TEST_F(OutboxTakeTest, SameReportTwiceWithOtherContentIsRejected) {
  const OutboxConfig o = Outbox(box_);
  const std::string head = std::string(R"({"uuid":")") + kUuid + "\"";
  Write(box_ + "/r.json", head + "}");
  ASSERT_EQ(taker_->Take(o, box_ + "/r.json", "").outcome, TakeOutcome::kTaken);
  Write(box_ + "/r2.json", head + R"(,"x":1})");
  EXPECT_EQ(taker_->Take(o, box_ + "/r2.json", "").outcome, TakeOutcome::kRejected);
  Write(box_ + "/r3.json", head + "}");  // the same bytes again: already there
  EXPECT_EQ(taker_->Take(o, box_ + "/r3.json", "").outcome, TakeOutcome::kAlreadyTaken);
  EXPECT_FALSE(fs::exists(box_ + "/r3.json"));
}

}  // namespace
}  // namespace granary
