#include "archive/segment_reader.h"

#include <gtest/gtest.h>
#include <unistd.h>
#include <zlib.h>

#include <cstdio>
#include <filesystem>
#include <vector>

#include "archive/message.h"

namespace granary::archive {
namespace {

std::string Doc(int64_t seq, size_t payload_bytes) {
  ArchivedMessage m;
  m.id = NewUuidV4();
  m.seq = seq;
  m.device = "d";
  m.source = "s";
  m.topic = "t";
  m.payload.assign(payload_bytes, '\0');
  return EncodeBson(m);
}

class SegmentReaderTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = std::filesystem::temp_directory_path() /
           ("granary-segment-reader-" + std::to_string(getpid()));
    std::filesystem::create_directories(dir_);
  }
  void TearDown() override { std::filesystem::remove_all(dir_); }

  std::string Gzip(const std::string& name, const std::string& data, const std::string& tail = "") {
    std::string path = (dir_ / name).string();
    gzFile gz = gzopen(path.c_str(), "wb");
    gzwrite(gz, data.data(), static_cast<unsigned>(data.size()));
    gzclose(gz);
    if (!tail.empty()) {
      std::FILE* f = std::fopen(path.c_str(), "ab");
      std::fwrite(tail.data(), 1, tail.size(), f);
      std::fclose(f);
    }
    return path;
  }

  std::filesystem::path dir_;
};

TEST_F(SegmentReaderTest, GzipDocumentsWithOffsets) {
  std::vector<std::string> docs;
  std::string all;
  for (int i = 0; i < 50; ++i) {
    docs.push_back(Doc(i + 1, static_cast<size_t>(i) * 9000));  // crosses the reader's chunks
    all += docs.back();
  }
  SegmentReader reader(1 << 20, 1 << 30);
  ASSERT_TRUE(reader.OpenGzip(Gzip("ok.bson.gz", all)));
  SegmentDocument d;
  uint64_t expect = 0;
  size_t n = 0;
  while (reader.Next(&d)) {
    ASSERT_LT(n, docs.size());
    EXPECT_EQ(d.offset, expect);
    EXPECT_EQ(d.bytes, docs[n]);
    expect += docs[n].size();
    ++n;
  }
  EXPECT_TRUE(reader.status().ok()) << reader.status().error().message();
  EXPECT_EQ(n, docs.size());
  EXPECT_EQ(reader.offset(), all.size());
}

TEST_F(SegmentReaderTest, MemoryAndEmpty) {
  std::string all = Doc(1, 3) + Doc(2, 0);
  SegmentReader reader(1 << 20, 1 << 30);
  reader.OpenMemory(all);
  SegmentDocument d;
  ASSERT_TRUE(reader.Next(&d));
  EXPECT_EQ(d.offset, 0u);
  ASSERT_TRUE(reader.Next(&d));
  EXPECT_EQ(d.offset, Doc(1, 3).size());
  EXPECT_FALSE(reader.Next(&d));
  EXPECT_TRUE(reader.status().ok());

  SegmentReader empty(1 << 20, 1 << 30);
  empty.OpenMemory("");
  EXPECT_FALSE(empty.Next(&d));
  EXPECT_TRUE(empty.status().ok());
}

TEST_F(SegmentReaderTest, FramingErrors) {
  std::string one = Doc(1, 10);
  struct Case {
    std::string data;
    const char* error;
  };
  const Case cases[] = {
      {one.substr(0, 3), "truncated document at byte 0: 3 bytes left"},
      {one + one.substr(0, one.size() - 1), "truncated document at byte"},
      {std::string("\x04\0\0\0", 4), "declares 4 bytes"},
      {Doc(1, 3000), "declares"},  // over the 2000-byte limit below
  };
  for (const Case& c : cases) {
    SegmentReader reader(2000, 1 << 30);
    reader.OpenMemory(c.data);
    SegmentDocument d;
    while (reader.Next(&d)) {
    }
    ASSERT_FALSE(reader.status().ok()) << c.error;
    EXPECT_NE(reader.status().error().message().find(c.error), std::string::npos)
        << reader.status().error().message();
  }
}

TEST_F(SegmentReaderTest, GzipDamageIsAnError) {
  std::string all = Doc(1, 100) + Doc(2, 100);
  std::string good = Gzip("good.bson.gz", all);
  std::string bytes;
  {
    std::FILE* f = std::fopen(good.c_str(), "rb");
    char buf[4096];
    size_t n;
    while ((n = std::fread(buf, 1, sizeof buf, f)) > 0) bytes.append(buf, n);
    std::fclose(f);
  }
  std::string cut = (dir_ / "cut.bson.gz").string();
  {
    std::FILE* f = std::fopen(cut.c_str(), "wb");
    std::fwrite(bytes.data(), 1, bytes.size() - 10, f);
    std::fclose(f);
  }
  for (const std::string& path : {cut, Gzip("tail.bson.gz", all, "garbage after the stream")}) {
    SegmentReader reader(1 << 20, 1 << 30);
    ASSERT_TRUE(reader.OpenGzip(path));
    SegmentDocument d;
    while (reader.Next(&d)) {
    }
    EXPECT_FALSE(reader.status().ok()) << path;
  }
  SegmentReader bomb(1 << 20, 150);  // the stream is larger than 150 bytes
  ASSERT_TRUE(bomb.OpenGzip(good));
  SegmentDocument d;
  while (bomb.Next(&d)) {
  }
  ASSERT_FALSE(bomb.status().ok());
  EXPECT_NE(bomb.status().error().message().find("exceeds 150"), std::string::npos);
}

}  // namespace
}  // namespace granary::archive
