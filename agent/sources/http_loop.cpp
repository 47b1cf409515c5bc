#include "agent/sources/http_loop.h"

#include <poll.h>
#include <sys/eventfd.h>

#include <algorithm>
#include <vector>

namespace granary {

using std::chrono::milliseconds;

namespace {

int64_t NowNs() {
  return std::chrono::duration_cast<std::chrono::nanoseconds>(
             std::chrono::steady_clock::now().time_since_epoch())
      .count();
}

}  // namespace

HttpLoop::HttpLoop(Limits limits) : limits_(limits), wake_(eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK)) {
  if (!wake_) return;  // every Start then fails
  multi_.reset(curl_multi_init());
  if (!multi_) return;
  CURLM* m = multi_.get();
  curl_multi_setopt(m, CURLMOPT_SOCKETFUNCTION, &HttpLoop::OnSocket);
  curl_multi_setopt(m, CURLMOPT_SOCKETDATA, this);
  curl_multi_setopt(m, CURLMOPT_TIMERFUNCTION, &HttpLoop::OnTimer);
  curl_multi_setopt(m, CURLMOPT_TIMERDATA, this);
  curl_multi_setopt(m, CURLMOPT_MAXCONNECTS, limits_.max_connections);
}

HttpLoop::~HttpLoop() {
  // A handle must leave the multi before either is cleaned up.
  for (auto& t : running_) curl_multi_remove_handle(multi_.get(), t->easy.get());
}

void HttpLoop::Start(HttpExchange& exchange, std::optional<std::string> post_body,
                     milliseconds timeout, Done done) {
  auto t = std::make_unique<Transfer>();
  t->exchange = &exchange;
  t->post_body = std::move(post_body);
  t->timeout = timeout;
  t->done = std::move(done);
  queued_.push_back(std::move(t));
  Admit();
}

