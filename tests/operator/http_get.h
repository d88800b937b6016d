#pragma once
// Plain HTTP/1.1 over loopback for the operator's integration tests (the
// operator's /metrics and /readyz, the fake provider server's /ledger, the
// leadership test's recording proxy): one request per connection
// ("Connection: close"), read to EOF.

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

#include <chrono>
#include <cstdint>
#include <cstdlib>
#include <string>

namespace gpupool::testing_http {

// A socket connected to 127.0.0.1:port whose reads and writes give up after
// `timeout`; -1 when nothing listens.
inline int connect_loopback(uint16_t port, std::chrono::milliseconds timeout) {
  const int fd = socket(AF_INET, SOCK_STREAM, 0);
  if (fd < 0) return -1;
  timeval tv{static_cast<time_t>(timeout.count() / 1000),
             static_cast<suseconds_t>((timeout.count() % 1000) * 1000)};
  setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
  setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_port = htons(port);
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0) {
    close(fd);
    return -1;
  }
  return fd;
}

inline bool write_all(int fd, const std::string& data) {
  size_t done = 0;
  while (done < data.size()) {
    const ssize_t n = write(fd, data.data() + done, data.size() - done);
    if (n <= 0) return false;
    done += static_cast<size_t>(n);
  }
  return true;
}

struct HttpReply {
  int status = -1;  // -1: no answer
  std::string body;
};

// One request; a body is sent as JSON.
inline HttpReply http_call(uint16_t port, const std::string& method, const std::string& path,
                           const std::string& body = "",
                           std::chrono::milliseconds timeout = std::chrono::seconds(2)) {
  HttpReply reply;
  const int fd = connect_loopback(port, timeout);
  if (fd < 0) return reply;
  std::string req = method + " " + path + " HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n";
  if (!body.empty()) {
    req +=
        "Content-Type: application/json\r\nContent-Length: " + std::to_string(body.size()) + "\r\n";
  }
  req += "\r\n" + body;
  std::string all;
  if (write_all(fd, req)) {
    char buf[8192];
    for (;;) {
      const ssize_t n = read(fd, buf, sizeof buf);
      if (n <= 0) break;
      all.append(buf, static_cast<size_t>(n));
    }
  }
  close(fd);
  const auto sep = all.find("\r\n\r\n");
  if (all.size() < 12 || sep == std::string::npos) return reply;
  reply.status = std::atoi(all.c_str() + 9);
  reply.body = all.substr(sep + 4);
  return reply;
}

// The body of GET path, or "" when nothing answers.
inline std::string http_get(uint16_t port, const std::string& path) {
  return http_call(port, "GET", path, "", std::chrono::seconds(10)).body;
}

}  // namespace gpupool::testing_http
