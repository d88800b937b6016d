// Seeded random-request test of the hand-written HTTP/1.1 parser (issue 10:
// the server stays behind the test API server and the emulators, so its
// request parsing is fuzzed). Valid requests are mutated (bytes flipped,
// inserted and dropped, truncated, line endings and sizes garbled) and sent
// over loopback, one connection each, under ASan+UBSan in CI. Every answer
// must be a well-formed status line or a closed connection, and the server
// must still serve a valid request afterwards. GPUPOOL_FUZZ_SEED and
// GPUPOOL_FUZZ_CASES override the fixed defaults.
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <gtest/gtest.h>

#include <cstdlib>
#include <random>
#include <string>
#include <vector>

#include "operator/httpserver/http_server.h"

namespace gpupool::http {
namespace {

// Sends `bytes`, half-closes, and returns everything the server answered
// (empty when it closed without answering).
std::string exchange(uint16_t port, const std::string& bytes) {
  const int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_port = htons(port);
  ::inet_pton(AF_INET, "127.0.0.1", &a.sin_addr);
  timeval tv{5, 0};
  ::setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
  std::string out;
  if (::connect(fd, reinterpret_cast<sockaddr*>(&a), sizeof a) == 0) {
    std::string_view s = bytes;
    while (!s.empty()) {
      const ssize_t n = ::send(fd, s.data(), s.size(), MSG_NOSIGNAL);
      if (n <= 0) break;
      s.remove_prefix(static_cast<size_t>(n));
    }
    ::shutdown(fd, SHUT_WR);
    char buf[4096];
    for (;;) {
      const ssize_t n = ::recv(fd, buf, sizeof buf, 0);
      if (n <= 0) break;
      out.append(buf, static_cast<size_t>(n));
    }
  }
  ::close(fd);
  return out;
}

const std::vector<std::string>& seeds() {
  static const std::vector<std::string> kSeeds = {
      "GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n",
      "GET /apis/gpupool.io/v1alpha1/gpupools?watch=true&resourceVersion=12 HTTP/1.1\r\n"
      "Host: 127.0.0.1\r\nAccept: application/json\r\nUser-Agent: kubectl\r\n\r\n",
      "POST /api/v1/query HTTP/1.1\r\nHost: x\r\nContent-Length: 11\r\n\r\nhello world",
      "PUT /x HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n6\r\n "
      "world\r\n0\r\n\r\n",
      "POST /x HTTP/1.1\r\nHost: x\r\nExpect: 100-continue\r\nContent-Length: 4\r\n\r\nbody",
      "PATCH /x?a=%20b&c HTTP/1.1\r\nHost: x\r\nContent-Type: application/merge-patch+json\r\n"
      "Content-Length: 2\r\n\r\n{}",
  };
  return kSeeds;
}

std::string mutate(std::mt19937_64& rng, std::string s) {
  auto pick = [&](size_t n) { return std::uniform_int_distribution<size_t>(0, n)(rng); };
  const std::vector<std::string> tokens = {
      "\r\n",
      "\n",
      "\r",
      ":",
      " ",
      "Content-Length: 99999999999999999999\r\n",
      "Transfer-Encoding: chunked\r\n",
      "-1\r\n",
      "ffffffffffffffff\r\n",
      std::string(1, '\0'),
      "%",
      "Content-Length: 5\r\nContent-Length: 6\r\n",
      std::string(70'000, 'a'),
      "HTTP/9.9",
  };
  const size_t edits = 1 + pick(4);
  for (size_t e = 0; e < edits && !s.empty(); ++e) {
    switch (pick(5)) {
      case 0:  // flip a byte
        s[pick(s.size() - 1)] = static_cast<char>(pick(255));
        break;
      case 1:  // insert a token
        s.insert(pick(s.size()), tokens[pick(tokens.size() - 1)]);
        break;
      case 2:  // drop a range
      {
        const size_t at = pick(s.size() - 1);
        s.erase(at, pick(std::min<size_t>(16, s.size() - at)));
        break;
      }
      case 3:  // truncate
        s.resize(pick(s.size()));
        break;
      case 4:  // duplicate a range
      {
        const size_t at = pick(s.size() - 1);
        s.insert(at, s.substr(at, pick(64)));
        break;
      }
      default:  // random bytes
        for (size_t i = pick(32); i > 0; --i)
          s.insert(pick(s.size()), 1, static_cast<char>(pick(255)));
    }
  }
  return s;
}

bool well_formed(const std::string& answer) {
  if (answer.empty()) return true;  // closed without answering
  if (answer.rfind("HTTP/1.1 ", 0) != 0 || answer.size() < 12) return false;
  for (size_t i = 9; i < 12; ++i)
    if (answer[i] < '0' || answer[i] > '9') return false;
  return true;
}

TEST(HttpServerFuzz, MutatedRequestsGetAStatusOrAClosedConnectionAndTheServerLives) {
  const char* seed_env = std::getenv("GPUPOOL_FUZZ_SEED");
  const char* cases_env = std::getenv("GPUPOOL_FUZZ_CASES");
  std::mt19937_64 rng(seed_env ? std::strtoull(seed_env, nullptr, 10) : 20261129ULL);
  const int cases = cases_env ? std::atoi(cases_env) : 600;
  HttpServerOptions options;
  options.max_body_bytes = 1 << 20;
  HttpServer server(
      [](const HttpRequest& req, ResponseWriter& w) {
        (void)w.send(200, Headers{}, req.method + " " + req.path + " " + req.body);
      },
      options);
  ASSERT_TRUE(server.start().ok());
  int answered = 0, refused = 0;
  for (int c = 0; c < cases; ++c) {
    const std::string& base = seeds()[static_cast<size_t>(c) % seeds().size()];
    const std::string request = mutate(rng, base);
    const std::string answer = exchange(server.port(), request);
    ASSERT_TRUE(well_formed(answer)) << "case " << c << ": answer \"" << answer.substr(0, 80)
                                     << "\" to " << request.size() << " bytes";
    if (answer.rfind("HTTP/1.1 2", 0) == 0) ++answered;
    if (answer.rfind("HTTP/1.1 4", 0) == 0 || answer.rfind("HTTP/1.1 5", 0) == 0) ++refused;
  }
  // The mutations reach both the happy path and the error paths.
  EXPECT_GT(answered, 0);
  EXPECT_GT(refused, cases / 10);
  const std::string ok = exchange(server.port(), seeds()[2]);
  EXPECT_EQ(ok.rfind("HTTP/1.1 200", 0), 0u) << ok;
  EXPECT_NE(ok.find("POST /api/v1/query hello world"), std::string::npos) << ok;
  server.stop();
}

}  // namespace
}  // namespace gpupool::http
