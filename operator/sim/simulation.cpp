#include "operator/sim/simulation.h"

#include <algorithm>
#include <cctype>
#include <cmath>
#include <memory>
#include <random>
#include <set>

#include "operator/controllers/context.h"
#include "operator/controllers/demand_signals.h"
#include "operator/controllers/endpoint_prober.h"
#include "operator/controllers/garbage_collector.h"
#include "operator/controllers/instance_reconciler.h"
#include "operator/controllers/pool_reconciler.h"
#include "operator/controllers/prometheus_signals.h"
#include "operator/controllers/provider_registry.h"
#include "operator/core/api_codec.h"
#include "operator/core/api_validation.h"
#include "operator/core/billing.h"
#include "operator/core/pool_decision.h"
#include "operator/core/spend.h"
#include "operator/kube/memory/store.h"
#include "operator/kube/runtime/event_recorder.h"
#include "operator/kube/runtime/store.h"
#include "operator/sim/embedded_crds.h"
#include "providers/fake/fake_provider.h"
#include "providers/http/transport.h"
#include "providers/http/url.h"
#include "providers/instrumented/instrumented_provider.h"
#include "providers/unavailable/unavailable_offers.h"

namespace gpupool::sim {
namespace {

using kube::Json;
using namespace std::chrono_literals;

constexpr const char* kPrometheusUrl = "http://prometheus.sim:9090";
constexpr Duration kMaxBackoff{300};
constexpr int kMaxRunsPerKeyPerInstant = 50;
constexpr int64_t kMaxRunsPerInstant = 200'000;

std::string upper(std::string s) {
  for (char& c : s)
    c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
  return s;
}

// ---------------------------------------------------------------------------
// Crashes inside a reconcile: once tripped, every call of the dying process
// fails, as if the process had died just before it.

class KillSwitch {
 public:
  // Trips after `calls` more successful calls.
  void arm(int calls) {
    armed_ = true;
    left_ = calls;
  }
  void reset() {
    armed_ = false;
    dead_ = false;
  }
  bool allow() {
    if (dead_) return false;
    if (armed_ && left_-- <= 0) {
      dead_ = true;
      return false;
    }
    return true;
  }
  bool dead() const { return dead_; }

 private:
  bool armed_ = false;
  bool dead_ = false;
  int left_ = 0;
};

kube::ApiError dying() {
  kube::ApiError e;
  e.kind = kube::ErrorKind::Unavailable;
  e.code = 503;
  e.reason = "ServiceUnavailable";
  e.message = "simulated crash: the operator process is gone";
  return e;
}

class DyingApi final : public kube::KubeApi {
 public:
  DyingApi(kube::KubeApi& api, KillSwitch& sw) : api_(api), sw_(sw) {}
  kube::ApiResult<Json> get(const kube::Resource& r, const std::string& ns, const std::string& name,
                            const kube::GetOptions& o) override {
    if (!sw_.allow()) return fail(dying());
    return api_.get(r, ns, name, o);
  }
  kube::ApiResult<kube::ObjectList> list(const kube::Resource& r, const std::string& ns,
                                         const kube::ListOptions& o) override {
    if (!sw_.allow()) return fail(dying());
    return api_.list(r, ns, o);
  }
  kube::ApiResult<Json> create(const kube::Resource& r, const std::string& ns, const Json& obj,
                               const kube::CreateOptions& o) override {
    if (!sw_.allow()) return fail(dying());
    return api_.create(r, ns, obj, o);
  }
  kube::ApiResult<Json> update(const kube::Resource& r, const Json& obj,
                               const kube::UpdateOptions& o) override {
    if (!sw_.allow()) return fail(dying());
    return api_.update(r, obj, o);
  }
  kube::ApiResult<Json> patch(const kube::Resource& r, const std::string& ns,
                              const std::string& name, kube::PatchType t, const Json& p,
                              const kube::PatchOptions& o) override {
    if (!sw_.allow()) return fail(dying());
    return api_.patch(r, ns, name, t, p, o);
  }
  kube::ApiResult<kube::DeleteResult> remove(const kube::Resource& r, const std::string& ns,
                                             const std::string& name,
                                             const kube::DeleteOptions& o) override {
    if (!sw_.allow()) return fail(dying());
    return api_.remove(r, ns, name, o);
  }
  kube::ApiResult<std::unique_ptr<kube::WatchStream>> watch(const kube::Resource& r,
                                                            const std::string& ns,
                                                            const kube::WatchOptions& o) override {
    if (!sw_.allow()) return fail(dying());
    return api_.watch(r, ns, o);
  }

