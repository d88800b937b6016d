#pragma once
// One autoscaling round for a pool, for the pool reconciler: read each
// demand signal (ctx.signals for Prometheus metrics, the API for
// PendingPods), evaluate the schedules, and run the autoscaler
// (operator/core/autoscaler.h) on the pool's stored history. The result
// feeds decision::Input (desired, scaling, expected_lifetime).
//
// Thread-safety: as the Context it reads.

#include <optional>
#include <string>
#include <vector>

#include "operator/clock/clock.h"
#include "operator/controllers/context.h"
#include "operator/core/api_types.h"

namespace gpupool::controllers {

struct ScalingRound {
  int desired = 0;
  api::AutoscalingStatus status;
  bool active = true;
  std::string problem;
  std::optional<Duration> expected_lifetime;
};

// nullopt when spec.autoscaling.enabled is false. `instances`: the pool's
// instances (any phase).
std::optional<ScalingRound> autoscale_pool(Context& ctx, const api::GpuPool& pool,
                                           const std::vector<api::GpuInstance>& instances,
                                           Time now);

// Machines the autoscaler counts as the pool's current size: not parked,
// failed or ending, and not a consolidation replacement whose old machine is
// still counted (pool_decision.h rule 4c).
int active_machines(const std::vector<api::GpuInstance>& instances);

// How long capacity at `level` machines will be needed, from the demand
// `history` (autoscale::expected_lifetime; dips the pool rides out, its
// scale-down stabilization plus minParkSeconds, do not end an episode):
// the planner's lifetime when spec.planning.expectedLifetimeHours is unset.
// A round estimates the machine above its current count; a failover (the
// instance reconciler) the place it moves, on the history in status.
std::optional<Duration> capacity_lifetime(const api::GpuPoolSpec& spec,
                                          const std::vector<api::ScalingSample>& history, int level,
                                          Time now);

}  // namespace gpupool::controllers
