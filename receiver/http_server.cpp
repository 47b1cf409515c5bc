#include "receiver/http_server.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include "platform/log.h"
#include "receiver/s3_error.h"

namespace granary::receiver {
namespace {

// Per-connection-request state, created by the URI log callback (which sees the target
// before libmicrohttpd unescapes it) and deleted when the request completes.
// An answer that comes from another thread: the connection is suspended until it does.
// Shared with the answering thread, so the handshake outlives neither side.
struct LaterAnswer {
  std::mutex mu;
  MHD_Connection* connection = nullptr;
  bool suspended = false;
  std::optional<HttpResponse> response;
};

struct RequestState {
  std::string raw_target;
  std::unique_ptr<HttpExchange> exchange;
  bool started = false;
  bool responded = false;
  std::optional<HttpResponse> pending;  // an early answer not yet queued
  std::shared_ptr<LaterAnswer> later;
};

struct Stream {
  std::function<long(char*, size_t)> fill;
};

ssize_t StreamReader(void* cls, uint64_t, char* buf, size_t max) {
  long n = static_cast<Stream*>(cls)->fill(buf, max);
  if (n == 0) return MHD_CONTENT_READER_END_OF_STREAM;
  if (n < 0) return MHD_CONTENT_READER_END_WITH_ERROR;
  return static_cast<ssize_t>(n);
}

void StreamFree(void* cls) { delete static_cast<Stream*>(cls); }

MHD_Result Queue(MHD_Connection* connection, HttpResponse&& r) {
  MhdResponse response;
  if (r.stream) {
    response.reset(MHD_create_response_from_callback(r.stream_length.value_or(MHD_SIZE_UNKNOWN),
                                                     64 * 1024, &StreamReader,
                                                     new Stream{std::move(r.stream)}, &StreamFree));
  } else if (r.fd >= 0) {
    response.reset(MHD_create_response_from_fd_at_offset64(r.fd_size, r.fd, r.fd_offset));
  } else {
    response.reset(
        MHD_create_response_from_buffer(r.body.size(), r.body.data(), MHD_RESPMEM_MUST_COPY));
  }
  if (!response) return MHD_NO;
  for (const auto& [name, value] : r.headers) {
    MHD_add_response_header(response.get(), name.c_str(), value.c_str());
  }
  if (r.close) MHD_add_response_header(response.get(), MHD_HTTP_HEADER_CONNECTION, "close");
  return MHD_queue_response(connection, static_cast<unsigned>(r.status), response.get());
}

MHD_Result CollectHeader(void* cls, MHD_ValueKind, const char* key, const char* value) {
  static_cast<sigv4::Headers*>(cls)->emplace_back(key, value != nullptr ? value : "");
  return MHD_YES;
}

std::string PeerAddress(MHD_Connection* connection) {
  const MHD_ConnectionInfo* info =
      MHD_get_connection_info(connection, MHD_CONNECTION_INFO_CLIENT_ADDRESS);
  if (info == nullptr || info->client_addr == nullptr) return "?";
  char buf[INET6_ADDRSTRLEN] = "?";
  if (info->client_addr->sa_family == AF_INET) {
    inet_ntop(AF_INET, &reinterpret_cast<const sockaddr_in*>(info->client_addr)->sin_addr, buf,
              sizeof buf);
  } else if (info->client_addr->sa_family == AF_INET6) {
    inet_ntop(AF_INET6, &reinterpret_cast<const sockaddr_in6*>(info->client_addr)->sin6_addr, buf,
              sizeof buf);
  }
  return buf;
}

// Two lengths (or a length and chunking) let a proxy in front frame the body one way and
// us another: request smuggling. RFC 9112 6.3 allows refusing such a message.
bool AmbiguousLength(const HttpRequest& request) {
  int lengths = request.HeaderCount("content-length");
  return lengths > 1 || (lengths == 1 && request.HasHeader("transfer-encoding"));
}

struct Listener {
  int fd = -1;
  int port = 0;
};

// Our own socket rather than the library's: a bind failure keeps its errno, and without
// SO_REUSEPORT a second receiver cannot share the port and split uploads between two
// indexes. SO_REUSEADDR only lets a restart bind past connections in TIME_WAIT.
Result<Listener> Listen(const std::string& address, int port) {
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_port = htons(static_cast<uint16_t>(port));
  if (inet_pton(AF_INET, address.c_str(), &addr.sin_addr) != 1) {
    return Error("listen address \"" + address + "\" is not an IPv4 address");
  }
  std::string where = address + ":" + std::to_string(port);
  int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
  if (fd < 0) return Error::FromErrno("socket for " + where);
  int one = 1;
  (void)::setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
  if (::bind(fd, reinterpret_cast<const sockaddr*>(&addr), sizeof addr) != 0 ||
      ::listen(fd, SOMAXCONN) != 0) {
    int err = errno;
    ::close(fd);
    if (err == EADDRINUSE) return Error("cannot listen on " + where + ": address in use", err);
    return Error::FromErrno("cannot listen on " + where, err);
  }
  socklen_t len = sizeof addr;
  if (::getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len) == 0) port = ntohs(addr.sin_port);
  return Listener{fd, port};
}

}  // namespace

