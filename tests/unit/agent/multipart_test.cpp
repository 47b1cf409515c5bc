// The resumable multipart upload's decisions without a server: parts of a file, when a
// persisted upload may resume, reconciling persisted parts with ListParts, S3's multipart
// ETag; and its state kept in a real buffer's catalog across reopening.
#include <gtest/gtest.h>

#include "agent/upload/multipart_plan.h"
#include "platform/crypto.h"
#include "storage/buffer.h"
#include "storage/catalog.h"
#include "tests/support/test_util.h"

namespace granary {
namespace {

using std::chrono::milliseconds;
constexpr uint64_t kMiB = 1 << 20;

TEST(MultipartPlan, PartsTileTheFile) {
  const uint64_t part = 5 * kMiB;
  for (uint64_t size : {5 * kMiB + 1, 10 * kMiB, 10 * kMiB + 7, 300 * kMiB}) {
    uint32_t n = PartCount(size, part);
    uint64_t next = 0;
    for (uint32_t i = 1; i <= n; ++i) {
      EXPECT_EQ(PartOffset(i, part), next) << size << " part " << i;
      uint64_t len = PartLength(i, size, part);
      EXPECT_GT(len, 0u);
      EXPECT_LE(len, part);
      next += len;
    }
    EXPECT_EQ(next, size);
    EXPECT_EQ(PartLength(n + 1, size, part), 0u);
  }
  EXPECT_EQ(PartCount(10 * kMiB, part), 2u);
  EXPECT_EQ(PartCount(10 * kMiB + 1, part), 3u);
  EXPECT_EQ(PartLength(3, 10 * kMiB + 1, part), 1u);
}

MultipartRecord Persisted() {
  MultipartRecord r;
  r.key = "fleet/d/files/u/big.bin";
  r.upload_id = "up1";
  r.path = "/outbox/big.bin";
  r.size = 12 * kMiB;
  r.mtime_ns = 1'700'000'000'123'456'789;
  r.inode = 42;
  r.sha256_hex = std::string(64, 'a');
  r.part_size = 5 * kMiB;
  r.created_at = 1'000'000;
  return r;
}

TEST(MultipartPlan, ResumesOnlyTheSameUnchangedFileWithinItsAge) {
  MultipartRecord r = Persisted();
  FileStamp same{r.size, r.mtime_ns, r.inode};
  const milliseconds day(86'400'000);
  EXPECT_EQ(WhyStartOver(r, r.path, same, r.sha256_hex, r.part_size, r.created_at + 1000, day), "");
  EXPECT_EQ(WhyStartOver(r, r.path, same, "", r.part_size, r.created_at + 1000, day), "")
      << "an unknown hash is not a change";
  auto why = [&](const std::string& path, FileStamp id, const std::string& sha, uint64_t part,
                 int64_t now) { return WhyStartOver(r, path, id, sha, part, now, day); };
  EXPECT_NE(why("/outbox/other.bin", same, "", r.part_size, r.created_at).find("other.bin"),
            std::string::npos);
  EXPECT_NE(why(r.path, {r.size + 1, r.mtime_ns, r.inode}, "", r.part_size, r.created_at)
                .find("size changed"),
            std::string::npos);
  EXPECT_NE(why(r.path, {r.size, r.mtime_ns + 1, r.inode}, "", r.part_size, r.created_at)
                .find("modification time"),
            std::string::npos);
  EXPECT_NE(
      why(r.path, {r.size, r.mtime_ns, r.inode + 1}, "", r.part_size, r.created_at).find("inode"),
      std::string::npos);
  EXPECT_NE(why(r.path, same, std::string(64, 'b'), r.part_size, r.created_at).find("SHA-256"),
            std::string::npos);
  EXPECT_NE(why(r.path, same, "", 8 * kMiB, r.created_at).find("part size"), std::string::npos);
  EXPECT_EQ(why(r.path, same, "", r.part_size, r.created_at + day.count()), "");
  EXPECT_NE(
      why(r.path, same, "", r.part_size, r.created_at + day.count() + 1).find("multipart_max_age"),
      std::string::npos);
}

TEST(MultipartPlan, ReconcileKeepsOnlyWhatTheServerConfirms) {
  const uint64_t part = 5 * kMiB, size = 22 * kMiB;  // parts 1-4 of 5 MiB, 5 of 2 MiB
  std::vector<MultipartPartRecord> persisted = {
      {1, "e1", "e1"}, {2, "e2", "e2"}, {3, "e3", "e3"}, {5, "e5", "e5"}};
  std::vector<S3Part> server = {
      {1, "e1", part},     // confirmed
      {2, "other", part},  // the server holds other bytes for 2: sent again (or adopted)
      {4, "e4", part},     // stored, but its answer was lost before it was recorded
      {5, "e5", part},     // the wrong size for the last part: not ours
      {6, "e6", 1},        // beyond the file: ignored
  };
  ReconciledParts r = ReconcileParts(persisted, server, size, part);
  ASSERT_EQ(r.kept.size(), 1u);
  EXPECT_EQ(r.kept[0].number, 1u);
  EXPECT_EQ(r.dropped, (std::vector<uint32_t>{2, 3, 5}));
  ASSERT_EQ(r.unclaimed.size(), 2u);
  EXPECT_EQ(r.unclaimed.at(2).etag, "other");
  EXPECT_EQ(r.unclaimed.at(4).etag, "e4");
  // Everything confirmed: nothing to send again, in number order whatever the list order.
  std::vector<S3Part> all = {
      {2, "e2", part}, {1, "e1", part}, {3, "e3", part}, {5, "e5", 2 * kMiB}};
  ReconciledParts full = ReconcileParts(persisted, all, size, part);
  ASSERT_EQ(full.kept.size(), 4u);
  EXPECT_EQ(full.kept[1].number, 2u);
  EXPECT_TRUE(full.dropped.empty());
  EXPECT_TRUE(full.unclaimed.empty());
  // The server lost everything (an upload it expired, then recreated by nobody).
  ReconciledParts none = ReconcileParts(persisted, {}, size, part);
  EXPECT_TRUE(none.kept.empty());
  EXPECT_EQ(none.dropped.size(), 4u);
}

TEST(MultipartPlan, EtagIsTheMd5OfThePartDigests) {
  // S3's rule, checked against an independent computation of the same bytes.
  std::string a(5 * kMiB, 'a'), b(3, 'b');
  std::vector<MultipartPartRecord> parts = {{1, Md5Hex(a), Md5Hex(a)}, {2, Md5Hex(b), Md5Hex(b)}};
  std::string raw = *HexDecode(Md5Hex(a)) + *HexDecode(Md5Hex(b));
  EXPECT_EQ(MultipartEtag(parts), Md5Hex(raw) + "-2");
  EXPECT_NE(MultipartEtag(parts), Md5Hex(a + b));
}

TEST(MultipartCatalog, StateSurvivesReopeningAndEndsCleanly) {
  testing::TempDir dir;
  BufferOptions o;
  o.state_dir = dir.path();
  o.device = "d";
  Env& env = Env::Default();
  auto buffer = Buffer::Open(env, o);
  ASSERT_TRUE(buffer.ok()) << buffer.error().message();
  MultipartRecord r = Persisted();
  {
    auto c = SegmentCatalog::OpenForUploads(env, dir.path());
    ASSERT_TRUE(c.ok()) << c.error().message();
    ASSERT_TRUE((*c)->BeginMultipart(r).ok());
    ASSERT_TRUE((*c)->RecordPart(r.key, {2, "e2", "m2"}).ok());
    ASSERT_TRUE((*c)->RecordPart(r.key, {1, "e1", "m1"}).ok());
    ASSERT_TRUE((*c)->RecordPart(r.key, {2, "e2b", "m2b"}).ok()) << "a part sent again replaces";
  }
  (*buffer)->Stop(false);
  buffer->reset();
  buffer = Buffer::Open(env, o);  // a restart: the writer migrates nothing, keeps the rows
  ASSERT_TRUE(buffer.ok());
  auto c = SegmentCatalog::OpenForUploads(env, dir.path());
  ASSERT_TRUE(c.ok());
  auto found = (*c)->FindMultipart(r.key);
  ASSERT_TRUE(found.ok() && found->has_value());
  const MultipartRecord& got = **found;
  EXPECT_EQ(got.upload_id, "up1");
  EXPECT_EQ(got.path, r.path);
  EXPECT_EQ(got.size, r.size);
  EXPECT_EQ(got.mtime_ns, r.mtime_ns);
  EXPECT_EQ(got.inode, r.inode);
  EXPECT_EQ(got.sha256_hex, r.sha256_hex);
  EXPECT_EQ(got.part_size, r.part_size);
  EXPECT_EQ(got.created_at, r.created_at);
  EXPECT_EQ(got.parts, (std::vector<MultipartPartRecord>{{1, "e1", "m1"}, {2, "e2b", "m2b"}}));

  ASSERT_TRUE((*c)->ReplaceParts(r.key, {{1, "e1", "m1"}}).ok());
  EXPECT_EQ((**(*c)->FindMultipart(r.key)).parts.size(), 1u);
  // A new upload of the key starts with no parts.
  MultipartRecord again = r;
  again.upload_id = "up2";
  ASSERT_TRUE((*c)->BeginMultipart(again).ok());
  EXPECT_EQ((**(*c)->FindMultipart(r.key)).upload_id, "up2");
  EXPECT_TRUE((**(*c)->FindMultipart(r.key)).parts.empty());
  ASSERT_TRUE((*c)->RecordPart(r.key, {1, "x", "x"}).ok());
  ASSERT_TRUE((*c)->EndMultipart(r.key).ok());
  EXPECT_FALSE((*c)->FindMultipart(r.key)->has_value());
  // A read-only catalog (granary status) sees the same tables.
  ASSERT_TRUE((*c)->BeginMultipart(r).ok());
  auto ro = SegmentCatalog::OpenReadOnly(env, dir.path());
  ASSERT_TRUE(ro.ok());
  EXPECT_TRUE((*ro)->FindMultipart(r.key)->has_value());
  (*buffer)->Stop(false);
}

}  // namespace
}  // namespace granary
