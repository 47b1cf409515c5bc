#include "agent/sources/json_pointer.h"

#include <cstring>
#include <limits>

namespace granary {
namespace {

// RFC 6901 section 4: array indices are "0" or digits without a leading zero.
bool ParseIndex(const std::string& token, size_t* index) {
  if (token.empty() || (token.size() > 1 && token[0] == '0')) return false;
  size_t value = 0;
  for (char c : token) {
    if (c < '0' || c > '9') return false;
    auto digit = static_cast<size_t>(c - '0');
    if (value > (std::numeric_limits<size_t>::max() - digit) / 10) return false;
    value = value * 10 + digit;
  }
  *index = value;
  return true;
}

}  // namespace

Result<JsonPointer> JsonPointer::Parse(std::string_view text) {
  std::vector<std::string> tokens;
  if (text.empty()) return JsonPointer(std::string(text), std::move(tokens));
  if (text[0] != '/') {
    return Error("JSON pointer \"" + std::string(text) + "\" must be empty or start with '/'");
  }
  std::string token;
  for (size_t i = 1; i <= text.size(); ++i) {
    if (i == text.size() || text[i] == '/') {
      tokens.push_back(std::move(token));
      token.clear();
    } else if (text[i] == '~') {
      char next = i + 1 < text.size() ? text[i + 1] : '\0';
      if (next != '0' && next != '1') {
        return Error("JSON pointer \"" + std::string(text) +
                     "\": '~' must be followed by '0' or '1'");
      }
      token += next == '0' ? '~' : '/';
      ++i;
    } else {
      token += text[i];
    }
  }
  return JsonPointer(std::string(text), std::move(tokens));
}

const cJSON* JsonPointer::Find(const cJSON* root) const {
  const cJSON* node = root;
  for (const std::string& token : tokens_) {
    if (node == nullptr) return nullptr;
    const cJSON* next = nullptr;
    if (cJSON_IsObject(node)) {
      // By hand rather than cJSON_GetObjectItemCaseSensitive: a token may hold a NUL
      // byte, which a C-string lookup would silently cut short.
      for (const cJSON* child = node->child; child != nullptr; child = child->next) {
        if (child->string != nullptr && std::strlen(child->string) == token.size() &&
            token.compare(0, token.size(), child->string) == 0) {
          next = child;
          break;
        }
      }
    } else if (cJSON_IsArray(node)) {
      size_t index = 0;
      if (!ParseIndex(token, &index)) return nullptr;
      const cJSON* child = node->child;
      for (size_t i = 0; child != nullptr && i < index; ++i) child = child->next;
      next = child;
    }
    node = next;
  }
  return node;
}

}  // namespace granary
