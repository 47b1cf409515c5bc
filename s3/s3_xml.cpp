#include "s3/s3_xml.h"

#include <fmt/format.h>

#include "platform/strings.h"
#include "platform/xml_tree.h"

namespace granary {
namespace {

// S3 quotes ETags in XML as in headers.
std::string Unquoted(std::string_view etag) {
  if (etag.size() >= 2 && etag.front() == '"' && etag.back() == '"') {
    etag = etag.substr(1, etag.size() - 2);
  }
  return std::string(etag);
}

Result<XmlElement> ParseRoot(std::string_view xml, std::string_view want, std::string_view what) {
  Result<XmlElement> root = ParseXml(xml);
  if (!root) return root.error();
  if (root->name != want) return Error(fmt::format("not a {} result: {}", what, root->name));
  return root;
}

}  // namespace

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
  Result<XmlElement> root = ParseRoot(xml, "ListBucketResult", "ListObjectsV2");
  if (!root) return root.error();
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
    o.etag = Unquoted(c.ChildText("ETag"));
    list.objects.push_back(std::move(o));
  }
  return list;
}

Result<std::string> ParseInitiateMultipartUpload(std::string_view xml) {
  Result<XmlElement> root =
      ParseRoot(xml, "InitiateMultipartUploadResult", "CreateMultipartUpload");
  if (!root) return root.error();
  std::string id(root->ChildText("UploadId"));
  if (id.empty()) return Error("a CreateMultipartUpload result without an UploadId");
  return id;
}

Result<S3PartList> ParseListParts(std::string_view xml) {
  Result<XmlElement> root = ParseRoot(xml, "ListPartsResult", "ListParts");
  if (!root) return root.error();
  S3PartList list;
  list.truncated = root->ChildText("IsTruncated") == "true";
  if (list.truncated) {
    std::optional<uint32_t> next = ParseDecimal<uint32_t>(root->ChildText("NextPartNumberMarker"));
    if (!next || *next == 0) {
      return Error("a truncated ListParts result without a NextPartNumberMarker");
    }
    list.next_marker = *next;
  }
  for (const XmlElement& c : root->children) {
    if (c.name != "Part") continue;
    std::optional<uint32_t> number = ParseDecimal<uint32_t>(c.ChildText("PartNumber"));
    std::optional<uint64_t> size = ParseDecimal<uint64_t>(c.ChildText("Size"));
    S3Part p;
    p.etag = Unquoted(c.ChildText("ETag"));
    if (!number || *number == 0 || *number > 10000 || !size || p.etag.empty()) {
      return Error("a ListParts entry without a part number (1..10000), size or ETag");
    }
    p.number = *number;
    p.size = *size;
    list.parts.push_back(std::move(p));
  }
  return list;
}

Result<S3PendingUploadList> ParseListMultipartUploads(std::string_view xml) {
  Result<XmlElement> root = ParseRoot(xml, "ListMultipartUploadsResult", "ListMultipartUploads");
  if (!root) return root.error();
  S3PendingUploadList list;
  list.truncated = root->ChildText("IsTruncated") == "true";
  list.next_key_marker = std::string(root->ChildText("NextKeyMarker"));
  list.next_upload_id_marker = std::string(root->ChildText("NextUploadIdMarker"));
  if (list.truncated && list.next_key_marker.empty()) {
    return Error("a truncated ListMultipartUploads result without a NextKeyMarker");
  }
  for (const XmlElement& c : root->children) {
    if (c.name != "Upload") continue;
    S3PendingUpload u;
    u.key = std::string(c.ChildText("Key"));
    u.upload_id = std::string(c.ChildText("UploadId"));
    if (u.key.empty() || u.upload_id.empty()) {
      return Error("a ListMultipartUploads entry without a key or upload id");
    }
    list.uploads.push_back(std::move(u));
  }
  return list;
}

Result<std::string> ParseCompleteMultipartUpload(std::string_view xml) {
  Result<XmlElement> root = ParseXml(xml);
  if (!root) return root.error();
  if (root->name == "Error") {
    return Error(fmt::format("{}: {}", root->ChildText("Code"), root->ChildText("Message")));
  }
  if (root->name != "CompleteMultipartUploadResult") {
    return Error("not a CompleteMultipartUpload result: " + root->name);
  }
  std::string etag = Unquoted(root->ChildText("ETag"));
  if (etag.empty()) return Error("a CompleteMultipartUpload result without an ETag");
  return etag;
}

std::string CompleteMultipartUploadXml(const std::vector<S3Part>& parts) {
  std::string out = "<CompleteMultipartUpload>";
  for (const S3Part& p : parts) {
    out += fmt::format("<Part><PartNumber>{}</PartNumber><ETag>&quot;{}&quot;</ETag></Part>",
                       p.number, XmlEscape(p.etag));
  }
  out += "</CompleteMultipartUpload>";
  return out;
}

}  // namespace granary
