// type = "system": the health of the device the agent runs on, one reading per poll:
//   {"cpu_percent":12.5,"load1":0.42,"load5":0.3,"load15":0.25,"mem_total_bytes":…,
//    "mem_available_bytes":…,"mem_used_percent":41.2,"uptime_s":86400.5,"temp_c":48.5,
//    "disks":{"/":{"total_bytes":…,"avail_bytes":…,"used_percent":63.1}}}
// From /proc/stat (CPU busy share since the previous poll), /proc/loadavg, /proc/meminfo,
// /proc/uptime, statvfs of each configured path, and the hottest
// /sys/class/thermal/thermal_zone*/temp. A value the device lacks (no thermal zone) is left
// out; a file that exists but cannot be parsed fails the poll.
#include <fmt/format.h>
#include <sys/statvfs.h>

#include <cmath>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <sstream>

#include "agent/sources/quote.h"
#include "agent/sources/source.h"

namespace granary {
namespace {

using std::chrono::milliseconds;

struct SystemOptions {
  std::vector<std::string> disks = {"/"};
  std::string proc_root = "/proc";  // other roots are for tests and containers
  std::string sys_root = "/sys";
};

Result<std::string> ReadText(const std::string& path) {
  std::ifstream in(path);
  if (!in) return Error::FromErrno("open " + path);
  std::ostringstream text;
  text << in.rdbuf();
  return text.str();
}

struct CpuTimes {
  uint64_t busy = 0;
  uint64_t total = 0;
};

// The aggregate "cpu" line: user nice system idle iowait irq softirq steal (guest time is
// already inside user and nice).
Result<CpuTimes> ReadCpu(const std::string& proc_root) {
  std::string path = proc_root + "/stat";
  Result<std::string> text = ReadText(path);
  if (!text) return text.error();
  unsigned long long v[8] = {};
  if (std::sscanf(text->c_str(), "cpu %llu %llu %llu %llu %llu %llu %llu %llu", &v[0], &v[1], &v[2],
                  &v[3], &v[4], &v[5], &v[6], &v[7]) < 4) {
    return Error(path + ": no cpu line: " + QuoteRaw(*text, 64));
  }
  CpuTimes t;
  for (unsigned long long x : v) t.total += x;
  t.busy = t.total - v[3] - v[4];  // idle and iowait are not busy
  return t;
}

class SystemSource : public Source {
 public:
  explicit SystemSource(SystemOptions options) : o_(std::move(options)) {
    // A first sample now, so the first poll already has a CPU share to report.
    Result<CpuTimes> cpu = ReadCpu(o_.proc_root);
    if (cpu) last_cpu_ = *cpu;
  }

  Result<std::vector<SourceReading>> Poll(milliseconds /*timeout*/) override {
    std::string json = "{";
    auto add = [&json](std::string_view key, auto value) {
      if (json.size() > 1) json += ',';
      json += fmt::format("\"{}\":{}", key, value);
    };
    Result<CpuTimes> cpu = ReadCpu(o_.proc_root);
    if (!cpu) return cpu.error();
    if (cpu->total > last_cpu_.total && cpu->busy >= last_cpu_.busy) {
      double share = static_cast<double>(cpu->busy - last_cpu_.busy) /
                     static_cast<double>(cpu->total - last_cpu_.total);
      add("cpu_percent", Round(100 * share));
    }
    last_cpu_ = *cpu;

    std::string load_path = o_.proc_root + "/loadavg";
    Result<std::string> load = ReadText(load_path);
    if (!load) return load.error();
    double l1, l5, l15;
    if (std::sscanf(load->c_str(), "%lf %lf %lf", &l1, &l5, &l15) != 3) {
      return Error(load_path + ": not a load average: " + QuoteRaw(*load, 64));
    }
    add("load1", l1);
    add("load5", l5);
    add("load15", l15);

    Status mem = AddMemory(add);
    if (!mem) return mem.error();

    std::string uptime_path = o_.proc_root + "/uptime";
    Result<std::string> uptime = ReadText(uptime_path);
    if (!uptime) return uptime.error();
    double up;
    if (std::sscanf(uptime->c_str(), "%lf", &up) != 1) {
      return Error(uptime_path + ": not an uptime: " + QuoteRaw(*uptime, 64));
    }
    add("uptime_s", up);

    std::optional<double> temp = HottestZone();
    if (temp) add("temp_c", *temp);

    std::string disks = "{";
    for (const std::string& path : o_.disks) {
      struct statvfs fs {};
      if (statvfs(path.c_str(), &fs) != 0) return Error::FromErrno("statvfs " + path);
      uint64_t total = static_cast<uint64_t>(fs.f_blocks) * fs.f_frsize;
      uint64_t avail = static_cast<uint64_t>(fs.f_bavail) * fs.f_frsize;
      uint64_t free = static_cast<uint64_t>(fs.f_bfree) * fs.f_frsize;
      // As df computes it: used over what an unprivileged user could have.
      uint64_t used = total - free;
      double percent = used + avail > 0
                           ? 100.0 * static_cast<double>(used) / static_cast<double>(used + avail)
                           : 0;
      if (disks.size() > 1) disks += ',';
      disks += fmt::format("{}:{{\"total_bytes\":{},\"avail_bytes\":{},\"used_percent\":{}}}",
                           QuoteRaw(path, 4096), total, avail, Round(percent));
    }
    add("disks", disks + "}");
    return std::vector<SourceReading>{{0, json + "}"}};
  }

