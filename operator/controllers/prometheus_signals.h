#pragma once
// DemandSignals from Prometheus: metric i of a pool is one PromQL instant
// query (PrometheusSource) against the metric's prometheusUrl, else the
// operator's --prometheus-url. A metric without a query asks the
// conventional series for its type (docs/autoscaling.md):
//   QueueDepth         sum(gpupool_queue_depth{namespace="NS",pool="POOL"})
//   RequestsPerSecond  sum(rate(gpupool_requests_total{namespace="NS",pool="POOL"}[2m]))
//   GpuUtilization     avg(gpupool_gpu_utilization_ratio{namespace="NS",pool="POOL"})
// (External always has its own query: the API requires it.) Without any
// address the reading fails with a message saying which to set, so the
// pool's count holds. PendingPods is not read here (the pool reconciler
// counts pods).
//
// Thread-safety: read() is safe concurrently (PrometheusSource is, and the
// transport is thread-safe).

#include <string>

#include "operator/controllers/demand_signals.h"
#include "providers/http/transport.h"

namespace gpupool::controllers {

class PrometheusSignals final : public DemandSignals {
 public:
  // `default_url` may be empty (no --prometheus-url).
  PrometheusSignals(net::HttpTransport& transport, std::string default_url);

  autoscale::Signal read(const api::GpuPool& pool, size_t index, Time now) override;

  // The query metric `index` of `pool` runs.
  static std::string query_for(const api::GpuPool& pool, size_t index);

 private:
  net::HttpTransport& transport_;
  std::string default_url_;
};

}  // namespace gpupool::controllers
