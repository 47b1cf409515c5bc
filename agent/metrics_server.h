// Serves the metrics text on http://127.0.0.1:PORT/metrics (libmicrohttpd, its own thread),
// made when a scraper asks rather than on every status pass. Loopback only: a device's
// metrics are for a local scraper or an SSH tunnel, never for the field network.
#pragma once

#include <functional>
#include <memory>
#include <string>

#include "platform/result.h"

namespace granary {

class MetricsServer {
 public:
  static Result<std::unique_ptr<MetricsServer>> Start(int port);
  ~MetricsServer();
  MetricsServer(const MetricsServer&) = delete;
  MetricsServer& operator=(const MetricsServer&) = delete;

  // What the following requests are answered with: `render` runs on the server's thread,
  // once per request. Thread-safe.
  void Set(std::function<std::string()> render);
  // A fixed text.
  void Set(std::string text);
  // The port actually bound (useful when started on port 0).
  int port() const;

 private:
  struct Impl;
  explicit MetricsServer(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

}  // namespace granary
