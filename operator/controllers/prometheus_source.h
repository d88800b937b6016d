#pragma once
// A demand signal read from Prometheus: one PromQL instant query
// (GET <base>/api/v1/query?query=...&time=<now>) whose answer must be one
// number. Accepted answers: resultType "scalar", or "vector" with exactly one
// sample. Anything else is an error with a message a person can act on, and
// the autoscaler holds the pool's count (autoscaler.h, rule 1):
//   * no answer (connection refused, timeout): "Prometheus at URL: ...";
//   * HTTP status other than 200, or status "error": the errorType and error
//     Prometheus returned;
//   * not JSON, or not the documented shape: "unreadable answer";
//   * an empty vector: "the query returned no series" (a metric that does not
//     exist yet is not demand zero);
//   * several series: "the query returned N series; aggregate it (sum, avg)";
//   * NaN, infinite or negative values.
// Requests go through the shared HTTP transport (libcurl in production, a
// fake in tests) with the given timeout; nothing is retried here: the pool is
// reconciled again soon.
//
// Thread-safety: query() is safe concurrently when the transport is.

#include <string>

#include "operator/clock/clock.h"
#include "operator/core/autoscaler.h"
#include "providers/http/transport.h"

namespace gpupool::controllers {

class PrometheusSource {
 public:
  // `base_url`: "http://prometheus.monitoring:9090" (a trailing slash is fine).
  PrometheusSource(net::HttpTransport& transport, std::string base_url);

  autoscale::Signal query(const std::string& promql, Time now) const;

 private:
  net::HttpTransport& transport_;
  std::string base_url_;
};

}  // namespace gpupool::controllers
