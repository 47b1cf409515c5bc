#include "s3/s3_xml.h"

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

}  // namespace granary
