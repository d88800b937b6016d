#include "operator/controllers/pool_autoscaling.h"

#include <chrono>

#include "operator/core/api_validation.h"
#include "operator/core/autoscaler.h"

namespace gpupool::controllers {
namespace {

bool ending_or_idle(const api::GpuInstance& i) {
  using P = api::InstancePhase;
  return i.metadata.deletion_timestamp || i.status.phase == P::Parked ||
         i.status.phase == P::Failed || i.status.phase == P::Terminating ||
         i.status.phase == P::Terminated;
}

autoscale::Signal read_signal(Context& ctx, const api::GpuPool& pool, size_t index, Time now) {
  const api::MetricSpec& m = pool.spec.autoscaling.metrics[index];
  if (m.type == api::MetricType::PendingPods) {
    return {std::nullopt, "PendingPods is not counted yet by this operator version"};
  }
  if (ctx.signals == nullptr) return {std::nullopt, "no signal source configured"};
  return ctx.signals->read(pool, index, now);
}

}  // namespace

int active_machines(const std::vector<api::GpuInstance>& instances) {
  int n = 0;
  for (const auto& i : instances) {
    if (!ending_or_idle(i)) ++n;
  }
  return n;
}

std::optional<ScalingRound> autoscale_pool(Context& ctx, const api::GpuPool& pool,
                                           const std::vector<api::GpuInstance>& instances,
                                           Time now) {
  const api::GpuPoolSpec& spec = pool.spec;
  if (!spec.autoscaling.enabled) return std::nullopt;
  autoscale::Input in;
  in.spec = spec.autoscaling;
  in.min = std::max(0, spec.replicas.min);
  in.max = std::max(in.min, api::max_replicas(spec));
  in.current = active_machines(instances);
  if (pool.status.autoscaling) in.history = pool.status.autoscaling->history;
  in.now = now;
  for (size_t i = 0; i < spec.autoscaling.metrics.size(); ++i) {
    in.signals.push_back(read_signal(ctx, pool, i, now));
  }
  const autoscale::Output out = autoscale::decide(in);

  ScalingRound r;
  r.desired = out.desired;
  r.active = out.active;
  r.problem = out.problem;
  r.status.desired = out.desired;
  r.status.recommended = out.recommended;
  r.status.reason = out.reason;
  r.status.clamped_by = out.clamped_by;
  r.status.schedule_min = in.schedule_min;
  for (size_t i = 0; i < spec.autoscaling.metrics.size(); ++i) {
    api::MetricReading reading;
    reading.type = spec.autoscaling.metrics[i].type;
    reading.value = in.signals[i].value;
    reading.error = in.signals[i].error;
    r.status.metrics.push_back(std::move(reading));
  }
  r.status.history = out.history;
  // New capacity is the level above what the pool has now.
  r.expected_lifetime = autoscale::expected_lifetime(out.history, in.current + 1, now);
  if (r.expected_lifetime) {
    r.status.expected_lifetime_hours =
        std::chrono::duration<double>(*r.expected_lifetime).count() / 3600.0;
  }
  return r;
}

}  // namespace gpupool::controllers
