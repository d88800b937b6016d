#pragma once
// The instance reconciler: drives one GpuInstance's machine at its provider.
//
//   * Finalizer gpupool.io/finalizer first (pool-created instances carry it
//     from birth; others get it before any provider call).
//   * Pending / no providerId: create() at the provider with the instance
//     name as idempotency key and tag. Endpoint mode: its env valueFrom
//     Secrets are read first (endpoint_serving.h); a missing Secret or key
//     holds the create (message, EnvResolved=False, Warning Event). Success records providerId,
//     region, price, billing rule, launch time and paidThrough (phase Provisioning, or Running when
//     the machine is already up). A Transient failure is ambiguous: get(pool uid, name) is asked
//     before anything else, and the machine it finds is adopted. NoCapacity / QuotaExceeded mark
//     the offer in the shared UnavailableOffers and emit an Event; then, in the same reconcile,
//     the instance moves to the offer the pool's decision would buy for its place with that offer
//     excluded (decision::failover_offer: the planner's ranking, the providers' limits, the
//     budget, the pool's providers) by rewriting spec.offer (allowed while status.providerId is
//     unset) and creates there, up to kMaxFailovers times; its name stays the idempotency key.
//     With no such offer it is deleted and a pool reconcile is asked for, which re-plans.
//     Unauthorized / InvalidRequest mark the offer unavailable and fail the instance (the pool
//     replaces it). RateLimited retries after the provider's hint.
//   * Provisioning / Running / Ready / Parked: polls the machine;
//     Provisioning becomes Running when the machine runs. A settled machine
//     (Running, Ready, Parked) is read from the provider's shared list
//     (ctx.machines, machine_observer.h, one list per provider at most every
//     30 s), and get() is asked only when that list does not show it running
//     under its id; a booting one asks get() each poll. A settled machine
//     read from a list whose changes wake its instance (the observer's change
//     callback is wake_instance_on_change) polls only every 5 minutes, as a
//     safety net: the next list's change, or its Node's (Node mode), brings
//     it back. Read through get(), or with no callback wired, it polls every
//     15 s; machines in transition keep their short polls. Running counts as ready, except
//     where readiness is awaited: a Node-mode machine with a bootstrap is
//     Ready once its Node registers (node_registration.h); an Endpoint-mode
//     machine once its HTTP health check passes (endpoint_health.h; its
//     address is recorded, it falls back to Running with Healthy=False after
//     failureThreshold failures, and one never healthy by
//     startupTimeoutSeconds is Failed). With ctx.probe_pool (what `run`
//     wires) the GET runs on the pool's threads: a pass starts it and
//     returns, and the pass its completion enqueues counts the answer as of
//     when the GET started; a machine that never answers so holds a prober
//     thread, never this reconcile. A machine that vanished
//     (NotFound, Terminated, Failed at the provider) makes the instance
//     Failed, which the pool reconciler ends and replaces. Status is written
//     only on real change (phase, machine, message): spend that moves only
//     with the clock is computed when read (spend::instance_spend), so
//     paidThrough holds the value as of the last phase change and accrued is
//     written once, as the final figure of an ended machine.
//   * Deletion: in Node mode the Node is first cordoned and drained through
//     the Eviction API, for at most the drain timeout (node_drain.h); in
//     Endpoint mode the machine waits until no EndpointSlice lists it ready
//     (endpoint_slices.h, unlisted_before_end); then
//     phase Terminating, terminate() until the provider reports
//     the machine gone (NotFound or Terminated); endedAt is recorded when the
//     first terminate() succeeded. Then phase Terminated, the final spend is
//     folded into the pool's spend ledger (idempotent, spend.h), and the
//     finalizer is removed. When the pool is already gone the fold is
//     skipped. When the pool's ledger annotation is unreadable nothing is
//     folded or overwritten: a Warning Event says so and the finalizer stays
//     (retry every minute) until the annotation is repaired.
// Every phase change is an Event.
//
// Thread-safety: reconcile() is safe for distinct keys concurrently.

#include <functional>
#include <map>
#include <optional>
#include <string>

#include "operator/base/thread_annotations.h"
#include "operator/controllers/context.h"
#include "operator/core/endpoint_health.h"
#include "operator/kube/runtime/controller.h"

