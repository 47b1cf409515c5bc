// The receiver's HTTP server on libmicrohttpd: a thread pool over epoll, with the
// library's connection limit, per-IP limit and idle timeout (slow clients hold a
// connection slot, never a thread). Requests reach handlers as an HttpExchange with the
// target exactly as sent (for SigV4) and the body in pieces as it arrives.
#pragma once

#include <microhttpd.h>

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <unordered_map>
#include <unordered_set>
#include <utility>
#include <vector>

#include "platform/handles_mhd.h"
#include "platform/result.h"
#include "receiver/http_request.h"

namespace granary::receiver {

struct HttpResponse {
  int status = 200;
  std::vector<std::pair<std::string, std::string>> headers;
  std::string body;
  // A file body instead (owned; closed once sent).
  int fd = -1;
  uint64_t fd_size = 0;
  uint64_t fd_offset = 0;  // where in the file the body starts (a Range)
  // A streamed body of unknown length instead: fills `buf` with up to `max` bytes and
  // returns how many; 0 is the end; -1 an error (the connection is closed).
  std::function<long(char* buf, size_t max)> stream;
  // The stream's length when known (sent as Content-Length; a range, an object).
  std::optional<uint64_t> stream_length;
  // Ask the client to close the connection after this response (errors before the body
  // was read).
  bool close = false;

  static HttpResponse Text(int status, std::string body,
                           std::string content_type = "text/plain; charset=utf-8") {
    HttpResponse r;
    r.status = status;
    r.body = std::move(body);
    r.headers.emplace_back("Content-Type", std::move(content_type));
    return r;
  }
};

// One request. Called from one server thread at a time.
class HttpExchange {
 public:
  virtual ~HttpExchange() = default;
  // The headers have arrived. A response ends the exchange; any body is not read.
  virtual std::optional<HttpResponse> Start() = 0;
  // The next piece of the body. A response ends the exchange; the rest is discarded.
  virtual std::optional<HttpResponse> Body(std::string_view data) {
    (void)data;
    return std::nullopt;
  }
  // The whole body has arrived.
  virtual HttpResponse Finish() = 0;
  // As Finish, or nullopt once `later` has been handed to whatever will answer: the
  // connection then waits suspended, holding no server thread. `later` is called exactly
  // once, from any thread; the exchange lives until the answer is sent.
  using Later = std::function<void(HttpResponse)>;
  virtual std::optional<HttpResponse> FinishLater(Later later) {
    (void)later;
    return Finish();
  }
};

using Router = std::function<std::unique_ptr<HttpExchange>(HttpRequest request)>;

struct HttpServerOptions {
  std::string address = "127.0.0.1";
  int port = 0;  // 0: any free port
  int threads = 4;
  int connection_limit = 1024;
  // Connections from one address beyond this are answered 503 SlowDown with Retry-After
  // (a client can back off; a reset looks like a network fault). Beyond twice this (plus
  // 16) the library refuses them outright, so one address cannot take every slot. 0: none.
  int per_ip_limit = 64;
  std::chrono::seconds idle_timeout{30};
  // A connection whose first request's headers are not in by then is cut: the idle timeout
  // alone lets a client that sends one byte a second hold a slot for ever. A later request
  // on a kept-alive connection gets idle_timeout more (the library closes an idle one by
  // then). 0: none.
  std::chrono::seconds header_timeout{10};
  // A body arriving slower than this (bytes a second, averaged over each header_timeout
  // window) is cut. 0: none.
  uint64_t min_body_rate = 0;
  // Told of each connection cut for missing the header deadline (false) or the body rate
  // (true). From the sweeper thread.
  std::function<void(bool body)> on_cut;
  // PEM text; both set: HTTPS (libmicrohttpd over GnuTLS).
  std::string tls_cert_pem, tls_key_pem;
};

// One TCP connection, from accept to close.
struct ConnectionState {
  std::string peer;
  int fd = -1;
  // When the wait for the current request's headers began (accept, or the end of the
  // previous request plus the idle timeout).
  std::chrono::steady_clock::time_point waiting_since;
  bool over_per_ip_limit = false;
  std::atomic<uint64_t> body_bytes{0};  // of the current request, as read
};

class HttpServer {
 public:
  static Result<std::unique_ptr<HttpServer>> Start(const HttpServerOptions& options, Router router);
  ~HttpServer();
  HttpServer(const HttpServer&) = delete;
  HttpServer& operator=(const HttpServer&) = delete;

  int port() const { return port_; }
  // Connections cut for missing the header deadline, or the body rate, so far.
  uint64_t headers_cut() const { return headers_cut_.load(); }
  uint64_t bodies_cut() const { return bodies_cut_.load(); }
  // Serves new connections with another certificate: a new daemon takes the listening
  // socket over; the old one finishes its connections, then stops. When the new pair does
  // not load, the old one stays and the error says why. From one thread at a time.
  Status ReplaceCertificate(const std::string& cert_pem, const std::string& key_pem);
  // False when a certificate change left no daemon listening (the process should end, so
  // its supervisor starts it again).
  bool serving() const { return daemon_ != nullptr; }
  // Stops accepting; connections in progress are closed.
  void Stop();

 private:
  HttpServer() = default;
  // Counts a new connection; whether it is beyond the per-IP limit.
  bool Opened(ConnectionState* connection);
  // The headers are in; `body` when a body is to be read.
  void HeadersIn(ConnectionState* connection, bool body);
  void BodyIn(ConnectionState* connection);
  // A request ended; the connection may carry another.
  void RequestDone(ConnectionState* connection);
  void Closed(ConnectionState* connection);
  // Cuts connections past the header deadline or below the body rate, once a second until
  // Stop().
  void Sweep();
  void Cut(ConnectionState* connection, bool body);
  // Stops, outside mu_, the daemons retired by certificate changes whose connections are done.
  void StopIdleRetired(std::unique_lock<std::mutex>& lock);
  MhdDaemon StartDaemon(int listen_fd, const std::string& cert_pem,
                        const std::string& key_pem) const;
  struct BodyWindow {
    std::chrono::steady_clock::time_point start;
    uint64_t bytes_at_start = 0;
  };
  Router router_;
  HttpServerOptions options_;  // the TLS pair as at start; not changed after
  std::string tls_cert_pem_;   // the pair in use; ReplaceCertificate's thread only
  std::string tls_key_pem_;
  std::mutex mu_;  // guards the five below
  std::unordered_map<std::string, int> per_ip_;
  std::unordered_set<ConnectionState*> waiting_headers_;
  std::unordered_map<ConnectionState*, BodyWindow> reading_body_;
  bool stopping_ = false;
  std::condition_variable stop_cv_;
  std::thread sweeper_;
  std::atomic<uint64_t> headers_cut_{0};
  std::atomic<uint64_t> bodies_cut_{0};
  MhdDaemon daemon_;
  std::vector<MhdDaemon> retired_;  // draining after a certificate change
  int port_ = 0;
  friend struct HttpServerCallbacks;
};

}  // namespace granary::receiver
