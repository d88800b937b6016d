#pragma once
// The HTTP health check of an Endpoint-mode machine (issue 13): one GET of
// http://address:port/healthPath, answered 2xx or not. The seam the instance
// reconciler probes through: inline (Context::prober: the simulator's and
// tests' immediate answers) or on the threads of a ProbePool
// (endpoint_prober_pool.h: what `run` does with HttpEndpointProber, so a
// probe never holds a reconcile worker). The thresholds, period and startup
// timeout are decided by operator/core/endpoint_health.h.
//
// HttpEndpointProber sends the GET through the shared HTTP transport
// (providers/http/transport.h: libcurl in production, as the Prometheus
// signal does), with the check's timeout as both connect and total timeout,
// and never retries: the next probe is the retry. What it reports:
//   * any answer: ok when the status is 2xx, detail "HTTP <status>" (the body
//     is never read into a message: it may echo anything);
//   * no answer: detail "<connect|timeout|tls|broken|invalid>: <transport
//     message>" (the transport's messages carry no request headers or bodies),
//     without the elapsed time curl puts in it, so one failure always reads
//     the same (the reconciler writes it only when it changes).
// Redirects are not followed (a 3xx is not healthy).
//
// Thread-safety: probe() is safe to call concurrently (one transport per
// distinct timeout, made on first use under a lock, each thread-safe).

#include <functional>
#include <map>
#include <memory>
#include <string>

#include "operator/base/thread_annotations.h"
#include "operator/clock/clock.h"
#include "operator/core/endpoint_health.h"
#include "providers/http/transport.h"

namespace gpupool::controllers {

class EndpointProber {
 public:
  virtual ~EndpointProber() = default;
  // GET `url` ("http://host:port/path") within `timeout`.
  virtual health::Probe probe(const std::string& url, Duration timeout) = 0;
  // True for a prober whose answers never change (the simulator's): a Ready
  // machine is then not re-probed every period, only polled as any running
  // machine is. Real probers answer false.
  virtual bool answers_never_change() const { return false; }
};

class HttpEndpointProber final : public EndpointProber {
 public:
  // Makes the transport used for one timeout. Default: a CurlTransport with
  // that connect and total timeout and a 1 MiB answer limit.
  using TransportFactory =
      std::function<std::unique_ptr<net::HttpTransport>(std::chrono::milliseconds timeout)>;

  HttpEndpointProber();
  explicit HttpEndpointProber(TransportFactory factory);

  health::Probe probe(const std::string& url, Duration timeout) override;

 private:
  net::HttpTransport& transport_for(Duration timeout) EXCLUDES(mu_);

  TransportFactory factory_;
  Mutex mu_;
  std::map<int64_t, std::unique_ptr<net::HttpTransport>> transports_ GUARDED_BY(mu_);
};

}  // namespace gpupool::controllers
