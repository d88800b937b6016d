#include "operator/controllers/pool_reconciler.h"

#include <algorithm>
#include <cctype>

#include "operator/controllers/pool_autoscaling.h"
#include "operator/controllers/pool_input.h"
#include "operator/controllers/provider_slots.h"
#include "operator/core/api_codec.h"
#include "operator/core/pool_decision.h"
#include "operator/core/spend.h"

namespace gpupool::controllers {
namespace {

using kube::Json;
using kube::ReconcileResult;

bool has_finalizer(const Json& obj) {
  const auto& m = obj["metadata"];
  if (!m.contains("finalizers")) return false;
  for (const auto& f : m["finalizers"]) {
    if (f == decision::kFinalizer) return true;
  }
  return false;
}

kube::ReconcileResult requeue_at(const Clock& clock, Time t) {
  const auto d = std::chrono::duration_cast<kube::Millis>(t - clock.now());
  return ReconcileResult::after(std::max(d, kube::Millis{1000}));
}

kube::ApiResult<std::vector<Json>> live_instances(kube::KubeApi& api, const api::GpuPool& pool) {
  kube::ListOptions opts;
  opts.label_selector = std::string(decision::kLabelPoolUid) + "=" + pool.metadata.uid;
  auto list = api.list(kGpuInstances, pool.metadata.namespace_, opts);
  if (!list.ok()) return fail(list.error());
  return std::move(list->items);
}

}  // namespace

kube::ReconcileResult PoolReconciler::reconcile(const kube::ReconcileRequest& req) {
  const std::string key = kube::make_key(req.namespace_, req.name);
  kube::ObjectPtr cached = ctx_.pools.get(req.namespace_, req.name);
  if (!cached) {
    expectations_.erase(key);
    return ReconcileResult::done();
  }
  // The pool as last read or written. Read in place: a copy (13 KB with a
  // full spend ledger, ~20 % of a simulated week when made on every pass)
  // is made only for a write, which then replaces it.
  kube::ObjectPtr current = cached;
  const auto obj = [&current]() -> const Json& { return *current; };
  const auto written = [&current](Json j) { current = std::make_shared<const Json>(std::move(j)); };
  std::shared_ptr<const api::GpuPool> pool_ptr = ctx_.decoded->pools.get(cached);
  if (!pool_ptr) {
    // Retrying cannot help: say so once, and wait for the object to change.
    auto decoded = api::decode_gpu_pool(obj(), api::DecodeMode::Lenient);
    const std::string why = decoded.ok() ? "unreadable" : decoded.error().message;
    record_event(ctx_, obj(), "Warning", "InvalidObject",
                 "cannot read this GpuPool: " + why +
                     ". Fix the object; it is not retried until it changes.");
    return ReconcileResult::terminal("cannot decode GpuPool " + req.name + ": " + why);
  }
  const api::GpuPool& pool = *pool_ptr;
  const Time now = ctx_.clock.now();

  // Deletion: end every instance, then let the pool go.
  if (pool.metadata.deletion_timestamp) {
    if (!has_finalizer(obj())) return ReconcileResult::done();
    auto live = live_instances(ctx_.api, pool);
    if (!live.ok()) return ReconcileResult::from(live.error());
    for (const auto& i : *live) {
      if (i["metadata"].contains("deletionTimestamp")) continue;
      auto r = ctx_.api.remove(kGpuInstances, pool.metadata.namespace_,
                               i["metadata"]["name"].get<std::string>());
      if (!r.ok() && r.error().kind != kube::ErrorKind::NotFound) {
        return ReconcileResult::from(r.error());
      }
    }
    if (!live->empty()) {
      record_event(ctx_, obj(), "Normal", "EndingMachines",
                   "pool deleted: ending " + std::to_string(live->size()) + " machine(s)");
      return ReconcileResult::after(kube::Millis{1000});
    }
    Json j = obj();
    Json kept = Json::array();
    for (const auto& f : j["metadata"]["finalizers"]) {
      if (f != decision::kFinalizer) kept.push_back(f);
    }
    j["metadata"]["finalizers"] = kept;
    auto r = ctx_.api.update(kGpuPools, j);
    if (!r.ok() && r.error().kind != kube::ErrorKind::NotFound) {
      return ReconcileResult::from(r.error());
    }
    return ReconcileResult::done();
  }

  if (!has_finalizer(obj())) {
    Json j = obj();
    if (!j["metadata"].contains("finalizers")) j["metadata"]["finalizers"] = Json::array();
    j["metadata"]["finalizers"].push_back(decision::kFinalizer);
    auto r = ctx_.api.update(kGpuPools, j);
    if (!r.ok()) return ReconcileResult::from(r.error());
    written(std::move(r).value());
  }

  // Never decide on a cache that has not shown this reconciler's own
  // creates yet: the instances' add events wake the pool once it has.
  auto in_cache = [&](const std::string& name) {
    return ctx_.instances.get(pool.metadata.namespace_, name) != nullptr;
  };
  if (!expectations_.satisfied(key, in_cache, now)) {
    return requeue_at(ctx_.clock, expectations_.expires_at(key).value_or(now));
  }

  auto build_input = [&](std::vector<api::GpuInstance> instances) {
    return pool_input(ctx_, pool, obj(), std::move(instances), now);
  };
  auto short_of_machines = [&](const decision::Input& in) {
    int usable = 0;
    for (const auto& i : in.instances) {
      if (i.metadata.deletion_timestamp || i.status.phase == api::InstancePhase::Terminating ||
          i.status.phase == api::InstancePhase::Terminated ||
          i.status.phase == api::InstancePhase::Failed) {
        continue;
      }
      ++usable;
    }
    return usable < in.desired ||
           std::any_of(in.instances.begin(), in.instances.end(),
                       [](const auto& i) { return i.status.phase == api::InstancePhase::Failed; });
  };
  // A provider at its limit of calls in flight (provider_slots.h) is
  // planned without, like one whose offers call failed, as long as another
  // provider answered: waiting until every provider of a pool is free at
  // the same moment starved pools that allow many providers (the scale
  // benchmark's failover sample, 9 providers, waited over 60 s). False
  // (nothing planned; the pool waits for a slot of any of them, `busy`) when
  // every provider it had to ask was busy.
  std::vector<std::string> busy;
  auto fetch_offers = [&](decision::Input& in) { return fetch_pool_offers(ctx_, pool, in, busy); };

  std::vector<api::GpuInstance> cached_instances;
  for (const auto& ip : ctx_.instances.by_index(kIndexPoolUid, pool.metadata.uid)) {
    if (auto i = ctx_.decoded->instances.get(ip)) cached_instances.push_back(*i);
  }
  decision::Input in = build_input(std::move(cached_instances));
  // Autoscaling: once per reconcile, on the cached instances; the decision
  // is re-run on a live list below with the same count.
  const std::optional<ScalingRound> scaling = autoscale_pool(ctx_, pool, in.instances, now);
  auto apply_scaling = [&](decision::Input& di) {
    if (!scaling) return;
    di.desired = scaling->desired;
    di.scaling = scaling->status;
    di.scaling_active = scaling->active;
    di.scaling_problem = scaling->problem;
    di.expected_lifetime = scaling->expected_lifetime;
  };
  apply_scaling(in);
  if ((short_of_machines(in) || decision::may_replace(in)) && !fetch_offers(in)) {
    return ctx_.provider_slots->refused_result(busy, &ctx_.enqueue_pool,
                                               kube::make_key(req.namespace_, req.name));
  }
  decision::Output out = decision::decide(in);

  if (!out.create.empty()) {
    Json j = obj();
    if (!j["metadata"].contains("annotations")) j["metadata"]["annotations"] = Json::object();
    j["metadata"]["annotations"][decision::kNextOrdinalAnnotation] =
        std::to_string(out.next_ordinal);
    auto r = ctx_.api.update(kGpuPools, j);
    if (!r.ok()) return ReconcileResult::from(r.error());
    written(std::move(r).value());
    std::vector<std::string> names;
    for (const auto& inst : out.create)
      names.push_back(inst.metadata.name);
    expectations_.expect(key, names, now);
    for (size_t k = 0; k < out.create.size(); ++k) {
      Json j = api::encode(out.create[k]);
      j.erase("status");
      auto c = ctx_.api.create(kGpuInstances, pool.metadata.namespace_, j);
      if (!c.ok() && c.error().kind != kube::ErrorKind::AlreadyExists) {
        // This create and the ones not tried will not be observed.
        for (size_t rest = k; rest < names.size(); ++rest)
          expectations_.forget(key, names[rest]);
        return ReconcileResult::from(c.error());
      }
    }
  }

  auto set_phase = [&](const std::string& name, api::InstancePhase phase) -> bool {
    kube::ObjectPtr ip = ctx_.instances.get(pool.metadata.namespace_, name);
    if (!ip) return true;
    Json j = *ip;
    if (!j.contains("status") || !j["status"].is_object()) j["status"] = Json::object();
    j["status"]["phase"] = std::string(api::to_string(phase));
    if (phase == api::InstancePhase::Parked) {
      j["status"]["parkedAt"] = format_rfc3339(now);
    } else {
      j["status"].erase("parkedAt");
    }
    kube::UpdateOptions uo;
    uo.subresource = "status";
    auto r = ctx_.api.update(kGpuInstances, j, uo);
    return r.ok() || r.error().kind == kube::ErrorKind::NotFound;
  };
  bool ok = true;
  for (const auto& n : out.park)
    ok = set_phase(n, api::InstancePhase::Parked) && ok;
  for (const auto& n : out.unpark)
    ok = set_phase(n, api::InstancePhase::Running) && ok;
  for (const auto& n : out.end) {
    auto r = ctx_.api.remove(kGpuInstances, pool.metadata.namespace_, n);
    if (!r.ok() && r.error().kind != kube::ErrorKind::NotFound) ok = false;
  }
  for (const auto& e : out.events)
    record_event(ctx_, obj(), e.type, e.reason, e.message);

  if (!(out.status == pool.status)) {
    // Everything but the old status is copied; the new one goes in its place.
    Json j = Json::object();
    for (const auto& [k, v] : obj().items()) {
      if (k != "status") j[k] = v;
    }
    j["status"] = api::encode(out.status);
    kube::UpdateOptions uo;
    uo.subresource = "status";
    auto r = ctx_.api.update(kGpuPools, j, uo);
    if (!r.ok()) return ReconcileResult::from(r.error());
  }
  if (!ok) return ReconcileResult::conflict("some instance phase changes conflicted; retrying");
  if (out.requeue_at) return requeue_at(ctx_.clock, *out.requeue_at);
  return ReconcileResult::done();
}

}  // namespace gpupool::controllers
