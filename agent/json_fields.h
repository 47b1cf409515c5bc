// Reading and writing the numeric, string and boolean fields of the status document
// (status.json and its blocks: agent/status.cpp, agent/outbox/*_status.cpp). A field that is
// missing or of another type reads as zero, empty or false: an older or newer agent's
// document still loads.
#pragma once

#include <cjson/cJSON.h>

#include <cstdint>
#include <string>

namespace granary::json_fields {

inline void AddU(cJSON* o, const char* key, uint64_t v) {
  cJSON_AddNumberToObject(o, key, static_cast<double>(v));
}
inline void AddI(cJSON* o, const char* key, int64_t v) {
  cJSON_AddNumberToObject(o, key, static_cast<double>(v));
}
// A negative number reads as 0 (converting it to unsigned would be undefined).
inline uint64_t GetU(const cJSON* o, const char* key) {
  const cJSON* v = cJSON_GetObjectItemCaseSensitive(o, key);
  return cJSON_IsNumber(v) && v->valuedouble > 0 ? static_cast<uint64_t>(v->valuedouble) : 0;
}
inline int64_t GetI(const cJSON* o, const char* key) {
  const cJSON* v = cJSON_GetObjectItemCaseSensitive(o, key);
  return cJSON_IsNumber(v) ? static_cast<int64_t>(v->valuedouble) : 0;
}
inline std::string GetS(const cJSON* o, const char* key) {
  const char* s = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(o, key));
  return s != nullptr ? s : "";
}
inline bool GetB(const cJSON* o, const char* key) {
  return cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(o, key));
}

}  // namespace granary::json_fields
