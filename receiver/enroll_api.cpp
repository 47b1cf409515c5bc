// POST /api/v1/enroll: a device trades its one-time token for its key (docs/receiver.md,
// "Enrollment"). The answer carries a secret: it is never logged, and neither is the token.
#include <cjson/cJSON.h>

#include "platform/handles.h"
#include "platform/log.h"
#include "receiver/context.h"

namespace granary::receiver {

HttpResponse EnrollAnswer(ReceiverContext& context, const std::string& body,
                          const std::string& peer) {
  auto answer = [](int status, cJSON* json) {
    CjsonPtr owned(json);
    CjsonString text(cJSON_PrintUnformatted(json));
    HttpResponse r = HttpResponse::Text(status, std::string(text.get()) + "\n", "application/json");
    r.headers.emplace_back("Cache-Control", "no-store");
    return r;
  };
  auto error = [&](int status, const char* message) {
    cJSON* json = cJSON_CreateObject();
    cJSON_AddStringToObject(json, "error", message);
    return answer(status, json);
  };
  if (context.registry == nullptr) return error(404, "this receiver has no device registry");
  CjsonPtr request(cJSON_ParseWithLength(body.data(), body.size()));
  const cJSON* token = cJSON_GetObjectItemCaseSensitive(request.get(), "token");
  if (!cJSON_IsString(token)) return error(400, "expected {\"token\": \"...\"}");
  auto key = context.registry->Enroll(token->valuestring, context.env.WallNowMs());
  if (!key) {
    log::Warning("enroll from {}: {}", peer, key.error().message());
    return error(403, "invalid or expired enrollment token");
  }
  log::Notice("enrolled device {} from {} (access key {})", key->device, peer, key->access_key);
  cJSON* json = cJSON_CreateObject();
  cJSON_AddStringToObject(json, "device", key->device.c_str());
  cJSON_AddStringToObject(json, "access_key", key->access_key.c_str());
  cJSON_AddStringToObject(json, "secret_key", key->secret_key.c_str());
  cJSON_AddStringToObject(json, "region", context.config.region.c_str());
  cJSON_AddStringToObject(json, "bucket", context.config.buckets.front().c_str());
  cJSON_AddStringToObject(json, "prefix", context.config.prefix.c_str());
  return answer(200, json);
}

}  // namespace granary::receiver
