// CheckReportJson: any input is accepted or refused with a reason, never both; an accepted
// report has the key's uuid and kind, distinct valid attachment names, and its printed
// fields parse back as one object.
#include <cjson/cJSON.h>

#include <cstdint>
#include <cstdlib>
#include <set>
#include <string_view>

#include "receiver/report_format.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace granary::receiver;
  std::string_view text(reinterpret_cast<const char*>(data), size);
  const std::string uuid = "0b9d3c9e-5a7f-4c1e-9a51-2f6f3d1c8e47", kind = "error";
  ReportFacts facts;
  std::string problem = CheckReportJson(text, uuid, kind, &facts);
  if (!problem.empty()) {
    if (!facts.uuid.empty()) std::abort();
    return 0;
  }
  if (facts.uuid != uuid || facts.kind != kind) std::abort();
  std::set<std::string> names;
  for (const ReportAttachment& a : facts.files) {
    if (!IsAttachmentName(a.name) || !names.insert(a.name).second) std::abort();
    if (!a.sha256.empty() && a.sha256.size() != 64) std::abort();
  }
  cJSON* back = cJSON_Parse(facts.fields_json.c_str());
  if (back == nullptr || !cJSON_IsObject(back)) std::abort();
  cJSON_Delete(back);
  // The key parser on the same bytes: a shape is reported with a reason or its parts.
  KeyParts key = ParseKeyShape(text);
  if (key.shape == KeyShape::kReport && key.problem.empty() && !IsUuidText(key.uuid)) std::abort();
  return 0;
}
