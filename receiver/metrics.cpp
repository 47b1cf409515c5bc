#include "receiver/metrics.h"

#include <fmt/format.h>

#include <set>

namespace granary::receiver {

void Metrics::CountRequest(const std::string& method, int status) {
  // Methods come from clients: only known ones become label values.
  static const std::set<std::string> kKnown = {"GET", "HEAD", "PUT", "POST", "DELETE", "OPTIONS"};
  std::lock_guard<std::mutex> lock(mu_);
  ++requests_[{kKnown.count(method) ? method : "OTHER", status}];
}

void Metrics::CountS3Error(const std::string& code) {
  std::lock_guard<std::mutex> lock(mu_);
  ++s3_errors_[code];
}

void Metrics::CountMultipartRequest(const std::string& operation) {
  std::lock_guard<std::mutex> lock(mu_);
  ++multipart_requests_[operation];
}

std::string Metrics::Render(const std::string& extra) const {
  std::string out;
  auto counter = [&out](const char* name, const char* help, uint64_t v) {
    out += fmt::format("# HELP {0} {1}\n# TYPE {0} counter\n{0} {2}\n", name, help, v);
  };
  counter("granary_receiver_received_bytes_total", "Object body bytes received.", bytes_received);
  counter("granary_receiver_objects_accepted_total", "Objects validated and indexed.",
          objects_accepted);
  counter("granary_receiver_objects_duplicate_total", "Re-sent objects already indexed.",
          objects_duplicate);
  counter("granary_receiver_objects_rejected_total", "Objects that failed validation.",
          objects_rejected);
  counter("granary_receiver_objects_conflict_total",
          "Objects whose key or seqs collide with accepted data.", objects_conflict);
  counter("granary_receiver_readings_accepted_total", "Readings in accepted segments.",
          readings_accepted);
  counter("granary_receiver_tombstones_accepted_total", "Tombstones indexed.", tombstones_accepted);
  counter("granary_receiver_reports_indexed_total", "Reports indexed.", reports_accepted);
  counter("granary_receiver_files_indexed_total", "Files indexed.", files_accepted);
  counter("granary_receiver_messages_indexed_total",
          "Archived MQTT messages indexed from accepted archive segments.", messages_indexed);
  counter("granary_receiver_messages_duplicate_total",
          "Archived messages not indexed because their _id was indexed already.",
          messages_duplicate);
  counter("granary_receiver_s3_events_total", "S3 event records received.", events_received);
  counter("granary_receiver_s3_event_fetch_errors_total", "Objects named by events not fetched.",
          event_fetch_errors);
  counter("granary_receiver_pipeline_errors_total", "Internal errors while storing or indexing.",
          pipeline_errors);
  counter("granary_receiver_validation_over_budget_total",
          "Uploads whose validation ran past validation.object_budget (answered 503).",
          validation_over_budget);
  counter("granary_receiver_validation_refused_total",
          "Uploads refused because the validation queue was full (answered 503).",
          validation_refused);
  counter("granary_receiver_slow_headers_cut_total",
          "Connections cut for not sending their headers within http.header_timeout.",
          slow_headers_cut);
  counter("granary_receiver_slow_bodies_cut_total",
          "Connections cut for sending a body slower than http.min_body_rate.", slow_bodies_cut);
  counter("granary_receiver_evidence_evicted_total",
          "Rejected or conflicting objects removed, oldest first, to keep evidence_max_bytes.",
          evidence_evicted);
  counter("granary_receiver_evidence_evicted_bytes_total", "Bytes of evidence so removed.",
          evidence_evicted_bytes);
  counter("granary_receiver_multipart_parts_total", "Multipart upload parts received.",
          multipart_parts);
  counter("granary_receiver_multipart_completed_total",
          "Multipart uploads completed (the object accepted, duplicate, rejected or a conflict).",
          multipart_completed);
  counter("granary_receiver_multipart_expired_total",
          "Abandoned multipart uploads removed with their parts after multipart.expire_after.",
          multipart_expired);
  out += fmt::format(
      "# HELP granary_receiver_validate_seconds_total Time spent validating objects.\n"
      "# TYPE granary_receiver_validate_seconds_total counter\n"
      "granary_receiver_validate_seconds_total {:.6f}\n",
      static_cast<double>(validate_ns.load()) / 1e9);
  std::lock_guard<std::mutex> lock(mu_);
  out +=
      "# HELP granary_receiver_requests_total HTTP requests by method and status.\n"
      "# TYPE granary_receiver_requests_total counter\n";
  for (const auto& [k, v] : requests_) {
    out += fmt::format("granary_receiver_requests_total{{method=\"{}\",status=\"{}\"}} {}\n",
                       k.first, k.second, v);
  }
  out +=
      "# HELP granary_receiver_s3_errors_total S3 error answers by code.\n"
      "# TYPE granary_receiver_s3_errors_total counter\n";
  for (const auto& [k, v] : s3_errors_) {
    out += fmt::format("granary_receiver_s3_errors_total{{code=\"{}\"}} {}\n", k, v);
  }
  out +=
      "# HELP granary_receiver_multipart_requests_total Multipart requests by S3 operation, "
      "counted when their headers are in (a part cut off mid-body counts).\n"
      "# TYPE granary_receiver_multipart_requests_total counter\n";
  for (const auto& [k, v] : multipart_requests_) {
    out += fmt::format("granary_receiver_multipart_requests_total{{operation=\"{}\"}} {}\n", k, v);
  }
  out += extra;
  return out;
}

}  // namespace granary::receiver
