#include "operator/manager/manager.h"

#include <unistd.h>
#include <algorithm>
#include <random>
#include <sstream>

#include <prometheus/exposer.h>

#include "metrics/metrics.h"
#include "operator/base/heap.h"
#include "operator/controllers/endpoint_prober.h"
#include "operator/controllers/endpoint_prober_pool.h"
#include "operator/controllers/endpoint_slices.h"
#include "operator/controllers/garbage_collector.h"
#include "operator/controllers/instance_reconciler.h"
#include "operator/controllers/node_registration.h"
#include "operator/controllers/pool_reconciler.h"
#include "operator/controllers/prometheus_signals.h"
#include "operator/controllers/provider_reconciler.h"
#include "operator/controllers/provider_slots.h"
#include "operator/core/pool_decision.h"
#include "operator/kube/runtime/controller.h"
#include "operator/kube/runtime/event_recorder.h"
#include "operator/kube/runtime/informer.h"
#include "operator/kube/runtime/leader_election.h"
#include "operator/manager/health_server.h"
#include "operator/manager/leader_fence.h"
#include "operator/manager/secret_watches.h"
#include "providers/http/curl_transport.h"

namespace gpupool::manager {

using controllers::kGpuInstances;
using controllers::kGpuPools;
using controllers::kGpuProviders;
using kube::Json;

namespace {

// How often the collector loop gives the heap's free pages back: a 10,000 x 5
// operator at rest held 452 MiB, 269 MiB of it live (bench/README.md).
constexpr std::chrono::seconds kHeapTrimPeriod{60};

bool split_addr(const std::string& addr, std::string& host, uint16_t& port) {
  const auto colon = addr.rfind(':');
  if (colon == std::string::npos) return false;
  host = addr.substr(0, colon);
  if (host.empty() || host == "0.0.0.0") host = host.empty() ? "0.0.0.0" : host;
  try {
    const int p = std::stoi(addr.substr(colon + 1));
    if (p < 0 || p > 65535) return false;
    port = static_cast<uint16_t>(p);
  } catch (...) {
    return false;
  }
  return true;
}

std::string key_of(const Json& obj) {
  return kube::object_key(obj);
}

}  // namespace

struct Manager::Impl {
  Impl(kube::KubeApi& api_, const Clock& clock_, Logger& log_, ManagerOptions options_)
      : api(api_),
        clock(clock_),
        log(log_),
        options(std::move(options_)),
        fenced(api_, [this] { return may_write(); }),
        provider_slots(std::make_shared<controllers::ProviderSlots>(options.provider_concurrency)),
        events(fenced, clock, controllers::kComponent),
        pools_inf(api, kGpuPools, clock, {options.namespace_}),
        inst_inf(api, kGpuInstances, clock, {options.namespace_}),
        prov_inf(api, kGpuProviders, clock, {}),
        // Only the Nodes of this operator's machines (Node registration).
        nodes_inf(api, kube::resources::kNodes, clock, {"", controllers::kLabelInstance}),
        // Only the Services and EndpointSlices of Endpoint-mode pools.
        svc_inf(api, kube::resources::kServices, clock,
                {options.namespace_, decision::kLabelPoolUid}),
        slice_inf(api, kube::resources::kEndpointSlices, clock,
                  {options.namespace_,
                   std::string(controllers::kLabelManagedBy) + "=" + controllers::kManagedBy}),
        // registry and gc are constructed below; only their addresses are
        // taken here, and the collector reads them at scrape time.
        prom(std::make_shared<metrics::Metrics>(
            metrics::Sources{clock, pools_inf.store(), inst_inf.store(), prov_inf.store(),
                             &registry, &unavailable, &gc,
                             [this] {
                               return std::vector<kube::Controller*>{pool_ctl.get(), inst_ctl.get(),
                                                                     prov_ctl.get(), ep_ctl.get()};
                             },
                             [this] { return !options.leader_elect || leading.load(); },
                             options.version, options.revision, provider_slots.get()})),
        registry(clock, prom->provider_observer(), options.adapters,
                 [this](std::unique_ptr<Provider> adapter) -> std::unique_ptr<Provider> {
                   return std::make_unique<LeaderFencedProvider>(std::move(adapter),
                                                                 [this] { return may_write(); });
                 }),
        prom_transport(net::CurlOptions{options.prometheus_timeout, options.prometheus_timeout}),
        signals(prom_transport, options.prometheus_url),
        ctx{fenced,
            clock,
            registry,
            unavailable,
            events,
            pools_inf.store(),
            inst_inf.store(),
            prov_inf.store(),
            {},
            options.spend_status_period,
            &signals,
            options.scaling_period},
        pool_rec(ctx),
        inst_rec(ctx),
        prov_rec(ctx),
        ep_rec(ctx),
        gc(ctx, options.gc_period) {
    // Health checks of Endpoint-mode machines, off the reconcile workers; a
    // finished one brings its instance back (inst_ctl is set in start(),
    // before any reconcile can start a probe).
    controllers::ProbePool::Options po;
    po.threads = std::clamp(options.health_check_workers, 1, controllers::ProbePool::kMaxThreads);
    probes = std::make_unique<controllers::ProbePool>(
        std::make_shared<controllers::HttpEndpointProber>(), clock, po,
        [this](const std::string& key) {
          if (inst_ctl) inst_ctl->enqueue(key);
        });
    ctx.probe_pool = probes.get();
    ctx.provider_slots = provider_slots;
    ctx.on_failed = [m = prom.get()](const api::GpuInstance& inst, const std::string& reason) {
      m->instances().failed(inst.metadata.namespace_, inst.spec.pool, inst.spec.offer.provider,
                            reason);
    };
  }

