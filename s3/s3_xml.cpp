#include "s3/s3_xml.h"

#include "platform/strings.h"
#include "platform/xml_tree.h"

namespace granary {

Result<S3ErrorDocument> ParseS3Error(std::string_view xml) {
  Result<XmlElement> root = ParseXml(xml);
  if (!root) return root.error();
  S3ErrorDocument doc;
  doc.code = root->ChildText("Code");
  doc.message = root->ChildText("Message");
  if (root->name != "Error" || doc.code.empty()) return Error("not an S3 error document");
  return doc;
}

Result<S3ObjectList> ParseListObjectsV2(std::string_view xml) {
  Result<XmlElement> root = ParseXml(xml);
  if (!root) return root.error();
  if (root->name != "ListBucketResult") return Error("not a ListObjectsV2 result: " + root->name);
  S3ObjectList list;
  list.truncated = root->ChildText("IsTruncated") == "true";
  list.next_token = std::string(root->ChildText("NextContinuationToken"));
  if (list.truncated && list.next_token.empty()) {
    return Error("a truncated ListObjectsV2 result without a NextContinuationToken");
  }
  for (const XmlElement& c : root->children) {
    if (c.name != "Contents") continue;
    S3ListedObject o;
    o.key = std::string(c.ChildText("Key"));
    std::optional<uint64_t> size = ParseDecimal<uint64_t>(c.ChildText("Size"));
    if (o.key.empty() || !size) return Error("a ListObjectsV2 entry without a key or size");
    o.size = *size;
    std::string_view etag = c.ChildText("ETag");
    if (etag.size() >= 2 && etag.front() == '"' && etag.back() == '"') {
      etag = etag.substr(1, etag.size() - 2);
    }
    o.etag = std::string(etag);
    list.objects.push_back(std::move(o));
  }
  return list;
}

}  // namespace granary
