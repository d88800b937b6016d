#pragma once
// The pool decision: what a pool reconcile should do, as a pure function of
// the pool, its GpuInstances, the offers on sale, the spend ledger, the
// desired machine count and `now`. No I/O; the pool reconciler
// (operator/controllers) applies the result.
//
// Instances are classified by phase (deleting instances, i.e. with a
// deletionTimestamp, and Terminating/Terminated ones count as "ending"):
//   active  = Pending, Provisioning, Running, Ready (Pending and Provisioning
//             count: an intent written but not yet seen by the provider is
//             still a machine, so stale provider data never causes a second
//             purchase);
//   parked  = Parked;  failed = Failed;  ending = see above.
//
// Rules, in order:
//  1. Failed instances are ended (deleted; the instance reconciler ends the
//     machine and folds its spend) and so get replaced below.
//  2. Budget floor. If the active machines' hourly burn (price + egress,
//     spend::active_burn) exceeds budget.maxUsdPerHour, or the month
//     projection exceeds budget.maxUsdPerMonth, the most expensive active
//     instances are parked until both fit (BudgetExceeded, reason
//     HourlyBudgetExceeded / MonthlyBudgetExceeded). The month projection is
//     month-to-date (spend::pool_spend, which already holds every started
//     increment and whole minimum charges) + Σ over the machines kept active
//     of what they still cost until the month end
//     (spend::active_rest_of_month: increments that start after now, plus
//     egress): prepaid time is counted once. docs/billing.md.
//  3. Scale down (active > desired): instances with no launch yet (nothing
//     paid) are ended first; then launched ones are parked, those whose
//     ending avoids the most cost first: price × (now + T − paid-through)
//     + egress × T, where T is the expected idle time (the planner's
//     lifetime: spec.planning.expectedLifetimeHours, else 24 h). A $1.27/h
//     hourly machine renewing in 3 minutes is parked before a $0.86/h
//     per-second one. The soonest billing boundary breaks ties.
//  4. Scale up (active < desired): parked instances are un-parked first (their
//     paid time is sunk), the ones with the most paid time left first, as far
//     as the budget allows; then the planner places the rest on offers
//     (excluding `unavailable` keys) and instances are created. Names are
//     "<pool>-<4 hex of FNV-1a(pool uid)>-<ordinal>" with ordinals from
//     Input::next_ordinal upwards; the reconciler persists the new
//     next_ordinal before creating, so a name is never used twice even
//     across restarts. A shortfall that disappears when the budget is lifted
//     is BudgetExceeded (reason BudgetCapReached), otherwise Degraded
//     (reason NoOffers).
//  4c. Consolidation (default policy, lifecycle.consolidationLeadSeconds
//     L > 0), only in a steady pool (active = desired, nothing bought,
//     un-parked or parked in this decision, no budget or ledger problem, no
//     replacement already under way). A serving machine whose decision point
//     is within L + parkMarginSeconds (the decision point: its next billing
//     boundary; for billing in increments no longer than minParkSeconds,
//     the end of the current hour of its age) is a candidate, and so is a
//     fine-grained machine in the first L of every UTC hour (bridging,
//     planner.h). Keeping it
//     costs K = what it would still be charged over the expected lifetime T
//     (billing::committed from now to now + T, plus egress); the planner
//     places one replacement per candidate, each costing C (its total cost
//     over T). The costliest-to-keep candidates are paired with the cheapest
//     replacements, and a replacement is bought when C <= K − max(K ×
//     kMinSavingFraction, kMinSaving) and its hourly burn (price + egress)
//     is below the old machine's (never a dearer rate on a short estimate:
//     the estimate is for the newest capacity). It carries kReplacesAnnotation and does
//     not count toward `desired` while the pool is steady; once it serves
//     (Ready, or Running when no Node is awaited) the machine it replaces is
//     parked (rule 5 ends it before its boundary) and the replacement counts.
//     If demand moves meanwhile, replacements count as ordinary machines
//     (rule 3 ends one never launched first). Offers in
//     Input::sold_out_lately are not used for replacements. A wall-clock
//     replacement for a fine-grained machine that would cost less bought
//     at its next slot start (the old machine serving until then) waits
//     for that slot. A machine parked because its replacement serves gets
//     no rule-5 hold. A replacement that fails is
//     ended like any failed instance. Events: ConsolidatingInstance,
//     ReplacedInstance.
//  5. A parked instance with fine-grained billing (increment <=
//     lifecycle.minParkSeconds) is kept that long after it was parked
//     (returning demand finds it warm; it costs at most the hold), unless a
//     budget cap is being enforced; coarser ones keep only the time already
//     paid. Each is ended lifecycle.parkMarginSeconds + drain_lead() before
//     the first billing increment that starts after that (a machine with a
//     Node is drained before it is ended, and the drain may take up to
//     usage.node.drainTimeoutSeconds: started that early, it is over before
//     the boundary; until then the parked Node is only cordoned); the others
//     are scheduled:
//     requeue_at is the earliest of their "boundary − margin" instants, so
//     many parked machines are each ended just in time, not one after another.
//     A parked instance never launched is ended at once.
//  Creation is capped at Input::max_creates per decision; the rest follow on
//  the next pass (requeue_at is one second later). When Input::ledger_problem
//  is set (the spend ledger annotation is corrupt) nothing is bought or
//  un-parked: Degraded=True, reason SpendLedgerCorrupt, with an Event.
//  A pool that bootstraps Nodes (awaits_node) buys only with a clean
//  Input::bootstrap: its template problem makes it Degraded, reason
//  BootstrapInvalid (Event); when every provider it names is unsupported,
//  BootstrapUnsupported (Event); condition BootstrapReady says which.
//  6. Status: replicas (desired, provisioning = Pending+Provisioning (and
//     Running while a Node or a health check is awaited, awaits_readiness),
//     ready = Running+Ready (only Ready while one is awaited), parked), spend (spend.h), conditions
//     Ready, Progressing, Degraded, BudgetExceeded (lastTransitionTime kept when the status of a
//     condition does not change), observedGeneration, terminatedSpend = ledger total, selector
//     "gpupool.io/pool=<name>". The spend summary is written when something changed in this
//     decision (a create, park, un-park, end, or replica counts) or when the old one is older than
//     Input::spend_period or from another month; otherwise the old one is kept, so a steady pool is
//     not rewritten as the clock moves. spend.lastUpdated is `now` when the figures changed, else
//     the old value. Budget checks always use the fresh figures. ScalingActive:
//     False/ScalingDisabled when autoscaling is off; while it is on, True/ValidMetrics,
//     True/SomeMetricsFailing (the count can still rise on the others) or False/FailedGetMetrics
//     (the count holds), with a Warning Event when it turns to a failing reason, and a Normal
//     SuccessfulRescale Event when the autoscaler's count changes.
//  7. requeue_at: the earliest parked end instant, else now + kResync while
//     the pool has instances or is short of machines; at most
//     Input::scaling_period ahead while autoscaling. A settled pool (every
//     kept machine serving, nothing bought, booting, replaced or ended, no
//     shortfall) comes back only for its clock-driven work: its next spend
//     summary, the first machine's consolidation window (rule 4c; every
//     kResync while one is in it), the next UTC hour's first
//     kHourStartSpread when a machine bills per second (a bridge's
//     hand-over), else after kSettledResync. Everything
//     else that moves it (an instance's status, its spec, a scale) wakes it
//     through the informers, so at 10,000 settled pools the operator does
//     not re-decide every pool every 30 s.
//
// Lifetime: rule 3's T and the planner's H are spec.planning.
// expectedLifetimeHours, else Input::expected_lifetime (the autoscaler's
// estimate), else 24 h.
//
// Policy (Input::policy; the operator always uses the default): ListPrice
// ranks offers by list price (planner.h); end_unneeded_after replaces rule
// 5's billing-boundary schedule by "end once parked that long".
//
// Thread-safety: pure function; safe concurrently.

