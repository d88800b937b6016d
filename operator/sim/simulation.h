#pragma once
// The simulator: runs the production controllers (PoolReconciler,
// InstanceReconciler, GarbageCollector, with the pool decision, planner,
// billing, parking, autoscaler and spend ledger inside them) on a virtual
// clock against the in-memory API (kube::MemoryStore, real CRDs) and one
// FakeProvider per provider the pool names, selling that provider's catalog
// offers within the simulated market. The demand trace reaches the pool as
// the value of its first demand signal, through a simulated Prometheus.
//
// Driver (event driven, no fixed ticks). The clock jumps to the next due
// instant: the earliest requeue of any reconcile, the next trace change, a
// machine finishing boot (FakeProvider::next_change), the next garbage
// collection (every kGcPeriod), the next crash. At an instant it reconciles
// what is due and anything whose object changed (watch events on pools and
// instances, as the manager's informers do: an instance change also enqueues
// its pool), until nothing is due at that instant. Reconcile results map as
// in kube::Controller: requeue_after -> due then; error -> per-key backoff
// (1 s doubling to 5 min); done -> only events wake the key.
//
// Crashes (Config::crash_every): at seeded random instants (uniformly 0.5-1.5
// x the period apart), after a random number of that instant's reconciles,
// the "process" dies: every object of the operator (Context, stores,
// registry, no-capacity cache, event recorder, reconcilers, garbage
// collector, work queue) is destroyed and rebuilt from the API objects. A
// crash can land inside a reconcile: from a seeded random call onwards
// every API and provider call of the dying process fails, so writes after
// that point never happen. The API store and the fake providers are the
// outside world and persist.
//
// Invariants (Outcome::violations; checked at every garbage collection and at
// the end):
//   * no orphan: a live machine carrying the pool's tags that no GpuInstance
//     claims is ended by the operator within adoptionGraceSeconds + 2 x the
//     GC period; one still unclaimed at the end of the run is a violation;
//   * no duplicate: never two live machines for one instance name;
//   * spend: the pool's recorded spend (spend::pool_spend over its
//     GpuInstances and its ledger annotation) equals the providers' own
//     ledger (FakeProvider::total_billed) to the cent at the end;
//   * budgets: the pool's hourly burn never exceeds budget.maxUsdPerHour and
//     its month-to-date spend never exceeds budget.maxUsdPerMonth.
//
// Deterministic: the same Config gives the same Outcome (uids, no-capacity
// draws and crash points come from Config::seed; nothing reads the real
// clock or a thread).
//
// Thread-safety: simulate() is self-contained; separate calls may run
// concurrently.

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "operator/clock/clock.h"
#include "operator/core/api_types.h"
#include "operator/core/money.h"
#include "operator/core/offer.h"
#include "operator/core/planner.h"
#include "operator/sim/lower_bound.h"
#include "operator/sim/trace.h"

namespace gpupool::sim {

inline constexpr Duration kGcPeriod{15};  // as the manager's default
// The PromQL query a pool without an autoscaling section is given.
inline constexpr const char* kDemandQuery = "gpupool_sim_demand_gpus";

struct PolicyChoice {
  enum class Kind { Default, CheapestListPrice, SingleProvider };
  Kind kind = Kind::Default;
  std::string provider;  // SingleProvider
  Duration idle{600};    // CheapestListPrice: end a machine unneeded this long
  // "default", "cheapest-list-price", "single-provider:NAME".
  std::string name() const;
};

// One provider of the simulated market.
struct SimProvider {
  std::string name;           // GpuProvider name, as the pool lists it
  std::string type;           // adapter type ("fluence"), for defaults
  std::vector<Offer> offers;  // catalog offers (overrides applied), provider = name
  int capacity = -1;          // most machines at once; -1: unlimited
  Duration boot{180};         // create -> Running
  double no_capacity_rate = 0;
};

struct Config {
  api::GpuPool pool;  // decoded, defaulted, validated
  std::vector<SimProvider> providers;
  // Paused / quota of providers with GpuProvider objects (for eligibility of
  // the lower bound's offers, as the planner sees them).
  std::map<std::string, planner::ProviderState> limits;
  Trace trace;
  PolicyChoice policy;
  uint64_t seed = 1;
  std::optional<Duration> crash_every;
  Time start = Time{std::chrono::seconds{1793577600}};  // 2026-11-02T00:00:00Z, a Monday
  // Samples of cumulative spend for the plot (0: about 600 over the run).
  Duration spend_sample{0};
};

struct ProviderOutcome {
  Money spend;
  double machine_hours = 0;  // machine existence (launch to end or run end)
  double gpu_hours = 0;      // the same in L40S-equivalent GPUs
  int launched = 0;
  int no_capacity_refusals = 0;
};

// State after every instant at which it changed (step function).
struct TimelinePoint {
  int64_t t = 0;  // seconds from the start
  double demand = 0;
  std::vector<double> ready;  // L40S-equivalent GPUs Ready, per Outcome::providers
  double parked = 0;
  double desired_gpus = 0;  // what the pool wants (status.replicas.desired x GPUs)
};

struct SpendPoint {
  int64_t t = 0;
  double usd = 0;  // cumulative billed by the providers
};

struct Outcome {
  std::string policy;
  int64_t duration_s = 0;
  Money spend;  // what the providers billed, egress included
  std::map<std::string, ProviderOutcome> by_provider;
  std::vector<std::string> providers;  // simulated providers, pool order
  double demanded_gpu_hours = 0;
  double served_gpu_hours = 0;
  double unserved_gpu_hours = 0;
  double paid_gpu_hours = 0;       // billed time x GPUs (equivalents)
  double paid_idle_gpu_hours = 0;  // paid - served
  double peak_demand = 0;
  Bound bound;
  Money recorded_spend;  // the pool's own figure at the end
  int instances_launched = 0;
  int crashes = 0;
  int64_t reconciles = 0;
  int64_t pool_reconciles = 0;
  int64_t instance_reconciles = 0;
  int64_t gc_runs = 0;
  int64_t instants = 0;  // distinct clock values visited
  std::vector<std::string> violations;
  std::vector<std::string> notes;
  std::vector<TimelinePoint> timeline;
  std::vector<SpendPoint> spend_curve;
};

struct ConfigError {
  std::string message;
};

// Runs the simulation. Errors: a Config the simulator cannot start from
// (no providers, a pool the API refuses, an unknown provider in
// single-provider).
Result<Outcome, ConfigError> simulate(const Config& config);

}  // namespace gpupool::sim
