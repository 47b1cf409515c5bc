// A source whose poll is exactly one HTTP request (http_json, prometheus). The scheduler runs
// all of these on one shared HttpLoop instead of giving each a thread; Poll() runs the same
// request blocking, for `granary poll` and for tests.
#pragma once

#include <chrono>
#include <optional>
#include <utility>
#include <vector>

#include "agent/sources/http_client.h"
#include "agent/sources/source.h"

namespace granary {

class HttpSource : public Source {
 public:
  explicit HttpSource(HttpClientOptions options) : client_(std::move(options)) {}

  Result<std::vector<SourceReading>> Poll(std::chrono::milliseconds timeout) final {
    Result<HttpReply> reply = client_.Fetch(std::nullopt, timeout);
    if (!reply) return reply.error();
    return Parse(std::move(*reply));
  }

  // The readings in one reply, whatever its status. Called on the thread that polls.
  virtual Result<std::vector<SourceReading>> Parse(HttpReply reply) = 0;

  // The GET each poll makes.
  HttpClient& client() { return client_; }

 private:
  HttpClient client_;
};

}  // namespace granary
