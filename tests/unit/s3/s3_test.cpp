// The s3/ pieces that need no server: credentials, S3 error documents and list pages.
#include <gtest/gtest.h>
#include <sys/stat.h>

#include <cstdlib>
#include <fstream>

#include "platform/xml_tree.h"
#include "s3/credentials.h"
#include "s3/s3_xml.h"
#include "tests/support/test_util.h"

namespace granary {
namespace {

TEST(Credentials, FileMustBePrivateAndProfilesWork) {
  testing::TempDir dir;
  std::string path = dir.path() + "/credentials";
  std::ofstream(path) << "[default]\naws_access_key_id = AKIDDEFAULT\naws_secret_access_key = s1\n"
                         "[profile edge]\naws_access_key_id=AKIDEDGE\naws_secret_access_key=s2\n"
                         "aws_session_token=tok\n";
  chmod(path.c_str(), 0644);
  auto open = LoadCredentials(path, "");
  ASSERT_FALSE(open.ok());
  EXPECT_NE(open.error().message().find("0644"), std::string::npos) << open.error().message();
  EXPECT_NE(open.error().message().find("0600"), std::string::npos);
  chmod(path.c_str(), 0600);
  auto def = LoadCredentials(path, "");
  ASSERT_TRUE(def.ok()) << def.error().message();
  EXPECT_EQ(def->access_key, "AKIDDEFAULT");
  auto edge = LoadCredentials(path, "edge");
  ASSERT_TRUE(edge.ok());
  EXPECT_EQ(edge->session_token, "tok");
  EXPECT_EQ(edge->Redacted().find("s2"), std::string::npos);
  chmod(path.c_str(), 0400);
  EXPECT_TRUE(LoadCredentials(path, "edge").ok());
  EXPECT_FALSE(LoadCredentials(path, "missing").ok());
  EXPECT_FALSE(LoadCredentials(dir.path() + "/nope", "").ok());
}

TEST(Credentials, Environment) {
  setenv("AWS_ACCESS_KEY_ID", "AKIDENV", 1);
  setenv("AWS_SECRET_ACCESS_KEY", "secret", 1);
  setenv("AWS_SESSION_TOKEN", "token", 1);
  auto c = LoadCredentials("", "");
  ASSERT_TRUE(c.ok());
  EXPECT_EQ(c->session_token, "token");
  unsetenv("AWS_SECRET_ACCESS_KEY");
  EXPECT_FALSE(LoadCredentials("", "").ok());
  unsetenv("AWS_ACCESS_KEY_ID");
  unsetenv("AWS_SESSION_TOKEN");
}

TEST(S3Xml, ErrorDocuments) {
  auto e = ParseS3Error(
      "<?xml version=\"1.0\"?><Error><Code>SlowDown</Code><Message>Reduce</Message></Error>");
  ASSERT_TRUE(e.ok());
  EXPECT_EQ(e->code, "SlowDown");
  EXPECT_EQ(e->message, "Reduce");
  EXPECT_FALSE(ParseS3Error("<html>nope</html>").ok());
  EXPECT_FALSE(ParseS3Error("<Error><Code>x</Cod").ok());
}

TEST(S3Xml, ListObjectsV2Pages) {
  auto page = ParseListObjectsV2(
      "<?xml version=\"1.0\"?><ListBucketResult><Name>b</Name><IsTruncated>true</IsTruncated>"
      "<NextContinuationToken>6b</NextContinuationToken>"
      "<Contents><Key>p/a &amp; b.bson.gz</Key><Size>12</Size><ETag>&quot;00ff&quot;</ETag>"
      "</Contents><Contents><Key>p/c</Key><Size>0</Size></Contents></ListBucketResult>");
  ASSERT_TRUE(page.ok()) << page.error().message();
  ASSERT_EQ(page->objects.size(), 2U);
  EXPECT_EQ(page->objects[0].key, "p/a & b.bson.gz");
  EXPECT_EQ(page->objects[0].size, 12U);
  EXPECT_EQ(page->objects[0].etag, "00ff");
  EXPECT_TRUE(page->truncated);
  EXPECT_EQ(page->next_token, "6b");
  EXPECT_FALSE(ParseListObjectsV2("<ListBucketResult><IsTruncated>true</IsTruncated>"
                                  "</ListBucketResult>")
                   .ok());  // truncated, and no way on
  EXPECT_FALSE(ParseListObjectsV2("<ListBucketResult><Contents><Key>k</Key><Size>-1</Size>"
                                  "</Contents></ListBucketResult>")
                   .ok());
  EXPECT_FALSE(ParseListObjectsV2("<Error><Code>AccessDenied</Code></Error>").ok());
}

// The documents below are as AWS's API reference shows them (namespaces included).
TEST(S3Xml, InitiateMultipartUpload) {
  auto id = ParseInitiateMultipartUpload(
      "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<InitiateMultipartUploadResult"
      " xmlns=\"http://s3.amazonaws.com/doc/2006-03-01/\"><Bucket>example-bucket</Bucket>"
      "<Key>example-object</Key><UploadId>VXBsb2FkIElEIGZvciA2aWWpbmcncyBteS1tb3ZpZS5tMnRzIHVwbG9h"
      "ZA</UploadId></InitiateMultipartUploadResult>");
  ASSERT_TRUE(id.ok()) << id.error().message();
  EXPECT_EQ(*id, "VXBsb2FkIElEIGZvciA2aWWpbmcncyBteS1tb3ZpZS5tMnRzIHVwbG9hZA");
  EXPECT_FALSE(ParseInitiateMultipartUpload("<InitiateMultipartUploadResult>"
                                            "<Key>k</Key></InitiateMultipartUploadResult>")
                   .ok());
  EXPECT_FALSE(ParseInitiateMultipartUpload("<Error><Code>AccessDenied</Code></Error>").ok());
  EXPECT_FALSE(ParseInitiateMultipartUpload("<InitiateMultipartUploadResult>").ok());
}

TEST(S3Xml, ListPartsPages) {
  auto page = ParseListParts(
      "<ListPartsResult xmlns=\"http://s3.amazonaws.com/doc/2006-03-01/\"><Bucket>b</Bucket>"
      "<Key>k</Key><UploadId>u</UploadId><PartNumberMarker>1</PartNumberMarker>"
      "<NextPartNumberMarker>3</NextPartNumberMarker><MaxParts>2</MaxParts>"
      "<IsTruncated>true</IsTruncated>"
      "<Part><PartNumber>2</PartNumber><LastModified>2010-11-10T20:48:34.000Z</LastModified>"
      "<ETag>\"7778aef83f66abc1fa1e8477f296d394\"</ETag><Size>10485760</Size></Part>"
      "<Part><PartNumber>3</PartNumber><ETag>&quot;aaaabbbbccccddddeeeeffff00001111&quot;</ETag>"
      "<Size>10</Size></Part></ListPartsResult>");
  ASSERT_TRUE(page.ok()) << page.error().message();
  EXPECT_TRUE(page->truncated);
  EXPECT_EQ(page->next_marker, 3u);
  ASSERT_EQ(page->parts.size(), 2u);
  EXPECT_EQ(page->parts[0].number, 2u);
  EXPECT_EQ(page->parts[0].etag, "7778aef83f66abc1fa1e8477f296d394");
  EXPECT_EQ(page->parts[0].size, 10485760u);
  EXPECT_EQ(page->parts[1].etag, "aaaabbbbccccddddeeeeffff00001111");

  auto last = ParseListParts("<ListPartsResult><IsTruncated>false</IsTruncated></ListPartsResult>");
  ASSERT_TRUE(last.ok());
  EXPECT_FALSE(last->truncated);
  EXPECT_TRUE(last->parts.empty());
  // A truncated page that does not say where the next starts would loop or stop early.
  EXPECT_FALSE(
      ParseListParts("<ListPartsResult><IsTruncated>true</IsTruncated></ListPartsResult>").ok());
  for (const char* bad : {"<Part><PartNumber>0</PartNumber><ETag>e</ETag><Size>1</Size></Part>",
                          "<Part><PartNumber>10001</PartNumber><ETag>e</ETag><Size>1</Size></Part>",
                          "<Part><PartNumber>1</PartNumber><Size>1</Size></Part>",
                          "<Part><PartNumber>1</PartNumber><ETag>e</ETag><Size>-1</Size></Part>",
                          "<Part><PartNumber>x</PartNumber><ETag>e</ETag><Size>1</Size></Part>"}) {
    EXPECT_FALSE(ParseListParts(std::string("<ListPartsResult>") + bad + "</ListPartsResult>").ok())
        << bad;
  }
  EXPECT_FALSE(ParseListParts("<Error><Code>NoSuchUpload</Code></Error>").ok());
}

TEST(S3Xml, ListMultipartUploads) {
  auto page = ParseListMultipartUploads(
      "<ListMultipartUploadsResult><Bucket>b</Bucket><KeyMarker></KeyMarker>"
      "<NextKeyMarker>k2</NextKeyMarker><NextUploadIdMarker>u2</NextUploadIdMarker>"
      "<IsTruncated>true</IsTruncated><Upload><Key>k1</Key><UploadId>u1</UploadId>"
      "<Initiated>2010-11-10T20:48:33.000Z</Initiated></Upload>"
      "<Upload><Key>k2</Key><UploadId>u2</UploadId></Upload></ListMultipartUploadsResult>");
  ASSERT_TRUE(page.ok()) << page.error().message();
  ASSERT_EQ(page->uploads.size(), 2u);
  EXPECT_EQ(page->uploads[1].key, "k2");
  EXPECT_EQ(page->uploads[1].upload_id, "u2");
  EXPECT_EQ(page->next_key_marker, "k2");
  EXPECT_EQ(page->next_upload_id_marker, "u2");
  EXPECT_FALSE(ParseListMultipartUploads("<ListMultipartUploadsResult><Upload><Key>k</Key>"
                                         "</Upload></ListMultipartUploadsResult>")
                   .ok());
  EXPECT_FALSE(ParseListMultipartUploads("<ListMultipartUploadsResult><IsTruncated>true"
                                         "</IsTruncated></ListMultipartUploadsResult>")
                   .ok());
}

TEST(S3Xml, CompleteMultipartUpload) {
  auto etag = ParseCompleteMultipartUpload(
      "<CompleteMultipartUploadResult xmlns=\"http://s3.amazonaws.com/doc/2006-03-01/\">"
      "<Location>http://Example-Bucket.s3.amazonaws.com/Example-Object</Location>"
      "<Bucket>Example-Bucket</Bucket><Key>Example-Object</Key>"
      "<ETag>\"3858f62230ac3c915f300c664312c11f-9\"</ETag></CompleteMultipartUploadResult>");
  ASSERT_TRUE(etag.ok()) << etag.error().message();
  EXPECT_EQ(*etag, "3858f62230ac3c915f300c664312c11f-9");
  // S3 may send 200 and then an error: the error's code must reach the caller.
  auto late = ParseCompleteMultipartUpload(
      "<Error><Code>InternalError</Code><Message>We encountered an internal error.</Message>"
      "</Error>");
  ASSERT_FALSE(late.ok());
  EXPECT_NE(late.error().message().find("InternalError"), std::string::npos);
  EXPECT_FALSE(ParseCompleteMultipartUpload("<CompleteMultipartUploadResult><Key>k</Key>"
                                            "</CompleteMultipartUploadResult>")
                   .ok());
  EXPECT_FALSE(ParseCompleteMultipartUpload("").ok());
}

TEST(S3Xml, CompleteRequestBodyListsEveryPartInOrder) {
  std::string body = CompleteMultipartUploadXml({{1, "a54357aff0632cce46d942af68356b38", 0},
                                                 {2, "0c78aef83f66abc1fa1e8477f296d394", 0},
                                                 {3, "odd<&>\"", 0}});
  EXPECT_EQ(body,
            "<CompleteMultipartUpload>"
            "<Part><PartNumber>1</PartNumber><ETag>&quot;a54357aff0632cce46d942af68356b38&quot;"
            "</ETag></Part>"
            "<Part><PartNumber>2</PartNumber><ETag>&quot;0c78aef83f66abc1fa1e8477f296d394&quot;"
            "</ETag></Part>"
            "<Part><PartNumber>3</PartNumber><ETag>&quot;odd&lt;&amp;&gt;&quot;&quot;</ETag>"
            "</Part></CompleteMultipartUpload>");
  // What a server reads back is the quoted ETag, whatever bytes it held.
  auto parsed = ParseXml(body);
  ASSERT_TRUE(parsed.ok());
  ASSERT_EQ(parsed->children.size(), 3u);
  EXPECT_EQ(parsed->children[2].ChildText("ETag"), "\"odd<&>\"\"");
}

}  // namespace
}  // namespace granary
