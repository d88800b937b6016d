// Reconcilers against the in-memory API store and the fake provider, driven
// step by step with a FakeClock. Assertions are on the state of the world:
// the API objects and the fake provider's ledger.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <algorithm>
#include <chrono>
#include <condition_variable>
#include <cstdlib>
#include <fstream>
#include <map>
#include <mutex>
#include <set>
#include <sstream>
#include <utility>

#include "operator/controllers/bootstrap.h"
#include "operator/controllers/endpoint_prober.h"
#include "operator/controllers/endpoint_prober_pool.h"
#include "operator/controllers/endpoint_slices.h"
#include "operator/controllers/garbage_collector.h"
#include "operator/controllers/instance_reconciler.h"
#include "operator/controllers/node_drain.h"
#include "operator/controllers/node_registration.h"
#include "operator/controllers/pool_reconciler.h"
#include "operator/controllers/prometheus_signals.h"
#include "operator/controllers/provider_reconciler.h"
#include "operator/controllers/provider_slots.h"
#include "operator/controllers/remote_fake_provider.h"
#include "operator/core/api_codec.h"
#include "operator/core/pool_decision.h"
#include "operator/core/spend.h"
#include "operator/kube/memory/store.h"
#include "operator/kube/runtime/controller.h"
#include "providers/factory/adapter_table.h"
#include "providers/fake/fake_provider.h"
#include "providers/http/url.h"
#include "providers/runpod/runpod_provider.h"
#include "providers/vastai/vastai_provider.h"
#include "tests/emulators/runpod/runpod_emulator.h"

namespace gpupool::controllers {
namespace {

using namespace std::chrono;
using namespace std::chrono_literals;
using kube::Json;
using ::testing::HasSubstr;
using ::testing::Not;

Money usd(std::string_view s) {
  return Money::parse(s).value();
}

Offer offer(std::string id, std::string price, Duration increment = 1h) {
  Offer o;
  o.provider = "fake";
  o.provider_type = "fake";
  o.id = std::move(id);
  o.region = "r1";
  o.gpu_model = "L40S";
  o.price_per_hour = usd(price);
  o.billing.increment = increment;
  return o;
}

std::string read_file(const std::string& path) {
  std::ifstream f(path);
  std::stringstream ss;
  ss << f.rdbuf();
  return ss.str();
}

class ControllersTest : public ::testing::Test {
 protected:
  ControllersTest()
      : clock_(sys_days{year{2026} / November / 10} + 12h),
        api_(clock_),
        // The real adapter types these tests build (main's table has all).
        registry_(clock_, stats_,
                  factory::AdapterTable({runpod::adapter_type(), vastai::adapter_type()})),
        events_(api_, clock_, kComponent),
        ctx_{api_, clock_, registry_, unavailable_, events_, pools_, instances_, providers_, {}},
        pool_rec_(ctx_),
        inst_rec_(ctx_),
        ep_rec_(ctx_),
        gc_(ctx_) {
    instances_.add_index(kIndexPoolUid, kube::index_by_label(decision::kLabelPoolUid));
    instances_.add_index(kIndexProviderGpus, index_by_provider_gpus());
    nodes_.add_index(kIndexNodeInstance, kube::index_by_label(kLabelInstance));
    services_.add_index(kIndexOwnerUid, kube::index_by_owner_uid());
    slices_.add_index(kIndexOwnerUid, kube::index_by_owner_uid());
    ctx_.nodes = &nodes_;
    ctx_.services = &services_;
    ctx_.endpoint_slices = &slices_;
    ctx_.on_failed = [this](const api::GpuInstance& inst, const std::string& reason) {
      failures_.push_back(inst.metadata.name + " " + reason);
    };
    const char* src = std::getenv("GPUPOOL_SOURCE_DIR");
    const std::string dir = std::string(src ? src : ".") + "/crds/";
    for (const char* f : {"gpupool.io_gpupools.yaml", "gpupool.io_gpuinstances.yaml",
                          "gpupool.io_gpuproviders.yaml"}) {
      auto docs = api::yaml_to_json(read_file(dir + f));
      EXPECT_TRUE(docs.ok()) << f;
      if (!docs.ok()) continue;
      for (const auto& d : *docs) {
        auto r = api_.create(kube::resources::kCustomResourceDefinitions, "", d);
        EXPECT_TRUE(r.ok()) << f << ": " << (r.ok() ? "" : r.error().message);
      }
    }
    FakeProviderOptions opts;
    opts.name = "fake";
    opts.boot_delay = 30s;
    opts.offers = {{offer("a", "1"), -1}, {offer("b", "2"), -1}};
    fake_ = std::make_shared<FakeProvider>(opts, clock_);
    registry_.put("fake", fake_);
  }

  void create_pool(int replicas, const std::string& extra_spec = "{}") {
    Json spec = {
        {"gpu", {{"models", {{{"name", "L40S"}}}}}},
        {"replicas", {{"count", replicas}}},
        {"providers", {{{"name", "fake"}}}},
        {"lifecycle",
         {{"parkMarginSeconds", 60}, {"adoptionGraceSeconds", 30}, {"minParkSeconds", 0}}}};
    spec.merge_patch(Json::parse(extra_spec));
    Json pool = {{"apiVersion", "gpupool.io/v1alpha1"},
                 {"kind", "GpuPool"},
                 {"metadata", {{"name", "web"}, {"namespace", "default"}}},
                 {"spec", spec}};
    auto r = api_.create(kGpuPools, "default", pool);
    ASSERT_TRUE(r.ok()) << r.error().message;
  }

  // Pool "web" with `replicas` machines bought, booted and Running.
  void create_running_pool(int replicas) {
    create_pool(replicas);
    converge();
    clock_.advance(31s);  // past the fake's boot delay
    converge();
    ASSERT_EQ(count_phase(api::InstancePhase::Running), replicas);
  }

  void patch_pool_spec(const Json& patch) {
    auto r = api_.patch(kGpuPools, "default", "web", kube::PatchType::Merge, {{"spec", patch}});
    ASSERT_TRUE(r.ok()) << r.error().message;
  }

  void refresh() {
    ASSERT_TRUE(refresh_store(api_, kGpuPools, pools_).ok());
    ASSERT_TRUE(refresh_store(api_, kGpuInstances, instances_).ok());
    ASSERT_TRUE(refresh_store(api_, kube::resources::kNodes, nodes_).ok());
    ASSERT_TRUE(refresh_store(api_, kube::resources::kServices, services_).ok());
    ASSERT_TRUE(refresh_store(api_, kube::resources::kEndpointSlices, slices_).ok());
  }

  // A machine of pool "web" (default namespace) at the fake provider that
  // no GpuInstance claims; returns its id.
  std::string plant_pool_orphan() {
    InstanceIntent orphan;
    orphan.name = "web-orphan";
    orphan.pool_uid = pool()->metadata.uid;
    orphan.pool_namespace = "default";
    orphan.pool_name = "web";
    orphan.offer = offer("a", "1");
    return fake_->plant_orphan(orphan);
  }

  // Reconciles every pool and instance `rounds` times.

  void converge(int rounds = 4) {
    for (int i = 0; i < rounds; ++i) {
      refresh();
      for (const auto& p : pools_.list()) {
        (void)pool_rec_.reconcile({(*p)["metadata"]["namespace"], (*p)["metadata"]["name"]});
      }
      refresh();
      for (const auto& p : instances_.list()) {
        (void)inst_rec_.reconcile({(*p)["metadata"]["namespace"], (*p)["metadata"]["name"]});
        no_machine_listed_ready_is_ended();
      }
      if (run_endpoints_) converge_endpoints(1);
    }
    refresh();
  }

  // Reconciles every pool's Service and EndpointSlices `rounds` times.
  void converge_endpoints(int rounds = 2) {
    for (int i = 0; i < rounds; ++i) {
      refresh();
      for (const auto& p : pools_.list()) {
        (void)ep_rec_.reconcile({(*p)["metadata"]["namespace"], (*p)["metadata"]["name"]});
      }
    }
    refresh();
  }

  // The invariant of issue 13: a slice never lists ready an instance whose
  // machine was ended.
  void no_machine_listed_ready_is_ended() {
    auto slices = api_.list(kube::resources::kEndpointSlices, "default");
    ASSERT_TRUE(slices.ok());
    for (const auto& s : slices->items) {
      for (const auto& ep : s["endpoints"]) {
        if (!ep["conditions"].value("ready", false)) continue;
        const std::string name = ep["targetRef"]["name"];
        for (const auto& m : fake_->ledger()) {
          if (m.machine.name == name) {
            EXPECT_FALSE(m.ended.has_value()) << name << " was ended while listed ready";
          }
        }
      }
    }
  }

  std::vector<api::GpuInstance> instances() {
    std::vector<api::GpuInstance> out;
    auto list = api_.list(kGpuInstances, "default");
    for (const auto& j : list->items)
      out.push_back(*to_instance(j));
    return out;
  }
  int count_phase(api::InstancePhase phase) {
    int n = 0;
    for (const auto& i : instances())
      n += i.status.phase == phase ? 1 : 0;
    return n;
  }
  std::optional<api::GpuPool> pool() {
    auto r = api_.get(kGpuPools, "default", "web");
    if (!r.ok()) return std::nullopt;
    return to_pool(*r);
  }
  const api::Condition* condition(const std::string& type) {
    pool_cache_ = pool();
    return pool_cache_ ? decision::find_condition(pool_cache_->status.conditions, type) : nullptr;
  }
  int live_at_provider() { return fake_->live_count(); }

  FakeClock clock_;
  kube::MemoryStore api_;
  ProviderCallStats stats_;
  ProviderRegistry registry_;
  UnavailableOffers unavailable_;
  kube::EventRecorder events_;
  kube::Store pools_, instances_, providers_, nodes_;
  Context ctx_;
  // "<instance> <reason>" per Context::on_failed call.
  std::vector<std::string> failures_;
  PoolReconciler pool_rec_;
  InstanceReconciler inst_rec_;
  EndpointSliceReconciler ep_rec_;
  GarbageCollector gc_;
  kube::Store services_, slices_;
  bool run_endpoints_ = true;
  std::shared_ptr<FakeProvider> fake_;
  std::optional<api::GpuPool> pool_cache_;
};

// Issue 12: a provider at its limit of calls in flight (a slow call holds
// its one slot) is not called: the pool and its instances come back after
// kProviderBusyRequeue, without an error (no backoff growth), and converge
// once the slot is free.
TEST_F(ControllersTest, AProviderAtItsCallLimitIsNotCalledAndItsKeysComeBackShortly) {
  ctx_.provider_slots = std::make_shared<ProviderSlots>(1);
  create_pool(2);
  refresh();
  {
    const ProviderSlots::Slot slow_call = ctx_.provider_slots->try_acquire("fake");
    ASSERT_TRUE(slow_call);
    const kube::ReconcileResult r = pool_rec_.reconcile({"default", "web"});
    EXPECT_FALSE(r.error) << *r.error;
    EXPECT_EQ(r.requeue_after, kProviderBusyRequeue);
    EXPECT_EQ(fake_->calls(FakeMethod::Offers), 0);
    EXPECT_TRUE(instances().empty());
  }
  refresh();  // the refused pass wrote the finalizer
  const kube::ReconcileResult freed = pool_rec_.reconcile({"default", "web"});
  ASSERT_FALSE(freed.error) << *freed.error;
  EXPECT_GE(fake_->calls(FakeMethod::Offers), 1);
  ASSERT_EQ(instances().size(), 2u);
  refresh();
  {
    const ProviderSlots::Slot slow_call = ctx_.provider_slots->try_acquire("fake");
    for (const auto& i : instances()) {
      const kube::ReconcileResult r = inst_rec_.reconcile({"default", i.metadata.name});
      EXPECT_FALSE(r.error) << *r.error;
      EXPECT_EQ(r.requeue_after, kProviderBusyRequeue);
    }
    EXPECT_EQ(fake_->calls(FakeMethod::Create), 0);
    EXPECT_EQ(live_at_provider(), 0);
    // The collector skips a busy provider for this round.
    gc_.run_once();
    EXPECT_EQ(fake_->calls(FakeMethod::List), 0);
  }
  EXPECT_EQ(ctx_.provider_slots->refusals().at("fake"), 4);
  converge();
  EXPECT_EQ(live_at_provider(), 2);
  EXPECT_EQ(ctx_.provider_slots->in_flight("fake"), 0) << "every slot was given back";
}

// Issue 12: with their queues wired, refused keys wait to be woken instead of
// polling every kProviderBusyRequeue: the pool and each instance come back
// when the slow call gives its slot back, and converge then.
TEST_F(ControllersTest, RefusedPoolsAndInstancesAreWokenWhenTheSlowCallEnds) {
  ctx_.provider_slots = std::make_shared<ProviderSlots>(1);
  std::vector<std::string> woken;
  ctx_.enqueue_pool = [&](const std::string& key) { woken.push_back("pool " + key); };
  ctx_.enqueue_instance = [&](const std::string& key) { woken.push_back("instance " + key); };
  create_pool(2);
  refresh();
  ProviderSlots::Slot slow_call = ctx_.provider_slots->try_acquire("fake");
  ASSERT_TRUE(slow_call);
  const kube::ReconcileResult r = pool_rec_.reconcile({"default", "web"});
  EXPECT_FALSE(r.error) << *r.error;
  EXPECT_EQ(r.requeue_after, kProviderWaitSafetyRequeue);
  EXPECT_EQ(ctx_.provider_slots->waiting("fake"), 1);
  slow_call.release();
  EXPECT_EQ(woken, std::vector<std::string>{"pool default/web"});
  refresh();
  ASSERT_FALSE(pool_rec_.reconcile({"default", "web"}).error);
  ASSERT_EQ(instances().size(), 2u);
  refresh();
  woken.clear();
  slow_call = ctx_.provider_slots->try_acquire("fake");
  for (const auto& i : instances()) {
    const kube::ReconcileResult ir = inst_rec_.reconcile({"default", i.metadata.name});
    EXPECT_FALSE(ir.error) << *ir.error;
    EXPECT_EQ(ir.requeue_after, kProviderWaitSafetyRequeue);
  }
  EXPECT_TRUE(woken.empty());
  EXPECT_EQ(fake_->calls(FakeMethod::Create), 0);
  slow_call.release();  // one slot: the first instance is woken to take it
  ASSERT_EQ(woken.size(), 1u);
  EXPECT_EQ(woken[0], "instance default/" + instances()[0].metadata.name);
  ASSERT_FALSE(inst_rec_.reconcile({"default", instances()[0].metadata.name}).error);
  EXPECT_EQ(fake_->calls(FakeMethod::Create), 1);
  ASSERT_EQ(woken.size(), 2u) << "its call done, the slot passed on to the second";
  EXPECT_EQ(woken[1], "instance default/" + instances()[1].metadata.name);
  converge();
  EXPECT_EQ(live_at_provider(), 2);
  EXPECT_EQ(ctx_.provider_slots->waiting("fake"), 0);
}

// A busy provider does not hold back a pool that another provider can
// serve: it is planned without, as if its offers call had failed.
TEST_F(ControllersTest, APoolPlansWithoutABusyProviderWhenAnotherAnswers) {
  ctx_.provider_slots = std::make_shared<ProviderSlots>(1);
  FakeProviderOptions opts;
  opts.name = "other";
  opts.boot_delay = 30s;
  opts.offers = {{offer("c", "3"), -1}};
  auto other = std::make_shared<FakeProvider>(opts, clock_);
  registry_.put("other", other);
  create_pool(1, R"({"providers": [{"name": "fake"}, {"name": "other"}]})");
  const ProviderSlots::Slot slow_call = ctx_.provider_slots->try_acquire("fake");
  ASSERT_TRUE(slow_call);
  for (int pass = 0; pass < 2; ++pass) {  // the first may only add the finalizer
    refresh();
    const kube::ReconcileResult r = pool_rec_.reconcile({"default", "web"});
    EXPECT_FALSE(r.error) << *r.error;
  }
  EXPECT_EQ(fake_->calls(FakeMethod::Offers), 0);
  EXPECT_GE(other->calls(FakeMethod::Offers), 1);
  const auto insts = instances();
  ASSERT_EQ(insts.size(), 1u);
  EXPECT_EQ(insts[0].spec.offer.provider, "other");
}

// A settled machine that its provider's last list vouches for makes no
// provider call, so a provider at its call limit does not hold it back.
TEST_F(ControllersTest, ASettledMachineTheListVouchesForNeedsNoProviderSlot) {
  ctx_.provider_slots = std::make_shared<ProviderSlots>(1);
  create_pool(2);
  converge();
  clock_.advance(31s);
  converge();  // Running, and the list taken
  ASSERT_EQ(count_phase(api::InstancePhase::Running), 2);
  clock_.advance(15s);  // the list is 15 s old: still fresh
  const int refused = ctx_.provider_slots->refusals().count("fake")
                          ? static_cast<int>(ctx_.provider_slots->refusals().at("fake"))
                          : 0;
  {
    const ProviderSlots::Slot slow_call = ctx_.provider_slots->try_acquire("fake");
    ASSERT_TRUE(slow_call);
    for (const auto& i : instances()) {
      const kube::ReconcileResult r = inst_rec_.reconcile({"default", i.metadata.name});
      EXPECT_FALSE(r.error) << *r.error;
      EXPECT_NE(r.requeue_after, kProviderBusyRequeue) << i.metadata.name;
    }
  }
  const int refused_after = ctx_.provider_slots->refusals().count("fake")
                                ? static_cast<int>(ctx_.provider_slots->refusals().at("fake"))
                                : 0;
  EXPECT_EQ(refused_after, refused);
  // Once the list is too old, the next pass needs a call: the slot again.
  clock_.advance(20s);
  {
    const ProviderSlots::Slot slow_call = ctx_.provider_slots->try_acquire("fake");
    const kube::ReconcileResult r = inst_rec_.reconcile({"default", instances()[0].metadata.name});
    EXPECT_EQ(r.requeue_after, kProviderBusyRequeue);
  }
}

TEST_F(ControllersTest, PoolBecomesReadyWithTheRightMachines) {
  create_pool(2);
  converge();
  EXPECT_EQ(live_at_provider(), 2);
  EXPECT_EQ(count_phase(api::InstancePhase::Provisioning), 2);
  ASSERT_NE(condition("Ready"), nullptr);
  EXPECT_EQ(condition("Ready")->status, api::ConditionStatus::False);
  clock_.advance(31s);
  converge();
  EXPECT_EQ(count_phase(api::InstancePhase::Running), 2);
  EXPECT_EQ(condition("Ready")->status, api::ConditionStatus::True);
  for (const auto& i : instances()) {
    EXPECT_EQ(i.spec.offer.offer_id, "a");
    EXPECT_FALSE(i.status.provider_id.empty());
    EXPECT_EQ(i.status.price_per_hour, usd("1"));
    EXPECT_TRUE(i.status.launch_time.has_value());
    EXPECT_TRUE(i.status.paid_through.has_value());
  }
  EXPECT_EQ(pool()->status.replicas.ready, 2);
  EXPECT_EQ(pool()->status.spend.hourly_burn, usd("2"));
  EXPECT_EQ(pool()->status.spend.accrued, fake_->total_billed(clock_.now()));
  // Many more rounds change nothing at the provider.
  converge(6);
  EXPECT_EQ(fake_->ledger().size(), 2u);
}

TEST_F(ControllersTest, ScaleDownParksAndEndsOnlyAtTheEndOfThePaidWindow) {
  create_pool(2);
  converge();
  clock_.advance(10min);
  converge();
  patch_pool_spec({{"replicas", {{"count", 1}}}});
  converge();
  EXPECT_EQ(count_phase(api::InstancePhase::Parked), 1);
  EXPECT_EQ(live_at_provider(), 2);  // still paid for: kept
  clock_.advance(40min);             // 50 min after launch: margin 60 s not reached
  converge();
  EXPECT_EQ(live_at_provider(), 2);
  clock_.advance(9min + 5s);  // 59:05 after launch: within the margin
  converge();
  EXPECT_EQ(live_at_provider(), 1);
  EXPECT_EQ(instances().size(), 1u);
  const auto p = pool();
  EXPECT_EQ(p->status.terminated_spend, usd("1"));  // one hour of $1
  EXPECT_EQ(p->status.spend.accrued, fake_->total_billed(clock_.now()));
}

TEST_F(ControllersTest, DemandReturningUnparksInsteadOfBuying) {
  create_pool(2);
  converge();
  patch_pool_spec({{"replicas", {{"count", 1}}}});
  converge();
  ASSERT_EQ(count_phase(api::InstancePhase::Parked), 1);
  patch_pool_spec({{"replicas", {{"count", 2}}}});
  converge();
  EXPECT_EQ(count_phase(api::InstancePhase::Parked), 0);
  EXPECT_EQ(fake_->ledger().size(), 2u);
}

TEST_F(ControllersTest, BudgetCapStopsScaleUp) {
  create_pool(4, R"({"budget": {"maxUsdPerHour": "2.5"}})");
  converge();
  EXPECT_EQ(live_at_provider(), 2);
  ASSERT_NE(condition("BudgetExceeded"), nullptr);
  EXPECT_EQ(condition("BudgetExceeded")->status, api::ConditionStatus::True);
  EXPECT_THAT(condition("BudgetExceeded")->message, HasSubstr("maxUsdPerHour"));
}

TEST_F(ControllersTest, NoCapacityOnTheFirstOfferLandsOnTheNext) {
  create_pool(1);
  fake_->fail_next(FakeMethod::Create, provider_error(ProviderErrorKind::NoCapacity, "sold out"));
  converge();
  ASSERT_EQ(live_at_provider(), 1);
  const auto insts = instances();
  ASSERT_EQ(insts.size(), 1u);
  EXPECT_EQ(insts[0].spec.offer.offer_id, "b");
  EXPECT_TRUE(unavailable_.contains(planner::offer_key(offer("a", "1")), clock_.now()));
}

// Issue 12: NoCapacity failover in the same reconcile. A second fake
// provider, "other", sells offer "c" at $1.50/h: between fake's "a" ($1)
// and "b" ($2), so it is the next-cheapest once "a" is refused.
class FailoverTest : public ControllersTest {
 protected:
  FailoverTest() {
    FakeProviderOptions opts;
    opts.name = "other";
    opts.boot_delay = 30s;
    opts.offers = {{offer("c", "1.5"), -1}};
    other_ = std::make_shared<FakeProvider>(opts, clock_);
    registry_.put("other", other_);
  }

