#include "operator/controllers/pool_input.h"

#include <algorithm>
#include <charconv>

#include "operator/controllers/bootstrap.h"
#include "operator/controllers/provider_slots.h"
#include "operator/core/spend.h"

namespace gpupool::controllers {
namespace {

using kube::Json;

std::string annotation(const Json& obj, const char* key) {
  const auto& m = obj["metadata"];
  if (m.contains("annotations") && m["annotations"].contains(key) &&
      m["annotations"][key].is_string()) {
    return m["annotations"][key].get<std::string>();
  }
  return {};
}

int64_t parse_ordinal(const std::string& s) {
  int64_t v = 1;
  auto [p, ec] = std::from_chars(s.data(), s.data() + s.size(), v);
  if (ec != std::errc() || p != s.data() + s.size() || v < 1) return 1;
  return v;
}

// Each provider's machines and GPUs in use, over every pool: from the
// instance store's kIndexProviderGpus counts (no instance is read; a pool
// reconcile at 50,000 instances used to walk them all), else by walking.
void count_provider_usage(const Context& ctx,
                          std::map<std::string, planner::ProviderState>& providers) {
  const auto counts = ctx.instances.index_counts(kIndexProviderGpus);
  if (!counts.empty() || ctx.instances.size() == 0) {
    for (const auto& [value, n] : counts) {
      const auto slash = value.rfind('/');
      auto it = providers.find(value.substr(0, slash));
      if (slash == std::string::npos || it == providers.end()) continue;
      it->second.instances += static_cast<int>(n);
      it->second.gpus += static_cast<int>(n) * std::stoi(value.substr(slash + 1));
    }
    return;
  }
  for (const auto& ip : ctx.instances.list()) {
    auto i = ctx.decoded->instances.get(ip);
    if (!i || i->metadata.deletion_timestamp) continue;
    auto it = providers.find(i->spec.offer.provider);
    if (it == providers.end()) continue;
    it->second.instances += 1;
    it->second.gpus += i->spec.offer.gpu_count;
  }
}

OfferQuery offer_query(const api::GpuPool& pool, const api::PoolProviderRef& ref) {
  OfferQuery q;
  for (const auto& m : pool.spec.gpu.models)
    q.gpu_models.push_back(m.name);
  q.regions = ref.regions;
  q.min_gpu_count = pool.spec.gpu.count;
  q.max_gpu_count = pool.spec.gpu.count;
  q.include_spot = pool.spec.spot.allowed;
  q.include_community = pool.spec.reliability == api::ReliabilityRequirement::Any;
  return q;
}

}  // namespace

decision::Input pool_input(const Context& ctx, const api::GpuPool& pool, const Json& pool_obj,
                           std::vector<api::GpuInstance> instances, Time now) {
  decision::Input in;
  in.pool = pool;
  in.now = now;
  in.desired = decision::desired_replicas(pool.spec);
  in.next_ordinal = parse_ordinal(annotation(pool_obj, decision::kNextOrdinalAnnotation));
  auto ledger =
      ctx.ledgers->parse(pool.metadata.uid, annotation(pool_obj, spend::kLedgerAnnotation));
  if (ledger.ok()) {
    in.ledger = *ledger;
  } else {
    in.ledger_problem = ledger.error().message;  // never read as an empty ledger
  }
  in.spend_period = ctx.spend_status_period;
  in.instances = std::move(instances);
  in.unavailable = ctx.unavailable.active(now);
  in.sold_out_lately = ctx.unavailable.recent(now);
  in.policy = ctx.policy;
  in.scaling_period = ctx.scaling_period;
  // Provider limits: machines held at each provider by every pool.
  for (const auto& ref : pool.spec.providers) {
    auto e = ctx.registry.entry(ref.name);
    if (!e) {
      if (ctx.providers.get("", ref.name)) {
        // It exists but its adapter and prices are not loaded yet: buying
        // now would plan without it and could pick a worse offer.
        in.providers_loading.push_back(ref.name);
      } else {
        in.provider_problems.push_back("GpuProvider " + ref.name + ": not found");
      }
      continue;
    }
    if (!e->problem.empty()) {
      in.provider_problems.push_back("GpuProvider " + ref.name + ": " + e->problem);
    }
    planner::ProviderState ps;
    ps.paused = e->paused;
    ps.max_instances = e->max_instances;
    ps.max_gpus = e->max_gpus;
    in.providers[ref.name] = ps;
  }
  count_provider_usage(ctx, in.providers);
  return in;
}

bool fetch_pool_offers(Context& ctx, const api::GpuPool& pool, decision::Input& in,
                       std::vector<std::string>& busy) {
  int answered = 0;
  busy.clear();
  // A pool that bootstraps Nodes reads its template (bootstrap.h) and
  // plans only providers that run it.
  if (decision::awaits_node(pool.spec.usage)) in.bootstrap = check_pool_bootstrap(ctx, pool);
  for (const auto& ref : pool.spec.providers) {
    auto p = ctx.registry.get(ref.name);
    if (!p) continue;
    if (in.bootstrap &&
        std::find(in.bootstrap->unsupported.begin(), in.bootstrap->unsupported.end(), ref.name) !=
            in.bootstrap->unsupported.end()) {
      continue;
    }
    const OfferQuery q = offer_query(pool, ref);
    auto e = ctx.registry.entry(ref.name);
    ProviderSlots::Slot slot;  // taken only for a call to the provider
    if (e && e->prices) {
      // Live prices merged over the catalog, no API call here. While the
      // API answers (Live or Stale) its offers are what can be bought;
      // the catalog alone stands in only when there is no usable answer.
      auto snap = e->prices->snapshot();
      // Never asked yet (the GpuProvider reconciler has not run since the
      // adapter was built): ask once now rather than plan on the catalog.
      if (!snap.last_attempt) {
        slot = ctx.provider_slots->try_acquire(ref.name);
        if (!slot) {
          busy.push_back(ref.name);
          continue;
        }
        snap = e->prices->refresh_if_due();
      }
      ++answered;
      const bool live = snap.source != pricing::PriceSource::Catalog;
      for (const Offer& o : *snap.offers) {
        if ((live && !pricing::is_live(o)) || !matches(o, q)) continue;
        Offer copy = o;
        copy.provider = ref.name;
        in.offers.push_back(std::move(copy));
      }
      continue;
    }
    slot = ctx.provider_slots->try_acquire(ref.name);
    if (!slot) {
      busy.push_back(ref.name);
      continue;
    }
    ++answered;
    auto offers = p->offers(q);
    if (!offers.ok()) {
      in.provider_problems.push_back("GpuProvider " + ref.name +
                                     ": offers: " + describe(offers.error()));
      continue;
    }
    for (auto& o : *offers) {
      o.provider = ref.name;
      in.offers.push_back(std::move(o));
    }
  }
  return busy.empty() || answered > 0;
}

}  // namespace gpupool::controllers
