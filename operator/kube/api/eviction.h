#pragma once
// The Eviction API and the pod rules of `kubectl drain`, over KubeApi.
//
// evict() POSTs a policy/v1 Eviction to pods/<name>/eviction. The API server
// deletes the pod unless a PodDisruptionBudget selecting it has no
// disruptions allowed, which it answers with 429 TooManyRequests and a
// cause of type "DisruptionBudget" (kubernetes pkg/registry/core/pod/
// storage/eviction.go). Callers act on Eviction::outcome:
//   Evicted          the pod is deleted or being deleted: nothing more to do;
//   BlockedByBudget  a budget forbids it now: retry later (the disruption
//                    controller raises disruptionsAllowed as pods recover);
//   NotFound         the pod is already gone: nothing more to do.
// Any other answer is returned as the ApiError (branch on its kind).
//
// drain_candidates() classifies a Node's pods the way `kubectl drain
// --ignore-daemonsets` does: pods owned by a DaemonSet and mirror (static)
// pods are left alone (the DaemonSet controller would re-create them, and
// the kubelet owns static pods); pods that already finished (Succeeded,
// Failed) or are already being deleted need nothing; the rest are evicted.
//
// Thread-safety: stateless; safe wherever the KubeApi passed in is.

#include <optional>
#include <string>
#include <vector>

#include "operator/kube/api/api.h"

namespace gpupool::kube {

// Annotation the kubelet puts on the API mirror of a static pod.
inline constexpr const char* kMirrorPodAnnotation = "kubernetes.io/config.mirror";
// Cause type of a 429 from the eviction subresource (policy/v1).
inline constexpr const char* kDisruptionBudgetCause = "DisruptionBudget";

struct Eviction {
  enum class Outcome { Evicted, BlockedByBudget, NotFound };
  Outcome outcome = Outcome::Evicted;
  // For people: the server's message and its DisruptionBudget cause
  // ("... The disruption budget db needs 2 healthy pods and has 2 currently").
  std::string message;
};

// Evicts pod `ns`/`name`. `grace_period_seconds` becomes the Eviction's
// deleteOptions.gracePeriodSeconds (nullopt: the pod's own).
ApiResult<Eviction> evict(KubeApi& api, const std::string& ns, const std::string& name,
                          std::optional<int64_t> grace_period_seconds = std::nullopt);

// What a drain does with one pod.
enum class DrainAction {
  Evict,         // running (or pending) and evictable
  Done,          // Succeeded/Failed, or already being deleted
  IgnoreDaemon,  // owned by a DaemonSet
  IgnoreMirror,  // a static pod's mirror
};
DrainAction drain_action(const Json& pod);

struct DrainPods {
  std::vector<Json> evict;  // to evict, in list order
  int done = 0;             // finished or terminating
  int ignored = 0;          // DaemonSet and mirror pods
};
// Lists every pod bound to `node` (fieldSelector spec.nodeName=<node>, all
// namespaces) and sorts them by drain_action().
ApiResult<DrainPods> drain_candidates(KubeApi& api, const std::string& node);

}  // namespace gpupool::kube
