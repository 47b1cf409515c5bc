// What every request handler shares. Owned by the receiver's main; outlives the server.
#pragma once

#include <atomic>
#include <cstdint>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "platform/env.h"
#include "receiver/config.h"
#include "receiver/http_server.h"
#include "receiver/index.h"
#include "receiver/metrics.h"
#include "receiver/object_store.h"
#include "receiver/pipeline.h"
#include "receiver/registry.h"
#include "receiver/request_auth.h"
#include "receiver/validation_pool.h"

namespace granary::receiver {

class UpstreamFetcher;
class UploadTable;
struct FleetMqttStats;

// The read API's tokens, replaced by a reload while requests check them.
class ReaderTokens {
 public:
  explicit ReaderTokens(std::vector<ReaderToken> tokens) { Set(std::move(tokens)); }
  void Set(std::vector<ReaderToken> tokens) {
    auto next = std::make_shared<const std::vector<ReaderToken>>(std::move(tokens));
    std::lock_guard<std::mutex> lock(mu_);
    tokens_ = std::move(next);
  }
  std::shared_ptr<const std::vector<ReaderToken>> Get() const {
    std::lock_guard<std::mutex> lock(mu_);
    return tokens_;
  }

 private:
  mutable std::mutex mu_;
  std::shared_ptr<const std::vector<ReaderToken>> tokens_;
};

struct ReceiverContext {
  Env& env;
  const ReceiverConfig& config;
  ObjectStore& store;
  Index& index;
  Pipeline& pipeline;
  Metrics& metrics;
  const RequestVerifier& verifier;
  ReaderTokens readers{config.readers};
  DeviceRegistry* registry = nullptr;    // POST /api/v1/enroll
  UpstreamFetcher* upstream = nullptr;   // real-S3 mode only
  const FleetMqttStats* mqtt = nullptr;  // with [mqtt] only
  ValidationPool* validation = nullptr;  // null: uploads are validated in the HTTP thread
  UploadTable* uploads = nullptr;        // null: multipart uploads are NotImplemented
  std::atomic<uint64_t> next_request_id{1};
  // Why PUTs answer 503 and /healthz fails ("" when ingest is on): an index behind the store
  // would let the receiver claim less than it holds. Set before the server starts.
  std::string ingest_refused;
};

// The S3-compatible endpoint: PUT/GET/HEAD /{bucket}/{key}, GET /{bucket}?list-type=2, and
// multipart uploads (receiver/multipart.h).
std::unique_ptr<HttpExchange> NewS3Exchange(ReceiverContext& context, HttpRequest request);
// /api/v1/..., /metrics, /healthz, POST /v1/events/s3.
std::unique_ptr<HttpExchange> NewApiExchange(ReceiverContext& context, HttpRequest request);
// POST /api/v1/enroll: `body` is {"token": "..."}; the answer the device's key and where to
// upload, or 403 whatever was wrong with the token.
HttpResponse EnrollAnswer(ReceiverContext& context, const std::string& body,
                          const std::string& peer);
// The receiver's router: API paths to the API, everything else to S3.
Router MakeRouter(ReceiverContext& context);

}  // namespace granary::receiver