  kube::KubeApi& api;
  const Clock& clock;
  Logger& log;
  ManagerOptions options;
  // What the controllers write through (see manager.h).
  LeaderFencedApi fenced;
  // Provider calls in flight per GpuProvider (ctx.provider_slots; metrics).
  std::shared_ptr<controllers::ProviderSlots> provider_slots;
  UnavailableOffers unavailable;
  kube::EventRecorder events;
  kube::Informer pools_inf, inst_inf, prov_inf, nodes_inf, svc_inf, slice_inf;
  // Secrets the GpuProviders reference; declared after prov_ctl's users are
  // set up in start(), stopped in stop() before the controllers.
  std::unique_ptr<SecretWatches> secret_watches;
  std::shared_ptr<metrics::Metrics> prom;
  controllers::ProviderRegistry registry;
  net::CurlTransport prom_transport;
  controllers::PrometheusSignals signals;
  std::unique_ptr<controllers::ProbePool> probes;  // stopped in stop()
  controllers::Context ctx;
  controllers::PoolReconciler pool_rec;
  controllers::InstanceReconciler inst_rec;
  controllers::ProviderReconciler prov_rec;
  controllers::EndpointSliceReconciler ep_rec;
  controllers::GarbageCollector gc;
  std::unique_ptr<kube::Controller> pool_ctl, inst_ctl, prov_ctl, ep_ctl;
  std::unique_ptr<kube::LeaderElector> elector;
  std::unique_ptr<HealthServer> health;
  std::unique_ptr<prometheus::Exposer> exposer;
  std::atomic<bool> leading{false};
  std::atomic<bool> running{false};

  Mutex mu;
  std::condition_variable cv;
  bool stopping GUARDED_BY(mu) = false;
  bool controllers_started GUARDED_BY(mu) = false;
  std::thread gc_thread;
  std::thread sync_thread;

  bool may_write() const {
    if (!options.leader_elect) return true;
    // Set in start() before the elector thread (which starts the workers).
    return elector != nullptr && elector->holds_lease();
  }

  bool synced() const {
    return pools_inf.has_synced() && inst_inf.has_synced() && prov_inf.has_synced() &&
           svc_inf.has_synced() && slice_inf.has_synced();
  }

  HealthReply reply(const std::string& path) {
    if (path == "/healthz" || path == "/livez") return {200, kText, "ok\n"};
    if (path == "/readyz") {
      if (!synced()) return {503, kText, "informer caches not synced\n"};
      if (options.leader_elect && !leading.load()) return {503, kText, "not the leader\n"};
      return {200, kText, "ok\n"};
    }
    if (path == "/metrics" && serves_metrics_here()) {
      return {200, "text/plain; version=0.0.4; charset=utf-8", prom->serialize()};
    }
    return {404, kText, "not found\n"};
  }
  static constexpr const char* kText = "text/plain; charset=utf-8";