 private:
  kube::KubeApi& api_;
  KillSwitch& sw_;
};

ProviderError dying_provider() {
  return provider_error(ProviderErrorKind::Transient, "simulated crash: no answer");
}

class DyingProvider final : public Provider {
 public:
  DyingProvider(std::shared_ptr<FakeProvider> p, KillSwitch& sw) : p_(std::move(p)), sw_(sw) {}
  const std::string& name() const override { return p_->name(); }
  std::string_view type() const override { return p_->type(); }
  UserDataSupport user_data_support() const override { return p_->user_data_support(); }
  ProviderResult<std::vector<Offer>> offers(const OfferQuery& q) override {
    if (!sw_.allow()) return fail(dying_provider());
    return p_->offers(q);
  }
  ProviderResult<Machine> create(const InstanceIntent& i) override {
    if (!sw_.allow()) return fail(dying_provider());
    return served(p_->create(i));
  }
  ProviderResult<Machine> get(std::string_view uid, std::string_view name) override {
    if (!sw_.allow()) return fail(dying_provider());
    return served(p_->get(uid, name));
  }
  ProviderResult<std::vector<Machine>> list(const MachineFilter& f) override {
    if (!sw_.allow()) return fail(dying_provider());
    auto l = p_->list(f);
    if (l.ok()) {
      for (auto& m : *l)
        m = *served(m);
    }
    return l;
  }
  ProviderStatus terminate(std::string_view id) override {
    if (!sw_.allow()) return fail(dying_provider());
    return p_->terminate(id);
  }

 private:
  // A running simulated machine serves its container: it has an address
  // (a documentation range, never contacted: SimProber answers for it).
  static ProviderResult<Machine> served(ProviderResult<Machine> m) {
    if (m.ok() && m->state == MachineState::Running) {
      m->public_address = "192.0.2.1";
      m->public_port = 8000;
    }
    return m;
  }

  std::shared_ptr<FakeProvider> p_;
  KillSwitch& sw_;
};

// The simulated machines' containers answer their health checks at once.
class SimProber final : public controllers::EndpointProber {
 public:
  health::Probe probe(const std::string&, Duration) override { return {true, "HTTP 200"}; }
  // Re-probing a Ready machine every period would only add reconciles (a
  // week's run went from 195k to 283k instance reconciles and 28 s to 39 s).
  bool answers_never_change() const override { return true; }
};

// ---------------------------------------------------------------------------
// The simulated Prometheus: answers the pool's first metric query with the
// trace value at the query's time.

class TracePrometheus final : public net::HttpTransport {
 public:
  TracePrometheus(const Trace& trace, Time start, std::string query)
      : trace_(trace), start_(start), query_(std::move(query)) {}

  net::TransportResult send(const net::Request& req) override {
    const size_t q = req.url.find('?');
    std::string query;
    int64_t when = 0;
    bool have_time = false;
    if (q != std::string::npos) {
      std::string_view rest = std::string_view(req.url).substr(q + 1);
      while (!rest.empty()) {
        const size_t amp = rest.find('&');
        const std::string_view kv = rest.substr(0, amp);
        rest = amp == std::string_view::npos ? std::string_view{} : rest.substr(amp + 1);
        const size_t eq = kv.find('=');
        if (eq == std::string_view::npos) continue;
        const std::string_view k = kv.substr(0, eq);
        const std::string v = net::percent_decode(kv.substr(eq + 1), true);
        if (k == "query") query = v;
        if (k == "time") {
          when = std::atoll(v.c_str());
          have_time = true;
        }
      }
    }
    net::Response resp;
    resp.status = 200;
    if (req.url.find("/api/v1/query") == std::string::npos || !have_time) {
      resp.status = 400;
      resp.body =
          R"({"status":"error","errorType":"bad_data","error":"expected an instant query"})";
      return resp;
    }
    if (query != query_) {
      resp.body = R"({"status":"success","data":{"resultType":"vector","result":[]}})";
      return resp;
    }
    const double v = trace_.at(when - start_.time_since_epoch().count());
    Json body = {
        {"status", "success"},
        {"data",
         {{"resultType", "vector"},
          {"result", Json::array({{{"metric", Json::object()},
                                   {"value", Json::array({when, std::to_string(v)})}}})}}}};
    resp.body = body.dump();
    return resp;
  }

 private:
  const Trace& trace_;
  Time start_;
  std::string query_;
};

// ---------------------------------------------------------------------------
// The work queue: due instant per key; "i:ns/name" instances, "p:ns/name"
// pools. At equal instants keys run in key order (deterministic).

class Queue {
 public:
  // Due at `t` unless already due earlier.
  void enqueue(const std::string& key, Time t) {
    Item& it = items_[key];
    if (it.due && *it.due <= t) return;
    if (it.due) order_.erase({*it.due, key});
    it.due = t;
    order_.insert({t, key});
  }
  std::optional<std::string> pop(Time now) {
    if (order_.empty() || order_.begin()->first > now) return std::nullopt;
    std::string key = order_.begin()->second;
    order_.erase(order_.begin());
    items_[key].due.reset();
    return key;
  }
  std::optional<Time> next() const {
    if (order_.empty()) return std::nullopt;
    return order_.begin()->first;
  }
  int& failures(const std::string& key) { return items_[key].failures; }

