// Receiver ingest: builds SEGMENTS segments of 3,600 readings (jsonl.gz, as the agent
// seals them), measures the raw gunzip + JSON-parse rate of those files, then PUTs them all
// over loopback to an in-process receiver (SigV4 verification, streaming to quarantine with
// MD5 + SHA-256, validation, SQLite index, move to accepted/) from CLIENTS S3 clients, and
// reports segments/s, readings/s and the ratio to the raw rate, all in this one run.
//
// usage: receiver_bench WORK_DIR [SEGMENTS] [CLIENTS]
#include <cjson/cJSON.h>
#include <fmt/format.h>

#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <thread>
#include <vector>

#include "platform/gzip_lines.h"
#include "platform/handles.h"
#include "receiver/context.h"
#include "receiver/fs_store.h"
#include "s3/s3_client.h"
#include "storage/segment_file.h"

namespace {

using namespace granary;
using namespace granary::receiver;
using Clock = std::chrono::steady_clock;

constexpr int kReadings = 3600;

double Seconds(Clock::time_point since) {
  return std::chrono::duration<double>(Clock::now() - since).count();
}

struct BenchSegment {
  std::string path, key;
  uint64_t first_seq = 0;
  SegmentDigest digest;
};

std::vector<BenchSegment> MakeSegments(Env& env, const std::string& dir, int count) {
  std::vector<BenchSegment> out;
  std::string text;
  int64_t ts = 1732284000000;
  for (int i = 0; i < count; ++i) {
    BenchSegment s;
    s.first_seq = static_cast<uint64_t>(i) * kReadings + 1;
    s.path = fmt::format("{}/seg-{}.jsonl.gz", dir, s.first_seq);
    s.key = fmt::format("granary/bench/meter/2024/11/22/bench-meter-20241122T14-{}.jsonl.gz",
                        s.first_seq);
    text.clear();
    for (int r = 0; r < kReadings; ++r, ts += 1000) {
      std::string data = fmt::format(
          R"({{"demand_kw":{:.3f},"voltage":{:.1f},"summation_delivered":{:.3f},"price":0.1342}})",
          1.0 + (r % 997) / 331.0, 239.0 + (r % 29) / 10.0, 18234.5 + r / 1000.0);
      AppendJsonLine(text, "bench", "meter", s.first_seq + static_cast<uint64_t>(r), ts, true,
                     data);
    }
    SegmentFileWriter w(env, 6);
    if (!w.Open(s.path) || !w.Append(text)) std::exit(1);
    auto d = w.Finish();
    if (!d) std::exit(1);
    s.digest = *d;
    out.push_back(std::move(s));
  }
  return out;
}

// gunzip + one cJSON parse per line, as the validator's floor.
double RawReadingsPerSecond(const std::vector<BenchSegment>& segments) {
  auto start = Clock::now();
  uint64_t lines = 0;
  for (const BenchSegment& s : segments) {
    GzipLineReader reader(1 << 20, 1ull << 30);
    if (!reader.Open(s.path)) std::exit(1);
    std::string_view line;
    while (reader.Next(&line)) {
      CjsonPtr obj(cJSON_ParseWithLength(line.data(), line.size()));
      if (!obj) std::exit(1);
      ++lines;
    }
  }
  return static_cast<double>(lines) / Seconds(start);
}

}  // namespace

int main(int argc, char** argv) {
  if (argc < 2) {
    std::fprintf(stderr, "usage: receiver_bench WORK_DIR [SEGMENTS] [CLIENTS]\n");
    return 2;
  }
  std::string work = argv[1];
  int count = argc > 2 ? std::atoi(argv[2]) : 1000;
  int clients = argc > 3 ? std::atoi(argv[3]) : 2;
  Env& env = Env::Default();
  std::filesystem::create_directories(work + "/segments");
  std::vector<BenchSegment> segments = MakeSegments(env, work + "/segments", count);
  uint64_t bytes = 0;
  for (const auto& s : segments) bytes += s.digest.bytes;

  ReceiverConfig config;
  config.data_dir = work + "/receiver";
  config.devices = {{"bench", "AKIDBENCH", "bench-secret"}};
  auto store = FilesystemStore::Open(env, config.data_dir);
  auto index = OpenIndex(env, config);
  if (!store || !index) {
    std::fprintf(stderr, "receiver_bench: %s\n",
                 (!store ? store.error() : index.error()).message().c_str());
    return 1;
  }
  Metrics metrics;
  Pipeline pipeline(env, **store, **index, config, metrics);
  RequestVerifier verifier(config.devices, VerifierOptions{});
  ReceiverContext context{env, config, **store, **index, pipeline, metrics, verifier};
  HttpServerOptions options;
  options.threads = 2;
  auto server = HttpServer::Start(options, MakeRouter(context));
  if (!server) return 1;

  double raw = RawReadingsPerSecond(segments);

  std::atomic<size_t> next{0};
  std::atomic<int> failures{0};
  auto start = Clock::now();
  std::vector<std::thread> threads;
  for (int c = 0; c < clients; ++c) {
    threads.emplace_back([&] {
      S3Options o;
      o.endpoint = fmt::format("http://127.0.0.1:{}", (*server)->port());
      o.bucket = "granary";
      S3Client client(env, o, Credentials{"AKIDBENCH", "bench-secret", ""});
      for (size_t i; (i = next.fetch_add(1)) < segments.size();) {
        const BenchSegment& s = segments[i];
        sigv4::Headers meta = {
            {"x-amz-meta-granary-device", "bench"},
            {"x-amz-meta-granary-source", "meter"},
            {"x-amz-meta-granary-first-seq", std::to_string(s.first_seq)},
            {"x-amz-meta-granary-last-seq", std::to_string(s.first_seq + kReadings - 1)},
            {"x-amz-meta-granary-count", std::to_string(kReadings)},
            {"x-amz-meta-granary-format", "jsonl.gz/1"}};
        auto r = client.PutObject(s.key, s.path, s.digest.bytes, s.digest.md5_hex,
                                  s.digest.sha256_hex, meta);
        if (!r || !r->ok()) ++failures;
      }
    });
  }
  for (auto& t : threads) t.join();
  double took = Seconds(start);
  auto counts = (*index)->Counts();
  if (failures > 0 || !counts || counts->segments != segments.size() ||
      counts->readings != segments.size() * kReadings || counts->coverage_ranges != 1) {
    std::fprintf(stderr, "receiver_bench: %d PUTs failed; index holds %llu segments\n",
                 failures.load(),
                 counts ? static_cast<unsigned long long>(counts->segments) : 0ull);
    return 1;
  }
  double seg_rate = static_cast<double>(segments.size()) / took;
  double reading_rate = seg_rate * kReadings;
  std::printf("segments\t%zu\tx %d readings, %.1f MB gzip\n", segments.size(), kReadings,
              bytes / 1e6);
  std::printf("raw gunzip+JSON parse\t%.0f\treadings/s\n", raw);
  std::printf("receiver PUT ingest (%d clients)\t%.1f\tsegments/s\n", clients, seg_rate);
  std::printf("receiver PUT ingest (%d clients)\t%.0f\treadings/s\n", clients, reading_rate);
  std::printf("ingest / raw\t%.0f\t%%\n", 100.0 * reading_rate / raw);
  std::printf("validation time\t%.2f\ts total\n", metrics.validate_ns.load() / 1e9);
  return 0;
}
