// Every EAGLE decoder over arbitrary replies: never crashes, and what decodes is sane
// (finite numbers; a chosen meter is one of the listed devices).
#include <cmath>
#include <cstdint>
#include <cstdlib>
#include <string_view>

#include "agent/sources/eagle_decode.h"

namespace {

void CheckValues(const granary::eagle::MeterValues& v) {
  for (const std::optional<double>& x : {v.demand_kw, v.delivered_kwh, v.received_kwh, v.price}) {
    if (x && !std::isfinite(*x)) std::abort();
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace granary::eagle;
  std::string_view body(reinterpret_cast<const char*>(data), size);
  if (auto devices = ParseDeviceList(body)) {
    std::optional<size_t> pick = SelectMeter(*devices, "");
    if (pick && (*pick >= devices->size() || !(*devices)[*pick].IsElectricMeter())) std::abort();
  }
  if (auto query = ParseDeviceQuery(body)) {
    (void)NeedsAllVariables(*query);
    if (auto values = DecodeDeviceQuery(*query)) CheckValues(*values);
  }
  if (auto fragment = ParseFragment(body)) {
    if (auto values = DecodeFragment(*fragment)) CheckValues(*values);
    (void)DecodeNetworkInfo(*fragment);
    (void)DecodeMessage(*fragment);
  }
  if (auto usage = DecodeUsageData(body)) CheckValues(usage->values);
  (void)ParseValue(body, "kW", Quantity::kPower);
  (void)ParseTime(body);
  return 0;
}
