#include "agent/metrics_server.h"

#include <arpa/inet.h>
#include <fmt/format.h>
#include <netinet/in.h>

#include <cstring>
#include <mutex>

#include "platform/handles_mhd.h"

namespace granary {
namespace {

// A scraper needs one connection; a few more cover a curl from a shell alongside it.
constexpr unsigned kMaxConnections = 8;
constexpr unsigned kConnectionTimeoutS = 10;
constexpr const char* kContentType = "text/plain; version=0.0.4; charset=utf-8";

}  // namespace

struct MetricsServer::Impl {
  MhdDaemon daemon;
  std::mutex mu;
  std::function<std::string()> render;  // guarded by mu
  int port = 0;

  static MHD_Result Reply(MHD_Connection* connection, unsigned status, const std::string& body) {
    MhdResponse response(MHD_create_response_from_buffer(
        body.size(), const_cast<char*>(body.data()), MHD_RESPMEM_MUST_COPY));
    if (!response) return MHD_NO;
    MHD_add_response_header(response.get(), MHD_HTTP_HEADER_CONTENT_TYPE, kContentType);
    return MHD_queue_response(connection, status, response.get());
  }

  static MHD_Result Handle(void* cls, MHD_Connection* connection, const char* url,
                           const char* method, const char*, const char*, size_t*, void**) {
    auto* self = static_cast<Impl*>(cls);
    if (std::strcmp(method, "GET") != 0 && std::strcmp(method, "HEAD") != 0) {
      return Reply(connection, MHD_HTTP_METHOD_NOT_ALLOWED, "GET only\n");
    }
    if (std::strcmp(url, "/metrics") != 0)
      return Reply(connection, MHD_HTTP_NOT_FOUND, "try /metrics\n");
    std::function<std::string()> render;
    {
      std::lock_guard<std::mutex> lock(self->mu);
      render = self->render;
    }
    return Reply(connection, MHD_HTTP_OK, render ? render() : std::string());
  }
};

Result<std::unique_ptr<MetricsServer>> MetricsServer::Start(int port) {
  auto impl = std::make_unique<Impl>();
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_port = htons(static_cast<uint16_t>(port));
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  impl->daemon.reset(MHD_start_daemon(
      MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_POLL, static_cast<uint16_t>(port), nullptr, nullptr,
      &Impl::Handle, impl.get(), MHD_OPTION_SOCK_ADDR, &addr, MHD_OPTION_CONNECTION_LIMIT,
      kMaxConnections, MHD_OPTION_CONNECTION_TIMEOUT, kConnectionTimeoutS, MHD_OPTION_END));
  if (!impl->daemon) return Error(fmt::format("metrics: cannot listen on 127.0.0.1:{}", port));
  const MHD_DaemonInfo* info = MHD_get_daemon_info(impl->daemon.get(), MHD_DAEMON_INFO_BIND_PORT);
  impl->port = info != nullptr ? info->port : port;
  return std::unique_ptr<MetricsServer>(new MetricsServer(std::move(impl)));
}

MetricsServer::MetricsServer(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
MetricsServer::~MetricsServer() = default;

void MetricsServer::Set(std::function<std::string()> render) {
  std::lock_guard<std::mutex> lock(impl_->mu);
  impl_->render = std::move(render);
}

void MetricsServer::Set(std::string text) {
  Set([text = std::move(text)] { return text; });
}

int MetricsServer::port() const { return impl_->port; }

}  // namespace granary
