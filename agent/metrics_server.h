// Serves the latest metrics text on http://127.0.0.1:PORT/metrics (libmicrohttpd, its own
// thread). Loopback only: a device's metrics are for a local scraper or an SSH tunnel,
// never for the field network.
#pragma once

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

  // Replaces the text served from now on. Thread-safe.
  void Set(std::string text);
  // The port actually bound (useful when started on port 0).
  int port() const;

 private:
  struct Impl;
  explicit MetricsServer(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

}  // namespace granary
