// The shared HTTP loop, alone and under the scheduler, against tests/sim/http_server.py on a
// random loopback port.
#include "agent/sources/http_loop.h"

#include <gtest/gtest.h>
#include <netinet/in.h>
#include <sys/socket.h>

#include <atomic>
#include <filesystem>
#include <memory>
#include <mutex>
#include <thread>

#include "agent/scheduler.h"
#include "tests/support/build_source.h"
#include "tests/support/peer_process.h"

namespace granary {
namespace {

using std::chrono::milliseconds;
using Clock = std::chrono::steady_clock;

class HttpLoopTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    curl_global_init(CURL_GLOBAL_DEFAULT);
    std::string script = std::string(GRANARY_SOURCE_DIR) + "/tests/sim/http_server.py";
    server_ = testing::StartPeer({"/usr/bin/python3", script});
    ASSERT_GT(server_.pid, 0) << "spawn " << script;
    port_ = std::atoi(server_.first_line.c_str());
    ASSERT_GT(port_, 0) << "no port from " << script;
  }
  static void TearDownTestSuite() { testing::StopPeer(server_); }

  static std::string Url(const std::string& path) {
    return "http://127.0.0.1:" + std::to_string(port_) + path;
  }
  static HttpClientOptions Options(const std::string& path) {
    HttpClientOptions o;
    o.url = Url(path);
    return o;
  }
  static long Millis(Clock::time_point since) {
    return static_cast<long>(
        std::chrono::duration_cast<milliseconds>(Clock::now() - since).count());
  }
  // Turns the loop until `done` holds or `limit` passes; false on the limit.
  template <typename Pred>
  static bool RunUntil(HttpLoop& loop, Pred done, milliseconds limit) {
    auto deadline = Clock::now() + limit;
    while (!done()) {
      if (Clock::now() > deadline) return false;
      loop.Run(milliseconds(50));
    }
    return true;
  }

  static testing::Peer server_;
  static int port_;
};
testing::Peer HttpLoopTest::server_;
int HttpLoopTest::port_ = 0;

// One exchange's outcome, as its Done saw it.
struct Outcome {
  bool done = false;
  Result<HttpReply> reply = Error("not run");
  Clock::time_point at;
};

HttpLoop::Done Into(Outcome& out) {
  return [&out](Result<HttpReply> r) {
    out.done = true;
    out.reply = std::move(r);
    out.at = Clock::now();
  };
}

