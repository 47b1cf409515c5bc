// A stand-in source registry for config_test, so the loader's tests pin their messages
// without depending on the real source types' keys. Three types cover every ConfigReader
// getter the real ones use, nested arrays of tables included.
#include <algorithm>

#include "agent/sources/source.h"

namespace granary {
namespace {

class IdleSource : public Source {
 public:
  Result<std::vector<SourceReading>> Poll(std::chrono::milliseconds) override {
    return std::vector<SourceReading>{};
  }
};

std::unique_ptr<Source> CreateSynthetic(ConfigReader& reader) {
  reader.Integer("rate", 1, 1, 1'000'000);
  reader.Size("payload_bytes", 100, 0);
  return std::make_unique<IdleSource>();
}

std::unique_ptr<Source> CreateHttpJson(ConfigReader& reader) {
  size_t errors_before = reader.diagnostics()->errors.size();
  reader.RequiredString("url");
  reader.SecretString("password", "");
  reader.StringArray("headers");
  reader.StringMap("fields");
  reader.Bool("tls_verify", true);
  if (reader.diagnostics()->errors.size() > errors_before) return nullptr;
  return std::make_unique<IdleSource>();
}

std::unique_ptr<Source> CreateFile(ConfigReader& reader) {
  for (ConfigReader& entry : reader.TableArray("files")) {
    entry.RequiredString("name");
    entry.RequiredString("path");
    entry.Number("scale", 1.0);
    entry.Finish();
  }
  return std::make_unique<IdleSource>();
}

}  // namespace

const std::vector<SourceType>& SourceTypes() {
  static const std::vector<SourceType> types = {
      {"synthetic", &CreateSynthetic}, {"http_json", &CreateHttpJson}, {"file", &CreateFile}};
  return types;
}

const SourceType* FindSourceType(std::string_view name) {
  const std::vector<SourceType>& types = SourceTypes();
  auto it = std::find_if(types.begin(), types.end(),
                         [name](const SourceType& t) { return t.name == name; });
  return it == types.end() ? nullptr : &*it;
}

}  // namespace granary
