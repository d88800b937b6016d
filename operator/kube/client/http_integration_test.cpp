// The HTTP client, informer, leader election and event recorder against the
// test API server (tests/apiserver) on loopback: real request/response
// semantics and every fault the server can inject.
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <map>
#include <set>
#include <thread>

#include "operator/kube/api/eviction.h"
#include "operator/kube/client/http_client.h"
#include "operator/kube/runtime/event_recorder.h"
#include "operator/kube/runtime/informer.h"
#include "operator/kube/runtime/leader_election.h"
#include "tests/apiserver/api_server.h"

namespace gpupool::kube {
namespace {

namespace fs = std::filesystem;
using std::chrono::milliseconds;
using std::chrono::seconds;

const Resource kPools{"gpupool.io", "v1alpha1", "gpupools", "GpuPool", true};
const Resource& kConfigMaps = resources::kConfigMaps;

template <typename Pred>
bool eventually(Pred p) {
  for (int i = 0; i < 15'000; ++i) {
    if (p()) return true;
    std::this_thread::sleep_for(milliseconds(1));
  }
  return p();
}

Json crd() {
  return {
      {"apiVersion", "apiextensions.k8s.io/v1"},
      {"kind", "CustomResourceDefinition"},
      {"metadata", {{"name", "gpupools.gpupool.io"}}},
      {"spec",
       {{"group", "gpupool.io"},
        {"scope", "Namespaced"},
        {"names",
         {{"plural", "gpupools"},
          {"singular", "gpupool"},
          {"kind", "GpuPool"},
          {"listKind", "GpuPoolList"}}},
        {"versions", Json::array({{{"name", "v1alpha1"},
                                   {"served", true},
                                   {"storage", true},
                                   {"subresources", {{"status", Json::object()}}},
                                   {"schema",
                                    {{"openAPIV3Schema",
                                      {{"type", "object"},
                                       {"x-kubernetes-preserve-unknown-fields", true}}}}}}})}}}};
}

Json cm(const std::string& name, Json labels = Json::object()) {
  return {{"apiVersion", "v1"},
          {"kind", "ConfigMap"},
          {"metadata", {{"name", name}, {"namespace", "default"}, {"labels", labels}}},
          {"data", {{"k", "v"}}}};
}

Json gp(const std::string& name, int size) {
  return {{"apiVersion", "gpupool.io/v1alpha1"},
          {"kind", "GpuPool"},
          {"metadata", {{"name", name}, {"namespace", "default"}}},
          {"spec", {{"size", size}}}};
}

class Integration : public ::testing::Test {
 protected:
  void SetUp() override {
    apiserver::ApiServerOptions o;
    o.token = "s3cret";
    o.bookmark_interval = milliseconds(0);
    o.watch_poll = milliseconds(10);
    server_ = std::make_unique<apiserver::TestApiServer>(clock_, o);
    ASSERT_TRUE(server_->start().ok());
    dir_ = fs::temp_directory_path() /
           ("kube-it-" + std::to_string(::getpid()) + "-" + std::to_string(server_->port()));
    fs::create_directories(dir_);
    const std::string path = (dir_ / "kubeconfig").string();
    ASSERT_TRUE(server_->write_kubeconfig(path).ok());
    auto cfg = load_kubeconfig({{path}, ""});
    ASSERT_TRUE(cfg.ok()) << cfg.error().message;
    cfg->qps = 0;
    cfg->request_timeout = milliseconds(5000);
    config_ = *cfg;
    client_ = std::make_unique<HttpKubeClient>(config_, clock_);
  }
  void TearDown() override {
    client_.reset();
    if (server_) server_->stop();
    std::error_code ec;
    fs::remove_all(dir_, ec);
  }
  void make_crd() {
    auto r = client_->create(resources::kCustomResourceDefinitions, "", crd());
    ASSERT_TRUE(r.ok()) << r.error().message;
  }
  MemoryStore& store() { return server_->store(); }

