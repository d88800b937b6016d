#include "metrics/metrics.h"

#include <algorithm>
#include <limits>
#include <set>
#include <sstream>

#include <prometheus/text_serializer.h>

#include "operator/controllers/context.h"
#include "operator/core/api_codec.h"
#include "operator/core/pool_decision.h"
#include "operator/core/spend.h"

namespace gpupool::metrics {

namespace {

using prometheus::ClientMetric;
using prometheus::MetricFamily;
using prometheus::MetricType;
using Labels = std::vector<std::pair<std::string, std::string>>;

const prometheus::Histogram::BucketBoundaries& latency_buckets() {
  static const prometheus::Histogram::BucketBoundaries b{0.005, 0.01, 0.025, 0.05, 0.1, 0.25,
                                                         0.5,   1,    2.5,   5,    10,  30};
  return b;
}

double seconds_of(std::chrono::nanoseconds d) {
  return std::chrono::duration<double>(d).count();
}

// A family under construction for PoolCollector.
struct Builder {
  MetricFamily family;
  Builder(std::string name, std::string help, MetricType type) {
    family.name = std::move(name);
    family.help = std::move(help);
    family.type = type;
  }
  void add(const Labels& labels, double value) {
    ClientMetric m;
    for (const auto& [k, v] : labels)
      m.label.push_back({k, v});
    if (family.type == MetricType::Counter) {
      m.counter.value = value;
    } else {
      m.gauge.value = value;
    }
    family.metric.push_back(std::move(m));
  }
};

std::string ledger_text(const api::GpuPool& pool) {
  auto it = pool.metadata.annotations.find(spend::kLedgerAnnotation);
  return it == pool.metadata.annotations.end() ? std::string() : it->second;
}

bool belongs_to(const api::GpuInstance& inst, const api::GpuPool& pool) {
  if (inst.spec.pool != pool.metadata.name) return false;
  auto it = inst.metadata.labels.find(decision::kLabelPoolUid);
  return it == inst.metadata.labels.end() || it->second == pool.metadata.uid;
}

// ratio of two amounts; +Inf when spending against a zero cap.
double ratio(Money num, Money cap) {
  if (cap.micros() <= 0) return num.micros() > 0 ? std::numeric_limits<double>::infinity() : 0.0;
  return static_cast<double>(num.micros()) / static_cast<double>(cap.micros());
}

constexpr api::InstancePhase kPhases[] = {
    api::InstancePhase::Pending,    api::InstancePhase::Provisioning,
    api::InstancePhase::Running,    api::InstancePhase::Ready,
    api::InstancePhase::Parked,     api::InstancePhase::Terminating,
    api::InstancePhase::Terminated, api::InstancePhase::Failed,
};

}  // namespace

// ---------------------------------------------------------------------------
// ProviderApiMetrics

ProviderApiMetrics::ProviderApiMetrics(prometheus::Registry& registry)
    : calls_(prometheus::BuildCounter()
                 .Name("gpupool_provider_api_calls_total")
                 .Help("Calls to the provider's API by method.")
                 .Register(registry)),
      duration_(prometheus::BuildHistogram()
                    .Name("gpupool_provider_api_call_duration_seconds")
                    .Help("Duration of provider API calls, retries included.")
                    .Register(registry)),
      errors_(prometheus::BuildCounter()
                  .Name("gpupool_provider_api_errors_total")
                  .Help("Failed provider API calls by error kind.")
                  .Register(registry)) {}

void ProviderApiMetrics::observe(std::string_view provider, std::string_view method,
                                 const ProviderError* error, std::chrono::nanoseconds latency) {
  const std::map<std::string, std::string> labels{{"provider", std::string(provider)},
                                                  {"method", std::string(method)}};
  calls_.Add(labels).Increment();
  duration_.Add(labels, latency_buckets()).Observe(seconds_of(latency));
  if (error) {
    auto with_kind = labels;
    with_kind["kind"] = std::string(to_string(error->kind));
    errors_.Add(with_kind).Increment();
  }
}

// ---------------------------------------------------------------------------
// ControllerMetrics

ControllerMetrics::ControllerMetrics(prometheus::Registry& registry)
    : reconciles_(prometheus::BuildCounter()
                      .Name("gpupool_reconcile_total")
                      .Help("Reconciles run per controller.")
                      .Register(registry)),
      errors_(prometheus::BuildCounter()
                  .Name("gpupool_reconcile_errors_total")
                  .Help("Reconciles that failed (requeued with backoff).")
                  .Register(registry)),
      duration_(prometheus::BuildHistogram()
                    .Name("gpupool_reconcile_duration_seconds")
                    .Help("Reconcile duration.")
                    .Register(registry)),
      depth_(prometheus::BuildGauge()
                 .Name("gpupool_workqueue_depth")
                 .Help("Keys waiting in the work queue.")
                 .Register(registry)),
      adds_(prometheus::BuildCounter()
                .Name("gpupool_workqueue_adds_total")
                .Help("Keys added to the work queue.")
                .Register(registry)),
      retries_(prometheus::BuildCounter()
                   .Name("gpupool_workqueue_retries_total")
                   .Help("Keys re-added after a failure (rate limited).")
                   .Register(registry)),
      longest_running_(prometheus::BuildGauge()
                           .Name("gpupool_workqueue_longest_running_seconds")
                           .Help("Age of the longest reconcile in progress.")
                           .Register(registry)) {}

void ControllerMetrics::observe_reconcile(const std::string& controller,
                                          std::chrono::nanoseconds took) {
  duration_.Add({{"controller", controller}}, latency_buckets()).Observe(seconds_of(took));
}

namespace {
// Brings a mirrored counter up to the source's monotonic value.
void mirror(prometheus::Counter& c, uint64_t source) {
  const double v = static_cast<double>(source);
  if (v > c.Value()) c.Increment(v - c.Value());
}
}  // namespace

void ControllerMetrics::sync(kube::Controller& controller) {
  const std::map<std::string, std::string> l{{"controller", controller.name()}};
  mirror(reconciles_.Add(l), controller.reconciles_total());
  mirror(errors_.Add(l), controller.errors_total());
  mirror(adds_.Add(l), controller.queue().adds_total());
  mirror(retries_.Add(l), controller.queue().retries_total());
  depth_.Add(l).Set(static_cast<double>(controller.queue().len()));
  longest_running_.Add(l).Set(
      std::chrono::duration<double>(controller.queue().longest_running()).count());
  duration_.Add(l, latency_buckets());  // present before the first reconcile ends
}

// ---------------------------------------------------------------------------
// OperatorInfoMetrics

OperatorInfoMetrics::OperatorInfoMetrics(prometheus::Registry& registry, const std::string& version,
                                         const std::string& revision)
    : leader_(prometheus::BuildGauge()
                  .Name("gpupool_leader")
                  .Help("1 while this process holds the leader lease (or runs without leader "
                        "election), else 0.")
                  .Register(registry)
                  .Add({})) {
  prometheus::BuildGauge()
      .Name("gpupool_build_info")
      .Help("Always 1; the labels name the build.")
      .Register(registry)
      .Add({{"version", version}, {"revision", revision}})
      .Set(1);
}

InstanceMetrics::InstanceMetrics(prometheus::Registry& registry)
    : failures_(prometheus::BuildCounter()
                    .Name("gpupool_instance_failures_total")
                    .Help("Machines given up on (GpuInstance Failed) and replaced, by "
                          "status.reason.")
                    .Register(registry)) {}

void InstanceMetrics::failed(const std::string& namespace_, const std::string& pool,
                             const std::string& provider, const std::string& reason) {
  failures_
      .Add({{"namespace", namespace_},
            {"pool", pool},
            {"provider", provider},
            {"reason", reason.empty() ? "Unknown" : reason}})
      .Increment();
}

// ---------------------------------------------------------------------------
// PoolCollector

std::vector<MetricFamily> PoolCollector::Collect() const {
  const Time now = src_.clock.now();
  Builder spend_total("gpupool_pool_spend_usd_total",
                      "Spend accrued by the pool's machines at that provider since the pool "
                      "was created.",
                      MetricType::Counter);
  Builder committed("gpupool_pool_committed_usd",
                    "What the pool's machines will have cost by their paid-through times.",
                    MetricType::Gauge);
  Builder burn("gpupool_pool_burn_rate_usd_per_hour",
               "Hourly burn of the machines buying time (parked ones excluded), egress "
               "included.",
               MetricType::Gauge);
  Builder mtd("gpupool_pool_month_to_date_usd", "Spend in the current calendar month (UTC).",
              MetricType::Gauge);
  Builder projected("gpupool_pool_projected_month_end_usd",
                    "Month-to-date plus what the active machines will still cost this month.",
                    MetricType::Gauge);
  Builder cap_hour("gpupool_pool_budget_usd_per_hour", "The pool's spec.budget.maxUsdPerHour.",
                   MetricType::Gauge);
  Builder cap_month("gpupool_pool_budget_usd_per_month", "The pool's spec.budget.maxUsdPerMonth.",
                    MetricType::Gauge);
  Builder utilization("gpupool_pool_budget_utilization_ratio",
                      "Burn / hourly cap and projected month-end / monthly cap.",
                      MetricType::Gauge);
  Builder idle("gpupool_pool_paid_idle_gpu_seconds_total",
               "GPU-seconds paid for while parked (bought, not serving).", MetricType::Counter);
  Builder by_phase("gpupool_pool_instances", "GpuInstances by phase.", MetricType::Gauge);
  Builder desired("gpupool_pool_desired_replicas", "Replicas the pool wants now.",
                  MetricType::Gauge);
  Builder ready("gpupool_pool_ready_replicas", "Replicas serving.", MetricType::Gauge);
  Builder parked("gpupool_pool_parked_replicas", "Replicas parked until their paid window ends.",
                 MetricType::Gauge);
  Builder price("gpupool_pool_price_usd_per_gpu_hour",
                "Mean price per GPU-hour of the pool's running instances there.",
                MetricType::Gauge);

  MutexLock lock(mu_);
  auto monotonic = [](std::map<SeriesKey, double>& seen, const SeriesKey& k, double v) {
    auto [it, fresh] = seen.emplace(k, v);
    if (!fresh) it->second = std::max(it->second, v);
    return it->second;
  };

  // A pool's instances, read one pool at a time, so a scrape holds one
  // pool's objects and not every object's tree at once (at 2,000 pools x 5 a
  // scrape that listed every instance first peaked 125 MiB above rest):
  // through the pool-uid index the informers keep (kIndexPoolUid, the set
  // the pool reconciler counts). A store without that index (tests, tools)
  // is read once, bucketed by (namespace, spec.pool). Either way each
  // instance is decoded once per scrape; a scan of the namespace per pool
  // made a scrape pools x instances decodes (11 s for 20 pools on the test
  // build).
  const bool indexed = src_.instances.has_index(controllers::kIndexPoolUid);
  std::map<std::pair<std::string, std::string>, std::vector<api::GpuInstance>> unindexed;
  if (!indexed) {
    for (const auto& io : src_.instances.list()) {
      if (auto inst = controllers::to_instance(*io)) {
        unindexed[{inst->metadata.namespace_, inst->spec.pool}].push_back(std::move(*inst));
      }
    }
  }
  auto instances_of = [&](const api::GpuPool& pool) {
    std::vector<api::GpuInstance> out;
    if (indexed) {
      for (const auto& io :
           src_.instances.by_index(controllers::kIndexPoolUid, pool.metadata.uid)) {
        auto inst = controllers::to_instance(*io);
        if (inst && belongs_to(*inst, pool)) out.push_back(std::move(*inst));
      }
    } else if (auto it = unindexed.find({pool.metadata.namespace_, pool.metadata.name});
               it != unindexed.end()) {
      for (auto& inst : it->second) {
        if (belongs_to(inst, pool)) out.push_back(std::move(inst));
      }
    }
    return out;
  };
  std::set<std::pair<std::string, std::string>> live_pools;
  for (const auto& key : src_.pools.keys()) {
    const kube::ObjectPtr obj = src_.pools.get(key);
    if (!obj) continue;
    auto pool = controllers::to_pool(*obj);
    if (!pool) continue;
    const std::string& ns = pool->metadata.namespace_;
    const std::string& name = pool->metadata.name;
    live_pools.insert({ns, name});
    const std::vector<api::GpuInstance> insts = instances_of(*pool);
    const Labels pl{{"namespace", ns}, {"pool", name}};
    auto with = [&pl](std::initializer_list<std::pair<std::string, std::string>> more) {
      Labels l = pl;
      l.insert(l.end(), more.begin(), more.end());
      return l;
    };

    // Replicas (pool status) and instances by phase (caches).
    desired.add(pl, pool->status.replicas.desired);
    ready.add(pl, pool->status.replicas.ready);
    parked.add(pl, pool->status.replicas.parked);
    std::map<std::string, std::map<api::InstancePhase, int>> phases;
    struct PriceAcc {
      double sum = 0;
      int n = 0;
    };
    std::map<std::tuple<std::string, std::string, std::string>, PriceAcc> prices;
    std::map<std::string, double> idle_seconds;
    for (const auto& inst : insts) {
      const std::string& p = inst.spec.offer.provider;
      ++phases[p][inst.status.phase];
      const int gpus = std::max(1, inst.spec.offer.gpu_count);
      if ((inst.status.phase == api::InstancePhase::Running ||
           inst.status.phase == api::InstancePhase::Ready) &&
          !inst.status.ended_at) {
        const Money machine = inst.status.price_per_hour.value_or(inst.spec.offer.price_per_hour);
        const std::string region =
            inst.status.region.empty() ? inst.spec.offer.region : inst.status.region;
        auto& acc = prices[{p, region, inst.spec.offer.gpu_model}];
        acc.sum += machine.to_double() / gpus;
        ++acc.n;
      }
      if (inst.status.phase == api::InstancePhase::Parked && inst.status.parked_at) {
        Time end = inst.status.ended_at ? std::min(*inst.status.ended_at, now) : now;
        if (end > *inst.status.parked_at) {
          idle_seconds[p] += static_cast<double>(gpus) *
                             static_cast<double>((end - *inst.status.parked_at).count());
        }
      }
    }
    for (const auto& [p, counts] : phases) {
      for (auto phase : kPhases) {
        auto it = counts.find(phase);
        by_phase.add(with({{"provider", p}, {"phase", std::string(api::to_string(phase))}}),
                     it == counts.end() ? 0 : it->second);
      }
    }
    for (const auto& [k, acc] : prices) {
      const auto& [p, region, model] = k;
      price.add(with({{"provider", p}, {"region", region}, {"gpu_model", model}}), acc.sum / acc.n);
    }
    std::set<std::string> providers_seen;
    for (const auto& inst : insts)
      providers_seen.insert(inst.spec.offer.provider);
    for (const auto& p : providers_seen) {
      auto it = idle_seconds.find(p);
      const double v =
          monotonic(idle_max_, {ns, name, p}, it == idle_seconds.end() ? 0 : it->second);
      idle.add(with({{"provider", p}}), v);
    }
    for (const auto& [key, v] : idle_max_) {
      // A provider whose parked machines are all gone keeps its count.
      if (std::get<0>(key) == ns && std::get<1>(key) == name &&
          !providers_seen.count(std::get<2>(key)))
        idle.add(with({{"provider", std::get<2>(key)}}), v);
    }

    // Budget caps.
    const auto& budget = pool->spec.budget;
    if (budget.max_usd_per_hour) cap_hour.add(pl, budget.max_usd_per_hour->to_double());
    if (budget.max_usd_per_month) cap_month.add(pl, budget.max_usd_per_month->to_double());

    // Spend: only from the ledger and spend::.
    auto ledger = spend::parse_ledger(ledger_text(*pool));
    if (!ledger.ok()) continue;
    const spend::SpendLedger& l = *ledger;
    const api::SpendStatus totals = spend::pool_spend(insts, l, now);
    mtd.add(pl, totals.month_to_date.to_double());
    projected.add(pl, totals.projected_month.to_double());
    if (budget.max_usd_per_hour) {
      utilization.add(with({{"period", "hour"}}),
                      ratio(totals.hourly_burn, *budget.max_usd_per_hour));
    }
    if (budget.max_usd_per_month) {
      utilization.add(with({{"period", "month"}}),
                      ratio(totals.projected_month, *budget.max_usd_per_month));
    }
    struct ProviderSpend {
      Money accrued, committed, burn;
    };
    std::map<std::string, ProviderSpend> per;
    Money attributed;
    for (const auto& [p, amount] : l.providers) {
      per[p].accrued += amount;
      per[p].committed += amount;
      if (!p.empty()) attributed += amount;
    }
    // Spend folded before the split (or with no provider) is provider "".
    const Money unattributed = l.total - attributed - [&] {
      auto it = l.providers.find("");
      return it == l.providers.end() ? Money{} : it->second;
    }();
    if (!unattributed.is_zero()) {
      per[""].accrued += unattributed;
      per[""].committed += unattributed;
    }
    for (const auto& inst : insts) {
      if (spend::was_folded(l, inst.metadata.name)) continue;
      const spend::InstanceSpend s = spend::instance_spend(inst, now);
      auto& ps = per[inst.spec.offer.provider];
      ps.accrued += s.accrued;
      ps.committed += s.committed;
      ps.burn += s.burn;
    }
    for (const auto& [p, ps] : per) {
      const Labels l3 = with({{"provider", p}});
      spend_total.add(l3, monotonic(spend_max_, {ns, name, p}, ps.accrued.to_double()));
      committed.add(l3, ps.committed.to_double());
      burn.add(l3, ps.burn.to_double());
    }
  }

  // A deleted pool's series go, and so does their memory.
  for (auto* seen : {&spend_max_, &idle_max_}) {
    std::erase_if(*seen, [&live_pools](const auto& kv) {
      return !live_pools.count({std::get<0>(kv.first), std::get<1>(kv.first)});
    });
  }

  // Providers.
  Builder offers("gpupool_provider_offers", "Offers seen at the last price refresh.",
                 MetricType::Gauge);
  Builder unavailable("gpupool_provider_offers_unavailable",
                      "Offers currently marked \"no capacity\".", MetricType::Gauge);
  Builder age("gpupool_provider_price_age_seconds",
              "Seconds since prices were last refreshed successfully.", MetricType::Gauge);
  Builder found("gpupool_orphans_found_total",
                "Machines found at the provider that no GpuInstance claims.", MetricType::Counter);
  Builder ended("gpupool_orphans_ended_total",
                "Orphan machines ended after the adoption grace period.", MetricType::Counter);
  Builder refused("gpupool_provider_calls_refused_total",
                  "Reconciles that found the provider at its limit of calls in flight and came "
                  "back later.",
                  MetricType::Counter);
  std::map<std::string, int> unavailable_by_provider;
  if (src_.unavailable) {
    for (const auto& key : src_.unavailable->active(now))
      ++unavailable_by_provider[key.substr(0, key.find('/'))];
  }
  std::map<std::string, controllers::GarbageCollector::OrphanCounts> orphans;
  if (src_.gc) orphans = src_.gc->orphans_by_provider();
  std::map<std::string, int64_t> refusals;
  if (src_.provider_slots) refusals = src_.provider_slots->refusals();
  for (const auto& obj : src_.providers.list()) {
    auto gp = controllers::to_provider(*obj);
    if (!gp) continue;
    const std::string& p = gp->metadata.name;
    const Labels l{{"provider", p}};
    int seen = gp->status.offers_seen;
    std::optional<Time> refreshed = gp->status.last_price_refresh;
    if (src_.registry) {
      if (auto entry = src_.registry->entry(p); entry && entry->prices) {
        const auto snap = entry->prices->snapshot();
        seen = snap.offers_seen;
        refreshed = snap.last_success;
      }
    }
    offers.add(l, seen);
    auto u = unavailable_by_provider.find(p);
    unavailable.add(l, u == unavailable_by_provider.end() ? 0 : u->second);
    if (refreshed) {
      age.add(l, static_cast<double>(std::max<int64_t>(0, (now - *refreshed).count())));
    }
    auto o = orphans.find(p);
    found.add(l, o == orphans.end() ? 0 : static_cast<double>(o->second.found));
    ended.add(l, o == orphans.end() ? 0 : static_cast<double>(o->second.ended));
    auto r = refusals.find(p);
    refused.add(l, r == refusals.end() ? 0 : static_cast<double>(r->second));
  }

  std::vector<MetricFamily> out;
  for (Builder* b :
       {&spend_total, &committed,   &burn,     &mtd,     &projected, &cap_hour, &cap_month,
        &utilization, &idle,        &by_phase, &desired, &ready,     &parked,   &price,
        &offers,      &unavailable, &age,      &found,   &ended,     &refused}) {
    out.push_back(std::move(b->family));
  }
  return out;
}

// ---------------------------------------------------------------------------
// Metrics

Metrics::Metrics(Sources sources)
    : src_(std::move(sources)),
      registry_(std::make_shared<prometheus::Registry>()),
      provider_api_(*registry_),
      controller_(*registry_),
      info_(*registry_, src_.version, src_.revision),
      instances_(*registry_),
      pools_(src_) {}

std::vector<MetricFamily> Metrics::Collect() const {
  if (src_.controllers) {
    for (kube::Controller* c : src_.controllers()) {
      if (c) controller_.sync(*c);
    }
  }
  info_.set_leader(!src_.leading || src_.leading());
  std::vector<MetricFamily> out = pools_.Collect();
  for (auto& f : registry_->Collect())
    out.push_back(std::move(f));
  return out;
}

std::string Metrics::serialize() const {
  std::ostringstream o;
  prometheus::TextSerializer().Serialize(o, Collect());
  return o.str();
}

}  // namespace gpupool::metrics
