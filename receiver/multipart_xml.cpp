#include "receiver/multipart_xml.h"

#include "platform/strings.h"
#include "platform/xml_tree.h"

namespace granary::receiver {
namespace {

S3Error Malformed(const std::string& why) {
  return MakeS3Error("MalformedXML",
                     "The XML you provided was not well-formed or did not validate against our "
                     "published schema: " +
                         why);
}

}  // namespace

S3Error ParseCompleteMultipartUpload(std::string_view xml, std::vector<ListedPart>* parts) {
  parts->clear();
  Result<XmlElement> root = ParseXml(xml);
  if (!root) return Malformed(root.error().message());
  if (root->name != "CompleteMultipartUpload") return Malformed("the root is " + root->name);
  for (const XmlElement& child : root->children) {
    if (child.name != "Part") continue;  // S3 ignores what it does not know
    if (parts->size() == kMaxParts) return Malformed("more than 10000 parts");
    std::optional<int> number = ParseDecimal<int>(child.ChildText("PartNumber"));
    if (!number || *number < 1 || *number > kMaxParts) {
      return Malformed("a PartNumber is not 1 to 10000");
    }
    std::string_view etag = child.ChildText("ETag");
    if (etag.size() >= 2 && etag.front() == '"' && etag.back() == '"') {
      etag = etag.substr(1, etag.size() - 2);
    }
    if (etag.empty()) return Malformed("a Part has no ETag");
    if (!parts->empty() && parts->back().number >= *number) {
      return MakeS3Error("InvalidPartOrder",
                         "The list of parts was not in ascending order. The parts list must be "
                         "specified in order by part number.");
    }
    parts->push_back(ListedPart{*number, AsciiLower(etag)});
  }
  if (parts->empty()) return Malformed("no Part");
  return S3Error{};
}

}  // namespace granary::receiver
