#include "operator/controllers/endpoint_prober.h"

#include <algorithm>
#include <regex>

#include "providers/http/curl_transport.h"

namespace gpupool::controllers {
namespace {

std::unique_ptr<net::HttpTransport> curl_with_timeout(std::chrono::milliseconds timeout) {
  net::CurlOptions o;
  o.connect_timeout = timeout;
  o.total_timeout = timeout;
  o.max_idle_handles = 4;
  o.max_response_bytes = size_t{1024} * 1024;
  o.user_agent = "gpupool-operator health-check";
  return std::make_unique<net::CurlTransport>(o);
}

// The transport's message without the elapsed time curl puts in it ("after
// 3 ms", "after 2001 milliseconds"), so the same failure reads the same
// every time and a status that carries it is not rewritten on every probe.
std::string stable(const std::string& message) {
  static const std::regex elapsed(R"( after [0-9]+ (ms|milliseconds))");
  return std::regex_replace(message, elapsed, "");
}

}  // namespace

HttpEndpointProber::HttpEndpointProber() : factory_(curl_with_timeout) {}

HttpEndpointProber::HttpEndpointProber(TransportFactory factory) : factory_(std::move(factory)) {}

net::HttpTransport& HttpEndpointProber::transport_for(Duration timeout) {
  const int64_t seconds = std::max<int64_t>(1, timeout.count());
  MutexLock lock(mu_);
  auto& t = transports_[seconds];
  if (!t) t = factory_(std::chrono::milliseconds(seconds * 1000));
  return *t;
}

health::Probe HttpEndpointProber::probe(const std::string& url, Duration timeout) {
  net::Request req;
  req.method = "GET";
  req.url = url;
  req.headers = {{"Accept", "*/*"}};
  auto r = transport_for(timeout).send(req);
  if (!r.ok()) {
    return {false, std::string(net::to_string(r.error().kind)) + ": " + stable(r.error().message)};
  }
  const int status = r->status;
  return {status >= 200 && status < 300, "HTTP " + std::to_string(status)};
}

}  // namespace gpupool::controllers
