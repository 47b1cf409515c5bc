// Process counters for /metrics (Prometheus text format). Lock-free; any thread.
#pragma once

#include <array>
#include <atomic>
#include <cstdint>
#include <map>
#include <mutex>
#include <string>

namespace granary::receiver {

class Metrics {
 public:
  std::atomic<uint64_t> bytes_received{0};
  std::atomic<uint64_t> objects_accepted{0};
  std::atomic<uint64_t> objects_duplicate{0};
  std::atomic<uint64_t> objects_rejected{0};
  std::atomic<uint64_t> objects_conflict{0};
  std::atomic<uint64_t> readings_accepted{0};
  std::atomic<uint64_t> tombstones_accepted{0};
  std::atomic<uint64_t> reports_accepted{0};  // indexed (accepted or pending a validator)
  std::atomic<uint64_t> files_accepted{0};
  std::atomic<uint64_t> messages_indexed{0};    // archived MQTT messages of accepted segments
  std::atomic<uint64_t> messages_duplicate{0};  // their _id was indexed already
  std::atomic<uint64_t> events_received{0};
  std::atomic<uint64_t> event_fetch_errors{0};
  std::atomic<uint64_t> pipeline_errors{0};
  std::atomic<uint64_t> validate_ns{0};
  std::atomic<uint64_t> validation_over_budget{0};
  std::atomic<uint64_t> validation_refused{0};
  std::atomic<uint64_t> slow_headers_cut{0};
  std::atomic<uint64_t> slow_bodies_cut{0};
  std::atomic<uint64_t> evidence_evicted{0};
  std::atomic<uint64_t> evidence_evicted_bytes{0};
  std::atomic<uint64_t> multipart_parts{0};      // parts received and listed
  std::atomic<uint64_t> multipart_completed{0};  // uploads completed into an object
  std::atomic<uint64_t> multipart_expired{0};    // abandoned uploads removed

  // Requests by method and status; errors by S3 code.
  void CountRequest(const std::string& method, int status);
  void CountS3Error(const std::string& code);
  // Multipart requests by S3 operation (UploadPart, ...), once their headers are in.
  void CountMultipartRequest(const std::string& operation);
  // The text exposition, with `extra` (index gauges) appended.
  std::string Render(const std::string& extra) const;

 private:
  mutable std::mutex mu_;
  std::map<std::pair<std::string, int>, uint64_t> requests_;
  std::map<std::string, uint64_t> s3_errors_;
  std::map<std::string, uint64_t> multipart_requests_;
};

}  // namespace granary::receiver
