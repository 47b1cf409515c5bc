// Builds a source from the TOML text of its [[source]] table, as the config loader would.
#pragma once

#include <gtest/gtest.h>
#include <toml++/toml.h>

#include <memory>
#include <string>
#include <vector>

#include "agent/sources/source.h"

namespace granary::testing {

// A source built from the TOML text of its [[source]] table, with the config errors it raised.
struct Built {
  std::unique_ptr<Source> source;
  std::vector<std::string> errors;
  std::string AllErrors() const {
    std::string all;
    for (const std::string& e : errors) all += e + "\n";
    return all;
  }
};

inline Built Build(const std::string& toml_text) {
  toml::table table = toml::parse(toml_text);
  auto diag = std::make_shared<ConfigDiagnostics>();
  diag->file = "test.toml";
  ConfigReader reader(diag, table, "source.x");
  const SourceType* type = FindSourceType(table["type"].value_or(std::string()));
  EXPECT_NE(type, nullptr) << toml_text;
  if (type == nullptr) return {};
  Built built{type->create(reader), {}};
  built.errors = diag->errors;
  return built;
}

}  // namespace granary::testing