void HttpLoop::Run(milliseconds max_wait) {
  if (!multi_) {
    Admit();  // fails every queued exchange
    return;
  }
  const int64_t now = NowNs();
  constexpr int64_t kLongestNs = 60'000'000'000;  // a minute: the scheduler wakes sooner anyway
  int64_t wait_ns =
      std::min<int64_t>({std::min(max_wait, UntilPlaceFrees(now)).count(), kLongestNs / 1'000'000});
  wait_ns *= 1'000'000;
  if (timer_due_ns_ >= 0) wait_ns = std::min(wait_ns, timer_due_ns_ - now);
  // Rounded up: poll's milliseconds would otherwise wake just before the timer is due.
  auto wait_ms = static_cast<int>(std::max<int64_t>(0, (wait_ns + 999'999) / 1'000'000));
  std::vector<pollfd> fds;
  fds.reserve(sockets_.size() + 1);
  fds.push_back({wake_.get(), POLLIN, 0});
  for (const auto& [socket, events] : sockets_) fds.push_back({socket, events, 0});
  if (poll(fds.data(), fds.size(), wait_ms) < 0) fds.clear();  // EINTR: only the timer
  Dispatch(fds);
  Collect();
  Admit();
}

void HttpLoop::Dispatch(const std::vector<pollfd>& fds) {
  int running = 0;
  for (const pollfd& p : fds) {
    if (p.revents == 0) continue;
    if (p.fd == wake_.get()) {
      uint64_t count;
      while (read(p.fd, &count, sizeof count) > 0) {
      }
      continue;
    }
    int flags = 0;
    if (p.revents & POLLIN) flags |= CURL_CSELECT_IN;
    if (p.revents & POLLOUT) flags |= CURL_CSELECT_OUT;
    if (p.revents & (POLLERR | POLLHUP | POLLNVAL)) flags |= CURL_CSELECT_ERR;
    // May change sockets_, which `fds` is a copy of.
    curl_multi_socket_action(multi_.get(), p.fd, flags, &running);
  }
  if (timer_due_ns_ >= 0 && NowNs() >= timer_due_ns_) {
    timer_due_ns_ = -1;  // curl sets the next one from inside the action
    curl_multi_socket_action(multi_.get(), CURL_SOCKET_TIMEOUT, 0, &running);
  }
}

int HttpLoop::OnSocket(CURL*, curl_socket_t socket, int what, void* self_ptr, void*) {
  auto* self = static_cast<HttpLoop*>(self_ptr);
  if (what == CURL_POLL_REMOVE) {
    self->sockets_.erase(socket);
  } else {
    self->sockets_[socket] = static_cast<short>(((what & CURL_POLL_IN) ? POLLIN : 0) |
                                                ((what & CURL_POLL_OUT) ? POLLOUT : 0));
  }
  return 0;
}

int HttpLoop::OnTimer(CURLM*, long timeout_ms, void* self_ptr) {
  auto* self = static_cast<HttpLoop*>(self_ptr);
  self->timer_due_ns_ = timeout_ms < 0 ? -1 : NowNs() + timeout_ms * 1'000'000;
  return 0;
}

void HttpLoop::Wakeup() {
  if (!wake_) return;
  uint64_t one = 1;
  (void)!write(wake_.get(), &one, sizeof one);
}

void HttpLoop::Admit() {
  const int64_t now = NowNs();
  size_t fresh = Fresh(now);
  while (!queued_.empty() && fresh < limits_.max_fresh) {
    std::unique_ptr<Transfer> t = std::move(queued_.front());
    queued_.pop_front();
    Status ready = multi_
                       ? Status::Ok()
                       : Error("cannot set up the HTTP loop (eventfd or curl_multi_init failed)");
    if (ready) {
      t->easy = TakeHandle();
      if (!t->easy) ready = Error("curl_easy_init failed");
    }
    if (ready) ready = t->exchange->Prepare(t->easy.get(), t->post_body, t->timeout);
    if (ready) {
      CURLMcode rc = curl_multi_add_handle(multi_.get(), t->easy.get());
      if (rc != CURLM_OK) ready = Error(curl_multi_strerror(rc));
    }
    if (!ready) {
      std::string method = t->post_body ? "POST " : "GET ";
      t->done(ready.error().Wrap(method + t->exchange->display_url()));
      continue;
    }
    t->started_ns = now;
    running_.push_back(std::move(t));
    ++fresh;
  }
}

void HttpLoop::Collect() {
  if (!multi_) return;
  int left = 0;
  while (CURLMsg* msg = curl_multi_info_read(multi_.get(), &left)) {
    if (msg->msg != CURLMSG_DONE) continue;
    CURL* easy = msg->easy_handle;
    CURLcode rc = msg->data.result;
    auto it = std::find_if(running_.begin(), running_.end(),
                           [easy](const auto& t) { return t->easy.get() == easy; });
    if (it == running_.end()) continue;
    std::unique_ptr<Transfer> t = std::move(*it);
    running_.erase(it);
    curl_multi_remove_handle(multi_.get(), easy);
    Result<HttpReply> reply = t->exchange->Finish(easy, rc);
    if (idle_.size() < limits_.max_idle_handles) {
      // Reset drops this source's options (credentials, headers) but keeps the handle's
      // buffers; the connection itself stays in the multi's cache either way.
      curl_easy_reset(easy);
      idle_.push_back(std::move(t->easy));
    }
    // Last: `done` may start this exchange again.
    t->done(std::move(reply));
  }
}

size_t HttpLoop::Fresh(int64_t now_ns) const {
  const int64_t grace_ns = std::chrono::nanoseconds(limits_.grace).count();
  return static_cast<size_t>(std::count_if(running_.begin(), running_.end(), [&](const auto& t) {
    return now_ns - t->started_ns < grace_ns;
  }));
}

milliseconds HttpLoop::UntilPlaceFrees(int64_t now_ns) const {
  if (queued_.empty()) return milliseconds::max();
  const int64_t grace_ns = std::chrono::nanoseconds(limits_.grace).count();
  int64_t soonest = grace_ns;
  for (const auto& t : running_) {
    int64_t left = t->started_ns + grace_ns - now_ns;
    if (left >= 0) soonest = std::min(soonest, left);
  }
  // Round up, so the place has freed when Run wakes.
  return milliseconds((soonest + 999'999) / 1'000'000);
}

CurlEasy HttpLoop::TakeHandle() {
  if (idle_.empty()) return CurlEasy(curl_easy_init());
  CurlEasy easy = std::move(idle_.back());
  idle_.pop_back();
  return easy;
}

}  // namespace granary