  // Pool "web" of one machine over `providers`; its first pass writes the
  // intent on the cheapest offer. Returns the instance's name.
  std::string pool_with_intent(const std::string& providers) {
    create_pool(1, R"({"providers": )" + providers + "}");
    refresh();
    (void)pool_rec_.reconcile({"default", "web"});
    refresh();
    const auto insts = instances();
    EXPECT_EQ(insts.size(), 1u);
    return insts.empty() ? std::string() : insts[0].metadata.name;
  }
  std::optional<api::GpuInstance> instance(const std::string& name) {
    auto r = api_.get(kGpuInstances, "default", name);
    if (!r.ok()) return std::nullopt;
    return to_instance(*r);
  }
  int events_with(const std::string& reason, const std::string& text) {
    int n = 0;
    auto events = api_.list(kube::resources::kEvents, "default");
    for (const auto& e : events->items) {
      n += e.value("reason", "") == reason && e.value("message", "").find(text) != std::string::npos
               ? 1
               : 0;
    }
    return n;
  }

  std::shared_ptr<FakeProvider> other_;
};

TEST_F(FailoverTest, NoCapacityCreatesAtTheNextCheapestProviderInTheSameReconcile) {
  const std::string name = pool_with_intent(R"([{"name": "fake"}, {"name": "other"}])");
  ASSERT_EQ(instance(name)->spec.offer.offer_id, "a");
  fake_->fail_next(FakeMethod::Create, provider_error(ProviderErrorKind::NoCapacity, "sold out"));
  const kube::ReconcileResult r = inst_rec_.reconcile({"default", name});
  ASSERT_FALSE(r.error) << *r.error;
  // Before any other reconcile: "a" refused, the machine bought on "c".
  EXPECT_TRUE(fake_->ledger().empty());
  ASSERT_EQ(other_->ledger().size(), 1u);
  EXPECT_EQ(other_->ledger()[0].machine.name, name);
  EXPECT_EQ(other_->calls(FakeMethod::Create), 1);
  EXPECT_TRUE(unavailable_.contains(planner::offer_key(offer("a", "1")), clock_.now()));
  auto moved = instance(name);
  ASSERT_TRUE(moved.has_value()) << "the same GpuInstance, moved: not deleted";
  EXPECT_EQ(moved->spec.offer.provider, "other");
  EXPECT_EQ(moved->spec.offer.offer_id, "c");
  EXPECT_EQ(moved->spec.offer.price_per_hour, usd("1.5"));
  EXPECT_EQ(moved->status.provider_id, other_->ledger()[0].machine.provider_id);
  EXPECT_EQ(moved->status.phase, api::InstancePhase::Provisioning);
  EXPECT_EQ(events_with("NoCapacity", "moved to offer"), 1);
  // And it converges on that one machine.
  clock_.advance(31s);
  converge();
  EXPECT_EQ(instances().size(), 1u);
  EXPECT_EQ(other_->live_count(), 1);
  EXPECT_EQ(fake_->live_count(), 0);
  EXPECT_EQ(pool()->status.replicas.ready, 1);
}

TEST_F(FailoverTest, WithNoOtherOfferTheRefusedInstanceIsDeletedForThePoolToReplan) {
  const std::string name = pool_with_intent(R"([{"name": "other"}])");
  ASSERT_EQ(instance(name)->spec.offer.offer_id, "c");
  other_->fail_next(FakeMethod::Create, provider_error(ProviderErrorKind::NoCapacity, "sold out"));
  const kube::ReconcileResult r = inst_rec_.reconcile({"default", name});
  ASSERT_FALSE(r.error) << *r.error;
  EXPECT_FALSE(instance(name).has_value() && !instance(name)->metadata.deletion_timestamp)
      << "deleted, as before failover";
  EXPECT_TRUE(other_->ledger().empty());
  EXPECT_TRUE(fake_->ledger().empty());
  Offer refused = offer("c", "1.5");
  refused.provider = "other";
  EXPECT_TRUE(unavailable_.contains(planner::offer_key(refused), clock_.now()));
  EXPECT_EQ(events_with("NoCapacity", "re-planning onto the next offer"), 1);
  EXPECT_EQ(events_with("NoCapacity", "moved to offer"), 0);
}

TEST_F(FailoverTest, AnOfferTheBudgetDoesNotAllowIsNotAFailoverTarget) {
  // $1.20/h: "a" fits, "c" ($1.50) does not.
  create_pool(1, R"({"providers": [{"name": "fake"}, {"name": "other"}],
                     "budget": {"maxUsdPerHour": "1.2"}})");
  refresh();
  (void)pool_rec_.reconcile({"default", "web"});
  refresh();
  ASSERT_EQ(instances().size(), 1u);
  const std::string name = instances()[0].metadata.name;
  fake_->fail_next(FakeMethod::Create, provider_error(ProviderErrorKind::NoCapacity, "sold out"));
  ASSERT_FALSE(inst_rec_.reconcile({"default", name}).error);
  EXPECT_TRUE(other_->ledger().empty());
  EXPECT_TRUE(fake_->ledger().empty());
  EXPECT_EQ(events_with("NoCapacity", "re-planning onto the next offer"), 1);
}

TEST_F(FailoverTest, ACrashAfterTheMoveBeforeTheCreateBuysOneMachineOnRestart) {
  const std::string name = pool_with_intent(R"([{"name": "fake"}, {"name": "other"}])");
  fake_->fail_next(FakeMethod::Create, provider_error(ProviderErrorKind::NoCapacity, "sold out"));
  // The pass stops after writing the move, before anything is created at
  // "other" (its create is refused before any effect), as a crash would.
  other_->fail_next(FakeMethod::Create, rate_limited("slow down", 5s));
  (void)inst_rec_.reconcile({"default", name});
  ASSERT_EQ(instance(name)->spec.offer.provider, "other");
  EXPECT_TRUE(instance(name)->status.provider_id.empty());
  EXPECT_TRUE(other_->ledger().empty());
  // A machine under this name at the provider it moved from (a create that
  // said NoCapacity never leaves one; planted here) is never adopted into
  // the moved intent: it is an orphan, ended after the grace.
  InstanceIntent stray;
  stray.name = name;
  stray.pool_uid = pool()->metadata.uid;
  stray.pool_namespace = "default";
  stray.pool_name = "web";
  stray.offer = offer("a", "1");
  const std::string stray_id = fake_->plant_orphan(stray);
  refresh();
  gc_.run_once();
  EXPECT_TRUE(instance(name)->status.provider_id.empty()) << "not adopted from \"fake\"";
  // A fresh process (no memory: the unavailable marks are gone too) resumes
  // from the object alone, and a create whose answer is lost is found again.
  UnavailableOffers fresh_marks;
  Context restarted{api_,   clock_,     registry_,  fresh_marks, events_,
                    pools_, instances_, providers_, {}};
  InstanceReconciler after_restart(restarted);
  refresh();
  other_->lose_next_create_answers();
  (void)after_restart.reconcile({"default", name});
  refresh();
  (void)after_restart.reconcile({"default", name});
  converge();
  EXPECT_EQ(other_->ledger().size(), 1u) << "no duplicate machine";
  EXPECT_EQ(instance(name)->status.provider_id, other_->ledger()[0].machine.provider_id);
  // Nothing is an orphan: the collector ends nothing.
  clock_.advance(10min);
  refresh();
  gc_.run_once();
  converge();
  EXPECT_EQ(other_->live_count(), 1);
  EXPECT_EQ(instances().size(), 1u);
  EXPECT_EQ(fake_->live_count(), 0) << "the stray machine " << stray_id << " was ended";
}

TEST_F(FailoverTest, OnceAMachineExistsTheOfferCannotChange) {
  const std::string name = pool_with_intent(R"([{"name": "fake"}, {"name": "other"}])");
  Json moved = *api_.get(kGpuInstances, "default", name);
  moved["spec"]["offer"]["offerId"] = "b";
  moved["spec"]["offer"]["pricePerHour"] = "2";
  auto before_machine = api_.update(kGpuInstances, moved);
  ASSERT_TRUE(before_machine.ok()) << before_machine.error().message;
  refresh();
  ASSERT_FALSE(inst_rec_.reconcile({"default", name}).error);
  Json again = *api_.get(kGpuInstances, "default", name);
  ASSERT_FALSE(again["status"].value("providerId", "").empty());
  again["spec"]["offer"]["offerId"] = "a";
  auto after_machine = api_.update(kGpuInstances, again);
  ASSERT_FALSE(after_machine.ok());
  EXPECT_THAT(after_machine.error().message,
              HasSubstr("spec.offer is immutable once a machine exists"));
}

TEST_F(ControllersTest,
       AMachineOnADearerOfferIsReplacedBeforeItsNextHourAndParkedOnceTheNewOneRuns) {
  const Time t0 = clock_.now();
  create_pool(1);
  fake_->fail_next(FakeMethod::Create, provider_error(ProviderErrorKind::NoCapacity, "sold out"));
  converge();
  clock_.advance(31s);
  converge();
  ASSERT_EQ(instances().size(), 1u);
  const std::string old = instances()[0].metadata.name;
  ASSERT_EQ(instances()[0].spec.offer.offer_id, "b");  // $2/h: "a" ($1/h) was sold out
  // Before the first hour ends "a" is still remembered as sold out: no attempt.
  clock_.advance(t0 + 55min - clock_.now());
  converge();
  EXPECT_EQ(fake_->ledger().size(), 1u);
  // Before the second hour ends it is not: a replacement on "a" is bought.
  clock_.advance(t0 + 1h + 52min - clock_.now());
  converge();
  ASSERT_EQ(fake_->ledger().size(), 2u);
  std::string repl;
  for (const auto& i : instances()) {
    if (i.metadata.name == old) continue;
    repl = i.metadata.name;
    EXPECT_EQ(i.spec.offer.offer_id, "a");
    EXPECT_EQ(i.metadata.annotations.at(decision::kReplacesAnnotation), old);
  }
  EXPECT_EQ(pool()->status.replicas.ready, 1);
  EXPECT_EQ(pool()->status.replicas.provisioning, 1);
  EXPECT_EQ(count_phase(api::InstancePhase::Parked), 0);  // the old one serves meanwhile
  // The replacement runs: the old machine is parked, kept to its boundary.
  clock_.advance(31s);
  converge();
  for (const auto& i : instances()) {
    EXPECT_EQ(i.status.phase,
              i.metadata.name == old ? api::InstancePhase::Parked : api::InstancePhase::Running)
        << i.metadata.name;
  }
  EXPECT_EQ(live_at_provider(), 2);
  clock_.advance(t0 + 2h - 30s - clock_.now());  // within the 60 s margin
  converge();
  EXPECT_EQ(live_at_provider(), 1);
  ASSERT_EQ(instances().size(), 1u);
  EXPECT_EQ(instances()[0].metadata.name, repl);
  // Two hours of $2 for the old machine, nothing more.
  EXPECT_EQ(pool()->status.terminated_spend, usd("4"));
  EXPECT_EQ(pool()->status.spend.accrued, fake_->total_billed(clock_.now()));
  // Steady again: nothing else is bought (the kept machine is the cheapest).
  clock_.advance(55min);
  converge();
  EXPECT_EQ(fake_->ledger().size(), 2u);
}

TEST_F(ControllersTest, AProvidersQuotaHoldsAcrossPools) {
  // Counted from the instance store's provider index, not by reading every
  // instance; deleting instances no longer count. (Pools reconciled on the
  // same stale cache can still overshoot together: the count is the cache's.)
  api::GpuProvider q;
  q.metadata.name = "q";
  q.spec.type = "fake";
  q.spec.quota.max_instances = 3;
  ASSERT_EQ(registry_.sync(q, {}), "");
  for (const char* name : {"web", "api"}) {
    Json pool = {{"apiVersion", "gpupool.io/v1alpha1"},
                 {"kind", "GpuPool"},
                 {"metadata", {{"name", name}, {"namespace", "default"}}},
                 {"spec",
                  {{"gpu", {{"models", {{{"name", "L40S"}}}}}},
                   {"replicas", {{"count", 2}}},
                   {"providers", {{{"name", "q"}}}}}}};
    ASSERT_TRUE(api_.create(kGpuPools, "default", pool).ok());
    converge();
  }
  EXPECT_EQ(instances().size(), 3u);
  EXPECT_EQ(instances_.index_counts(kIndexProviderGpus),
            (std::map<std::string, size_t>{{"q/1", 3}}));
  // One pool lets its machines go: the other takes the freed room.
  ASSERT_TRUE(api_.patch(kGpuPools, "default", "web", kube::PatchType::Merge,
                         {{"spec", {{"replicas", {{"count", 0}}}}}})
                  .ok());
  converge();
  clock_.advance(2h);
  converge(8);
  int web = 0, api = 0;
  for (const auto& i : instances())
    (i.spec.pool == "web" ? web : api) += 1;
  EXPECT_EQ(web, 0);
  EXPECT_EQ(api, 2);
  EXPECT_EQ(instances_.index_counts(kIndexProviderGpus),
            (std::map<std::string, size_t>{{"q/1", 2}}));
}

TEST_F(ControllersTest, LostCreateAnswersNeverBuyTwice) {
  create_pool(2);
  fake_->lose_next_create_answers(2);
  converge();
  EXPECT_EQ(fake_->ledger().size(), 2u);
  EXPECT_EQ(count_phase(api::InstancePhase::Provisioning), 2);
}

TEST_F(ControllersTest, DeletingThePoolEndsEveryMachineBeforeTheObjectsGo) {
  create_pool(3);
  converge();
  ASSERT_EQ(live_at_provider(), 3);
  fake_->fail_next(FakeMethod::Terminate, provider_error(ProviderErrorKind::Transient, "503"), 3);
  ASSERT_TRUE(api_.remove(kGpuPools, "default", "web").ok());
  converge(1);
  // The provider has not confirmed: nothing is gone from the API yet.
  EXPECT_TRUE(pool().has_value());
  converge(4);
  EXPECT_EQ(live_at_provider(), 0);
  EXPECT_FALSE(pool().has_value());
  EXPECT_TRUE(instances().empty());
}

TEST_F(ControllersTest, VanishedMachineIsReplaced) {
  create_pool(1);
  converge();
  clock_.advance(31s);
  converge();
  const std::string first = instances()[0].status.provider_id;
  fake_->vanish(first);
  converge();
  // A settled machine is watched through the provider's shared list, which
  // still shows it running: it is noticed at the next list, at most a list
  // period (30 s) later.
  EXPECT_EQ(instances()[0].status.provider_id, first);
  clock_.advance(30s);
  converge();
  const auto insts = instances();
  ASSERT_EQ(insts.size(), 1u);
  EXPECT_NE(insts[0].status.provider_id, first);
  EXPECT_EQ(live_at_provider(), 1);
}

// Issue 12: a restarted operator may reconcile an instance before its
// GpuProvider's first reconcile built the adapter; that is not news for the
// instance's status (it was a write and its undo on every restart). A
// GpuProvider that does not exist is still reported.
TEST_F(ControllersTest, AnInstanceWaitsQuietlyForAProviderNotBuiltYet) {
  create_pool(1);
  converge();
  clock_.advance(31s);
  converge();
  const auto inst = instances()[0];
  ASSERT_EQ(inst.status.phase, api::InstancePhase::Running);
  const auto version = [&] {
    return (*api_.get(kGpuInstances, "default", inst.metadata.name))["metadata"]["resourceVersion"]
        .get<std::string>();
  };
  const std::string before = version();
  registry_.remove("fake");  // as in a new process, before the provider's reconcile
  providers_.upsert(
      std::make_shared<const Json>(Json{{"apiVersion", "gpupool.io/v1alpha1"},
                                        {"kind", "GpuProvider"},
                                        {"metadata", {{"name", "fake"}, {"resourceVersion", "1"}}},
                                        {"spec", {{"type", "fake"}}}}));
  refresh();
  kube::ReconcileResult r = inst_rec_.reconcile({"default", inst.metadata.name});
  EXPECT_FALSE(r.error);
  EXPECT_EQ(r.requeue_after, kube::Millis{1000});
  EXPECT_EQ(version(), before);
  // Gone from the cache too: the instance says what it waits for.
  providers_.remove("fake");
  r = inst_rec_.reconcile({"default", inst.metadata.name});
  EXPECT_FALSE(r.error);
  EXPECT_NE(version(), before);
  EXPECT_EQ(instances()[0].status.message, "waiting for GpuProvider fake");
  // Back: the wait is over and says so (a running machine's message is
  // otherwise never rewritten, so it stayed for good).
  registry_.put("fake", fake_);
  refresh();
  r = inst_rec_.reconcile({"default", inst.metadata.name});
  EXPECT_FALSE(r.error);
  EXPECT_EQ(instances()[0].status.phase, api::InstancePhase::Running);
  EXPECT_EQ(instances()[0].status.message, "");
}

// Issue 12: at rest, settled machines cost the provider one list per list
// period between them, not a get each per poll.
TEST_F(ControllersTest, SettledMachinesAreWatchedThroughOneSharedListNotAGetEach) {
  create_pool(5);
  converge();
  clock_.advance(31s);
  converge();
  ASSERT_EQ(count_phase(api::InstancePhase::Running), 5);
  const int gets = fake_->calls(FakeMethod::Get);
  const int lists = fake_->calls(FakeMethod::List);
  for (int i = 0; i < 8; ++i) {  // two minutes of 15 s polls
    clock_.advance(15s);
    converge(1);
  }
  EXPECT_EQ(fake_->calls(FakeMethod::Get) - gets, 0);
  EXPECT_LE(fake_->calls(FakeMethod::List) - lists, 4);  // 120 s / 30 s
  EXPECT_GE(fake_->calls(FakeMethod::List) - lists, 3);
  EXPECT_EQ(count_phase(api::InstancePhase::Running), 5);
}

// Issue 12: a settled instance whose provider's list wakes it does not poll:
// its pass asks to come back only after the safety poll, at rest the
// collector's lists are the only provider calls and no instance runs, and a
// machine that vanishes wakes its instance from the next list, which marks
// it Failed (Vanished) at once.
TEST_F(ControllersTest, ASettledInstanceSleepsUntilTheNextListShowsItsMachineVanished) {
  std::set<std::string> woken;
  ctx_.machines->set_on_change(
      wake_instance_on_change(instances_, [&](const std::string& key) { woken.insert(key); }));
  create_running_pool(2);  // the last pass read the machines from the shared list
  // Each instance's next pass, as its queue would hold it.
  std::map<std::string, Time> due;
  auto pass = [&](const std::string& key) {
    const kube::ReconcileResult r = inst_rec_.reconcile(kube::split_key(key));
    ASSERT_FALSE(r.error) << *r.error;
    ASSERT_TRUE(r.requeue_after.has_value());
    due[key] = clock_.now() + duration_cast<seconds>(*r.requeue_after);
  };
  for (const auto& i : instances())
    pass("default/" + i.metadata.name);
  for (const auto& [key, when] : due)
    EXPECT_EQ(when - clock_.now(), duration_cast<seconds>(kSettledSafetyPoll)) << key;
  woken.clear();
  // Two minutes at rest: the collector lists every 15 s; no instance is due
  // or woken, so none runs and no get() is asked.
  const int gets = fake_->calls(FakeMethod::Get);
  const int lists = fake_->calls(FakeMethod::List);
  int passes = 0;
  auto run_due = [&] {
    refresh();
    std::set<std::string> keys = std::exchange(woken, {});
    for (const auto& [key, when] : due) {
      if (when <= clock_.now()) keys.insert(key);
    }
    for (const auto& key : keys) {
      pass(key);
      ++passes;
    }
  };
  for (int i = 0; i < 8; ++i) {
    clock_.advance(15s);
    gc_.run_once();
    run_due();
  }
  EXPECT_EQ(passes, 0);
  EXPECT_EQ(fake_->calls(FakeMethod::Get) - gets, 0);
  EXPECT_GE(fake_->calls(FakeMethod::List) - lists, 7);
  // One machine vanishes: the next list wakes its instance, and only it.
  const api::GpuInstance victim = instances()[0];
  fake_->vanish(victim.status.provider_id);
  clock_.advance(15s);
  gc_.run_once();
  EXPECT_EQ(woken, std::set<std::string>{"default/" + victim.metadata.name});
  run_due();
  EXPECT_EQ(passes, 1);
  for (const auto& i : instances()) {
    if (i.metadata.name != victim.metadata.name) {
      EXPECT_EQ(i.status.phase, api::InstancePhase::Running);
      continue;
    }
    EXPECT_EQ(i.status.phase, api::InstancePhase::Failed);
    EXPECT_EQ(i.status.reason, "Vanished");
  }
}

// The long poll is only for machines a waking list vouches for: with no
// change callback wired, or a machine read through get() (its provider's
// list fails), a settled instance still polls every 15 s.
TEST_F(ControllersTest, ASettledInstanceNoListWakesKeepsItsShortPoll) {
  create_running_pool(1);
  const std::string key = instances()[0].metadata.name;
  kube::ReconcileResult r = inst_rec_.reconcile({"default", key});
  ASSERT_FALSE(r.error) << *r.error;
  EXPECT_EQ(r.requeue_after, kube::Millis{15000}) << "no change callback";

  ctx_.machines->set_on_change(wake_instance_on_change(instances_, [](const std::string&) {}));
  r = inst_rec_.reconcile({"default", key});
  ASSERT_FALSE(r.error) << *r.error;
  EXPECT_EQ(r.requeue_after, kSettledSafetyPoll);

  clock_.advance(31s);  // the list is stale, and the next one fails
  fake_->fail_next(FakeMethod::List, ProviderError{ProviderErrorKind::Transient, "boom"}, 1);
  const int gets = fake_->calls(FakeMethod::Get);
  r = inst_rec_.reconcile({"default", key});
  ASSERT_FALSE(r.error) << *r.error;
  EXPECT_EQ(fake_->calls(FakeMethod::Get) - gets, 1) << "read through get()";
  EXPECT_EQ(r.requeue_after, kube::Millis{15000});
  EXPECT_EQ(count_phase(api::InstancePhase::Running), 1);
}

// A collector whose period is longer than the list period still has each
// provider listed every list period between its runs (refresh_lists), so
// settled instances' wake-ups keep coming.
TEST_F(ControllersTest, TheCollectorRefreshesStaleListsBetweenLongPeriods) {
  GarbageCollector slow_gc(ctx_, 120s);
  create_pool(1);
  converge();
  const int lists = fake_->calls(FakeMethod::List);
  slow_gc.refresh_lists();
  EXPECT_EQ(fake_->calls(FakeMethod::List) - lists, 1) << "no list yet";
  clock_.advance(ctx_.machines->max_age() - 1s);
  slow_gc.refresh_lists();
  EXPECT_EQ(fake_->calls(FakeMethod::List) - lists, 1) << "the shared list is fresh";
  clock_.advance(1s);
  slow_gc.refresh_lists();
  EXPECT_EQ(fake_->calls(FakeMethod::List) - lists, 2) << "a list period old";
  EXPECT_EQ(slow_gc.orphans_ended() + slow_gc.adopted(), 0u) << "refreshing decides nothing";
}

TEST_F(ControllersTest, OrphansAreEndedAfterTheGraceAndIntentsAreAdopted) {
  create_pool(1);
  converge(1);
  refresh();
  const Time planted = clock_.now();
  const std::string orphan_id = plant_pool_orphan();
  gc_.run_once();
  EXPECT_EQ(gc_.orphans_ended(), 0u);
  clock_.advance(31s);
  gc_.run_once();
  EXPECT_EQ(gc_.orphans_ended(), 1u);
  EXPECT_EQ(live_at_provider(), 1);
  // Its spend is charged to the pool whose tags it carries (issue 8).
  auto ledger = spend::parse_ledger(
      (*api_.get(kGpuPools, "default", "web"))["metadata"]["annotations"][spend::kLedgerAnnotation]
          .get<std::string>());
  ASSERT_TRUE(ledger.ok());
  EXPECT_TRUE(spend::was_folded(*ledger, "orphan/fake/" + orphan_id));
  api::GpuInstanceStatus bill;
  bill.launch_time = planted;
  bill.ended_at = clock_.now();
  bill.price_per_hour = usd("1");
  bill.billing = BillingRule{};
  EXPECT_EQ(ledger->total, spend::instance_spend(bill, Money{}, clock_.now()).accrued);
  EXPECT_GT(ledger->total, Money{});
  gc_.run_once();  // charged once
  EXPECT_EQ(
      spend::parse_ledger((*api_.get(kGpuPools, "default",
                                     "web"))["metadata"]["annotations"][spend::kLedgerAnnotation]
                              .get<std::string>())
          ->total,
      ledger->total);

  // An intent whose machine exists but whose status lost the provider id.
  const auto inst = instances()[0];
  Json j = *api_.get(kGpuInstances, "default", inst.metadata.name);
  j["status"].erase("providerId");
  kube::UpdateOptions uo;
  uo.subresource = "status";
  ASSERT_TRUE(api_.update(kGpuInstances, j, uo).ok());
  refresh();
  gc_.run_once();
  EXPECT_EQ(gc_.adopted(), 1u);
  EXPECT_EQ(instances()[0].status.provider_id, inst.status.provider_id);
}

// Issue 12: the collector reads the list the instances share instead of
// taking its own; at rest a provider sees one list per collector period
// (before: the collector's four a minute plus the instances' two), and an
// orphan is still ended after its grace.
TEST_F(ControllersTest, TheCollectorSharesTheInstancesListAndStillEndsOrphans) {
  create_pool(5);
  converge();
  clock_.advance(31s);
  converge();
  ASSERT_EQ(count_phase(api::InstancePhase::Running), 5);
  const std::string orphan_id = plant_pool_orphan();
  const int gets = fake_->calls(FakeMethod::Get);
  const int lists = fake_->calls(FakeMethod::List);
  for (int i = 0; i < 8; ++i) {  // two minutes: 15 s polls, the collector every 15 s
    clock_.advance(15s);
    converge(1);
    gc_.run_once();
  }
  EXPECT_EQ(fake_->calls(FakeMethod::Get) - gets, 0);
  EXPECT_LE(fake_->calls(FakeMethod::List) - lists, 8) << "one list per collector period";
  EXPECT_EQ(gc_.orphans_ended(), 1u);
  EXPECT_EQ(live_at_provider(), 5);
  EXPECT_EQ(count_phase(api::InstancePhase::Running), 5);
  for (const auto& m : fake_->ledger()) {
    EXPECT_EQ(m.ended.has_value(), m.machine.provider_id == orphan_id) << m.machine.name;
  }
}

// A failed list is no evidence: the collector ends nothing on it, and does
// not fall back to an older list.
TEST_F(ControllersTest, TheCollectorEndsNothingOnAFailedOrStaleList) {
  create_pool(1);
  converge(1);
  const std::string orphan_id = plant_pool_orphan();
  gc_.run_once();  // first sighting
  clock_.advance(31s);
  fake_->fail_next(FakeMethod::List, ProviderError{ProviderErrorKind::Transient, "boom"}, 100);
  for (int i = 0; i < 4; ++i) {
    gc_.run_once();
    clock_.advance(15s);
  }
  EXPECT_EQ(gc_.orphans_ended(), 0u) << "the only list it has is older than its period";
  EXPECT_EQ(live_at_provider(), 2);
  EXPECT_GE(ctx_.machines->failed_lists(), 1);
  fake_->fail_next(FakeMethod::List, ProviderError{ProviderErrorKind::Transient, "boom"}, 0);
  clock_.advance(31s);  // past the observer's back-off
  gc_.run_once();
  EXPECT_EQ(gc_.orphans_ended(), 1u);
  EXPECT_EQ(live_at_provider(), 1);
}

// A corrupt spend ledger must never be read as empty (that would reset
// month-to-date and bypass the monthly cap) nor overwritten (issue 8).
TEST_F(ControllersTest, CorruptLedgerStopsBuyingAndFoldingUntilRepaired) {
  create_pool(1);
  converge();
  clock_.advance(10min);
  const std::string garbage = "{not json";
  ASSERT_TRUE(api_.patch(kGpuPools, "default", "web", kube::PatchType::Merge,
                         {{"metadata", {{"annotations", {{spend::kLedgerAnnotation, garbage}}}}}})
                  .ok());
  patch_pool_spec({{"replicas", {{"count", 2}}}});
  converge();
  EXPECT_EQ(live_at_provider(), 1);  // nothing bought
  ASSERT_NE(condition("Degraded"), nullptr);
  EXPECT_EQ(condition("Degraded")->reason, "SpendLedgerCorrupt");
  // Ending the machine: it ends at the provider, but the instance and its
  // final spend wait for the ledger.
  const std::string name = instances()[0].metadata.name;
  ASSERT_TRUE(api_.remove(kGpuInstances, "default", name).ok());
  converge();
  EXPECT_EQ(live_at_provider(), 0);
  ASSERT_EQ(instances().size(), 1u);
  EXPECT_EQ(instances()[0].status.phase, api::InstancePhase::Terminated);
  EXPECT_EQ(
      (*api_.get(kGpuPools, "default", "web"))["metadata"]["annotations"][spend::kLedgerAnnotation],
      garbage);
  // Repaired: the fold happens, the instance goes, buying resumes.
  ASSERT_TRUE(api_.patch(kGpuPools, "default", "web", kube::PatchType::Merge,
                         {{"metadata", {{"annotations", {{spend::kLedgerAnnotation, "{}"}}}}}})
                  .ok());
  clock_.advance(61s);
  converge();
  auto ledger = spend::parse_ledger(
      (*api_.get(kGpuPools, "default", "web"))["metadata"]["annotations"][spend::kLedgerAnnotation]
          .get<std::string>());
  ASSERT_TRUE(ledger.ok());
  EXPECT_TRUE(spend::was_folded(*ledger, name));
  EXPECT_EQ(ledger->total, usd("1"));  // one started hour of offer "a"
  EXPECT_EQ(live_at_provider(), 2);
}

// A demand signal the test sets, standing in for Prometheus.
class ScriptedSignals final : public DemandSignals {
 public:
  autoscale::Signal read(const api::GpuPool&, size_t, Time) override {
    if (value) return {*value, ""};
    return {std::nullopt, "Prometheus at http://127.0.0.1:9: Connect: connection refused"};
  }
  std::optional<double> value;
};

std::vector<std::string> event_reasons(kube::KubeApi& api) {
  std::vector<std::string> out;
  auto list = api.list(kube::resources::kEvents, "default");
  if (!list.ok()) return out;
  for (const auto& e : list->items)
    out.push_back(e.value("reason", ""));
  return out;
}

TEST_F(ControllersTest, AutoscalingFollowsTheSignalUpAndDownThroughParking) {
  ScriptedSignals signals;
  ctx_.signals = &signals;
  signals.value = 25;  // 10 per replica -> 3
  create_pool(0, R"json({"replicas": {"min": 0, "max": 6},
                         "autoscaling": {"enabled": true, "scaleDownStabilizationSeconds": 60,
                                         "metrics": [{"type": "External", "target": 10,
                                                      "query": "sum(queue)"}]}})json");
  converge();
  EXPECT_EQ(live_at_provider(), 3);
  ASSERT_TRUE(pool()->status.autoscaling.has_value());
  EXPECT_EQ(pool()->status.autoscaling->desired, 3);
  EXPECT_EQ(pool()->status.replicas.desired, 3);
  EXPECT_THAT(pool()->status.autoscaling->reason, HasSubstr("External 25 / 10"));
  ASSERT_NE(condition("ScalingActive"), nullptr);
  EXPECT_EQ(condition("ScalingActive")->status, api::ConditionStatus::True);
  EXPECT_EQ(condition("ScalingActive")->reason, "ValidMetrics");
  clock_.advance(31s);
  converge();
  EXPECT_EQ(pool()->status.replicas.ready, 3);

