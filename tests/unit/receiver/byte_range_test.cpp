// Byte ranges as the files API and the S3 GET read them, and the ranged reader of a remote
// object: bounded windows, exact bytes across window edges, a changed ETag or a short answer
// refused; a response body streamed from it or sent from a local file's descriptor; the
// scratch copy the validator reads, removed afterwards.
#include "receiver/byte_range.h"

#include <gtest/gtest.h>
#include <unistd.h>

#include <algorithm>
#include <filesystem>
#include <fstream>

#include "receiver/s3_reader.h"
#include "tests/support/test_util.h"

namespace granary::receiver {
namespace {

TEST(ByteRangeTest, ParsesTheThreeForms) {
  bool past = true;
  auto r = ParseRange("bytes=10-19", 100, &past);
  ASSERT_TRUE(r);
  EXPECT_FALSE(past);
  EXPECT_EQ(r->first, 10u);
  EXPECT_EQ(r->last, 19u);
  r = ParseRange("bytes=90-", 100, &past);  // from a byte to the end
  ASSERT_TRUE(r);
  EXPECT_EQ(r->first, 90u);
  EXPECT_EQ(r->last, 99u);
  r = ParseRange("bytes=-5", 100, &past);  // the last five
  ASSERT_TRUE(r);
  EXPECT_EQ(r->first, 95u);
  EXPECT_EQ(r->last, 99u);
  r = ParseRange("bytes=-500", 100, &past);  // more than there is: all of it
  ASSERT_TRUE(r);
  EXPECT_EQ(r->first, 0u);
  EXPECT_EQ(r->last, 99u);
  r = ParseRange("bytes=90-500", 100, &past);  // a last byte past the end is clipped
  ASSERT_TRUE(r);
  EXPECT_EQ(r->last, 99u);
  r = ParseRange("bytes=0-0", 1, &past);
  ASSERT_TRUE(r);
  EXPECT_EQ(r->first, 0u);
  EXPECT_EQ(r->last, 0u);
}

TEST(ByteRangeTest, IgnoresWhatItCannotParse) {
  bool past = true;
  for (const char* header : {"", "bytes=", "bytes=-", "bytes=5-1", "bytes=0-1,5-6", "bytes=-0",
                             "bytes=a-b", "bytes=1", "items=0-1", "bytes=+1-2", "bytes= 1-2"}) {
    EXPECT_FALSE(ParseRange(header, 100, &past)) << header;
    EXPECT_FALSE(past) << header;
  }
}

TEST(ByteRangeTest, UnsatisfiableRanges) {
  bool past = false;
  EXPECT_FALSE(ParseRange("bytes=100-", 100, &past));
  EXPECT_TRUE(past);
  past = false;
  EXPECT_FALSE(ParseRange("bytes=100-200", 100, &past));
  EXPECT_TRUE(past);
  past = false;
  EXPECT_FALSE(ParseRange("bytes=-1", 0, &past));  // an empty body has no last byte
  EXPECT_TRUE(past);
  past = false;
  EXPECT_FALSE(ParseRange("bytes=0-", 0, &past));
  EXPECT_TRUE(past);
}

// A bucket of one object, answering ranged GETs as S3 does.
struct FakeObject {
  std::string bytes;
  std::string etag = "\"e1\"";
  uint64_t largest = 0;  // the largest range asked for
  int calls = 0;
  size_t cut = 0;  // > 0: answers carry at most this many bytes

