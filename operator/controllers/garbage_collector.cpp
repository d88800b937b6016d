#include "operator/controllers/garbage_collector.h"

#include <set>

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

// Whether the GpuInstance `obj` (decoded: `inst`) claims machine `m`.
Claim claim_of(const api::GpuInstance* inst, const Json& obj, const Machine& m) {
  Claim c;
  if (!inst) return c;
  auto uid = inst->metadata.labels.find(decision::kLabelPoolUid);
  if (uid == inst->metadata.labels.end() || uid->second != m.pool_uid()) return c;
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
  std::lock_guard lock(counts_mu_);
  auto& c = per_provider_[provider];
  if (ended) {
    ++c.ended;
  } else {
    ++c.found;
  }
}

std::map<std::string, GarbageCollector::OrphanCounts> GarbageCollector::orphans_by_provider()
    const {
  std::lock_guard lock(counts_mu_);
  return per_provider_;
}

void GarbageCollector::run_once() {
  const Time now = ctx_.clock.now();
  std::set<std::string> seen;
  for (const auto& [pname, provider] : ctx_.registry.all()) {
    auto machines = provider->list(MachineFilter{});
    if (!machines.ok()) continue;
    for (const Machine& m : *machines) {
      if (m.state == MachineState::Terminated || m.state == MachineState::Terminating) continue;
      const std::string key = pname + "/" + m.provider_id;
      auto pool_tag = m.tags.find(std::string(kTagPool));
      auto inst_tag = m.tags.find(std::string(kTagInstance));
      std::string ns, pool_name;
      if (pool_tag != m.tags.end()) {
        const auto slash = pool_tag->second.find('/');
        if (slash != std::string::npos) {
          ns = pool_tag->second.substr(0, slash);
          pool_name = pool_tag->second.substr(slash + 1);
        }
      }
      const std::string inst_name = inst_tag != m.tags.end() ? inst_tag->second : m.name;
      kube::ObjectPtr cached =
          ns.empty() || inst_name.empty() ? nullptr : ctx_.instances.get(ns, inst_name);
      Claim c;
      if (cached) c = claim_of(ctx_.decoded->instances.get(cached).get(), *cached, m);
      if (c.adopt) {
        auto inst = to_instance(c.instance);
        if (inst && !inst->metadata.deletion_timestamp) {
          api::GpuInstance with = *inst;
          with.status.provider_id = m.provider_id;
          with.status.region = m.region.empty() ? inst->spec.offer.region : m.region;
          with.status.price_per_hour =
              m.price_per_hour.is_zero() ? inst->spec.offer.price_per_hour : m.price_per_hour;
          with.status.billing = inst->spec.offer.billing;
          with.status.launch_time = m.launch_time ? *m.launch_time : now;
          with.status.phase = m.state == MachineState::Running ? api::InstancePhase::Running
                                                               : api::InstancePhase::Provisioning;
          Json j = c.instance;
          j["status"] = api::encode(with)["status"];
          kube::UpdateOptions uo;
          uo.subresource = "status";
          if (ctx_.api.update(kGpuInstances, j, uo).ok()) {
            adopted_.fetch_add(1);
            record_event(ctx_, j, "Normal", "Adopted",
                         "adopted machine " + m.provider_id + " found at provider " + pname);
          }
        }
        continue;
      }
      if (c.claimed) continue;
      seen.insert(key);
      auto [it, fresh] = first_seen_.emplace(key, now);
      if (fresh) count_orphan(pname, /*ended=*/false);
      Duration grace = kDefaultGrace;
      kube::ObjectPtr pool_obj = ns.empty() ? nullptr : ctx_.pools.get(ns, pool_name);
      std::optional<api::GpuPool> pool;
      if (auto p = ctx_.decoded->pools.get(pool_obj)) pool = *p;
      if (pool && pool->metadata.uid == m.pool_uid()) {
        grace = Duration{pool->spec.lifecycle.adoption_grace_seconds};
      } else {
        pool.reset();
      }
      if (now - it->second < grace) continue;
      // Confirm with a live read before ending anything.
      if (!ns.empty() && !inst_name.empty()) {
        auto live = ctx_.api.get(kGpuInstances, ns, inst_name);
        if (live.ok()) {
          auto decoded = to_instance(*live);
          if (claim_of(decoded ? &*decoded : nullptr, *live, m).claimed) continue;
        }
        if (!live.ok() && live.error().kind != kube::ErrorKind::NotFound) continue;
      }
      auto t = provider->terminate(m.provider_id);
      if (!t.ok() && t.error().kind != ProviderErrorKind::NotFound) continue;
      orphans_ended_.fetch_add(1);
      count_orphan(pname, /*ended=*/true);
      charge_orphan(pname, m, pool, it->second, now);
      first_seen_.erase(key);
      const std::string msg = "ended orphan machine " + m.provider_id + " at provider " + pname +
                              " (instance \"" + inst_name + "\" does not claim it)";
      if (pool_obj && pool) record_event(ctx_, *pool_obj, "Warning", "OrphanEnded", msg);
    }
  }
  for (auto it = first_seen_.begin(); it != first_seen_.end();) {
    it = seen.count(it->first) ? std::next(it) : first_seen_.erase(it);
  }
}

}  // namespace gpupool::controllers