  // Demand falls to one machine's worth: nothing for the stabilisation
  // window, then one machine per minute (the default step), parked, not
  // ended: their paid hours run on.
  signals.value = 8;
  clock_.advance(30s);
  converge();
  EXPECT_EQ(count_phase(api::InstancePhase::Parked), 0);
  EXPECT_EQ(pool()->status.autoscaling->clamped_by, "scaleDownStabilization");
  for (int i = 0; i < 4; ++i) {
    clock_.advance(31s);
    converge();
  }
  EXPECT_EQ(pool()->status.replicas.desired, 1);
  EXPECT_EQ(count_phase(api::InstancePhase::Parked), 2);
  EXPECT_EQ(live_at_provider(), 3);  // parked machines still run until their hour ends

  // Back up: the parked machines come back first; nothing new is bought.
  signals.value = 30;
  clock_.advance(5s);
  converge();
  EXPECT_EQ(count_phase(api::InstancePhase::Parked), 0);
  EXPECT_EQ(pool()->status.replicas.desired, 3);
  EXPECT_EQ(fake_->ledger().size(), 3u);
  const auto history = pool()->status.autoscaling->history;
  EXPECT_GE(history.size(), 3u);
  EXPECT_LE(history.size(), autoscale::kMaxHistory);

  // The signal fails: the count holds (never zero by accident) and the
  // pool says why, once.
  signals.value.reset();
  clock_.advance(61s);
  converge();
  EXPECT_EQ(pool()->status.replicas.desired, 3);
  EXPECT_EQ(live_at_provider(), 3);
  ASSERT_NE(condition("ScalingActive"), nullptr);
  EXPECT_EQ(condition("ScalingActive")->status, api::ConditionStatus::False);
  EXPECT_EQ(condition("ScalingActive")->reason, "FailedGetMetrics");
  EXPECT_THAT(condition("ScalingActive")->message, HasSubstr("connection refused"));
  const auto reasons = event_reasons(api_);
  EXPECT_EQ(std::count(reasons.begin(), reasons.end(), "FailedGetMetrics"), 1);
  EXPECT_GE(std::count(reasons.begin(), reasons.end(), "SuccessfulRescale"), 2);
}

TEST_F(ControllersTest, AnAutoscalingPoolAtRestIsNotRewritten) {
  ScriptedSignals signals;
  ctx_.signals = &signals;
  signals.value = 20;
  create_pool(0, R"({"replicas": {"min": 0, "max": 6},
                     "autoscaling": {"enabled": true,
                                     "metrics": [{"type": "External", "target": 10,
                                                  "query": "q"}]}})");
  converge();
  clock_.advance(31s);
  converge();
  const std::string rv = (*api_.get(kGpuPools, "default", "web"))["metadata"]["resourceVersion"];
  // Readings wobble within the tolerance band for a few minutes.
  for (int i = 0; i < 6; ++i) {
    signals.value = 19.5 + (i % 2);
    clock_.advance(30s);
    converge(2);
  }
  EXPECT_EQ((*api_.get(kGpuPools, "default", "web"))["metadata"]["resourceVersion"], rv);
}

TEST_F(ControllersTest, ScheduleWindowsRaiseTheCountAndUnreadableOnesAreReported) {
  ScriptedSignals signals;
  ctx_.signals = &signals;
  signals.value = 0;
  // The clock is 12:00 UTC: inside 08:00-20:00 UTC, outside 14:00-15:00 in
  // Berlin (13:00 there: UTC+1 in November).
  create_pool(0, R"json({"replicas": {"min": 0, "max": 6},
                         "autoscaling": {"enabled": true,
                                         "metrics": [{"type": "External", "target": 10,
                                                      "query": "q"}],
                                         "schedules": [
                                           {"start": "0 8 * * *", "end": "0 20 * * *",
                                            "minReplicas": 2},
                                           {"start": "0 14 * * *", "end": "0 15 * * *",
                                            "timeZone": "Europe/Berlin", "minReplicas": 5},
                                           {"start": "0 0 * * *", "end": "0 23 * * *",
                                            "timeZone": "Mars/Olympus_Mons",
                                            "minReplicas": 4}]}})json");
  converge();
  EXPECT_EQ(pool()->status.replicas.desired, 2);
  EXPECT_EQ(pool()->status.autoscaling->schedule_min, 2);
  EXPECT_EQ(pool()->status.autoscaling->clamped_by, "schedule");
  EXPECT_EQ(live_at_provider(), 2);
  ASSERT_NE(condition("ScalingActive"), nullptr);
  EXPECT_EQ(condition("ScalingActive")->reason, "SomeMetricsFailing");
  EXPECT_THAT(condition("ScalingActive")->message, HasSubstr("schedules[2]"));
  EXPECT_THAT(condition("ScalingActive")->message, HasSubstr("Mars/Olympus_Mons"));
  // 13:30 UTC is 14:30 in Berlin: the second window is open.
  clock_.advance(90min);
  converge();
  EXPECT_EQ(pool()->status.replicas.desired, 5);
}