  SystemClock clock_;
  std::unique_ptr<apiserver::TestApiServer> server_;
  fs::path dir_;
  ClientConfig config_;
  std::unique_ptr<HttpKubeClient> client_;
};

TEST_F(Integration, KubeconfigWrittenByTheServerReachesIt) {
  EXPECT_NE(config_.to_string().find(server_->base_url()), std::string::npos);
  EXPECT_EQ(config_.to_string().find("s3cret"), std::string::npos);
  auto v = client_->get_path("/version");
  ASSERT_TRUE(v.ok()) << v.error().message;
  EXPECT_EQ((*v)["minor"], "32");
}

TEST_F(Integration, WrongTokenIsUnauthorized) {
  ClientConfig bad = config_;
  bad.credentials = CredentialSource::fixed({"wrong", "", ""});
  HttpKubeClient c(bad, clock_);
  auto r = c.get(kConfigMaps, "default", "x");
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().kind, ErrorKind::Unauthorized);
}

TEST_F(Integration, CrudWithOptimisticConcurrency) {
  auto created = client_->create(kConfigMaps, "default", cm("a"));
  ASSERT_TRUE(created.ok()) << created.error().message;
  EXPECT_FALSE(resource_version_of(*created).empty());
  EXPECT_FALSE((*created)["metadata"]["uid"].get<std::string>().empty());

  auto dup = client_->create(kConfigMaps, "default", cm("a"));
  ASSERT_FALSE(dup.ok());
  EXPECT_EQ(dup.error().kind, ErrorKind::AlreadyExists);

  Json next = *created;
  next["data"]["k"] = "v2";
  auto updated = client_->update(kConfigMaps, next);
  ASSERT_TRUE(updated.ok()) << updated.error().message;
  EXPECT_EQ((*updated)["data"]["k"], "v2");

  auto stale = client_->update(kConfigMaps, next);  // old resourceVersion
  ASSERT_FALSE(stale.ok());
  EXPECT_EQ(stale.error().kind, ErrorKind::Conflict);

  auto got = client_->get(kConfigMaps, "default", "a");
  ASSERT_TRUE(got.ok());
  EXPECT_EQ((*got)["data"]["k"], "v2");

  auto missing = client_->get(kConfigMaps, "default", "nope");
  ASSERT_FALSE(missing.ok());
  EXPECT_EQ(missing.error().kind, ErrorKind::NotFound);
  EXPECT_EQ(missing.error().message, "configmaps \"nope\" not found");

  auto del = client_->remove(kConfigMaps, "default", "a");
  ASSERT_TRUE(del.ok()) << del.error().message;
  EXPECT_TRUE(del->deleted);
  EXPECT_EQ(client_->get(kConfigMaps, "default", "a").error().kind, ErrorKind::NotFound);

  auto dry = client_->create(kConfigMaps, "default", cm("b"), {true});
  ASSERT_TRUE(dry.ok());
  EXPECT_EQ(client_->get(kConfigMaps, "default", "b").error().kind, ErrorKind::NotFound)
      << "dry run persists nothing";
}

TEST_F(Integration, CustomResourcesNeedResourceVersionAndKeepStatusSeparate) {
  make_crd();
  auto created = client_->create(kPools, "default", gp("p", 2));
  ASSERT_TRUE(created.ok()) << created.error().message;
  EXPECT_EQ((*created)["metadata"]["generation"], 1);

  Json no_rv = gp("p", 3);
  auto invalid = client_->update(kPools, no_rv);
  ASSERT_FALSE(invalid.ok());
  EXPECT_EQ(invalid.error().kind, ErrorKind::Invalid);

  Json with_status = *created;
  with_status["status"] = {{"ready", 2}};
  UpdateOptions uo;
  uo.subresource = "status";
  auto st = client_->update(kPools, with_status, uo);
  ASSERT_TRUE(st.ok()) << st.error().message;
  EXPECT_EQ((*st)["status"]["ready"], 2);
  EXPECT_EQ((*st)["metadata"]["generation"], 1) << "status writes keep generation";

  Json spec_change = *st;
  spec_change["spec"]["size"] = 5;
  spec_change["status"]["ready"] = 99;  // ignored by the main resource
  auto main = client_->update(kPools, spec_change);
  ASSERT_TRUE(main.ok()) << main.error().message;
  EXPECT_EQ((*main)["spec"]["size"], 5);
  EXPECT_EQ((*main)["status"]["ready"], 2);
  EXPECT_EQ((*main)["metadata"]["generation"], 2);
}

TEST_F(Integration, PatchTypes) {
  make_crd();
  ASSERT_TRUE(client_->create(kPools, "default", gp("p", 1)).ok());
  auto merged = client_->patch(kPools, "default", "p", PatchType::Merge, {{"spec", {{"size", 4}}}});
  ASSERT_TRUE(merged.ok()) << merged.error().message;
  EXPECT_EQ((*merged)["spec"]["size"], 4);
  auto jp =
      client_->patch(kPools, "default", "p", PatchType::JsonPatch,
                     Json::array({{{"op", "replace"}, {"path", "/spec/size"}, {"value", 6}}}));
  ASSERT_TRUE(jp.ok()) << jp.error().message;
  EXPECT_EQ((*jp)["spec"]["size"], 6);
  auto smp_cr =
      client_->patch(kPools, "default", "p", PatchType::StrategicMerge, {{"spec", {{"size", 7}}}});
  ASSERT_FALSE(smp_cr.ok());
  EXPECT_EQ(smp_cr.error().kind, ErrorKind::UnsupportedMediaType);

  ASSERT_TRUE(client_->create(kConfigMaps, "default", cm("c")).ok());
  auto smp = client_->patch(kConfigMaps, "default", "c", PatchType::StrategicMerge,
                            {{"data", {{"extra", "1"}}}});
  ASSERT_TRUE(smp.ok()) << smp.error().message;
  EXPECT_EQ((*smp)["data"]["extra"], "1");
  EXPECT_EQ((*smp)["data"]["k"], "v");

  auto bad_test = client_->patch(
      kPools, "default", "p", PatchType::JsonPatch,
      Json::array({{{"op", "test"}, {"path", "/metadata/resourceVersion"}, {"value", "1"}}}));
  ASSERT_FALSE(bad_test.ok());
}

TEST_F(Integration, SelectorsAndPagination) {
  for (int i = 0; i < 7; ++i) {
    ASSERT_TRUE(client_
                    ->create(kConfigMaps, "default",
                             cm("cm-" + std::to_string(i), {{"parity", i % 2 ? "odd" : "even"}}))
                    .ok());
  }
  ListOptions lo;
  lo.label_selector = "parity=odd";
  auto odd = client_->list(kConfigMaps, "default", lo);
  ASSERT_TRUE(odd.ok()) << odd.error().message;
  EXPECT_EQ(odd->items.size(), 3u);
  lo.label_selector = "parity in (odd,even),parity!=even";
  EXPECT_EQ(client_->list(kConfigMaps, "default", lo)->items.size(), 3u);
  ListOptions fo;
  fo.field_selector = "metadata.name=cm-4";
  auto one = client_->list(kConfigMaps, "default", fo);
  ASSERT_TRUE(one.ok());
  ASSERT_EQ(one->items.size(), 1u);
  EXPECT_EQ(one->items[0]["metadata"]["name"], "cm-4");
  EXPECT_EQ(one->items[0]["kind"], "ConfigMap");

  std::set<std::string> names;
  ListOptions po;
  po.limit = 3;
  int pages = 0;
  do {
    auto page = client_->list(kConfigMaps, "default", po);
    ASSERT_TRUE(page.ok()) << page.error().message;
    for (const auto& it : page->items)
      names.insert(it["metadata"]["name"]);
    po.continue_token = page->continue_token;
    ++pages;
  } while (!po.continue_token.empty() && pages < 10);
  EXPECT_EQ(pages, 3);
  EXPECT_EQ(names.size(), 7u);

  ListOptions bad;
  bad.label_selector = "parity in (odd";
  auto err = client_->list(kConfigMaps, "default", bad);
  ASSERT_FALSE(err.ok());
  EXPECT_EQ(err.error().kind, ErrorKind::BadRequest);
}

TEST_F(Integration, DeletePreconditionsAndFinalizers) {
  auto created = client_->create(kConfigMaps, "default", cm("f"));
  ASSERT_TRUE(created.ok());
  DeleteOptions wrong;
  wrong.precondition_uid = "not-the-uid";
  auto r = client_->remove(kConfigMaps, "default", "f", wrong);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().kind, ErrorKind::Conflict);

