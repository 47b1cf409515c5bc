// Real-S3 mode: fetches an object named by an event notification from the upstream S3
// with the shared S3 client (s3/), streaming it into quarantine with hashing, and runs the
// pipeline on it. An object the index already holds with the event's ETag is not fetched
// again, so repeated notifications cost one index lookup.
#pragma once

#include <memory>
#include <mutex>

#include "receiver/context.h"
#include "receiver/s3_events.h"
#include "s3/s3_client.h"

namespace granary::receiver {

class UpstreamFetcher {
 public:
  UpstreamFetcher(ReceiverContext& context, const UpstreamS3& upstream);
  // The pipeline's verdict on the record's object. Errors are fetch or internal failures.
  Result<PipelineResult> Fetch(const S3EventRecord& record);

 private:
  ReceiverContext& ctx_;
  UpstreamS3 upstream_;
  std::mutex mu_;  // the client keeps one connection: one fetch at a time
  std::unique_ptr<S3Client> client_;
};

}  // namespace granary::receiver