ConnectionState* StateOf(MHD_Connection* connection) {
  const MHD_ConnectionInfo* info =
      MHD_get_connection_info(connection, MHD_CONNECTION_INFO_SOCKET_CONTEXT);
  return info != nullptr ? static_cast<ConnectionState*>(info->socket_context) : nullptr;
}

HttpResponse SlowDown() {
  HttpResponse r =
      HttpResponse::Text(503,
                         RenderS3ErrorXml(MakeS3Error("SlowDown",
                                                      "Too many connections from your address; "
                                                      "retry after the time in Retry-After"),
                                          "", ""),
                         "application/xml");
  r.headers.emplace_back("Retry-After", "1");
  r.close = true;
  return r;
}

struct HttpServerCallbacks {
  static void Connection(void* cls, MHD_Connection* connection, void** socket_context,
                         MHD_ConnectionNotificationCode code) {
    auto* server = static_cast<HttpServer*>(cls);
    if (code == MHD_CONNECTION_NOTIFY_STARTED) {
      auto* state = new ConnectionState;
      state->peer = PeerAddress(connection);
      const MHD_ConnectionInfo* fd =
          MHD_get_connection_info(connection, MHD_CONNECTION_INFO_CONNECTION_FD);
      state->fd = fd != nullptr ? fd->connect_fd : -1;
      state->waiting_since = std::chrono::steady_clock::now();
      state->over_per_ip_limit = server->Opened(state);
      *socket_context = state;
    } else if (code == MHD_CONNECTION_NOTIFY_CLOSED && *socket_context != nullptr) {
      auto* state = static_cast<ConnectionState*>(*socket_context);
      server->Closed(state);
      delete state;
      *socket_context = nullptr;
    }
  }

  static void* UriLog(void*, const char* uri, MHD_Connection*) {
    auto* state = new RequestState;
    state->raw_target = uri != nullptr ? uri : "";
    return state;
  }

  static void Completed(void* cls, MHD_Connection* connection, void** con_cls,
                        MHD_RequestTerminationCode) {
    delete static_cast<RequestState*>(*con_cls);
    *con_cls = nullptr;
    ConnectionState* conn = StateOf(connection);
    if (conn != nullptr) static_cast<HttpServer*>(cls)->RequestDone(conn);
  }

  // The exchange's answer, now or (suspending the connection) when another thread has it.
  static MHD_Result Answer(MHD_Connection* connection, RequestState* state) {
    if (state->later) {  // resumed
      std::lock_guard<std::mutex> lock(state->later->mu);
      if (!state->later->response) return MHD_YES;
      state->responded = true;
      return Queue(connection, std::move(*state->later->response));
    }
    auto later = std::make_shared<LaterAnswer>();
    later->connection = connection;
    state->later = later;
    std::optional<HttpResponse> now = state->exchange->FinishLater([later](HttpResponse r) {
      std::lock_guard<std::mutex> lock(later->mu);
      later->response = std::move(r);
      if (later->suspended) MHD_resume_connection(later->connection);
    });
    std::lock_guard<std::mutex> lock(later->mu);
    if (!now && !later->response) {
      MHD_suspend_connection(connection);
      later->suspended = true;
      return MHD_YES;
    }
    state->responded = true;
    return Queue(connection, std::move(now ? *now : *later->response));
  }

