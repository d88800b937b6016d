#pragma once
// The pool decision's input as the controllers read it from the caches, the
// provider registry and the providers' prices: shared by the pool reconciler
// (every pass) and the instance reconciler's NoCapacity failover
// (decision::failover_offer), so both plan one pool on the same facts and
// rank money through the same code.
//
// Thread-safety: as the Context members they read (all thread-safe).

#include <string>
#include <vector>

#include "operator/controllers/context.h"
#include "operator/core/pool_decision.h"

namespace gpupool::controllers {

// Everything but the offers and autoscaling: the pool (`pool_obj` is its
// stored object, for the ordinal and spend-ledger annotations), its
// `instances`, `now`, the desired count before autoscaling, the spend
// ledger (or why it cannot be read), the unavailable marks, and each of the
// pool's providers: limits, problems, "still loading", and the machines and
// GPUs every pool holds there (the instance store's kIndexProviderGpus).
decision::Input pool_input(const Context& ctx, const api::GpuPool& pool, const kube::Json& pool_obj,
                           std::vector<api::GpuInstance> instances, Time now);

// Adds the offers of the pool's providers that match its GPU request to
// in.offers: live prices merged over the catalog when the provider has a
// price refresher (no call, except a first refresh), else an offers() call.
// A pool that bootstraps Nodes reads its template first (in.bootstrap) and
// skips providers that cannot run it. A provider call takes one of the
// provider's slots (provider_slots.h); a provider whose slots are all taken
// is skipped and named in `busy`. False (plan nothing) when every provider
// that had to be asked was busy.
bool fetch_pool_offers(Context& ctx, const api::GpuPool& pool, decision::Input& in,
                       std::vector<std::string>& busy);

}  // namespace gpupool::controllers
