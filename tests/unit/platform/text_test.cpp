// The platform's text helpers: digests and encodings, UTC formats, strings, the XML tree
// and the gzip line reader.
#include <gtest/gtest.h>
#include <zlib.h>

#include "platform/crypto.h"
#include "platform/gzip_lines.h"
#include "platform/strings.h"
#include "platform/time.h"
#include "platform/xml_tree.h"
#include "tests/support/test_util.h"

namespace granary {
namespace {

TEST(Crypto, KnownDigestsAndEncodings) {
  EXPECT_EQ(Md5Hex(""), "d41d8cd98f00b204e9800998ecf8427e");
  EXPECT_EQ(Sha256Hex("abc"), "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
  // RFC 4231 test case 2.
  EXPECT_EQ(HexEncode(HmacSha256("Jefe", "what do ya want for nothing?")),
            "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843");
  EXPECT_EQ(HexEncode(std::string("\x00\xff\x10", 3)), "00ff10");
  EXPECT_EQ(*HexDecode("00FF10"), std::string("\x00\xff\x10", 3));
  EXPECT_FALSE(HexDecode("abc").ok());
  EXPECT_FALSE(HexDecode("zz").ok());
  EXPECT_EQ(Base64Encode(*HexDecode(Md5Hex(""))), "1B2M2Y8AsgTpgAmY7PhCfg==");
}

TEST(Crypto, StreamHasherMatchesOneShotDigests) {
  StreamHasher h;
  h.Update("hello ");
  h.Update("world");
  StreamDigests d = h.Finish();
  EXPECT_EQ(d.bytes, 11u);
  EXPECT_EQ(d.md5_hex, Md5Hex("hello world"));
  EXPECT_EQ(d.sha256_hex, Sha256Hex("hello world"));
  StreamHasher sha_only(/*with_md5=*/false);
  sha_only.Update("x");
  EXPECT_EQ(sha_only.Finish().md5_hex, "");
}

TEST(Time, FormatsAndParsesUtc) {
  const int64_t ms = 1440938160123;  // 2015-08-30T12:36:00.123Z, a Sunday
  EXPECT_EQ(FormatIso8601(ms), "2015-08-30T12:36:00Z");
  EXPECT_EQ(FormatIso8601Millis(ms), "2015-08-30T12:36:00.123Z");
  EXPECT_EQ(FormatAmzDate(ms), "20150830T123600Z");
  EXPECT_EQ(FormatAmzDay(ms), "20150830");
  EXPECT_EQ(FormatHttpDate(ms), "Sun, 30 Aug 2015 12:36:00 GMT");
  EXPECT_EQ(ParseHttpDate("Sun, 30 Aug 2015 12:36:00 GMT"), ms - 123);
  EXPECT_EQ(ParseHttpDate("yesterday"), 0);
  EXPECT_EQ(ParseAmzDate("20150830T123600Z"), ms - 123);
  EXPECT_EQ(ParseAmzDate("20151330T123600Z"), -1);
  EXPECT_EQ(UtcCalendar(ms).tm_hour, 12);
}

TEST(Strings, TrimCaseAndDecimal) {
  EXPECT_EQ(TrimSpace(" \t a b \r\n"), "a b");
  EXPECT_EQ(TrimSpace("   "), "");
  EXPECT_TRUE(EqualsIgnoreCase("Content-MD5", "content-md5"));
  EXPECT_FALSE(EqualsIgnoreCase("a", "ab"));
  EXPECT_EQ(AsciiLower("X-Amz-Date"), "x-amz-date");
  EXPECT_EQ(ParseDecimal<int>("42"), 42);
  EXPECT_EQ(ParseDecimal<int>("-7"), -7);
  EXPECT_FALSE(ParseDecimal<int>(""));
  EXPECT_FALSE(ParseDecimal<int>("12x"));
  EXPECT_FALSE(ParseDecimal<int>(" 1"));
  EXPECT_FALSE(ParseDecimal<uint8_t>("300"));
  EXPECT_EQ(HexDigitValue('F'), 15);
  EXPECT_EQ(HexDigitValue('g'), -1);
}

TEST(XmlTree, ChildrenByNameIgnoringCase) {
  auto root = ParseXml("<Error><Code> SlowDown </Code><message>m</message></Error>");
  ASSERT_TRUE(root.ok()) << root.error().message();
  EXPECT_EQ(root->name, "Error");
  EXPECT_EQ(root->ChildText("code"), "SlowDown");
  EXPECT_EQ(root->ChildText("Message"), "m");
  EXPECT_EQ(root->Child("Missing"), nullptr);
  EXPECT_FALSE(ParseXml("<a><b></a>").ok());
}

TEST(GzipLineReader, ReadsLinesAndRejectsTruncation) {
  testing::TempDir dir;
  const std::string path = dir.path() + "/t.gz";
  gzFile f = gzopen(path.c_str(), "wb");
  ASSERT_NE(f, nullptr);
  gzputs(f, "one\ntwo\nthree");
  gzclose(f);
  EXPECT_EQ(testing::ReadGzipLines(path), (std::vector<std::string>{"one", "two", "three"}));
  GzipLineReader reader(1024, 1024);
  ASSERT_TRUE(reader.Open(path).ok());
  std::string_view line;
  while (reader.Next(&line)) {
  }
  EXPECT_TRUE(reader.status().ok());
  EXPECT_TRUE(reader.last_line_unterminated());
  EXPECT_EQ(reader.raw_bytes(), 13u);

  std::filesystem::resize_file(path, std::filesystem::file_size(path) - 4);
  bool ok = true;
  (void)testing::ReadGzipLines(path, &ok);
  EXPECT_FALSE(ok);
}

}  // namespace
}  // namespace granary