  static MHD_Result Access(void* cls, MHD_Connection* connection, const char*, const char* method,
                           const char*, const char* upload_data, size_t* upload_data_size,
                           void** con_cls) {
    auto* server = static_cast<HttpServer*>(cls);
    auto* state = static_cast<RequestState*>(*con_cls);
    if (state == nullptr) return MHD_NO;
    if (!state->started) {
      state->started = true;
      HttpRequest request;
      request.method = method;
      SplitTarget(state->raw_target, &request.raw_path, &request.raw_query);
      MHD_get_connection_values(connection, MHD_HEADER_KIND, &CollectHeader, &request.headers);
      request.peer = PeerAddress(connection);
      ConnectionState* conn = StateOf(connection);
      if (conn != nullptr) server->HeadersIn(conn, false);
      if (conn != nullptr && conn->over_per_ip_limit) {
        state->responded = true;
        return Queue(connection, SlowDown());
      }
      if (AmbiguousLength(request)) {
        state->responded = true;
        HttpResponse bad = HttpResponse::Text(
            400, "Content-Length sent twice, or with Transfer-Encoding: the length is ambiguous\n");
        bad.close = true;
        return Queue(connection, std::move(bad));
      }
      state->exchange = server->router_(std::move(request));
      std::optional<HttpResponse> early = state->exchange->Start();
      if (early) {
        bool body = *upload_data_size > 0 ||
                    MHD_lookup_connection_value(connection, MHD_HEADER_KIND,
                                                MHD_HTTP_HEADER_CONTENT_LENGTH) != nullptr ||
                    MHD_lookup_connection_value(connection, MHD_HEADER_KIND,
                                                MHD_HTTP_HEADER_TRANSFER_ENCODING) != nullptr;
        if (!body && !early->close) {
          // Answered at the final call: a response queued in this first one makes the
          // library close the connection, and GETs should keep it.
          state->pending = std::move(early);
          return MHD_YES;
        }
        state->responded = true;
        early->close = true;
        return Queue(connection, std::move(*early));
      }
      if (conn != nullptr) server->HeadersIn(conn, true);
      return MHD_YES;
    }
    ConnectionState* conn = StateOf(connection);
    if (*upload_data_size > 0) {
      if (conn != nullptr) conn->body_bytes += *upload_data_size;
      if (!state->responded && !state->pending) {
        std::optional<HttpResponse> stop =
            state->exchange->Body(std::string_view(upload_data, *upload_data_size));
        if (stop) {
          stop->close = true;
          state->pending = std::move(stop);
        }
      }
      *upload_data_size = 0;
      if (state->pending && !state->responded) {
        // Answer now if the library lets us (it then closes the connection); else at the end.
        HttpResponse copy = *state->pending;
        if (Queue(connection, std::move(copy)) == MHD_YES) state->responded = true;
      }
      return MHD_YES;
    }
    if (conn != nullptr) server->BodyIn(conn);
    if (state->responded) return MHD_YES;
    if (state->pending) {
      state->responded = true;
      return Queue(connection, std::move(*state->pending));
    }
    return Answer(connection, state);
  }
};

Result<std::unique_ptr<HttpServer>> HttpServer::Start(const HttpServerOptions& options,
                                                      Router router) {
  std::unique_ptr<HttpServer> server(new HttpServer);
  server->router_ = std::move(router);
  server->options_ = options;
  server->tls_cert_pem_ = options.tls_cert_pem;
  server->tls_key_pem_ = options.tls_key_pem;
  auto listener = Listen(options.address, options.port);
  if (!listener) return listener.error();
  server->daemon_ = server->StartDaemon(listener->fd, options.tls_cert_pem, options.tls_key_pem);
  if (!server->daemon_) {
    ::close(listener->fd);
    return Error(
        "cannot start the HTTP server on " + options.address + ":" +
        std::to_string(listener->port) +
        (options.tls_cert_pem.empty() ? "" : " (is the TLS certificate and key pair valid?)"));
  }
  server->port_ = listener->port;
  server->sweeper_ = std::thread([s = server.get()] { s->Sweep(); });
  return server;
}

