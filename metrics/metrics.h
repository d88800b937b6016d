#pragma once
// The operator's Prometheus metrics (catalog: metrics/README.md), on one
// prometheus-cpp Registry, exported by prometheus-cpp (Exposer or
// TextSerializer).
//
// One typed struct per component holds its families (Envoy style):
//   ProviderApiMetrics  calls / latency histogram / errors by kind; it is the
//                       ProviderObserver every InstrumentedProvider reports to;
//   ControllerMetrics   reconciles, errors, duration histogram, work queue;
//   InstanceMetrics     machines given up on and replaced, by reason;
//   OperatorInfoMetrics leader, build info.
// Their counters and gauges that mirror a source (controller and work-queue
// counters, leader) are brought up to date by Metrics::collect(), i.e. at
// scrape time.
//
// Pool and provider families are never stored: PoolCollector rebuilds them at
// every scrape from the informer caches (kube::Store of pools, instances and
// providers), so a deleted pool's or provider's series disappear with it.
// Metrics never compute spend: the collector decodes the objects, parses each
// pool's ledger annotation and calls spend:: at clock.now(). Money becomes a
// double only here, at export.
//   gpupool_pool_spend_usd_total{provider=p} = ledger.providers[p] + Σ accrued
//     of the pool's live, unfolded instances at p. Spend folded before the
//     ledger kept a provider split (or charged to no provider) is exported
//     with provider="". Recomputed from the API objects, so it survives
//     restarts and instance deletion; in memory the collector also keeps the
//     largest value it exported per series, so it never goes down.
//   paid idle GPU-seconds = Σ over parked instances of gpus × (now −
//     status.parkedAt); a counter: the largest figure seen per series is kept
//     in memory (seeded from the current figure after a restart).
// A pool whose ledger cannot be parsed exports no spend series (its status
// reports the problem).
//
// Thread-safety: collect()/serialize() and the observers may run on any
// thread concurrently (prometheus-cpp families are thread-safe; the
// collector's memory is behind a mutex).

#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <tuple>
#include <vector>

#include <prometheus/collectable.h>
#include <prometheus/counter.h>
#include <prometheus/family.h>
#include <prometheus/gauge.h>
#include <prometheus/histogram.h>
#include <prometheus/metric_family.h>
#include <prometheus/registry.h>

#include "operator/base/thread_annotations.h"
#include "operator/clock/clock.h"
#include "operator/controllers/garbage_collector.h"
#include "operator/controllers/provider_registry.h"
#include "operator/controllers/provider_slots.h"
#include "operator/kube/runtime/controller.h"
#include "operator/kube/runtime/store.h"
#include "providers/instrumented/instrumented_provider.h"
#include "providers/unavailable/unavailable_offers.h"

namespace gpupool::metrics {

class ProviderApiMetrics final : public ProviderObserver {
 public:
  explicit ProviderApiMetrics(prometheus::Registry& registry);
  void observe(std::string_view provider, std::string_view method, const ProviderError* error,
               std::chrono::nanoseconds latency) override;

 private:
  prometheus::Family<prometheus::Counter>& calls_;
  prometheus::Family<prometheus::Histogram>& duration_;
  prometheus::Family<prometheus::Counter>& errors_;
};

class ControllerMetrics {
 public:
  explicit ControllerMetrics(prometheus::Registry& registry);
  // Called by the reconcile wrapper after each reconcile.
  void observe_reconcile(const std::string& controller, std::chrono::nanoseconds took);
  // Mirrors the controller's and its queue's counters (scrape time).
  void sync(kube::Controller& controller);

 private:
  prometheus::Family<prometheus::Counter>& reconciles_;
  prometheus::Family<prometheus::Counter>& errors_;
  prometheus::Family<prometheus::Histogram>& duration_;
  prometheus::Family<prometheus::Gauge>& depth_;
  prometheus::Family<prometheus::Counter>& adds_;
  prometheus::Family<prometheus::Counter>& retries_;
  prometheus::Family<prometheus::Gauge>& longest_running_;
};

class OperatorInfoMetrics {
 public:
  OperatorInfoMetrics(prometheus::Registry& registry, const std::string& version,
                      const std::string& revision);
  void set_leader(bool leading) { leader_.Set(leading ? 1 : 0); }

 private:
  prometheus::Gauge& leader_;
};

// Machines the operator gave up on (GpuInstance status Failed; the pool
// ends and replaces them), by status.reason; the instance reconciler reports
// each once, after the Failed status is written (Context::on_failed).
class InstanceMetrics {
 public:
  explicit InstanceMetrics(prometheus::Registry& registry);
  void failed(const std::string& namespace_, const std::string& pool, const std::string& provider,
              const std::string& reason);

 private:
  prometheus::Family<prometheus::Counter>& failures_;
};

// What the pool and provider collector reads at scrape time. Everything
// referenced must outlive the Metrics object; the optional pieces may be
// null (unit tests).
struct Sources {
  const Clock& clock;
  const kube::Store& pools;
  const kube::Store& instances;
  const kube::Store& providers;
  const controllers::ProviderRegistry* registry = nullptr;
  UnavailableOffers* unavailable = nullptr;
  const controllers::GarbageCollector* gc = nullptr;
  // The controllers to report on (they may not exist yet: empty).
  std::function<std::vector<kube::Controller*>()> controllers;
  // Leader status; empty: always 1 (no leader election).
  std::function<bool()> leading;
  std::string version = "0.0.0-dev";
  std::string revision = "unknown";
  // Refused provider-call slots by provider (--provider-concurrency); null:
  // every GpuProvider's count reads 0.
  const controllers::ProviderSlots* provider_slots = nullptr;
};

// Pool and provider families built from the caches at every Collect().
class PoolCollector final : public prometheus::Collectable {
 public:
  explicit PoolCollector(const Sources& sources) : src_(sources) {}
  std::vector<prometheus::MetricFamily> Collect() const override;

 private:
  using SeriesKey = std::tuple<std::string, std::string, std::string>;  // ns, pool, provider
  const Sources& src_;
  mutable Mutex mu_;
  mutable std::map<SeriesKey, double> spend_max_ GUARDED_BY(mu_);
  mutable std::map<SeriesKey, double> idle_max_ GUARDED_BY(mu_);
};

class Metrics final : public prometheus::Collectable {
 public:
  explicit Metrics(Sources sources);
  Metrics(const Metrics&) = delete;
  Metrics& operator=(const Metrics&) = delete;

  ProviderObserver& provider_observer() { return provider_api_; }
  ControllerMetrics& controllers() { return controller_; }
  InstanceMetrics& instances() { return instances_; }

  // Every family of the catalog, mirrors synced first.
  std::vector<prometheus::MetricFamily> Collect() const override;
  // Prometheus text exposition (0.0.4) of Collect().
  std::string serialize() const;

 private:
  Sources src_;
  std::shared_ptr<prometheus::Registry> registry_;
  ProviderApiMetrics provider_api_;
  mutable ControllerMetrics controller_;
  mutable OperatorInfoMetrics info_;
  InstanceMetrics instances_;
  PoolCollector pools_;
};

}  // namespace gpupool::metrics
