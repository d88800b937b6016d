#include "operator/controllers/garbage_collector.h"

#include <set>

#include "operator/controllers/provider_slots.h"

#include "operator/core/api_codec.h"
#include "operator/core/pool_decision.h"
#include "operator/core/spend.h"
#include "providers/catalog/catalog.h"

namespace gpupool::controllers {
namespace {

using kube::Json;

struct Claim {
  bool claimed = false;
  bool adopt = false;
  Json instance;
};

// Whether the GpuInstance `obj` (decoded: `inst`) claims machine `m` at
// GpuProvider `provider`. Only a machine at the instance's own provider: an
// intent moved to another offer after NoCapacity (instance_reconciler.h)
// never adopts a machine left at the provider it moved from.
Claim claim_of(const api::GpuInstance* inst, const Json& obj, const ListedMachine& m,
               const std::string& provider) {
  Claim c;
  if (!inst || inst->spec.offer.provider != provider) return c;
  auto uid = inst->metadata.labels.find(decision::kLabelPoolUid);
  if (uid == inst->metadata.labels.end() || uid->second != m.pool_uid) return c;
  if (inst->status.provider_id.empty()) {
    c.claimed = true;
    c.adopt = true;
    c.instance = obj;
  } else if (inst->status.provider_id == m.provider_id) {
    c.claimed = true;
  }
  return c;
}

// The billing rule and price an orphan was bought at: its offer in the
// provider's current offer set, else the provider type's catalog rule and the
// price the provider reports.
api::GpuInstanceStatus orphan_bill(const Context& ctx, const std::string& provider,
                                   const Machine& m, Time first_seen, Time now) {
  api::GpuInstanceStatus st;
  st.launch_time = m.launch_time ? *m.launch_time : first_seen;
  st.ended_at = now;
  st.price_per_hour = m.price_per_hour;
  std::string type;
  if (auto gp = ctx.providers.get(provider)) {
    if (auto p = to_provider(*gp)) type = p->spec.type;
  }
  if (auto b = catalog::default_billing(type, catalog::planning_options())) st.billing = *b;
  if (auto e = ctx.registry.entry(provider); e && e->prices) {
    for (const Offer& o : *e->prices->snapshot().offers) {
      if (o.id != m.offer_id || (!m.region.empty() && o.region != m.region)) continue;
      st.billing = o.billing;
      if (st.price_per_hour->is_zero()) st.price_per_hour = o.price_per_hour;
      break;
    }
  }
  if (!st.billing) st.billing = BillingRule{};
  return st;
}

}  // namespace

// Charges an ended orphan: to the pool whose tags it carries (folded into its
// spend ledger under "orphan/<provider>/<id>"), else to the GpuProvider's
// status.unattributedSpend. Best effort with conflict retries; spend is
// computed by spend::spend_by_month like every instance's.
void GarbageCollector::charge_orphan(const std::string& provider, const Machine& m,
                                     const std::optional<api::GpuPool>& pool, Time first_seen,
                                     Time now) {
  const api::GpuInstanceStatus bill = orphan_bill(ctx_, provider, m, first_seen, now);
  const auto months = spend::spend_by_month(bill, Money{}, now);
  Money total;
  for (const auto& [month, part] : months)
    total += part;
  for (int attempt = 0; attempt < 5; ++attempt) {
    if (pool) {
      auto live = ctx_.api.get(kGpuPools, pool->metadata.namespace_, pool->metadata.name);
      if (!live.ok()) return;
      Json p = std::move(live).value();
      if (p["metadata"].value("uid", "") != pool->metadata.uid) return;
      std::string text;
      const Json& meta = p["metadata"];
      if (meta.contains("annotations") && meta["annotations"].contains(spend::kLedgerAnnotation) &&
          meta["annotations"][spend::kLedgerAnnotation].is_string()) {
        text = meta["annotations"][spend::kLedgerAnnotation].get<std::string>();
      }
      auto ledger = spend::parse_ledger(text);
      if (!ledger.ok()) return;  // the pool reports the corrupt ledger itself
      spend::SpendLedger l = std::move(ledger).value();
      if (!spend::fold_amount(l, "orphan/" + provider + "/" + m.provider_id, months, provider))
        return;
      if (!p["metadata"].contains("annotations")) p["metadata"]["annotations"] = Json::object();
      p["metadata"]["annotations"][spend::kLedgerAnnotation] = spend::format_ledger(l);
      auto r = ctx_.api.update(kGpuPools, p);
      if (r.ok() || r.error().kind != kube::ErrorKind::Conflict) return;
    } else {
      auto live = ctx_.api.get(kGpuProviders, "", provider);
      if (!live.ok()) return;
      Json gp = std::move(live).value();
      auto decoded = to_provider(gp);
      if (!decoded) return;
      api::GpuProvider with = *decoded;
      with.status.unattributed_spend += total;
      gp["status"] = api::encode(with)["status"];
      kube::UpdateOptions uo;
      uo.subresource = "status";
      auto r = ctx_.api.update(kGpuProviders, gp, uo);
      if (r.ok() || r.error().kind != kube::ErrorKind::Conflict) return;
    }
  }
}

void GarbageCollector::count_orphan(const std::string& provider, bool ended) {
  MutexLock lock(counts_mu_);
  auto& c = per_provider_[provider];
  if (ended) {
    ++c.ended;
  } else {
    ++c.found;
  }
}

std::map<std::string, GarbageCollector::OrphanCounts> GarbageCollector::orphans_by_provider()
    const {
  MutexLock lock(counts_mu_);
  return per_provider_;
}

namespace {

// The annotation's value for `first_seen`; "" (annotation removed) when empty.
std::string encode_first_seen(const std::map<std::string, Time>& first_seen) {
  if (first_seen.empty()) return "";
  Json j = Json::object();
  for (const auto& [id, t] : first_seen)
    j[id] = format_rfc3339(t);
  return j.dump();
}

// The entries of a stored annotation; a value that is not a JSON object, or
// an entry that is not an RFC 3339 time, is skipped (and later rewritten).
std::map<std::string, Time> decode_first_seen(const std::string& text) {
  std::map<std::string, Time> out;
  const Json j = Json::parse(text, nullptr, false);
  if (!j.is_object()) return out;
  for (const auto& [id, v] : j.items()) {
    Time t;
    if (v.is_string() && parse_rfc3339(v.get<std::string>(), t)) out.emplace(id, t);
  }
  return out;
}

}  // namespace

void GarbageCollector::load_first_seen(const std::string& provider, ProviderOrphans& po) {
  if (po.loaded) return;
  auto live = ctx_.api.get(kGpuProviders, "", provider);
  if (!live.ok()) {
    // No GpuProvider: times stay in memory. Another error: read next run.
    if (live.error().kind == kube::ErrorKind::NotFound) po.loaded = true;
    return;
  }
  po.loaded = true;
  po.persistent = true;
  po.written.clear();
  const Json& meta = (*live)["metadata"];
  auto annotations = meta.find("annotations");
  if (annotations == meta.end() || !annotations->is_object()) return;
  auto value = annotations->find(kOrphansFirstSeenAnnotation);
  if (value == annotations->end() || !value->is_string()) return;
  po.written = value->get<std::string>();
  for (const auto& [id, t] : decode_first_seen(po.written)) {
    auto [it, fresh] = po.first_seen.emplace(id, t);
    if (!fresh && t < it->second) it->second = t;
  }
}

void GarbageCollector::persist_first_seen(const std::string& provider, ProviderOrphans& po) {
  if (!po.persistent) return;
  const std::string want = encode_first_seen(po.first_seen);
  if (want == po.written) return;
  const Json value = want.empty() ? Json() : Json(want);
  const Json patch = {{"metadata", {{"annotations", {{kOrphansFirstSeenAnnotation, value}}}}}};
  auto r = ctx_.api.patch(kGpuProviders, "", provider, kube::PatchType::Merge, patch);
  if (r.ok()) {
    po.written = want;
  } else if (r.error().kind == kube::ErrorKind::NotFound) {
    po.loaded = false;  // deleted: a GpuProvider of that name made later is read again
    po.persistent = false;
  }
}

std::optional<MachineObserver::Listing> GarbageCollector::fresh_list(
    const std::string& pname, const std::shared_ptr<Provider>& provider, ProviderSlots::Slot& slot,
    Duration max_age, Time now) {
  if (auto shared = observer().listing(provider, pname, max_age, now, /*may_list=*/false)) {
    return shared;
  }
  // A provider at its limit of calls in flight (provider_slots.h) is
  // looked at next round: the collector is never in a hurry.
  slot = ctx_.provider_slots->try_acquire(pname);
  if (!slot) return std::nullopt;
  return observer().listing(provider, pname, max_age, now, /*may_list=*/true);
}

void GarbageCollector::refresh_lists() {
  const Time now = ctx_.clock.now();
  for (const auto& [pname, provider] : ctx_.registry.all()) {
    ProviderSlots::Slot slot;
    (void)fresh_list(pname, provider, slot, observer().max_age(), now);
  }
}

void GarbageCollector::run_once() {
  const Time now = ctx_.clock.now();
  const auto providers = ctx_.registry.all();
  for (const auto& [pname, provider] : providers) {
    ProviderSlots::Slot slot;  // taken only for a call to the provider
    // No fresh list: no evidence either way, and the times are kept.
    const auto listing = fresh_list(pname, provider, slot, max_list_age_, now);
    if (!listing) continue;
    ProviderOrphans& po = orphans_[pname];
    load_first_seen(pname, po);
    // Ended from an earlier round's look at this same list: already done.
    std::erase_if(po.ended, [&](const auto& e) { return e.second < listing->taken; });
    std::set<std::string> unclaimed;
    for (const ListedMachine& m : *listing->machines) {
      if (po.ended.count(m.provider_id) != 0) continue;
      if (visit_machine(pname, *provider, m, po, slot, listing->taken, now)) {
        unclaimed.insert(m.provider_id);
      }
    }
    std::erase_if(po.first_seen, [&](const auto& e) { return !unclaimed.count(e.first); });
    persist_first_seen(pname, po);
  }
  std::erase_if(orphans_, [&](const auto& e) { return !providers.count(e.first); });
}

bool GarbageCollector::visit_machine(const std::string& pname, Provider& provider,
                                     const ListedMachine& m, ProviderOrphans& po,
                                     ProviderSlots::Slot& slot, Time listed, Time now) {
  if (m.state == MachineState::Terminated || m.state == MachineState::Terminating) return false;
  std::string ns, pool_name;
  if (const auto slash = m.pool.find('/'); slash != std::string::npos) {
    ns = m.pool.substr(0, slash);
    pool_name = m.pool.substr(slash + 1);
  }
  const std::string& inst_name = m.instance;
  kube::ObjectPtr cached =
      ns.empty() || inst_name.empty() ? nullptr : ctx_.instances.get(ns, inst_name);
  Claim c;
  if (cached) c = claim_of(ctx_.decoded->instances.get(cached).get(), *cached, m, pname);
  if (c.adopt) {
    adopt(pname, m.to_machine(), c.instance, now);
    return false;
  }
  if (c.claimed) return false;
  // Seen when the list was taken. Ended past the grace only on a later list
  // than the one that first showed it: a list up to max_list_age_ old,
  // read again next round, never ends a machine on its own.
  auto [it, fresh] = po.first_seen.emplace(m.provider_id, listed);
  if (fresh) count_orphan(pname, /*ended=*/false);
  const Time first_seen = it->second;
  Duration grace = kDefaultGrace;
  kube::ObjectPtr pool_obj = ns.empty() ? nullptr : ctx_.pools.get(ns, pool_name);
  std::optional<api::GpuPool> pool;
  if (auto p = ctx_.decoded->pools.get(pool_obj)) pool = *p;
  if (pool && pool->metadata.uid == m.pool_uid) {
    grace = Duration{pool->spec.lifecycle.adoption_grace_seconds};
  } else {
    pool.reset();
  }
  if (now - first_seen < grace || listed <= first_seen) return true;
  // Confirm with a live read before ending anything.
  if (!ns.empty() && !inst_name.empty()) {
    auto live = ctx_.api.get(kGpuInstances, ns, inst_name);
    if (live.ok()) {
      auto decoded = to_instance(*live);
      if (claim_of(decoded ? &*decoded : nullptr, *live, m, pname).claimed) return false;
    }
    if (!live.ok() && live.error().kind != kube::ErrorKind::NotFound) return true;
  }
  if (!slot) slot = ctx_.provider_slots->try_acquire(pname);
  if (!slot) return true;  // ended next round
  auto t = provider.terminate(m.provider_id);
  if (!t.ok() && t.error().kind != ProviderErrorKind::NotFound) return true;
  po.ended[m.provider_id] = listed;
  orphans_ended_.fetch_add(1);
  count_orphan(pname, /*ended=*/true);
  charge_orphan(pname, m.to_machine(), pool, first_seen, now);
  const std::string msg = "ended orphan machine " + m.provider_id + " at provider " + pname +
                          " (instance \"" + inst_name + "\" does not claim it)";
  if (pool_obj && pool) record_event(ctx_, *pool_obj, "Warning", "OrphanEnded", msg);
  return false;
}

void GarbageCollector::adopt(const std::string& pname, const Machine& m, const Json& obj,
                             Time now) {
  auto inst = to_instance(obj);
  if (!inst || inst->metadata.deletion_timestamp) return;
  api::GpuInstance with = *inst;
  with.status.provider_id = m.provider_id;
  with.status.region = m.region.empty() ? inst->spec.offer.region : m.region;
  with.status.price_per_hour =
      m.price_per_hour.is_zero() ? inst->spec.offer.price_per_hour : m.price_per_hour;
  with.status.billing = inst->spec.offer.billing;
  with.status.launch_time = m.launch_time ? *m.launch_time : now;
  with.status.phase = m.state == MachineState::Running ? api::InstancePhase::Running
                                                       : api::InstancePhase::Provisioning;
  Json j = obj;
  j["status"] = api::encode(with)["status"];
  kube::UpdateOptions uo;
  uo.subresource = "status";
  if (ctx_.api.update(kGpuInstances, j, uo).ok()) {
    adopted_.fetch_add(1);
    record_event(ctx_, j, "Normal", "Adopted",
                 "adopted machine " + m.provider_id + " found at provider " + pname);
  }
}

}  // namespace gpupool::controllers