MhdDaemon HttpServer::StartDaemon(int listen_fd, const std::string& cert_pem,
                                  const std::string& key_pem) const {
  const HttpServerOptions& options = options_;
  // ITC: MHD_quiesce_daemon needs it to hand the socket to the next daemon, and resuming a
  // suspended connection wakes its thread through it.
  unsigned flags =
      MHD_USE_AUTO_INTERNAL_THREAD | MHD_USE_ERROR_LOG | MHD_USE_ITC | MHD_ALLOW_SUSPEND_RESUME;
  bool tls = !cert_pem.empty();
  if (tls) flags |= MHD_USE_TLS;
  auto* self = const_cast<HttpServer*>(this);
  MHD_OptionItem opts[] = {
      {MHD_OPTION_LISTEN_SOCKET, listen_fd, nullptr},
      {MHD_OPTION_THREAD_POOL_SIZE, static_cast<intptr_t>(options.threads), nullptr},
      {MHD_OPTION_CONNECTION_LIMIT, static_cast<intptr_t>(options.connection_limit), nullptr},
      {MHD_OPTION_PER_IP_CONNECTION_LIMIT,
       static_cast<intptr_t>(options.per_ip_limit > 0 ? options.per_ip_limit * 2 + 16 : 0),
       nullptr},
      {MHD_OPTION_NOTIFY_CONNECTION, reinterpret_cast<intptr_t>(&HttpServerCallbacks::Connection),
       self},
      {MHD_OPTION_CONNECTION_TIMEOUT, static_cast<intptr_t>(options.idle_timeout.count()), nullptr},
      {MHD_OPTION_CONNECTION_MEMORY_LIMIT, static_cast<intptr_t>(128 * 1024), nullptr},
      {MHD_OPTION_URI_LOG_CALLBACK, reinterpret_cast<intptr_t>(&HttpServerCallbacks::UriLog),
       nullptr},
      {MHD_OPTION_NOTIFY_COMPLETED, reinterpret_cast<intptr_t>(&HttpServerCallbacks::Completed),
       self},
      {tls ? MHD_OPTION_HTTPS_MEM_CERT : MHD_OPTION_END, 0, const_cast<char*>(cert_pem.c_str())},
      {MHD_OPTION_HTTPS_MEM_KEY, 0, const_cast<char*>(key_pem.c_str())},
      {MHD_OPTION_END, 0, nullptr},
  };
  return MhdDaemon(MHD_start_daemon(flags, static_cast<uint16_t>(options.port), nullptr, nullptr,
                                    &HttpServerCallbacks::Access, self, MHD_OPTION_ARRAY, opts,
                                    MHD_OPTION_END));
}

Status HttpServer::ReplaceCertificate(const std::string& cert_pem, const std::string& key_pem) {
  if (tls_cert_pem_.empty()) return Error("the server was started without TLS");
  int fd = MHD_quiesce_daemon(daemon_.get());
  if (fd == MHD_INVALID_SOCKET) return Error("cannot take the listening socket over");
  // A daemon that fails to start closes the socket it was given: it gets a duplicate, so the
  // old certificate can take the socket back.
  int dup = ::fcntl(fd, F_DUPFD_CLOEXEC, 0);
  MhdDaemon next = dup >= 0 ? StartDaemon(dup, cert_pem, key_pem) : MhdDaemon();
  Status result = Status::Ok();
  if (next) {
    ::close(fd);
    tls_cert_pem_ = cert_pem;
    tls_key_pem_ = key_pem;
  } else {
    next = StartDaemon(fd, tls_cert_pem_, tls_key_pem_);
    result = Error("the new TLS certificate and key do not load; serving the old ones");
  }
  std::lock_guard<std::mutex> lock(mu_);
  retired_.push_back(std::move(daemon_));
  daemon_ = std::move(next);
  if (!daemon_) return Error("cannot restart the HTTP server after a certificate change");
  return result;
}