  auto fin = client_->patch(kConfigMaps, "default", "f", PatchType::Merge,
                            {{"metadata", {{"finalizers", {"example.com/hold"}}}}});
  ASSERT_TRUE(fin.ok()) << fin.error().message;
  DeleteOptions ok;
  ok.precondition_uid = (*created)["metadata"]["uid"].get<std::string>();
  auto held = client_->remove(kConfigMaps, "default", "f", ok);
  ASSERT_TRUE(held.ok()) << held.error().message;
  EXPECT_FALSE(held->deleted);
  EXPECT_TRUE(held->object["metadata"].contains("deletionTimestamp"));
  auto release = client_->patch(kConfigMaps, "default", "f", PatchType::Merge,
                                {{"metadata", {{"finalizers", nullptr}}}});
  ASSERT_TRUE(release.ok()) << release.error().message;
  EXPECT_EQ(client_->get(kConfigMaps, "default", "f").error().kind, ErrorKind::NotFound);
}

// --- injected faults -----------------------------------------------------

void fault(MemoryStore& s, const std::string& verb, ErrorKind kind, int code,
           const std::string& reason, std::optional<int64_t> retry_after = std::nullopt) {
  ApiError e = make_error(kind, "injected " + reason);
  e.code = code;
  e.reason = reason;
  e.retry_after_seconds = retry_after;
  s.inject_fault({verb, "configmaps", 1, e});
}

