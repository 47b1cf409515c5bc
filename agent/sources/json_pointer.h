// JSON pointers (RFC 6901) over cJSON trees: "/data/power", "/list/0", "/a~1b" (key "a/b").
#pragma once

#include <cjson/cJSON.h>

#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "platform/result.h"

namespace granary {

class JsonPointer {
 public:
  // "" names the whole document; anything else must start with '/'. A '~' must be
  // followed by '0' or '1'. The error says which rule the text broke.
  static Result<JsonPointer> Parse(std::string_view text);

  // The node this pointer names in `root`, or nullptr when there is none: a missing member,
  // an index past the end, "-", a non-numeric or zero-padded index, or a step into a scalar.
  // Members are matched case-sensitively; with duplicate keys the first one wins.
  const cJSON* Find(const cJSON* root) const;

  const std::string& text() const { return text_; }
  // Unescaped reference tokens, e.g. {"a/b", "0"} for "/a~1b/0".
  const std::vector<std::string>& tokens() const { return tokens_; }

 private:
  JsonPointer(std::string text, std::vector<std::string> tokens)
      : text_(std::move(text)), tokens_(std::move(tokens)) {}

  std::string text_;
  std::vector<std::string> tokens_;
};

}  // namespace granary