TEST_F(HttpLoopTest, MoreExchangesThanPlacesAllComplete) {
  HttpLoop loop;  // 16 places: 40 exchanges must queue
  std::vector<std::unique_ptr<HttpClient>> clients;
  std::vector<Outcome> outcomes(40);
  for (size_t i = 0; i < outcomes.size(); ++i) {
    clients.push_back(std::make_unique<HttpClient>(Options("/nested")));
    loop.Start(clients.back()->exchange(), std::nullopt, milliseconds(10'000), Into(outcomes[i]));
  }
  EXPECT_GT(loop.queued(), 0u);
  ASSERT_TRUE(RunUntil(
      loop, [&] { return loop.running() == 0 && loop.queued() == 0; }, milliseconds(20'000)));
  for (const Outcome& o : outcomes) {
    ASSERT_TRUE(o.done);
    ASSERT_TRUE(o.reply.ok()) << o.reply.error().message();
    EXPECT_EQ(o.reply->status, 200);
    EXPECT_NE(o.reply->body.find("\"meter-1\""), std::string::npos) << o.reply->body;
  }
}

TEST_F(HttpLoopTest, HungExchangesDelayOthersByAtMostTheGrace) {
  HttpLoop loop(HttpLoop::Limits{2, milliseconds(100), 2, 16});
  std::vector<std::unique_ptr<HttpClient>> hung;
  std::vector<Outcome> hung_out(6);
  for (Outcome& o : hung_out) {
    hung.push_back(std::make_unique<HttpClient>(Options("/slow?ms=3000")));
    loop.Start(hung.back()->exchange(), std::nullopt, milliseconds(10'000), Into(o));
  }
  HttpClient fast(Options("/json"));
  Outcome fast_out;
  auto start = Clock::now();
  loop.Start(fast.exchange(), std::nullopt, milliseconds(10'000), Into(fast_out));
  ASSERT_TRUE(RunUntil(
      loop, [&] { return fast_out.done; }, milliseconds(10'000)));
  ASSERT_TRUE(fast_out.reply.ok()) << fast_out.reply.error().message();
  // Three waves of two hung exchanges, 100 ms each, then the fast one: far less than the
  // 3 s the hung ones take.
  EXPECT_LT(Millis(start), 1500);
  for (const Outcome& o : hung_out) EXPECT_FALSE(o.done);
}

TEST_F(HttpLoopTest, TimeoutIsAnErrorNamingTheUrl) {
  HttpLoop loop;
  HttpClient client(Options("/slow?ms=3000"));
  Outcome out;
  auto start = Clock::now();
  loop.Start(client.exchange(), std::nullopt, milliseconds(200), Into(out));
  ASSERT_TRUE(RunUntil(
      loop, [&] { return out.done; }, milliseconds(5000)));
  ASSERT_FALSE(out.reply.ok());
  const std::string& m = out.reply.error().message();
  EXPECT_NE(m.find("GET " + Url("/slow?ms=3000")), std::string::npos) << m;
  EXPECT_NE(m.find("timed out after 200ms"), std::string::npos) << m;
  EXPECT_LT(Millis(start), 2000);
}

TEST_F(HttpLoopTest, RefusedConnectionIsAnError) {
  // A port that was free a moment ago: nothing listens there.
  int s = socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  socklen_t len = sizeof addr;
  ASSERT_EQ(bind(s, reinterpret_cast<sockaddr*>(&addr), sizeof addr), 0);
  ASSERT_EQ(getsockname(s, reinterpret_cast<sockaddr*>(&addr), &len), 0);
  close(s);
  HttpClientOptions o;
  o.url = "http://127.0.0.1:" + std::to_string(ntohs(addr.sin_port)) + "/json";
  HttpClient client(o);
  HttpLoop loop;
  Outcome out;
  loop.Start(client.exchange(), std::nullopt, milliseconds(2000), Into(out));
  ASSERT_TRUE(RunUntil(
      loop, [&] { return out.done; }, milliseconds(5000)));
  ASSERT_FALSE(out.reply.ok());
  EXPECT_NE(out.reply.error().message().find(o.url), std::string::npos)
      << out.reply.error().message();
}

TEST_F(HttpLoopTest, StatusesAndBodyCapAreReportedAsByTheBlockingClient) {
  HttpLoop loop;
  HttpClient unavailable(Options("/status/503"));
  HttpClientOptions capped = Options("/huge");
  capped.max_body = 1024;
  HttpClient huge(capped);
  Outcome a, b;
  loop.Start(unavailable.exchange(), std::nullopt, milliseconds(5000), Into(a));
  loop.Start(huge.exchange(), std::nullopt, milliseconds(5000), Into(b));
  ASSERT_TRUE(RunUntil(
      loop, [&] { return a.done && b.done; }, milliseconds(10'000)));
  ASSERT_TRUE(a.reply.ok()) << a.reply.error().message();  // a status is a reply
  EXPECT_EQ(a.reply->status, 503);
  ASSERT_FALSE(b.reply.ok());
  EXPECT_NE(b.reply.error().message().find("body larger than max_body (1024 bytes)"),
            std::string::npos)
      << b.reply.error().message();
  // The blocking path words it the same.
  Result<HttpReply> blocking = huge.Fetch(std::nullopt, milliseconds(5000));
  ASSERT_FALSE(blocking.ok());
  EXPECT_EQ(blocking.error().message(), b.reply.error().message());
}

TEST_F(HttpLoopTest, KeptAliveConnectionIsReused) {
  HttpLoop loop;
  HttpClient client(Options("/peer"));
  std::vector<std::string> bodies;
  for (int i = 0; i < 3; ++i) {
    Outcome out;
    loop.Start(client.exchange(), std::nullopt, milliseconds(5000), Into(out));
    ASSERT_TRUE(RunUntil(
        loop, [&] { return out.done; }, milliseconds(5000)));
    ASSERT_TRUE(out.reply.ok()) << out.reply.error().message();
    bodies.push_back(out.reply->body);
  }
  // The same client port each time: one connection.
  EXPECT_EQ(bodies[0], bodies[1]);
  EXPECT_EQ(bodies[1], bodies[2]);
}

TEST_F(HttpLoopTest, WakeupEndsAWaitEarly) {
  HttpLoop loop;
  std::thread waker([&] {
    std::this_thread::sleep_for(milliseconds(100));
    loop.Wakeup();
  });
  auto start = Clock::now();
  loop.Run(milliseconds(10'000));
  waker.join();
  EXPECT_LT(Millis(start), 3000);
}

TEST_F(HttpLoopTest, DestroyedLoopAbandonsItsExchangesWithoutCallingDone) {
  HttpClient slow(Options("/slow?ms=3000"));
  HttpClient queued(Options("/json"));
  Outcome a, b;
  {
    HttpLoop loop(HttpLoop::Limits{1, milliseconds(10'000), 1, 1});
    loop.Start(slow.exchange(), std::nullopt, milliseconds(10'000), Into(a));
    loop.Start(queued.exchange(), std::nullopt, milliseconds(10'000), Into(b));
    loop.Run(milliseconds(200));
    EXPECT_EQ(loop.running(), 1u);
    EXPECT_EQ(loop.queued(), 1u);
  }
  EXPECT_FALSE(a.done);
  EXPECT_FALSE(b.done);
  // The exchange is free for a blocking fetch again.
  Result<HttpReply> again = queued.Fetch(std::nullopt, milliseconds(5000));
  EXPECT_TRUE(again.ok()) << again.error().message();
}

// ---- the scheduler's HTTP thread ----

size_t ThreadCount() {
  size_t n = 0;
  for ([[maybe_unused]] const auto& e : std::filesystem::directory_iterator("/proc/self/task")) ++n;
  return n;
}

class HttpSchedulerTest : public HttpLoopTest {
 protected:
  std::unique_ptr<Source> JsonSource(const std::string& path) {
    testing::Built b = testing::Build("type = \"http_json\"\nurl = \"" + Url(path) + "\"\n");
    EXPECT_TRUE(b.errors.empty()) << b.AllErrors();
    return std::move(b.source);
  }
  Scheduler::Sink Sink() {
    return [this](std::vector<Reading> r, milliseconds) {
      std::lock_guard<std::mutex> lock(mu_);
      size_t n = r.size();
      for (Reading& x : r) readings_.push_back(std::move(x));
      return n;
    };
  }
  // h0 ... h{n-1}, each polling /json every 200 ms.
  void AddJsonSources(Scheduler& s, int n) {
    for (int i = 0; i < n; ++i) {
      s.Add("h" + std::to_string(i), "http_json", JsonSource("/json"), milliseconds(200),
            milliseconds(1000));
    }
  }
  static SourceStats StatsOf(const Scheduler& s, const std::string& name) {
    for (const auto& st : s.Stats()) {
      if (st.name == name) return st;
    }
    ADD_FAILURE() << "no source " << name;
    return {};
  }

  std::mutex mu_;
  std::vector<Reading> readings_;
};

TEST_F(HttpSchedulerTest, HttpSourcesShareOneThread) {
  Scheduler s(Env::Default(), Sink(), nullptr);
  for (int i = 0; i < 30; ++i) {
    s.Add("h" + std::to_string(i), "http_json", JsonSource("/json"), milliseconds(200),
          milliseconds(1000));
  }
  size_t before = ThreadCount();
  s.Start();
  EXPECT_EQ(ThreadCount(), before + 1);
  std::this_thread::sleep_for(milliseconds(1500));
  s.Stop(milliseconds(1000));
  for (int i = 0; i < 30; ++i) {
    SourceStats st = StatsOf(s, "h" + std::to_string(i));
    EXPECT_GE(st.polls, 5u) << st.name;
    EXPECT_EQ(st.errors, 0u) << st.name << ": " << st.last_error;
    EXPECT_EQ(st.readings, st.polls) << st.name;
  }
  std::lock_guard<std::mutex> lock(mu_);
  ASSERT_FALSE(readings_.empty());
  EXPECT_NE(readings_.front().data_json.find("\"power\""), std::string::npos)
      << readings_.front().data_json;
}

TEST_F(HttpSchedulerTest, AHungHttpSourceOnlyDelaysItself) {
  Scheduler s(Env::Default(), Sink(), nullptr);
  s.Add("slow", "http_json", JsonSource("/slow?ms=3000"), milliseconds(200), milliseconds(700));
  s.Add("fast", "http_json", JsonSource("/json"), milliseconds(100), milliseconds(1000));
  s.Start();
  std::this_thread::sleep_for(milliseconds(2000));
  s.Stop(milliseconds(1000));
  SourceStats fast = StatsOf(s, "fast");
  SourceStats slow = StatsOf(s, "slow");
  EXPECT_GE(fast.polls, 15u);
  EXPECT_EQ(fast.errors, 0u) << fast.last_error;
  EXPECT_EQ(fast.overruns, 0u);
  EXPECT_GE(slow.errors, 1u);
  EXPECT_NE(slow.last_error.find("timed out after 700ms"), std::string::npos) << slow.last_error;
  // Ticks that came while the 700 ms poll ran are overruns, never queued polls.
  EXPECT_GE(slow.overruns, 3u);
  EXPECT_LE(slow.polls + slow.overruns, 11u);
}

TEST_F(HttpSchedulerTest, AFullBufferStallsTheHttpThreadOnceNotOncePerSource) {
  // A buffer that is full for good: it holds each caller for the wait it is given.
  std::atomic<int> calls{0}, waited_once{0};
  auto full = [&](std::vector<Reading>, milliseconds wait) -> size_t {
    ++calls;
    if (wait.count() > 0) ++waited_once;
    std::this_thread::sleep_for(wait);
    return 0;
  };
  Scheduler s(Env::Default(), full, nullptr);
  AddJsonSources(s, 10);
  s.Start();
  std::this_thread::sleep_for(milliseconds(2500));
  s.Stop(milliseconds(1000));
  // Waiting Scheduler::kSinkWait for each of the 10 sources would allow one poll each.
  for (int i = 0; i < 10; ++i) {
    SourceStats st = StatsOf(s, "h" + std::to_string(i));
    EXPECT_GE(st.polls, 3u) << st.name;
    EXPECT_EQ(st.rejected, st.polls) << st.name;
    EXPECT_EQ(st.readings, 0u) << st.name;
  }
  EXPECT_GE(calls.load(), 30);
  EXPECT_EQ(waited_once.load(), 1);
}

TEST_F(HttpSchedulerTest, TheHttpThreadWaitsAgainOnceTheBufferHasTakenReadings) {
  // Full for 700 ms, then taking everything for 700 ms, then full for good.
  const auto start = Clock::now();
  std::atomic<int> stalls{0}, accepted{0};
  auto sink = [&](std::vector<Reading> r, milliseconds wait) -> size_t {
    int64_t at = Millis(start);
    if (at >= 700 && at < 1400) {
      accepted += static_cast<int>(r.size());
      return r.size();
    }
    if (wait.count() > 0) ++stalls;
    std::this_thread::sleep_for(wait);
    return 0;
  };
  Scheduler s(Env::Default(), sink, nullptr);
  AddJsonSources(s, 10);
  s.Start();
  std::this_thread::sleep_for(milliseconds(2400) - (Clock::now() - start));
  s.Stop(milliseconds(1000));
  EXPECT_GT(accepted.load(), 0);
  // One stall per full episode: the first, and the one after the buffer took readings.
  EXPECT_EQ(stalls.load(), 2);
}

TEST_F(HttpSchedulerTest, AHungRequestIsAnErrorPerPollNotAlsoAnOverrun) {
  Scheduler s(Env::Default(), Sink(), nullptr);
  // The timeout equals the interval: the request times out just as the next tick comes.
  s.Add("hung", "http_json", JsonSource("/slow?ms=5000"), milliseconds(200), milliseconds(200));
  s.Start();
  std::this_thread::sleep_for(milliseconds(2000));
  s.Stop(milliseconds(1000));
  SourceStats st = StatsOf(s, "hung");
  EXPECT_GE(st.errors, 3u) << st.last_error;
  EXPECT_EQ(st.overruns, 0u) << "a timed-out request was counted twice";
}

TEST_F(HttpSchedulerTest, StopAbandonsARunningExchangeAtOnce) {
  Scheduler s(Env::Default(), Sink(), nullptr);
  s.Add("slow", "http_json", JsonSource("/slow?ms=5000"), milliseconds(100), milliseconds(10'000));
  s.Start();
  std::this_thread::sleep_for(milliseconds(400));  // the first poll is under way
  auto start = Clock::now();
  s.Stop(milliseconds(5000));
  EXPECT_LT(Millis(start), 1000);
  SourceStats st = StatsOf(s, "slow");
  EXPECT_EQ(st.polls, 0u);  // the abandoned exchange is neither a poll nor an error
  EXPECT_GE(st.overruns, 1u);
}

}  // namespace
}  // namespace granary
