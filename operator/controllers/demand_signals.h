#pragma once
// Where the pool reconciler reads a pool's demand signals from
// (spec.autoscaling.metrics). One reading per metric per reconcile; the
// autoscaler (operator/core/autoscaler.h) turns the readings into a desired
// machine count.
//
// Implementations:
//   * PrometheusSignals (prometheus_signals.h): a PromQL instant query per
//     metric against the metric's prometheusUrl, else the operator's
//     --prometheus-url;
//   * the simulator's (operator/sim): a Prometheus that answers with the
//     demand trace, through the same PrometheusSignals.
// PendingPods metrics are not read here: the pool reconciler counts the
// pending pods itself from the API.
//
// Thread-safety: read() is called from several reconcile workers at once;
// implementations must be safe for that.

#include <cstddef>

#include "operator/clock/clock.h"
#include "operator/core/api_types.h"
#include "operator/core/autoscaler.h"

namespace gpupool::controllers {

class DemandSignals {
 public:
  virtual ~DemandSignals() = default;
  // The current value of pool.spec.autoscaling.metrics[index], or a Signal
  // with no value and an error a person can act on.
  virtual autoscale::Signal read(const api::GpuPool& pool, size_t index, Time now) = 0;
};

}  // namespace gpupool::controllers
