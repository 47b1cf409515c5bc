// The body of CompleteMultipartUpload: the parts, by number and ETag, that make the object.
#pragma once

#include <string>
#include <string_view>
#include <vector>

#include "receiver/s3_error.h"

namespace granary::receiver {

inline constexpr int kMaxParts = 10000;

struct ListedPart {
  int number = 0;
  std::string etag;  // without quotes, lowercase
};

// Fills `parts` from `xml`: MalformedXML for anything but a CompleteMultipartUpload holding
// 1 to 10,000 Part elements, each with a PartNumber of 1 to 10,000 and an ETag;
// InvalidPartOrder when the numbers do not ascend.
S3Error ParseCompleteMultipartUpload(std::string_view xml, std::vector<ListedPart>* parts);

}  // namespace granary::receiver
