#include "operator/controllers/pool_autoscaling.h"

#include <chrono>
#include <set>
#include <string>

#include "operator/controllers/pending_pods.h"
#include "operator/core/api_validation.h"
#include "operator/core/autoscaler.h"
#include "operator/core/pool_decision.h"
#include "operator/core/schedule.h"

namespace gpupool::controllers {
namespace {

bool ending_or_idle(const api::GpuInstance& i) {
  using P = api::InstancePhase;
  return i.metadata.deletion_timestamp || i.status.phase == P::Parked ||
         i.status.phase == P::Failed || i.status.phase == P::Terminating ||
         i.status.phase == P::Terminated;
}

// PendingPods: GPUs asked by pods waiting for this pool's Nodes plus those
// of the pods running on them (so demand served is not demand gone).
autoscale::Signal pending_pods(Context& ctx, const api::GpuPool& pool,
                               const std::vector<api::GpuInstance>& instances) {
  kube::ListOptions waiting;
  waiting.field_selector = "status.phase=Pending";
  auto pending = ctx.api.list(kube::resources::kPods, "", waiting);
  if (!pending.ok()) {
    return {std::nullopt, "listing pending pods: " + pending.error().message};
  }
  NodeShape shape;
  shape.labels = pool.spec.usage.node.labels;
  shape.labels[decision::kLabelPool] = pool.metadata.name;
  shape.taints = pool.spec.usage.node.taints;
  int64_t gpus = pending_gpu_demand(pending->items, shape).gpus;
  for (const auto& i : instances) {
    if (ending_or_idle(i) || i.status.node_name.empty()) continue;
    kube::ListOptions on_node;
    on_node.field_selector = "spec.nodeName=" + i.status.node_name;
    auto pods = ctx.api.list(kube::resources::kPods, "", on_node);
    if (!pods.ok()) {
      return {std::nullopt, "listing pods on " + i.status.node_name + ": " + pods.error().message};
    }
    for (const auto& p : pods->items) {
      const std::string phase = p.contains("status") ? p["status"].value("phase", "") : "";
      if (phase == "Succeeded" || phase == "Failed") continue;
      if (p["metadata"].contains("deletionTimestamp")) continue;
      gpus += pod_gpu_request(p).value_or(0);
    }
  }
  return {static_cast<double>(gpus), ""};
}

autoscale::Signal read_signal(Context& ctx, const api::GpuPool& pool,
                              const std::vector<api::GpuInstance>& instances, size_t index,
                              Time now) {
  const api::MetricSpec& m = pool.spec.autoscaling.metrics[index];
  if (m.type == api::MetricType::PendingPods) return pending_pods(ctx, pool, instances);
  if (ctx.signals == nullptr) return {std::nullopt, "no signal source configured"};
  return ctx.signals->read(pool, index, now);
}

// The schedules' minimum now; windows that cannot be read are skipped and
// named in `problem`.
int schedule_min(Context& ctx, const api::GpuPool& pool, Time now, std::string& problem) {
  static const TimeZoneLoader system_zones;
  const TimeZoneLoader& zones = ctx.time_zones ? *ctx.time_zones : system_zones;
  std::vector<schedule::Window> windows;
  const auto& specs = pool.spec.autoscaling.schedules;
  for (size_t i = 0; i < specs.size(); ++i) {
    const api::ScheduleSpec& w = specs[i];
    const std::string name = "schedules[" + std::to_string(i) + "]";
    auto start = schedule::Cron::parse(w.start);
    auto end = schedule::Cron::parse(w.end);
    auto tz = zones.load(w.time_zone);
    std::string why;
    if (!start.ok())
      why = "start: " + start.error();
    else if (!end.ok())
      why = "end: " + end.error();
    else if (!tz.ok())
      why = tz.error().message;
    if (!why.empty()) {
      problem.append(problem.empty() ? "" : "; ").append(name).append(": ").append(why);
      continue;
    }
    windows.push_back({std::move(*start), std::move(*end), std::move(*tz), w.min_replicas});
  }
  return schedule::min_replicas(windows, now);
}

}  // namespace

int active_machines(const std::vector<api::GpuInstance>& instances) {
  std::set<std::string> counted;
  for (const auto& i : instances) {
    if (!ending_or_idle(i)) counted.insert(i.metadata.name);
  }
  int n = 0;
  for (const auto& i : instances) {
    if (ending_or_idle(i)) continue;
    // A consolidation replacement whose old machine still runs is not more
    // capacity: the step limits would otherwise hold the pool at the
    // doubled count once the old one is parked.
    const auto it = i.metadata.annotations.find(decision::kReplacesAnnotation);
    if (it != i.metadata.annotations.end() && counted.count(it->second) != 0) continue;
    ++n;
  }
  return n;
}

std::optional<Duration> capacity_lifetime(const api::GpuPoolSpec& spec,
                                          const std::vector<api::ScalingSample>& history, int level,
                                          Time now) {
  const Duration merge_gap{spec.autoscaling.scale_down_stabilization_seconds +
                           spec.lifecycle.min_park_seconds};
  return autoscale::expected_lifetime(history, level, now, merge_gap);
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
    in.signals.push_back(read_signal(ctx, pool, instances, i, now));
  }
  std::string schedule_problem;
  in.schedule_min = schedule_min(ctx, pool, now, schedule_problem);
  const autoscale::Output out = autoscale::decide(in);

  ScalingRound r;
  r.desired = out.desired;
  r.active = out.active;
  r.problem = out.problem;
  if (!schedule_problem.empty()) {
    r.problem += (r.problem.empty() ? "" : "; ") + schedule_problem;
  }
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
  r.expected_lifetime = capacity_lifetime(spec, out.history, in.current + 1, now);
  if (r.expected_lifetime) {
    r.status.expected_lifetime_hours =
        std::chrono::duration<double>(*r.expected_lifetime).count() / 3600.0;
  }
  return r;
}

}  // namespace gpupool::controllers
