// A small element tree over expat, for the short XML documents the programs read: what
// hardware gateways answer with (EAGLE) and S3 error documents. Not a general XML library:
// attributes, comments and namespaces are dropped, and an element's text is the
// concatenation of its direct character data.
#pragma once

#include <string>
#include <string_view>
#include <vector>

#include "platform/result.h"

namespace granary {

struct XmlElement {
  std::string name;
  std::string text;  // direct character data, untrimmed
  std::vector<XmlElement> children;

  // The first child whose name equals `child_name` ignoring ASCII case (devices match
  // element names case-insensitively, and firmware spells them either way), or nullptr.
  const XmlElement* Child(std::string_view child_name) const;
  // That child's text with surrounding whitespace removed; "" when there is no such child.
  std::string_view ChildText(std::string_view child_name) const;
};

// Parses one document. Leading whitespace is fine; anything malformed, truncated, deeper
// than 32 levels or with more than 100000 elements is an error naming the expat reason and
// the line.
Result<XmlElement> ParseXml(std::string_view text);

// XML character data escaping (&, <, >, ", '); bytes that are not UTF-8 become U+FFFD and
// control characters XML 1.0 forbids become '?'.
std::string XmlEscape(std::string_view text);

}  // namespace granary
