// Runs many HTTP exchanges at once on one thread with curl_multi. The scheduler puts every
// source whose poll is a single request here instead of giving each a thread and a handle:
// 100 such sources then cost one thread, a few handles and the connections they keep alive.
//
// It is driven by poll(2) and curl_multi_socket_action, so each wake-up touches only the
// transfers whose sockets are ready; curl_multi_perform would poll every socket of every
// running transfer on every turn, which at 100 transfers costs more than the requests.
// poll rather than epoll: the set is small (the running transfers' sockets) and changes
// with every exchange, and poll takes it as an array, without a system call per change.
//
// A burst (every 1 s source ticks at the same aligned instant) is started a few exchanges at
// a time, which keeps the memory of concurrent transfers bounded and spares small device
// servers 100 simultaneous connections. An exchange still running after a short grace no
// longer holds its place, so a hung device delays the others by at most that grace.
#pragma once

#include <chrono>
#include <cstdint>
#include <deque>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

struct pollfd;

#include "agent/sources/http_client.h"
#include "platform/handles.h"
#include "platform/result.h"

namespace granary {

class HttpLoop {
 public:
  using Done = std::function<void(Result<HttpReply>)>;

  struct Limits {
    size_t max_fresh = 16;  // exchanges started within `grace`, at most
    std::chrono::milliseconds grace{200};
    size_t max_idle_handles = 16;  // easy handles kept for reuse
    long max_connections = 256;    // kept-alive connections, across all hosts
  };

  HttpLoop() : HttpLoop(Limits{}) {}
  explicit HttpLoop(Limits limits);
  // Abandons the exchanges still queued or running; their Done is never called.
  ~HttpLoop();
  HttpLoop(const HttpLoop&) = delete;
  HttpLoop& operator=(const HttpLoop&) = delete;

  // Queues a GET (or a POST of `post_body`). `exchange` must stay alive and not be started
  // again until `done` ran; `done` runs inside Run() on the loop's thread, or inside Start()
  // when the exchange cannot be set up. `timeout` covers the exchange from when it starts.
  // REQUIRES: called on the loop's thread.
  void Start(HttpExchange& exchange, std::optional<std::string> post_body,
             std::chrono::milliseconds timeout, Done done);

  // Waits up to `max_wait` for network activity, a transfer's timer or Wakeup(), then moves
  // every exchange on and runs the Done of those that finished. REQUIRES: the loop's thread.
  void Run(std::chrono::milliseconds max_wait);

  // Makes a Run() in progress (or the next one) return at once. Any thread.
  void Wakeup();

  size_t queued() const { return queued_.size(); }
  size_t running() const { return running_.size(); }

 private:
  struct Transfer {
    HttpExchange* exchange = nullptr;
    std::optional<std::string> post_body;  // curl reads it during the transfer
    std::chrono::milliseconds timeout{0};
    Done done;
    CurlEasy easy;
    int64_t started_ns = 0;
  };

  static int OnSocket(CURL* easy, curl_socket_t socket, int what, void* self, void* assigned);
  static int OnTimer(CURLM* multi, long timeout_ms, void* self);
  // Hands curl the events of one poll, and its timer when due.
  void Dispatch(const std::vector<struct pollfd>& fds);
  void Admit();
  void Collect();
  size_t Fresh(int64_t now_ns) const;
  // How long Run may sleep before a running exchange's grace ends and frees a place.
  std::chrono::milliseconds UntilPlaceFrees(int64_t now_ns) const;
  CurlEasy TakeHandle();

  const Limits limits_;
  UniqueFd wake_;                           // an eventfd, always polled, written by Wakeup()
  std::map<curl_socket_t, short> sockets_;  // what curl wants watched: POLLIN/POLLOUT
  int64_t timer_due_ns_ = -1;               // when curl wants its timeout action; -1: never
  CurlMulti multi_;
  std::deque<std::unique_ptr<Transfer>> queued_;
  std::vector<std::unique_ptr<Transfer>> running_;
  std::vector<CurlEasy> idle_;
};

}  // namespace granary
