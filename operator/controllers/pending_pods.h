#pragma once
// The pending-pods demand signal (issue 9, Node mode): how many GPUs the
// pods that wait for a machine of this pool ask for, as a pure function of
// the pods (Kubernetes JSON) and the shape of the pool's Nodes. The pool
// reconciler lists the pods and turns the sum into a signal.
//
// A pod counts when all of these hold:
//  1. It waits for a node: status.phase "Pending", no spec.nodeName, no
//     metadata.deletionTimestamp, and a PodScheduled condition with status
//     "False" and reason "Unschedulable" (pods the scheduler has not tried
//     yet, or that are gated by schedulingGates, do not count).
//  2. It asks for nvidia.com/gpu, as the scheduler computes a pod's request:
//     per container limits["nvidia.com/gpu"], else requests[...]; the pod's
//     request is max(Σ containers + Σ sidecars, max over init containers of
//     (the init container + the sidecars started before it)), where sidecars
//     are initContainers with restartPolicy "Always". Values are a JSON
//     integer or a decimal integer string ("2"); a pod with any other value
//     (a fraction, "1k", garbage) is skipped whole, with a reason.
//  3. spec.nodeSelector is a subset of the Node's labels.
//  4. spec.affinity.nodeAffinity.requiredDuringSchedulingIgnoredDuringExecution
//     matches: an OR of nodeSelectorTerms, each an AND of matchExpressions
//     (In, NotIn, Exists, DoesNotExist, Gt, Lt; Gt/Lt compare integers). A
//     term with no expressions matches nothing, as in Kubernetes. A term with
//     matchFields never matches: the only field is metadata.name, and a pod
//     that names a Node is waiting for that Node, not for a new machine.
//     Preferred affinity is ignored.
//  5. It tolerates every NoSchedule and NoExecute taint of the Node
//     (PreferNoSchedule ones are ignored), with Kubernetes' rule: a
//     toleration's effect, when set, must equal the taint's; its key, when
//     set, must equal the taint's; operator Exists (any value) or Equal/empty
//     (equal values). An empty key with Exists tolerates every taint.
//     A taint in the spec that does not parse ("key[=value]:Effect"; the
//     API's validation refuses those) is treated as a NoSchedule taint whose
//     key is the whole text, so only a tolerate-everything pod counts.
//
// Reasons: for pods that wait (rule 1) and ask for GPUs but are not counted
// (rules 2-5), up to `max_reasons` lines for people ("team-a/train-0:
// nodeSelector gpupool.io/pool=other does not match"), in input order.
//
// Thread-safety: pure function; safe concurrently.

#include <cstddef>
#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "operator/kube/api/api.h"

namespace gpupool::controllers {

inline constexpr const char* kGpuResource = "nvidia.com/gpu";

// The labels and taints a pool's Node will carry (spec.usage.node).
struct NodeShape {
  std::map<std::string, std::string> labels;
  std::vector<std::string> taints;  // "key=value:Effect" or "key:Effect"
};

struct Taint {
  std::string key;
  std::string value;
  std::string effect;  // NoSchedule | PreferNoSchedule | NoExecute
  bool operator==(const Taint&) const = default;
};
// Parses "key=value:Effect" / "key:Effect"; nullopt when malformed.
std::optional<Taint> parse_taint(const std::string& text);

struct PendingGpuDemand {
  int64_t gpus = 0;                  // Σ of the counted pods' requests
  int pods = 0;                      // counted pods
  std::vector<std::string> skipped;  // up to max_reasons, see the header
};

PendingGpuDemand pending_gpu_demand(const std::vector<kube::Json>& pods, const NodeShape& node,
                                    size_t max_reasons = 5);

}  // namespace gpupool::controllers