 private:
  struct Item {
    std::optional<Time> due;
    int failures = 0;
  };
  std::map<std::string, Item> items_;
  std::set<std::pair<Time, std::string>> order_;
};

// What the driver tracks of each GpuInstance (from watch events).
struct InstanceFacts {
  api::GpuInstance inst;
  std::string provider;
  double equiv = 0;  // L40S-equivalent GPUs
  bool deleting = false;
};

// ---------------------------------------------------------------------------

class Simulation;

// One operator process: everything a crash throws away.
struct Process {
  Process(Simulation& sim, kube::KubeApi& real_api, KillSwitch& sw, const Clock& clock,
          controllers::DemandSignals* signals, const decision::Policy& policy,
          const std::map<std::string, std::shared_ptr<FakeProvider>>& fakes)
      : api(real_api, sw),
        registry(clock, stats),
        events(api, clock, controllers::kComponent),
        ctx{api, clock, registry, unavailable, events, pools, instances, providers, {}},
        pool_rec(ctx),
        inst_rec(ctx),
        gc(ctx) {
    (void)sim;
    ctx.signals = signals;
    ctx.policy = policy;
    ctx.prober = &prober;
    instances.add_index(controllers::kIndexPoolUid, kube::index_by_label(decision::kLabelPoolUid));
    instances.add_index(controllers::kIndexProviderGpus, controllers::index_by_provider_gpus());
    for (const auto& [name, fake] : fakes)
      registry.put(name, std::make_shared<DyingProvider>(fake, sw));
  }

  ProviderCallStats stats;
  SimProber prober;
  DyingApi api;
  controllers::ProviderRegistry registry;
  UnavailableOffers unavailable;
  kube::EventRecorder events;
  kube::Store pools, instances, providers;
  controllers::Context ctx;
  controllers::PoolReconciler pool_rec;
  controllers::InstanceReconciler inst_rec;
  controllers::GarbageCollector gc;
  std::unique_ptr<kube::WatchStream> pool_watch, inst_watch;
  std::string pool_rv, inst_rv;
  Queue queue;
};

class Simulation {
 public:
  explicit Simulation(const Config& c)
      : cfg_(c),
        clock_(c.start),
        api_(clock_, store_options(c.seed)),
        rng_(c.seed * 0x9E3779B97F4A7C15ULL + 17) {}

  Result<Outcome, ConfigError> run();

 private:
  static kube::MemoryStoreOptions store_options(uint64_t seed) {
    kube::MemoryStoreOptions o;
    o.seed = seed == 0 ? 1 : seed;
    o.history_size = 100;
    return o;
  }

  Status<ConfigError> setup();
  void start_process();
  void crash();
  void drain();
  void drain_one(kube::WatchStream& w, bool pools);
  void relist(bool pools);
  void apply_event(kube::WatchEventType type, const Json& obj, bool pools);
  void reconcile(const std::string& key);
  void check_world(Time now, bool final);
  void record(Time now);
  void finish(Time end);
  double weight_of(const std::string& model) const;
  int64_t rel(Time t) const { return (t - cfg_.start).count(); }

