#pragma once
// Node mode (issue 13): a machine whose pool bootstraps it into the cluster
// (decision::awaits_node) is Ready only once its Node has registered. For
// the instance reconciler, as pure functions over Node JSON plus the small
// API calls that keep a Node in step with its instance.
//
// Which Node is an instance's: one labelled gpupool.io/instance=<instance
// name> (the bootstrap sets it with kubelet's --node-labels), else one
// whose spec.providerID ends with "/<providerId>" or equals it.
// Usable: condition Ready=True and status.capacity["nvidia.com/gpu"] >= 1.
//
// Lifecycle:
//   Running, Node usable          -> Ready (status.nodeName); the pool's
//                                    labels (and gpupool.io/pool,
//                                    gpupool.io/instance) and taints are put
//                                    on the Node, and a cordon left by
//                                    parking is lifted;
//   Ready, Node gone or not usable-> Running again (message says why);
//   Running past launch + spec.usage.node.registrationTimeoutSeconds with no
//     usable Node                 -> Failed (Event RegistrationTimeout): the
//                                    pool ends and replaces it;
//   Parked                        -> the Node is cordoned (not drained: it
//                                    can be taken back at once);
//   Terminated                    -> the Node object is deleted.
//
// Thread-safety: as the Context.

#include <optional>
#include <string>

#include "operator/controllers/context.h"
#include "operator/core/api_types.h"

namespace gpupool::controllers {

inline constexpr const char* kLabelInstance = "gpupool.io/instance";
// Store index of Nodes by their gpupool.io/instance label.
inline constexpr const char* kIndexNodeInstance = "node-instance";

// The instance's Node in the cache, or nullopt.
std::optional<kube::Json> node_of(const kube::Store& nodes, const api::GpuInstance& inst);

struct NodeState {
  bool ready = false;     // condition Ready=True
  int64_t gpus = 0;       // status.capacity["nvidia.com/gpu"]
  bool cordoned = false;  // spec.unschedulable
  bool usable() const { return ready && gpus >= 1; }
};
NodeState node_state(const kube::Json& node);

// The merge patch that puts the pool's labels and taints on `node` and sets
// spec.unschedulable to `cordon`; nullopt when nothing needs to change.
std::optional<kube::Json> node_patch(const kube::Json& node, const api::GpuInstance& inst,
                                     bool cordon);

}  // namespace gpupool::controllers
