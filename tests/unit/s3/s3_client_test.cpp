// The S3 client's requests as they reach the wire, captured by a loopback listener: the
// session token is sent and signed, the key is encoded once in S3's canonical form, and
// the signature verifies with the secret. (The Swift test server has no session tokens,
// so this is where temporary credentials are proven.)
#include "s3/s3_client.h"

#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <map>
#include <thread>

#include "platform/crypto.h"
#include "s3/sigv4.h"

namespace granary {
namespace {

struct Captured {
  std::string request_line;
  std::map<std::string, std::string> headers;  // names lowercased
  std::string body;
};

// Accepts one connection, reads one request, answers 200 with the ETag of the body.
class OneShotServer {
 public:
  OneShotServer() {
    fd_ = ::socket(AF_INET, SOCK_STREAM, 0);
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    EXPECT_EQ(::bind(fd_, reinterpret_cast<sockaddr*>(&a), sizeof a), 0);
    socklen_t len = sizeof a;
    ::getsockname(fd_, reinterpret_cast<sockaddr*>(&a), &len);
    port_ = ntohs(a.sin_port);
    ::listen(fd_, 1);
    thread_ = std::thread([this] { Serve(); });
  }
  ~OneShotServer() {
    if (thread_.joinable()) thread_.join();
    ::close(fd_);
  }
  int port() const { return port_; }
  Captured Wait() {
    thread_.join();
    return captured_;
  }

 private:
  void Serve() {
    int c = ::accept(fd_, nullptr, nullptr);
    if (c < 0) return;
    std::string in;
    char buf[4096];
    size_t head_end = std::string::npos;
    size_t want = 0;
    for (;;) {
      ssize_t n = ::recv(c, buf, sizeof buf, 0);
      if (n <= 0) break;
      in.append(buf, static_cast<size_t>(n));
      if (head_end == std::string::npos && (head_end = in.find("\r\n\r\n")) != std::string::npos) {
        Parse(in.substr(0, head_end));
        want = std::stoul(captured_.headers["content-length"]);
      }
      if (head_end != std::string::npos && in.size() >= head_end + 4 + want) break;
    }
    if (head_end != std::string::npos) captured_.body = in.substr(head_end + 4, want);
    std::string reply = "HTTP/1.1 200 OK\r\nETag: \"" + Md5Hex(captured_.body) +
                        "\"\r\nContent-Length: 0\r\nConnection: close\r\n\r\n";
    (void)!::send(c, reply.data(), reply.size(), MSG_NOSIGNAL);
    ::close(c);
  }

  void Parse(const std::string& head) {
    size_t pos = head.find("\r\n");
    captured_.request_line = head.substr(0, pos);
    while (pos != std::string::npos && pos < head.size()) {
      size_t next = head.find("\r\n", pos + 2);
      std::string line =
          head.substr(pos + 2, next == std::string::npos ? std::string::npos : next - pos - 2);
      size_t colon = line.find(':');
      if (colon != std::string::npos) {
        std::string name = line.substr(0, colon);
        std::transform(name.begin(), name.end(), name.begin(), ::tolower);
        captured_.headers[name] = line.substr(line.find_first_not_of(' ', colon + 1));
      }
      pos = next;
    }
  }

  int fd_ = -1;
  int port_ = 0;
  std::thread thread_;
  Captured captured_;
};

S3Options OptionsFor(const OneShotServer& server) {
  S3Options o;
  o.endpoint = "http://127.0.0.1:" + std::to_string(server.port());
  o.bucket = "fleet-bucket";
  o.region = "eu-west-1";
  return o;
}

TEST(S3Client, SessionTokenIsSentAndSignedAndTheSignatureVerifies) {
  OneShotServer server;
  S3Options o = OptionsFor(server);
  Credentials creds{"ASIAEXAMPLEKEY", "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY",
                    "FQoGZXIvYXdzEJr//token=="};
  S3Client client(Env::Default(), o, creds);
  const std::string key = "fléet data/a b+c=d.jsonl.gz";
  auto r = client.PutObjectData(key, "hello\n", {{"x-amz-meta-granary-device", "h017"}});
  ASSERT_TRUE(r.ok()) << r.error().message();
  EXPECT_EQ(r->status, 200);
  Captured c = server.Wait();

  EXPECT_EQ(c.request_line, "PUT /fleet-bucket/fl%C3%A9et%20data/a%20b%2Bc%3Dd.jsonl.gz HTTP/1.1");
  EXPECT_EQ(c.body, "hello\n");
  EXPECT_EQ(c.headers["x-amz-security-token"], creds.session_token);
  EXPECT_EQ(c.headers["x-amz-content-sha256"], Sha256Hex("hello\n"));
  EXPECT_EQ(c.headers["x-amz-meta-granary-device"], "h017");

  auto auth = sigv4::ParseAuthorization(c.headers["authorization"]);
  ASSERT_TRUE(auth.ok()) << c.headers["authorization"];
  EXPECT_EQ(auth->access_key, creds.access_key);
  EXPECT_EQ(auth->scope.region, "eu-west-1");
  for (const char* must : {"host", "x-amz-date", "x-amz-content-sha256", "x-amz-security-token",
                           "content-md5", "x-amz-meta-granary-device"}) {
    EXPECT_NE(std::find(auth->signed_headers.begin(), auth->signed_headers.end(), must),
              auth->signed_headers.end())
        << must << " is not signed";
  }

  // Verify as a server would: from the wire, with the secret.
  sigv4::Request req;
  req.method = "PUT";
  std::string target = c.request_line.substr(4, c.request_line.rfind(' ') - 4);
  req.path = target;
  for (const std::string& name : auth->signed_headers)
    req.headers.emplace_back(name, c.headers[name]);
  req.payload_hash = c.headers["x-amz-content-sha256"];
  auto creq = sigv4::CanonicalRequest(req, auth->signed_headers);
  ASSERT_TRUE(creq.ok());
  std::string sts = sigv4::StringToSign(c.headers["x-amz-date"], auth->scope, *creq);
  EXPECT_EQ(sigv4::Signature(creds.secret_key, auth->scope, sts), auth->signature);
  EXPECT_NE(sigv4::Signature("wrong-secret", auth->scope, sts), auth->signature);
}

// Idle() lets go of libcurl's handle; the next request makes a new one and goes out whole.
TEST(S3Client, ARequestAfterIdleOpensANewHandle) {
  OneShotServer server;
  S3Client client(Env::Default(), OptionsFor(server), Credentials{"AKIDEXAMPLE", "secret", ""});
  client.Idle();
  auto r = client.PutObjectData("k", "after idle\n", {});
  ASSERT_TRUE(r.ok()) << r.error().message();
  EXPECT_EQ(r->status, 200);
  EXPECT_EQ(server.Wait().body, "after idle\n");
  client.Idle();
  client.Idle();  // twice is harmless
}

}  // namespace
}  // namespace granary
