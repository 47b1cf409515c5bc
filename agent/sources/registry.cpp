// The table of source types. Adding a type: write agent/sources/<type>.cpp defining
// `extern const SourceType k<Type>SourceType`, then add one declaration and one table entry.
#include <algorithm>

#include "agent/sources/source.h"
#include "config/units.h"

namespace granary {

extern const SourceType kSyntheticSourceType;
extern const SourceType kHttpJsonSourceType;
extern const SourceType kFileSourceType;
extern const SourceType kEagleSourceType;
extern const SourceType kPrometheusSourceType;
extern const SourceType kExecSourceType;
extern const SourceType kSystemSourceType;

const std::vector<SourceType>& SourceTypes() {
  // A function-local static: the entries are defined in other files, whose initialization
  // order relative to a namespace-scope table would be unspecified.
  static const std::vector<SourceType> types = {
      kSyntheticSourceType,  kHttpJsonSourceType, kFileSourceType,   kEagleSourceType,
      kPrometheusSourceType, kExecSourceType,     kSystemSourceType,
  };
  return types;
}

std::chrono::milliseconds SourceInterval(const ConfigReader& reader) {
  constexpr std::chrono::milliseconds kDefault{10'000};
  std::optional<std::string> text = reader.table()["interval"].value<std::string>();
  if (!text) return kDefault;
  Result<std::chrono::milliseconds> parsed = ParseDuration(*text);
  if (!parsed || parsed.value() <= std::chrono::milliseconds::zero()) return kDefault;
  return parsed.value();
}

const SourceType* FindSourceType(std::string_view name) {
  const std::vector<SourceType>& types = SourceTypes();
  auto it = std::find_if(types.begin(), types.end(),
                         [name](const SourceType& t) { return t.name == name; });
  return it == types.end() ? nullptr : &*it;
}

}  // namespace granary
