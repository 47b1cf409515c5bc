// The s3/ pieces that need no server: credentials, S3 error documents and list pages.
#include <gtest/gtest.h>
#include <sys/stat.h>

#include <cstdlib>
#include <fstream>

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

}  // namespace
}  // namespace granary