 private:
  static double Round(double v) { return std::round(v * 10) / 10; }

  template <typename Add>
  Status AddMemory(Add& add) {
    std::string path = o_.proc_root + "/meminfo";
    Result<std::string> text = ReadText(path);
    if (!text) return text.error();
    std::optional<uint64_t> total, available;
    std::istringstream lines(*text);
    std::string line;
    while (std::getline(lines, line)) {
      unsigned long long kib;
      if (std::sscanf(line.c_str(), "MemTotal: %llu kB", &kib) == 1) total = kib * 1024;
      if (std::sscanf(line.c_str(), "MemAvailable: %llu kB", &kib) == 1) available = kib * 1024;
    }
    if (!total || !available || *total == 0) {
      return Error(path + ": no MemTotal or MemAvailable: " + QuoteRaw(*text, 64));
    }
    add("mem_total_bytes", *total);
    add("mem_available_bytes", *available);
    add("mem_used_percent",
        Round(100.0 * static_cast<double>(*total - std::min(*total, *available)) /
              static_cast<double>(*total)));
    return Status::Ok();
  }

  // The hottest thermal zone in °C; zones that fail to read (a sensor off) are skipped.
  std::optional<double> HottestZone() const {
    std::error_code ec;
    std::optional<double> hottest;
    std::filesystem::path dir = o_.sys_root + "/class/thermal";
    for (const auto& entry : std::filesystem::directory_iterator(dir, ec)) {
      if (entry.path().filename().string().rfind("thermal_zone", 0) != 0) continue;
      Result<std::string> text = ReadText((entry.path() / "temp").string());
      long long millidegrees;
      if (!text || std::sscanf(text->c_str(), "%lld", &millidegrees) != 1) continue;
      double c = static_cast<double>(millidegrees) / 1000;
      if (!hottest || c > *hottest) hottest = c;
    }
    return hottest;
  }

  const SystemOptions o_;
  CpuTimes last_cpu_;
};

std::unique_ptr<Source> CreateSystem(ConfigReader& reader) {
  size_t errors_before = reader.diagnostics()->errors.size();
  SystemOptions o;
  if (reader.Has("disks")) o.disks = reader.StringArray("disks");
  for (const std::string& d : o.disks) {
    if (d.empty() || d[0] != '/') {
      reader.Fail("disks", "each entry must be an absolute path (got " + QuoteRaw(d, 128) + ")");
      break;
    }
  }
  o.proc_root = reader.String("proc_root", o.proc_root);
  o.sys_root = reader.String("sys_root", o.sys_root);
  if (reader.diagnostics()->errors.size() > errors_before) return nullptr;
  return std::make_unique<SystemSource>(std::move(o));
}

}  // namespace

extern const SourceType kSystemSourceType{"system", &CreateSystem};

}  // namespace granary
