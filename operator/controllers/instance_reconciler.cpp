#include "operator/controllers/instance_reconciler.h"

#include "operator/controllers/bootstrap.h"
#include "operator/controllers/endpoint_serving.h"
#include "operator/controllers/endpoint_slices.h"
#include "operator/controllers/node_drain.h"
#include "operator/controllers/node_registration.h"
#include "operator/controllers/pool_autoscaling.h"
#include "operator/controllers/pool_input.h"
#include "operator/controllers/provider_slots.h"

#include <algorithm>

#include "operator/core/api_codec.h"
#include "operator/core/api_validation.h"
#include "operator/core/billing.h"
#include "operator/core/endpoint_health.h"
#include "operator/core/planner.h"
#include "operator/core/pool_decision.h"
#include "operator/core/spend.h"

namespace gpupool::controllers {
namespace {

using api::InstancePhase;
using kube::Json;
using kube::ReconcileResult;

constexpr kube::Millis kProvisioningPoll{2000};
constexpr kube::Millis kRunningPoll{15000};
// How soon an instance looks again for a GpuProvider whose first reconcile
// has not built its adapter yet.
constexpr kube::Millis kProviderNotBuiltYet{1000};
constexpr kube::Millis kTerminatingPoll{1000};
constexpr kube::Millis kRegistrationPoll{5000};
constexpr kube::Millis kBootstrapRetry{30000};
// Offers one reconcile moves a refused create through (NoCapacity failover)
// before it falls back to deleting the instance for the pool to re-plan.
constexpr int kMaxFailovers = 3;

// The message of an instance whose GpuProvider is missing or has no adapter.
std::string waiting_for_provider(const std::string& provider) {
  return "waiting for GpuProvider " + provider;
}

bool instance_has_finalizer(const Json& obj) {
  const auto& m = obj["metadata"];
  if (!m.contains("finalizers")) return false;
  return std::any_of(m["finalizers"].begin(), m["finalizers"].end(),
                     [](const Json& f) { return f == decision::kFinalizer; });
}

std::string pool_uid_of(const api::GpuInstance& i) {
  for (const auto& o : i.metadata.owner_references) {
    if (o.kind == api::kGpuPoolKind) return o.uid;
  }
  auto it = i.metadata.labels.find(decision::kLabelPoolUid);
  return it == i.metadata.labels.end() ? std::string() : it->second;
}

api::Condition condition(std::string type, api::ConditionStatus status, std::string reason,
                         std::string message, Time now) {
  api::Condition c;
  c.type = std::move(type);
  c.status = status;
  c.reason = std::move(reason);
  c.message = std::move(message);
  c.last_transition_time = now;
  return c;
}

// Fills the provider-side facts of `m` into `st`.
void record_machine(api::GpuInstanceStatus& st, const api::GpuInstance& inst, const Machine& m,
                    Time now) {
  st.provider_id = m.provider_id;
  st.region = m.region.empty() ? inst.spec.offer.region : m.region;
  st.price_per_hour =
      m.price_per_hour.is_zero() ? inst.spec.offer.price_per_hour : m.price_per_hour;
  st.billing = inst.spec.offer.billing;
  if (!st.launch_time) st.launch_time = m.launch_time ? *m.launch_time : now;
}

// Writes the billing facts that are worth storing: paidThrough as of a phase
// change (launch, end) and, once the machine has ended, its final accrued
// spend. Running machines' spend moves only with the clock, so it is
// computed when read (spend::instance_spend), never rewritten on a poll.
void record_billing(api::GpuInstanceStatus& st, const api::GpuInstance& inst, Time now) {
  const spend::InstanceSpend sp =
      spend::instance_spend(st, inst.spec.offer.egress_usd_per_hour, now);
  if (!sp.billed) return;
  st.paid_through = sp.paid_through;
  st.accrued = st.ended_at ? sp.accrued : Money{};
}

}  // namespace

MachineObserver::ChangeFn wake_instance_on_change(
    const kube::Store& instances, std::function<void(const std::string& key)> enqueue) {
  return
      [&instances, enqueue = std::move(enqueue)](
          const std::string& /*provider*/, const std::string& pool_uid, const std::string& name) {
        for (const auto& obj : instances.by_index(kIndexPoolUid, pool_uid)) {
          const Json& md = (*obj)["metadata"];
          if (md.value("name", "") == name)
            enqueue(kube::make_key(md.value("namespace", ""), name));
        }
      };
}

std::optional<Time> InstanceReconciler::remembered_probe(const std::string& key) {
  MutexLock lock(probes_mu_);
  auto it = last_probes_.find(key);
  if (it == last_probes_.end()) return std::nullopt;
  return it->second;
}

void InstanceReconciler::remember_probe(const std::string& key, Time when) {
  MutexLock lock(probes_mu_);
  last_probes_[key] = when;
}

void InstanceReconciler::forget_probe(const std::string& key) {
  if (ctx_.probe_pool) ctx_.probe_pool->forget(key);
  MutexLock lock(probes_mu_);
  last_probes_.erase(key);
}

InstanceReconciler::HealthCheck InstanceReconciler::health_check(const std::string& key,
                                                                 const std::string& url,
                                                                 const health::Input& in,
                                                                 Time now) {
  HealthCheck hc;
  const Duration timeout{in.spec.timeout_seconds};
  std::optional<Time> last = health::last_probe(in.state, in.last_probe);
  if (!ctx_.probe_pool) {
    if (!url.empty() && ctx_.prober && health::probe_due(in.spec, last, now)) {
      hc.probe = ctx_.prober->probe(url, timeout);
      hc.at = now;
      remember_probe(key, now);
    }
    return hc;
  }
  ProbePool& pool = *ctx_.probe_pool;
  // A probe of an address the machine no longer has says nothing about it.
  if (auto done = pool.take(key); done && done->url == url) {
    hc.probe = std::move(done->probe);
    hc.at = done->started;
    remember_probe(key, done->started);
    last = last ? std::max(*last, done->started) : done->started;
  }
  if (!url.empty() && !pool.pending(key) && health::probe_due(in.spec, last, now)) {
    // Full: retried on a later pass (the requeue below comes within a poll).
    const ProbePool::Started started = pool.start(key, url, timeout);
    hc.in_flight = started == ProbePool::Started::Queued;
  } else {
    hc.in_flight = pool.pending(key);
  }
  return hc;
}

namespace {

bool settled(InstancePhase phase) {
  return phase == InstancePhase::Running || phase == InstancePhase::Ready ||
         phase == InstancePhase::Parked;
}

// Whether `m`, as a list shows it, is the instance's machine still running.
bool vouches_for(const std::optional<Machine>& m, const api::GpuInstance& inst) {
  return m && m->provider_id == inst.status.provider_id && m->state == MachineState::Running;
}

}  // namespace

// A settled machine (Running, Ready, Parked) that the provider's shared
// list shows running under the recorded id needs no get() of its own
// (machine_observer.h); anything else, including whatever the list says that
// would change the instance, is asked with get(), which is fresh.
std::optional<Machine> InstanceReconciler::vouched_machine(
    const std::shared_ptr<Provider>& provider, const api::GpuInstance& inst,
    const std::string& pool_uid, Time now) const {
  if (!settled(inst.status.phase) || !ctx_.machines || inst.status.provider_id.empty()) {
    return std::nullopt;
  }
  auto seen =
      ctx_.machines->peek(provider, inst.spec.offer.provider, pool_uid, inst.metadata.name, now);
  if (!vouches_for(seen, inst)) return std::nullopt;
  return seen;
}

InstanceReconciler::Watched InstanceReconciler::watch_machine(
    const std::shared_ptr<Provider>& provider, const api::GpuInstance& inst,
    const std::string& pool_uid, Time now) {
  if (settled(inst.status.phase) && ctx_.machines) {
    auto seen = ctx_.machines->observe(provider, inst.spec.offer.provider, pool_uid,
                                       inst.metadata.name, now);
    if (vouches_for(seen, inst)) return {std::move(*seen), true};
  }
  return {provider->get(pool_uid, inst.metadata.name), false};
}

kube::Millis InstanceReconciler::settled_poll(const api::GpuInstance& inst,
                                              const std::string& pool_uid, bool from_list) const {
  if (!from_list || !ctx_.machines || !ctx_.machines->reports_changes()) return kRunningPoll;
  auto label = inst.metadata.labels.find(decision::kLabelPoolUid);
  const bool findable = label != inst.metadata.labels.end() && label->second == pool_uid;
  return findable ? kSettledSafetyPoll : kRunningPoll;
}

std::optional<api::OfferSpec> InstanceReconciler::failover_offer_of(const api::GpuInstance& inst,
                                                                    const std::string& pool_uid,
                                                                    Time now) {
  kube::ObjectPtr pool_obj = ctx_.pools.get(inst.metadata.namespace_, inst.spec.pool);
  if (!pool_obj) return std::nullopt;
  std::shared_ptr<const api::GpuPool> pool = ctx_.decoded->pools.get(pool_obj);
  if (!pool || pool->metadata.uid != pool_uid || pool->metadata.deletion_timestamp) {
    return std::nullopt;
  }
  // The pool's instances as the pool pass sees them, this one as it is now.
  std::vector<api::GpuInstance> instances = {inst};
  for (const auto& ip : ctx_.instances.by_index(kIndexPoolUid, pool_uid)) {
    auto i = ctx_.decoded->instances.get(ip);
    if (i && i->metadata.name != inst.metadata.name) instances.push_back(*i);
  }
  decision::Input in = pool_input(ctx_, *pool, *pool_obj, std::move(instances), now);
  // An autoscaling pool's count is the autoscaler's, as its last pass wrote
  // it, and so is the lifetime it plans with: the pool bought this place
  // for the need the demand history foretells (short spikes on per-second
  // offers), so its failover must weigh the same need, not the 24 h default.
  if (pool->spec.autoscaling.enabled) {
    in.desired = pool->status.replicas.desired;
    if (pool->status.autoscaling) {
      in.expected_lifetime = capacity_lifetime(pool->spec, pool->status.autoscaling->history,
                                               std::max(1, active_machines(in.instances)), now);
    }
  }
  std::vector<std::string> busy;
  if (!fetch_pool_offers(ctx_, *pool, in, busy)) return std::nullopt;
  auto next = decision::failover_offer(std::move(in), inst.metadata.name);
  if (!next) return std::nullopt;
  // The CRD's transition rule, in step: never a move once a machine exists.
  api::GpuInstance moved = inst;
  moved.spec.offer = *next;
  if (!api::validate_update(inst, moved).empty()) return std::nullopt;
  return next;
}

kube::ApiResult<Json> InstanceReconciler::move_to_offer(const Json& obj,
                                                        const api::OfferSpec& offer) {
  Json j = obj;
  api::GpuInstance moved;
  moved.spec.offer = offer;
  j["spec"]["offer"] = api::encode(moved)["spec"]["offer"];
  auto r = ctx_.api.update(kGpuInstances, j);
  if (!r.ok()) return fail(r.error());
  return std::move(r).value();
}

kube::ReconcileResult InstanceReconciler::reconcile(const kube::ReconcileRequest& req) {
  kube::ObjectPtr cached = ctx_.instances.get(req.namespace_, req.name);
  const std::string inst_key = kube::make_key(req.namespace_, req.name);
  if (!cached) {
    forget_probe(inst_key);  // a probe in flight for it is dropped when it finishes
    return ReconcileResult::done();
  }
  Json obj = *cached;
  std::shared_ptr<const api::GpuInstance> inst_ptr = ctx_.decoded->instances.get(cached);
  if (!inst_ptr) {
    // Retrying cannot help: say so once, and wait for the object to change.
    auto decoded = api::decode_gpu_instance(obj, api::DecodeMode::Lenient);
    const std::string why = decoded.ok() ? "unreadable" : decoded.error().message;
    record_event(ctx_, obj, "Warning", "InvalidObject",
                 "cannot read this GpuInstance: " + why +
                     ". Fix the object; it is not retried until it changes.");
    return ReconcileResult::terminal("cannot decode GpuInstance " + req.name + ": " + why);
  }
  return reconcile_object(std::move(obj), inst_ptr, kMaxFailovers);
}

kube::ReconcileResult InstanceReconciler::reconcile_object(
    Json obj, const std::shared_ptr<const api::GpuInstance>& inst_ptr, int failovers_left) {
  const api::GpuInstance& inst = *inst_ptr;  // inst_ptr keeps it alive; never copied
  const std::string inst_key = kube::make_key(inst.metadata.namespace_, inst.metadata.name);
  const Time now = ctx_.clock.now();
  const std::string pool_uid = pool_uid_of(inst);
  const std::string pool_key = kube::make_key(inst.metadata.namespace_, inst.spec.pool);
  // One read of the registry: a get() then an entry() could see the adapter
  // built between the two and report a wait that was already over.
  const std::optional<RegistryEntry> entry = ctx_.registry.entry(inst.spec.offer.provider);
  const std::shared_ptr<Provider> provider = entry ? entry->provider : nullptr;
  api::GpuInstanceStatus old_status = inst.status;  // last written
  api::GpuInstanceStatus st = inst.status;

  auto write_status = [&](const api::GpuInstanceStatus& s) -> kube::ApiStatus {
    if (s == old_status) return {};
    Json j = obj;
    j["status"] = api::encode(s);
    kube::UpdateOptions uo;
    uo.subresource = "status";
    auto r = ctx_.api.update(kGpuInstances, j, uo);
    if (!r.ok()) return fail(r.error());
    obj = std::move(r).value();
    const api::GpuInstanceStatus before = old_status;
    old_status = s;
    if (s.phase == InstancePhase::Failed && before.phase != InstancePhase::Failed &&
        ctx_.on_failed) {
      ctx_.on_failed(inst, s.reason);
    }
    if (s.phase != before.phase) {
      record_event(ctx_, obj, s.phase == InstancePhase::Failed ? "Warning" : "Normal",
                   std::string(api::to_string(s.phase)),
                   "phase " + std::string(api::to_string(before.phase)) + " -> " +
                       std::string(api::to_string(s.phase)) +
                       (s.message.empty() ? "" : ": " + s.message));
    }
    return {};
  };
  auto status_result = [&](api::GpuInstanceStatus s, kube::Millis after) {
    auto t = retire_bootstrap_token(ctx_, s);  // once its Node registered or it ended
    if (!t.ok()) return ReconcileResult::from(t.error());
    auto w = write_status(s);
    if (!w.ok()) return ReconcileResult::from(w.error());
    return ReconcileResult::after(after);
  };

  ProviderSlots::Slot slot;  // held by every provider call below

  // ---- Deletion: end the machine, fold the spend, let the object go.
  if (inst.metadata.deletion_timestamp) {
    forget_probe(inst_key);
    if (!instance_has_finalizer(obj)) return ReconcileResult::done();
    bool gone = false;
    if (st.phase != InstancePhase::Terminated) {
      if (!provider) {
        return ReconcileResult::failed("GpuProvider " + inst.spec.offer.provider +
                                       " is not loaded; cannot end the machine yet");
      }
      // Its provider's calls in flight are capped (provider_slots.h).
      slot = ctx_.provider_slots->try_acquire(inst.spec.offer.provider);
      if (!slot) {
        return ctx_.provider_slots->refused_result({inst.spec.offer.provider},
                                                   &ctx_.enqueue_instance, inst_key);
      }
      if (st.provider_id.empty()) {
        // A create may have happened without its answer reaching us.
        auto m = provider->get(pool_uid, inst.metadata.name);
        if (m.ok() && m->state != MachineState::Terminated) {
          record_machine(st, inst, *m, now);
        } else if (m.ok() || m.error().kind == ProviderErrorKind::NotFound) {
          gone = true;
        } else {
          return ReconcileResult::failed(describe(m.error()));
        }
      }
      if (!gone) {
        // Node mode: its Node is cordoned and drained first (node_drain.h).
        const DrainStep drain = drain_before_end(ctx_, inst, st, obj, now);
        if (drain.error) {
          auto w = write_status(st);  // keeps drainStartedAt
          return ReconcileResult::from(w.ok() ? *drain.error : w.error());
        }
        if (drain.wait) return status_result(st, *drain.wait);
        // Endpoint mode: no machine is ended while a slice lists it ready.
        const UnlistStep unlist = unlisted_before_end(ctx_, inst, obj, now);
        if (unlist.error) return ReconcileResult::from(*unlist.error);
        if (unlist.wait) return status_result(st, *unlist.wait);
        if (st.phase != InstancePhase::Terminating) {
          st.phase = InstancePhase::Terminating;
          st.message = "ending the machine";
        }
        auto w = write_status(st);
        if (!w.ok()) return ReconcileResult::from(w.error());
        auto t = provider->terminate(st.provider_id);
        if (!t.ok() && t.error().kind != ProviderErrorKind::NotFound) {
          return ReconcileResult::failed(describe(t.error()));
        }
        if (!st.ended_at) st.ended_at = now;
        auto m = provider->get(pool_uid, inst.metadata.name);
        const bool confirmed_gone =
            !t.ok() || (!m.ok() && m.error().kind == ProviderErrorKind::NotFound) ||
            (m.ok() && (m->state == MachineState::Terminated || m->provider_id != st.provider_id));
        if (!confirmed_gone) {
          record_billing(st, inst, now);
          return status_result(st, kTerminatingPoll);
        }
      }
      st.phase = InstancePhase::Terminated;
      st.message = "the provider confirmed the machine is gone";
      if (!st.ended_at && st.launch_time) st.ended_at = now;
      record_billing(st, inst, now);
      auto w = write_status(st);
      if (!w.ok()) return ReconcileResult::from(w.error());
    }
    // The machine is gone: so is its Node (Node mode).
    if (!st.node_name.empty()) {
      auto r = ctx_.api.remove(kube::resources::kNodes, "", st.node_name);
      if (!r.ok() && r.error().kind != kube::ErrorKind::NotFound) {
        return ReconcileResult::from(r.error());
      }
    }
    if (decision::awaits_node(inst.spec.usage)) {
      auto r = delete_bootstrap_tokens(ctx_, inst.metadata.name, pool_uid);
      if (!r.ok()) return ReconcileResult::from(r.error());
    }
    // Fold the final spend into the pool's ledger (idempotent). A ledger
    // that cannot be read is never replaced: the finalizer stays (the spend
    // record would be lost otherwise) until a person repairs it.
    api::GpuInstance ended = inst;
    ended.status = st;
    for (int attempt = 0; attempt < 5; ++attempt) {
      auto pool = ctx_.api.get(kGpuPools, inst.metadata.namespace_, inst.spec.pool);
      if (!pool.ok()) {
        if (pool.error().kind == kube::ErrorKind::NotFound) break;
        return ReconcileResult::from(pool.error());
      }
      Json p = std::move(pool).value();
      if (p["metadata"].value("uid", "") != pool_uid) break;  // a different pool now
      std::string text;
      if (p["metadata"].contains("annotations") &&
          p["metadata"]["annotations"].contains(spend::kLedgerAnnotation) &&
          p["metadata"]["annotations"][spend::kLedgerAnnotation].is_string()) {
        text = p["metadata"]["annotations"][spend::kLedgerAnnotation].get<std::string>();
      }
      auto ledger = spend::parse_ledger(text);
      if (!ledger.ok()) {
        record_event(ctx_, obj, "Warning", "SpendLedgerCorrupt",
                     "cannot fold this machine's final spend into GpuPool " + inst.spec.pool +
                         ": its " + spend::kLedgerAnnotation + " annotation is unreadable (" +
                         ledger.error().message + "); keeping the instance until it is repaired");
        return ReconcileResult::after(kube::Millis{60000});
      }
      spend::SpendLedger l = std::move(ledger).value();
      if (!spend::fold(l, ended, now)) break;
      if (!p["metadata"].contains("annotations")) p["metadata"]["annotations"] = Json::object();
      p["metadata"]["annotations"][spend::kLedgerAnnotation] = spend::format_ledger(l);
      auto r = ctx_.api.update(kGpuPools, p);
      if (r.ok()) break;
      if (r.error().kind != kube::ErrorKind::Conflict) return ReconcileResult::from(r.error());
      if (attempt == 4) return ReconcileResult::from(r.error());
    }
    Json fins = Json::array();
    for (const auto& f : obj["metadata"]["finalizers"]) {
      if (f != decision::kFinalizer) fins.push_back(f);
    }
    obj["metadata"]["finalizers"] = fins;
    auto r = ctx_.api.update(kGpuInstances, obj);
    if (!r.ok() && r.error().kind != kube::ErrorKind::NotFound) {
      return ReconcileResult::from(r.error());
    }
    if (ctx_.enqueue_pool) ctx_.enqueue_pool(pool_key);
    return ReconcileResult::done();
  }

  // ---- Finalizer first.
  if (!instance_has_finalizer(obj)) {
    if (!obj["metadata"].contains("finalizers")) obj["metadata"]["finalizers"] = Json::array();
    obj["metadata"]["finalizers"].push_back(decision::kFinalizer);
    auto r = ctx_.api.update(kGpuInstances, obj);
    if (!r.ok()) return ReconcileResult::from(r.error());
    obj = std::move(r).value();
  }

  if (st.phase == InstancePhase::Failed || st.phase == InstancePhase::Terminated) {
    forget_probe(inst_key);
    return ReconcileResult::done();
  }
  if (!provider) {
    // At start-up the GpuProvider may be cached before its first reconcile
    // has built an adapter: look again shortly and write nothing (the
    // message and its removal a pass later were the only instance writes
    // of an operator restart). A GpuProvider that is missing, or whose
    // adapter could not be built, is reported.
    const std::string& name = inst.spec.offer.provider;
    if (ctx_.providers.get(name) && !entry) return ReconcileResult::after(kProviderNotBuiltYet);
    st.message = waiting_for_provider(name);
    return status_result(st, kube::Millis{5000});
  }
  // The wait is over: a running machine's message is not rewritten
  // otherwise, so it would stay.
  if (st.message == waiting_for_provider(inst.spec.offer.provider)) st.message.clear();
  // Its provider's calls in flight are capped (provider_slots.h): refused,
  // this key waits to be woken when a slot frees, and the worker serves
  // other keys meanwhile.
  // A settled machine its provider's last list vouches for makes no call,
  // so it needs no slot: at rest a busy provider delays no one.
  std::optional<Machine> vouched = vouched_machine(provider, inst, pool_uid, now);
  if (!vouched) {
    slot = ctx_.provider_slots->try_acquire(inst.spec.offer.provider);
    if (!slot) {
      return ctx_.provider_slots->refused_result({inst.spec.offer.provider}, &ctx_.enqueue_instance,
                                                 inst_key);
    }
  }

  // ---- Create.
  if (st.provider_id.empty()) {
    InstanceIntent intent;
    intent.name = inst.metadata.name;
    intent.pool_uid = pool_uid;
    intent.pool_namespace = inst.metadata.namespace_;
    intent.pool_name = inst.spec.pool;
    intent.offer = api::offer_from(inst.spec.offer);
    if (decision::awaits_node(inst.spec.usage)) {
      // The rendered template with this instance's token (bootstrap.h);
      // never a machine bought without its bootstrap.
      auto boot = prepare_bootstrap(ctx_, inst, pool_uid, st, now);
      if (!boot.ok() && boot.error().kind == BootstrapError::Kind::Api) {
        return ReconcileResult::from(boot.error().api);
      }
      if (boot.ok() && !runs_user_data(provider->user_data_support(), *boot)) {
        st.phase = InstancePhase::Failed;  // the pool re-plans without this provider
        st.reason = "BootstrapUnsupported";
        st.message = "GpuProvider " + inst.spec.offer.provider +
                     " cannot run the bootstrap template at boot (user data: " +
                     std::string(to_string(provider->user_data_support())) + ")";
        return status_result(st, kube::Millis{0});
      }
      if (!boot.ok()) {
        const std::string message = "waiting for the bootstrap template: " + boot.error().message;
        if (message != st.message) record_event(ctx_, obj, "Warning", "BootstrapInvalid", message);
        st.message = message;
        return status_result(st, kBootstrapRetry);
      }
      intent.user_data = std::move(*boot);
    } else if (inst.spec.usage.mode == api::UsageMode::Endpoint) {
      // The container with its env read from Secrets (endpoint_serving.h);
      // never a machine bought without its environment.
      auto container =
          endpoint_container(ctx_.api, inst.metadata.namespace_, inst.spec.usage.endpoint);
      if (!container.ok() && container.error().kind == ContainerError::Kind::Api) {
        return ReconcileResult::from(container.error().api);
      }
      if (!container.ok()) {
        const ContainerError& e = container.error();
        const std::string message = "waiting for the container's environment: " + e.message;
        if (message != st.message) record_event(ctx_, obj, "Warning", e.reason, message);
        st.message = message;
        decision::set_condition(st.conditions, condition("EnvResolved", api::ConditionStatus::False,
                                                         e.reason, e.message, now));
        return status_result(st, kBootstrapRetry);
      }
      if (decision::find_condition(st.conditions, "EnvResolved")) {
        decision::set_condition(st.conditions,
                                condition("EnvResolved", api::ConditionStatus::True, "SecretsRead",
                                          "every env valueFrom was read", now));
      }
      intent.container = std::move(container).value();
    }
    auto m = provider->create(intent);
    if (!m.ok() && m.error().kind == ProviderErrorKind::Transient) {
      auto found = provider->get(pool_uid, inst.metadata.name);
      if (found.ok()) {
        m = std::move(found);
      } else if (found.error().kind != ProviderErrorKind::NotFound) {
        return ReconcileResult::failed(describe(found.error()));
      }
    }
    if (!m.ok()) {
      const ProviderError& e = m.error();
      const std::string key = planner::offer_key(intent.offer);
      switch (e.kind) {
        case ProviderErrorKind::NoCapacity:
        case ProviderErrorKind::QuotaExceeded: {
          ctx_.unavailable.mark(key, now);
          slot.release();  // the create is over; planning may ask this provider again
          if (failovers_left > 0) {
            if (auto next = failover_offer_of(inst, pool_uid, now)) {
              auto moved = move_to_offer(obj, *next);
              if (!moved.ok()) return ReconcileResult::from(moved.error());
              auto decoded = to_instance(*moved);
              if (!decoded) return ReconcileResult::failed("cannot read the moved GpuInstance");
              // The next create first; the Event (an API write) after it.
              ReconcileResult result = reconcile_object(
                  std::move(moved).value(), std::make_shared<const api::GpuInstance>(*decoded),
                  failovers_left - 1);
              record_event(ctx_, obj, "Warning", "NoCapacity",
                           "offer " + key + ": " + describe(e) + "; moved to offer " +
                               planner::offer_key(api::offer_from(*next)));
              return result;
            }
          }
          record_event(ctx_, obj, "Warning", "NoCapacity",
                       "offer " + key + ": " + describe(e) + "; re-planning onto the next offer");
          auto r = ctx_.api.remove(kGpuInstances, inst.metadata.namespace_, inst.metadata.name);
          if (!r.ok() && r.error().kind != kube::ErrorKind::NotFound) {
            return ReconcileResult::from(r.error());
          }
          if (ctx_.enqueue_pool) ctx_.enqueue_pool(pool_key);
          return ReconcileResult::done();
        }
        case ProviderErrorKind::Unauthorized:
        case ProviderErrorKind::InvalidRequest:
          ctx_.unavailable.mark(key, now);
          st.phase = InstancePhase::Failed;
          st.reason = "CreateRefused";
          st.message = describe(e);
          return status_result(st, kube::Millis{0});
        case ProviderErrorKind::RateLimited:
          return ReconcileResult::after(std::max(
              kube::Millis{1000}, std::chrono::duration_cast<kube::Millis>(e.retry_after)));
        default:
          return ReconcileResult::failed(describe(e));
      }
    }
    record_machine(st, inst, *m, now);
    st.phase =
        m->state == MachineState::Running ? InstancePhase::Running : InstancePhase::Provisioning;
    st.message.clear();
    record_billing(st, inst, now);
    return status_result(st, kProvisioningPoll);
  }

  // ---- Watch the machine.
  Watched watched =
      vouched ? Watched{std::move(*vouched), true} : watch_machine(provider, inst, pool_uid, now);
  ProviderResult<Machine>& m = watched.machine;
  bool vanished = false;
  if (!m.ok()) {
    if (m.error().kind != ProviderErrorKind::NotFound)
      return ReconcileResult::failed(describe(m.error()));
    vanished = true;
  } else if (m->provider_id != st.provider_id || m->state == MachineState::Terminated ||
             m->state == MachineState::Terminating || m->state == MachineState::Failed) {
    vanished = true;
  }
  if (vanished) {
    st.phase = InstancePhase::Failed;
    st.reason = "Vanished";
    st.message = "the machine " + st.provider_id + " vanished at the provider";
    if (!st.ended_at) st.ended_at = now;
    record_billing(st, inst, now);
    return status_result(st, kube::Millis{0});
  }
  if (st.phase == InstancePhase::Provisioning && m->state == MachineState::Running) {
    st.phase = InstancePhase::Running;
    record_billing(st, inst, now);
  }
  const kube::Millis at_rest = settled_poll(inst, pool_uid, watched.from_list);
  if (decision::awaits_node(inst.spec.usage)) {
    return follow_node(inst, st, obj, now, at_rest, status_result);
  }
  if (decision::awaits_health(inst.spec.usage)) {
    return follow_endpoint(inst, st, obj, *m, now, at_rest, status_result);
  }
  return status_result(st, st.phase == InstancePhase::Provisioning ? kProvisioningPoll : at_rest);
}

// Node mode with a bootstrap (node_registration.h): Running -> Ready once
// the Node is usable, back when it is not, Failed past the registration
// timeout; a parked machine's Node is cordoned. Ready and Parked poll at
// `at_rest`: a change of their Node wakes them (the manager's Node
// informer), as a change of their machine does; one waiting for its Node
// polls every kRegistrationPoll for its timeout.
template <typename StatusResult>
kube::ReconcileResult InstanceReconciler::follow_node(const api::GpuInstance& inst,
                                                      api::GpuInstanceStatus& st, const Json& obj,
                                                      Time now, kube::Millis at_rest,
                                                      StatusResult& status_result) {
  using P = InstancePhase;
  if (st.phase != P::Running && st.phase != P::Ready && st.phase != P::Parked) {
    return status_result(st, kProvisioningPoll);
  }
  std::optional<Json> node;
  if (ctx_.nodes) node = node_of(*ctx_.nodes, inst);
  const NodeState ns = node ? node_state(*node) : NodeState{};
  if (node) {
    if (auto patch = node_patch(*node, inst, st.phase == P::Parked)) {
      auto r = ctx_.api.patch(kube::resources::kNodes, "", (*node)["metadata"]["name"],
                              kube::PatchType::Merge, *patch);
      if (!r.ok() && r.error().kind != kube::ErrorKind::NotFound) {
        return ReconcileResult::from(r.error());
      }
    }
  }
  if (st.phase == P::Parked) return status_result(st, at_rest);
  if (node && ns.usable()) {
    st.phase = P::Ready;
    st.node_name = (*node)["metadata"]["name"].get<std::string>();
    st.message.clear();
    return status_result(st, at_rest);
  }
  const std::string why =
      !node       ? "no Node has registered for it yet"
      : !ns.ready ? "its Node " + (*node)["metadata"]["name"].get<std::string>() + " is not Ready"
                  : "its Node reports no nvidia.com/gpu capacity";
  const Duration timeout{inst.spec.usage.node.registration_timeout_seconds};
  const Time since = st.launch_time.value_or(now);
  if (st.phase == P::Running && now - since >= timeout) {
    st.phase = P::Failed;
    st.reason = "RegistrationTimeout";
    st.message =
        "registration timed out: " + why + " " + std::to_string(timeout.count()) + "s after launch";
    record_event(ctx_, obj, "Warning", "RegistrationTimeout",
                 st.message + "; ending it so the pool buys a replacement");
    return status_result(st, kube::Millis{0});
  }
  st.phase = P::Running;
  st.message = "waiting for its Node: " + why;
  return status_result(st, kRegistrationPoll);
}

// Endpoint mode (endpoint_health.h): the address the provider reports is
// recorded; Running -> Ready after successThreshold healthy answers, Ready ->
// Running (Healthy=False, Event) after failureThreshold failures, Failed when
// never healthy by the startup timeout or unhealthy past
// unhealthyTimeoutSeconds after it served. Parked machines are not probed
// (they poll at `at_rest`, as a Ready one whose answers never change does);
// the others come back at their next probe, at most kRunningPoll away.
template <typename StatusResult>
kube::ReconcileResult InstanceReconciler::follow_endpoint(const api::GpuInstance& inst,
                                                          api::GpuInstanceStatus& st,
                                                          const Json& obj, const Machine& m,
                                                          Time now, kube::Millis at_rest,
                                                          StatusResult& status_result) {
  using P = InstancePhase;
  record_address(st, m);
  const std::string key = kube::make_key(inst.metadata.namespace_, inst.metadata.name);
  if (st.phase != P::Running && st.phase != P::Ready) {
    // Parked (or not up yet): an answer still on its way is not wanted.
    if (ctx_.probe_pool) ctx_.probe_pool->forget(key);
    return status_result(st, st.phase == P::Provisioning ? kProvisioningPoll : at_rest);
  }
  const api::EndpointUsage& ep = inst.spec.usage.endpoint;
  const std::string url = health::health_url(st.address, st.port, ep.health_path);
  health::Input in;
  in.spec = ep.health_check;
  in.state = st.health.value_or(api::EndpointHealthStatus{});
  in.ready = st.phase == P::Ready;
  in.launch = st.launch_time.value_or(now);
  in.now = now;
  in.last_probe = remembered_probe(key);
  const HealthCheck hc = health_check(key, url, in, now);
  in.probe = hc.probe;
  if (hc.probe) in.now = hc.at;  // the probe counts as of when it started
  const health::Output out = health::decide(in);
  if (in.probe || st.health) st.health = out.state;
  const std::string counts_needed = std::to_string(in.spec.success_threshold);
  switch (out.transition) {
    case health::Transition::StartupTimedOut: {
      st.phase = P::Failed;
      st.reason = "StartupTimeout";
      st.message = "startup timed out: " +
                   (url.empty() ? std::string("the provider never reported its address")
                                : "GET " + url + " never answered 2xx " + counts_needed +
                                      " time(s) in a row") +
                   " within " + std::to_string(in.spec.startup_timeout_seconds) + "s of launch" +
                   (in.probe ? " (last: " + in.probe->detail + ")" : "");
      record_event(ctx_, obj, "Warning", "StartupTimeout",
                   st.message + "; ending it so the pool buys a replacement");
      forget_probe(key);
      return status_result(st, kube::Millis{0});
    }
    case health::Transition::UnhealthyTimedOut: {
      st.phase = P::Failed;
      st.reason = "UnhealthyTimeout";
      st.message = "unhealthy too long: GET " + url + " has failed since " +
                   format_rfc3339(*st.health->last_probe_time) + ", over the " +
                   std::to_string(in.spec.unhealthy_timeout_seconds) + "s allowed" +
                   (in.probe ? " (last: " + in.probe->detail + ")" : "");
      record_event(ctx_, obj, "Warning", "UnhealthyTimeout",
                   st.message + "; ending it so the pool buys a replacement");
      forget_probe(key);
      return status_result(st, kube::Millis{0});
    }
    case health::Transition::BecameHealthy:
      st.phase = P::Ready;
      st.message.clear();
      decision::set_condition(
          st.conditions,
          condition("Healthy", api::ConditionStatus::True, "ProbeSucceeded",
                    "GET " + url + " answered 2xx " + counts_needed + " time(s) in a row", now));
      break;
    case health::Transition::BecameUnhealthy: {
      st.phase = P::Running;
      const std::string why = "GET " + url + " failed " +
                              std::to_string(in.spec.failure_threshold) + " time(s) in a row" +
                              (in.probe ? ": " + in.probe->detail : std::string());
      st.message = "unhealthy: " + why;
      decision::set_condition(st.conditions, condition("Healthy", api::ConditionStatus::False,
                                                       "ProbeFailed", why, now));
      record_event(ctx_, obj, "Warning", "Unhealthy",
                   why + "; taken out of service until it answers again");
      break;
    }
    case health::Transition::None:
      if (st.phase == P::Running) {
        if (url.empty()) {
          st.message = "waiting for the provider to report the machine's address";
        } else if (in.probe && !in.probe->ok) {
          st.message = (out.state.first_healthy_time ? "unhealthy: GET " : "starting: GET ") + url +
                       " answered " + in.probe->detail;
        } else if (in.probe) {
          st.message = "starting: GET " + url + " answered 2xx " +
                       std::to_string(out.state.consecutive_successes) + " of " + counts_needed +
                       " time(s) in a row";
        }
      }
      break;
  }
  const EndpointProber* prober = ctx_.probe_pool ? &ctx_.probe_pool->prober() : ctx_.prober;
  if (st.phase == P::Ready && prober && prober->answers_never_change()) {
    return status_result(st, at_rest);
  }
  auto until_probe = std::chrono::duration_cast<kube::Millis>(out.next_probe - now);
  if (hc.in_flight) {
    // Its completion enqueues this instance; a pass before its timeout would
    // only find it still running (and poll the provider for nothing).
    const auto timeout =
        std::chrono::duration_cast<kube::Millis>(Duration{in.spec.timeout_seconds});
    until_probe = std::max(until_probe, std::min(timeout, kRunningPoll));
  }
  return status_result(st, std::clamp(until_probe, kube::Millis{1000}, kRunningPoll));
}

}  // namespace gpupool::controllers
