// The manager end to end in one process: in-memory API store, real threads,
// the system clock, a "fake" GpuProvider built by the registry.
#include "operator/manager/manager.h"
#include "operator/manager/leader_fence.h"
#include "operator/manager/secret_watches.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <gtest/gtest.h>

#include <algorithm>
#include <chrono>
#include <cstdlib>
#include <fstream>
#include <functional>
#include <mutex>
#include <set>
#include <sstream>
#include <thread>

#include "operator/controllers/context.h"
#include "operator/core/api_codec.h"
#include "operator/core/pool_decision.h"
#include "operator/kube/memory/store.h"
#include "providers/factory/adapter_table.h"
#include "providers/fake/fake_provider.h"
#include "providers/instrumented/instrumented_provider.h"

namespace gpupool::manager {
namespace {

using kube::Json;

std::string read_file(const std::string& path) {
  std::ifstream f(path);
  std::stringstream ss;
  ss << f.rdbuf();
  return ss.str();
}

// Polls `pred` until true or the deadline (real time).
bool eventually(const std::function<bool()>& pred,
                std::chrono::seconds deadline = std::chrono::seconds(30)) {
  const auto end = std::chrono::steady_clock::now() + deadline;
  while (std::chrono::steady_clock::now() < end) {
    if (pred()) return true;
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  return pred();
}

int http_status(uint16_t port, const std::string& path) {
  int fd = socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_port = htons(port);
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0) {
    close(fd);
    return -1;
  }
  const std::string req = "GET " + path + " HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n";
  (void)!write(fd, req.data(), req.size());
  char buf[64] = {};
  const ssize_t n = read(fd, buf, sizeof buf - 1);
  close(fd);
  if (n < 12) return -1;
  return std::atoi(buf + 9);
}

// The three CRDs from the source tree, as the chart installs them.
void load_crds(kube::MemoryStore& api) {
  const char* src = std::getenv("GPUPOOL_SOURCE_DIR");
  for (const char* f : {"gpupool.io_gpupools.yaml", "gpupool.io_gpuinstances.yaml",
                        "gpupool.io_gpuproviders.yaml"}) {
    auto docs = api::yaml_to_json(read_file(std::string(src ? src : ".") + "/crds/" + f));
    ASSERT_TRUE(docs.ok());
    for (const auto& d : *docs)
      ASSERT_TRUE(api.create(kube::resources::kCustomResourceDefinitions, "", d).ok());
  }
}

TEST(Manager, ConvergesAPoolAndServesHealth) {
  SystemClock clock;
  kube::MemoryStore api(clock);
  ASSERT_NO_FATAL_FAILURE(load_crds(api));
  std::ostringstream logs;
  Logger log(logs, clock, LogLevel::Info, LogFormat::Json);
  ManagerOptions mo;
  mo.health_addr = "127.0.0.1:0";
  mo.gc_period = Duration{1};
  Manager mgr(api, clock, log, mo);
  ASSERT_TRUE(mgr.start().ok());
  ASSERT_NE(mgr.health_port(), 0);
  EXPECT_EQ(http_status(mgr.health_port(), "/healthz"), 200);
  ASSERT_TRUE(eventually([&] { return mgr.ready(); }));
  EXPECT_EQ(http_status(mgr.health_port(), "/readyz"), 200);

  Json provider = {{"apiVersion", "gpupool.io/v1alpha1"},
                   {"kind", "GpuProvider"},
                   {"metadata", {{"name", "local"}}},
                   {"spec", {{"type", "fake"}, {"fake", {{"bootSeconds", 0}}}}}};
  ASSERT_TRUE(api.create(controllers::kGpuProviders, "", provider).ok());
  Json pool = {{"apiVersion", "gpupool.io/v1alpha1"},
               {"kind", "GpuPool"},
               {"metadata", {{"name", "web"}, {"namespace", "default"}}},
               {"spec",
                {{"gpu", {{"models", {{{"name", "L40S"}}}}}},
                 {"replicas", {{"count", 2}}},
                 {"providers", {{{"name", "local"}}}}}}};
  ASSERT_TRUE(api.create(controllers::kGpuPools, "default", pool).ok());
  auto ready = [&] {
    auto p = api.get(controllers::kGpuPools, "default", "web");
    if (!p.ok()) return false;
    auto typed = controllers::to_pool(*p);
    const auto* c = typed ? decision::find_condition(typed->status.conditions, "Ready") : nullptr;
    return c && c->status == api::ConditionStatus::True && typed->status.replicas.ready == 2;
  };
  EXPECT_TRUE(eventually(ready));
  EXPECT_EQ(api.list(controllers::kGpuInstances, "default")->items.size(), 2u);
  const std::string metrics_probe = logs.str();
  EXPECT_NE(metrics_probe.find("\"msg\":\"controllers started\""), std::string::npos);

  // Deleting the pool ends the machines and then the pool goes.
  ASSERT_TRUE(api.remove(controllers::kGpuPools, "default", "web").ok());
  EXPECT_TRUE(eventually([&] {
    return !api.get(controllers::kGpuPools, "default", "web").ok() &&
           api.list(controllers::kGpuInstances, "default")->items.empty();
  }));
  mgr.stop();
  EXPECT_EQ(http_status(mgr.health_port(), "/healthz"), -1);
}

TEST(LeaderFencedApi, RefusesWritesWithoutSendingThemWhileReadsPass) {
  SystemClock clock;
  kube::MemoryStore store(clock);
  bool leading = true;
  LeaderFencedApi api(store, [&] { return leading; });
  const Json cm = {{"apiVersion", "v1"},
                   {"kind", "ConfigMap"},
                   {"metadata", {{"name", "a"}, {"namespace", "default"}}},
                   {"data", {{"k", "1"}}}};
  const kube::Resource& cms = kube::resources::kConfigMaps;
  auto created = api.create(cms, "default", cm);
  ASSERT_TRUE(created.ok());
  leading = false;
  Json changed = *created;
  changed["data"]["k"] = "2";
  auto upd = api.update(cms, changed);
  ASSERT_FALSE(upd.ok());
  EXPECT_EQ(upd.error().kind, kube::ErrorKind::Unavailable);
  EXPECT_NE(upd.error().message.find("does not hold the leader lease"), std::string::npos);
  EXPECT_FALSE(
      api.patch(cms, "default", "a", kube::PatchType::Merge, {{"data", {{"k", "3"}}}}).ok());
  EXPECT_FALSE(api.remove(cms, "default", "a").ok());
  Json other = cm;
  other["metadata"]["name"] = "b";
  EXPECT_FALSE(api.create(cms, "default", other).ok());
  EXPECT_EQ(api.refused_total(), 4u);
  // Nothing reached the store; reads still work through the fence.
  auto got = api.get(cms, "default", "a");
  ASSERT_TRUE(got.ok());
  EXPECT_EQ((*got)["data"]["k"], "1");
  EXPECT_EQ(api.list(cms, "default")->items.size(), 1u);
  leading = true;
  EXPECT_TRUE(api.update(cms, changed).ok());
}

FakeProviderOptions one_offer_provider() {
  FakeProviderOptions opts;
  opts.name = "local";
  Offer o;
  o.provider = "local";
  o.provider_type = "fake";
  o.id = "l40s-1";
  o.region = "local";
  o.gpu_model = "L40S";
  o.price_per_hour = *Money::parse("1.00");
  opts.offers.push_back({o, -1});
  return opts;
}

TEST(LeaderFencedProvider, BuysAndEndsNothingWhileFencedAndPassesReads) {
  FakeClock clock(Time{std::chrono::seconds(1'800'000'000)});
  auto owned = std::make_unique<FakeProvider>(one_offer_provider(), clock);
  FakeProvider& fake = *owned;
  bool leading = true;
  LeaderFencedProvider p(std::move(owned), [&] { return leading; });
  auto offers = p.offers({});
  ASSERT_TRUE(offers.ok());
  ASSERT_EQ(offers->size(), 1u);
  InstanceIntent intent;
  intent.name = "web-a";
  intent.pool_uid = "uid-1";
  intent.offer = offers->front();
  auto bought = p.create(intent);
  ASSERT_TRUE(bought.ok());
  EXPECT_EQ(fake.live_count(), 1);

  leading = false;
  InstanceIntent second = intent;
  second.name = "web-b";
  auto refused = p.create(second);
  ASSERT_FALSE(refused.ok());
  EXPECT_EQ(refused.error().kind, ProviderErrorKind::Transient);
  EXPECT_NE(refused.error().message.find("does not hold the leader lease"), std::string::npos);
  auto not_ended = p.terminate(bought->provider_id);
  ASSERT_FALSE(not_ended.ok());
  EXPECT_EQ(not_ended.error().kind, ProviderErrorKind::Transient);
  EXPECT_EQ(fake.live_count(), 1) << "nothing bought, nothing ended";
  EXPECT_TRUE(p.get("uid-1", "web-a").ok()) << "reads pass";
  EXPECT_TRUE(p.list({}).ok());
  EXPECT_EQ(p.name(), "local");

  leading = true;
  EXPECT_TRUE(p.terminate(bought->provider_id).ok());
}

// The fence sits where every adapter is built: a registry given the
// manager's wrapper fences the "fake" type it builds itself, in-process, as
// well as the table's types.
TEST(LeaderFencedProvider, TheRegistryFencesEveryAdapterItBuildsFakeOnesIncluded) {
  FakeClock clock(Time{std::chrono::seconds(1'800'000'000)});
  factory::AdapterType t;
  t.type = "local";
  t.construct = [&clock](const factory::AdapterContext&) -> std::unique_ptr<Provider> {
    return std::make_unique<FakeProvider>(one_offer_provider(), clock);
  };
  bool leading = false;
  ProviderCallStats observer;
  controllers::ProviderRegistry registry(
      clock, observer, factory::AdapterTable({t}),
      [&](std::unique_ptr<Provider> adapter) -> std::unique_ptr<Provider> {
        return std::make_unique<LeaderFencedProvider>(std::move(adapter), [&] { return leading; });
      });
  for (const char* type : {"local", "fake"}) {
    SCOPED_TRACE(type);
    api::GpuProvider gp;
    gp.metadata.name = std::string("p-") + type;
    gp.spec.type = type;
    ASSERT_EQ(registry.sync(gp, {}), "");
    auto p = registry.get(gp.metadata.name);
    ASSERT_NE(p, nullptr);
    auto offers = p->offers({});
    ASSERT_TRUE(offers.ok());
    ASSERT_FALSE(offers->empty());
    InstanceIntent intent;
    intent.name = "web-a";
    intent.pool_uid = "uid-1";
    intent.offer = offers->front();
    leading = false;
    auto refused = p->create(intent);
    ASSERT_FALSE(refused.ok()) << "fenced";
    EXPECT_NE(refused.error().message.find("does not hold the leader lease"), std::string::npos);
    leading = true;
    EXPECT_TRUE(p->create(intent).ok());
  }
}

// A leader whose lease another replica took: it stops writing at once (the
// fence), reports lost_leadership() within the renew deadline, and a pool
// created afterwards gets no GpuInstance from it.
TEST(Manager, ALeaderThatLosesTheLeaseStopsWritingWithinTheRenewDeadline) {
  SystemClock clock;
  kube::MemoryStore api(clock);
  ASSERT_NO_FATAL_FAILURE(load_crds(api));
  std::ostringstream logs;
  Logger log(logs, clock, LogLevel::Info, LogFormat::Json);
  ManagerOptions mo;
  mo.leader_elect = true;
  mo.identity = "replica-a";
  mo.lease_duration = Duration{3};
  mo.renew_deadline = Duration{2};
  mo.retry_period = Duration{1};
  Manager mgr(api, clock, log, mo);
  ASSERT_TRUE(mgr.start().ok());
  ASSERT_TRUE(eventually([&] { return mgr.ready(); }));
  EXPECT_TRUE(mgr.may_write());
  auto lease = api.get(kube::resources::kLeases, "default", "gpupool-operator");
  ASSERT_TRUE(lease.ok());
  EXPECT_EQ((*lease)["spec"]["holderIdentity"], "replica-a");

  // Another replica takes the lease (as after this one was paused). A renewal
  // may land between our read and our write (409), so the take is retried.
  ASSERT_TRUE(eventually([&] {
    auto current = api.get(kube::resources::kLeases, "default", "gpupool-operator");
    if (!current.ok()) return false;
    Json taken = *current;
    taken["spec"]["holderIdentity"] = "replica-b";
    return api.update(kube::resources::kLeases, taken).ok();
  }));
  const auto taken_at = std::chrono::steady_clock::now();
  ASSERT_TRUE(eventually([&] { return !mgr.may_write(); }, std::chrono::seconds(10)));
  ASSERT_TRUE(eventually([&] { return mgr.lost_leadership(); }, std::chrono::seconds(10)));
  const auto lost_after = std::chrono::steady_clock::now() - taken_at;
  EXPECT_LE(lost_after, std::chrono::milliseconds(3'500))
      << "renew deadline (2 s) after the last good renewal, which is at most a retry period "
         "(1 s) old, plus scheduling slack";
  EXPECT_FALSE(mgr.ready());

  // The workers still run until the process exits; nothing they do reaches
  // the API server.
  Json provider = {{"apiVersion", "gpupool.io/v1alpha1"},
                   {"kind", "GpuProvider"},
                   {"metadata", {{"name", "local"}}},
                   {"spec", {{"type", "fake"}, {"fake", {{"bootSeconds", 0}}}}}};
  ASSERT_TRUE(api.create(controllers::kGpuProviders, "", provider).ok());
  Json pool = {{"apiVersion", "gpupool.io/v1alpha1"},
               {"kind", "GpuPool"},
               {"metadata", {{"name", "web"}, {"namespace", "default"}}},
               {"spec",
                {{"gpu", {{"models", {{{"name", "L40S"}}}}}},
                 {"replicas", {{"count", 2}}},
                 {"providers", {{{"name", "local"}}}}}}};
  ASSERT_TRUE(api.create(controllers::kGpuPools, "default", pool).ok());
  std::this_thread::sleep_for(std::chrono::milliseconds(1'500));
  EXPECT_TRUE(api.list(controllers::kGpuInstances, "default")->items.empty());
  EXPECT_EQ(api.get(kube::resources::kLeases, "default", "gpupool-operator")
                ->at("spec")
                .at("holderIdentity"),
            "replica-b")
      << "and it does not release a lease it no longer holds";
  mgr.stop();
  EXPECT_NE(logs.str().find("lost leadership"), std::string::npos) << logs.str();
}

// The elector keeps renewing while the caches sync (a large cluster's
// initial list takes longer than a lease duration): waiting for the sync
// must not happen on the elector's thread.
TEST(Manager, TheLeaderRenewsItsLeaseWhileTheCachesSync) {
  SystemClock clock;
  kube::MemoryStore api(clock);
  ASSERT_NO_FATAL_FAILURE(load_crds(api));
  // The GpuPool list fails three times: the informer backs off 0.8 s, 1.6 s
  // and 3.2 s (at least) before its cache syncs.
  api.inject_fault({"list", "gpupools", 3, kube::make_error(kube::ErrorKind::Unavailable, "slow")});
  std::ostringstream logs;
  Logger log(logs, clock, LogLevel::Info, LogFormat::Json);
  ManagerOptions mo;
  mo.leader_elect = true;
  mo.identity = "replica-a";
  mo.lease_duration = Duration{3};
  mo.renew_deadline = Duration{2};
  mo.retry_period = Duration{1};
  Manager mgr(api, clock, log, mo);
  ASSERT_TRUE(mgr.start().ok());
  std::set<std::string> renewals;
  const auto until = std::chrono::steady_clock::now() + std::chrono::milliseconds(4'500);
  while (std::chrono::steady_clock::now() < until) {
    auto lease = api.get(kube::resources::kLeases, "default", "gpupool-operator");
    if (lease.ok()) {
      EXPECT_EQ((*lease)["spec"]["holderIdentity"], "replica-a");
      renewals.insert((*lease)["spec"].value("renewTime", ""));
    }
    EXPECT_FALSE(mgr.ready()) << "the GpuPool cache cannot have synced yet";
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }
  EXPECT_GE(renewals.size(), 3u) << "renewed about every retry period (1 s) meanwhile";
  EXPECT_TRUE(mgr.may_write());
  EXPECT_TRUE(eventually([&] { return mgr.ready(); }));
  EXPECT_FALSE(mgr.lost_leadership());
  // The controllers run once synced: a pool gets its machine.
  Json provider = {{"apiVersion", "gpupool.io/v1alpha1"},
                   {"kind", "GpuProvider"},
                   {"metadata", {{"name", "local"}}},
                   {"spec", {{"type", "fake"}, {"fake", {{"bootSeconds", 0}}}}}};
  ASSERT_TRUE(api.create(controllers::kGpuProviders, "", provider).ok());
  Json pool = {{"apiVersion", "gpupool.io/v1alpha1"},
               {"kind", "GpuPool"},
               {"metadata", {{"name", "web"}, {"namespace", "default"}}},
               {"spec",
                {{"gpu", {{"models", {{{"name", "L40S"}}}}}},
                 {"replicas", {{"count", 1}}},
                 {"providers", {{{"name", "local"}}}}}}};
  ASSERT_TRUE(api.create(controllers::kGpuPools, "default", pool).ok());
  EXPECT_TRUE(eventually(
      [&] { return api.list(controllers::kGpuInstances, "default")->items.size() == 1; }));
  mgr.stop();
}

// Endpoint mode through the manager's informers (issue 13): the pool's
// Service and slices appear, follow its instances, are put back when edited,
// and go with the pool.
TEST(Manager, PublishesAnEndpointPoolBehindItsServiceAndSlices) {
  SystemClock clock;
  kube::MemoryStore api(clock);
  ASSERT_NO_FATAL_FAILURE(load_crds(api));
  std::ostringstream logs;
  Logger log(logs, clock, LogLevel::Info, LogFormat::Json);
  ManagerOptions mo;
  mo.gc_period = Duration{1};
  Manager mgr(api, clock, log, mo);
  ASSERT_TRUE(mgr.start().ok());
  ASSERT_TRUE(eventually([&] { return mgr.ready(); }));
  Json provider = {{"apiVersion", "gpupool.io/v1alpha1"},
                   {"kind", "GpuProvider"},
                   {"metadata", {{"name", "local"}}},
                   {"spec", {{"type", "fake"}, {"fake", {{"bootSeconds", 0}}}}}};
  ASSERT_TRUE(api.create(controllers::kGpuProviders, "", provider).ok());
  Json pool = {
      {"apiVersion", "gpupool.io/v1alpha1"},
      {"kind", "GpuPool"},
      {"metadata", {{"name", "llm"}, {"namespace", "default"}}},
      {"spec",
       {{"gpu", {{"models", {{{"name", "L40S"}}}}}},
        {"replicas", {{"count", 1}}},
        {"providers", {{{"name", "local"}}}},
        {"usage", {{"mode", "Endpoint"}, {"endpoint", {{"image", "vllm"}, {"port", 8000}}}}}}}};
  ASSERT_TRUE(api.create(controllers::kGpuPools, "default", pool).ok());
  ASSERT_TRUE(
      eventually([&] { return api.get(kube::resources::kServices, "default", "llm").ok(); }));
  std::string name;
  ASSERT_TRUE(eventually([&] {
    auto l = api.list(controllers::kGpuInstances, "default");
    if (!l.ok() || l->items.empty()) return false;
    name = l->items[0]["metadata"]["name"];
    return l->items[0].value("status", Json::object()).value("phase", "") == "Running";
  }));
  // The machine serves (another part of issue 13 writes these).
  auto ready_slice = [&] {
    auto s = api.get(kube::resources::kEndpointSlices, "default", "llm-ipv4-8000-0");
    return s.ok() && s->value("endpoints", Json::array()).size() == 1 &&
           (*s)["endpoints"][0]["conditions"]["ready"] == true;
  };
  ASSERT_TRUE(
      api.patch(controllers::kGpuInstances, "default", name, kube::PatchType::Merge,
                {{"status", {{"phase", "Ready"}, {"address", "192.0.2.10"}, {"port", 8000}}}},
                {.subresource = "status"})
          .ok());
  ASSERT_TRUE(eventually(ready_slice));
  // An edit is put back. The operator may write the slice between our read
  // and our update (a 409 Conflict), so the edit is retried as a user's would be.
  ASSERT_TRUE(eventually([&] {
    auto s = api.get(kube::resources::kEndpointSlices, "default", "llm-ipv4-8000-0");
    if (!s.ok()) return false;
    Json edited = *s;
    edited["endpoints"] = Json::array();
    return api.update(kube::resources::kEndpointSlices, edited).ok();
  }));
  EXPECT_TRUE(eventually(ready_slice));
  // Deleting the pool ends the machine and takes the Service and slices.
  ASSERT_TRUE(api.remove(controllers::kGpuPools, "default", "llm").ok());
  EXPECT_TRUE(eventually([&] {
    return !api.get(controllers::kGpuPools, "default", "llm").ok() &&
           !api.get(kube::resources::kServices, "default", "llm").ok() &&
           api.list(kube::resources::kEndpointSlices, "default")->items.empty();
  }));
  mgr.stop();
}

// The Healthy condition of GpuProvider `name` is `status`.
bool provider_healthy_is(kube::KubeApi& api, const std::string& name, api::ConditionStatus status) {
  auto p = api.get(controllers::kGpuProviders, "", name);
  if (!p.ok()) return false;
  auto typed = controllers::to_provider(*p);
  const auto* c = typed ? decision::find_condition(typed->status.conditions, "Healthy") : nullptr;
  return c && c->status == status;
}

// A provider whose credentials Secret is missing is picked up the moment the
// Secret appears (the Secret is watched), not at some later resync; and a
// Secret that breaks is noticed too.
TEST(Manager, AProviderFollowsItsCredentialsSecretAsItChanges) {
  SystemClock clock;
  kube::MemoryStore api(clock);
  ASSERT_NO_FATAL_FAILURE(load_crds(api));
  std::ostringstream logs;
  Logger log(logs, clock, LogLevel::Info, LogFormat::Json);
  ManagerOptions mo;
  mo.gc_period = Duration{3600};
  Manager mgr(api, clock, log, mo);
  ASSERT_TRUE(mgr.start().ok());
  ASSERT_TRUE(eventually([&] { return mgr.ready(); }));

  Json provider = {{"apiVersion", "gpupool.io/v1alpha1"},
                   {"kind", "GpuProvider"},
                   {"metadata", {{"name", "local"}}},
                   {"spec", {{"type", "fake"}, {"credentialsSecret", {{"name", "fake-creds"}}}}}};
  ASSERT_TRUE(api.create(controllers::kGpuProviders, "", provider).ok());
  ASSERT_TRUE(
      eventually([&] { return provider_healthy_is(api, "local", api::ConditionStatus::False); }));

  Json secret = {{"apiVersion", "v1"},
                 {"kind", "Secret"},
                 {"metadata", {{"name", "fake-creds"}, {"namespace", "default"}}},
                 {"data", {{"token", "c2VjcmV0"}}}};
  ASSERT_TRUE(api.create(kube::resources::kSecrets, "default", secret).ok());
  EXPECT_TRUE(
      eventually([&] { return provider_healthy_is(api, "local", api::ConditionStatus::True); },
                 std::chrono::seconds(5)));

  // A value that is not base64 makes the provider unhealthy again at once.
  auto current = api.get(kube::resources::kSecrets, "default", "fake-creds");
  ASSERT_TRUE(current.ok());
  Json broken = *current;
  broken["data"]["token"] = "%%%";
  ASSERT_TRUE(api.update(kube::resources::kSecrets, broken).ok());
  EXPECT_TRUE(
      eventually([&] { return provider_healthy_is(api, "local", api::ConditionStatus::False); },
                 std::chrono::seconds(5)));
  mgr.stop();
}

// Exactly the referenced Secrets are watched, and a watch goes when its
// last reference does.
TEST(SecretWatches, WatchesOnlyTheSecretsReferenced) {
  SystemClock clock;
  kube::MemoryStore api(clock);
  std::mutex mu;
  std::vector<SecretName> seen;
  SecretWatches watches(api, clock, [&](const SecretName& s) {
    std::lock_guard lock(mu);
    seen.push_back(s);
  });
  auto seen_count = [&](const SecretName& s) {
    std::lock_guard lock(mu);
    return std::count(seen.begin(), seen.end(), s);
  };
  ASSERT_TRUE(
      api.create(
             kube::resources::kNamespaces, "",
             Json{{"apiVersion", "v1"}, {"kind", "Namespace"}, {"metadata", {{"name", "team"}}}})
          .ok());
  const SecretName a{"default", "a"}, b{"team", "b"};
  watches.watch({a, b});
  EXPECT_EQ(watches.watched(), (std::set<SecretName>{a, b}));
  auto secret = [](const std::string& ns, const std::string& name) {
    return Json{{"apiVersion", "v1"},
                {"kind", "Secret"},
                {"metadata", {{"name", name}, {"namespace", ns}}},
                {"data", {{"k", "dg=="}}}};
  };
  ASSERT_TRUE(api.create(kube::resources::kSecrets, "default", secret("default", "a")).ok());
  ASSERT_TRUE(api.create(kube::resources::kSecrets, "team", secret("team", "b")).ok());
  ASSERT_TRUE(api.create(kube::resources::kSecrets, "default", secret("default", "other")).ok());
  EXPECT_TRUE(eventually([&] { return seen_count(a) >= 1 && seen_count(b) >= 1; }));

  watches.watch({a});  // b is no longer referenced
  EXPECT_EQ(watches.watched(), std::set<SecretName>{a});
  const auto b_before = seen_count(b);
  ASSERT_TRUE(api.remove(kube::resources::kSecrets, "team", "b").ok());
  ASSERT_TRUE(api.remove(kube::resources::kSecrets, "default", "a").ok());
  EXPECT_TRUE(eventually([&] { return seen_count(a) >= 2; }));
  EXPECT_EQ(seen_count(b), b_before);
  EXPECT_EQ(seen_count(SecretName{"default", "other"}), 0);
  watches.stop();
  watches.watch({b});  // after stop: nothing starts
  EXPECT_TRUE(watches.watched().empty());
}

// Which Secrets the providers reference, with "default" for no namespace.
TEST(SecretWatches, ReferencesComeFromCredentialsAndTheSshKey) {
  kube::Store providers;
  auto provider = [](const std::string& name, Json spec) {
    return std::make_shared<const Json>(Json{{"apiVersion", "gpupool.io/v1alpha1"},
                                             {"kind", "GpuProvider"},
                                             {"metadata", {{"name", name}}},
                                             {"spec", std::move(spec)}});
  };
  (void)providers.replace(
      {provider("rp", {{"type", "runpod"}, {"credentialsSecret", {{"name", "rp-creds"}}}}),
       provider("fl",
                {{"type", "fluence"},
                 {"credentialsSecret", {{"name", "fl-creds"}, {"namespace", "ops"}}},
                 {"sshPublicKey", {{"secretKeyRef", {{"name", "keys"}, {"key", "id.pub"}}}}}}),
       provider("f", {{"type", "fake"}})});
  EXPECT_EQ(
      secrets_referenced(providers),
      (std::set<SecretName>{{"default", "rp-creds"}, {"ops", "fl-creds"}, {"default", "keys"}}));
  EXPECT_EQ(providers_referencing(providers, {"default", "keys"}), std::set<std::string>{"fl"});
  EXPECT_TRUE(providers_referencing(providers, {"ops", "rp-creds"}).empty());
}

}  // namespace
}  // namespace gpupool::manager
