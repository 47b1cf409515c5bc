#include "agent/metrics_server.h"

#include <arpa/inet.h>
#include <dlfcn.h>
#include <fmt/format.h>
#include <microhttpd.h>
#include <netinet/in.h>

#include <cstring>
#include <mutex>

namespace granary {
namespace {

// A scraper needs one connection; a few more cover a curl from a shell alongside it.
constexpr unsigned kMaxConnections = 8;
constexpr unsigned kConnectionTimeoutS = 10;
constexpr const char* kContentType = "text/plain; version=0.0.4; charset=utf-8";

// libmicrohttpd is loaded the first time a metrics server starts, not linked: its
// constructor initialises GnuTLS (about 110 KiB of private memory, docs/benchmarks.md), and
// most agents never serve /metrics. The library stays loaded for the process's life.
constexpr const char* kMhdSoname = "libmicrohttpd.so.12";

struct Mhd {
  decltype(&::MHD_start_daemon) start_daemon = nullptr;
  decltype(&::MHD_stop_daemon) stop_daemon = nullptr;
  decltype(&::MHD_get_daemon_info) get_daemon_info = nullptr;
  decltype(&::MHD_create_response_from_buffer) create_response_from_buffer = nullptr;
  decltype(&::MHD_add_response_header) add_response_header = nullptr;
  decltype(&::MHD_queue_response) queue_response = nullptr;
  decltype(&::MHD_destroy_response) destroy_response = nullptr;
};

template <typename F>
bool Bind(void* library, const char* name, F& fn) {
  fn = reinterpret_cast<F>(::dlsym(library, name));
  return fn != nullptr;
}

// The loaded library, or an error saying what is missing.
Result<const Mhd*> LoadMhd() {
  static std::mutex mu;
  static Mhd mhd;
  std::lock_guard<std::mutex> lock(mu);
  if (mhd.start_daemon != nullptr) return &mhd;
  void* library = ::dlopen(kMhdSoname, RTLD_NOW | RTLD_LOCAL);
  if (library == nullptr) {
    const char* why = ::dlerror();
    return Error(
        fmt::format("metrics: cannot load {} ({}); install libmicrohttpd12 or remove "
                    "listen_port",
                    kMhdSoname, why != nullptr ? why : "unknown error"));
  }
  Mhd loaded;
  bool ok = Bind(library, "MHD_stop_daemon", loaded.stop_daemon) &&
            Bind(library, "MHD_get_daemon_info", loaded.get_daemon_info) &&
            Bind(library, "MHD_create_response_from_buffer", loaded.create_response_from_buffer) &&
            Bind(library, "MHD_add_response_header", loaded.add_response_header) &&
            Bind(library, "MHD_queue_response", loaded.queue_response) &&
            Bind(library, "MHD_destroy_response", loaded.destroy_response) &&
            Bind(library, "MHD_start_daemon", loaded.start_daemon);
  if (!ok) return Error(fmt::format("metrics: {} lacks a function the agent calls", kMhdSoname));
  mhd = loaded;
  return &mhd;
}

}  // namespace

struct MetricsServer::Impl {
  struct Stop {
    const Mhd* mhd;
    void operator()(MHD_Daemon* d) const { mhd->stop_daemon(d); }
  };
  struct Destroy {
    const Mhd* mhd;
    void operator()(MHD_Response* r) const { mhd->destroy_response(r); }
  };

  const Mhd* mhd = nullptr;
  std::unique_ptr<MHD_Daemon, Stop> daemon{nullptr, Stop{nullptr}};
  std::mutex mu;
  std::function<std::string()> render;  // guarded by mu
  int port = 0;

  MHD_Result Reply(MHD_Connection* connection, unsigned status, const std::string& body) const {
    std::unique_ptr<MHD_Response, Destroy> response(
        mhd->create_response_from_buffer(body.size(), const_cast<char*>(body.data()),
                                         MHD_RESPMEM_MUST_COPY),
        Destroy{mhd});
    if (!response) return MHD_NO;
    mhd->add_response_header(response.get(), MHD_HTTP_HEADER_CONTENT_TYPE, kContentType);
    return mhd->queue_response(connection, status, response.get());
  }

  static MHD_Result Handle(void* cls, MHD_Connection* connection, const char* url,
                           const char* method, const char*, const char*, size_t*, void**) {
    auto* self = static_cast<Impl*>(cls);
    if (std::strcmp(method, "GET") != 0 && std::strcmp(method, "HEAD") != 0) {
      return self->Reply(connection, MHD_HTTP_METHOD_NOT_ALLOWED, "GET only\n");
    }
    if (std::strcmp(url, "/metrics") != 0)
      return self->Reply(connection, MHD_HTTP_NOT_FOUND, "try /metrics\n");
    std::function<std::string()> render;
    {
      std::lock_guard<std::mutex> lock(self->mu);
      render = self->render;
    }
    return self->Reply(connection, MHD_HTTP_OK, render ? render() : std::string());
  }
};

Result<std::unique_ptr<MetricsServer>> MetricsServer::Start(int port) {
  Result<const Mhd*> mhd = LoadMhd();
  if (!mhd) return mhd.error();
  auto impl = std::make_unique<Impl>();
  impl->mhd = *mhd;
  impl->daemon = std::unique_ptr<MHD_Daemon, Impl::Stop>(nullptr, Impl::Stop{*mhd});
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_port = htons(static_cast<uint16_t>(port));
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  impl->daemon.reset(impl->mhd->start_daemon(
      MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_POLL, static_cast<uint16_t>(port), nullptr, nullptr,
      &Impl::Handle, impl.get(), MHD_OPTION_SOCK_ADDR, &addr, MHD_OPTION_CONNECTION_LIMIT,
      kMaxConnections, MHD_OPTION_CONNECTION_TIMEOUT, kConnectionTimeoutS, MHD_OPTION_END));
  if (!impl->daemon) return Error(fmt::format("metrics: cannot listen on 127.0.0.1:{}", port));
  const MHD_DaemonInfo* info =
      impl->mhd->get_daemon_info(impl->daemon.get(), MHD_DAEMON_INFO_BIND_PORT);
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
