// The floor under the agent's 100-source figures: N GETs a second through bare libcurl
// (curl_multi, at most 16 at once, kept-alive connections, bodies discarded), in a process
// that loads the same shared libraries as the agent. Nothing is parsed or stored, so the
// agent's CPU and memory read as this plus the cost of its own work.
// The same source builds http_floor_curl_only, linked with libcurl alone (and the C++
// runtime): the floor of any C++ program that polls over HTTP with Debian's libcurl.
// usage: http_floor_bench URL N SECONDS [LABEL]. Prints "metric<TAB>value<TAB>unit" lines.
#include <curl/curl.h>
#include <time.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <string>
#include <thread>
#include <vector>

namespace {

constexpr int kMaxParallel = 16;
constexpr int kWarmupRounds = 3;

double CpuSeconds() {
  timespec ts{};
  clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
  return static_cast<double>(ts.tv_sec) + static_cast<double>(ts.tv_nsec) / 1e9;
}

long StatusKib(const std::string& field) {
  std::ifstream in("/proc/self/status");
  std::string line;
  while (std::getline(in, line)) {
    if (line.rfind(field + ":", 0) == 0) return std::atol(line.c_str() + field.size() + 1);
  }
  return 0;
}

size_t Discard(char*, size_t size, size_t count, void*) { return size * count; }

// One burst: every handle fetches once; returns how many failed.
int Burst(CURLM* multi, const std::vector<CURL*>& handles) {
  size_t next = 0, active = 0, done = 0;
  int failed = 0;
  while (done < handles.size()) {
    while (active < kMaxParallel && next < handles.size()) {
      curl_multi_add_handle(multi, handles[next++]);
      ++active;
    }
    int running = 0;
    curl_multi_perform(multi, &running);
    int left = 0;
    while (CURLMsg* msg = curl_multi_info_read(multi, &left)) {
      if (msg->msg != CURLMSG_DONE) continue;
      if (msg->data.result != CURLE_OK) ++failed;
      curl_multi_remove_handle(multi, msg->easy_handle);
      --active;
      ++done;
    }
    if (done < handles.size()) curl_multi_poll(multi, nullptr, 0, 1000, nullptr);
  }
  return failed;
}

}  // namespace

int main(int argc, char** argv) {
  if (argc != 4 && argc != 5) {
    std::fprintf(stderr, "usage: %s URL N SECONDS [LABEL]\n", argv[0]);
    return 2;
  }
  const char* label = argc == 5 ? argv[4] : "raw libcurl";
  const std::string url = argv[1];
  const int n = std::atoi(argv[2]);
  const int seconds = std::atoi(argv[3]);
  curl_global_init(CURL_GLOBAL_DEFAULT);
  CURLM* multi = curl_multi_init();
  curl_multi_setopt(multi, CURLMOPT_MAXCONNECTS, static_cast<long>(n));
  std::vector<CURL*> handles;
  for (int i = 0; i < n; ++i) {
    CURL* c = curl_easy_init();
    curl_easy_setopt(c, CURLOPT_URL, url.c_str());
    curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, &Discard);
    curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
    handles.push_back(c);
  }
  int failed = 0;
  long max_rss = 0, max_anon = 0;
  double cpu0 = 0;
  auto tick = std::chrono::steady_clock::now();
  for (int round = 0; round < kWarmupRounds + seconds; ++round) {
    if (round == kWarmupRounds) cpu0 = CpuSeconds();
    failed += Burst(multi, handles);
    max_rss = std::max(max_rss, StatusKib("VmRSS"));
    max_anon = std::max(max_anon, StatusKib("RssAnon"));
    tick += std::chrono::seconds(1);
    std::this_thread::sleep_until(tick);
  }
  double cpu = CpuSeconds() - cpu0;
  std::printf("%s: CPU\t%.2f\t%% of one core\n", label, 100.0 * cpu / seconds);
  std::printf("%s: CPU per GET\t%.1f\tus\n", label, 1e6 * cpu / seconds / n);
  std::printf("%s: peak total RSS\t%.1f\tMiB\n", label, static_cast<double>(max_rss) / 1024);
  std::printf("%s: peak RssAnon\t%.1f\tMiB\n", label, static_cast<double>(max_anon) / 1024);
  std::printf("%s: failed GETs\t%d\t\n", label, failed);
  for (CURL* c : handles) curl_easy_cleanup(c);
  curl_multi_cleanup(multi);
  return failed == 0 ? 0 : 1;
}