namespace gpupool::controllers {

// How often a settled instance (Running, Ready, Parked) polls when its
// machine was read from its provider's shared list and that list's changes
// wake it (the observer's change callback is set, and the instance carries
// the pool-uid label wake_instance_on_change finds it by); otherwise it
// polls every 15 s. Every change to such a machine (state, address, port,
// gone) comes as a wake-up from the next list, which the collector takes
// at least every list period (garbage_collector.h); a change of its Node
// comes from the manager's Node informer. So this poll only backs up a
// wake-up that went missing (say, a provider whose list lags a change its
// get() shows). At 10,000 settled instances a 15 s poll was ~670
// reconciles a second at rest (issue 12); five minutes makes it ~33.
inline constexpr kube::Millis kSettledSafetyPoll{300000};

// The MachineObserver change callback that wakes the GpuInstance of a
// changed machine: (pool uid, intent name) is looked up in `instances`
// through its kIndexPoolUid index and each key found ("namespace/name") is
// handed to `enqueue` (the instance controller's queue). A machine no
// cached instance claims wakes nothing: the garbage collector deals with it.
MachineObserver::ChangeFn wake_instance_on_change(
    const kube::Store& instances, std::function<void(const std::string& key)> enqueue);

class InstanceReconciler {
 public:
  explicit InstanceReconciler(Context& ctx) : ctx_(ctx) {}
  kube::ReconcileResult reconcile(const kube::ReconcileRequest& req);

 private:
  // One pass over `obj` (decoded: `inst_ptr`). A create refused NoCapacity
  // or QuotaExceeded moves the instance to the next offer and runs again on
  // the moved object, at most `failovers_left` more times.
  kube::ReconcileResult reconcile_object(kube::Json obj,
                                         const std::shared_ptr<const api::GpuInstance>& inst_ptr,
                                         int failovers_left);
  // NoCapacity failover: the offer the pool's decision gives this refused
  // instance's place (decision::failover_offer over pool_input() and the
  // pool's offers, the refused offer already marked unavailable), or nullopt.
  std::optional<api::OfferSpec> failover_offer_of(const api::GpuInstance& inst,
                                                  const std::string& pool_uid, Time now);
  // Writes `offer` into the stored object's spec.offer (no machine exists:
  // the CRD allows it); the updated object.
  kube::ApiResult<kube::Json> move_to_offer(const kube::Json& obj, const api::OfferSpec& offer);
  std::optional<Machine> vouched_machine(const std::shared_ptr<Provider>& provider,
                                         const api::GpuInstance& inst, const std::string& pool_uid,
                                         Time now) const;
  // The machine as watching it found it, and whether a shared list
  // answered (rather than get()).
  struct Watched {
    ProviderResult<Machine> machine;
    bool from_list = false;
  };
  Watched watch_machine(const std::shared_ptr<Provider>& provider, const api::GpuInstance& inst,
                        const std::string& pool_uid, Time now);
  // How long a settled instance waits before its next pass: the safety poll
  // when its machine was read `from_list` and that list's changes wake it,
  // else the running poll.
  kube::Millis settled_poll(const api::GpuInstance& inst, const std::string& pool_uid,
                            bool from_list) const;
  template <typename StatusResult>
  kube::ReconcileResult follow_node(const api::GpuInstance& inst, api::GpuInstanceStatus& st,
                                    const kube::Json& obj, Time now, kube::Millis at_rest,
                                    StatusResult& status_result);

  template <typename StatusResult>
  kube::ReconcileResult follow_endpoint(const api::GpuInstance& inst, api::GpuInstanceStatus& st,
                                        const kube::Json& obj, const Machine& m, Time now,
                                        kube::Millis at_rest, StatusResult& status_result);
  // The answer this pass counts, if any (health_check()).
  struct HealthCheck {
    std::optional<health::Probe> probe;
    Time at{};               // when that probe started (the probe time that counts)
    bool in_flight = false;  // a probe runs on ctx_.probe_pool; its completion enqueues us
  };
  // Probes the machine when a probe is due: inline through ctx_.prober, or
  // (ctx_.probe_pool) by taking the answer of a probe that finished since the
  // last pass and starting the next one when due and none is in flight.
  HealthCheck health_check(const std::string& key, const std::string& url, const health::Input& in,
                           Time now);

  // When this process last probed each instance ("namespace/name"): probes
  // that change nothing are not written to status (endpoint_health.h, rule 1),
  // so this keeps them one period apart. A cache only: lost on restart.
  std::optional<Time> remembered_probe(const std::string& key);
  void remember_probe(const std::string& key, Time when);
  // Forgets the memory and drops a probe in flight (its answer is not wanted).
  void forget_probe(const std::string& key);

  Context& ctx_;
  Mutex probes_mu_;
  std::map<std::string, Time> last_probes_ GUARDED_BY(probes_mu_);
};

}  // namespace gpupool::controllers