TEST_F(ControllersTest, PendingPodsThatFitThePoolsNodesDriveItsSize) {
  auto pod = [&](const std::string& name, int gpus, const Json& selector, bool scheduled) {
    Json p = {{"apiVersion", "v1"},
              {"kind", "Pod"},
              {"metadata", {{"name", name}, {"namespace", "default"}}},
              {"spec",
               {{"nodeSelector", selector},
                {"containers",
                 {{{"name", "main"},
                   {"image", "vllm"},
                   {"resources", {{"limits", {{"nvidia.com/gpu", std::to_string(gpus)}}}}}}}}}}};
    auto r = api_.create(kube::resources::kPods, "default", p);
    ASSERT_TRUE(r.ok()) << r.error().message;
    Json st = *r;
    st["status"] = {{"phase", "Pending"}};
    if (!scheduled) {
      st["status"]["conditions"] = {
          {{"type", "PodScheduled"}, {"status", "False"}, {"reason", "Unschedulable"}}};
    }
    kube::UpdateOptions uo;
    uo.subresource = "status";
    ASSERT_TRUE(api_.update(kube::resources::kPods, st, uo).ok());
  };
  pod("wants-web", 3, {{"gpupool.io/pool", "web"}}, false);
  pod("wants-other", 4, {{"gpupool.io/pool", "other"}}, false);
  pod("not-tried-yet", 2, {{"gpupool.io/pool", "web"}}, true);
  create_pool(0, R"json({"replicas": {"min": 0, "max": 6},
                         "autoscaling": {"enabled": true,
                                         "metrics": [{"type": "PendingPods", "target": 1}]}})json");
  converge();
  EXPECT_EQ(pool()->status.replicas.desired, 3);
  ASSERT_EQ(pool()->status.autoscaling->metrics.size(), 1u);
  EXPECT_EQ(pool()->status.autoscaling->metrics[0].value, 3.0);
  EXPECT_EQ(condition("ScalingActive")->reason, "ValidMetrics");
}

// A kubelet registering: a Node labelled for `instance`, Ready, with GPUs.
void register_node(kube::KubeApi& api, const std::string& node, const std::string& instance,
                   bool ready = true) {
  Json n = {{"apiVersion", "v1"},
            {"kind", "Node"},
            {"metadata", {{"name", node}, {"labels", {{kLabelInstance, instance}}}}},
            {"spec", {{"providerID", "fake://" + node}}}};
  auto r = api.create(kube::resources::kNodes, "", n);
  ASSERT_TRUE(r.ok()) << r.error().message;
  Json st = *r;
  st["status"] = {{"capacity", {{"nvidia.com/gpu", "1"}, {"cpu", "16"}}},
                  {"conditions", {{{"type", "Ready"}, {"status", ready ? "True" : "False"}}}}};
  kube::UpdateOptions uo;
  uo.subresource = "status";
  ASSERT_TRUE(api.update(kube::resources::kNodes, st, uo).ok());
}

constexpr const char* kBootstrapped = R"json({"usage": {"mode": "Node", "node": {
    "bootstrapScript": "#!/bin/sh\nk3s agent",
    "labels": {"team": "search"}, "taints": ["dedicated=gpu:NoSchedule"],
    "registrationTimeoutSeconds": 600}}})json";

TEST_F(ControllersTest, ABootstrappedMachineIsReadyOnlyOnceItsNodeRegisters) {
  create_pool(1, kBootstrapped);
  converge();
  clock_.advance(31s);
  converge();
  ASSERT_EQ(instances().size(), 1u);
  const std::string name = instances()[0].metadata.name;
  EXPECT_EQ(instances()[0].status.phase, api::InstancePhase::Running);
  EXPECT_THAT(instances()[0].status.message, HasSubstr("no Node has registered"));
  EXPECT_EQ(pool()->status.replicas.ready, 0);
  EXPECT_EQ(condition("Ready")->status, api::ConditionStatus::False);

  // A Node that is not Ready yet does not count.
  register_node(api_, "gpu-node-1", name, /*ready=*/false);
  converge();
  EXPECT_EQ(instances()[0].status.phase, api::InstancePhase::Running);
  EXPECT_THAT(instances()[0].status.message, HasSubstr("is not Ready"));

  // Ready with GPUs: the instance is Ready, the Node carries the pool's
  // labels and taints.
  ASSERT_TRUE(api_.remove(kube::resources::kNodes, "", "gpu-node-1").ok());
  register_node(api_, "gpu-node-1", name);
  converge();
  EXPECT_EQ(instances()[0].status.phase, api::InstancePhase::Ready);
  EXPECT_EQ(instances()[0].status.node_name, "gpu-node-1");
  EXPECT_EQ(pool()->status.replicas.ready, 1);
  EXPECT_EQ(condition("Ready")->status, api::ConditionStatus::True);
  Json node = *api_.get(kube::resources::kNodes, "", "gpu-node-1");
  EXPECT_EQ(node["metadata"]["labels"]["team"], "search");
  EXPECT_EQ(node["metadata"]["labels"][decision::kLabelPool], "web");
  ASSERT_EQ(node["spec"]["taints"].size(), 1u);
  EXPECT_EQ(node["spec"]["taints"][0]["key"], "dedicated");
  EXPECT_EQ(node["spec"]["taints"][0]["effect"], "NoSchedule");
  EXPECT_FALSE(node["spec"].value("unschedulable", false));

  // Parked: cordoned, not drained or deleted; taken back: uncordoned.
  patch_pool_spec({{"replicas", {{"count", 0}}}});
  converge();
  EXPECT_EQ(instances()[0].status.phase, api::InstancePhase::Parked);
  EXPECT_TRUE((*api_.get(kube::resources::kNodes, "", "gpu-node-1"))["spec"]["unschedulable"]);
  patch_pool_spec({{"replicas", {{"count", 1}}}});
  converge();
  EXPECT_EQ(instances()[0].status.phase, api::InstancePhase::Ready);
  EXPECT_FALSE((*api_.get(kube::resources::kNodes, "", "gpu-node-1"))["spec"]["unschedulable"]);

  // Ended: the Node object goes with the machine.
  patch_pool_spec({{"replicas", {{"count", 0}}}});
  converge();
  clock_.advance(59min);  // launched 12:00:00, parked at 12:00:31, ends 60 s before 13:00
  converge();
  EXPECT_EQ(live_at_provider(), 0);
  EXPECT_TRUE(instances().empty());
  auto gone = api_.get(kube::resources::kNodes, "", "gpu-node-1");
  ASSERT_FALSE(gone.ok());
  EXPECT_EQ(gone.error().kind, kube::ErrorKind::NotFound);
}

TEST_F(ControllersTest, AMachineWhoseNodeNeverRegistersIsEndedAndReplaced) {
  create_pool(1, kBootstrapped);
  converge();
  clock_.advance(31s);
  converge();
  const std::string first = instances()[0].metadata.name;
  clock_.advance(9min);
  converge();
  EXPECT_EQ(instances()[0].status.phase, api::InstancePhase::Running);  // within the timeout
  clock_.advance(61s);
  converge();
  // Failed past the timeout, ended, and a replacement bought.
  EXPECT_EQ(fake_->ledger().size(), 2u);
  const auto reasons = event_reasons(api_);
  EXPECT_EQ(std::count(reasons.begin(), reasons.end(), "RegistrationTimeout"), 1);
  // Counted once (the metric), with status.reason saying why.
  EXPECT_THAT(failures_, ::testing::ElementsAre(first + " RegistrationTimeout"));
  for (const auto& i : instances())
    EXPECT_NE(i.metadata.name, first);
  EXPECT_EQ(live_at_provider(), 1);
}

// ---- Endpoint mode (issue 13): address, HTTP health checks, env from Secrets.

// The fake provider plus what a container provider reports: a running
// machine's public address and port (the in-process fake does not report
// them), and every intent it was asked to create.
class AddressingProvider final : public Provider {
 public:
  explicit AddressingProvider(std::shared_ptr<FakeProvider> p) : p_(std::move(p)) {}
  const std::string& name() const override { return p_->name(); }
  std::string_view type() const override { return p_->type(); }
  UserDataSupport user_data_support() const override { return p_->user_data_support(); }
  ProviderResult<std::vector<Offer>> offers(const OfferQuery& q) override { return p_->offers(q); }
  ProviderResult<Machine> create(const InstanceIntent& i) override {
    intents.push_back(i);
    return with_address(p_->create(i));
  }
  ProviderResult<Machine> get(std::string_view uid, std::string_view name) override {
    return with_address(p_->get(uid, name));
  }
  ProviderResult<std::vector<Machine>> list(const MachineFilter& f) override {
    auto l = p_->list(f);
    if (l.ok()) {
      for (auto& m : *l)
        m = *with_address(m);
    }
    return l;
  }
  ProviderStatus terminate(std::string_view id) override { return p_->terminate(id); }

  std::string address = "203.0.113.7";
  int port = 31000;
  std::vector<InstanceIntent> intents;

 private:
  ProviderResult<Machine> with_address(ProviderResult<Machine> m) const {
    if (m.ok() && m->state == MachineState::Running) {
      m->public_address = address;
      m->public_port = port;
    }
    return m;
  }
  std::shared_ptr<FakeProvider> p_;
};

// Answers every health check with `answer`, and keeps the URLs asked.
class ScriptedProber final : public EndpointProber {
 public:
  health::Probe probe(const std::string& url, Duration timeout) override {
    urls.push_back(url);
    timeouts.push_back(timeout);
    return answer;
  }
  health::Probe answer{true, "HTTP 200"};
  std::vector<std::string> urls;
  std::vector<Duration> timeouts;
};

Json endpoint_usage(const Json& extra = Json::object()) {
  Json ep = {{"image", "vllm/vllm-openai:v0.6.3"},
             {"port", 8000},
             {"args", {"--model", "llama"}},
             {"healthPath", "/health"},
             {"healthCheck",
              {{"periodSeconds", 10},
               {"timeoutSeconds", 3},
               {"failureThreshold", 3},
               {"successThreshold", 2},
               {"startupTimeoutSeconds", 300}}}};
  ep.merge_patch(extra);
  return {{"usage", {{"mode", "Endpoint"}, {"endpoint", ep}}}};
}

class EndpointTest : public ControllersTest {
 protected:
  EndpointTest() {
    addressing_ = std::make_shared<AddressingProvider>(fake_);
    registry_.put("fake", addressing_);
    ctx_.prober = &prober_;
  }
  // Boots the pool's one machine (the fake boots in 30 s) and steps the
  // clock one probe period at a time until it is Ready.
  void until_ready() {
    for (int i = 0; i < 10 && count_phase(api::InstancePhase::Ready) == 0; ++i) {
      clock_.advance(10s);
      converge();
    }
    ASSERT_EQ(count_phase(api::InstancePhase::Ready), 1);
  }
  const api::Condition* instance_condition(const std::string& type) {
    inst_cache_ = instances().at(0);
    return decision::find_condition(inst_cache_.status.conditions, type);
  }

  std::shared_ptr<AddressingProvider> addressing_;
  ScriptedProber prober_;
  api::GpuInstance inst_cache_;
};

TEST_F(EndpointTest, AMachineIsReadyOnlyAfterItsHealthCheckAnswers2xxSuccessThresholdTimes) {
  create_pool(1, endpoint_usage().dump());
  prober_.answer = {false, "HTTP 503"};
  converge();
  clock_.advance(31s);
  converge();
  ASSERT_EQ(instances().size(), 1u);
  api::GpuInstance i = instances()[0];
  EXPECT_EQ(i.status.phase, api::InstancePhase::Running);
  EXPECT_EQ(i.status.address, "203.0.113.7");
  EXPECT_EQ(i.status.port, 31000);
  EXPECT_EQ(i.status.endpoint, "http://203.0.113.7:31000");
  ASSERT_EQ(prober_.urls.size(), 1u);  // four reconciles, one probe per period
  EXPECT_EQ(prober_.urls[0], "http://203.0.113.7:31000/health");
  EXPECT_EQ(prober_.timeouts[0], 3s);
  EXPECT_THAT(i.status.message, HasSubstr("HTTP 503"));
  // Running but not healthy counts as provisioning, and nothing more is bought.
  EXPECT_EQ(pool()->status.replicas.ready, 0);
  EXPECT_EQ(pool()->status.replicas.provisioning, 1);
  EXPECT_EQ(condition("Ready")->status, api::ConditionStatus::False);

  prober_.answer = {true, "HTTP 200"};
  clock_.advance(10s);
  converge();
  EXPECT_EQ(instances()[0].status.phase, api::InstancePhase::Running);  // 1 of 2
  clock_.advance(10s);
  converge();
  i = instances()[0];
  EXPECT_EQ(i.status.phase, api::InstancePhase::Ready);
  ASSERT_TRUE(i.status.health.has_value());
  EXPECT_EQ(i.status.health->consecutive_successes, 2);
  EXPECT_TRUE(i.status.health->first_healthy_time.has_value());
  ASSERT_NE(instance_condition("Healthy"), nullptr);
  EXPECT_EQ(instance_condition("Healthy")->status, api::ConditionStatus::True);
  EXPECT_EQ(pool()->status.replicas.ready, 1);
  EXPECT_EQ(condition("Ready")->status, api::ConditionStatus::True);
  EXPECT_EQ(fake_->ledger().size(), 1u);

  // Steady and healthy: probed every period, never rewritten.
  const std::string rv = i.metadata.resource_version;
  const size_t probes = prober_.urls.size();
  for (int k = 0; k < 5; ++k) {
    clock_.advance(10s);
    converge();
  }
  EXPECT_EQ(prober_.urls.size(), probes + 5);
  EXPECT_EQ(instances()[0].metadata.resource_version, rv);
}

TEST_F(EndpointTest,
       AReadyMachineThatFailsGoesBackToRunningWithHealthyFalseAndAnEventThenRecovers) {
  // unhealthyTimeoutSeconds 0: it is never given up on, however long it fails.
  create_pool(1, endpoint_usage({{"healthCheck", {{"unhealthyTimeoutSeconds", 0}}}}).dump());
  converge();
  clock_.advance(21s);
  until_ready();

  prober_.answer = {false, "connect: connection refused"};
  for (int k = 0; k < 2; ++k) {
    clock_.advance(10s);
    converge();
  }
  EXPECT_EQ(instances()[0].status.phase, api::InstancePhase::Ready);  // 2 of 3 failures
  clock_.advance(10s);
  converge();
  const api::GpuInstance i = instances()[0];
  EXPECT_EQ(i.status.phase, api::InstancePhase::Running);
  ASSERT_NE(instance_condition("Healthy"), nullptr);
  EXPECT_EQ(instance_condition("Healthy")->status, api::ConditionStatus::False);
  EXPECT_EQ(instance_condition("Healthy")->reason, "ProbeFailed");
  EXPECT_THAT(instance_condition("Healthy")->message, HasSubstr("connection refused"));
  const auto reasons = event_reasons(api_);
  EXPECT_EQ(std::count(reasons.begin(), reasons.end(), "Unhealthy"), 1);
  EXPECT_EQ(pool()->status.replicas.ready, 0);
  EXPECT_EQ(fake_->ledger().size(), 1u);  // not replaced: it may recover

  // Still failing much later: not timed out (it was healthy once, and the
  // unhealthy timeout is off).
  clock_.advance(20min);
  converge();
  EXPECT_EQ(instances()[0].status.phase, api::InstancePhase::Running);
  EXPECT_EQ(fake_->ledger().size(), 1u);

  prober_.answer = {true, "HTTP 204"};
  clock_.advance(10s);
  converge();
  clock_.advance(10s);
  converge();
  EXPECT_EQ(instances()[0].status.phase, api::InstancePhase::Ready);
  EXPECT_EQ(instance_condition("Healthy")->status, api::ConditionStatus::True);
  EXPECT_EQ(pool()->status.replicas.ready, 1);
}

TEST_F(EndpointTest, AMachineThatServedAndThenFailsIsReplacedAfterTheUnhealthyTimeout) {
  create_pool(1, endpoint_usage({{"healthCheck", {{"unhealthyTimeoutSeconds", 120}}}}).dump());
  converge();
  clock_.advance(21s);
  until_ready();
  const std::string first = instances()[0].metadata.name;
  prober_.answer = {false, "HTTP 502"};
  for (int k = 0; k < 3; ++k) {
    clock_.advance(10s);
    converge();
  }
  ASSERT_EQ(instances()[0].status.phase, api::InstancePhase::Running);  // out of service
  for (int k = 0; k < 11; ++k) {                                        // 110 s of 120
    clock_.advance(10s);
    converge();
  }
  EXPECT_EQ(instances()[0].status.phase, api::InstancePhase::Running);
  EXPECT_EQ(fake_->ledger().size(), 1u);
  clock_.advance(10s);
  converge();
  // Given up on: ended, and a replacement bought.
  EXPECT_EQ(fake_->ledger().size(), 2u);
  EXPECT_EQ(live_at_provider(), 1);
  for (const auto& i : instances())
    EXPECT_NE(i.metadata.name, first);
  const auto reasons = event_reasons(api_);
  EXPECT_EQ(std::count(reasons.begin(), reasons.end(), "UnhealthyTimeout"), 1);
  EXPECT_THAT(failures_, ::testing::ElementsAre(first + " UnhealthyTimeout"));
}

TEST_F(EndpointTest, AMachineNeverHealthyIsEndedAndReplacedAtTheStartupTimeout) {
  create_pool(1, endpoint_usage().dump());
  prober_.answer = {false, "HTTP 500"};
  converge();
  const std::string first = instances()[0].metadata.name;
  clock_.advance(31s);
  converge();
  clock_.advance(4min + 19s);  // 12:04:50, within the 300 s
  converge();
  EXPECT_EQ(instances()[0].status.phase, api::InstancePhase::Running);
  EXPECT_EQ(fake_->ledger().size(), 1u);
  clock_.advance(11s);
  converge();
  EXPECT_EQ(fake_->ledger().size(), 2u);
  const auto reasons = event_reasons(api_);
  EXPECT_EQ(std::count(reasons.begin(), reasons.end(), "StartupTimeout"), 1);
  EXPECT_THAT(failures_, ::testing::ElementsAre(first + " StartupTimeout"));
  for (const auto& i : instances())
    EXPECT_NE(i.metadata.name, first);
  EXPECT_EQ(live_at_provider(), 1);
}

Json env_secret(const Json& data) {
  Json encoded = Json::object();
  for (auto it = data.begin(); it != data.end(); ++it)
    encoded[it.key()] = net::base64_encode(it.value().get<std::string>());
  return {{"apiVersion", "v1"},
          {"kind", "Secret"},
          {"metadata", {{"name", "hf"}, {"namespace", "default"}}},
          {"data", encoded}};
}

TEST_F(EndpointTest, ThePoolsContainerDiskReachesTheProvider) {
  create_pool(1, endpoint_usage({{"diskGb", 120}}).dump());
  converge();
  ASSERT_EQ(fake_->ledger().size(), 1u);
  ASSERT_FALSE(addressing_->intents.empty());
  EXPECT_EQ(addressing_->intents.back().container.disk_gb, 120);
  EXPECT_EQ(fake_->ledger()[0].container.disk_gb, 120);
}

