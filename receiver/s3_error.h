// S3-style errors: the code, its HTTP status and the XML error document clients parse.
#pragma once

#include <string>
#include <string_view>

#include "platform/xml_tree.h"

namespace granary::receiver {

struct S3Error {
  int status = 0;  // 0: no error
  std::string code;
  std::string message;
  bool ok() const { return status == 0; }
};

// An error with the HTTP status S3 gives `code` (AccessDenied 403, BadDigest 400,
// NoSuchKey 404, EntityTooLarge 400, ...); unknown codes are 400.
S3Error MakeS3Error(std::string_view code, std::string message);

// <Error><Code>..</Code><Message>..</Message><Resource>..</Resource><RequestId>..</RequestId></Error>
std::string RenderS3ErrorXml(const S3Error& error, std::string_view resource,
                             std::string_view request_id);

using granary::XmlEscape;  // platform/xml_tree.h

}  // namespace granary::receiver