  // /metrics is on the health server only when no separate metrics address
  // was given (see manager.h).
  bool serves_metrics_here() const {
    return options.metrics_addr.empty() || options.metrics_addr == options.health_addr;
  }

  // The reconcile `fn`, timed into the metrics, and gated by the leader
  // fence: while this replica cannot prove it holds the lease (it was paused,
  // or renewals are failing) no reconcile starts, so no provider call is
  // made, whichever adapter the registry holds; the key comes back after a
  // retry period (by then the process has exited, or the lease is renewed).
  kube::ReconcileFn timed(const std::string& name, kube::ReconcileFn fn) {
    return [this, name, fn = std::move(fn)](const kube::ReconcileRequest& r) {
      if (!may_write()) {
        return kube::ReconcileResult::after(
            std::chrono::duration_cast<kube::Millis>(options.retry_period));
      }
      const SteadyTime start = clock.steady_now();
      kube::ReconcileResult result = fn(r);
      prom->controllers().observe_reconcile(name, clock.steady_now() - start);
      return result;
    };
  }

  void start_controllers() {
    MutexLock lock(mu);
    if (controllers_started || stopping) return;
    controllers_started = true;
    pool_ctl->start();
    inst_ctl->start();
    prov_ctl->start();
    ep_ctl->start();
    for (const auto& k : prov_inf.store().keys())
      prov_ctl->enqueue(k);
    for (const auto& k : pools_inf.store().keys()) {
      pool_ctl->enqueue(k);
      ep_ctl->enqueue(k);
    }
    for (const auto& k : inst_inf.store().keys())
      inst_ctl->enqueue(k);
    gc_thread = std::thread([this] { gc_loop(); });
    log.info("controllers started",
             {{"workers", std::to_string(options.workers)},
              {"health_check_workers", std::to_string(options.health_check_workers)},
              {"provider_concurrency", std::to_string(options.provider_concurrency)}});
  }

  // Controllers act on synced caches only: waits for them (or stop()), then
  // starts the controllers unless leadership was lost meanwhile.
  void start_controllers_when_synced() {
    while (!synced()) {
      MutexLock lock(mu);
      if (stopping) return;
      lock.wait_for(cv, std::chrono::milliseconds(50));
    }
    log.info("caches synced");
    if (options.leader_elect && !leading.load()) return;
    start_controllers();
  }