TEST_F(EndpointTest, EnvFromASecretReachesTheProviderAndAMissingSecretHoldsTheCreate) {
  create_pool(1, endpoint_usage(
                     {{"env",
                       {{{"name", "MODEL"}, {"value", "llama"}},
                        {{"name", "HF_TOKEN"},
                         {"valueFrom", {{"secretKeyRef", {{"name", "hf"}, {"key", "token"}}}}}}}}})
                     .dump());
  converge();
  ASSERT_EQ(instances().size(), 1u);
  EXPECT_EQ(fake_->ledger().size(), 0u);  // nothing bought
  EXPECT_EQ(instances()[0].status.phase, api::InstancePhase::Pending);
  EXPECT_THAT(instances()[0].status.message,
              HasSubstr("env HF_TOKEN: Secret default/hf does not exist"));
  ASSERT_NE(instance_condition("EnvResolved"), nullptr);
  EXPECT_EQ(instance_condition("EnvResolved")->reason, "SecretNotFound");
  auto reasons = event_reasons(api_);
  EXPECT_EQ(std::count(reasons.begin(), reasons.end(), "SecretNotFound"), 1);  // once, not per pass

  // The Secret without the key: still nothing bought, and the message says so.
  ASSERT_TRUE(api_.create(kube::resources::kSecrets, "default", env_secret({{"other", "x"}})).ok());
  converge();
  EXPECT_EQ(fake_->ledger().size(), 0u);
  EXPECT_THAT(instances()[0].status.message, HasSubstr("has no key \"token\""));
  EXPECT_EQ(instance_condition("EnvResolved")->reason, "SecretKeyNotFound");

  Json fixed = *api_.get(kube::resources::kSecrets, "default", "hf");
  fixed["data"]["token"] = net::base64_encode("hf_s3cr3t_value");
  ASSERT_TRUE(api_.update(kube::resources::kSecrets, fixed).ok());
  clock_.advance(31s);  // the held create is retried after 30 s
  converge();
  ASSERT_EQ(fake_->ledger().size(), 1u);
  ASSERT_FALSE(addressing_->intents.empty());
  const ContainerSpec& c = addressing_->intents.back().container;
  EXPECT_EQ(c.image, "vllm/vllm-openai:v0.6.3");
  EXPECT_EQ(c.port, 8000);
  EXPECT_THAT(c.args, ::testing::ElementsAre("--model", "llama"));
  EXPECT_EQ(c.env.at("MODEL"), "llama");
  EXPECT_EQ(c.env.at("HF_TOKEN"), "hf_s3cr3t_value");
  EXPECT_EQ(c.disk_gb, 0);  // no diskGb: the provider's own setting
  EXPECT_EQ(instance_condition("EnvResolved")->status, api::ConditionStatus::True);
  EXPECT_EQ(instances()[0].status.message, "");

  // The value is nowhere but in the provider's intent.
  auto events = api_.list(kube::resources::kEvents, "default");
  ASSERT_TRUE(events.ok());
  for (const auto& e : events->items)
    EXPECT_THAT(e.dump(), Not(HasSubstr("hf_s3cr3t_value")));
  auto objs = api_.list(kGpuInstances, "default");
  for (const auto& o : objs->items)
    EXPECT_THAT(o.dump(), Not(HasSubstr("hf_s3cr3t_value")));
}

// ---- Bootstrap (issue 13): the template rendered per instance with a token.

constexpr const char* kJoinTemplate =
    "#!/bin/sh\nk3s agent --token {{ token | raw }} --node-name {{ instance.name | shell }} "
    "--node-label {{ node.labels | shell }} --node-taint {{ node.taints | shell }}\n";

std::vector<Json> bootstrap_tokens(kube::KubeApi& api) {
  auto list = api.list(kube::resources::kSecrets, kBootstrapTokenNamespace);
  return list.ok() ? list->items : std::vector<Json>{};
}

std::string secret_field(const Json& secret, const std::string& key) {
  return net::base64_decode(secret["data"][key].get<std::string>()).value_or("<not base64>");
}

Json template_secret(const std::string& text) {
  return {{"apiVersion", "v1"},
          {"kind", "Secret"},
          {"metadata", {{"name", "join"}, {"namespace", "default"}}},
          {"data", {{"script", net::base64_encode(text)}}}};
}

Json bootstrapped_with(const Json& node) {
  Json n = {{"labels", {{"team", "search"}}},
            {"taints", {"dedicated=gpu:NoSchedule"}},
            {"registrationTimeoutSeconds", 600}};
  n.merge_patch(node);
  return {{"usage", {{"mode", "Node"}, {"node", n}}}};
}

TEST_F(ControllersTest, TheProviderGetsTheTemplateRenderedWithThisInstancesNameAndToken) {
  create_pool(1, bootstrapped_with({{"bootstrapScript", kJoinTemplate}}).dump());
  converge();
  ASSERT_EQ(instances().size(), 1u);
  const api::GpuInstance inst = instances()[0];
  ASSERT_EQ(fake_->ledger().size(), 1u);

  // One kubeadm-format token, made before the machine was bought.
  auto tokens = bootstrap_tokens(api_);
  ASSERT_EQ(tokens.size(), 1u);
  const Json& t = tokens[0];
  EXPECT_EQ(t["type"], "bootstrap.kubernetes.io/token");
  const std::string id = secret_field(t, "token-id");
  const std::string secret = secret_field(t, "token-secret");
  EXPECT_THAT(id, ::testing::MatchesRegex("[a-z0-9]{6}"));
  EXPECT_THAT(secret, ::testing::MatchesRegex("[a-z0-9]{16}"));
  EXPECT_EQ(t["metadata"]["name"], "bootstrap-token-" + id);
  EXPECT_EQ(secret_field(t, "usage-bootstrap-authentication"), "true");
  EXPECT_EQ(secret_field(t, "usage-bootstrap-signing"), "true");
  EXPECT_EQ(secret_field(t, "auth-extra-groups"), "system:bootstrappers:gpupool");
  EXPECT_EQ(secret_field(t, "expiration"), format_rfc3339(clock_.now() + 600s));
  EXPECT_EQ(t["metadata"]["labels"][kLabelInstance], inst.metadata.name);
  EXPECT_EQ(inst.status.bootstrap_token_secret, "bootstrap-token-" + id);

  // The user data is the template rendered for this instance.
  EXPECT_EQ(fake_->ledger()[0].user_data,
            "#!/bin/sh\nk3s agent --token " + id + "." + secret + " --node-name '" +
                inst.metadata.name + "' --node-label 'gpupool.io/instance=" + inst.metadata.name +
                ",gpupool.io/pool=web,team=search' --node-taint 'dedicated=gpu:NoSchedule'\n");
  EXPECT_EQ(condition("BootstrapReady")->status, api::ConditionStatus::True);

  // Its Node registers: the token is no longer needed, and goes.
  clock_.advance(31s);
  converge();
  register_node(api_, "gpu-node-1", inst.metadata.name);
  converge();
  EXPECT_EQ(instances()[0].status.phase, api::InstancePhase::Ready);
  EXPECT_TRUE(bootstrap_tokens(api_).empty());
  EXPECT_EQ(instances()[0].status.bootstrap_token_secret, "");
}

TEST_F(ControllersTest, ATokenMadeBeforeALostCreateIsUsedAgainNotMadeTwice) {
  create_pool(1, bootstrapped_with({{"bootstrapScript", kJoinTemplate}}).dump());
  fake_->fail_next(FakeMethod::Create, provider_error(ProviderErrorKind::Transient, "timeout"));
  converge(1);
  EXPECT_EQ(fake_->ledger().size(), 0u);
  ASSERT_EQ(bootstrap_tokens(api_).size(), 1u);  // made, but not yet in the status
  const Json first = bootstrap_tokens(api_)[0];
  converge();
  ASSERT_EQ(fake_->ledger().size(), 1u);
  ASSERT_EQ(bootstrap_tokens(api_).size(), 1u);
  EXPECT_EQ(bootstrap_tokens(api_)[0]["metadata"]["name"], first["metadata"]["name"]);
  EXPECT_THAT(fake_->ledger()[0].user_data,
              HasSubstr("--token " + secret_field(first, "token-id") + "." +
                        secret_field(first, "token-secret") + " "));

  // The instance ends before its Node registers: its token goes with it.
  patch_pool_spec({{"replicas", {{"count", 0}}}});
  converge();
  EXPECT_EQ(bootstrap_tokens(api_).size(), 1u);  // parked: it may still register when taken back
  clock_.advance(59min);                         // launched 12:00:00, ends 60 s before 13:00
  converge();
  EXPECT_TRUE(instances().empty());
  EXPECT_TRUE(bootstrap_tokens(api_).empty());
}

TEST_F(ControllersTest, ATemplateSecretThatIsMissingOrWrongBuysNothingUntilItIsFixed) {
  create_pool(
      1, bootstrapped_with({{"bootstrapSecretRef", {{"name", "join"}, {"key", "script"}}}}).dump());
  converge();
  EXPECT_TRUE(instances().empty());
  EXPECT_EQ(fake_->ledger().size(), 0u);
  ASSERT_NE(condition("Degraded"), nullptr);
  EXPECT_EQ(condition("Degraded")->reason, "BootstrapInvalid");
  EXPECT_THAT(condition("BootstrapReady")->message,
              HasSubstr("Secret default/join does not exist"));

  // A template with an unknown variable: its line and column are named.
  ASSERT_TRUE(api_.create(kube::resources::kSecrets, "default",
                          template_secret("#!/bin/sh\n{{ tokn | raw }}"))
                  .ok());
  converge();
  EXPECT_TRUE(instances().empty());
  EXPECT_THAT(condition("BootstrapReady")->message,
              HasSubstr("line 2, column 1: unknown variable \"tokn\""));
  const auto reasons = event_reasons(api_);
  EXPECT_GE(std::count(reasons.begin(), reasons.end(), "BootstrapInvalid"), 1);

  // Fixed: bought, with the Secret's template rendered.
  Json fixed = *api_.get(kube::resources::kSecrets, "default", "join");
  fixed["data"]["script"] =
      net::base64_encode("#cloud-config\nhostname: {{ instance.name | yaml }}\n");
  ASSERT_TRUE(api_.update(kube::resources::kSecrets, fixed).ok());
  converge();
  ASSERT_EQ(fake_->ledger().size(), 1u);
  EXPECT_EQ(fake_->ledger()[0].user_data,
            "#cloud-config\nhostname: \"" + instances()[0].metadata.name + "\"\n");
  EXPECT_EQ(condition("Degraded")->status, api::ConditionStatus::False);
  EXPECT_EQ(condition("BootstrapReady")->status, api::ConditionStatus::True);
}

TEST_F(ControllersTest, ProvidersThatCannotRunTheBootstrapAreNotPlannedAndTheConditionNamesThem) {
  FakeProviderOptions opts;
  opts.name = "nodata";
  opts.offers = {{offer("cheap", "0.10"), -1}};
  opts.user_data = UserDataSupport::None;
  auto nodata = std::make_shared<FakeProvider>(opts, clock_);
  registry_.put("nodata", nodata);
  create_pool(1, bootstrapped_with({{"bootstrapScript", kJoinTemplate}}).dump());
  patch_pool_spec({{"providers", {{{"name", "nodata"}}, {{"name", "fake"}}}}});
  converge();
  // The cheaper offer is skipped: its machine could never join.
  EXPECT_EQ(nodata->ledger().size(), 0u);
  ASSERT_EQ(fake_->ledger().size(), 1u);
  ASSERT_NE(condition("BootstrapReady"), nullptr);
  EXPECT_EQ(condition("BootstrapReady")->reason, "BootstrapUnsupported");
  EXPECT_THAT(condition("BootstrapReady")->message, HasSubstr("GpuProvider nodata"));
  EXPECT_NE(condition("Degraded")->reason, "BootstrapUnsupported");

  // No provider left: nothing bought, Degraded says why.
  patch_pool_spec({{"replicas", {{"count", 2}}}, {"providers", {{{"name", "nodata"}}}}});
  converge();
  EXPECT_EQ(nodata->ledger().size(), 0u);
  EXPECT_EQ(condition("Degraded")->reason, "BootstrapUnsupported");
  EXPECT_THAT(condition("Degraded")->message, HasSubstr("GpuProvider nodata"));
}

// ---- Draining (node_drain.h).

// A pod bound to `node`, Running and Ready; `owner_kind` makes it owned by a
// controller of that kind ("" = none).
void run_pod(kube::KubeApi& api, const std::string& name, const std::string& node,
             const std::string& owner_kind = "ReplicaSet") {
  Json p = {{"apiVersion", "v1"},
            {"kind", "Pod"},
            {"metadata", {{"name", name}, {"namespace", "default"}, {"labels", {{"app", "web"}}}}},
            {"spec", {{"nodeName", node}, {"containers", {{{"name", "c"}, {"image", "vllm"}}}}}}};
  if (!owner_kind.empty()) {
    p["metadata"]["ownerReferences"] = {{{"apiVersion", "apps/v1"},
                                         {"kind", owner_kind},
                                         {"name", "web"},
                                         {"uid", "owner-uid"},
                                         {"controller", true}}};
  }
  auto r = api.create(kube::resources::kPods, "default", p);
  ASSERT_TRUE(r.ok()) << r.error().message;
  Json st = *r;
  st["status"] = {{"phase", "Running"}, {"conditions", {{{"type", "Ready"}, {"status", "True"}}}}};
  kube::UpdateOptions uo;
  uo.subresource = "status";
  ASSERT_TRUE(api.update(kube::resources::kPods, st, uo).ok());
}

// A PodDisruptionBudget over app=web whose status (as the disruption
// controller writes it) allows `allowed` more disruptions.
void set_budget(kube::KubeApi& api, int allowed) {
  const auto& pdbs = kube::resources::kPodDisruptionBudgets;
  if (!api.get(pdbs, "default", "web-pdb").ok()) {
    Json pdb = {{"apiVersion", "policy/v1"},
                {"kind", "PodDisruptionBudget"},
                {"metadata", {{"name", "web-pdb"}, {"namespace", "default"}}},
                {"spec", {{"minAvailable", 1}, {"selector", {{"matchLabels", {{"app", "web"}}}}}}}};
    ASSERT_TRUE(api.create(pdbs, "default", pdb).ok());
  }
  kube::PatchOptions po;
  po.subresource = "status";
  Json status = {{"status",
                  {{"disruptionsAllowed", allowed},
                   {"currentHealthy", 1},
                   {"desiredHealthy", 1},
                   {"expectedPods", 1},
                   {"observedGeneration", 1}}}};
  ASSERT_TRUE(api.patch(pdbs, "default", "web-pdb", kube::PatchType::Merge, status, po).ok());
}

bool pod_exists(kube::MemoryStore& api, const std::string& name) {
  return api.exists(kube::resources::kPods, "default", name);
}

constexpr const char* kDrained = R"json({"usage": {"mode": "Node", "node": {
    "bootstrapScript": "#!/bin/sh\nk3s agent", "drainTimeoutSeconds": 300}}})json";

class DrainTest : public ControllersTest {
 protected:
  // One machine, launched at 12:00:00 (hourly: its boundary is 13:00),
  // Ready on gpu-node-1 with pod web-1 on it; then scaled to zero at
  // 12:00:31, so it is parked: cordoned, nothing evicted.
  void SetUp() override {
    create_pool(1, kDrained);
    converge();
    clock_.advance(31s);
    converge();
    ASSERT_EQ(instances().size(), 1u);
    name_ = instances()[0].metadata.name;
    register_node(api_, "gpu-node-1", name_);
    run_pod(api_, "web-1", "gpu-node-1");
    converge();
    ASSERT_EQ(instances()[0].status.phase, api::InstancePhase::Ready);
    patch_pool_spec({{"replicas", {{"count", 0}}}});
    converge();
    ASSERT_EQ(instances()[0].status.phase, api::InstancePhase::Parked);
  }
  // The billing boundary the parked machine must end before.
  Time boundary() const { return sys_days{year{2026} / November / 10} + 13h; }
  void advance_to(Time t) { clock_.set(t); }
  const api::Condition* drained() {
    auto list = instances();
    if (list.empty()) return nullptr;
    inst_cache_ = list[0];
    return decision::find_condition(inst_cache_->status.conditions, kConditionDrained);
  }
  bool node_cordoned() {
    auto n = api_.get(kube::resources::kNodes, "", "gpu-node-1");
    return n.ok() && (*n)["spec"].value("unschedulable", false);
  }

  std::string name_;
  std::optional<api::GpuInstance> inst_cache_;
};

TEST_F(DrainTest, AParkedMachineIsOnlyCordonedUntilItsDrainWindowThenDrainedAndEndedInTime) {
  // Parked: cordoned, its pods keep running.
  EXPECT_TRUE(node_cordoned());
  EXPECT_TRUE(pod_exists(api_, "web-1"));
  // A DaemonSet's pod (kubectl drain --ignore-daemonsets leaves it too).
  run_pod(api_, "agent-1", "gpu-node-1", "DaemonSet");
  // The drain window starts drainTimeoutSeconds (300) + parkMarginSeconds
  // (60) before the 13:00 boundary: 12:54.
  advance_to(boundary() - 6min - 1s);
  converge();
  EXPECT_TRUE(pod_exists(api_, "web-1"));
  EXPECT_EQ(live_at_provider(), 1);
  advance_to(boundary() - 6min);
  converge();
  EXPECT_FALSE(pod_exists(api_, "web-1"));   // evicted
  EXPECT_TRUE(pod_exists(api_, "agent-1"));  // left alone
  EXPECT_EQ(live_at_provider(), 0);
  ASSERT_EQ(fake_->ledger().size(), 1u);
  ASSERT_TRUE(fake_->ledger()[0].ended);
  EXPECT_LT(*fake_->ledger()[0].ended, boundary());
  EXPECT_EQ(pool()->status.terminated_spend, usd("1"));  // one hour, not two
  // The Node object goes with the machine.
  EXPECT_FALSE(api_.get(kube::resources::kNodes, "", "gpu-node-1").ok());
  EXPECT_TRUE(instances().empty());
}

TEST_F(DrainTest, ABudgetThatForbidsTheEvictionDelaysTheEndUntilItAllowsIt) {
  set_budget(api_, 0);
  advance_to(boundary() - 6min);
  converge();
  // Blocked: the machine is kept, the instance says why.
  EXPECT_TRUE(pod_exists(api_, "web-1"));
  EXPECT_EQ(live_at_provider(), 1);
  ASSERT_EQ(instances().size(), 1u);
  EXPECT_EQ(instances()[0].status.phase, api::InstancePhase::Terminating);
  EXPECT_TRUE(instances()[0].status.drain_started_at.has_value());
  ASSERT_NE(drained(), nullptr);
  EXPECT_EQ(drained()->status, api::ConditionStatus::False);
  EXPECT_EQ(drained()->reason, "EvictionBlocked");
  EXPECT_THAT(drained()->message, HasSubstr("default/web-1"));
  EXPECT_THAT(drained()->message, HasSubstr("The disruption budget web-pdb needs 1 healthy pods"));
  EXPECT_TRUE(node_cordoned());
  // Retried, still blocked: one Event, not one per retry.
  clock_.advance(10s);
  converge();
  const auto reasons = event_reasons(api_);
  EXPECT_EQ(std::count(reasons.begin(), reasons.end(), "EvictionBlocked"), 1);
  EXPECT_EQ(live_at_provider(), 1);

  // The budget allows one disruption: evicted, then ended.
  set_budget(api_, 1);
  clock_.advance(10s);
  converge();
  EXPECT_FALSE(pod_exists(api_, "web-1"));
  EXPECT_EQ(live_at_provider(), 0);
  EXPECT_LT(*fake_->ledger()[0].ended, boundary());
}

TEST_F(DrainTest, ADrainThatStaysBlockedEndsTheMachineAtTheTimeoutBeforeTheBoundary) {
  set_budget(api_, 0);
  const Time start = boundary() - 6min;
  advance_to(start);
  converge();
  const std::string name = instances()[0].metadata.name;
  // An operator restart keeps the start: it is in the object.
  EXPECT_EQ(instances()[0].status.drain_started_at, start);
  advance_to(start + 300s - 1s);
  converge();
  EXPECT_EQ(live_at_provider(), 1);
  EXPECT_TRUE(pod_exists(api_, "web-1"));
  advance_to(start + 300s);
  converge();
  EXPECT_EQ(live_at_provider(), 0);
  EXPECT_EQ(*fake_->ledger()[0].ended, start + 300s);
  EXPECT_LT(*fake_->ledger()[0].ended, boundary());
  const auto reasons = event_reasons(api_);
  EXPECT_EQ(std::count(reasons.begin(), reasons.end(), "DrainTimedOut"), 1);
  EXPECT_TRUE(instances().empty());
}

