// Upload catch-up: builds a backlog of sealed segments of about 1 MiB each, then lets the
// upload worker send them all to the S3 endpoint and reports MB/s, segments/s and this
// process's memory while it does. Streaming from the file means RSS stays flat whatever
// the segment size. run.sh puts raw `curl` PUTs of the same files next to these figures.
//
// usage: upload_bench STATE_DIR COUNT   (S3_ENDPOINT, S3_BUCKET, AWS_ACCESS_KEY_ID and
//        AWS_SECRET_ACCESS_KEY in the environment)
#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <random>
#include <string>
#include <thread>
#include <vector>

#include "agent/upload/worker.h"
#include "s3/credentials.h"
#include "storage/buffer.h"

namespace {

using namespace granary;
using Clock = std::chrono::steady_clock;
using std::chrono::milliseconds;

// Random alphanumerics: gzip keeps about three quarters, so segments land near 1 MiB.
constexpr uint64_t kRawSegmentBytes = 1'380'000;
constexpr int kBlobChars = 1000;

double Seconds(Clock::time_point since) {
  return std::chrono::duration<double>(Clock::now() - since).count();
}

long StatusKb(const char* field) {
  std::ifstream in("/proc/self/status");
  std::string line;
  while (std::getline(in, line)) {
    if (line.rfind(field, 0) == 0)
      return std::strtol(line.c_str() + std::strlen(field) + 1, nullptr, 10);
  }
  return 0;
}

const char* Need(const char* name) {
  const char* v = std::getenv(name);
  if (v == nullptr || *v == '\0') {
    std::fprintf(stderr, "upload_bench: %s is not set\n", name);
    std::exit(2);
  }
  return v;
}

}  // namespace

int main(int argc, char** argv) {
  // "again": the backlog of an earlier run, its segments marked sealed once more by the
  // caller, uploaded again (bench/upload.sh alternates that with raw curl).
  const bool again = argc == 4 && std::string(argv[3]) == "again";
  if (argc != 3 && !again) {
    std::fprintf(stderr, "usage: upload_bench STATE_DIR COUNT [again]\n");
    return 2;
  }
  const std::string state_dir = argv[1];
  const int count = again ? 0 : std::atoi(argv[2]);
  Env& env = Env::Default();

  BufferOptions bo;
  bo.state_dir = state_dir;
  bo.device = "bench";
  bo.sync_full = false;
  bo.segment_max_bytes = kRawSegmentBytes;
  bo.segment_max_readings = 10'000'000;
  bo.quota_max_bytes = 64ULL << 30;
  bo.queue_capacity =
      5000;  // the default (100k readings of 1 KB here) would dwarf the uploader in RSS
  auto buffer = Buffer::Open(env, bo);
  if (!buffer) {
    std::fprintf(stderr, "upload_bench: %s\n", buffer.error().message().c_str());
    return 1;
  }

  // The backlog: readings until `count` segments are cut, then a flush for the last one.
  auto t_build = Clock::now();
  std::mt19937_64 rng(42);
  const char alnum[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789";
  const uint64_t per_segment = kRawSegmentBytes / (kBlobChars + 100) + 1;
  const int64_t ts0 = env.WallNowMs();
  for (uint64_t i = 0; i < per_segment * static_cast<uint64_t>(count);) {
    std::vector<Reading> batch;
    for (int k = 0; k < 200; ++k, ++i) {
      std::string blob(kBlobChars, ' ');
      for (char& c : blob) c = alnum[rng() % 62];
      batch.push_back({"blob", ts0, true, "{\"b\":\"" + blob + "\"}"});
    }
    size_t n = batch.size();
    while ((*buffer)->Submit(std::move(batch), milliseconds{5000}) != n) {
      std::fprintf(stderr, "upload_bench: buffer queue full\n");
      return 1;
    }
  }
  if (Status s = (*buffer)->Flush(); !s) {
    std::fprintf(stderr, "upload_bench: flush: %s\n", s.error().message().c_str());
    return 1;
  }
  BufferStats before = (*buffer)->Stats();
  if (!again) {
    std::printf("backlog built\t%.1f\ts (%llu segments, %.2f MiB each on average)\n",
                Seconds(t_build), static_cast<unsigned long long>(before.segments_sealed),
                before.pending_bytes / 1048576.0 / std::max<uint64_t>(1, before.segments_sealed));
  }

  UploadOptions uo;
  uo.s3.endpoint = Need("S3_ENDPOINT");
  uo.s3.bucket = Need("S3_BUCKET");
  uo.s3.region = "us-east-1";
  auto credentials = LoadCredentials("", "");
  if (!credentials) {
    std::fprintf(stderr, "upload_bench: %s\n", credentials.error().message().c_str());
    return 1;
  }
  uo.credentials = *credentials;
  uo.device = "bench";
  uo.prefix = "agent";
  uo.key_template = "{prefix}/{device}/{source}/{first_seq}.{ext}";
  uo.retry_min = milliseconds{100};
  uo.retry_max = milliseconds{1000};

  long rss_start = StatusKb("VmRSS"), anon_start = StatusKb("RssAnon");
  std::atomic<long> rss_peak{rss_start}, anon_peak{anon_start};
  std::atomic<bool> done{false};
  std::thread sampler([&] {
    while (!done) {
      rss_peak = std::max(rss_peak.load(), StatusKb("VmRSS"));
      anon_peak = std::max(anon_peak.load(), StatusKb("RssAnon"));
      std::this_thread::sleep_for(milliseconds{100});
    }
  });

  UploadWorker worker(env, **buffer, state_dir, uo);
  auto t_up = Clock::now();
  worker.Start();
  const auto deadline = Clock::now() + std::chrono::minutes(30);
  while ((*buffer)->Stats().segments_sealed > 0 && Clock::now() < deadline) {
    std::this_thread::sleep_for(milliseconds{20});
  }
  double secs = Seconds(t_up);
  worker.Stop();
  done = true;
  sampler.join();
  UploadStats us = worker.Stats();
  double mb = us.uploaded_bytes / 1e6;
  std::printf("agent upload\t%.1f\tMB/s (%llu segments, %.0f MB in %.1f s, %llu failed attempts)\n",
              mb / secs, static_cast<unsigned long long>(us.uploaded), mb, secs,
              static_cast<unsigned long long>(us.failed));
  std::printf("agent upload\t%.1f\tsegments/s\n", us.uploaded / secs);
  std::printf("RSS before / peak during upload\t%.1f / %.1f\tMiB\n", rss_start / 1024.0,
              rss_peak.load() / 1024.0);
  std::printf("RssAnon before / peak during upload\t%.1f / %.1f\tMiB\n", anon_start / 1024.0,
              anon_peak.load() / 1024.0);
  (*buffer)->Stop(false);
  return us.uploaded == before.segments_sealed ? 0 : 1;
}
