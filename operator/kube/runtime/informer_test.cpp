// Store, Backoff and the Informer's list/watch protocol against a scripted
// KubeApi whose answers each test controls exactly (the in-memory store and
// HTTP server versions live in operator/kube/client/http_integration_test.cpp).
#include "operator/kube/runtime/informer.h"

#include <gtest/gtest.h>

#include <atomic>
#include <condition_variable>
#include <deque>
#include <limits>
#include <map>
#include <thread>

namespace gpupool::kube {
namespace {

using std::chrono::milliseconds;
using std::chrono::seconds;

// NOLINTNEXTLINE(cert-err58-cpp,readability-identifier-naming): a constant
const Resource kPools{"gpupool.io", "v1alpha1", "gpupools", "GpuPool", true};

Json obj(const std::string& ns, const std::string& name, const std::string& rv,
         Json labels = Json::object(), const std::string& owner = "") {
  Json o = {{"apiVersion", "gpupool.io/v1alpha1"},
            {"kind", "GpuPool"},
            {"metadata",
             {{"namespace", ns}, {"name", name}, {"resourceVersion", rv}, {"labels", labels}}}};
  if (!owner.empty()) o["metadata"]["ownerReferences"] = Json::array({{{"uid", owner}}});
  return o;
}

// Waits (real time, bounded) for a condition another thread makes true.
template <typename Pred>
bool eventually(Pred p) {
  for (int i = 0; i < 10'000; ++i) {
    if (p()) return true;
    std::this_thread::sleep_for(milliseconds(1));
  }
  return p();
}

// --- Store -----------------------------------------------------------------

TEST(Store, IndexesAndSnapshots) {
  Store s;
  s.add_index("owner", index_by_owner_uid());
  s.add_index("app", index_by_label("app"));
  s.upsert(std::make_shared<const Json>(obj("a", "x", "1", {{"app", "web"}}, "u1")));
  s.upsert(std::make_shared<const Json>(obj("a", "y", "2", {{"app", "db"}}, "u1")));
  s.upsert(std::make_shared<const Json>(obj("b", "z", "3", {{"app", "web"}})));
  EXPECT_EQ(s.size(), 3u);
  EXPECT_EQ(s.list_namespace("a").size(), 2u);
  EXPECT_EQ(s.by_index("owner", "u1").size(), 2u);
  EXPECT_EQ(s.by_index("app", "web").size(), 2u);
  EXPECT_TRUE(s.by_index("nope", "web").empty());
  ObjectPtr before = s.get("a", "x");
  s.upsert(std::make_shared<const Json>(obj("a", "x", "4", {{"app", "db"}})));
  EXPECT_EQ(resource_version_of(*before), "1") << "a reader's snapshot never changes";
  EXPECT_EQ(resource_version_of(*s.get("a/x")), "4");
  EXPECT_EQ(s.by_index("app", "web").size(), 1u) << "re-indexed on update";
  EXPECT_EQ(s.by_index("owner", "u1").size(), 1u);
  EXPECT_TRUE(s.remove("b/z"));
  EXPECT_TRUE(s.list_namespace("b").empty());
  EXPECT_FALSE(s.remove("b/z"));
}

TEST(Store, IndexCountsFollowUpdatesAndRemovals) {
  Store s;
  EXPECT_TRUE(s.index_counts("app").empty());
  EXPECT_FALSE(s.has_index("app"));
  s.add_index("app", index_by_label("app"));
  EXPECT_TRUE(s.has_index("app")) << "registered, though no object has a value yet";
  s.upsert(std::make_shared<const Json>(obj("a", "x", "1", {{"app", "web"}})));
  s.upsert(std::make_shared<const Json>(obj("a", "y", "2", {{"app", "web"}})));
  s.upsert(std::make_shared<const Json>(obj("a", "z", "3", {{"app", "db"}})));
  EXPECT_EQ(s.index_counts("app"), (std::map<std::string, size_t>{{"db", 1}, {"web", 2}}));
  s.upsert(std::make_shared<const Json>(obj("a", "x", "4", {{"app", "db"}})));
  s.remove("a/z");
  EXPECT_EQ(s.index_counts("app"), (std::map<std::string, size_t>{{"db", 1}, {"web", 1}}));
  s.remove("a/y");
  EXPECT_EQ(s.index_counts("app"), (std::map<std::string, size_t>{{"db", 1}}));
}

TEST(Store, ReplaceReturnsOnlyDifferences) {
  Store s;
  s.replace({std::make_shared<const Json>(obj("n", "a", "1")),
             std::make_shared<const Json>(obj("n", "b", "2")),
             std::make_shared<const Json>(obj("n", "c", "3"))});
  auto d = s.replace({std::make_shared<const Json>(obj("n", "a", "1")),
                      std::make_shared<const Json>(obj("n", "b", "5")),
                      std::make_shared<const Json>(obj("n", "d", "6"))});
  std::map<std::string, StoreDelta::Type> got;
  for (const auto& x : d)
    got[object_key(*(x.new_obj ? x.new_obj : x.old_obj))] = x.type;
  EXPECT_EQ(got, (std::map<std::string, StoreDelta::Type>{{"n/b", StoreDelta::Type::Updated},
                                                          {"n/c", StoreDelta::Type::Deleted},
                                                          {"n/d", StoreDelta::Type::Added}}));
  EXPECT_EQ(s.keys(), (std::vector<std::string>{"n/a", "n/b", "n/d"}));
}

TEST(Store, StagedObjectsHoldNoTreeAndReplaceAsReplaceDoes) {
  Store s(StoreMode::Compact);
  s.add_index("owner", index_by_owner_uid());
  s.replace({std::make_shared<const Json>(obj("n", "a", "1", {}, "u1")),
             std::make_shared<const Json>(obj("n", "b", "2", {}, "u1")),
             std::make_shared<const Json>(obj("n", "c", "3", {}, "u2"))});
  const Json b5 = obj("n", "b", "5", {}, "u2");
  const Json d6 = obj("n", "d", "6", {}, "u1");
  std::vector<Store::Staged> staged;
  for (const Json& o : {obj("n", "a", "1", {}, "u1"), b5, d6}) {
    auto tree = std::make_shared<const Json>(o);
    staged.push_back(s.stage(tree));
    EXPECT_EQ(tree.use_count(), 1) << "a staged object keeps no tree";
  }
  EXPECT_EQ(staged[0].version, stored_version(s.get("n/a"))) << "unchanged: not encoded again";
  EXPECT_EQ(s.by_index("owner", "u1").size(), 2u) << "nothing changes until the replace";
  const auto deltas = s.replace_staged(std::move(staged));
  ASSERT_EQ(deltas.size(), 3u);
  std::map<std::string, std::pair<StoreDelta::Type, Json>> got;
  for (const auto& v : deltas) {
    const StoreDelta d = Store::read_delta(v);
    const ObjectPtr& o = d.new_obj ? d.new_obj : d.old_obj;
    EXPECT_TRUE(stored_version(o)) << "read from a stored version";
    got[object_key(*o)] = {d.type, *o};
  }
  EXPECT_EQ(got["n/b"], std::make_pair(StoreDelta::Type::Updated, b5));
  EXPECT_EQ(got["n/c"].first, StoreDelta::Type::Deleted);
  EXPECT_EQ(got["n/d"], std::make_pair(StoreDelta::Type::Added, d6));
  EXPECT_EQ(s.keys(), (std::vector<std::string>{"n/a", "n/b", "n/d"}));
  EXPECT_EQ(*s.get("n/b"), b5);
  EXPECT_EQ(s.index_counts("owner"), (std::map<std::string, size_t>{{"u1", 2}, {"u2", 1}}))
      << "indexed from the values staged";
}

TEST(Store, AVersionStagedUnchangedButReplacedSinceIsPutBack) {
  Store s(StoreMode::Compact);
  s.add_index("app", index_by_label("app"));
  s.upsert(std::make_shared<const Json>(obj("n", "a", "1", {{"app", "web"}})));
  Store::Staged staged =
      s.stage(std::make_shared<const Json>(obj("n", "a", "1", {{"app", "web"}})));
  s.upsert(std::make_shared<const Json>(obj("n", "a", "2", {{"app", "db"}})));
  std::vector<Store::Staged> all;
  all.push_back(std::move(staged));
  const auto deltas = s.replace_staged(std::move(all));
  ASSERT_EQ(deltas.size(), 1u);
  EXPECT_EQ(deltas[0].type, StoreDelta::Type::Updated);
  EXPECT_EQ(resource_version_of(*s.get("n/a")), "1");
  EXPECT_EQ(s.index_counts("app"), (std::map<std::string, size_t>{{"web", 1}}));
}

// Every kind of JSON value the API carries, at the edges of each.
Json every_kind_of_value() {
  Json o = obj("ns", "all", "7", {{"gpupool.io/pool", "p"}, {"app.kubernetes.io/name", "x"}});
  o["metadata"]["annotations"] = {
      {"kubectl.kubernetes.io/last-applied-configuration", R"({"spec":{"replicas":{"count":4}}})"}};
  o["metadata"]["finalizers"] = Json::array({"gpupool.io/cleanup"});
  o["metadata"]["deletionTimestamp"] = nullptr;
  o["spec"] = {{"empty", Json::object()},
               {"none", Json::array()},
               {"nested", {{"a", {{"b", {{"c", Json::array({1, "two", 3.5, false, nullptr})}}}}}}},
               {"text", "tab\t quote\" newline\n \u00e9 \u4e2d \U0001F600"},
               {"emptyText", ""},
               {"yes", true},
               {"no", false},
               {"zero", 0},
               {"negative", -42},
               {"int64Min", std::numeric_limits<int64_t>::min()},
               {"int64Max", std::numeric_limits<int64_t>::max()},
               {"uint64Max", std::numeric_limits<uint64_t>::max()},
               {"tenth", 0.1},
               {"huge", 1e300},
               {"tiny", -5e-324},
               {"whole", 2.0},
               {"price", "1.861"}};
  o["status"] = {{"phase", "Ready"},
                 {"conditions", Json::array({{{"type", "Healthy"}, {"status", "True"}}})}};
  return o;
}

TEST(Store, AStoredObjectReadsBackWithEveryFieldAndValue) {
  Store s(StoreMode::Compact);
  const Json want = every_kind_of_value();
  s.upsert(std::make_shared<const Json>(want));
  const ObjectPtr got = s.get("ns/all");
  ASSERT_TRUE(got);
  EXPECT_EQ(*got, want);
  EXPECT_EQ(got->dump(), want.dump()) << "same text, so writes built from it send the same";
  EXPECT_TRUE((*got)["spec"]["int64Min"].is_number_integer());
  EXPECT_TRUE((*got)["spec"]["whole"].is_number_float()) << "2.0 stays a float";
  EXPECT_EQ(s.list().front()->dump(), want.dump());
  EXPECT_EQ(s.by_index("nope", "x").size(), 0u);
}

TEST(Store, KeepsNoTreeOnlyItsEncoding) {
  Store s(StoreMode::Compact);
  auto tree = std::make_shared<const Json>(every_kind_of_value());
  s.upsert(tree);
  EXPECT_EQ(tree.use_count(), 1) << "the store must not hold the tree it was given";
  EXPECT_GT(s.encoded_bytes(), 0u);
  EXPECT_LT(s.encoded_bytes(), tree->dump().size()) << "encoded smaller than minified JSON";
  EXPECT_EQ(stored_version(tree), nullptr) << "not handed out by a store";
}

TEST(Store, ObjectsLikeTheFirstAreKeptDeflatedToAFractionOfTheirSize) {
  Store s(StoreMode::Compact);
  size_t text = 0;
  for (int i = 0; i < 100; ++i) {
    Json o = every_kind_of_value();
    o["metadata"]["name"] = "object-" + std::to_string(i);
    o["metadata"]["resourceVersion"] = std::to_string(1000 + i);
    o["status"]["phase"] = i % 2 == 0 ? "Ready" : "Provisioning";
    text += o.dump().size();
    s.upsert(std::make_shared<const Json>(o));
  }
  EXPECT_LT(s.encoded_bytes() * 5, text) << "under a fifth of the minified JSON";
  Json want = every_kind_of_value();
  want["metadata"]["name"] = "object-37";
  want["metadata"]["resourceVersion"] = "1037";
  want["status"]["phase"] = "Provisioning";
  EXPECT_EQ(s.get("ns/object-37")->dump(), want.dump());
}

TEST(Store, AnObjectUnlikeTheFirstReadsBackExactly) {
  Store s(StoreMode::Compact);
  s.upsert(std::make_shared<const Json>(obj("a", "first", "1")));  // the dictionary
  Json other = every_kind_of_value();
  std::string noise;
  uint32_t x = 12345;
  for (int i = 0; i < 3000; ++i) {
    x = x * 1103515245 + 12345;
    noise.push_back(static_cast<char>('!' + (x >> 16) % 90));
  }
  other["spec"]["noise"] = noise;  // does not deflate well
  other["metadata"]["namespace"] = "a";
  s.upsert(std::make_shared<const Json>(other));
  EXPECT_EQ(s.get("a/all")->dump(), other.dump());
  EXPECT_EQ(s.get("a/first")->dump(), obj("a", "first", "1").dump());
}

TEST(Store, ReadsOfOneVersionShareATreeWhileHeldAndItsVersionAlways) {
  Store s(StoreMode::Compact);
  s.upsert(std::make_shared<const Json>(obj("a", "x", "1")));
  ObjectPtr first = s.get("a/x");
  ObjectPtr second = s.get("a", "x");
  EXPECT_EQ(first, second) << "a tree still held is handed out again";
  const StoredVersion v1 = stored_version(first);
  ASSERT_TRUE(v1);
  first.reset();
  second.reset();
  ObjectPtr again = s.get("a/x");
  EXPECT_EQ(stored_version(again), v1) << "same version after the tree went: same key";
  s.upsert(std::make_shared<const Json>(obj("a", "x", "2")));
  ObjectPtr updated = s.get("a/x");
  EXPECT_EQ(resource_version_of(*updated), "2") << "an update is never missed";
  EXPECT_NE(stored_version(updated), v1);
  EXPECT_EQ(resource_version_of(*again), "1") << "the old snapshot is unchanged";
  EXPECT_EQ(stored_version(again), v1);
}

TEST(Store, UpdatesAndRemovalsReturnTheVersionTheyReplaced) {
  Store s(StoreMode::Compact);
  s.add_index("app", index_by_label("app"));
  EXPECT_EQ(s.upsert(std::make_shared<const Json>(obj("a", "x", "1", {{"app", "web"}}))), nullptr);
  ObjectPtr old = s.upsert(std::make_shared<const Json>(obj("a", "x", "2", {{"app", "db"}})));
  ASSERT_TRUE(old);
  EXPECT_EQ(resource_version_of(*old), "1");
  EXPECT_EQ(s.by_index("app", "web").size(), 0u);
  ASSERT_EQ(s.by_index("app", "db").size(), 1u);
  EXPECT_EQ(resource_version_of(*s.by_index("app", "db").front()), "2");
  ObjectPtr removed = s.remove("a/x");
  ASSERT_TRUE(removed);
  EXPECT_EQ(resource_version_of(*removed), "2");
  EXPECT_TRUE(s.index_counts("app").empty());
}

TEST(Store, ConcurrentReadersAndAWriterAgree) {
  Store s(StoreMode::Compact);
  for (int i = 0; i < 20; ++i)
    s.upsert(std::make_shared<const Json>(obj("a", "o" + std::to_string(i), "1")));
  std::atomic<bool> done{false};
  std::atomic<int> wrong{0};
  std::vector<std::thread> readers;
  readers.reserve(3);
  for (int t = 0; t < 3; ++t) {
    readers.emplace_back([&] {
      while (!done.load()) {
        for (const auto& o : s.list()) {
          if (stored_version(o) == nullptr || resource_version_of(*o).empty()) ++wrong;
        }
      }
    });
  }
  for (int rv = 2; rv < 200; ++rv)
    s.upsert(
        std::make_shared<const Json>(obj("a", "o" + std::to_string(rv % 20), std::to_string(rv))));
  done = true;
  for (auto& t : readers)
    t.join();
  EXPECT_EQ(wrong.load(), 0);
  EXPECT_EQ(resource_version_of(*s.get("a/o19")), "199");
}

TEST(Store, TreesModeHandsOutTheTreeItWasGivenAndEncodesNothing) {
  Store s;  // StoreMode::Trees
  auto tree = std::make_shared<const Json>(every_kind_of_value());
  s.upsert(tree);
  EXPECT_EQ(s.get("ns/all"), tree);
  EXPECT_EQ(s.list().front(), tree);
  EXPECT_EQ(s.encoded_bytes(), 0u);
  EXPECT_EQ(stored_version(s.get("ns/all")), nullptr) << "readers key such trees by address";
}

TEST(Backoff, GrowsWithJitterAndCaps) {
  Backoff b(milliseconds(100), milliseconds(1000), 1.0, 7);
  const int64_t lo[] = {100, 200, 400, 800, 1000, 1000};
  for (int64_t l : lo) {
    const auto d = b.next().count();
    EXPECT_GE(d, l);
    EXPECT_LE(d, std::min<int64_t>(2 * l, 1000));
  }
  b.reset();
  EXPECT_LT(b.next().count(), 200);
  Backoff exact(milliseconds(100), milliseconds(1000), 0.0, 1);
  EXPECT_EQ(exact.next(), milliseconds(100));
  EXPECT_EQ(exact.next(), milliseconds(200));
}

// --- Scripted API ----------------------------------------------------------

class ScriptedStream final : public WatchStream {
 public:
  void push(WatchEvent e) {
    std::lock_guard lock(mu_);
    events_.push_back(std::move(e));
    cv_.notify_all();
  }
  void close() {
    std::lock_guard lock(mu_);
    closed_ = true;
    cv_.notify_all();
  }
  Next next(milliseconds timeout) override {
    std::unique_lock lock(mu_);
    cv_.wait_for(lock, timeout, [&] { return !events_.empty() || closed_; });
    if (!events_.empty()) {
      Next n{State::Event, std::move(events_.front())};
      events_.pop_front();
      return n;
    }
    return {closed_ ? State::Closed : State::Timeout, {}};
  }
  void cancel() override { close(); }

