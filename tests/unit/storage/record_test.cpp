// Binary records (the mqtt source's BSON documents): the writer fills each one's seq slot
// at commit, seals them into a .bson.gz file of the source's format, and a subscriber's
// WaitCaptured does not wait for a batch to fill.
#include <zlib.h>

#include <chrono>

#include "tests/unit/storage/buffer_fixture.h"

namespace granary {
namespace {

using namespace buffer_fixture;  // NOLINT(google-build-using-namespace)

std::string Gunzip(const std::string& path) {
  gzFile f = gzopen(path.c_str(), "rb");
  std::string out;
  if (f == nullptr) return out;
  char buf[4096];
  int n;
  while ((n = gzread(f, buf, sizeof buf)) > 0) out.append(buf, static_cast<size_t>(n));
  gzclose(f);
  return out;
}

// "REC" + 8-byte seq slot + a body with NUL and invalid UTF-8.
Reading Record(int i, int64_t ts) {
  Reading r;
  r.source = "bus";
  r.ts_ms = ts;
  r.record =
      std::string("REC") + std::string(8, '\0') + std::string("\0\xff", 2) + std::to_string(i);
  r.seq_offset = 3;
  return r;
}

uint64_t SlotValue(const std::string& bytes, size_t at) {
  uint64_t v = 0;
  for (size_t i = 0; i < 8; ++i)
    v |= uint64_t{static_cast<unsigned char>(bytes[at + i])} << (8 * i);
  return v;
}

class RecordTest : public BufferTest {};

TEST_F(RecordTest, SeqSlotsFilledAndSealedAsBsonGz) {
  BufferOptions o = Options();
  o.segment_formats["bus"] = "bson.gz";
  auto buffer = OpenBuffer(o);
  ASSERT_TRUE(buffer);
  const int64_t ts = 1'780'000'000'000;
  std::vector<Reading> batch;
  for (int i = 0; i < 5; ++i) batch.push_back(Record(i, ts + i));
  ASSERT_EQ(buffer->Submit(batch, milliseconds{100}), 5u);
  // A reading source beside it keeps its JSON Lines.
  ASSERT_EQ(buffer->Submit(Make("meter", 2, ts, 1), milliseconds{100}), 2u);
  ASSERT_TRUE(buffer->WaitCaptured(milliseconds{5000}));
  ASSERT_TRUE(buffer->Flush());
  std::vector<std::string> files = SegmentFiles();
  ASSERT_EQ(files.size(), 2u);
  EXPECT_TRUE(files[0].ends_with("-bus-20260528T20-1.bson.gz")) << files[0];
  EXPECT_TRUE(files[1].ends_with(".jsonl.gz")) << files[1];
  const std::string raw = Gunzip(SegmentsDir(dir_.path()) + "/" + files[0]);
  size_t at = 0;
  for (int i = 0; i < 5; ++i) {
    const std::string body = std::string("\0\xff", 2) + std::to_string(i);
    ASSERT_EQ(raw.substr(at, 3), "REC");
    EXPECT_EQ(SlotValue(raw, at + 3), static_cast<uint64_t>(i + 1));
    EXPECT_EQ(raw.substr(at + 11, body.size()), body);
    at += 11 + body.size();
  }
  EXPECT_EQ(at, raw.size());
  buffer->Stop(false);
}

TEST_F(RecordTest, WaitCapturedDoesNotWaitForTheBatch) {
  BufferOptions o = Options();
  o.segment_formats["bus"] = "bson.gz";
  o.batch_wait = milliseconds{5000};
  auto buffer = OpenBuffer(o);
  ASSERT_TRUE(buffer);
  ASSERT_EQ(buffer->Submit({Record(1, 1'780'000'000'000)}, milliseconds{100}), 1u);
  auto t0 = std::chrono::steady_clock::now();
  ASSERT_TRUE(buffer->WaitCaptured(milliseconds{4000}));
  EXPECT_LT(std::chrono::steady_clock::now() - t0, milliseconds{4000});
  buffer->Stop(false);
}

TEST_F(RecordTest, WaitCapturedWithNothingQueuedReturnsAtOnce) {
  auto buffer = OpenBuffer(Options());
  ASSERT_TRUE(buffer);
  EXPECT_TRUE(buffer->WaitCaptured(milliseconds{0}));
  buffer->Stop(false);
}

}  // namespace
}  // namespace granary
