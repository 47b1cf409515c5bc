// The fleet dashboard's static files: GET / (index.html) and GET /ui/{file} from
// [dashboard].www_dir, else the copy built into the binary, and /ui/chart.js from Debian's
// libjs-chart.js ([dashboard].chartjs_dir). No token: the pages hold no data; the page's
// scripts read the API with the reader's bearer token.
//
// "ui" is too short to be a bucket name, so /ui/ never shadows S3; "/" goes to the
// dashboard only when the request is not an S3 call (no SigV4 Authorization, no query).
#pragma once

#include <memory>
#include <string_view>
#include <vector>

#include "receiver/context.h"

namespace granary::receiver {

struct EmbeddedFile {
  std::string_view name;  // "index.html", "app.js", ...
  std::string_view data;
};

// The files of receiver/www as they were at build time (generated: www_embedded.cpp).
const std::vector<EmbeddedFile>& EmbeddedWww();

bool IsDashboardRequest(const HttpRequest& request);
std::unique_ptr<HttpExchange> NewDashboardExchange(ReceiverContext& context, HttpRequest request);

// The headers every dashboard and API answer carries: a strict Content-Security-Policy (no
// inline script or style, nothing from elsewhere), nosniff, and no Referer leaving the page.
void AddBrowserHeaders(HttpResponse& response);

}  // namespace granary::receiver