  // Collects every gc_period; when that is longer than the machine list
  // period, refreshes the providers' lists in between, so settled
  // instances hear of their machines' changes within a list period
  // (GarbageCollector::refresh_lists).
  //
  // Each tick also gives the heap's free pages back, at most once per
  // kHeapTrimPeriod (operator/base/heap.h): /metrics scrapes and the
  // informers' initial lists free far more than the process keeps.
  void gc_loop() {
    const Duration tick = std::min(options.gc_period, ctx.machines->max_age());
    Duration until_gc = options.gc_period;
    HeapTrimmer trimmer(kHeapTrimPeriod);
    MutexLock lock(mu);
    while (!stopping) {
      const Duration wait = std::min(until_gc, tick);
      lock.wait_for(cv, std::chrono::seconds(wait.count()));
      if (stopping) break;
      trimmer.maybe_trim(clock.steady_now());
      until_gc -= wait;
      const bool collect = until_gc.count() <= 0;
      if (collect) until_gc = options.gc_period;
      if (!may_write()) continue;  // the leader fence (see timed())
      lock.unlock();
      if (collect) {
        gc.run_once();
      } else {
        gc.refresh_lists();
      }
      lock.lock();
    }
  }
};

Manager::Manager(kube::KubeApi& api, const Clock& clock, Logger& log, ManagerOptions options)
    : impl_(std::make_unique<Impl>(api, clock, log, std::move(options))) {}

Manager::~Manager() {
  stop();
}

Status<ManagerError> Manager::start() {
  Impl& m = *impl_;
  {
    controllers::ProbePool::Options po;
    po.threads = m.options.health_check_workers;
    if (const std::string why = controllers::ProbePool::invalid(po); !why.empty()) {
      return fail(ManagerError{"health-check workers: " + why});
    }
  }
  kube::Controller::Options copts;
  copts.workers = std::max(1, m.options.workers);
  m.pool_ctl = std::make_unique<kube::Controller>(
      "gpupool", m.clock,
      m.timed("gpupool", [&m](const kube::ReconcileRequest& r) { return m.pool_rec.reconcile(r); }),
      copts);
  m.inst_ctl = std::make_unique<kube::Controller>(
      "gpuinstance", m.clock,
      m.timed("gpuinstance",
              [&m](const kube::ReconcileRequest& r) { return m.inst_rec.reconcile(r); }),
      copts);
  m.prov_ctl = std::make_unique<kube::Controller>(
      "gpuprovider", m.clock,
      m.timed("gpuprovider",
              [&m](const kube::ReconcileRequest& r) { return m.prov_rec.reconcile(r); }),
      copts);
  m.ep_ctl = std::make_unique<kube::Controller>(
      "endpoints", m.clock,
      m.timed("endpoints", [&m](const kube::ReconcileRequest& r) { return m.ep_rec.reconcile(r); }),
      copts);
  m.ctx.enqueue_pool = [&m](const std::string& key) {
    if (!key.empty()) {
      m.pool_ctl->enqueue(key);
      return;
    }
    for (const auto& k : m.pools_inf.store().keys())
      m.pool_ctl->enqueue(k);
  };
  // A key refused a provider call slot is woken through its own queue when
  // the slot frees (controllers/provider_slots.h).
  m.ctx.enqueue_instance = [&m](const std::string& key) { m.inst_ctl->enqueue(key); };
  // A machine a provider's list shows changed (or gone) wakes its instance;
  // settled instances then need only a slow safety poll (instance_reconciler.h).
  m.ctx.machines->set_on_change(controllers::wake_instance_on_change(
      m.inst_inf.store(), [&m](const std::string& key) { m.inst_ctl->enqueue(key); }));

  m.inst_inf.add_index(controllers::kIndexPoolUid, kube::index_by_label(decision::kLabelPoolUid));
  m.inst_inf.add_index(controllers::kIndexProviderGpus, controllers::index_by_provider_gpus());
  auto pool_of = [](const Json& inst) {
    const auto& md = inst["metadata"];
    std::string pool;
    if (inst.contains("spec") && inst["spec"].contains("pool") &&
        inst["spec"]["pool"].is_string()) {
      pool = inst["spec"]["pool"].get<std::string>();
    }
    return kube::make_key(md.value("namespace", ""), pool);
  };
  auto on_pool = [&m](const kube::ObjectPtr& o) {
    m.pool_ctl->enqueue(key_of(*o));
    m.ep_ctl->enqueue(key_of(*o));
  };
  m.pools_inf.add_handlers(
      {on_pool, [on_pool](const kube::ObjectPtr&, const kube::ObjectPtr& o) { on_pool(o); },
       on_pool});
  auto on_inst = [&m, pool_of](const kube::ObjectPtr& o) {
    m.inst_ctl->enqueue(key_of(*o));
    m.pool_ctl->enqueue(pool_of(*o));
    m.ep_ctl->enqueue(pool_of(*o));
  };
  // An added instance also lowers its pool's create expectations
  // (pool_reconciler.h observed()).
  auto on_inst_added = [&m, on_inst, pool_of](const kube::ObjectPtr& o) {
    m.pool_rec.observed(pool_of(*o), (*o)["metadata"].value("name", ""));
    on_inst(o);
  };
  m.inst_inf.add_handlers(
      {on_inst_added, [on_inst](const kube::ObjectPtr&, const kube::ObjectPtr& o) { on_inst(o); },
       on_inst});
  // One of our Services or EndpointSlices changed (or was edited, or
  // deleted): reconcile its pool's endpoints, which puts it back.
  m.ctx.services = &m.svc_inf.store();
  m.ctx.endpoint_slices = &m.slice_inf.store();
  m.svc_inf.add_index(controllers::kIndexOwnerUid, kube::index_by_owner_uid());
  m.slice_inf.add_index(controllers::kIndexOwnerUid, kube::index_by_owner_uid());
  auto on_endpoints = [&m](const kube::ObjectPtr& o) {
    const auto& md = (*o)["metadata"];
    if (!md.contains("labels") || !md["labels"].contains(decision::kLabelPool)) return;
    const Json& pool = md["labels"][decision::kLabelPool];
    if (pool.is_string()) m.ep_ctl->enqueue(kube::make_key(md.value("namespace", ""), pool));
  };
  for (kube::Informer* inf : {&m.svc_inf, &m.slice_inf}) {
    inf->add_handlers(
        {on_endpoints,
         [on_endpoints](const kube::ObjectPtr&, const kube::ObjectPtr& o) { on_endpoints(o); },
         on_endpoints});
  }
  // A Node of one of our machines changed: reconcile that instance.
  m.nodes_inf.add_index(controllers::kIndexNodeInstance,
                        kube::index_by_label(controllers::kLabelInstance));
  m.ctx.nodes = &m.nodes_inf.store();
  auto on_node = [&m](const kube::ObjectPtr& o) {
    const auto& md = (*o)["metadata"];
    if (!md.contains("labels") || !md["labels"].contains(controllers::kLabelInstance)) return;
    const Json& name = md["labels"][controllers::kLabelInstance];
    if (!name.is_string()) return;
    // By key ("namespace/name"): reading every cached instance would decode
    // each (kube/runtime/store.h) on every Node event.
    const std::string suffix = "/" + name.get<std::string>();
    for (const auto& key : m.inst_inf.store().keys()) {
      if (key.size() > suffix.size() &&
          key.compare(key.size() - suffix.size(), suffix.size(), suffix) == 0) {
        m.inst_ctl->enqueue(key);
      }
    }
  };
  m.nodes_inf.add_handlers(
      {on_node, [on_node](const kube::ObjectPtr&, const kube::ObjectPtr& o) { on_node(o); },
       on_node});
  // A referenced Secret changed: reconcile the providers that use it.
  m.secret_watches = std::make_unique<SecretWatches>(m.api, m.clock, [&m](const SecretName& s) {
    for (const auto& key : providers_referencing(m.prov_inf.store(), s))
      m.prov_ctl->enqueue(key);
  });
  auto on_prov = [&m](const kube::ObjectPtr& o) {
    m.secret_watches->watch(secrets_referenced(m.prov_inf.store()));
    m.prov_ctl->enqueue(key_of(*o));
  };
  m.prov_inf.add_handlers(
      {on_prov, [on_prov](const kube::ObjectPtr&, const kube::ObjectPtr& o) { on_prov(o); },
       on_prov});

  if (!m.options.health_addr.empty()) {
    std::string host;
    uint16_t port = 0;
    if (!split_addr(m.options.health_addr, host, port)) {
      return fail(ManagerError{"address \"" + m.options.health_addr + "\" is not host:port"});
    }
    auto server =
        HealthServer::start(host, port, [&m](const std::string& path) { return m.reply(path); });
    if (!server.ok()) {
      return fail(ManagerError{"cannot serve on " + m.options.health_addr + ": " + server.error()});
    }
    m.health = std::move(server).value();
    m.log.info(m.serves_metrics_here() ? "serving health and metrics" : "serving health",
               {{"addr", m.health->base_url()}});
  }
  if (!m.serves_metrics_here()) {
    std::string host;
    uint16_t port = 0;
    if (!split_addr(m.options.metrics_addr, host, port)) {
      return fail(ManagerError{"address \"" + m.options.metrics_addr + "\" is not host:port"});
    }
    try {
      m.exposer = std::make_unique<prometheus::Exposer>(host + ":" + std::to_string(port),
                                                        /*num_threads=*/2);
    } catch (const std::exception& e) {
      return fail(
          ManagerError{"cannot serve metrics on " + m.options.metrics_addr + ": " + e.what()});
    }
    m.exposer->RegisterCollectable(m.prom);
    m.log.info("serving metrics",
               {{"addr", m.options.metrics_addr}, {"port", std::to_string(metrics_port())}});
  }

  m.prov_inf.start();
  m.pools_inf.start();
  m.inst_inf.start();
  m.nodes_inf.start();
  m.svc_inf.start();
  m.slice_inf.start();
  m.running = true;

  if (m.options.leader_elect) {
    kube::LeaderElectionConfig lc;
    lc.lease_namespace = m.options.lease_namespace;
    lc.lease_name = m.options.lease_name;
    lc.identity = m.options.identity;
    if (lc.identity.empty()) {
      char host[256] = {};
      (void)gethostname(host, sizeof host - 1);
      lc.identity = std::string(host) + "_" + std::to_string(getpid()) + "_" +
                    std::to_string(std::random_device{}());
    }
    lc.lease_duration = m.options.lease_duration;
    lc.renew_deadline = m.options.renew_deadline;
    lc.retry_period = m.options.retry_period;
    lc.release_on_cancel = true;
    lc.on_new_leader = [&m, me = lc.identity](const std::string& holder) {
      if (holder != me) m.log.info("another replica leads", {{"holder", holder}});
    };
    lc.on_started_leading = [&m, me = lc.identity] {
      m.leading = true;
      m.log.info("acquired leadership", {{"lease", m.options.lease_name}, {"identity", me}});
      // Not on this (the elector's) thread: it must keep renewing while a
      // large cluster's caches sync. Called at most once per elector; stop()
      // joins the elector before sync_thread.
      m.sync_thread = std::thread([&m] { m.start_controllers_when_synced(); });
    };
    lc.on_stopped_leading = [this, &m] {
      m.leading = false;
      m.log.warn("lost leadership; writes are fenced",
                 {{"refused_writes", std::to_string(m.fenced.refused_total())}});
      lost_leadership_ = true;
      m.cv.notify_all();
    };
    if (auto v = kube::LeaderElector::validate(lc); !v.ok()) {
      return fail(ManagerError{"leader election: " + v.error().message});
    }
    m.elector = std::make_unique<kube::LeaderElector>(m.api, m.clock, lc);
    m.log.info("campaigning for leadership",
               {{"lease", m.options.lease_namespace + "/" + m.options.lease_name},
                {"identity", lc.identity},
                {"lease_duration", std::to_string(lc.lease_duration.count()) + "s"},
                {"renew_deadline", std::to_string(lc.renew_deadline.count()) + "s"},
                {"retry_period", std::to_string(lc.retry_period.count()) + "s"}});
    m.elector->start();
  } else {
    m.sync_thread = std::thread([&m] { m.start_controllers_when_synced(); });
  }
  return {};
}

void Manager::stop() {
  if (!impl_) return;
  Impl& m = *impl_;
  {
    MutexLock lock(m.mu);
    if (m.stopping) return;
    m.stopping = true;
  }
  m.cv.notify_all();
  // Provider calls waiting on a rate limit or a backoff give up now, so the
  // workers below are free to stop.
  m.options.adapters.stop_waits();
  if (m.elector) m.elector->stop();
  if (m.sync_thread.joinable()) m.sync_thread.join();
  if (m.gc_thread.joinable()) m.gc_thread.join();
  if (m.pool_ctl) m.pool_ctl->stop();
  if (m.inst_ctl) m.inst_ctl->stop();
  if (m.probes) m.probes->stop();  // no longer than a probe's timeout (2 s at most)
  if (m.ep_ctl) m.ep_ctl->stop();
  if (m.secret_watches) m.secret_watches->stop();
  if (m.prov_ctl) m.prov_ctl->stop();
  m.pools_inf.stop();
  m.inst_inf.stop();
  m.nodes_inf.stop();
  m.svc_inf.stop();
  m.slice_inf.stop();
  m.prov_inf.stop();
  m.health.reset();  // stops civetweb and waits for its handlers
  m.exposer.reset();
  m.running = false;
}

bool Manager::may_write() const {
  return impl_->may_write();
}

bool Manager::ready() const {
  return impl_->synced() && (!impl_->options.leader_elect || impl_->leading.load());
}

void Manager::wait_lost_leadership(std::chrono::milliseconds timeout) {
  MutexLock lock(impl_->mu);
  lock.wait_for(impl_->cv, timeout, [this]() REQUIRES(impl_->mu) {
    return lost_leadership_.load() || impl_->stopping;
  });
}

uint16_t Manager::health_port() const {
  return impl_->health ? impl_->health->port() : 0;
}

uint16_t Manager::metrics_port() const {
  if (impl_->exposer) {
    auto ports = impl_->exposer->GetListeningPorts();
    return ports.empty() ? 0 : static_cast<uint16_t>(ports.front());
  }
  return impl_->serves_metrics_here() ? health_port() : 0;
}

}  // namespace gpupool::manager
