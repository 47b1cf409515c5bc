#include "receiver/dashboard.h"

#include <algorithm>

#include "platform/log.h"

namespace granary::receiver {
namespace {

constexpr uint64_t kMaxFileBytes = 8 << 20;

std::string_view ContentType(std::string_view name) {
  if (name.ends_with(".html")) return "text/html; charset=utf-8";
  if (name.ends_with(".js")) return "text/javascript; charset=utf-8";
  if (name.ends_with(".css")) return "text/css; charset=utf-8";
  if (name.ends_with(".svg")) return "image/svg+xml";
  return "application/octet-stream";
}

// One path segment of [a-z0-9_.-], not starting with '.': nothing can climb out of www_dir.
bool IsFileName(std::string_view name) {
  if (name.empty() || name.front() == '.' || name.size() > 64) return false;
  return std::all_of(name.begin(), name.end(), [](char c) {
    return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_' || c == '.' || c == '-';
  });
}

HttpResponse Plain(int status, const std::string& text) {
  HttpResponse r = HttpResponse::Text(status, text + "\n");
  AddBrowserHeaders(r);
  return r;
}

class DashboardExchange final : public HttpExchange {
 public:
  DashboardExchange(ReceiverContext& context, HttpRequest request)
      : ctx_(context), request_(std::move(request)) {}
  ~DashboardExchange() override { ctx_.metrics.CountRequest(request_.method, status_); }

  std::optional<HttpResponse> Start() override {
    HttpResponse r = Answer();
    status_ = r.status;
    if (request_.method == "HEAD") r.body.clear();
    return r;
  }
  HttpResponse Finish() override { return Plain(400, "no request body expected"); }

 private:
  HttpResponse Answer() {
    if (!ctx_.config.dashboard_enabled) return Plain(404, "the dashboard is off ([dashboard])");
    if (request_.method != "GET" && request_.method != "HEAD") return Plain(405, "GET only");
    std::string name = request_.raw_path == "/" ? "index.html" : request_.raw_path.substr(4);
    if (!IsFileName(name)) return Plain(404, "no such file");
    if (name == "chart.js") return ChartJs();
    if (!ctx_.config.dashboard_www_dir.empty()) {
      return FromDisk(ctx_.config.dashboard_www_dir + "/" + name, name, "www_dir");
    }
    for (const EmbeddedFile& f : EmbeddedWww()) {
      if (f.name == name) return File(std::string(f.data), name);
    }
    return Plain(404, "no such file");
  }

  HttpResponse ChartJs() {
    // 3.x ships chart.min.js as UMD (a global Chart), what a classic <script> loads.
    return FromDisk(ctx_.config.dashboard_chartjs_dir + "/chart.min.js", "chart.js",
                    "chartjs_dir (Debian package libjs-chart.js)");
  }

  HttpResponse FromDisk(const std::string& path, const std::string& name, const char* key) {
    Result<std::string> data = ctx_.env.ReadFile(path, kMaxFileBytes);
    if (!data) {
      if (data.error().sys_errno() != ENOENT) {
        log::Error("dashboard: {}", data.error().message());
        return Plain(500, "cannot read " + name);
      }
      if (name != "favicon.ico")
        log::Warning("dashboard: {} is missing ([dashboard] {})", path, key);
      return Plain(404, name + " is not installed ([dashboard] " + key + ")");
    }
    return File(std::move(*data), name);
  }

  HttpResponse File(std::string data, const std::string& name) {
    HttpResponse r = HttpResponse::Text(200, std::move(data), std::string(ContentType(name)));
    r.headers.emplace_back("Cache-Control", "no-cache");
    AddBrowserHeaders(r);
    return r;
  }

  ReceiverContext& ctx_;
  HttpRequest request_;
  int status_ = 0;
};

}  // namespace

bool IsDashboardRequest(const HttpRequest& request) {
  if (request.raw_path.starts_with("/ui/")) return true;
  if (request.raw_path != "/" || !request.raw_query.empty()) return false;
  // A signed S3 call to "/" (ListBuckets) keeps going to S3 and its answer.
  return !request.Header("authorization").starts_with("AWS4-");
}

std::unique_ptr<HttpExchange> NewDashboardExchange(ReceiverContext& context, HttpRequest request) {
  return std::make_unique<DashboardExchange>(context, std::move(request));
}

void AddBrowserHeaders(HttpResponse& response) {
  response.headers.emplace_back(
      "Content-Security-Policy",
      "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
      "connect-src 'self'; object-src 'none'; base-uri 'none'; form-action 'self'; "
      "frame-ancestors 'none'");
  response.headers.emplace_back("X-Content-Type-Options", "nosniff");
  response.headers.emplace_back("Referrer-Policy", "no-referrer");
}

}  // namespace granary::receiver
