#include "operator/controllers/node_drain.h"

#include <algorithm>

#include "operator/controllers/node_registration.h"
#include "operator/core/pool_decision.h"
#include "operator/kube/api/eviction.h"

namespace gpupool::controllers {
namespace {

using kube::Json;

// Pods named in a condition message; the rest are counted.
constexpr size_t kPodsNamed = 5;
constexpr kube::Millis kMinBackoff{2000};
constexpr kube::Millis kMaxBackoff{30000};

std::string meta_text(const Json& obj, const char* field) {
  const Json* md = obj.is_object() && obj.contains("metadata") ? &obj["metadata"] : nullptr;
  if (!md || !md->is_object()) return "";
  auto it = md->find(field);
  return it != md->end() && it->is_string() ? it->get<std::string>() : "";
}

// The name of the instance's Node: the one it became Ready on, else the one
// that registered for it (a Node that never became usable still runs pods).
std::string node_name_of(const Context& ctx, const api::GpuInstance& inst,
                         const api::GpuInstanceStatus& st) {
  if (!st.node_name.empty()) return st.node_name;
  if (!ctx.nodes) return "";
  auto node = node_of(*ctx.nodes, inst);
  if (!node) return "";
  return meta_text(*node, "name");
}

void set_drained(api::GpuInstanceStatus& st, const api::GpuInstance& inst, bool drained,
                 std::string reason, std::string message, Time now) {
  api::Condition c;
  c.type = kConditionDrained;
  c.status = drained ? api::ConditionStatus::True : api::ConditionStatus::False;
  c.reason = std::move(reason);
  c.message = std::move(message);
  c.last_transition_time = now;
  c.observed_generation = inst.metadata.generation;
  decision::set_condition(st.conditions, std::move(c));
}

// Records a Warning Event when the Drained condition's message changes, so a
// blocked drain retried every few seconds says so once.
void set_drained_warning(Context& ctx, const Json& obj, api::GpuInstanceStatus& st,
                         const api::GpuInstance& inst, const std::string& reason,
                         const std::string& message, Time now) {
  const api::Condition* before = decision::find_condition(st.conditions, kConditionDrained);
  const bool changed = !before || before->reason != reason || before->message != message;
  set_drained(st, inst, false, reason, message, now);
  if (changed) record_event(ctx, obj, "Warning", reason, message);
}

std::string pod_ref(const Json& pod) {
  return meta_text(pod, "namespace") + "/" + meta_text(pod, "name");
}

std::string list_text(const std::vector<std::string>& items) {
  std::string out;
  for (size_t i = 0; i < items.size() && i < kPodsNamed; ++i)
    out += (i ? "; " : "") + items[i];
  if (items.size() > kPodsNamed) {
    out += "; and " + std::to_string(items.size() - kPodsNamed) + " more";
  }
  return out;
}

struct EvictionRound {
  int evicted = 0;
  std::vector<std::string> blocked;  // "pod ns/name: why"
  bool budget = false;               // at least one refused by a budget
};

EvictionRound evict_all(Context& ctx, const std::vector<Json>& pods) {
  EvictionRound round;
  for (const auto& pod : pods) {
    auto r = kube::evict(ctx.api, meta_text(pod, "namespace"), meta_text(pod, "name"));
    if (!r.ok()) {
      round.blocked.push_back("pod " + pod_ref(pod) + ": " +
                              std::string(kube::to_string(r.error().kind)) + ": " +
                              r.error().message);
    } else if (r->outcome == kube::Eviction::Outcome::BlockedByBudget) {
      round.budget = true;
      round.blocked.push_back("pod " + pod_ref(pod) + ": " + r->message);
    } else {
      ++round.evicted;
    }
  }
  return round;
}

// Retry sooner while the drain is young, every 30 s once it is old, never
// after the deadline.
kube::Millis backoff(Time started, Time deadline, Time now) {
  const auto age = std::chrono::duration_cast<kube::Millis>(now - started);
  kube::Millis wait = std::clamp(age / 4, kMinBackoff, kMaxBackoff);
  const auto left = std::chrono::duration_cast<kube::Millis>(deadline - now);
  return std::max(kube::Millis{1000}, std::min(wait, left));
}

}  // namespace

DrainStep drain_before_end(Context& ctx, const api::GpuInstance& inst, api::GpuInstanceStatus& st,
                           const Json& obj, Time now) {
  if (!decision::awaits_node(inst.spec.usage)) return {};
  // Over already: drained, given up, or the machine is being ended.
  const api::Condition* done = decision::find_condition(st.conditions, kConditionDrained);
  if (st.ended_at ||
      (done && (done->status == api::ConditionStatus::True || done->reason == "DrainTimedOut"))) {
    return {};
  }
  const std::string node = node_name_of(ctx, inst, st);
  if (node.empty()) return {};
  auto got = ctx.api.get(kube::resources::kNodes, "", node);
  if (!got.ok()) {
    if (got.error().kind == kube::ErrorKind::NotFound) return {};
    return {std::nullopt, got.error()};
  }
  if (!st.drain_started_at) st.drain_started_at = now;
  st.phase = api::InstancePhase::Terminating;
  const Time started = *st.drain_started_at;
  const Time deadline = decision::drain_deadline(inst, started);

  // 1. Cordon: nothing new lands on a machine that is about to go.
  if (!node_state(*got).cordoned) {
    auto r = ctx.api.patch(kube::resources::kNodes, "", node, kube::PatchType::Merge,
                           {{"spec", {{"unschedulable", true}}}});
    if (!r.ok() && r.error().kind != kube::ErrorKind::NotFound) return {std::nullopt, r.error()};
  }
  // 2. Evict what runs there.
  auto pods = kube::drain_candidates(ctx.api, node);
  if (!pods.ok()) return {std::nullopt, pods.error()};
  if (pods->evict.empty()) {
    set_drained(st, inst, true, "Drained", "Node " + node + " has no pods left to evict", now);
    st.message = "drained Node " + node + "; ending the machine";
    return {};
  }
  if (now >= deadline) {
    std::vector<std::string> left;
    for (const auto& p : pods->evict)
      left.push_back(pod_ref(p));
    set_drained_warning(ctx, obj, st, inst, "DrainTimedOut",
                        "ending the machine with " + std::to_string(left.size()) +
                            " pod(s) not evicted from Node " + node + " after " +
                            std::to_string((now - started).count()) + "s: " + list_text(left),
                        now);
    st.message = "drain of Node " + node + " timed out; ending the machine";
    return {};
  }
  const EvictionRound round = evict_all(ctx, pods->evict);
  if (round.blocked.empty()) {
    set_drained(st, inst, true, "Drained",
                "evicted " + std::to_string(round.evicted) + " pod(s) from Node " + node, now);
    st.message = "drained Node " + node + "; ending the machine";
    return {};
  }
  const std::string reason = round.budget ? "EvictionBlocked" : "EvictionFailed";
  set_drained_warning(ctx, obj, st, inst, reason,
                      "draining Node " + node + " (ends by " + format_rfc3339(deadline) +
                          "): " + list_text(round.blocked),
                      now);
  st.message = "draining Node " + node + ": " + std::to_string(round.blocked.size()) +
               " pod(s) cannot be evicted yet";
  return {backoff(started, deadline, now), std::nullopt};
}

}  // namespace gpupool::controllers