TEST_F(Integration, InjectedErrorsMapToKinds) {
  ASSERT_TRUE(client_->create(kConfigMaps, "default", cm("x")).ok());
  fault(store(), "get", ErrorKind::Conflict, 409, "Conflict");
  EXPECT_EQ(client_->get(kConfigMaps, "default", "x").error().kind, ErrorKind::Conflict);
  fault(store(), "get", ErrorKind::Internal, 500, "InternalError");
  EXPECT_EQ(client_->get(kConfigMaps, "default", "x").error().kind, ErrorKind::Internal);
  fault(store(), "get", ErrorKind::Unavailable, 503, "ServiceUnavailable");
  EXPECT_EQ(client_->get(kConfigMaps, "default", "x").error().kind, ErrorKind::Unavailable);
  fault(store(), "get", ErrorKind::Forbidden, 403, "Forbidden");
  EXPECT_EQ(client_->get(kConfigMaps, "default", "x").error().kind, ErrorKind::Forbidden);
  EXPECT_TRUE(client_->get(kConfigMaps, "default", "x").ok()) << "faults are consumed";
}

TEST_F(Integration, TooManyRequestsIsRetriedAfterRetryAfter) {
  ASSERT_TRUE(client_->create(kConfigMaps, "default", cm("x")).ok());
  fault(store(), "update", ErrorKind::TooManyRequests, 429, "TooManyRequests", 0);
  fault(store(), "update", ErrorKind::TooManyRequests, 429, "TooManyRequests", 0);
  auto cur = client_->get(kConfigMaps, "default", "x");
  ASSERT_TRUE(cur.ok());
  Json next = *cur;
  next["data"]["k"] = "after-429";
  const auto retries = client_->retries_total();
  auto r = client_->update(kConfigMaps, next);
  ASSERT_TRUE(r.ok()) << r.error().message;
  EXPECT_EQ(client_->retries_total() - retries, 2u);

  HttpKubeClient::Options no_retry;
  no_retry.max_retries = 0;
  HttpKubeClient c(config_, clock_, no_retry);
  fault(store(), "get", ErrorKind::TooManyRequests, 429, "TooManyRequests", 0);
  auto e = c.get(kConfigMaps, "default", "x");
  ASSERT_FALSE(e.ok());
  EXPECT_EQ(e.error().kind, ErrorKind::TooManyRequests);
}

TEST_F(Integration, SlowServerIsTimeout) {
  ClientConfig fast = config_;
  fast.request_timeout = milliseconds(150);
  HttpKubeClient c(fast, clock_);
  store().set_delay(milliseconds(1000));
  auto r = c.get(kConfigMaps, "default", "x");
  store().set_delay(milliseconds(0));
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().kind, ErrorKind::Timeout);
}

// --- informer over HTTP ----------------------------------------------------

// Counts what handlers saw per object and catches duplicates: an add for a
// known key, or an update/delete carrying a version already seen.
struct Ledger {
  std::mutex mu;
  std::map<std::string, std::string> live;  // key -> last resourceVersion
  std::set<std::string> deleted;
  std::vector<std::string> problems;
  size_t events = 0;