  const Config& cfg_;
  FakeClock clock_;
  kube::MemoryStore api_;
  std::mt19937_64 rng_;
  KillSwitch sw_;
  api::GpuPool pool_;  // as created (policy applied)
  std::string pool_key_;
  std::string pool_uid_;
  std::map<std::string, std::shared_ptr<FakeProvider>> fakes_;
  std::unique_ptr<TracePrometheus> prometheus_;
  std::unique_ptr<controllers::PrometheusSignals> signals_;
  decision::Policy policy_;
  std::unique_ptr<Process> proc_;
  std::map<std::string, InstanceFacts> facts_;  // by "ns/name"
  double desired_gpus_ = 0;
  std::map<std::string, Time> unclaimed_since_;  // provider/id
  std::set<std::string> reported_;               // violations already reported (dedupe)
  Outcome out_;
  int64_t runs_this_instant_ = 0;
  int64_t drained_rv_ = -1;  // api_.resource_version() at the last drain
  std::map<std::string, int> runs_per_key_;
  std::optional<int> crash_after_;  // reconciles left before the crash at this instant
};

double Simulation::weight_of(const std::string& model) const {
  for (const auto& m : cfg_.pool.spec.gpu.models) {
    if (upper(m.name) == upper(model)) return m.throughput_weight;
  }
  return 1.0;
}

Status<ConfigError> Simulation::setup() {
  if (cfg_.providers.empty()) {
    return fail(ConfigError{"no provider of the pool has offers to simulate"});
  }
  if (cfg_.trace.steps.size() < 2) return fail(ConfigError{"the trace needs at least two rows"});
  for (auto crd : embedded_crds()) {
    auto docs = api::yaml_to_json(crd);
    if (!docs.ok()) return fail(ConfigError{"embedded CRD: " + docs.error().message});
    for (const auto& d : *docs) {
      auto r = api_.create(kube::resources::kCustomResourceDefinitions, "", d);
      if (!r.ok()) return fail(ConfigError{"embedded CRD: " + r.error().message});
    }
  }
  // The market: one fake provider per simulated provider.
  for (const SimProvider& p : cfg_.providers) {
    FakeProviderOptions o;
    o.name = p.name;
    for (const Offer& offer : p.offers)
      o.offers.push_back(FakeOffer{offer, -1});
    o.boot_delay = p.boot;
    o.max_machines = p.capacity;
    o.no_capacity_rate = p.no_capacity_rate;
    o.seed = cfg_.seed * 1000003ULL + std::hash<std::string>{}(p.name);
    o.egress_gb_per_gpu_hour = cfg_.pool.spec.egress.gb_per_gpu_hour;
    fakes_[p.name] = std::make_shared<FakeProvider>(o, clock_);
    out_.providers.push_back(p.name);
    out_.by_provider[p.name] = ProviderOutcome{};
  }

  // The pool, with the policy's provider restriction and a demand signal.
  pool_ = cfg_.pool;
  pool_.status = {};
  pool_.metadata.uid.clear();
  pool_.metadata.resource_version.clear();
  pool_.metadata.creation_timestamp.reset();
  pool_.metadata.deletion_timestamp.reset();
  pool_.metadata.generation = 0;
  if (cfg_.policy.kind == PolicyChoice::Kind::SingleProvider) {
    std::vector<api::PoolProviderRef> only;
    for (const auto& ref : pool_.spec.providers) {
      if (ref.name == cfg_.policy.provider) only.push_back(ref);
    }
    if (only.empty()) {
      return fail(ConfigError{"single-provider:" + cfg_.policy.provider +
                              ": the pool does not list that provider"});
    }
    if (!fakes_.count(cfg_.policy.provider)) {
      return fail(ConfigError{"single-provider:" + cfg_.policy.provider +
                              ": that provider has no offers to simulate"});
    }
    pool_.spec.providers = only;
  }
  api::AutoscalingSpec& as = pool_.spec.autoscaling;
  if (!as.enabled || as.metrics.empty()) {
    const int max = api::max_replicas(pool_.spec);
    as = api::AutoscalingSpec{};
    as.enabled = true;
    api::MetricSpec m;
    m.type = api::MetricType::External;
    m.target = static_cast<double>(pool_.spec.gpu.count);
    m.query = kDemandQuery;
    as.metrics.push_back(m);
    pool_.spec.replicas.max = max;
    pool_.spec.replicas.count.reset();
    out_.notes.push_back(
        "the pool has no autoscaling section: it follows the trace through one "
        "External metric, target " +
        std::to_string(pool_.spec.gpu.count) + " GPU(s) per machine, replicas " +
        std::to_string(pool_.spec.replicas.min) + ".." + std::to_string(max));
  }
  if (as.metrics.front().type == api::MetricType::PendingPods) {
    return fail(
        ConfigError{"spec.autoscaling.metrics[0] is PendingPods: the simulator plays the "
                    "demand trace as the pool's first Prometheus metric; put a "
                    "Prometheus metric first"});
  }
  prometheus_ = std::make_unique<TracePrometheus>(
      cfg_.trace, cfg_.start, controllers::PrometheusSignals::query_for(pool_, 0));
  signals_ = std::make_unique<controllers::PrometheusSignals>(*prometheus_, kPrometheusUrl);
  const double peak = cfg_.trace.peak();
  const double most = api::max_replicas(pool_.spec) * pool_.spec.gpu.count;
  if (peak > most + 1e-9) {
    out_.notes.push_back("peak demand " + std::to_string(peak) +
                         " GPUs is above what the pool may "
                         "hold (replicas.max x GPUs = " +
                         std::to_string(most) + "): the excess cannot be served by any policy");
  }

  switch (cfg_.policy.kind) {
    case PolicyChoice::Kind::CheapestListPrice:
      policy_.placement = decision::Policy::Placement::ListPrice;
      policy_.end_unneeded_after = cfg_.policy.idle;
      policy_.consolidate = false;
      break;
    default:
      break;
  }

  const std::string& ns = pool_.metadata.namespace_;
  if (!api_.exists(kube::resources::kNamespaces, "", ns)) {
    Json nsobj = {{"apiVersion", "v1"}, {"kind", "Namespace"}, {"metadata", {{"name", ns}}}};
    auto r = api_.create(kube::resources::kNamespaces, "", nsobj);
    if (!r.ok()) return fail(ConfigError{"namespace " + ns + ": " + r.error().message});
  }
  Json j = api::encode(pool_);
  j.erase("status");
  auto created = api_.create(controllers::kGpuPools, ns, j);
  if (!created.ok()) {
    return fail(ConfigError{"the API refused the pool: " + created.error().message});
  }
  pool_uid_ = (*created)["metadata"]["uid"].get<std::string>();
  pool_key_ = kube::make_key(ns, pool_.metadata.name);
  return {};
}

void Simulation::start_process() {
  proc_ = std::make_unique<Process>(*this, api_, sw_, clock_, signals_.get(), policy_, fakes_);
  proc_->ctx.enqueue_pool = [this](const std::string& key) {
    proc_->queue.enqueue("p:" + (key.empty() ? pool_key_ : key), clock_.now());
  };
  facts_.clear();
  desired_gpus_ = 0;
  drained_rv_ = -1;
  relist(true);
  relist(false);
}

void Simulation::crash() {
  ++out_.crashes;
  proc_.reset();
  sw_.reset();
  start_process();
}

void Simulation::relist(bool pools) {
  const kube::Resource& r = pools ? controllers::kGpuPools : controllers::kGpuInstances;
  kube::Store& store = pools ? proc_->pools : proc_->instances;
  auto list = api_.list(r, "");
  std::vector<kube::ObjectPtr> objs;
  for (auto& item : list->items)
    objs.push_back(std::make_shared<const Json>(std::move(item)));
  for (const auto& d : store.replace(objs)) {
    if (d.type == kube::StoreDelta::Type::Deleted) {
      apply_event(kube::WatchEventType::Deleted, *d.old_obj, pools);
    } else {
      apply_event(kube::WatchEventType::Modified, *d.new_obj, pools);
    }
  }
  kube::WatchOptions wo;
  wo.resource_version = list->resource_version;
  wo.timeout = std::chrono::hours(24 * 365 * 10);
  wo.allow_bookmarks = false;
  auto w = api_.watch(r, "", wo);
  (pools ? proc_->pool_watch : proc_->inst_watch) = w.ok() ? std::move(*w) : nullptr;
}

void Simulation::apply_event(kube::WatchEventType type, const Json& obj, bool pools) {
  const std::string key = kube::object_key(obj);
  const Time now = clock_.now();
  if (pools) {
    proc_->queue.enqueue("p:" + key, now);
    if (key == pool_key_ && type != kube::WatchEventType::Deleted && obj.contains("status") &&
        obj["status"].contains("replicas")) {
      desired_gpus_ = obj["status"]["replicas"].value("desired", 0) * cfg_.pool.spec.gpu.count;
    }
    return;
  }
  proc_->queue.enqueue("i:" + key, now);
  std::string pool_name;
  if (obj.contains("spec") && obj["spec"].contains("pool") && obj["spec"]["pool"].is_string()) {
    pool_name = obj["spec"]["pool"].get<std::string>();
  }
  const std::string pool_key = kube::make_key(obj["metadata"].value("namespace", ""), pool_name);
  if (type == kube::WatchEventType::Added) {
    proc_->pool_rec.observed(pool_key, obj["metadata"].value("name", ""));
  }
  proc_->queue.enqueue("p:" + pool_key, now);
  if (type == kube::WatchEventType::Deleted) {
    facts_.erase(key);
    return;
  }
  auto inst = controllers::to_instance(obj);
  if (!inst) return;
  InstanceFacts f;
  f.provider = inst->spec.offer.provider;
  f.equiv = inst->spec.offer.gpu_count * weight_of(inst->spec.offer.gpu_model);
  f.deleting = inst->metadata.deletion_timestamp.has_value();
  f.inst = std::move(*inst);
  facts_[key] = std::move(f);
}

void Simulation::drain_one(kube::WatchStream& w, bool pools) {
  kube::Store& store = pools ? proc_->pools : proc_->instances;
  for (;;) {
    auto n = w.next(std::chrono::milliseconds(0));
    if (n.state == kube::WatchStream::State::Timeout) return;
    if (n.state == kube::WatchStream::State::Closed ||
        n.event.type == kube::WatchEventType::Error) {
      relist(pools);
      return;
    }
    kube::WatchEvent& ev = n.event;
    if (ev.type == kube::WatchEventType::Bookmark) continue;
    if (ev.type == kube::WatchEventType::Deleted) {
      store.remove(kube::object_key(ev.object));
      apply_event(ev.type, ev.object, pools);
      continue;
    }
    // The event's object moves into the informer store, not copied.
    auto obj = std::make_shared<const Json>(std::move(ev.object));
    store.upsert(obj);
    apply_event(ev.type, *obj, pools);
  }
}

void Simulation::drain() {
  // Nothing was written since the last drain: no event can be waiting.
  const int64_t rv = api_.resource_version();
  if (rv == drained_rv_ && proc_->pool_watch && proc_->inst_watch) return;
  drained_rv_ = rv;
  if (proc_->pool_watch) {
    drain_one(*proc_->pool_watch, true);
  } else {
    relist(true);
  }
  if (proc_->inst_watch) {
    drain_one(*proc_->inst_watch, false);
  } else {
    relist(false);
  }
}

void Simulation::reconcile(const std::string& key) {
  const Time now = clock_.now();
  const kube::ReconcileRequest req = kube::split_key(key.substr(2));
  kube::ReconcileResult r =
      key[0] == 'p' ? proc_->pool_rec.reconcile(req) : proc_->inst_rec.reconcile(req);
  ++out_.reconciles;
  ++(key[0] == 'p' ? out_.pool_reconciles : out_.instance_reconciles);
  ++runs_this_instant_;
  if (sw_.dead()) return;  // the process is gone; its queue with it
  int& failures = proc_->queue.failures(key);
  Time due;
  if (r.error) {
    ++failures;
    const int64_t backoff =
        std::min<int64_t>(int64_t{1} << std::min(failures - 1, 20), kMaxBackoff.count());
    due = now + Duration{backoff};
  } else {
    failures = 0;
    if (!r.requeue_after) return;
    const int64_t ms = r.requeue_after->count();
    due = now + Duration{(std::max<int64_t>(ms, 0) + 999) / 1000};
  }
  if (due == now && ++runs_per_key_[key] > kMaxRunsPerKeyPerInstant) due = now + 1s;
  proc_->queue.enqueue(key, due);
}

void Simulation::check_world(Time now, bool final) {
  // Every live machine at the providers, claimed or not.
  std::map<std::string, int> per_instance;
  const Duration grace{cfg_.pool.spec.lifecycle.adoption_grace_seconds};
  std::set<std::string> seen;
  for (const auto& [pname, fake] : fakes_) {
    auto machines = fake->list(MachineFilter{});
    if (!machines.ok()) continue;
    for (const Machine& m : *machines) {
      if (m.state == MachineState::Terminating || m.state == MachineState::Terminated) continue;
      const std::string id = pname + "/" + m.provider_id;
      if (++per_instance[m.pool_uid() + "/" + m.name] == 2) {
        const std::string v = "duplicate: two live machines for instance " + m.name;
        if (reported_.insert(v).second) out_.violations.push_back(v);
      }
      bool claimed = false;
      auto it = facts_.find(kube::make_key(pool_.metadata.namespace_, m.name));
      if (it != facts_.end() && m.pool_uid() == pool_uid_) {
        const auto& st = it->second.inst.status;
        claimed = st.provider_id.empty() || st.provider_id == m.provider_id;
      }
      if (claimed) continue;
      seen.insert(id);
      auto [u, fresh] = unclaimed_since_.emplace(id, now);
      (void)fresh;
      const Duration unclaimed = now - u->second;
      if (unclaimed > grace + 2 * kGcPeriod + Duration{60} || final) {
        const std::string v = "orphan: machine " + id + " (" + m.name +
                              ") unclaimed since t=" + std::to_string(rel(u->second)) + " s" +
                              (final ? ", still running at the end" : "");
        if (reported_.insert("orphan " + id).second) out_.violations.push_back(v);
      }
    }
  }
  for (auto it = unclaimed_since_.begin(); it != unclaimed_since_.end();) {
    it = seen.count(it->first) ? std::next(it) : unclaimed_since_.erase(it);
  }
  // Budgets.
  const api::BudgetSpec& budget = cfg_.pool.spec.budget;
  if (budget.max_usd_per_month) {
    auto p = api_.get(controllers::kGpuPools, pool_.metadata.namespace_, pool_.metadata.name);
    if (p.ok()) {
      std::string text;
      const Json& md = (*p)["metadata"];
      if (md.contains("annotations") && md["annotations"].contains(spend::kLedgerAnnotation)) {
        text = md["annotations"][spend::kLedgerAnnotation].get<std::string>();
      }
      auto ledger = spend::parse_ledger(text);
      std::vector<api::GpuInstance> insts;
      for (const auto& [k, f] : facts_)
        insts.push_back(f.inst);
      if (ledger.ok()) {
        const Money mtd = spend::pool_spend(insts, *ledger, now).month_to_date;
        if (mtd > *budget.max_usd_per_month) {
          const std::string v = "budget: month-to-date $" + mtd.to_string() +
                                " exceeds maxUsdPerMonth $" + budget.max_usd_per_month->to_string();
          if (reported_.insert("budget-month").second) {
            out_.violations.push_back(v + " at t=" + std::to_string(rel(now)) + " s");
          }
        }
      }
    }
  }
}

void Simulation::record(Time now) {
  // Budget: hourly burn of the instances buying time.
  if (cfg_.pool.spec.budget.max_usd_per_hour) {
    Money burn;
    for (const auto& [k, f] : facts_) {
      if (spend::buys_time(f.inst)) burn += spend::active_burn(f.inst);
    }
    if (burn > *cfg_.pool.spec.budget.max_usd_per_hour && reported_.insert("budget-hour").second) {
      out_.violations.push_back("budget: hourly burn $" + burn.to_string() +
                                " exceeds maxUsdPerHour $" +
                                cfg_.pool.spec.budget.max_usd_per_hour->to_string() +
                                " at t=" + std::to_string(rel(now)) + " s");
    }
  }
  TimelinePoint p;
  p.t = rel(now);
  p.demand = cfg_.trace.at(p.t);
  p.ready.assign(out_.providers.size(), 0.0);
  for (const auto& [k, f] : facts_) {
    if (f.deleting) continue;
    const auto phase = f.inst.status.phase;
    // Serving: Ready, or Running where nothing more is awaited (a Node or
    // a health check, decision::awaits_readiness).
    if (phase == api::InstancePhase::Ready ||
        (phase == api::InstancePhase::Running && !decision::awaits_readiness(f.inst.spec.usage))) {
      auto it = std::find(out_.providers.begin(), out_.providers.end(), f.provider);
      if (it != out_.providers.end())
        p.ready[static_cast<size_t>(it - out_.providers.begin())] += f.equiv;
    } else if (phase == api::InstancePhase::Parked) {
      p.parked += f.equiv;
    }
  }
  p.desired_gpus = desired_gpus_;
  if (!out_.timeline.empty()) {
    const TimelinePoint& last = out_.timeline.back();
    if (last.demand == p.demand && last.ready == p.ready && last.parked == p.parked &&
        last.desired_gpus == p.desired_gpus) {
      return;
    }
    if (last.t == p.t) out_.timeline.pop_back();
  }
  out_.timeline.push_back(std::move(p));
}

void Simulation::finish(Time end) {
  check_world(end, /*final=*/true);
  // Integrals from the timeline (a step function).
  const auto& tl = out_.timeline;
  for (size_t i = 0; i < tl.size(); ++i) {
    const int64_t from = tl[i].t;
    const int64_t to = i + 1 < tl.size() ? tl[i + 1].t : out_.duration_s;
    if (to <= from) continue;
    double ready = 0;
    for (double r : tl[i].ready)
      ready += r;
    out_.served_gpu_hours +=
        std::min(tl[i].demand, ready) * static_cast<double>(to - from) / 3600.0;
  }
  out_.demanded_gpu_hours = cfg_.trace.demanded_gpu_hours();
  out_.unserved_gpu_hours = std::max(0.0, out_.demanded_gpu_hours - out_.served_gpu_hours);
  out_.peak_demand = cfg_.trace.peak();

  // The providers' own ledgers.
  Money billed_for_pool;
  for (const auto& [pname, fake] : fakes_) {
    ProviderOutcome& po = out_.by_provider[pname];
    for (const FakeLedgerEntry& e : fake->ledger()) {
      const Money b = fake->billed(e, end);
      po.spend += b;
      if (e.pool_uid == pool_uid_) billed_for_pool += b;
      const Time stop = e.ended ? std::min(*e.ended, end) : end;
      const double hours = static_cast<double>((stop - e.launched).count()) / 3600.0;
      const double equiv = e.machine.gpu_count * weight_of(e.machine.gpu_model);
      po.machine_hours += hours;
      po.gpu_hours += hours * equiv;
      ++po.launched;
      out_.paid_gpu_hours +=
          static_cast<double>(billing::billed_duration(e.billing, e.launched, stop).count()) /
          3600.0 * equiv;
    }
    po.no_capacity_refusals = fake->no_capacity_refusals();
    out_.spend += po.spend;
    out_.instances_launched += po.launched;
  }
  out_.paid_idle_gpu_hours = std::max(0.0, out_.paid_gpu_hours - out_.served_gpu_hours);

  // The pool's own record.
  auto p = api_.get(controllers::kGpuPools, pool_.metadata.namespace_, pool_.metadata.name);
  if (p.ok()) {
    std::string text;
    const Json& md = (*p)["metadata"];
    if (md.contains("annotations") && md["annotations"].contains(spend::kLedgerAnnotation)) {
      text = md["annotations"][spend::kLedgerAnnotation].get<std::string>();
    }
    auto ledger = spend::parse_ledger(text);
    std::vector<api::GpuInstance> insts;
    auto list = api_.list(controllers::kGpuInstances, pool_.metadata.namespace_);
    if (list.ok()) {
      for (const auto& j : list->items) {
        if (auto i = controllers::to_instance(j)) insts.push_back(std::move(*i));
      }
    }
    if (!ledger.ok()) {
      out_.violations.push_back("spend: the pool's ledger annotation is unreadable: " +
                                ledger.error().message);
    } else {
      out_.recorded_spend = spend::pool_spend(insts, *ledger, end).accrued;
      const Money diff = out_.recorded_spend - billed_for_pool;
      if (std::llabs(diff.micros()) >= 10'000) {
        out_.violations.push_back("spend: the pool records $" + out_.recorded_spend.to_string() +
                                  ", the providers billed $" + billed_for_pool.to_string());
      }
    }
  } else {
    out_.violations.emplace_back("the pool is gone at the end of the run");
  }

  // The lower bound over every eligible offer (the policy's restriction
  // does not apply: no policy can beat it).
  planner::Request req;
  req.now = cfg_.start;
  req.providers = cfg_.limits;
  for (const SimProvider& sp : cfg_.providers) {
    req.offers.insert(req.offers.end(), sp.offers.begin(), sp.offers.end());
  }
  std::map<std::string, int> caps;
  for (const SimProvider& sp : cfg_.providers) {
    if (sp.capacity >= 0) caps[sp.name] = sp.capacity;
  }
  std::vector<BoundOffer> offers;
  if (auto plan = planner::plan(cfg_.pool.spec, req); plan.ok()) {
    for (const auto& r : plan->offers) {
      if (!r.eligible) continue;
      offers.push_back(BoundOffer{r.offer.provider, r.throughput, r.hourly_burn});
    }
  }
  out_.bound = lower_bound(cfg_.trace, offers, caps);
}

Result<Outcome, ConfigError> Simulation::run() {
  if (auto s = setup(); !s.ok()) return fail(s.error());
  out_.policy = cfg_.policy.name();
  out_.duration_s = cfg_.trace.end_s();
  const Time end = cfg_.start + Duration{cfg_.trace.end_s()};
  const Duration sample = cfg_.spend_sample.count() > 0
                              ? cfg_.spend_sample
                              : Duration{std::max<int64_t>(1, cfg_.trace.end_s() / 600)};
  std::uniform_real_distribution<double> spread(0.5, 1.5);
  auto next_crash_after = [&](Time now) -> std::optional<Time> {
    if (!cfg_.crash_every || cfg_.crash_every->count() <= 0) return std::nullopt;
    const auto gap = static_cast<int64_t>(
        std::llround(spread(rng_) * static_cast<double>(cfg_.crash_every->count())));
    return now + Duration{std::max<int64_t>(1, gap)};
  };

  start_process();
  Time now = clock_.now();
  Time next_gc = now;
  std::optional<Time> next_crash = next_crash_after(now);
  Time next_sample = now;
  for (;;) {
    runs_this_instant_ = 0;
    runs_per_key_.clear();
    ++out_.instants;
    // A change of the trace is not an event: the simulated Prometheus
    // answers with the new value, and the pool sees it when it next reads
    // its signals (every scaling period), as in production.
    const int64_t t = rel(now);
    drain();
    if (now >= next_gc) {
      proc_->gc.run_once();
      ++out_.gc_runs;
      drain();
      check_world(now, /*final=*/false);
      next_gc = now + kGcPeriod;
    }
    if (next_crash && now >= *next_crash) {
      crash_after_ = std::uniform_int_distribution<int>(0, 3)(rng_);
    }
    while (auto key = proc_->queue.pop(now)) {
      if (crash_after_ && *crash_after_ == 0) {
        // This reconcile dies part-way, after a few calls.
        sw_.arm(std::uniform_int_distribution<int>(0, 6)(rng_));
        reconcile(*key);
        crash_after_.reset();
        crash();
        next_crash = next_crash_after(now);
        continue;
      }
      if (crash_after_) --*crash_after_;
      reconcile(*key);
      drain();
      if (runs_this_instant_ > kMaxRunsPerInstant) {
        out_.violations.push_back("livelock: more than " + std::to_string(kMaxRunsPerInstant) +
                                  " reconciles at t=" + std::to_string(t) + " s");
        break;
      }
    }
    if (crash_after_) {  // fewer reconciles were due: crash between them
      crash_after_.reset();
      crash();
      next_crash = next_crash_after(now);
      while (auto key = proc_->queue.pop(now)) {
        reconcile(*key);
        drain();
        if (runs_this_instant_ > kMaxRunsPerInstant) break;
      }
    }
    record(now);
    if (now >= end ||
        (!out_.violations.empty() && out_.violations.back().rfind("livelock", 0) == 0)) {
      break;
    }
    Time next = end;
    if (auto q = proc_->queue.next()) next = std::min(next, *q);
    next = std::min(next, cfg_.start + Duration{cfg_.trace.next_change_after(t)});
    for (const auto& [name, fake] : fakes_) {
      if (auto c = fake->next_change(now)) next = std::min(next, *c);
    }
    next = std::min(next, next_gc);
    if (next_crash) next = std::min(next, *next_crash);
    next = std::max(next, now + 1s);
    while (next_sample < next && next_sample <= end) {
      Money billed;
      for (const auto& [name, fake] : fakes_)
        billed += fake->total_billed(next_sample);
      out_.spend_curve.push_back(SpendPoint{rel(next_sample), billed.to_double()});
      next_sample += sample;
    }
    clock_.set(next);
    now = next;
  }
  {
    Money billed;
    for (const auto& [name, fake] : fakes_)
      billed += fake->total_billed(end);
    if (out_.spend_curve.empty() || out_.spend_curve.back().t != rel(end)) {
      out_.spend_curve.push_back(SpendPoint{rel(end), billed.to_double()});
    }
  }
  finish(end);
  proc_.reset();
  return std::move(out_);
}

}  // namespace

std::string PolicyChoice::name() const {
  switch (kind) {
    case Kind::Default:
      return "default";
    case Kind::CheapestListPrice:
      return "cheapest-list-price";
    case Kind::SingleProvider:
      return "single-provider:" + provider;
  }
  return "default";
}

Result<Outcome, ConfigError> simulate(const Config& config) {
  Simulation sim(config);
  return sim.run();
}

}  // namespace gpupool::sim
