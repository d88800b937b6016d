// The real health prober (libcurl) against a real HTTP server on loopback:
// 200 is healthy, 500 is not, a closed port is a connection error, and the
// message never carries the answer's body.
#include "operator/controllers/endpoint_prober.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <string>

#include "operator/httpserver/http_server.h"

namespace gpupool::controllers {
namespace {

using ::testing::HasSubstr;
using ::testing::Not;

TEST(EndpointProberTest, ARealServerAnswering200ThenHealthy500ThenNot) {
  std::atomic<int> status{200};
  std::atomic<int> calls{0};
  std::string seen_path;
  std::mutex mu;
  http::HttpServer server([&](const http::HttpRequest& req, http::ResponseWriter& w) {
    ++calls;
    {
      std::lock_guard lock(mu);
      seen_path = req.method + " " + req.path;
    }
    w.send(status.load(), http::Headers{{"Content-Type", "text/plain"}},
           "secret-looking body token=abc123");
  });
  auto started = server.start();
  ASSERT_TRUE(started.ok()) << started.error().message;
  const std::string url = "http://127.0.0.1:" + std::to_string(server.port()) + "/health";

  HttpEndpointProber prober;
  health::Probe p = prober.probe(url, Duration{2});
  EXPECT_TRUE(p.ok) << p.detail;
  EXPECT_EQ(p.detail, "HTTP 200");
  {
    std::lock_guard lock(mu);
    EXPECT_EQ(seen_path, "GET /health");
  }

  status = 500;
  p = prober.probe(url, Duration{2});
  EXPECT_FALSE(p.ok);
  EXPECT_EQ(p.detail, "HTTP 500");
  EXPECT_THAT(p.detail, Not(HasSubstr("abc123")));

  status = 302;  // redirects are not followed, and not healthy
  p = prober.probe(url, Duration{2});
  EXPECT_FALSE(p.ok);
  EXPECT_EQ(p.detail, "HTTP 302");
  EXPECT_EQ(calls.load(), 3);

  // Nothing listens any more: a connection error, named.
  server.stop();
  p = prober.probe(url, Duration{1});
  EXPECT_FALSE(p.ok);
  EXPECT_THAT(p.detail, HasSubstr("connect: "));
  EXPECT_THAT(p.detail, Not(HasSubstr(" ms"))) << "elapsed time makes every failure differ";
}

}  // namespace
}  // namespace gpupool::controllers