  EventHandlers handlers() {
    return {[this](const ObjectPtr& o) {
              std::lock_guard lock(mu);
              ++events;
              const std::string k = object_key(*o);
              if (live.count(k) != 0) problems.push_back("duplicate add " + k);
              live[k] = resource_version_of(*o);
              deleted.erase(k);
            },
            [this](const ObjectPtr& old_obj, const ObjectPtr& o) {
              std::lock_guard lock(mu);
              ++events;
              const std::string k = object_key(*o);
              if (live.count(k) == 0) problems.push_back("update of unknown " + k);
              if (live[k] != resource_version_of(*old_obj)) problems.push_back("old mismatch " + k);
              if (resource_version_of(*o) == resource_version_of(*old_obj)) {
                problems.push_back("repeated update " + k);
              }
              live[k] = resource_version_of(*o);
            },
            [this](const ObjectPtr& o) {
              std::lock_guard lock(mu);
              ++events;
              const std::string k = object_key(*o);
              if (live.erase(k) == 0) problems.push_back("delete of unknown " + k);
              deleted.insert(k);
            }};
  }
  // True when the handler view equals the server's list.
  bool matches(KubeApi& api, const Resource& r) {
    auto l = api.list(r, "default");
    if (!l.ok()) return false;
    std::map<std::string, std::string> server;
    for (const auto& it : l->items)
      server[object_key(it)] = resource_version_of(it);
    std::lock_guard lock(mu);
    return server == live;
  }
};

class InformerIntegration : public Integration {
 protected:
  Informer::Options opts() {
    Informer::Options o;
    o.namespace_ = "default";
    o.poll_interval = milliseconds(20);
    o.backoff_base = milliseconds(10);
    o.backoff_cap = milliseconds(100);
    o.page_size = 3;
    return o;
  }
};

TEST_F(InformerIntegration, DroppedWatchResumesWithoutMissingOrDuplicating) {
  for (int i = 0; i < 5; ++i)
    ASSERT_TRUE(client_->create(kConfigMaps, "default", cm("a" + std::to_string(i))).ok());
  Informer inf(*client_, kConfigMaps, clock_, opts());
  Ledger ledger;
  inf.add_handlers(ledger.handlers());
  inf.start();
  ASSERT_TRUE(inf.wait_for_sync(seconds(10)));
  ASSERT_TRUE(eventually([&] { return store().watcher_count() == 1; }));
  for (int round = 0; round < 3; ++round) {
    const auto watches = inf.watches_total();
    store().send_bookmarks();
    store().drop_watches();
    // Changes while the informer is between streams.
    const std::string n = std::to_string(round);
    ASSERT_TRUE(client_->create(kConfigMaps, "default", cm("new" + n)).ok());
    ASSERT_TRUE(
        client_
            ->patch(kConfigMaps, "default", "a" + n, PatchType::Merge, {{"data", {{"round", n}}}})
            .ok());
    ASSERT_TRUE(client_->remove(kConfigMaps, "default", "a" + std::to_string(4 - round)).ok() ||
                round == 2);
    ASSERT_TRUE(eventually([&] { return inf.watches_total() > watches; }));
  }
  ASSERT_TRUE(eventually([&] { return ledger.matches(*client_, kConfigMaps); }));
  std::lock_guard lock(ledger.mu);
  EXPECT_TRUE(ledger.problems.empty()) << ledger.problems.front();
  EXPECT_EQ(inf.lists_total(), 1u) << "resumed, never relisted";
  EXPECT_EQ(inf.relists_after_gone_total(), 0u);
  inf.stop();
}

