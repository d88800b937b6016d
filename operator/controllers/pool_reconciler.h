#pragma once
// The pool reconciler: for one GpuPool, reads the pool and its GpuInstances
// from the caches, asks the pure decision (operator/core/pool_decision.h)
// what to do and applies it:
//   * finalizer gpupool.io/finalizer on the pool first;
//   * creates: the new next ordinal is written to the pool's annotation
//     with its resourceVersion as precondition, the names are recorded as
//     create expectations (create_expectations.h), and only then are the
//     GpuInstance objects created. Until the instance cache shows every
//     name expected (or the expectation is older than its timeout, 5 min
//     by default), the pool's reconcile waits (requeued at the expiry; the
//     instances' add events wake it sooner). A cache that lags the
//     reconciler's own creates therefore never buys twice, and a restart
//     (caches synced from a list before any reconcile) never reuses a name.
//     This replaced a live label-selected LIST of the pool's instances
//     before each buy, which at 10,000 pools was a scan of every instance
//     on the API server per buying reconcile;
//   * park / unpark: the instance's status.phase (and parkedAt) is written
//     with its resourceVersion as precondition;
//   * end: the GpuInstance is deleted; its finalizer keeps it until the
//     instance reconciler has ended the machine and folded its spend;
//   * status: written through /status only when it differs from the cached
//     status; Events for every action the decision reports.
// Deleting a pool: every instance is deleted; the pool's finalizer is
// removed only once a live LIST shows no instance left, i.e. after the
// provider confirmed every machine gone.
//
// Offers are fetched from the pool's providers only when the pool is short
// of machines. A provider with live prices (registry entry.prices) is not
// asked (except once, when its refresher has never tried yet): its refresher's
// snapshot is filtered like the adapter's
// offers() would (models, regions, GPU count, spot, community); while the
// snapshot is Live or Stale only its live offers count (the API's answer is
// what can be bought), with source Catalog the catalog offers stand in.
// Errors (API conflicts, provider failures) make the reconcile fail so the
// controller retries with backoff.
//
// Thread-safety: reconcile() is safe for distinct keys concurrently.

#include "operator/controllers/context.h"
#include "operator/controllers/create_expectations.h"
#include "operator/kube/runtime/controller.h"

namespace gpupool::controllers {

class PoolReconciler {
 public:
  explicit PoolReconciler(Context& ctx,
                          Duration expectation_timeout = CreateExpectations::kDefaultTimeout)
      : ctx_(ctx), expectations_(expectation_timeout) {}
  kube::ReconcileResult reconcile(const kube::ReconcileRequest& req);
  // The instance informer delivered `name` of pool `pool_key` (its add
  // event): that create is observed, even when the instance is gone again
  // before the pool's next pass (refused by a provider with no other offer,
  // ended while still unlaunched). Without this such a name would block the
  // pool until its expectation expired (5 minutes), as Kubernetes'
  // ControllerExpectations is lowered by add events, not by a later look.
  void observed(const std::string& pool_key, const std::string& name) {
    expectations_.forget(pool_key, name);
  }

 private:
  Context& ctx_;
  CreateExpectations expectations_;
};

}  // namespace gpupool::controllers
