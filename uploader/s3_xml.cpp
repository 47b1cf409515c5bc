#include "uploader/s3_xml.h"

#include <expat.h>

#include <charconv>
#include <functional>
#include <memory>

namespace granary {
namespace {

// Collects the text of each element, keyed by its path below the root ("Contents/Key").
struct Collector {
  std::vector<std::string> stack;
  std::string text;
  std::function<void(const std::string& path)> on_start;
  std::function<void(const std::string& path, const std::string& text)> on_end;

  std::string Path() const {
    std::string p;
    for (size_t i = 1; i < stack.size(); ++i) p += (i > 1 ? "/" : "") + stack[i];
    return p;
  }
};

void XMLCALL Start(void* data, const XML_Char* name, const XML_Char**) {
  auto* c = static_cast<Collector*>(data);
  c->stack.emplace_back(name);
  c->text.clear();
  if (c->on_start) c->on_start(c->Path());
}

void XMLCALL End(void* data, const XML_Char*) {
  auto* c = static_cast<Collector*>(data);
  if (c->on_end) c->on_end(c->Path(), c->text);
  c->stack.pop_back();
  c->text.clear();
}

void XMLCALL Text(void* data, const XML_Char* s, int len) {
  auto* c = static_cast<Collector*>(data);
  if (c->text.size() < 64 * 1024) c->text.append(s, static_cast<size_t>(len));
}

Status Parse(std::string_view xml, Collector& c) {
  std::unique_ptr<XML_ParserStruct, void (*)(XML_Parser)> parser(XML_ParserCreate("UTF-8"),
                                                                 XML_ParserFree);
  if (!parser) return Error("out of memory creating an XML parser");
  XML_SetUserData(parser.get(), &c);
  XML_SetElementHandler(parser.get(), Start, End);
  XML_SetCharacterDataHandler(parser.get(), Text);
  if (XML_Parse(parser.get(), xml.data(), static_cast<int>(xml.size()), 1) == XML_STATUS_ERROR) {
    return Error(std::string("malformed XML: ") + XML_ErrorString(XML_GetErrorCode(parser.get())) +
                 " at line " + std::to_string(XML_GetCurrentLineNumber(parser.get())));
  }
  return Status::Ok();
}

std::string Unquote(std::string s) {
  if (s.size() >= 2 && s.front() == '"' && s.back() == '"') return s.substr(1, s.size() - 2);
  return s;
}

}  // namespace

Result<S3ErrorDocument> ParseS3Error(std::string_view xml) {
  S3ErrorDocument doc;
  bool is_error = false;
  Collector c;
  c.on_start = [&](const std::string& path) { is_error |= path.empty() && c.stack[0] == "Error"; };
  c.on_end = [&](const std::string& path, const std::string& text) {
    if (path == "Code") doc.code = text;
    if (path == "Message") doc.message = text;
  };
  if (Status s = Parse(xml, c); !s) return s.error();
  if (!is_error || doc.code.empty()) return Error("not an S3 error document");
  return doc;
}

Result<S3ListPage> ParseListObjectsV2(std::string_view xml) {
  S3ListPage page;
  bool root_ok = false;
  Collector c;
  c.on_start = [&](const std::string& path) {
    if (path.empty()) root_ok = c.stack[0] == "ListBucketResult";
    if (path == "Contents") page.objects.emplace_back();
  };
  c.on_end = [&](const std::string& path, const std::string& text) {
    if (path == "IsTruncated") page.truncated = text == "true";
    if (path == "NextContinuationToken") page.next_token = text;
    if (page.objects.empty()) return;
    if (path == "Contents/Key") page.objects.back().key = text;
    if (path == "Contents/ETag") page.objects.back().etag = Unquote(text);
    if (path == "Contents/Size") {
      std::from_chars(text.data(), text.data() + text.size(), page.objects.back().size);
    }
  };
  if (Status s = Parse(xml, c); !s) return s.error();
  if (!root_ok) return Error("not a ListBucketResult document");
  return page;
}

}  // namespace granary
