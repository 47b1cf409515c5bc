#include "receiver/s3_error.h"

#include <array>
#include <utility>

namespace granary::receiver {
namespace {

struct CodeStatus {
  std::string_view code;
  int status;
};

constexpr std::array kStatuses = {
    CodeStatus{"AccessDenied", 403},
    CodeStatus{"SignatureDoesNotMatch", 403},
    CodeStatus{"InvalidAccessKeyId", 403},
    CodeStatus{"RequestTimeTooSkewed", 403},
    CodeStatus{"BadDigest", 400},
    CodeStatus{"InvalidDigest", 400},
    CodeStatus{"XAmzContentSHA256Mismatch", 400},
    CodeStatus{"EntityTooLarge", 400},
    CodeStatus{"IncompleteBody", 400},
    CodeStatus{"InvalidArgument", 400},
    CodeStatus{"InvalidRequest", 400},
    CodeStatus{"AuthorizationHeaderMalformed", 400},
    CodeStatus{"MissingContentLength", 411},
    CodeStatus{"KeyTooLongError", 400},
    CodeStatus{"InvalidURI", 400},
    CodeStatus{"InvalidObjectName", 400},
    CodeStatus{"InvalidSegment", 400},
    CodeStatus{"ObjectConflict", 409},
    CodeStatus{"NoSuchKey", 404},
    CodeStatus{"NoSuchBucket", 404},
    CodeStatus{"NoSuchUpload", 404},
    CodeStatus{"MethodNotAllowed", 405},
    CodeStatus{"InvalidRange", 416},
    CodeStatus{"NotImplemented", 501},
    CodeStatus{"InternalError", 500},
    CodeStatus{"ServiceUnavailable", 503},
    CodeStatus{"SlowDown", 503},
};

}  // namespace

S3Error MakeS3Error(std::string_view code, std::string message) {
  int status = 400;
  for (const CodeStatus& cs : kStatuses) {
    if (cs.code == code) status = cs.status;
  }
  return S3Error{status, std::string(code), std::move(message)};
}

std::string RenderS3ErrorXml(const S3Error& error, std::string_view resource,
                             std::string_view request_id) {
  std::string xml = "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<Error><Code>";
  xml += XmlEscape(error.code);
  xml += "</Code><Message>";
  xml += XmlEscape(error.message);
  xml += "</Message><Resource>";
  xml += XmlEscape(resource);
  xml += "</Resource><RequestId>";
  xml += XmlEscape(request_id);
  xml += "</RequestId></Error>\n";
  return xml;
}

}  // namespace granary::receiver
