// type = "http_json": GET a URL and store its JSON object, or selected fields of it.
// Bad replies (error statuses, HTML pages, huge or endless bodies, hangs) fail the poll with
// a message naming the URL and quoting the start of the reply; nothing else is affected.
#include <fmt/format.h>

#include <filesystem>

#include "agent/sources/http_client.h"
#include "agent/sources/http_source.h"
#include "agent/sources/json_pointer.h"
#include "agent/sources/json_text.h"
#include "agent/sources/quote.h"
#include "agent/sources/source.h"
#include "platform/handles.h"

namespace granary {
namespace {

using std::chrono::milliseconds;

constexpr uint64_t kDefaultMaxBody = 1ULL << 20;
constexpr size_t kQuoteBytes = 256;

std::string QuoteRaw(std::string_view raw) { return granary::QuoteRaw(raw, kQuoteBytes); }

struct Field {
  std::string name;
  JsonPointer pointer;
};

struct HttpJsonOptions {
  HttpClientOptions http;
  std::vector<Field> fields;  // empty: the whole body
};

class HttpJsonSource : public HttpSource {
 public:
  explicit HttpJsonSource(HttpJsonOptions options)
      : HttpSource(std::move(options.http)),
        fields_(std::move(options.fields)),
        display_url_(client().display_url()) {}

  Result<std::vector<SourceReading>> Parse(HttpReply reply) override {
    if (reply.status < 200 || reply.status > 299) return client().StatusError(reply);
    Result<std::string> data = Extract(reply.body);
    if (!data) return data.error();
    return std::vector<SourceReading>{{0, std::move(data.value())}};
  }

 private:
  // The reading's data: the body's object, or the selected fields of it, compact.
  Result<std::string> Extract(const std::string& body) const {
    if (Status s = CheckUtf8(body); !s) {
      return Error("reply from " + display_url_ + " is " + s.error().message() + ": " +
                   QuoteRaw(body));
    }
    const char* end = nullptr;
    CjsonPtr root(cJSON_ParseWithLengthOpts(body.data(), body.size(), &end, false));
    bool trailing = false;
    if (root) {
      auto consumed = static_cast<size_t>(end - body.data());
      trailing = body.find_first_not_of(" \t\r\n", consumed) != std::string::npos;
    }
    if (!root || trailing) {
      return Error("reply from " + display_url_ + " is not JSON: " + QuoteRaw(body));
    }
    if (!cJSON_IsObject(root.get())) {
      return Error("reply from " + display_url_ + " is not a JSON object: " + QuoteRaw(body));
    }
    if (Status s = CheckValues(root.get()); !s) {
      return Error("reply from " + display_url_ + " has " + s.error().message() + ": " +
                   QuoteRaw(body));
    }
    // The whole body is kept as sent; selected fields go through cJSON, which would cut a
    // string at its \u0000.
    if (fields_.empty()) {
      Result<std::string> compact = CompactJson(body);
      if (!compact) {
        return Error("reply from " + display_url_ + " has " + compact.error().message() + ": " +
                     QuoteRaw(body));
      }
      return compact;
    }
    if (HasNulEscape(body)) {
      return Error("reply from " + display_url_ +
                   " has a string with \\u0000, which a selected field cannot keep; select no "
                   "fields to store the reply whole: " +
                   QuoteRaw(body));
    }

    CjsonPtr out(cJSON_CreateObject());
    if (!out) return Error("reply from " + display_url_ + ": out of memory");
    for (const Field& f : fields_) {
      const cJSON* node = f.pointer.Find(root.get());
      if (node == nullptr) {
        return Error(fmt::format("reply from {}: field {}: JSON pointer \"{}\" not found: {}",
                                 display_url_, f.name, f.pointer.text(), QuoteRaw(body)));
      }
      CjsonPtr copy(cJSON_Duplicate(node, true));
      if (!copy || !cJSON_AddItemToObject(out.get(), f.name.c_str(), copy.get())) {
        return Error("reply from " + display_url_ + ": out of memory");
      }
      (void)copy.release();  // owned by `out` now
    }
    return Print(*out);
  }

  Result<std::string> Print(const cJSON& json) const {
    CjsonString text(cJSON_PrintUnformatted(&json));
    if (!text) return Error("reply from " + display_url_ + ": out of memory");
    return std::string(text.get());
  }

  const std::vector<Field> fields_;  // empty: the whole body
  const std::string display_url_;
};

std::vector<Field> ReadFields(ConfigReader& reader) {
  std::vector<Field> fields;
  if (!reader.Has("fields")) return fields;
  std::vector<std::pair<std::string, std::string>> map = reader.StringMap("fields");
  if (map.empty()) reader.Fail("fields", "must name at least one field (or be left out)");
  for (auto& [name, text] : map) {
    Result<JsonPointer> pointer = JsonPointer::Parse(text);
    if (!pointer) {
      reader.Fail("fields", name + ": " + pointer.error().message());
      continue;
    }
    fields.push_back({name, std::move(pointer.value())});
  }
  return fields;
}

std::unique_ptr<Source> CreateHttpJson(ConfigReader& reader) {
  size_t errors_before = reader.diagnostics()->errors.size();
  HttpJsonOptions o;
  HttpClientOptions& h = o.http;
  h.url = reader.RequiredString("url");
  h.connect_timeout = std::chrono::hours(24);  // the poll's timeout bounds the connect too
  if (!h.url.empty() && !HasHttpScheme(h.url)) {
    reader.Fail("url", "must be an http:// or https:// URL (got \"" + DisplayUrl(h.url) + "\")");
  } else if (DisplayUrl(h.url) != h.url) {
    // The URL is shown by check-config, status and errors; a password in it would leak.
    reader.Fail("url", "must not hold a password (got \"" + DisplayUrl(h.url) +
                           "\"); use username and password");
  }
  o.fields = ReadFields(reader);
  h.max_body = reader.Size("max_body", kDefaultMaxBody, 2);
  h.headers = reader.StringArray("headers");
  for (const std::string& header : h.headers) {
    size_t colon = header.find(':');
    if (colon == std::string::npos || colon == 0 ||
        header.find_first_of("\r\n") != std::string::npos) {
      // The header itself is not quoted: it may carry a token.
      reader.Fail("headers", "each entry must be \"Name: value\" on one line");
      break;
    }
  }
  h.username = reader.String("username", "");
  h.password = reader.SecretString("password", "");
  if (!h.password.empty() && h.username.empty()) {
    reader.Fail("password", "needs a username");
  }
  h.tls_verify = reader.Bool("tls_verify", true);
  h.ca_file = reader.String("ca_file", "");
  std::error_code ec;
  if (!h.ca_file.empty() && !std::filesystem::is_regular_file(h.ca_file, ec)) {
    reader.Fail("ca_file", "no such file: " + h.ca_file);
  }
  if (reader.diagnostics()->errors.size() > errors_before) return nullptr;
  return std::make_unique<HttpJsonSource>(std::move(o));
}

}  // namespace

extern const SourceType kHttpJsonSourceType{"http_json", &CreateHttpJson};

}  // namespace granary
