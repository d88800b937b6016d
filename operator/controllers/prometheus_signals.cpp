#include "operator/controllers/prometheus_signals.h"

#include "operator/controllers/prometheus_source.h"

namespace gpupool::controllers {

PrometheusSignals::PrometheusSignals(net::HttpTransport& transport, std::string default_url)
    : transport_(transport), default_url_(std::move(default_url)) {}

std::string PrometheusSignals::query_for(const api::GpuPool& pool, size_t index) {
  const api::MetricSpec& m = pool.spec.autoscaling.metrics.at(index);
  if (m.query && !m.query->empty()) return *m.query;
  // Namespace and pool names are DNS labels: nothing to escape.
  const std::string sel =
      "{namespace=\"" + pool.metadata.namespace_ + "\",pool=\"" + pool.metadata.name + "\"}";
  switch (m.type) {
    case api::MetricType::QueueDepth:
      return "sum(gpupool_queue_depth" + sel + ")";
    case api::MetricType::RequestsPerSecond:
      return "sum(rate(gpupool_requests_total" + sel + "[2m]))";
    case api::MetricType::GpuUtilization:
      return "avg(gpupool_gpu_utilization_ratio" + sel + ")";
    case api::MetricType::External:
    case api::MetricType::PendingPods:
      break;
  }
  return {};
}

autoscale::Signal PrometheusSignals::read(const api::GpuPool& pool, size_t index, Time now) {
  const auto& metrics = pool.spec.autoscaling.metrics;
  if (index >= metrics.size()) return {std::nullopt, "no such metric"};
  const api::MetricSpec& m = metrics[index];
  if (m.type == api::MetricType::PendingPods) {
    return {std::nullopt, "PendingPods is counted from the API, not Prometheus"};
  }
  const std::string url = m.prometheus_url.value_or(default_url_);
  if (url.empty()) {
    return {std::nullopt,
            "no Prometheus address: set the operator's --prometheus-url or this metric's "
            "prometheusUrl"};
  }
  const std::string q = query_for(pool, index);
  if (q.empty()) return {std::nullopt, "no query: an External metric needs spec query"};
  return PrometheusSource(transport_, url).query(q, now);
}

}  // namespace gpupool::controllers