TEST_F(InformerIntegration, ExpiredVersionRelistsAndDeliversDifferencesOnce) {
  for (int i = 0; i < 6; ++i) {
    ASSERT_TRUE(client_->create(kConfigMaps, "default", cm("b" + std::to_string(i))).ok());
  }
  // The informer's backoff runs on a fake clock so the test decides when it
  // comes back.
  FakeClock fake(Time{seconds(1'800'000'000)});
  Informer inf(*client_, kConfigMaps, fake, opts());
  Ledger ledger;
  inf.add_handlers(ledger.handlers());
  inf.start();
  ASSERT_TRUE(inf.wait_for_sync(seconds(10)));
  ASSERT_TRUE(eventually([&] { return store().watcher_count() == 1; }));
  // Keep the informer away (its next watch fails, then it backs off), change
  // things, and expire every version so its resume gets 410 and relists.
  ApiError e = make_error(ErrorKind::Unavailable, "injected");
  e.code = 503;
  store().inject_fault({"watch", "configmaps", 1, e});
  store().drop_watches();
  ASSERT_TRUE(eventually([&] { return inf.backoffs_total() == 1; }));
  ASSERT_TRUE(client_->remove(kConfigMaps, "default", "b0").ok());
  ASSERT_TRUE(
      client_->patch(kConfigMaps, "default", "b1", PatchType::Merge, {{"data", {{"x", "1"}}}})
          .ok());
  ASSERT_TRUE(client_->create(kConfigMaps, "default", cm("b9")).ok());
  store().compact();
  fake.advance(seconds(1));
  inf.clock_advanced();
  ASSERT_TRUE(eventually([&] { return inf.relists_after_gone_total() == 1; }));
  ASSERT_TRUE(eventually([&] { return ledger.matches(*client_, kConfigMaps); }));
  // And it keeps following live changes afterwards.
  ASSERT_TRUE(client_->create(kConfigMaps, "default", cm("b10")).ok());
  ASSERT_TRUE(eventually([&] { return ledger.matches(*client_, kConfigMaps); }));
  std::lock_guard lock(ledger.mu);
  EXPECT_TRUE(ledger.problems.empty()) << ledger.problems.front();
  EXPECT_EQ(ledger.deleted, (std::set<std::string>{"default/b0"}));
  EXPECT_EQ(inf.lists_total(), 2u);
  inf.stop();
}

TEST_F(InformerIntegration, WatchErrorsBackOffThenRecover) {
  ASSERT_TRUE(client_->create(kConfigMaps, "default", cm("c0")).ok());
  ApiError e = make_error(ErrorKind::Internal, "injected");
  e.code = 500;
  store().inject_fault({"watch", "configmaps", 2, e});
  Informer inf(*client_, kConfigMaps, clock_, opts());
  Ledger ledger;
  inf.add_handlers(ledger.handlers());
  inf.start();
  ASSERT_TRUE(inf.wait_for_sync(seconds(10)));
  ASSERT_TRUE(client_->create(kConfigMaps, "default", cm("c1")).ok());
  ASSERT_TRUE(eventually([&] { return ledger.matches(*client_, kConfigMaps); }));
  EXPECT_GE(inf.backoffs_total(), 2u);
  EXPECT_GE(inf.errors_total(), 2u);
  inf.stop();
}

TEST_F(InformerIntegration, StopIsPromptWithAnIdleWatch) {
  Informer::Options o = opts();
  o.poll_interval = seconds(30);  // stop() must not wait for a poll
  Informer inf(*client_, kConfigMaps, clock_, o);
  inf.start();
  ASSERT_TRUE(inf.wait_for_sync(seconds(10)));
  ASSERT_TRUE(eventually([&] { return store().watcher_count() == 1; }));
  inf.stop();  // hangs (test timeout) if cancel does not wake the stream
  EXPECT_TRUE(eventually([&] { return store().watcher_count() == 0; }));
}

// --- leader election and events over HTTP ---------------------------------

TEST_F(Integration, LeaderElectionBetweenTwoClients) {
  HttpKubeClient other(config_, clock_);
  FakeClock fake(Time{seconds(1'800'000'000)});
  LeaderElectionConfig ca;
  ca.lease_namespace = "default";
  ca.lease_name = "gpupool-operator";
  ca.identity = "a";
  LeaderElectionConfig cb = ca;
  cb.identity = "b";
  LeaderElector a(*client_, fake, ca);
  LeaderElector b(other, fake, cb);
  ASSERT_TRUE(a.try_acquire_or_renew());
  EXPECT_FALSE(b.try_acquire_or_renew());
  fake.advance(seconds(16));
  EXPECT_TRUE(b.try_acquire_or_renew());
  EXPECT_FALSE(a.try_acquire_or_renew());
  auto lease = client_->get(resources::kLeases, "default", "gpupool-operator");
  ASSERT_TRUE(lease.ok());
  EXPECT_EQ((*lease)["spec"]["holderIdentity"], "b");
  EXPECT_EQ((*lease)["spec"]["leaseTransitions"], 1);
  EXPECT_EQ((*lease)["spec"]["renewTime"], "2027-01-15T08:00:16.000000Z");
}

TEST_F(Integration, EventsAreCreatedThenPatchedWithStrategicMerge) {
  auto obj = client_->create(kConfigMaps, "default", cm("ev"));
  ASSERT_TRUE(obj.ok());
  FakeClock fake(Time{seconds(1'800'000'000)});
  EventRecorder rec(*client_, fake, "gpupool-operator");
  ASSERT_TRUE(rec.record(*obj, "Warning", "Broken", "it broke").ok());
  fake.advance(seconds(3));
  ASSERT_TRUE(rec.record(*obj, "Warning", "Broken", "it broke").ok());
  ListOptions lo;
  lo.field_selector = "involvedObject.name=ev";
  auto events = client_->list(resources::kEvents, "default", lo);
  ASSERT_TRUE(events.ok()) << events.error().message;
  ASSERT_EQ(events->items.size(), 1u);
  EXPECT_EQ(events->items[0]["count"], 2);
  EXPECT_EQ(events->items[0]["lastTimestamp"], "2027-01-15T08:00:03Z");
  EXPECT_EQ(rec.patched_total(), 1u);
}

// POST pods/<name>/eviction over HTTP: the 429 of a budget allowing no
// disruption comes back as BlockedByBudget with its cause, then Evicted.
TEST_F(Integration, EvictionOverHttpHonoursDisruptionBudgets) {
  Json pod = {
      {"apiVersion", "v1"},
      {"kind", "Pod"},
      {"metadata", {{"name", "web-1"}, {"namespace", "default"}, {"labels", {{"app", "w"}}}}},
      {"spec", {{"nodeName", "n1"}, {"containers", {{{"name", "c"}, {"image", "i"}}}}}}};
  ASSERT_TRUE(client_->create(resources::kPods, "default", pod).ok());
  // Running and Ready (a Pending pod is evicted whatever the budget says).
  PatchOptions status_only;
  status_only.subresource = "status";
  ASSERT_TRUE(client_
                  ->patch(resources::kPods, "default", "web-1", PatchType::Merge,
                          {{"status",
                            {{"phase", "Running"},
                             {"conditions", {{{"type", "Ready"}, {"status", "True"}}}}}}},
                          status_only)
                  .ok());
  Json pdb = {{"apiVersion", "policy/v1"},
              {"kind", "PodDisruptionBudget"},
              {"metadata", {{"name", "w"}, {"namespace", "default"}}},
              {"spec", {{"minAvailable", 1}, {"selector", {{"matchLabels", {{"app", "w"}}}}}}}};
  ASSERT_TRUE(client_->create(resources::kPodDisruptionBudgets, "default", pdb).ok());
  auto allow = [&](int n) {
    PatchOptions po;
    po.subresource = "status";
    Json st = {{"status",
                {{"disruptionsAllowed", n},
                 {"currentHealthy", 1},
                 {"desiredHealthy", 1},
                 {"observedGeneration", 1}}}};
    ASSERT_TRUE(
        client_->patch(resources::kPodDisruptionBudgets, "default", "w", PatchType::Merge, st, po)
            .ok());
  };
  allow(0);
  auto blocked = evict(*client_, "default", "web-1");
  ASSERT_TRUE(blocked.ok()) << blocked.error().message;
  EXPECT_EQ(blocked->outcome, Eviction::Outcome::BlockedByBudget);
  EXPECT_NE(blocked->message.find("The disruption budget w needs 1 healthy pods"),
            std::string::npos)
      << blocked->message;
  auto pods = drain_candidates(*client_, "n1");
  ASSERT_TRUE(pods.ok()) << pods.error().message;
  EXPECT_EQ(pods->evict.size(), 1u);
  allow(1);
  auto done = evict(*client_, "default", "web-1");
  ASSERT_TRUE(done.ok()) << done.error().message;
  EXPECT_EQ(done->outcome, Eviction::Outcome::Evicted);
  EXPECT_FALSE(store().exists(resources::kPods, "default", "web-1"));
  auto gone = evict(*client_, "default", "web-1");
  ASSERT_TRUE(gone.ok());
  EXPECT_EQ(gone->outcome, Eviction::Outcome::NotFound);
}

}  // namespace
}  // namespace gpupool::kube