#include <cstdint>
#include <map>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include "operator/clock/clock.h"
#include "operator/core/api_types.h"
#include "operator/core/offer.h"
#include "operator/core/planner.h"
#include "operator/core/spend.h"

namespace gpupool::decision {

inline constexpr Duration kResync{30};
// A settled pool's safety resync (rule 7).
inline constexpr Duration kSettledResync{300};
// A settled pool with a per-second machine comes back in the first this
// many seconds of each UTC hour (rule 7; a bridge's hand-over), at a second
// of its own (from its uid).
inline constexpr Duration kHourStartSpread{60};
// Default period of the pool's spend summary in status.
inline constexpr Duration kDefaultSpendPeriod{300};
// Default period of reading an autoscaling pool's signals.
inline constexpr Duration kDefaultScalingPeriod{15};
// Most instances one decision creates.
inline constexpr int kMaxCreatesPerDecision = 20;

// Labels every GpuInstance carries.
inline constexpr const char* kLabelPool = "gpupool.io/pool";
inline constexpr const char* kLabelPoolUid = "gpupool.io/pool-uid";
// Finalizer on pools and instances.
inline constexpr const char* kFinalizer = "gpupool.io/finalizer";
// Annotation of an instance bought to replace another (rule 4c): the name of
// the instance it replaces.
inline constexpr const char* kReplacesAnnotation = "gpupool.io/replaces";
// Rule 4c replaces a machine only when the replacement saves at least this
// share of what keeping the machine would cost, and at least kMinSaving.
inline constexpr double kMinSavingFraction = 0.10;
inline constexpr Money kMinSaving = Money::from_micros(50'000);  // $0.05
// Pool annotation holding the next instance ordinal.
inline constexpr const char* kNextOrdinalAnnotation = "gpupool.io/next-ordinal";

// How machines are placed and retired. The operator always runs the default;
// the simulator (operator/sim) also runs the baseline the rest of the field
// uses, through this same decision, so the two differ only here.
struct Policy {
  enum class Placement {
    TotalCost,  // the planner's expected total cost over the lifetime (default)
    ListPrice,  // the lowest hourly list price per GPU, billing rules ignored
  };
  Placement placement = Placement::TotalCost;
  // Unset (default): a machine no longer needed is parked and ended just
  // before its next billing increment (rules 3 and 5). Set: it is parked and
  // ended once it has been unneeded this long, whatever its billing window
  // (Karpenter's consolidateAfter, Cluster Autoscaler's
  // scale-down-unneeded-time); re-used if demand returns before that.
  std::optional<Duration> end_unneeded_after;
  // Rule 4c (consolidation onto cheaper offers); the field's baseline never
  // replaces a running machine.
  bool consolidate = true;

  bool operator==(const Policy&) const = default;
};

// Node bootstrap (issue 13), checked by the pool reconciler when it may buy.
struct BootstrapCheck {
  // Why the template cannot be rendered (its Secret or key missing, a
  // template error with line:column); non-empty: nothing is bought
  // (Degraded, reason BootstrapInvalid).
  std::string problem;
  // Providers the pool names whose machines cannot run the template
  // (Provider::user_data_support); their offers are left out of the plan.
  // Every provider of the pool among them: Degraded, BootstrapUnsupported.
  std::vector<std::string> unsupported;
  bool operator==(const BootstrapCheck&) const = default;
};

struct Input {
  api::GpuPool pool;                        // defaults applied
  std::vector<api::GpuInstance> instances;  // the pool's instances (any phase)
  std::vector<Offer> offers;                // candidate offers from the pool's providers
  std::set<std::string> unavailable;        // offer_key()s that just had no capacity
  // offer_key()s that had no capacity within the last hour: rule 4c does not
  // replace a machine with one of them (it would try every few minutes).
  std::set<std::string> sold_out_lately;
  std::map<std::string, planner::ProviderState> providers;
  // Problems with the pool's providers for people ("GpuProvider x: not
  // found"); make the pool Degraded.
  std::vector<std::string> provider_problems;
  // GpuProviders the pool names that exist but are not loaded yet (adapter
  // not built, no prices): nothing is bought until they are (Progressing,
  // reason WaitingForProviders; requeued within 2 s), so a plan never skips
  // a provider only because it loads later.
  std::vector<std::string> providers_loading;
  // Set for pools that bootstrap Nodes (awaits_node) when the reconciler
  // checked the template (it does whenever it may buy): condition
  // BootstrapReady. Unset for such a pool: nothing is bought, and
  // BootstrapReady keeps its last value.
  std::optional<BootstrapCheck> bootstrap;
  spend::SpendLedger ledger;
  // Why the ledger annotation could not be read; non-empty blocks buying.
  std::string ledger_problem;
  Duration spend_period = kDefaultSpendPeriod;
  int max_creates = kMaxCreatesPerDecision;
  int desired = 0;
  // The autoscaler's estimate of how long new capacity will be needed
  // (autoscale::expected_lifetime); used as the planner's lifetime when
  // spec.planning.expectedLifetimeHours is unset.
  std::optional<Duration> expected_lifetime;
  // Set while spec.autoscaling.enabled: what the autoscaler read and decided
  // (`desired` above is its count). Written to status.autoscaling; readings
  // that alone changed are refreshed at most once per spend_period.
  std::optional<api::AutoscalingStatus> scaling;
  bool scaling_active = true;   // at least one signal had a value
  std::string scaling_problem;  // the failing signals, for people
  // While autoscaling, the pool is reconciled (and its signals read) at
  // least this often (HPA's sync period is 15 s).
  Duration scaling_period = kDefaultScalingPeriod;
  Policy policy;
  int64_t next_ordinal = 1;
  Time now{};
};

struct Event {
  std::string type;  // "Normal" | "Warning"
  std::string reason;
  std::string message;
  bool operator==(const Event&) const = default;
};

struct Output {
  std::vector<api::GpuInstance> create;  // complete objects (metadata, labels, owner, spec)
  std::vector<std::string> unpark;       // instance names: Parked -> Running
  std::vector<std::string> park;         // instance names: -> Parked
  std::vector<std::string> end;          // instance names to delete (ends the machine)
  int64_t next_ordinal = 1;              // to persist before creating
  api::GpuPoolStatus status;
  std::optional<Time> requeue_at;
  // The earliest instant a parked instance is due to end (boundary − margin).
  std::optional<Time> next_park_end;
  std::vector<Event> events;
};

Output decide(const Input& input);

// NoCapacity failover (issue 12): the offer that GpuInstance `refused`,
// whose create its provider just refused (NoCapacity / QuotaExceeded), moves
// to in the same reconcile (docs/operations.md, "Create and failover"). It
// is what decide() buys for that one place: `in` holds the pool's instances
// (the refused one among them), in.unavailable holds the refused offer's key
// and in.desired the pool's desired count (its status.replicas.desired);
// decide() runs on them without the refused instance, creating at most one,
// so the money is ranked by the planner exactly as a pool pass would, within
// the providers' limits (the refused instance's machine and GPUs are taken
// off its provider's counts in in.providers), the budget and the allowed
// providers. nullopt (the caller deletes the instance and the pool re-plans,
// as before failover existed) when that decision would not buy exactly one
// machine for the place: no other offer, over budget, a parked machine to
// re-use instead, the pool not short without it, a ledger or bootstrap
// problem, a provider still loading; also for a consolidation replacement
// (kReplacesAnnotation: it is bought only when cheaper than what it
// replaces) and an instance not in `in`.
std::optional<api::OfferSpec> failover_offer(Input in, const std::string& refused);

// Rule 4c: whether `i` is a serving machine within
// lifecycle.consolidationLeadSeconds (+ parkMarginSeconds) of its decision
// point, and whether any instance of `in` is (the pool reconciler reads
// offers for such a pool even when it is not short of machines).
bool in_consolidation_window(const api::GpuInstance& i, const api::GpuPoolSpec& spec, Time now);
bool may_replace(const Input& in);

// "<pool>-<hash>-<ordinal>".
std::string instance_name(const api::GpuPool& pool, int64_t ordinal);
// The ordinal of an instance name of this pool, or nullopt.
std::optional<int64_t> ordinal_of(const api::GpuPool& pool, const std::string& name);
// Effective desired count before autoscaling: fixed count, or min when
// autoscaling is enabled (the autoscaler fills in the rest later).
int desired_replicas(const api::GpuPoolSpec& spec);
// Whether machines of this usage must register a Node before they count as
// ready: Node mode with a bootstrap template, inline or in a Secret (without
// one, nothing joins the cluster and a running machine is as ready as it
// gets).
bool awaits_node(const api::UsageSpec& usage);
// Whether machines of this usage must pass an HTTP health check before they
// count as ready: Endpoint mode (endpoint_health.h).
bool awaits_health(const api::UsageSpec& usage);
// Whether a Running machine of this usage is still on its way to Ready
// (awaits_node or awaits_health), so that it counts as provisioning.
bool awaits_readiness(const api::UsageSpec& usage);
// How much earlier than "boundary − parkMarginSeconds" a parked machine's
// ending starts, so that draining its Node (node_drain.h in controllers)
// is over before the boundary: usage.node.drainTimeoutSeconds when the
// machine has a Node (awaits_node), else zero.
Duration drain_lead(const api::UsageSpec& usage);
// When the drain of an ending instance's Node gives up and the machine is
// ended anyway: `started` + usage.node.drainTimeoutSeconds; and, when the
// billing increment is longer than that timeout (hourly billing), never
// later than kDrainBoundarySlack before the end of the window paid at
// `started` (waiting longer would buy another increment), nor before
// `started`. Machines without a launch or billing rule: the timeout alone.
inline constexpr Duration kDrainBoundarySlack{30};
Time drain_deadline(const api::GpuInstance& inst, Time started);
// Replaces or adds `c` in `conds`, keeping lastTransitionTime when the status
// did not change.
void set_condition(std::vector<api::Condition>& conds, api::Condition c);
const api::Condition* find_condition(const std::vector<api::Condition>& conds,
                                     const std::string& type);

}  // namespace gpupool::decision
