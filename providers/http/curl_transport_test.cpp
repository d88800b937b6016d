// CurlTransport against a minimal loopback server written inline (plain
// sockets, one thread), so the real libcurl path is exercised.
#include "providers/http/curl_transport.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <string>
#include <thread>

#include <gtest/gtest.h>

namespace gpupool::net {
namespace {

int listen_loopback(int& port) {
  int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  addr.sin_port = 0;
  if (::bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) != 0) return -1;
  if (::listen(fd, 8) != 0) return -1;
  socklen_t len = sizeof(addr);
  ::getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len);
  port = ntohs(addr.sin_port);
  return fd;
}

// Serves `count` requests on keep-alive connections, echoing method, path
// and body; records how many TCP connections were accepted.
class TinyServer {
 public:
  explicit TinyServer(int count) {
    fd_ = listen_loopback(port_);
    thread_ = std::thread([this, count] { run(count); });
  }
  ~TinyServer() {
    thread_.join();
    ::close(fd_);
  }
  int port() const { return port_; }
  int connections() const { return connections_.load(); }

 private:
  void run(int count) {
    int served = 0;
    while (served < count) {
      int c = ::accept(fd_, nullptr, nullptr);
      if (c < 0) return;
      ++connections_;
      std::string buf;
      while (served < count) {
        size_t head_end;
        while ((head_end = buf.find("\r\n\r\n")) == std::string::npos) {
          char tmp[4096];
          ssize_t n = ::recv(c, tmp, sizeof(tmp), 0);
          if (n <= 0) break;
          buf.append(tmp, static_cast<size_t>(n));
        }
        if (head_end == std::string::npos) break;
        std::string head = buf.substr(0, head_end);
        size_t content_length = 0;
        auto pos = head.find("Content-Length: ");
        if (pos != std::string::npos) content_length = std::stoul(head.substr(pos + 16));
        while (buf.size() < head_end + 4 + content_length) {
          char tmp[4096];
          ssize_t n = ::recv(c, tmp, sizeof(tmp), 0);
          if (n <= 0) break;
          buf.append(tmp, static_cast<size_t>(n));
        }
        std::string body = buf.substr(head_end + 4, content_length);
        buf.erase(0, head_end + 4 + content_length);
        std::string request_line = head.substr(0, head.find("\r\n"));
        bool has_custom = head.find("X-Test: yes") != std::string::npos;
        std::string reply = request_line + "|" + body + "|" + (has_custom ? "hdr" : "nohdr");
        std::string resp =
            "HTTP/1.1 201 Created\r\nContent-Type: text/plain\r\nRetry-After: "
            "3\r\nContent-Length: " +
            std::to_string(reply.size()) + "\r\n\r\n" + reply;
        ::send(c, resp.data(), resp.size(), MSG_NOSIGNAL);
        ++served;
      }
      ::close(c);
    }
  }

  int fd_ = -1;
  int port_ = 0;
  std::atomic<int> connections_{0};
  std::thread thread_;
};

TEST(CurlTransport, SendsMethodHeadersBodyAndReusesTheConnection) {
  TinyServer server(3);
  CurlTransport t;
  std::string base = "http://127.0.0.1:" + std::to_string(server.port());
  Request post;
  post.method = "POST";
  post.url = base + "/a?x=1";
  post.headers = {{"X-Test", "yes"}, {"Content-Type", "application/json"}};
  post.body = R"({"k":1})";
  auto r1 = t.send(post);
  ASSERT_TRUE(r1.ok()) << r1.error().message;
  EXPECT_EQ(r1->status, 201);
  EXPECT_EQ(r1->body, "POST /a?x=1 HTTP/1.1|{\"k\":1}|hdr");
  EXPECT_EQ(find_header(r1->headers, "retry-after"), "3");

  Request del;
  del.method = "DELETE";
  del.url = base + "/b";
  auto r2 = t.send(del);
  ASSERT_TRUE(r2.ok());
  EXPECT_EQ(r2->body, "DELETE /b HTTP/1.1||nohdr");

  Request get;
  get.url = base + "/c";
  auto r3 = t.send(get);
  ASSERT_TRUE(r3.ok());
  EXPECT_EQ(r3->body, "GET /c HTTP/1.1||nohdr");
  EXPECT_EQ(server.connections(), 1);
}

TEST(CurlTransport, ClosedPortIsAConnectError) {
  int port = 0;
  int fd = listen_loopback(port);
  ASSERT_GE(fd, 0);
  ::close(fd);  // nothing listens there any more
  CurlTransport t;
  Request r;
  r.url = "http://127.0.0.1:" + std::to_string(port) + "/";
  auto res = t.send(r);
  ASSERT_FALSE(res.ok());
  EXPECT_EQ(res.error().kind, TransportErrorKind::Connect);
}

TEST(CurlTransport, SilentServerTimesOut) {
  int port = 0;
  int fd = listen_loopback(port);  // accepts (backlog) but never answers
  ASSERT_GE(fd, 0);
  CurlOptions o;
  o.total_timeout = std::chrono::milliseconds(300);
  CurlTransport t(o);
  Request r;
  r.url = "http://127.0.0.1:" + std::to_string(port) + "/";
  auto res = t.send(r);
  ::close(fd);
  ASSERT_FALSE(res.ok());
  EXPECT_EQ(res.error().kind, TransportErrorKind::Timeout);
}

TEST(CurlTransport, TlsAgainstAPlainServerIsATlsError) {
  int port = 0;
  int fd = listen_loopback(port);
  ASSERT_GE(fd, 0);
  std::thread server([fd] {
    int c = ::accept(fd, nullptr, nullptr);
    if (c < 0) return;
    char tmp[1024];
    (void)::recv(c, tmp, sizeof(tmp), 0);  // the TLS ClientHello
    std::string reply = "HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\n\r\n";
    ::send(c, reply.data(), reply.size(), MSG_NOSIGNAL);
    ::close(c);
  });
  CurlOptions o;
  o.total_timeout = std::chrono::milliseconds(5000);
  CurlTransport t(o);
  Request r;
  r.url = "https://127.0.0.1:" + std::to_string(port) + "/";
  auto res = t.send(r);
  server.join();
  ::close(fd);
  ASSERT_FALSE(res.ok());
  EXPECT_EQ(res.error().kind, TransportErrorKind::Tls) << res.error().message;
}

TEST(CurlTransport, BadUrlAndMethodAreInvalid) {
  CurlTransport t;
  Request r;
  r.url = "http://127.0.0.1:1/";
  r.method = "BREW";
  auto res = t.send(r);
  ASSERT_FALSE(res.ok());
  EXPECT_EQ(res.error().kind, TransportErrorKind::Invalid);
}

}  // namespace
}  // namespace gpupool::net
