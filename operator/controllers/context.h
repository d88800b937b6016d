#pragma once
// What the reconcilers share: the API, the clock, the informer caches, the
// provider registry, the no-capacity cache and the event recorder. The
// manager (operator/manager) owns every piece; reconcilers only borrow them.
//
// Caches: reconcilers read from the kube::Store of each informer. Unit tests
// fill the stores straight from the API (refresh_store) instead of running
// informer threads.
//
// Thread-safety: every member is itself thread-safe; the struct is not
// modified after construction.

#include <atomic>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>

#include "operator/clock/clock.h"
#include "operator/controllers/decode_cache.h"
#include "operator/controllers/demand_signals.h"
#include "operator/controllers/endpoint_prober.h"
#include "operator/controllers/endpoint_prober_pool.h"
#include "operator/controllers/ledger_cache.h"
#include "operator/controllers/machine_observer.h"
#include "operator/controllers/provider_registry.h"
#include "operator/controllers/provider_slots.h"
#include "operator/controllers/timezone.h"
#include "operator/core/api_types.h"
#include "operator/core/pool_decision.h"
#include "operator/kube/api/api.h"
#include "operator/kube/runtime/event_recorder.h"
#include "operator/kube/runtime/store.h"
#include "providers/unavailable/unavailable_offers.h"

namespace gpupool::controllers {

extern const kube::Resource kGpuPools;
extern const kube::Resource kGpuInstances;
extern const kube::Resource kGpuProviders;

inline constexpr const char* kComponent = "gpupool-operator";
// Store index of instances by their pool's uid (label gpupool.io/pool-uid).
inline constexpr const char* kIndexPoolUid = "pool-uid";
// Store index of instances that are not being deleted by "<provider>/<GPUs
// per machine>" (index_by_provider_gpus): each provider's machines and GPUs
// in use, for quotas, counted without reading every instance.
inline constexpr const char* kIndexProviderGpus = "provider-gpus";
kube::IndexFn index_by_provider_gpus();

struct Context {
  kube::KubeApi& api;
  const Clock& clock;
  ProviderRegistry& registry;
  UnavailableOffers& unavailable;
  kube::EventRecorder& events;
  const kube::Store& pools;
  const kube::Store& instances;
  const kube::Store& providers;
  // Asks for a pool reconcile ("namespace/name"); may be empty.
  std::function<void(const std::string& key)> enqueue_pool;
  // A pool's spend summary in status is rewritten at most this often when
  // nothing else about the pool changed (decision::Input::spend_period).
  Duration spend_status_period{300};
  // Demand signals for autoscaling pools; null: every Prometheus-backed
  // metric reads as failing ("no signal source"), so counts hold.
  DemandSignals* signals = nullptr;
  // An autoscaling pool's signals are read at least this often.
  Duration scaling_period = decision::kDefaultScalingPeriod;
  // Nodes labelled gpupool.io/instance (index kIndexNodeInstance), for Node
  // registration (node_registration.h); null: no Node is ever seen, so
  // pools that bootstrap Nodes never get Ready machines.
  const kube::Store* nodes = nullptr;
  // Health checks of Endpoint-mode machines (endpoint_prober.h); both this
  // and probe_pool null: no machine is ever probed, so an Endpoint pool's
  // machines never become Ready and are replaced at their startup timeout.
  // Tests and the simulator set a prober whose answers are immediate: it is
  // called inside the reconcile.
  EndpointProber* prober = nullptr;
  // When set, health checks run on this pool's threads instead
  // (endpoint_prober_pool.h) and `prober` is not used: a reconcile starts a
  // probe and returns at once, and a later pass (the pool's on_done enqueues
  // the instance) counts its answer. The manager (`run`) wires a pool of
  // HttpEndpointProber, so a machine that never answers holds a prober
  // thread, never a reconcile worker.
  ProbePool* probe_pool = nullptr;
  // Services and EndpointSlices of Endpoint-mode pools, indexed by
  // kIndexOwnerUid (endpoint_slices.h); null: the endpoints reconciler
  // refuses to run.
  const kube::Store* services = nullptr;
  const kube::Store* endpoint_slices = nullptr;
  // Time zones of autoscaling schedules; null: a shared loader reading
  // /usr/share/zoneinfo.
  const TimeZoneLoader* time_zones = nullptr;
  // Told once per machine given up on, after its Failed status is written
  // (status.reason says why; the pool then ends and replaces it): the
  // metrics' gpupool_instance_failures_total. May be empty.
  std::function<void(const api::GpuInstance& inst, const std::string& reason)> on_failed;
  // Placement and retirement policy (the operator: always the default).
  decision::Policy policy;
  // Settled machines are read from one list per provider taken at most
  // every kDefaultMachineListPeriod (machine_observer.h); null: every
  // instance asks get() on each poll. When its change callback is
  // wake_instance_on_change (instance_reconciler.h; the manager wires it),
  // settled instances wait for a list's change instead of polling every
  // 15 s, and something must take the lists: the garbage collector does.
  std::shared_ptr<MachineObserver> machines = std::make_shared<MachineObserver>();
  // Provider calls in flight per GpuProvider (provider_slots.h): the pool
  // and instance reconcilers and the garbage collector take a slot before
  // calling a provider; a refused pool or instance waits to be woken (through
  // enqueue_pool / enqueue_instance) when a slot frees.
  // Never null; the default is unlimited (tests, the simulator); the
  // manager sets --provider-concurrency.
  std::shared_ptr<ProviderSlots> provider_slots = std::make_shared<ProviderSlots>(0);
  // Typed forms of the pools' and instances' stored objects (decode_cache.h).
  std::shared_ptr<const DecodedObjects> decoded = std::make_shared<const DecodedObjects>();
  // Spend ledgers parsed from the pools' annotations (ledger_cache.h).
  std::shared_ptr<LedgerCache> ledgers = std::make_shared<LedgerCache>();
  // Asks for an instance reconcile ("namespace/name"); may be empty. With
  // enqueue_pool, what wakes a key refused a provider call slot when the
  // slot frees (provider_slots.h); empty: such keys poll instead. (Last, so
  // positional initialisers of the fields above stay valid.)
  std::function<void(const std::string& key)> enqueue_instance;
};

// Lenient decode + defaults; nullopt when the object cannot be decoded.
// Objects taken from a store: ctx.decoded (decode_cache.h), kept per version.
std::optional<api::GpuPool> to_pool(const kube::Json& obj);
std::optional<api::GpuInstance> to_instance(const kube::Json& obj);
std::optional<api::GpuProvider> to_provider(const kube::Json& obj);

// Lists `r` from the API and makes `store` hold exactly that (tests).
kube::ApiStatus refresh_store(kube::KubeApi& api, const kube::Resource& r, kube::Store& store);

// Best-effort Event about `obj`.
void record_event(Context& ctx, const kube::Json& obj, const std::string& type,
                  const std::string& reason, const std::string& message);

}  // namespace gpupool::controllers