 private:
  std::mutex mu_;
  std::condition_variable cv_;
  std::deque<WatchEvent> events_;
  bool closed_ = false;
};

// Lists return `state` (two objects per page); watch() hands out streams the
// test created with expect_watch(), or queued errors.
class ScriptedApi final : public KubeApi {
 public:
  std::mutex mu;
  std::map<std::string, Json> state;  // key -> object
  std::string state_rv = "10";
  std::deque<ApiError> list_errors;
  std::deque<ApiError> watch_errors;
  std::vector<ListOptions> lists;
  std::vector<WatchOptions> watches;
  std::deque<std::shared_ptr<ScriptedStream>> streams;

  void set(const Json& o) {
    std::lock_guard lock(mu);
    state[object_key(o)] = o;
  }
  std::shared_ptr<ScriptedStream> expect_watch() {
    auto s = std::make_shared<ScriptedStream>();
    std::lock_guard lock(mu);
    streams.push_back(s);
    return s;
  }
  size_t watch_count() {
    std::lock_guard lock(mu);
    return watches.size();
  }
  size_t list_count() {
    std::lock_guard lock(mu);
    return lists.size();
  }

  ApiResult<ObjectList> list(const Resource&, const std::string&, const ListOptions& o) override {
    std::lock_guard lock(mu);
    lists.push_back(o);
    if (!list_errors.empty()) {
      ApiError e = list_errors.front();
      list_errors.pop_front();
      return fail(e);
    }
    ObjectList out;
    out.resource_version = state_rv;
    size_t start = o.continue_token.empty() ? 0 : std::stoul(o.continue_token);
    size_t i = 0;
    for (const auto& [k, v] : state) {
      if (i >= start && i < start + 2) out.items.push_back(v);
      ++i;
    }
    if (start + 2 < state.size()) out.continue_token = std::to_string(start + 2);
    return out;
  }
  ApiResult<std::unique_ptr<WatchStream>> watch(const Resource&, const std::string&,
                                                const WatchOptions& o) override {
    std::lock_guard lock(mu);
    watches.push_back(o);
    if (!watch_errors.empty()) {
      ApiError e = watch_errors.front();
      watch_errors.pop_front();
      return fail(e);
    }
    if (streams.empty()) return fail(make_error(ErrorKind::Unavailable, "no stream scripted"));
    auto s = streams.front();
    streams.pop_front();
    // Hand out a forwarding stream so the test keeps its handle.
    struct Fwd final : WatchStream {
      std::shared_ptr<ScriptedStream> s;
      Next next(milliseconds t) override { return s->next(t); }
      void cancel() override { s->cancel(); }
    };
    auto f = std::make_unique<Fwd>();
    f->s = s;
    return std::unique_ptr<WatchStream>(std::move(f));
  }
  ApiResult<Json> get(const Resource&, const std::string&, const std::string&,
                      const GetOptions&) override {
    return fail(make_error(ErrorKind::MethodNotAllowed, "unused"));
  }
  ApiResult<Json> create(const Resource&, const std::string&, const Json&,
                         const CreateOptions&) override {
    return fail(make_error(ErrorKind::MethodNotAllowed, "unused"));
  }
  ApiResult<Json> update(const Resource&, const Json&, const UpdateOptions&) override {
    return fail(make_error(ErrorKind::MethodNotAllowed, "unused"));
  }
  ApiResult<Json> patch(const Resource&, const std::string&, const std::string&, PatchType,
                        const Json&, const PatchOptions&) override {
    return fail(make_error(ErrorKind::MethodNotAllowed, "unused"));
  }
  ApiResult<DeleteResult> remove(const Resource&, const std::string&, const std::string&,
                                 const DeleteOptions&) override {
    return fail(make_error(ErrorKind::MethodNotAllowed, "unused"));
  }
};

WatchEvent ev(WatchEventType t, Json o) {
  return WatchEvent{t, std::move(o), std::nullopt};
}
WatchEvent bookmark(const std::string& rv) {
  return ev(WatchEventType::Bookmark, {{"metadata", {{"resourceVersion", rv}}}});
}
WatchEvent gone() {
  ApiError e = make_error(ErrorKind::Gone, "too old resource version");
  e.reason = "Expired";
  e.code = 410;
  return WatchEvent{WatchEventType::Error, to_status_json(e), e};
}

// Records what handlers saw as "add n/a 3" lines.
struct Recorder {
  std::mutex mu;
  std::vector<std::string> seen;
  EventHandlers handlers() {
    return {[this](const ObjectPtr& o) { note("add", *o); },
            [this](const ObjectPtr&, const ObjectPtr& o) { note("update", *o); },
            [this](const ObjectPtr& o) { note("delete", *o); }};
  }
  void note(const std::string& what, const Json& o) {
    std::lock_guard lock(mu);
    seen.push_back(what + " " + object_key(o) + " " + resource_version_of(o));
  }
  std::vector<std::string> get() {
    std::lock_guard lock(mu);
    return seen;
  }
  size_t size() {
    std::lock_guard lock(mu);
    return seen.size();
  }
};

Informer::Options fast_options() {
  Informer::Options o;
  o.poll_interval = milliseconds(5);
  o.backoff_base = milliseconds(1000);
  o.backoff_cap = milliseconds(8000);
  o.page_size = 2;
  return o;
}

TEST(Informer, PagedListThenWatchFromListVersion) {
  FakeClock clock(Time{seconds(1'800'000'000)});
  ScriptedApi api;
  api.set(obj("n", "a", "1"));
  api.set(obj("n", "b", "2"));
  api.set(obj("n", "c", "3"));
  auto s1 = api.expect_watch();
  Informer inf(api, kPools, clock, fast_options());
  Recorder rec;
  inf.add_handlers(rec.handlers());
  inf.start();
  ASSERT_TRUE(inf.wait_for_sync(seconds(10)));
  EXPECT_EQ(inf.store().size(), 3u);
  ASSERT_TRUE(eventually([&] { return api.watch_count() == 1; }));
  {
    std::lock_guard lock(api.mu);
    ASSERT_EQ(api.lists.size(), 2u) << "three objects in pages of two";
    EXPECT_EQ(api.lists[0].resource_version, "0");
    EXPECT_EQ(api.lists[0].limit, 2);
    EXPECT_EQ(api.lists[1].continue_token, "2");
    EXPECT_EQ(api.lists[1].resource_version, "") << "no resourceVersion with continue";
    EXPECT_EQ(api.watches[0].resource_version, "10");
    EXPECT_TRUE(api.watches[0].allow_bookmarks);
  }
  s1->push(ev(WatchEventType::Modified, obj("n", "a", "11")));
  s1->push(ev(WatchEventType::Added, obj("n", "d", "12")));
  s1->push(ev(WatchEventType::Deleted, obj("n", "b", "13")));
  ASSERT_TRUE(eventually([&] { return rec.size() == 6; }));
  EXPECT_EQ(rec.get(), (std::vector<std::string>{"add n/a 1", "add n/b 2", "add n/c 3",
                                                 "update n/a 11", "add n/d 12", "delete n/b 13"}));
  EXPECT_EQ(inf.last_resource_version(), "13");
  EXPECT_EQ(inf.store().keys(), (std::vector<std::string>{"n/a", "n/c", "n/d"}));
  inf.stop();
}

TEST(Informer, CachedObjectsCarryNoManagedFields) {
  FakeClock clock(Time{seconds(1'800'000'000)});
  ScriptedApi api;
  const Json owned = Json::array({{{"manager", "kubectl"},
                                   {"operation", "Apply"},
                                   {"apiVersion", "gpupool.io/v1alpha1"},
                                   {"fieldsType", "FieldsV1"},
                                   {"fieldsV1", {{"f:spec", {{"f:replicas", Json::object()}}}}}}});
  Json listed = obj("n", "a", "1");
  listed["metadata"]["managedFields"] = owned;
  api.set(listed);
  auto s1 = api.expect_watch();
  Informer inf(api, kPools, clock, fast_options());
  std::mutex mu;
  std::vector<Json> handed;  // what the handlers were given
  auto keep = [&](const ObjectPtr& o) {
    std::lock_guard lock(mu);
    handed.push_back(*o);
  };
  inf.add_handlers({keep, [&](const ObjectPtr&, const ObjectPtr& o) { keep(o); }, keep});
  inf.start();
  ASSERT_TRUE(inf.wait_for_sync(seconds(10)));
  ASSERT_TRUE(eventually([&] { return api.watch_count() == 1; }));
  Json changed = obj("n", "a", "11");
  changed["metadata"]["managedFields"] = owned;
  s1->push(ev(WatchEventType::Modified, changed));
  Json gone = obj("n", "a", "12");
  gone["metadata"]["managedFields"] = owned;
  s1->push(ev(WatchEventType::Deleted, gone));
  ASSERT_TRUE(eventually([&] {
    std::lock_guard lock(mu);
    return handed.size() == 3;
  }));
  std::lock_guard lock(mu);
  for (const Json& o : handed) {
    EXPECT_FALSE(o["metadata"].contains("managedFields")) << o.dump();
    EXPECT_EQ(o["metadata"]["name"], "a") << "the rest of the object is kept";
  }
  EXPECT_EQ(resource_version_of(handed[1]), "11");
  inf.stop();
}

TEST(Informer, DroppedStreamResumesFromLastVersionIncludingBookmarks) {
  FakeClock clock(Time{seconds(1'800'000'000)});
  ScriptedApi api;
  api.set(obj("n", "a", "1"));
  auto s1 = api.expect_watch();
  auto s2 = api.expect_watch();
  Informer inf(api, kPools, clock, fast_options());
  Recorder rec;
  inf.add_handlers(rec.handlers());
  inf.start();
  ASSERT_TRUE(inf.wait_for_sync(seconds(10)));
  s1->push(ev(WatchEventType::Modified, obj("n", "a", "11")));
  s1->push(bookmark("15"));
  s1->close();  // the server dropped the stream
  ASSERT_TRUE(eventually([&] { return api.watch_count() == 2; }));
  {
    std::lock_guard lock(api.mu);
    EXPECT_EQ(api.watches[1].resource_version, "15") << "resumed after the bookmark";
  }
  s2->push(ev(WatchEventType::Modified, obj("n", "a", "16")));
  ASSERT_TRUE(eventually([&] { return rec.size() == 3; }));
  EXPECT_EQ(rec.get(), (std::vector<std::string>{"add n/a 1", "update n/a 11", "update n/a 16"}));
  EXPECT_EQ(api.list_count(), 1u) << "no relist for a dropped stream";
  EXPECT_EQ(inf.relists_after_gone_total(), 0u);
  inf.stop();
}

TEST(Informer, GoneEventRelistsAndDeliversOnlyTheDifferences) {
  FakeClock clock(Time{seconds(1'800'000'000)});
  ScriptedApi api;
  api.set(obj("n", "a", "1"));
  api.set(obj("n", "b", "2"));
  api.set(obj("n", "c", "3"));
  auto s1 = api.expect_watch();
  auto s2 = api.expect_watch();
  Informer inf(api, kPools, clock, fast_options());
  Recorder rec;
  inf.add_handlers(rec.handlers());
  inf.start();
  ASSERT_TRUE(inf.wait_for_sync(seconds(10)));
  ASSERT_TRUE(eventually([&] { return api.watch_count() == 1; }));
  // While the watch was away the server changed a, deleted b, added d.
  {
    std::lock_guard lock(api.mu);
    api.state.erase("n/b");
    api.state["n/a"] = obj("n", "a", "20");
    api.state["n/d"] = obj("n", "d", "21");
    api.state_rv = "22";
  }
  s1->push(gone());
  ASSERT_TRUE(eventually([&] { return api.watch_count() == 2; }));
  EXPECT_EQ(rec.get(), (std::vector<std::string>{"add n/a 1", "add n/b 2", "add n/c 3",
                                                 "delete n/b 2", "update n/a 20", "add n/d 21"}));
  EXPECT_EQ(inf.relists_after_gone_total(), 1u);
  std::lock_guard lock(api.mu);
  EXPECT_EQ(api.lists.back().resource_version, "") << "continue page";
  EXPECT_EQ(api.lists[api.lists.size() - 2].resource_version, "10")
      << "relist not older than the last seen version";
  EXPECT_EQ(api.watches[1].resource_version, "22");
}

TEST(Informer, GoneOnRelistFallsBackToAFreshConsistentList) {
  FakeClock clock(Time{seconds(1'800'000'000)});
  ScriptedApi api;
  api.set(obj("n", "a", "1"));
  auto s1 = api.expect_watch();
  api.expect_watch();
  Informer inf(api, kPools, clock, fast_options());
  inf.start();
  ASSERT_TRUE(inf.wait_for_sync(seconds(10)));
  ASSERT_TRUE(eventually([&] { return api.watch_count() == 1; }));
  {
    std::lock_guard lock(api.mu);
    ApiError e =
        make_error(ErrorKind::Gone, "The resourceVersion for the provided list is too old");
    api.list_errors.push_back(e);
  }
  s1->push(gone());
  ASSERT_TRUE(eventually([&] { return api.watch_count() == 2; }));
  std::lock_guard lock(api.mu);
  ASSERT_EQ(api.lists.size(), 3u);
  EXPECT_EQ(api.lists[1].resource_version, "10");
  EXPECT_EQ(api.lists[2].resource_version, "");
}

TEST(Informer, TooLargeResourceVersionOnRelistIsTreatedLikeGone) {
  FakeClock clock(Time{seconds(1'800'000'000)});
  ScriptedApi api;
  api.set(obj("n", "a", "1"));
  auto s1 = api.expect_watch();
  api.expect_watch();
  Informer inf(api, kPools, clock, fast_options());
  inf.start();
  ASSERT_TRUE(inf.wait_for_sync(seconds(10)));
  ASSERT_TRUE(eventually([&] { return api.watch_count() == 1; }));
  {
    std::lock_guard lock(api.mu);
    ApiError e = make_error(ErrorKind::Timeout, "Timeout: Too large resource version: 10");
    e.causes.push_back({"ResourceVersionTooLarge", "Too large resource version", ""});
    api.list_errors.push_back(e);
  }
  s1->push(gone());
  ASSERT_TRUE(eventually([&] { return api.watch_count() == 2; }));
  EXPECT_EQ(inf.backoffs_total(), 0u);
  std::lock_guard lock(api.mu);
  ASSERT_EQ(api.lists.size(), 3u);
  EXPECT_EQ(api.lists[2].resource_version, "");
}

TEST(Informer, ErrorsBackOffOnTheInjectedClock) {
  FakeClock clock(Time{seconds(1'800'000'000)});
  ScriptedApi api;
  api.set(obj("n", "a", "1"));
  {
    std::lock_guard lock(api.mu);
    api.watch_errors.push_back(make_error(ErrorKind::Unavailable, "connection refused"));
    api.watch_errors.push_back(make_error(ErrorKind::Internal, "boom"));
  }
  api.expect_watch();
  auto opts = fast_options();
  opts.backoff_jitter = 0;  // exact: 1 s then 2 s
  Informer inf(api, kPools, clock, opts);
  inf.start();
  ASSERT_TRUE(inf.wait_for_sync(seconds(10)));
  ASSERT_TRUE(eventually([&] { return inf.backoffs_total() == 1; }));
  EXPECT_EQ(api.watch_count(), 1u);
  clock.advance(seconds(1));
  inf.clock_advanced();
  ASSERT_TRUE(eventually([&] { return inf.backoffs_total() == 2; }));
  EXPECT_EQ(api.watch_count(), 2u);
  clock.advance(seconds(1));
  inf.clock_advanced();
  EXPECT_EQ(api.watch_count(), 2u) << "second backoff is 2 s";
  clock.advance(seconds(1));
  inf.clock_advanced();
  ASSERT_TRUE(eventually([&] { return api.watch_count() == 3; }));
  EXPECT_EQ(inf.errors_total(), 2u);
  EXPECT_NE(inf.last_error().find("boom"), std::string::npos);
  inf.stop();  // must not hang with an open stream
}

TEST(Informer, HandlersAddedLateGetTheCacheAsAdds) {
  FakeClock clock(Time{seconds(1'800'000'000)});
  ScriptedApi api;
  api.set(obj("n", "a", "1"));
  api.set(obj("m", "b", "2"));
  api.expect_watch();
  Informer inf(api, kPools, clock, fast_options());
  inf.start();
  ASSERT_TRUE(inf.wait_for_sync(seconds(10)));
  Recorder rec;
  inf.add_handlers(rec.handlers());
  EXPECT_EQ(rec.get(), (std::vector<std::string>{"add m/b 2", "add n/a 1"}));
  inf.stop();
}

}  // namespace
}  // namespace gpupool::kube
