// A test and bench driver: uploads one local file to one key with the agent's resumable
// multipart module (agent/upload/multipart.h), keeping its state in a real state dir's
// buffer, and prints each part as it goes:
//   part N/T sending BYTES | part N/T stored | part N/T adopted | done ... | paused ...
// Credentials come from AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY. Exit 0 done,
// 3 paused (--yield-after), 2 a permanent error, 1 retries exhausted or a local failure.
#include <fmt/format.h>

#include <CLI/CLI.hpp>
#include <atomic>
#include <cstdio>
#include <random>
#include <thread>

#include "agent/upload/multipart.h"
#include "agent/upload/retry.h"
#include "platform/log.h"
#include "platform/test_hooks.h"
#include "s3/credentials.h"
#include "s3/s3_client.h"
#include "storage/buffer.h"
#include "storage/catalog.h"

using namespace granary;

int main(int argc, char** argv) {
  CLI::App app{"Upload one file with the agent's resumable multipart module"};
  std::string state_dir, endpoint, bucket, region = "us-east-1", key, file, sha256;
  uint64_t part_size = 8ULL << 20, max_bandwidth = 0;
  int64_t max_age_ms = 7LL * 24 * 3600 * 1000;
  int yield_after = -1, attempts = 20;
  app.add_option("--state-dir", state_dir)->required();
  app.add_option("--endpoint", endpoint)->required();
  app.add_option("--bucket", bucket)->required();
  app.add_option("--region", region);
  app.add_option("--key", key)->required();
  app.add_option("--file", file)->required();
  app.add_option("--sha256", sha256, "the file's SHA-256 as captured (default: computed)");
  app.add_option("--part-size", part_size);
  app.add_option("--max-bandwidth", max_bandwidth, "bytes per second, 0: no cap");
  app.add_option("--max-age-ms", max_age_ms);
  app.add_option("--yield-after", yield_after, "pause after sending this many parts");
  app.add_option("--attempts", attempts, "retryable failures before giving up");
  CLI11_PARSE(app, argc, argv);
  std::setvbuf(stdout, nullptr, _IOLBF, 0);
  log::SetMaxLevel("info");

  Env& env = ProcessEnv();  // GRANARY_CRASH_POINT works here as in the agent
  auto creds = LoadCredentials("", "");
  if (!creds) {
    std::fprintf(stderr, "credentials: %s\n", creds.error().message().c_str());
    return 1;
  }
  BufferOptions bopts;
  bopts.state_dir = state_dir;
  bopts.device = "multipart-put";
  auto buffer = Buffer::Open(env, bopts);  // creates or migrates the state dir's schema
  if (!buffer) {
    std::fprintf(stderr, "open buffer: %s\n", buffer.error().message().c_str());
    return 1;
  }
  auto catalog = SegmentCatalog::OpenForUploads(env, state_dir);
  if (!catalog) {
    std::fprintf(stderr, "open catalog: %s\n", catalog.error().message().c_str());
    return 1;
  }
  S3Options s3;
  s3.endpoint = endpoint;
  s3.bucket = bucket;
  s3.region = region;
  s3.stall_timeout = std::chrono::seconds(10);
  s3.max_send_bytes_per_s = max_bandwidth;
  S3Client client(env, s3, *creds);

  LocalObject object;
  object.key = key;
  object.path = file;
  object.sha256_hex = sha256;
  std::FILE* f = std::fopen(file.c_str(), "rb");
  if (f == nullptr) {
    std::perror(file.c_str());
    return 1;
  }
  fseeko(f, 0, SEEK_END);
  object.size = static_cast<uint64_t>(ftello(f));
  std::fclose(f);

  int stored = 0;
  MultipartOptions options;
  options.part_size = part_size;
  options.max_age = std::chrono::milliseconds(max_age_ms);
  options.should_yield = [&] { return yield_after >= 0 && stored >= yield_after; };
  options.on_part = [&](const PartEvent& e) {
    const char* what = e.kind == PartEvent::kSending  ? "sending"
                       : e.kind == PartEvent::kStored ? "stored"
                                                      : "adopted";
    if (e.kind == PartEvent::kStored) ++stored;
    std::printf("part %u/%u %s %llu\n", e.number, e.count, what,
                static_cast<unsigned long long>(e.bytes));
  };

  std::mt19937_64 rng(std::random_device{}());
  int rc = 1;
  for (int attempt = 0; attempt < attempts; ++attempt) {
    FileUploadResult r = UploadFile(env, client, **catalog, object, options);
    if (r.status == FileUploadStatus::kDone) {
      std::printf("done %s parts_sent=%u\n", r.multipart ? "multipart" : "single", r.parts_sent);
      rc = 0;
      break;
    }
    if (r.status == FileUploadStatus::kPaused) {
      std::printf("paused parts_sent=%u\n", r.parts_sent);
      rc = 3;
      break;
    }
    std::printf("%s: %s\n", r.status == FileUploadStatus::kPermanent ? "permanent" : "retry",
                r.verdict.error.c_str());
    if (r.status == FileUploadStatus::kPermanent) {
      rc = 2;
      break;
    }
    if (r.verdict.outcome == Outcome::kSkewed && r.verdict.server_time_ms > 0) {
      client.SetClockOffset(r.verdict.server_time_ms - env.WallNowMs());
      continue;
    }
    auto wait = BackoffDelay(attempt, std::chrono::milliseconds(200), std::chrono::seconds(2),
                             r.verdict.retry_after, rng);
    std::this_thread::sleep_for(wait);
  }
  catalog->reset();
  (*buffer)->Stop(/*seal=*/false);
  return rc;
}
