#pragma once
// Draining (issue 13): before the machine of an ending GpuInstance is ended,
// its Node is cordoned and its pods are evicted through the Eviction API,
// so PodDisruptionBudgets are honoured; after
// spec.usage.node.drainTimeoutSeconds the machine is ended anyway (the money
// stops at the billing boundary, decision::drain_deadline). The pool starts
// ending a parked machine that long before its boundary
// (decision::drain_lead), so the drain is over in time; until then a parked
// machine's Node is only cordoned (node_registration.h).
//
// drain_before_end() is one level-triggered step of the instance
// reconciler's deletion path, called before the provider's terminate():
//   * a machine without a Node (no bootstrap, or none registered, or the
//     Node already gone): nothing to drain, Proceed; likewise once the
//     drain is over (Drained=True or DrainTimedOut) or terminate() was
//     called (status.endedAt);
//   * the first step records status.drainStartedAt (the timeout counts from
//     it, across operator restarts), phase Terminating;
//   * the Node is cordoned (spec.unschedulable), its pods listed and the
//     evictable ones evicted (kube::drain_candidates: DaemonSet and mirror
//     pods stay, finished and terminating pods need nothing);
//   * nothing left to evict: condition Drained=True (reason Drained),
//     Proceed;
//   * an eviction refused (a budget with no disruption allowed, or an API
//     error for that pod): condition Drained=False, reason EvictionBlocked
//     (or EvictionFailed), message naming each pod and what refused it, a
//     Warning Event when that message changes; Wait, retried with a backoff
//     growing with the drain's age (2 s .. 30 s), never past the deadline;
//   * at or past decision::drain_deadline with pods left: Drained=False,
//     reason DrainTimedOut, a Warning Event naming the pods, Proceed.
// A failure to read the Node or list its pods is returned as the error
// (the reconciler backs off); it never ends the machine early.
//
// Thread-safety: as the Context.

#include <optional>

#include "operator/controllers/context.h"
#include "operator/core/api_types.h"
#include "operator/kube/runtime/controller.h"

namespace gpupool::controllers {

inline constexpr const char* kConditionDrained = "Drained";

struct DrainStep {
  // Proceed: end the machine now. Otherwise requeue after `*wait`.
  std::optional<kube::Millis> wait;
  std::optional<kube::ApiError> error;
  bool proceed() const { return !wait && !error; }
};

// REQUIRES: `inst` is being deleted and its machine not yet Terminated;
// `st` is the status being built (written by the caller).
DrainStep drain_before_end(Context& ctx, const api::GpuInstance& inst, api::GpuInstanceStatus& st,
                           const kube::Json& obj, Time now);

}  // namespace gpupool::controllers