TEST_F(DrainTest, AnEvictionTheServerRefusesForAnotherReasonIsReportedAndRetried) {
  // Two budgets over one pod: the eviction subresource refuses (500).
  set_budget(api_, 1);
  Json second = *api_.get(kube::resources::kPodDisruptionBudgets, "default", "web-pdb");
  second["metadata"] = {{"name", "web-pdb-2"}, {"namespace", "default"}};
  ASSERT_TRUE(api_.create(kube::resources::kPodDisruptionBudgets, "default", second).ok());
  advance_to(boundary() - 6min);
  converge();
  EXPECT_EQ(live_at_provider(), 1);
  ASSERT_NE(drained(), nullptr);
  EXPECT_EQ(drained()->reason, "EvictionFailed");
  EXPECT_THAT(drained()->message, HasSubstr("more than one PodDisruptionBudget"));
  // Resolved: drained and ended.
  ASSERT_TRUE(api_.remove(kube::resources::kPodDisruptionBudgets, "default", "web-pdb-2").ok());
  clock_.advance(10s);
  converge();
  EXPECT_FALSE(pod_exists(api_, "web-1"));
  EXPECT_EQ(live_at_provider(), 0);
}

TEST_F(DrainTest, DeletingThePoolDrainsItsMachinesToo) {
  ASSERT_TRUE(api_.remove(kGpuPools, "default", "web").ok());
  converge();
  EXPECT_FALSE(pod_exists(api_, "web-1"));
  EXPECT_EQ(live_at_provider(), 0);
  EXPECT_FALSE(api_.get(kube::resources::kNodes, "", "gpu-node-1").ok());
}

TEST_F(ControllersTest, APoolBuysOnlyOnceEveryProviderItNamesHasLoaded) {
  // "late" exists as a GpuProvider but its adapter is not in the registry
  // yet (the provider reconciler has not built it).
  Json late = {{"apiVersion", "gpupool.io/v1alpha1"},
               {"kind", "GpuProvider"},
               {"metadata", {{"name", "late"}}},
               {"spec", {{"type", "fake"}}}};
  ASSERT_TRUE(api_.create(kGpuProviders, "", late).ok());
  ASSERT_TRUE(refresh_store(api_, kGpuProviders, providers_).ok());
  create_pool(1, R"({"providers": [{"name": "fake"}, {"name": "late"}]})");
  converge();
  EXPECT_EQ(live_at_provider(), 0);
  ASSERT_NE(condition("Progressing"), nullptr);
  EXPECT_EQ(condition("Progressing")->reason, "WaitingForProviders");
  // A name with no GpuProvider at all does not hold the pool: it degrades it.
  ASSERT_TRUE(api_.remove(kGpuProviders, "", "late").ok());
  ASSERT_TRUE(refresh_store(api_, kGpuProviders, providers_).ok());
  converge();
  EXPECT_EQ(live_at_provider(), 1);
  EXPECT_EQ(condition("Degraded")->reason, "ProviderUnavailable");
}

TEST_F(ControllersTest, APoolWithoutAutoscalingSaysSo) {
  create_pool(1);
  converge();
  ASSERT_NE(condition("ScalingActive"), nullptr);
  EXPECT_EQ(condition("ScalingActive")->status, api::ConditionStatus::False);
  EXPECT_EQ(condition("ScalingActive")->reason, "ScalingDisabled");
  EXPECT_FALSE(pool()->status.autoscaling.has_value());
}

TEST_F(ControllersTest, ProviderReconcilerBuildsFakesAndReportsMissingAdapters) {
  ProviderReconciler rec(ctx_);
  Json fake = {{"apiVersion", "gpupool.io/v1alpha1"},
               {"kind", "GpuProvider"},
               {"metadata", {{"name", "local"}}},
               {"spec", {{"type", "fake"}, {"fake", {{"bootSeconds", 3}}}}}};
  Json other = {{"apiVersion", "gpupool.io/v1alpha1"},
                {"kind", "GpuProvider"},
                {"metadata", {{"name", "vast"}}},
                {"spec",
                 {{"type", "vastai"},
                  {"credentialsSecret", {{"name", "missing"}, {"namespace", "default"}}}}}};
  ASSERT_TRUE(api_.create(kGpuProviders, "", fake).ok());
  ASSERT_TRUE(api_.create(kGpuProviders, "", other).ok());
  ASSERT_TRUE(refresh_store(api_, kGpuProviders, providers_).ok());
  (void)rec.reconcile({"", "local"});
  (void)rec.reconcile({"", "vast"});
  auto local = to_provider(*api_.get(kGpuProviders, "", "local"));
  auto vast = to_provider(*api_.get(kGpuProviders, "", "vast"));
  ASSERT_TRUE(registry_.get("local"));
  EXPECT_EQ(decision::find_condition(local->status.conditions, "Healthy")->status,
            api::ConditionStatus::True);
  EXPECT_EQ(local->status.offers_seen, 2);
  EXPECT_FALSE(registry_.get("vast"));
  EXPECT_EQ(decision::find_condition(vast->status.conditions, "Healthy")->reason,
            "CredentialsMissing");
  // A resync of an unchanged object keeps the same adapter (and its state).
  auto before = registry_.get("local");
  ASSERT_TRUE(refresh_store(api_, kGpuProviders, providers_).ok());
  (void)rec.reconcile({"", "local"});
  EXPECT_EQ(registry_.get("local"), before);
}

// Warning Events with reason DeprecatedAnnotation: message -> count.
std::map<std::string, int64_t> deprecation_events(kube::KubeApi& api) {
  std::map<std::string, int64_t> out;
  auto list = api.list(kube::resources::kEvents, "default");
  if (!list.ok()) return out;
  for (const auto& e : list->items) {
    if (e.value("reason", "") != kReasonDeprecatedAnnotation) continue;
    EXPECT_EQ(e.value("type", ""), "Warning");
    out[e.value("message", "")] += e.value("count", int64_t{1});
  }
  return out;
}

TEST_F(ControllersTest, TypedFakeSettingsSetBootDelayAndCapacity) {
  ProviderReconciler rec(ctx_);
  Json p = {{"apiVersion", "gpupool.io/v1alpha1"},
            {"kind", "GpuProvider"},
            {"metadata", {{"name", "local"}}},
            {"spec",
             {{"type", "fake"},
              {"fake",
               {{"bootSeconds", 3},
                {"capacity", {{{"offerId", "l40s-1"}, {"region", "local"}, {"count", 1}}}}}}}}};
  ASSERT_TRUE(api_.create(kGpuProviders, "", p).ok());
  ASSERT_TRUE(refresh_store(api_, kGpuProviders, providers_).ok());
  (void)rec.reconcile({"", "local"});
  auto prov = registry_.get("local");
  ASSERT_TRUE(prov);
  auto offers = prov->offers(OfferQuery{});
  ASSERT_TRUE(offers.ok());
  std::map<std::string, int> hints;
  for (const auto& o : *offers)
    hints[o.id] = o.capacity_hint;
  EXPECT_EQ(hints["l40s-1"], 1);
  EXPECT_EQ(hints["l40-1"], -1);
  InstanceIntent intent;
  intent.name = "web-0";
  intent.pool_uid = "u";
  intent.offer = (*offers)[0].id == "l40s-1" ? (*offers)[0] : (*offers)[1];
  ASSERT_TRUE(prov->create(intent).ok());
  clock_.advance(2s);
  EXPECT_EQ(prov->get("u", "web-0")->state, MachineState::Pending);
  clock_.advance(1s);
  EXPECT_EQ(prov->get("u", "web-0")->state, MachineState::Running);
  EXPECT_THAT(deprecation_events(api_), ::testing::IsEmpty());
}

TEST_F(ControllersTest, DeprecatedSettingsAnnotationsStillWorkWithOneWarningEventEach) {
  ProviderReconciler rec(ctx_);
  Json p = {{"apiVersion", "gpupool.io/v1alpha1"},
            {"kind", "GpuProvider"},
            {"metadata",
             {{"name", "local"},
              {"annotations",
               {{kFakeBootAnnotation, "0"}, {kFakeCapacityAnnotation, "l40s-1/local=0"}}}}},
            {"spec", {{"type", "fake"}}}};
  ASSERT_TRUE(api_.create(kGpuProviders, "", p).ok());
  auto reconcile = [&] {
    EXPECT_TRUE(refresh_store(api_, kGpuProviders, providers_).ok());
    (void)rec.reconcile({"", "local"});
  };
  auto hint = [&](const std::string& id) {
    auto offers = registry_.get("local")->offers(OfferQuery{});
    for (const auto& o : *offers)
      if (o.id == id) return o.capacity_hint;
    return -2;
  };
  reconcile();
  ASSERT_TRUE(registry_.get("local"));
  EXPECT_EQ(hint("l40s-1"), 0);  // the annotation's capacity is in force
  const std::string boot_msg =
      "annotation gpupool.io/fake-boot-seconds is deprecated and will be removed in the next "
      "release; set spec.fake.bootSeconds instead";
  const std::string cap_msg =
      "annotation gpupool.io/fake-capacity is deprecated and will be removed in the next "
      "release; set spec.fake.capacity instead";
  EXPECT_EQ(deprecation_events(api_),
            (std::map<std::string, int64_t>{{boot_msg, 1}, {cap_msg, 1}}));
  // A resync reports nothing new: one Event per adapter build, not per reconcile.
  auto before = registry_.get("local");
  reconcile();
  reconcile();
  EXPECT_EQ(registry_.get("local"), before);
  EXPECT_EQ(deprecation_events(api_),
            (std::map<std::string, int64_t>{{boot_msg, 1}, {cap_msg, 1}}));

  // Changing only an annotation (no new generation) rebuilds with its value.
  ASSERT_TRUE(
      api_.patch(kGpuProviders, "", "local", kube::PatchType::Merge,
                 {{"metadata", {{"annotations", {{kFakeCapacityAnnotation, "l40s-1/local=2"}}}}}})
          .ok());
  reconcile();
  EXPECT_NE(registry_.get("local"), before);
  EXPECT_EQ(hint("l40s-1"), 2);

  // The typed field wins over the annotation, which is then not reported.
  ASSERT_TRUE(
      api_.patch(
              kGpuProviders, "", "local", kube::PatchType::Merge,
              {{"spec",
                {{"fake",
                  {{"capacity", {{{"offerId", "l40s-1"}, {"region", "local"}, {"count", 5}}}}}}}}})
          .ok());
  reconcile();
  EXPECT_EQ(hint("l40s-1"), 5);
  EXPECT_EQ(deprecation_events(api_),
            (std::map<std::string, int64_t>{{boot_msg, 3}, {cap_msg, 2}}));

  // An unreadable annotation value is InvalidConfig, naming it.
  ASSERT_TRUE(api_.patch(kGpuProviders, "", "local", kube::PatchType::Merge,
                         {{"metadata", {{"annotations", {{kFakeBootAnnotation, "soon"}}}}}})
                  .ok());
  reconcile();
  auto gp = to_provider(*api_.get(kGpuProviders, "", "local"));
  const auto* healthy = decision::find_condition(gp->status.conditions, "Healthy");
  ASSERT_NE(healthy, nullptr);
  EXPECT_EQ(healthy->reason, "InvalidConfig");
  EXPECT_THAT(healthy->message, HasSubstr(kFakeBootAnnotation));
}

// A real adapter (Runpod) wired from a GpuProvider and its Secret, talking to
// the in-process Runpod emulator: live prices reach the status and the pool's
// plan, and the machine is bought at the emulator.
class RealAdapterTest : public ControllersTest {
 protected:
  RealAdapterTest()
      : emulator_([this] {
          emulators::RunpodEmulatorOptions o;
          o.clock = &clock_;
          o.api_key = "rp-secret-value";
          o.gpu_types = {{"NVIDIA L40S", "L40S", 48, usd("0.91"), Money(), -1, -1}};
          return o;
        }()) {}
  void SetUp() override { ASSERT_TRUE(emulator_.start()); }

  void put_secret(const std::string& key, const std::string& value) {
    Json s = {{"apiVersion", "v1"},
              {"kind", "Secret"},
              {"metadata", {{"name", "runpod-creds"}, {"namespace", "default"}}},
              {"data", {{key, net::base64_encode(value)}}}};
    auto cur = api_.get(kube::resources::kSecrets, "default", "runpod-creds");
    if (cur.ok()) {
      s["metadata"]["resourceVersion"] = (*cur)["metadata"]["resourceVersion"];
      ASSERT_TRUE(api_.update(kube::resources::kSecrets, s).ok());
    } else {
      ASSERT_TRUE(api_.create(kube::resources::kSecrets, "default", s).ok());
    }
  }
  void create_provider() {
    Json p = {{"apiVersion", "gpupool.io/v1alpha1"},
              {"kind", "GpuProvider"},
              {"metadata", {{"name", "rp"}}},
              {"spec",
               {{"type", "runpod"},
                {"endpoint", emulator_.base_url()},
                {"credentialsSecret", {{"name", "runpod-creds"}, {"namespace", "default"}}},
                {"sshPublicKey", ssh_key}}}};
    ASSERT_TRUE(api_.create(kGpuProviders, "", p).ok());
  }
  Json ssh_key = {{"value", "ssh-ed25519 KEY"}};
  api::GpuProvider reconcile_provider(kube::ReconcileResult* result = nullptr) {
    EXPECT_TRUE(refresh_store(api_, kGpuProviders, providers_).ok());
    ProviderReconciler rec(ctx_);
    auto r = rec.reconcile({"", "rp"});
    if (result) *result = r;
    return *to_provider(*api_.get(kGpuProviders, "", "rp"));
  }

  emulators::RunpodEmulator emulator_;
};

TEST_F(RealAdapterTest, RunpodWithItsSecretIsHealthyWithLivePricesAndBuysThere) {
  put_secret("apiKey", "rp-secret-value");
  create_provider();
  kube::ReconcileResult res;
  auto gp = reconcile_provider(&res);
  const auto* healthy = decision::find_condition(gp.status.conditions, "Healthy");
  ASSERT_NE(healthy, nullptr);
  EXPECT_EQ(healthy->status, api::ConditionStatus::True) << healthy->message;
  const auto* live = decision::find_condition(gp.status.conditions, "PricesLive");
  ASSERT_NE(live, nullptr);
  EXPECT_EQ(live->status, api::ConditionStatus::True) << live->message;
  EXPECT_EQ(gp.status.last_price_refresh, clock_.now());
  EXPECT_GE(gp.status.offers_seen, 1);
  // Requeued for the next refresh (default interval one hour).
  ASSERT_TRUE(res.requeue_after.has_value());
  EXPECT_EQ(*res.requeue_after, std::chrono::milliseconds(3600 * 1000));
  EXPECT_EQ(emulator_.requests("prices"), 1);
  // Not due again: a second reconcile does not call the API, nor rewrite status.
  const std::string rv = gp.metadata.resource_version;
  gp = reconcile_provider();
  EXPECT_EQ(emulator_.requests("prices"), 1);
  EXPECT_EQ(gp.metadata.resource_version, rv);

  // The pool plans on the live price and buys at the emulator.
  registry_.remove("fake");
  create_pool(1, R"({"providers": [{"name": "rp"}]})");
  converge(2);
  auto list = instances();
  ASSERT_EQ(list.size(), 1u);
  EXPECT_EQ(list[0].spec.offer.provider, "rp");
  EXPECT_EQ(list[0].spec.offer.price_per_hour, usd("0.91"));
  EXPECT_EQ(emulator_.requests("prices"), 1);  // planning used the snapshot
  ASSERT_EQ(emulator_.pods().size(), 1u);
  EXPECT_EQ(emulator_.pods()[0].gpu_id, "NVIDIA L40S");
  // The provider's SSH public key reaches the machine.
  EXPECT_EQ(emulator_.pods()[0].env["PUBLIC_KEY"], "ssh-ed25519 KEY");
}

TEST_F(RealAdapterTest, APoolPlanningBeforeTheFirstRefreshAsksForLivePricesOnce) {
  // The adapter is in the registry but its prices were never refreshed (the
  // GpuProvider reconciler has not run yet): the pool must not plan on the
  // catalog (whose Runpod offer ids the adapter does not know).
  create_provider();
  auto gp = to_provider(*api_.get(kGpuProviders, "", "rp"));
  ASSERT_EQ(registry_.sync(*gp, {{"apiKey", "rp-secret-value"}}, "1"), "");
  registry_.remove("fake");
  create_pool(1, R"({"providers": [{"name": "rp"}]})");
  converge(2);
  auto list = instances();
  ASSERT_EQ(list.size(), 1u);
  EXPECT_EQ(list[0].spec.offer.price_per_hour, usd("0.91"));
  EXPECT_EQ(emulator_.requests("prices"), 1);
  EXPECT_EQ(emulator_.alive(), 1);
}

TEST_F(RealAdapterTest, MissingSecretOrKeyIsUnhealthyWithoutLeakingAndASecretChangeRebuilds) {
  create_provider();
  auto gp = reconcile_provider();
  const auto* healthy = decision::find_condition(gp.status.conditions, "Healthy");
  ASSERT_NE(healthy, nullptr);
  EXPECT_EQ(healthy->status, api::ConditionStatus::False);
  EXPECT_EQ(healthy->reason, "CredentialsMissing");
  EXPECT_THAT(healthy->message, HasSubstr("default/runpod-creds"));
  EXPECT_FALSE(registry_.get("rp"));

  // The Secret exists but holds the key under another name.
  put_secret("token", "rp-secret-value");
  gp = reconcile_provider();
  healthy = decision::find_condition(gp.status.conditions, "Healthy");
  EXPECT_EQ(healthy->reason, "CredentialsMissing");
  EXPECT_THAT(healthy->message, HasSubstr("apiKey"));
  EXPECT_THAT(healthy->message, Not(HasSubstr("rp-secret-value")));
  EXPECT_FALSE(registry_.get("rp"));

  // Fixing the Secret (new resourceVersion, same generation) builds the adapter.
  put_secret("apiKey", "wrong-key");
  gp = reconcile_provider();
  healthy = decision::find_condition(gp.status.conditions, "Healthy");
  EXPECT_EQ(healthy->status, api::ConditionStatus::True);
  auto first = registry_.get("rp");
  ASSERT_TRUE(first);
  // Wrong key: the API refuses, prices fall back to the catalog.
  EXPECT_EQ(decision::find_condition(gp.status.conditions, "PricesLive")->reason,
            "CatalogFallback");
  put_secret("apiKey", "rp-secret-value");
  gp = reconcile_provider();
  EXPECT_NE(registry_.get("rp"), first);
  EXPECT_EQ(decision::find_condition(gp.status.conditions, "PricesLive")->status,
            api::ConditionStatus::True);
}