bool HttpServer::Opened(ConnectionState* connection) {
  std::lock_guard<std::mutex> lock(mu_);
  if (options_.header_timeout.count() > 0) waiting_headers_.insert(connection);
  int open = ++per_ip_[connection->peer];
  return options_.per_ip_limit > 0 && open > options_.per_ip_limit;
}

void HttpServer::HeadersIn(ConnectionState* connection, bool body) {
  std::lock_guard<std::mutex> lock(mu_);
  waiting_headers_.erase(connection);
  if (body && options_.min_body_rate > 0 && options_.header_timeout.count() > 0) {
    reading_body_[connection] = {std::chrono::steady_clock::now(), connection->body_bytes.load()};
  }
}

void HttpServer::BodyIn(ConnectionState* connection) {
  std::lock_guard<std::mutex> lock(mu_);
  reading_body_.erase(connection);
}

void HttpServer::RequestDone(ConnectionState* connection) {
  std::lock_guard<std::mutex> lock(mu_);
  reading_body_.erase(connection);
  if (options_.header_timeout.count() == 0 || stopping_) return;
  connection->waiting_since = std::chrono::steady_clock::now() + options_.idle_timeout;
  waiting_headers_.insert(connection);
}

void HttpServer::Closed(ConnectionState* connection) {
  std::lock_guard<std::mutex> lock(mu_);
  waiting_headers_.erase(connection);
  reading_body_.erase(connection);
  auto it = per_ip_.find(connection->peer);
  if (it != per_ip_.end() && --it->second <= 0) per_ip_.erase(it);
}

// Only shut down, never closed: the library still owns the descriptor, and it is still
// open because Closed() (which takes mu_, held by the caller) has not run for it.
void HttpServer::Cut(ConnectionState* connection, bool body) {
  if (connection->fd >= 0) ::shutdown(connection->fd, SHUT_RDWR);
  (body ? bodies_cut_ : headers_cut_) += 1;
  if (options_.on_cut) options_.on_cut(body);
}

void HttpServer::StopIdleRetired(std::unique_lock<std::mutex>& lock) {
  std::vector<MhdDaemon> idle;
  for (auto it = retired_.begin(); it != retired_.end();) {
    const MHD_DaemonInfo* info =
        MHD_get_daemon_info(it->get(), MHD_DAEMON_INFO_CURRENT_CONNECTIONS);
    if (info != nullptr && info->num_connections > 0) {
      ++it;
      continue;
    }
    idle.push_back(std::move(*it));
    it = retired_.erase(it);
  }
  lock.unlock();
  idle.clear();  // stopping runs callbacks that take mu_
  lock.lock();
}

void HttpServer::Sweep() {
  std::unique_lock<std::mutex> lock(mu_);
  const auto window = options_.header_timeout;
  while (!stop_cv_.wait_for(lock, std::chrono::seconds(1), [&] { return stopping_; })) {
    StopIdleRetired(lock);
    if (window.count() == 0) continue;
    auto now = std::chrono::steady_clock::now();
    for (auto it = waiting_headers_.begin(); it != waiting_headers_.end();) {
      if ((*it)->waiting_since + window > now) {
        ++it;
        continue;
      }
      Cut(*it, false);
      it = waiting_headers_.erase(it);
    }
    for (auto it = reading_body_.begin(); it != reading_body_.end();) {
      BodyWindow& w = it->second;
      if (w.start + window > now) {
        ++it;
        continue;
      }
      uint64_t bytes = it->first->body_bytes.load();
      double seconds = std::chrono::duration<double>(now - w.start).count();
      if (static_cast<double>(bytes - w.bytes_at_start) < options_.min_body_rate * seconds) {
        Cut(it->first, true);
        it = reading_body_.erase(it);
        continue;
      }
      w = {now, bytes};
      ++it;
    }
  }
}

HttpServer::~HttpServer() { Stop(); }

void HttpServer::Stop() {
  {
    std::lock_guard<std::mutex> lock(mu_);
    stopping_ = true;
  }
  stop_cv_.notify_all();
  if (sweeper_.joinable()) sweeper_.join();
  retired_.clear();
  daemon_.reset();
}

}  // namespace granary::receiver
