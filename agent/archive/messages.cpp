#include "agent/archive/messages.h"

#include <cstdio>

namespace granary {

bool VisitSegment(archive::SegmentReader& reader, const std::string& where,
                  const MessageVisit& visit, bool* damaged) {
  archive::SegmentDocument doc;
  bool go_on = true;
  while (go_on && reader.Next(&doc)) {
    auto m = archive::DecodeBson(doc.bytes);
    if (!m) {
      std::fprintf(stderr, "%s at byte %llu: %s\n", where.c_str(),
                   static_cast<unsigned long long>(doc.offset), m.error().message().c_str());
      if (damaged != nullptr) *damaged = true;
      continue;
    }
    go_on = visit(*m, where);
  }
  if (!reader.status()) {
    std::fprintf(stderr, "%s: %s\n", where.c_str(), reader.status().error().message().c_str());
    if (damaged != nullptr) *damaged = true;
  }
  return go_on;
}

}  // namespace granary