TEST_F(RealAdapterTest, SshPublicKeyFromASecretReachesTheMachineAndAKeyChangeRebuilds) {
  put_secret("apiKey", "rp-secret-value");
  ssh_key = {{"secretKeyRef", {{"name", "ops-ssh"}, {"key", "id.pub"}}}};
  create_provider();
  // The Secret is missing: InvalidConfig naming it, no adapter.
  auto gp = reconcile_provider();
  const auto* healthy = decision::find_condition(gp.status.conditions, "Healthy");
  ASSERT_NE(healthy, nullptr);
  EXPECT_EQ(healthy->reason, "InvalidConfig");
  EXPECT_THAT(healthy->message, HasSubstr("sshPublicKey: Secret default/ops-ssh"));
  EXPECT_FALSE(registry_.get("rp"));

  auto put_key = [&](const std::string& value) {
    Json s = {{"apiVersion", "v1"},
              {"kind", "Secret"},
              {"metadata", {{"name", "ops-ssh"}, {"namespace", "default"}}},
              {"data", {{"id.pub", net::base64_encode(value)}}}};
    auto cur = api_.get(kube::resources::kSecrets, "default", "ops-ssh");
    if (cur.ok()) {
      s["metadata"]["resourceVersion"] = (*cur)["metadata"]["resourceVersion"];
      ASSERT_TRUE(api_.update(kube::resources::kSecrets, s).ok());
    } else {
      ASSERT_TRUE(api_.create(kube::resources::kSecrets, "default", s).ok());
    }
  };
  put_key("ssh-ed25519 FIRST ops\n");  // as `ssh-keygen` writes it, newline included
  gp = reconcile_provider();
  EXPECT_EQ(decision::find_condition(gp.status.conditions, "Healthy")->status,
            api::ConditionStatus::True);
  auto first = registry_.get("rp");
  ASSERT_TRUE(first);
  // A new key in the Secret rebuilds the adapter with it.
  put_key("ssh-ed25519 SECOND ops");
  gp = reconcile_provider();
  EXPECT_NE(registry_.get("rp"), first);

  registry_.remove("fake");
  create_pool(1, R"({"providers": [{"name": "rp"}]})");
  converge(2);
  ASSERT_EQ(emulator_.pods().size(), 1u);
  EXPECT_EQ(emulator_.pods()[0].env["PUBLIC_KEY"], "ssh-ed25519 SECOND ops");
}

TEST(DeprecatedAnnotations, FillOnlyUnsetTypedFieldsOfTheirOwnType) {
  api::GpuProvider p;
  p.spec.type = "aws";
  p.metadata.annotations = {{kAwsImageAnnotation, "ami-0123456789abcdef0"},
                            {kSshPublicKeyAnnotation, "ssh-ed25519 OLD"},
                            {kSshKeyNameAnnotation, "lambda-only"},
                            {kScalewayProjectAnnotation, "scaleway-only"}};
  p.spec.aws = api::AwsSettings{"", "subnet-0a1b2c3d", {}, "ops"};
  auto used = apply_deprecated_annotations(p);
  EXPECT_EQ(used.used, (std::vector<std::string>{kAwsImageAnnotation, kSshPublicKeyAnnotation}));
  EXPECT_EQ(used.problem, "");
  ASSERT_TRUE(p.spec.aws);
  EXPECT_EQ(p.spec.aws->image_id, "ami-0123456789abcdef0");
  EXPECT_EQ(p.spec.aws->subnet_id, "subnet-0a1b2c3d");  // typed fields kept
  EXPECT_EQ(p.spec.ssh_public_key->value, "ssh-ed25519 OLD");
  EXPECT_FALSE(p.spec.lambda);  // annotations of other types are ignored
  EXPECT_FALSE(p.spec.scaleway);

  // Typed fields win; their annotations are not used.
  api::GpuProvider q = p;
  q.spec.aws->image_id = "ami-99999999";
  q.spec.ssh_public_key = api::SshPublicKeySpec{"", api::SecretKeyRef{"k", "", "id.pub"}};
  used = apply_deprecated_annotations(q);
  EXPECT_TRUE(used.used.empty());
  EXPECT_EQ(q.spec.aws->image_id, "ami-99999999");

  api::GpuProvider l;
  l.spec.type = "lambda";
  l.metadata.annotations = {{kSshKeyNameAnnotation, "ops"}};
  EXPECT_EQ(apply_deprecated_annotations(l).used,
            (std::vector<std::string>{kSshKeyNameAnnotation}));
  EXPECT_EQ(l.spec.lambda->ssh_key_name, "ops");
  api::GpuProvider sc;
  sc.spec.type = "scaleway";
  sc.metadata.annotations = {{kScalewayProjectAnnotation, "proj"}};
  EXPECT_EQ(apply_deprecated_annotations(sc).used,
            (std::vector<std::string>{kScalewayProjectAnnotation}));
  EXPECT_EQ(sc.spec.scaleway->project_id, "proj");

  api::GpuProvider f;
  f.spec.type = "fake";
  f.metadata.annotations = {{kFakeCapacityAnnotation, "l40s-1/eu=2,l40-1/us=-1"}};
  EXPECT_EQ(apply_deprecated_annotations(f).problem, "");
  EXPECT_EQ(f.spec.fake->capacity, (std::vector<api::FakeCapacity>{{"l40s-1", "eu", 2}}));
  f.spec.fake.reset();
  f.metadata.annotations = {{kFakeCapacityAnnotation, "l40s-1=2"}};
  EXPECT_THAT(apply_deprecated_annotations(f).problem, HasSubstr("<offerId>/<region>=<n>"));
}

TEST(RemoteFakeCodec, RoundTripsOffersMachinesIntentsAndErrors) {
  Offer o = offer("a", "1.25", 20s);
  o.capacity_hint = 3;
  EXPECT_EQ(decode_offer(encode_offer(o)), o);
  Machine m;
  m.provider_id = "fake-1";
  m.name = "web-1";
  m.state = MachineState::Running;
  m.region = "r1";
  m.offer_id = "a";
  m.gpu_model = "L40S";
  m.gpu_count = 1;
  m.price_per_hour = usd("1.25");
  m.launch_time = sys_days{year{2026} / November / 10} + 12h;
  m.tags = {{std::string(kTagInstance), "web-1"}};
  EXPECT_EQ(decode_machine(encode_machine(m)), m);
  m.public_address = "127.0.0.1";  // Endpoint mode: where the container serves
  m.public_port = 18080;
  EXPECT_EQ(decode_machine(encode_machine(m)), m);
  InstanceIntent i;
  i.name = "web-1";
  i.pool_uid = "u";
  i.pool_namespace = "default";
  i.pool_name = "web";
  i.offer = o;
  i.container = {"vllm/vllm-openai:v0.6.3", 8000, {"--model", "m"}, {{"HF_HOME", "/data"}}, 120};
  auto back = decode_intent(encode_intent(i));
  ASSERT_TRUE(back);
  EXPECT_EQ(back->name, "web-1");
  EXPECT_EQ(back->offer, o);
  EXPECT_EQ(back->container, i.container);
  const ProviderError e =
      decode_error(encode_error(provider_error(ProviderErrorKind::NoCapacity, "x")));
  EXPECT_EQ(e.kind, ProviderErrorKind::NoCapacity);
  EXPECT_FALSE(decode_offer(Json::parse(R"({"id": 3})")));
  EXPECT_FALSE(decode_machine(Json::array()));
  EXPECT_EQ(decode_error(Json("junk")).kind, ProviderErrorKind::Transient);
}

// ---- Endpoint mode: the pool's Service and EndpointSlices (issue 13).

constexpr const char* kEndpointUsage =
    R"({"usage": {"mode": "Endpoint", "endpoint": {"image": "vllm/vllm-openai:v0.6", "port": 8080}}})";

class EndpointSlicesTest : public ControllersTest {
 protected:
  // An Endpoint pool with one machine bought through the reconcilers, whose
  // GpuInstance serves as the template of add_instance().
  void SetUp() override {
    create_pool(1, kEndpointUsage);
    converge();
    auto list = api_.list(kGpuInstances, "default");
    ASSERT_TRUE(list.ok());
    ASSERT_EQ(list->items.size(), 1u);
    template_ = list->items[0];
    first_ = template_["metadata"]["name"];
  }

  // A GpuInstance of the pool (a copy of the first) with this status.
  void add_instance(const std::string& name, api::InstancePhase phase, const std::string& address,
                    int port) {
    Json j = template_;
    j["metadata"] = {{"name", name},
                     {"namespace", "default"},
                     {"labels", template_["metadata"]["labels"]},
                     {"ownerReferences", template_["metadata"]["ownerReferences"]}};
    j.erase("status");
    auto c = api_.create(kGpuInstances, "default", j);
    ASSERT_TRUE(c.ok()) << c.error().message;
    set_status(name, phase, address, port);
  }

  void set_status(const std::string& name, api::InstancePhase phase, const std::string& address,
                  int port) {
    Json st = {{"phase", std::string(api::to_string(phase))}};
    st["address"] = address.empty() ? Json() : Json(address);
    st["port"] = port == 0 ? Json() : Json(port);
    auto r = api_.patch(kGpuInstances, "default", name, kube::PatchType::Merge, {{"status", st}},
                        {.subresource = "status"});
    ASSERT_TRUE(r.ok()) << r.error().message;
  }

  std::vector<Json> slices() {
    auto list = api_.list(kube::resources::kEndpointSlices, "default");
    EXPECT_TRUE(list.ok());
    std::vector<Json> out = list->items;
    std::sort(out.begin(), out.end(), [](const Json& a, const Json& b) {
      return a["metadata"]["name"] < b["metadata"]["name"];
    });
    return out;
  }
  std::optional<Json> service() {
    auto r = api_.get(kube::resources::kServices, "default", "web");
    if (!r.ok()) return std::nullopt;
    return *r;
  }
  // The endpoint of instance `name` in any slice.
  std::optional<Json> endpoint(const std::string& name) {
    for (const auto& s : slices()) {
      for (const auto& ep : s["endpoints"]) {
        if (ep["targetRef"]["name"] == name) return ep;
      }
    }
    return std::nullopt;
  }
  static Json conditions(bool ready, bool terminating) {
    return {{"ready", ready}, {"serving", ready}, {"terminating", terminating}};
  }
  int warning_events(const std::string& reason) {
    int n = 0;
    auto events = api_.list(kube::resources::kEvents, "default");
    for (const auto& e : events->items)
      n += e.value("reason", "") == reason ? 1 : 0;
    return n;
  }

  Json template_;
  std::string first_;
};

TEST_F(EndpointSlicesTest, AnEndpointPoolGetsASelectorlessServiceOwnedByThePool) {
  converge_endpoints();
  auto svc = service();
  ASSERT_TRUE(svc.has_value());
  EXPECT_FALSE((*svc)["spec"].contains("selector"));
  ASSERT_EQ((*svc)["spec"]["ports"].size(), 1u);
  EXPECT_EQ((*svc)["spec"]["ports"][0]["name"], "http");
  EXPECT_EQ((*svc)["spec"]["ports"][0]["port"], 8080);
  EXPECT_EQ((*svc)["spec"]["ports"][0]["protocol"], "TCP");
  EXPECT_EQ((*svc)["metadata"]["labels"]["gpupool.io/pool"], "web");
  const auto& owner = (*svc)["metadata"]["ownerReferences"][0];
  EXPECT_EQ(owner["kind"], "GpuPool");
  EXPECT_EQ(owner["name"], "web");
  EXPECT_EQ(owner["uid"], pool()->metadata.uid);
  EXPECT_EQ(owner["controller"], true);
  // The pool's port moves the Service's.
  patch_pool_spec({{"usage", {{"endpoint", {{"port", 9000}}}}}});
  converge_endpoints();
  EXPECT_EQ(service()->at("spec")["ports"][0]["port"], 9000);
}

TEST_F(EndpointSlicesTest, ServiceNameNamesTheServiceAndARenameMovesEverything) {
  set_status(first_, api::InstancePhase::Ready, "10.0.0.1", 8080);
  patch_pool_spec({{"usage", {{"endpoint", {{"serviceName", "chat-api"}}}}}});
  converge_endpoints();
  EXPECT_FALSE(service().has_value());
  auto svc = api_.get(kube::resources::kServices, "default", "chat-api");
  ASSERT_TRUE(svc.ok());
  EXPECT_EQ((*svc)["metadata"]["labels"]["gpupool.io/pool"], "web");
  auto all = slices();
  ASSERT_EQ(all.size(), 1u);
  EXPECT_EQ(all[0]["metadata"]["name"], "chat-api-ipv4-8080-0");
  EXPECT_EQ(all[0]["metadata"]["labels"]["kubernetes.io/service-name"], "chat-api");
  // Back to the pool's name: the old Service and its slices go.
  patch_pool_spec({{"usage", {{"endpoint", {{"serviceName", nullptr}}}}}});
  converge_endpoints();
  EXPECT_FALSE(api_.get(kube::resources::kServices, "default", "chat-api").ok());
  EXPECT_TRUE(service().has_value());
  all = slices();
  ASSERT_EQ(all.size(), 1u);
  EXPECT_EQ(all[0]["metadata"]["name"], "web-ipv4-8080-0");
}

TEST_F(EndpointSlicesTest, ANodePoolGetsNoService) {
  patch_pool_spec({{"usage", {{"mode", "Node"}}}});
  converge_endpoints();
  EXPECT_FALSE(service().has_value());
  EXPECT_TRUE(slices().empty());
}

TEST_F(EndpointSlicesTest, SlicesListReadyAndEndingInstancesWithAddressesAndOnlyReadyOnesReady) {
  set_status(first_, api::InstancePhase::Ready, "10.0.0.1", 8080);
  add_instance("web-running", api::InstancePhase::Running, "10.0.0.2", 8080);
  add_instance("web-parked", api::InstancePhase::Parked, "10.0.0.3", 8080);
  add_instance("web-terminating", api::InstancePhase::Terminating, "10.0.0.4", 8080);
  add_instance("web-no-address", api::InstancePhase::Ready, "", 0);
  converge_endpoints();
  auto all = slices();
  ASSERT_EQ(all.size(), 1u);
  const Json& s = all[0];
  EXPECT_EQ(s["metadata"]["name"], "web-ipv4-8080-0");
  EXPECT_EQ(s["addressType"], "IPv4");
  EXPECT_EQ(s["metadata"]["labels"]["kubernetes.io/service-name"], "web");
  EXPECT_EQ(s["metadata"]["labels"]["endpointslice.kubernetes.io/managed-by"], "gpupool.io");
  EXPECT_EQ(s["metadata"]["ownerReferences"][0]["uid"], pool()->metadata.uid);
  EXPECT_EQ(s["metadata"]["ownerReferences"][0]["controller"], true);
  EXPECT_EQ(s["ports"], Json::parse(R"([{"name":"http","protocol":"TCP","port":8080}])"));
  ASSERT_EQ(s["endpoints"].size(), 3u);
  EXPECT_EQ(endpoint(first_)->at("conditions"), conditions(true, false));
  EXPECT_EQ(endpoint(first_)->at("addresses"), Json::array({"10.0.0.1"}));
  // Running: its health check has not passed yet, so it is not listed.
  EXPECT_FALSE(endpoint("web-running").has_value());
  EXPECT_EQ(endpoint("web-parked")->at("conditions"), conditions(false, true));
  EXPECT_EQ(endpoint("web-terminating")->at("conditions"), conditions(false, true));
  EXPECT_FALSE(endpoint("web-no-address").has_value());
  const Json ref = endpoint(first_)->at("targetRef");
  EXPECT_EQ(ref["kind"], "GpuInstance");
  EXPECT_EQ(ref["name"], first_);
  EXPECT_EQ(ref["namespace"], "default");
  EXPECT_EQ(ref["uid"], template_["metadata"]["uid"]);
  EXPECT_FALSE(endpoint(first_)->contains("nodeName"));
  // A Ready instance whose health check fails (back to Running) leaves the
  // slice; healthy again, it is back, ready.
  set_status(first_, api::InstancePhase::Running, "10.0.0.1", 8080);
  converge_endpoints();
  EXPECT_FALSE(endpoint(first_).has_value());
  set_status(first_, api::InstancePhase::Ready, "10.0.0.1", 8080);
  converge_endpoints();
  EXPECT_EQ(endpoint(first_)->at("conditions"), conditions(true, false));
}

TEST_F(EndpointSlicesTest, SlicesAreOnePerAddressTypeAndPort) {
  set_status(first_, api::InstancePhase::Ready, "10.0.0.1", 8080);
  add_instance("web-v6", api::InstancePhase::Ready, "2001:DB8:0:0::1", 8080);
  add_instance("web-dns", api::InstancePhase::Ready, "Node-7.GPU.example.com", 8080);
  add_instance("web-9000", api::InstancePhase::Ready, "10.0.0.9", 9000);
  add_instance("web-bad", api::InstancePhase::Ready, "not an address!", 8080);
  converge_endpoints();
  auto all = slices();
  ASSERT_EQ(all.size(), 4u);
  EXPECT_EQ(all[0]["metadata"]["name"], "web-fqdn-8080-0");
  EXPECT_EQ(all[0]["addressType"], "FQDN");
  EXPECT_EQ(all[0]["endpoints"][0]["addresses"][0], "node-7.gpu.example.com");
  EXPECT_EQ(all[1]["metadata"]["name"], "web-ipv4-8080-0");
  EXPECT_EQ(all[2]["metadata"]["name"], "web-ipv4-9000-0");
  EXPECT_EQ(all[2]["ports"][0]["port"], 9000);
  EXPECT_EQ(all[3]["addressType"], "IPv6");
  EXPECT_EQ(all[3]["endpoints"][0]["addresses"][0], "2001:db8::1");
  EXPECT_FALSE(endpoint("web-bad").has_value());
  EXPECT_EQ(warning_events("InvalidEndpointAddress"), 1);
}

TEST(EndpointAddressTest, KindsAndCanonicalForms) {
  EXPECT_EQ(parse_endpoint_address("192.0.2.7")->type, AddressType::IPv4);
  EXPECT_EQ(parse_endpoint_address("::FFFF:192.0.2.7")->type, AddressType::IPv6);
  EXPECT_EQ(parse_endpoint_address("2001:0db8::0001")->value, "2001:db8::1");
  EXPECT_EQ(parse_endpoint_address("GPU-1.example.com")->value, "gpu-1.example.com");
  EXPECT_EQ(parse_endpoint_address("localhost")->type, AddressType::FQDN);
  for (const char* bad : {"", "1.2.3.256", "01.2.3.4", "1.2.3", "2001:db8::g", "-a.example.com",
                          "a..b", "a_b.example.com", "http://1.2.3.4", "1.2.3.4:80"}) {
    EXPECT_FALSE(parse_endpoint_address(bad).has_value()) << bad;
  }
}

TEST_F(EndpointSlicesTest, MoreThanOneHundredEndpointsAreSplitIntoSlicesOfOneHundred) {
  set_status(first_, api::InstancePhase::Ready, "10.0.0.250", 8080);
  for (int i = 0; i < 249; ++i) {
    add_instance("web-x" + std::to_string(1000 + i), api::InstancePhase::Ready,
                 "10.1." + std::to_string(i / 200) + "." + std::to_string(i % 200), 8080);
  }
  converge_endpoints();
  auto all = slices();
  ASSERT_EQ(all.size(), 3u);
  EXPECT_EQ(all[0]["endpoints"].size(), 100u);
  EXPECT_EQ(all[1]["endpoints"].size(), 100u);
  EXPECT_EQ(all[2]["endpoints"].size(), 50u);
  EXPECT_EQ(all[2]["metadata"]["name"], "web-ipv4-8080-2");
  // Down to 150: the third slice goes.
  for (int i = 0; i < 100; ++i) {
    auto r = api_.remove(kGpuInstances, "default", "web-x" + std::to_string(1000 + i));
    ASSERT_TRUE(r.ok());
  }
  // Removed instances keep their finalizer: clear it so they are gone.
  for (int i = 0; i < 100; ++i) {
    auto r = api_.patch(kGpuInstances, "default", "web-x" + std::to_string(1000 + i),
                        kube::PatchType::Merge, {{"metadata", {{"finalizers", nullptr}}}});
    (void)r;
  }
  converge_endpoints();
  all = slices();
  ASSERT_EQ(all.size(), 2u);
  EXPECT_EQ(all[0]["endpoints"].size() + all[1]["endpoints"].size(), 150u);
}

