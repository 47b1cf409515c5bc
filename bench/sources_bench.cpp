// CPU time of the sources' decoding work, without the network: one EAGLE poll (gen2
// device_query, targeted and <All>Y</All>; gen1 demand + summation fragments) and one
// Prometheus scrape of a 500-sample page. Prints "metric<TAB>value<TAB>unit" lines.
#include <time.h>

#include <cstdio>
#include <fstream>
#include <sstream>
#include <string>

#include "agent/sources/eagle_decode.h"
#include "agent/sources/prometheus_text.h"

namespace {

double CpuSeconds() {
  timespec ts{};
  clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
  return static_cast<double>(ts.tv_sec) + static_cast<double>(ts.tv_nsec) / 1e9;
}

std::string Fixture(const std::string& name) {
  std::ifstream in(std::string(GRANARY_SOURCE_DIR) + "/tests/fixtures/eagle/" + name);
  std::ostringstream text;
  text << in.rdbuf();
  if (text.str().empty()) {
    std::fprintf(stderr, "missing fixture %s\n", name.c_str());
    std::exit(1);
  }
  return text.str();
}

// Runs `body` until at least 0.5 s of CPU has gone and prints the CPU time per call.
template <typename Body>
void Measure(const char* metric, Body body) {
  int iterations = 0;
  double start = CpuSeconds();
  double elapsed = 0;
  do {
    for (int i = 0; i < 100; ++i) {
      if (!body()) {
        std::fprintf(stderr, "%s: decoding failed\n", metric);
        std::exit(1);
      }
    }
    iterations += 100;
    elapsed = CpuSeconds() - start;
  } while (elapsed < 0.5);
  std::printf("%s\t%.1f\tus CPU\n", metric, elapsed / iterations * 1e6);
}

// The three core variables only, as a targeted device_query answers them.
std::string TargetedReply(const std::string& all) {
  std::string out;
  size_t vars = all.find("<Variables>") + 11;
  out = all.substr(0, vars);
  for (const char* name : {"zigbee:InstantaneousDemand", "zigbee:CurrentSummationDelivered",
                           "zigbee:CurrentSummationReceived"}) {
    size_t at = all.find(name);
    size_t begin = all.rfind("<Variable>", at);
    size_t end = all.find("</Variable>", at) + 11;
    out += all.substr(begin, end - begin);
  }
  return out + all.substr(all.find("</Variables>"));
}

// 500 samples as a node exporter serves them: HELP/TYPE lines, labels, a histogram.
std::string PrometheusPage() {
  std::string page;
  int samples = 0;
  for (int metric = 0; samples < 500; ++metric) {
    page += "# HELP harvester_metric_" + std::to_string(metric) + " A harvester figure.\n";
    page += "# TYPE harvester_metric_" + std::to_string(metric) + " gauge\n";
    for (int i = 0; i < 10 && samples < 500; ++i, ++samples) {
      page += "harvester_metric_" + std::to_string(metric) + "{unit=\"arm" + std::to_string(i) +
              "\",mode=\"run\",le=\"0.25\"} " + std::to_string(1234.5 + samples) + "\n";
    }
  }
  return page;
}

}  // namespace

int main() {
  using namespace granary;
  std::string all = Fixture("eagle200_device_query_all_fw2019.xml");
  std::string targeted = TargetedReply(all);
  std::string demand = Fixture("eagle100_get_instantaneous_demand.xml");
  std::string summation = Fixture("eagle100_uploader_current_summation_reconstructed.xml");
  auto gen2 = [](const std::string& body) {
    auto q = eagle::ParseDeviceQuery(body);
    return q && eagle::DecodeDeviceQuery(*q).ok();
  };
  Measure("eagle gen2 poll, targeted device_query (3 variables)", [&] { return gen2(targeted); });
  Measure("eagle gen2 poll, <All>Y</All> device_query (43 variables)", [&] { return gen2(all); });
  Measure("eagle gen1 poll, demand + summation fragments", [&] {
    auto d = eagle::ParseFragment(demand);
    auto s = eagle::ParseFragment(summation);
    return d && s && eagle::DecodeFragment(*d).ok() && eagle::DecodeFragment(*s).ok();
  });
  std::string page = PrometheusPage();
  Measure("prometheus scrape parse, 500 samples", [&] {
    auto r = ParsePrometheusText(page, 10000);
    return r && r->size() == 500;
  });
  return 0;
}
