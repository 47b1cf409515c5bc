// Multipart pieces: S3's multipart ETag, the CompleteMultipartUpload body, and the upload
// state in a SQLite index (parts replaced, finished once, stale uploads found by age).
#include "receiver/multipart.h"

#include <gtest/gtest.h>

#include "receiver/index.h"
#include "receiver/multipart_xml.h"
#include "receiver/upload_table.h"
#include "tests/support/test_util.h"

namespace granary::receiver {
namespace {

TEST(MultipartEtagTest, IsTheMd5OfThePartDigests) {
  // md5(md5("hello") || md5("world")), as computed by Python's hashlib.
  EXPECT_EQ(MultipartEtag({Md5Hex("hello"), Md5Hex("world")}),
            "065947336a2f2a95ba8899f3675c3be6-2");
  EXPECT_EQ(MultipartEtag({Md5Hex("hello")}), "62109206880d38a4010a98e11243924a-1");
}

TEST(CompleteMultipartXmlTest, ParsesPartsAsBoto3SendsThem) {
  std::vector<ListedPart> parts;
  S3Error e = ParseCompleteMultipartUpload(
      R"(<CompleteMultipartUpload xmlns="http://s3.amazonaws.com/doc/2006-03-01/">)"
      R"(<Part><ETag>"5D41402ABC4B2A76B9719D911017C592"</ETag><PartNumber>1</PartNumber></Part>)"
      R"(<Part><PartNumber>3</PartNumber><ETag>&quot;7d793037a0760186574b0282f2f435e7&quot;</ETag>)"
      R"(</Part></CompleteMultipartUpload>)",
      &parts);
  ASSERT_TRUE(e.ok()) << e.code << " " << e.message;
  ASSERT_EQ(parts.size(), 2u);
  EXPECT_EQ(parts[0].number, 1);
  EXPECT_EQ(parts[0].etag, "5d41402abc4b2a76b9719d911017c592");
  EXPECT_EQ(parts[1].number, 3);
  EXPECT_EQ(parts[1].etag, "7d793037a0760186574b0282f2f435e7");
}

TEST(CompleteMultipartXmlTest, RefusesWithS3Codes) {
  std::vector<ListedPart> parts;
  auto code = [&](const std::string& xml) {
    return ParseCompleteMultipartUpload(xml, &parts).code;
  };
  EXPECT_EQ(code(""), "MalformedXML");
  EXPECT_EQ(code("<CompleteMultipartUpload></CompleteMultipartUpload>"), "MalformedXML");
  EXPECT_EQ(code("<Other><Part><PartNumber>1</PartNumber><ETag>a</ETag></Part></Other>"),
            "MalformedXML");
  EXPECT_EQ(code("<CompleteMultipartUpload><Part><PartNumber>0</PartNumber><ETag>a</ETag></Part>"
                 "</CompleteMultipartUpload>"),
            "MalformedXML");
  EXPECT_EQ(code("<CompleteMultipartUpload><Part><PartNumber>1</PartNumber></Part>"
                 "</CompleteMultipartUpload>"),
            "MalformedXML");
  EXPECT_EQ(code("<CompleteMultipartUpload><Part><PartNumber>2</PartNumber><ETag>a</ETag></Part>"
                 "<Part><PartNumber>1</PartNumber><ETag>b</ETag></Part></CompleteMultipartUpload>"),
            "InvalidPartOrder");
  EXPECT_EQ(code("<CompleteMultipartUpload><Part><PartNumber>1</PartNumber><ETag>a</ETag></Part>"
                 "<Part><PartNumber>1</PartNumber><ETag>a</ETag></Part></CompleteMultipartUpload>"),
            "InvalidPartOrder");
}

TEST(UploadTableTest, PartsReplaceAndFinishOnce) {
  granary::testing::TempDir dir;
  ReceiverConfig config;
  config.data_dir = dir.path();
  auto index = OpenIndex(Env::Default(), config);  // creates the tables
  ASSERT_TRUE(index.ok()) << index.error().message();
  auto table = UploadTable::Open(Env::Default(), config);
  ASSERT_TRUE(table.ok()) << table.error().message();
  UploadTable& t = **table;
  UploadRow u;
  u.upload_id = "u1";
  u.bucket = "granary";
  u.key = "granary/h017/files/x";
  u.device = "h017";
  u.created_ms = 1000;
  ASSERT_TRUE(t.Create(u));
  auto first = t.PutPart("u1", PartRow{2, 10, "m2", "s2", "p2a", 1});
  ASSERT_TRUE(first.ok() && first->has_value());
  EXPECT_EQ(**first, "");
  auto again = t.PutPart("u1", PartRow{2, 11, "m2b", "s2b", "p2b", 2});
  ASSERT_TRUE(again.ok() && again->has_value());
  EXPECT_EQ(**again, "p2a");  // the replaced file, for the caller to remove
  ASSERT_TRUE(t.PutPart("u1", PartRow{1, 5, "m1", "s1", "p1", 3}).ok());
  auto parts = t.Parts("u1");
  ASSERT_TRUE(parts.ok());
  ASSERT_EQ(parts->size(), 2u);
  EXPECT_EQ((*parts)[0].number, 1);
  EXPECT_EQ((*parts)[1].path, "p2b");
  EXPECT_EQ((*parts)[1].size, 11u);

  auto stale = t.Stale(2000, 0);
  ASSERT_TRUE(stale.ok());
  ASSERT_EQ(stale->size(), 1u);
  EXPECT_TRUE(t.Stale(500, 0)->empty());

  auto done = t.Finish("u1", "complete", "etag-2", 5000);
  ASSERT_TRUE(done.ok());
  EXPECT_TRUE(*done);
  EXPECT_FALSE(*t.Finish("u1", "complete", "etag-2", 6000));  // once
  auto late = t.PutPart("u1", PartRow{3, 1, "m3", "s3", "p3", 7});
  ASSERT_TRUE(late.ok());
  EXPECT_FALSE(late->has_value());  // a finished upload takes no parts
  EXPECT_TRUE(t.Parts("u1")->empty());
  auto found = t.Find("u1");
  ASSERT_TRUE(found.ok() && found->has_value());
  EXPECT_EQ((*found)->state, "complete");
  EXPECT_EQ((*found)->result, "etag-2");
  EXPECT_TRUE(t.Stale(10000, 5000)->empty());  // finished at 5000: not before 5000
  EXPECT_EQ(t.Stale(0, 5001)->size(), 1u);
  ASSERT_TRUE(t.Remove("u1"));
  EXPECT_FALSE(t.Find("u1")->has_value());
}

}  // namespace
}  // namespace granary::receiver
