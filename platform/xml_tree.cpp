#include "platform/xml_tree.h"

#include <expat.h>

#include <algorithm>
#include <memory>

#include "platform/strings.h"
#include "platform/utf8.h"

namespace granary {
namespace {

constexpr size_t kMaxDepth = 32;
constexpr size_t kMaxElements = 100000;

struct Builder {
  XmlElement root;
  std::vector<XmlElement*> stack;  // open elements; pointers stay valid while they are open
  size_t elements = 0;
  bool too_big = false;
  XML_Parser parser = nullptr;
};

void XMLCALL OnStart(void* data, const XML_Char* name, const XML_Char** /*attributes*/) {
  auto* b = static_cast<Builder*>(data);
  if (++b->elements > kMaxElements || b->stack.size() >= kMaxDepth) {
    b->too_big = true;
    XML_StopParser(b->parser, XML_FALSE);
    return;
  }
  XmlElement* element;
  if (b->stack.empty()) {
    element = &b->root;
  } else {
    // Only the innermost open element grows, so pointers to its ancestors stay valid.
    b->stack.back()->children.emplace_back();
    element = &b->stack.back()->children.back();
  }
  element->name = name;
  b->stack.push_back(element);
}

void XMLCALL OnEnd(void* data, const XML_Char* /*name*/) {
  static_cast<Builder*>(data)->stack.pop_back();
}

void XMLCALL OnText(void* data, const XML_Char* s, int len) {
  auto* b = static_cast<Builder*>(data);
  if (!b->stack.empty()) b->stack.back()->text.append(s, static_cast<size_t>(len));
}

struct ParserFree {
  void operator()(XML_ParserStruct* p) const { XML_ParserFree(p); }
};

}  // namespace

const XmlElement* XmlElement::Child(std::string_view child_name) const {
  for (const XmlElement& c : children) {
    if (EqualsIgnoreCase(c.name, child_name)) return &c;
  }
  return nullptr;
}

std::string_view XmlElement::ChildText(std::string_view child_name) const {
  const XmlElement* c = Child(child_name);
  return c == nullptr ? std::string_view() : TrimSpace(c->text);
}

Result<XmlElement> ParseXml(std::string_view text) {
  std::unique_ptr<XML_ParserStruct, ParserFree> parser(XML_ParserCreate("UTF-8"));
  if (!parser) return Error("out of memory creating an XML parser");
  Builder b;
  b.parser = parser.get();
  XML_SetUserData(parser.get(), &b);
  XML_SetElementHandler(parser.get(), OnStart, OnEnd);
  XML_SetCharacterDataHandler(parser.get(), OnText);
  // Fed in pieces: XML_Parse takes an int length.
  constexpr size_t kPiece = 1 << 20;
  size_t done = 0;
  XML_Status status = XML_STATUS_OK;
  do {
    size_t n = std::min(kPiece, text.size() - done);
    bool last = done + n == text.size();
    status = XML_Parse(parser.get(), text.data() + done, static_cast<int>(n), last);
    done += n;
  } while (status == XML_STATUS_OK && done < text.size());
  if (b.too_big) {
    return Error("XML too large (more than 100000 elements or 32 levels deep)");
  }
  if (status != XML_STATUS_OK) {
    return Error(std::string("malformed XML: ") + XML_ErrorString(XML_GetErrorCode(parser.get())) +
                 " at line " + std::to_string(XML_GetCurrentLineNumber(parser.get())));
  }
  return std::move(b.root);
}

std::string XmlEscape(std::string_view raw) {
  std::string text = RepairUtf8(raw);  // a document with a stray byte is not XML at all
  std::string out;
  out.reserve(text.size());
  for (char c : text) {
    switch (c) {
      case '&':
        out += "&amp;";
        break;
      case '<':
        out += "&lt;";
        break;
      case '>':
        out += "&gt;";
        break;
      case '"':
        out += "&quot;";
        break;
      case '\'':
        out += "&apos;";
        break;
      default:
        // XML 1.0 forbids most control characters even as references.
        if (static_cast<unsigned char>(c) < 0x20 && c != '\t' && c != '\n' && c != '\r') {
          out += '?';
        } else {
          out += c;
        }
    }
  }
  return out;
}

}  // namespace granary