  S3RangeReader::GetRange Getter() {
    return [this](uint64_t first, uint64_t last,
                  const std::function<bool(std::string_view)>& sink) -> Result<S3Response> {
      ++calls;
      largest = std::max(largest, last - first + 1);
      S3Response r;
      r.status = 206;
      r.headers["etag"] = etag;
      std::string_view part = std::string_view(bytes).substr(first, last - first + 1);
      if (cut > 0) part = part.substr(0, cut);
      for (size_t at = 0; at < part.size(); at += 65536) {
        if (!sink(part.substr(at, 65536))) break;
      }
      return r;
    };
  }
};

std::string Pattern(size_t n) {
  std::string s(n, '\0');
  for (size_t i = 0; i < n; ++i) s[i] = static_cast<char>((i * 131 + i / 7) & 0xff);
  return s;
}

TEST(S3RangeReaderTest, ReadsEveryByteInBoundedWindows) {
  FakeObject object;
  object.bytes = Pattern(2 * S3RangeReader::kWindow + 12345);
  auto reader =
      std::make_shared<S3RangeReader>("o", object.bytes.size(), object.etag, object.Getter());
  GzipLineReader::Source source = SequentialSource(reader);
  std::string got;
  std::string buf(100'000, '\0');  // not a divisor of the window: reads straddle its edges
  for (;;) {
    auto n = source(buf.data(), buf.size());
    ASSERT_TRUE(n.ok()) << n.error().message();
    if (*n == 0) break;
    got.append(buf.data(), *n);
  }
  EXPECT_EQ(got, object.bytes);
  EXPECT_EQ(object.calls, 3);
  EXPECT_EQ(object.largest, S3RangeReader::kWindow);
}

TEST(S3RangeReaderTest, AShortRangeFetchesOnlyThatRange) {
  FakeObject object;
  object.bytes = Pattern(3 * S3RangeReader::kWindow);
  S3RangeReader reader("o", object.bytes.size(), object.etag, object.Getter());
  std::string got;
  ASSERT_TRUE(reader
                  .ReadRange(S3RangeReader::kWindow - 10, S3RangeReader::kWindow + 9,
                             [&](std::string_view piece) {
                               got.append(piece);
                               return true;
                             })
                  .ok());
  EXPECT_EQ(got, object.bytes.substr(S3RangeReader::kWindow - 10, 20));
  EXPECT_EQ(object.calls, 1);
  EXPECT_EQ(object.largest, 20u);
}

TEST(S3RangeReaderTest, RefusesChangedOrShortBytes) {
  FakeObject object;
  object.bytes = Pattern(2 * S3RangeReader::kWindow);
  S3RangeReader reader("o", object.bytes.size(), object.etag, object.Getter());
  char buf[16];
  ASSERT_TRUE(reader.ReadAt(0, buf, sizeof buf).ok());
  object.etag = "\"e2\"";  // replaced between two windows
  auto changed = reader.ReadAt(S3RangeReader::kWindow, buf, sizeof buf);
  ASSERT_FALSE(changed.ok());
  EXPECT_NE(changed.error().message().find("changed while being read"), std::string::npos);

  object.etag = "\"e1\"";
  object.cut = 1000;  // the connection ended early
  S3RangeReader short_reader("o", object.bytes.size(), object.etag, object.Getter());
  auto cut = short_reader.ReadAt(0, buf, sizeof buf);
  ASSERT_FALSE(cut.ok());
  EXPECT_NE(cut.error().message().find("1000 bytes came"), std::string::npos);
  auto end = short_reader.ReadAt(object.bytes.size(), buf, sizeof buf);
  ASSERT_TRUE(end.ok());
  EXPECT_EQ(*end, 0u);  // past the end: nothing, and no request
}

TEST(SetObjectBodyTest, StreamsARemoteRangeInWindows) {
  FakeObject object;
  object.bytes = Pattern(S3RangeReader::kWindow + S3RangeReader::kWindow / 2);
  HttpResponse r;
  const ByteRange range{100, object.bytes.size() - 100};
  SetObjectBody(
      std::make_unique<S3RangeReader>("o", object.bytes.size(), object.etag, object.Getter()),
      range, &r);
  ASSERT_TRUE(r.stream);
  ASSERT_TRUE(r.stream_length);
  EXPECT_EQ(*r.stream_length, range.last - range.first + 1);
  std::string got;
  char buf[65536];
  for (long n; (n = r.stream(buf, sizeof buf)) > 0;) got.append(buf, static_cast<size_t>(n));
  EXPECT_EQ(got, object.bytes.substr(range.first, range.last - range.first + 1));
  EXPECT_EQ(object.calls, 2);
  EXPECT_LE(object.largest, S3RangeReader::kWindow);
  object.etag = "\"e2\"";  // a new read of a replaced object stops, cut short
  HttpResponse again;
  SetObjectBody(
      std::make_unique<S3RangeReader>("o", object.bytes.size(), "\"e1\"", object.Getter()),
      std::nullopt, &again);
  EXPECT_EQ(again.stream(buf, sizeof buf), -1);
}

TEST(SetObjectBodyTest, SendsALocalFileByDescriptor) {
  granary::testing::TempDir dir;
  const std::string path = dir.path() + "/object";
  std::ofstream(path, std::ios::binary) << Pattern(1000);
  auto reader = OpenFileReader(path);
  ASSERT_TRUE(reader.ok()) << reader.error().message();
  HttpResponse r;
  SetObjectBody(std::move(*reader), ByteRange{10, 19}, &r);
  ASSERT_GE(r.fd, 0);
  EXPECT_EQ(r.fd_offset, 10u);
  EXPECT_EQ(r.fd_size, 10u);
  ::close(r.fd);
}

TEST(LocalCopyTest, ARemoteObjectIsCopiedToScratchAndRemoved) {
  granary::testing::TempDir dir;
  std::filesystem::create_directories(dir.path() + "/quarantine");
  FakeObject object;
  object.bytes = Pattern(S3RangeReader::kWindow + 5);
  std::string path;
  {
    auto copy = LocalCopy::Make(
        Env::Default(), dir.path(),
        std::make_unique<S3RangeReader>("o", object.bytes.size(), object.etag, object.Getter()));
    ASSERT_TRUE(copy.ok()) << copy.error().message();
    path = (*copy)->path();
    EXPECT_TRUE(path.ends_with(".scratch"));
    std::ifstream in(path, std::ios::binary);
    std::string got((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
    EXPECT_EQ(got, object.bytes);
  }
  EXPECT_FALSE(std::filesystem::exists(path));
  object.cut = 10;  // a failed copy leaves nothing either
  auto failed = LocalCopy::Make(
      Env::Default(), dir.path(),
      std::make_unique<S3RangeReader>("o", object.bytes.size(), object.etag, object.Getter()));
  EXPECT_FALSE(failed.ok());
  EXPECT_TRUE(std::filesystem::is_empty(dir.path() + "/quarantine"));
}

TEST(ByteRangeTest, ContentRangeNamesThePartOrOnlyTheSize) {
  EXPECT_EQ(ContentRange(ByteRange{10, 19}, 100), "bytes 10-19/100");
  EXPECT_EQ(ContentRange(ByteRange{0, 0}, 1), "bytes 0-0/1");
  EXPECT_EQ(ContentRange(std::nullopt, 100), "bytes */100");
}

}  // namespace
}  // namespace granary::receiver