TEST_F(EndpointSlicesTest, ServiceAndSlicesAreWrittenOnlyWhenTheyChange) {
  set_status(first_, api::InstancePhase::Ready, "10.0.0.1", 8080);
  add_instance("web-b", api::InstancePhase::Running, "10.0.0.2", 8080);
  converge_endpoints();
  auto count_writes = [&](const std::function<void()>& step) {
    auto rv = api_.list(kube::resources::kServices, "default")->resource_version;
    auto svc = api_.watch(kube::resources::kServices, "default", {.resource_version = rv});
    auto sl = api_.watch(kube::resources::kEndpointSlices, "default", {.resource_version = rv});
    step();
    int n = 0;
    for (auto* w : {svc->get(), sl->get()}) {
      while (true) {
        auto next = w->next(std::chrono::milliseconds(0));
        if (next.state != kube::WatchStream::State::Event) break;
        if (next.event.type != kube::WatchEventType::Bookmark) ++n;
      }
    }
    return n;
  };
  EXPECT_EQ(count_writes([&] { converge_endpoints(5); }), 0);
  EXPECT_EQ(count_writes([&] {
              set_status("web-b", api::InstancePhase::Ready, "10.0.0.2", 8080);
              converge_endpoints(5);
            }),
            1);
  // Someone edits our slice: it is put back.
  auto s = api_.get(kube::resources::kEndpointSlices, "default", "web-ipv4-8080-0");
  Json edited = *s;
  edited["endpoints"] = Json::array();
  ASSERT_TRUE(api_.update(kube::resources::kEndpointSlices, edited).ok());
  converge_endpoints();
  EXPECT_EQ(slices()[0]["endpoints"].size(), 2u);
}

TEST_F(EndpointSlicesTest, LeavingEndpointModeDeletesTheServiceAndSlices) {
  set_status(first_, api::InstancePhase::Ready, "10.0.0.1", 8080);
  converge_endpoints();
  ASSERT_TRUE(service().has_value());
  ASSERT_EQ(slices().size(), 1u);
  // Another party's slice for another Service stays.
  Json other = {{"apiVersion", "discovery.k8s.io/v1"},
                {"kind", "EndpointSlice"},
                {"metadata",
                 {{"name", "other-abc"},
                  {"namespace", "default"},
                  {"labels", {{"kubernetes.io/service-name", "other"}}}}},
                {"addressType", "IPv4"},
                {"endpoints", Json::array()}};
  ASSERT_TRUE(api_.create(kube::resources::kEndpointSlices, "default", other).ok());
  patch_pool_spec({{"usage", {{"mode", "Node"}, {"endpoint", nullptr}}}});
  converge_endpoints();
  EXPECT_FALSE(service().has_value());
  auto all = slices();
  ASSERT_EQ(all.size(), 1u);
  EXPECT_EQ(all[0]["metadata"]["name"], "other-abc");
}

TEST_F(EndpointSlicesTest, AServiceOfTheSameNameThatIsNotOursIsNeverTakenOver) {
  Json svc = {{"apiVersion", "v1"},
              {"kind", "Service"},
              {"metadata", {{"name", "web"}, {"namespace", "default"}}},
              {"spec",
               {{"selector", {{"app", "web"}}},
                {"ports", {{{"name", "web"}, {"port", 80}, {"protocol", "TCP"}}}}}}};
  ASSERT_TRUE(api_.remove(kube::resources::kServices, "default", "web").ok());  // ours, from SetUp
  ASSERT_TRUE(api_.create(kube::resources::kServices, "default", svc).ok());
  set_status(first_, api::InstancePhase::Ready, "10.0.0.1", 8080);
  converge_endpoints();
  EXPECT_EQ(service()->at("spec")["ports"][0]["port"], 80);
  EXPECT_EQ(service()->at("spec")["selector"]["app"], "web");
  EXPECT_TRUE(slices().empty());
  EXPECT_GE(warning_events("ServiceNameTaken"), 1);
}

TEST_F(EndpointSlicesTest, DeletingThePoolTakesItsServiceAndSlicesWithIt) {
  set_status(first_, api::InstancePhase::Ready, "10.0.0.1", 8080);
  converge_endpoints();
  ASSERT_TRUE(service().has_value());
  ASSERT_TRUE(api_.remove(kGpuPools, "default", "web").ok());
  converge(6);
  EXPECT_FALSE(pool().has_value());
  EXPECT_EQ(live_at_provider(), 0);
  EXPECT_FALSE(service().has_value());
  EXPECT_TRUE(slices().empty());
}

TEST_F(EndpointSlicesTest, AReadyMachineIsEndedOnlyAfterItsSliceSaysItIsNotReady) {
  set_status(first_, api::InstancePhase::Ready, "10.0.0.1", 8080);
  converge_endpoints();
  ASSERT_EQ(endpoint(first_)->at("conditions"), conditions(true, false));
  ASSERT_TRUE(api_.remove(kGpuInstances, "default", first_).ok());
  // The instance reconciler alone: the slice still says ready, so it waits.
  refresh();
  (void)inst_rec_.reconcile({"default", first_});
  (void)inst_rec_.reconcile({"default", first_});
  EXPECT_EQ(live_at_provider(), 1);
  // The endpoints controller marks it terminating; then the machine ends.
  converge_endpoints();
  EXPECT_EQ(endpoint(first_)->at("conditions"), conditions(false, true));
  refresh();
  (void)inst_rec_.reconcile({"default", first_});
  EXPECT_EQ(live_at_provider(), 0);
}

TEST_F(EndpointSlicesTest, AStuckEndpointsControllerDelaysTheEndByAtMostTheTimeout) {
  set_status(first_, api::InstancePhase::Ready, "10.0.0.1", 8080);
  converge_endpoints();
  run_endpoints_ = false;
  ASSERT_TRUE(api_.remove(kGpuInstances, "default", first_).ok());
  refresh();
  (void)inst_rec_.reconcile({"default", first_});
  EXPECT_EQ(live_at_provider(), 1);
  clock_.advance(kUnlistTimeout);
  refresh();
  (void)inst_rec_.reconcile({"default", first_});
  EXPECT_EQ(live_at_provider(), 0);
  EXPECT_EQ(warning_events("EndpointStillReady"), 1);
}

TEST_F(EndpointSlicesTest, ScaleDownParksThenEndsWithoutEverEndingAMachineListedReady) {
  patch_pool_spec({{"replicas", {{"count", 3}}}});
  converge();
  clock_.advance(31s);
  converge();
  int host = 0;
  for (const auto& i : instances())
    set_status(i.metadata.name, api::InstancePhase::Ready, "10.0.0." + std::to_string(++host),
               8080);
  converge();
  int ready = 0;
  for (const auto& s : slices())
    for (const auto& ep : s["endpoints"])
      ready += ep["conditions"]["ready"].get<bool>() ? 1 : 0;
  ASSERT_EQ(ready, 3);
  // Down to one: two are parked (not ready, terminating), then ended at the
  // end of their paid hour; converge() checks after every instance step
  // that no machine listed ready was ended.
  patch_pool_spec({{"replicas", {{"count", 1}}}});
  converge();
  EXPECT_EQ(count_phase(api::InstancePhase::Parked), 2);
  int parked_listed = 0;
  for (const auto& i : instances()) {
    if (i.status.phase != api::InstancePhase::Parked) continue;
    EXPECT_EQ(endpoint(i.metadata.name)->at("conditions"), conditions(false, true));
    ++parked_listed;
  }
  EXPECT_EQ(parked_listed, 2);
  clock_.advance(59min);
  converge();
  EXPECT_EQ(live_at_provider(), 1);
  // Then deleting the pool ends the last, ready one only once unlisted.
  ASSERT_TRUE(api_.remove(kGpuPools, "default", "web").ok());
  converge(6);
  EXPECT_EQ(live_at_provider(), 0);
}

// ---- Health checks off the reconcile workers (issue 13).

// The first probe it is asked for never answers until release(); every
// other answers 200 at once.
class StallingProber final : public EndpointProber {
 public:
  health::Probe probe(const std::string& url, Duration /*timeout*/) override {
    std::unique_lock lock(mu_);
    const bool first = calls_++ == 0;
    cv_.notify_all();
    if (first) cv_.wait(lock, [this] { return released_; });
    return {true, "HTTP 200 from " + url};
  }
  void release() {
    std::lock_guard lock(mu_);
    released_ = true;
    cv_.notify_all();
  }
  bool wait_calls(int n) {
    std::unique_lock lock(mu_);
    return cv_.wait_for(lock, 10s, [&] { return calls_ >= n; });
  }

 private:
  std::mutex mu_;
  std::condition_variable cv_;
  int calls_ = 0;
  bool released_ = false;
};

TEST_F(EndpointTest, AHealthCheckThatNeverAnswersDoesNotHoldTheReconcileWorker) {
  // Two machines up with their addresses, nothing probed yet.
  ctx_.prober = nullptr;
  create_pool(2, endpoint_usage().dump());
  converge();
  clock_.advance(31s);
  converge();
  ASSERT_EQ(count_phase(api::InstancePhase::Running), 2);
  std::vector<std::string> names;
  for (const auto& i : instances())
    names.push_back(i.metadata.name);
  const std::string a = "default/" + names[0], b = "default/" + names[1];

  // As `run` wires it: one reconcile worker, probes on a pool whose
  // completions enqueue the instance. The test's reconcile reads the store
  // fresh each time, as the informer would keep it.
  std::mutex mu;
  std::condition_variable cv;
  std::map<std::string, int> reconciles;
  kube::Controller::Options copts;
  copts.workers = 1;
  kube::Controller ctl(
      "gpuinstance", clock_,
      [&](const kube::ReconcileRequest& r) {
        EXPECT_TRUE(refresh_store(api_, kGpuInstances, instances_).ok());
        kube::ReconcileResult result = inst_rec_.reconcile(r);
        std::lock_guard lock(mu);
        ++reconciles[kube::make_key(r.namespace_, r.name)];
        cv.notify_all();
        return result;
      },
      copts);
  auto stalling = std::make_shared<StallingProber>();
  ProbePool probes(stalling, clock_, {.threads = 2},
                   [&ctl](const std::string& key) { ctl.enqueue(key); });
  ctx_.probe_pool = &probes;
  // However the test ends, nothing stays blocked (torn down before ctl and probes).
  struct Unblock {
    Context& ctx;
    StallingProber& prober;
    ~Unblock() {
      prober.release();
      ctx.probe_pool = nullptr;
    }
  } unblock{ctx_, *stalling};
  auto reconciled = [&](const std::string& key, int n) {
    std::unique_lock lock(mu);
    return cv.wait_for(lock, 10s, [&] { return reconciles[key] >= n; });
  };
  ctl.start();

  // A's probe starts and never answers; the reconcile returned at once.
  const Time a_started = clock_.now();
  ctl.enqueue(a);
  ASSERT_TRUE(reconciled(a, 1)) << "the reconcile waited for the health check";
  ASSERT_TRUE(stalling->wait_calls(1));
  EXPECT_TRUE(probes.pending(a));

  // The only worker is free: B is reconciled, probed, and the completion
  // brings B back to count its answer, all while A's probe hangs.
  clock_.advance(4s);
  ctl.enqueue(b);
  ASSERT_TRUE(reconciled(b, 2)) << "B waited behind A's health check";
  api::GpuInstance ib = *to_instance(api_.get(kGpuInstances, "default", names[1]).value());
  ASSERT_TRUE(ib.status.health.has_value());
  EXPECT_EQ(ib.status.health->consecutive_successes, 1);
  EXPECT_THAT(ib.status.message, HasSubstr("answered 2xx 1 of 2"));
  api::GpuInstance ia = *to_instance(api_.get(kGpuInstances, "default", names[0]).value());
  EXPECT_FALSE(ia.status.health.has_value()) << "A's answer has not come";
  EXPECT_TRUE(probes.pending(a));

  // A answers at last: its completion enqueues A, whose answer counts as of
  // when the GET started, not when it answered.
  const int a_before = [&] {
    std::lock_guard lock(mu);
    return reconciles[a];
  }();
  stalling->release();
  ASSERT_TRUE(reconciled(a, a_before + 1));
  ctl.stop();
  ctx_.probe_pool = nullptr;
  ia = *to_instance(api_.get(kGpuInstances, "default", names[0]).value());
  ASSERT_TRUE(ia.status.health.has_value());
  EXPECT_EQ(ia.status.health->consecutive_successes, 1);
  ASSERT_TRUE(ia.status.health->last_probe_time.has_value());
  EXPECT_EQ(*ia.status.health->last_probe_time, a_started);
  EXPECT_FALSE(probes.pending(a));
}

TEST_F(EndpointTest, AProbeInFlightForADeletedInstanceIsDropped) {
  ctx_.prober = nullptr;
  create_pool(1, endpoint_usage().dump());
  converge();
  clock_.advance(31s);
  converge();
  auto stalling = std::make_shared<StallingProber>();
  ProbePool probes(stalling, clock_, {.threads = 1}, {});
  ctx_.probe_pool = &probes;
  const std::string name = instances().at(0).metadata.name;
  (void)inst_rec_.reconcile({"default", name});
  ASSERT_TRUE(stalling->wait_calls(1));
  EXPECT_TRUE(probes.pending("default/" + name));
  // Gone from the cache (deleted): its probe is forgotten.
  (void)instances_.replace({});
  (void)inst_rec_.reconcile({"default", name});
  EXPECT_FALSE(probes.pending("default/" + name));
  EXPECT_EQ(probes.size(), 0u);
  stalling->release();
  ctx_.probe_pool = nullptr;
}

// Issue 12: the orphan grace is kept on the GpuProvider, so a restarted
// operator does not start it again.
TEST_F(ControllersTest, ARestartedCollectorCountsTheOrphanGraceFromTheFirstSighting) {
  Json gp = {{"apiVersion", "gpupool.io/v1alpha1"},
             {"kind", "GpuProvider"},
             {"metadata", {{"name", "fake"}}},
             {"spec", {{"type", "fake"}}}};
  ASSERT_TRUE(api_.create(kGpuProviders, "", gp).ok());
  create_pool(1);  // adoptionGraceSeconds: 30
  converge(1);
  const std::string orphan_id = plant_pool_orphan();
  const Time planted = clock_.now();
  auto annotations = [&] {
    return (*api_.get(kGpuProviders, "", "fake"))["metadata"].value("annotations", Json::object());
  };
  gc_.run_once();
  ASSERT_TRUE(annotations().contains(kOrphansFirstSeenAnnotation));
  EXPECT_EQ(Json::parse(annotations()[kOrphansFirstSeenAnnotation].get<std::string>()),
            Json({{orphan_id, format_rfc3339(planted)}}));
  // Written once: later passes that change nothing write nothing.
  const std::string rv = (*api_.get(kGpuProviders, "", "fake"))["metadata"]["resourceVersion"];
  clock_.advance(20s);
  gc_.run_once();
  EXPECT_EQ((*api_.get(kGpuProviders, "", "fake"))["metadata"]["resourceVersion"], rv);
  EXPECT_EQ(gc_.orphans_ended(), 0u);

  // The operator restarts 20 s into the 30 s grace: the new collector ends
  // the orphan 30 s after the first sighting, not 30 s after its own.
  GarbageCollector restarted(ctx_);
  restarted.run_once();
  EXPECT_EQ(restarted.orphans_ended(), 0u);
  EXPECT_EQ(live_at_provider(), 2);
  clock_.advance(11s);
  restarted.run_once();
  EXPECT_EQ(restarted.orphans_ended(), 1u);
  EXPECT_EQ(live_at_provider(), 1);
  // Nothing is left waiting: the entry is removed with the machine.
  EXPECT_FALSE(annotations().contains(kOrphansFirstSeenAnnotation));
}

TEST_F(ControllersTest, AnUnreadableOrphanAnnotationIsReplacedNotTrusted) {
  Json gp = {{"apiVersion", "gpupool.io/v1alpha1"},
             {"kind", "GpuProvider"},
             {"metadata",
              {{"name", "fake"}, {"annotations", {{kOrphansFirstSeenAnnotation, "{not json"}}}}},
             {"spec", {{"type", "fake"}}}};
  ASSERT_TRUE(api_.create(kGpuProviders, "", gp).ok());
  create_pool(1);
  converge(1);
  const std::string orphan_id = plant_pool_orphan();
  gc_.run_once();
  EXPECT_EQ(gc_.orphans_ended(), 0u);  // the grace starts now, not at some garbage time
  const auto stored = (*api_.get(kGpuProviders, "", "fake"))["metadata"]["annotations"];
  EXPECT_EQ(Json::parse(stored[kOrphansFirstSeenAnnotation].get<std::string>()),
            Json({{orphan_id, format_rfc3339(clock_.now())}}));
}

// Create expectations (create_expectations.h): a pool whose instance cache
// has not shown its own creates yet waits instead of buying them again.
TEST_F(ControllersTest, APoolDoesNotBuyTwiceWhileTheCacheLagsItsOwnCreates) {
  create_pool(2);
  refresh();
  (void)pool_rec_.reconcile({"default", "web"});
  ASSERT_EQ(instances().size(), 2U);
  // The pool cache catches up (new next-ordinal annotation), the instance
  // cache does not: it still shows none of the two.
  ASSERT_TRUE(refresh_store(api_, kGpuPools, pools_).ok());
  ASSERT_TRUE(instances_.list().empty());
  for (int i = 0; i < 3; ++i) {
    kube::ReconcileResult r = pool_rec_.reconcile({"default", "web"});
    EXPECT_FALSE(r.error);
    EXPECT_TRUE(r.requeue_after.has_value());  // woken at the expiry at the latest
  }
  EXPECT_EQ(instances().size(), 2U);
  EXPECT_EQ(fake_->live_count(), 0);

  // Once the cache shows them the pool acts at once on what it sees.
  refresh();
  patch_pool_spec({{"replicas", {{"count", 3}}}});
  refresh();
  (void)pool_rec_.reconcile({"default", "web"});
  EXPECT_EQ(instances().size(), 3U);
}

// Removes every GpuInstance of "default" at once, finalizers dropped (gone
// before any cache showed them).
void remove_every_instance(kube::MemoryStore& api, const std::vector<api::GpuInstance>& insts) {
  for (const auto& i : insts) {
    auto r = api.patch(kGpuInstances, "default", i.metadata.name, kube::PatchType::Merge,
                       {{"metadata", {{"finalizers", Json::array()}}}});
    ASSERT_TRUE(r.ok()) << r.error().message;
    ASSERT_TRUE(api.remove(kGpuInstances, "default", i.metadata.name).ok());
  }
}

// An instance whose add event was seen is observed even when it is gone
// before the pool's next pass (a create refused with no other offer): the
// pool re-plans at once instead of waiting out the expectation.
TEST_F(ControllersTest, AnAddEventObservesACreateThatIsGoneAgain) {
  create_pool(2);
  refresh();
  (void)pool_rec_.reconcile({"default", "web"});
  ASSERT_EQ(instances().size(), 2U);
  for (const auto& i : instances())
    pool_rec_.observed("default/web", i.metadata.name);  // the informer's add events
  remove_every_instance(api_, instances());
  refresh();
  ASSERT_TRUE(instances().empty());
  (void)pool_rec_.reconcile({"default", "web"});
  EXPECT_EQ(instances().size(), 2U) << "observed creates still blocked the pool";
}

TEST_F(ControllersTest, AnExpiredCreateExpectationStopsBlockingThePool) {
  create_pool(2);
  refresh();
  (void)pool_rec_.reconcile({"default", "web"});
  ASSERT_EQ(instances().size(), 2U);
  // Both go before the cache ever showed them: no add event will come.
  remove_every_instance(api_, instances());
  refresh();
  ASSERT_TRUE(instances().empty());
  (void)pool_rec_.reconcile({"default", "web"});
  EXPECT_TRUE(instances().empty()) << "bought while its own creates were still expected";

  clock_.advance(CreateExpectations::kDefaultTimeout + 1s);
  refresh();
  (void)pool_rec_.reconcile({"default", "web"});
  EXPECT_EQ(instances().size(), 2U) << "an expired expectation still blocks the pool";
}

}  // namespace
}  // namespace gpupool::controllers
