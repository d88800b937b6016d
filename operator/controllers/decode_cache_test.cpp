#include "operator/controllers/decode_cache.h"

#include <gtest/gtest.h>

#include "operator/controllers/context.h"
#include "operator/core/api_codec.h"
#include "operator/core/api_fixtures.h"

#include <atomic>
#include <thread>
#include <vector>

namespace gpupool::controllers {
namespace {

using kube::Json;

std::atomic<int> decodes{0};

// Decodes {"n": <int>} into the int; anything else cannot be decoded.
std::optional<int> decode_n(const Json& j) {
  ++decodes;
  if (!j.is_object() || !j.contains("n") || !j["n"].is_number_integer()) return std::nullopt;
  return j["n"].get<int>();
}

kube::ObjectPtr object(int n) {
  return std::make_shared<const Json>(Json{{"n", n}});
}

TEST(DecodeCache, DecodesEachStoredObjectOnce) {
  decodes = 0;
  DecodeCache<int> cache(&decode_n);
  auto a = object(1);
  auto b = object(2);
  EXPECT_EQ(*cache.get(a), 1);
  EXPECT_EQ(*cache.get(b), 2);
  EXPECT_EQ(*cache.get(a), 1);
  EXPECT_EQ(decodes, 2);
  EXPECT_EQ(cache.get(nullptr), nullptr);
}

TEST(DecodeCache, AnObjectThatCannotBeDecodedIsNullAndNotDecodedAgain) {
  decodes = 0;
  DecodeCache<int> cache(&decode_n);
  auto bad = std::make_shared<const Json>(Json{{"n", "x"}});
  EXPECT_EQ(cache.get(bad), nullptr);
  EXPECT_EQ(cache.get(bad), nullptr);
  EXPECT_EQ(decodes, 1);
}

TEST(DecodeCache, ANewObjectAtAFreedAddressIsDecodedAfresh) {
  DecodeCache<int> cache(&decode_n);
  // Two objects built in the same storage, one after the other: the second
  // has the first one's address, as a reusing allocator would give it.
  alignas(Json) unsigned char storage[sizeof(Json)];
  auto at_storage = [&](int n) {
    return kube::ObjectPtr(new (storage) Json{{"n", n}}, [](const Json* j) { j->~Json(); });
  };
  auto first = at_storage(1);
  EXPECT_EQ(*cache.get(first), 1);
  first.reset();
  auto second = at_storage(2);
  EXPECT_EQ(*cache.get(second), 2);
}

TEST(DecodeCache, EntriesOfObjectsNoLongerHeldAreSwept) {
  DecodeCache<int> cache(&decode_n);
  std::vector<kube::ObjectPtr> held;
  held.reserve(10);
  for (int i = 0; i < 10; ++i)
    held.push_back(object(i));
  for (const auto& o : held)
    cache.get(o);
  for (int i = 0; i < 5000; ++i)
    cache.get(object(i));          // each dropped at once
  EXPECT_LT(cache.size(), 2100u);  // bounded by the sweep, not by 5010 objects
  for (int i = 0; i < 10; ++i)
    EXPECT_EQ(*cache.get(held[static_cast<size_t>(i)]), i);
}

TEST(DecodeCache, ConcurrentReadersSeeTheSameValue) {
  DecodeCache<int> cache(&decode_n);
  std::vector<kube::ObjectPtr> objs;
  objs.reserve(64);
  for (int i = 0; i < 64; ++i)
    objs.push_back(object(i));
  std::atomic<int> wrong{0};
  std::vector<std::thread> threads;
  threads.reserve(4);
  for (int t = 0; t < 4; ++t) {
    threads.emplace_back([&] {
      for (int round = 0; round < 50; ++round) {
        for (int i = 0; i < 64; ++i) {
          auto v = cache.get(objs[static_cast<size_t>(i)]);
          if (!v || *v != i) ++wrong;
        }
      }
    });
  }
  for (auto& t : threads)
    t.join();
  EXPECT_EQ(wrong.load(), 0);
}

// {"n": n} with a name and resourceVersion, as a store keeps it.
kube::ObjectPtr stored_object(const std::string& name, int n, const std::string& rv) {
  return std::make_shared<const Json>(
      Json{{"metadata", {{"namespace", "ns"}, {"name", name}, {"resourceVersion", rv}}}, {"n", n}});
}

TEST(DecodeCache, AStoredVersionIsDecodedOnceHoweverOftenItIsRead) {
  decodes = 0;
  DecodeCache<int> cache(&decode_n);
  kube::Store store(kube::StoreMode::Compact);
  store.upsert(stored_object("a", 1, "1"));
  for (int read = 0; read < 5; ++read)
    EXPECT_EQ(*cache.get(store.get("ns/a")), 1);  // each read's tree is dropped at once
  EXPECT_EQ(decodes, 1) << "one decode per stored version, not per read";
  store.upsert(stored_object("a", 2, "2"));
  EXPECT_EQ(*cache.get(store.get("ns/a")), 2) << "an update is seen at once";
  EXPECT_EQ(*cache.get(store.list().front()), 2);
  EXPECT_EQ(decodes, 2);
}

TEST(DecodeCache, EntriesOfVersionsNoStoreHoldsAreSwept) {
  DecodeCache<int> cache(&decode_n);
  kube::Store store(kube::StoreMode::Compact);
  for (int rv = 1; rv <= 2500; ++rv) {
    store.upsert(stored_object("a", rv, std::to_string(rv)));
    EXPECT_EQ(*cache.get(store.get("ns/a")), rv);
  }
  EXPECT_LE(cache.size(), 1024u);  // bounded by the sweep, not by 2500 versions
}

// The typed objects the reconcilers read, taken from a store, are exactly
// those decoded from the objects written: the store's encoding loses no field
// any controller reads (every field of the fully populated fixtures).
TEST(DecodeCache, TypedObjectsReadFromAStoreEqualThoseOfTheObjectsWritten) {
  DecodedObjects decoded;
  kube::Store pools(kube::StoreMode::Compact);
  kube::Store instances(kube::StoreMode::Compact);
  const Json pool = api::encode(api::fixtures::full_gpu_pool());
  const Json instance = api::encode(api::fixtures::full_gpu_instance());
  pools.upsert(std::make_shared<const Json>(pool));
  instances.upsert(std::make_shared<const Json>(instance));
  auto p = decoded.pools.get(pools.list().front());
  auto i = decoded.instances.get(instances.list().front());
  ASSERT_TRUE(p);
  ASSERT_TRUE(i);
  EXPECT_EQ(*p, *to_pool(pool));
  EXPECT_EQ(*i, *to_instance(instance));
  EXPECT_EQ(pools.list().front()->dump(), pool.dump());
  EXPECT_EQ(instances.list().front()->dump(), instance.dump());
}

TEST(DecodeCache, ABoundedCacheNeverHoldsMoreThanItsCapacity) {
  DecodeCache<int> cache(&decode_n, 8);
  std::vector<kube::ObjectPtr> held;  // held: not swept, only the bound drops them
  for (int i = 0; i < 100; ++i) {
    held.push_back(object(i));
    EXPECT_EQ(*cache.get(held.back()), i);
    EXPECT_LE(cache.size(), 8u);
  }
  EXPECT_EQ(cache.size(), 8u);
}

// A cache bounded to two entries, and three objects to read through it.
class DecodeCacheOfTwo : public ::testing::Test {
 protected:
  void SetUp() override { decodes = 0; }
  DecodeCache<int> cache{&decode_n, 2};
  kube::ObjectPtr a = object(1);
  kube::ObjectPtr b = object(2);
  kube::ObjectPtr c = object(3);
};

TEST_F(DecodeCacheOfTwo, ADroppedEntryIsDecodedAgainAndEqualsTheOriginal) {
  const std::shared_ptr<const int> first = cache.get(a);
  cache.get(b);
  cache.get(c);  // drops a, the least recently read
  EXPECT_EQ(decodes, 3);
  const std::shared_ptr<const int> again = cache.get(a);
  EXPECT_EQ(decodes, 4) << "a was dropped, so it is decoded again";
  EXPECT_NE(again, first) << "a new typed form, not the dropped one";
  EXPECT_EQ(*again, *first);
  EXPECT_EQ(*first, 1) << "a reader's copy outlives its entry";
}

TEST_F(DecodeCacheOfTwo, TheLeastRecentlyReadEntryIsDroppedFirst) {
  cache.get(a);
  cache.get(b);
  cache.get(a);  // a is now more recent than b
  cache.get(c);  // drops b
  EXPECT_EQ(decodes, 3);
  EXPECT_EQ(*cache.get(a), 1);
  EXPECT_EQ(*cache.get(c), 3);
  EXPECT_EQ(decodes, 3) << "a and c kept";
  EXPECT_EQ(*cache.get(b), 2);
  EXPECT_EQ(decodes, 4) << "b dropped";
}

TEST(DecodeCache, ADroppedStoredVersionReadsBackAsTheSameTypedObject) {
  decodes = 0;
  DecodeCache<int> cache(&decode_n, 1);
  kube::Store store(kube::StoreMode::Compact);
  store.upsert(stored_object("a", 1, "1"));
  store.upsert(stored_object("b", 2, "2"));
  EXPECT_EQ(*cache.get(store.get("ns/a")), 1);
  EXPECT_EQ(*cache.get(store.get("ns/b")), 2);  // drops a's entry
  EXPECT_EQ(*cache.get(store.get("ns/a")), 1);
  EXPECT_EQ(decodes, 3);
  store.upsert(stored_object("a", 5, "3"));
  EXPECT_EQ(*cache.get(store.get("ns/a")), 5) << "an update is seen at once";
  EXPECT_EQ(cache.size(), 1u);
}

TEST(DecodeCache, TheReconcilersCachesAreBounded) {
  const DecodedObjects defaults;
  EXPECT_EQ(defaults.pools.capacity(), DecodedObjects::kPoolEntries);
  EXPECT_EQ(defaults.instances.capacity(), DecodedObjects::kInstanceEntries);
  const DecodedObjects decoded(2, 3);
  kube::Store instances(kube::StoreMode::Compact);
  for (int i = 0; i < 10; ++i) {
    api::GpuInstance inst = api::fixtures::full_gpu_instance();
    inst.metadata.name = "i-" + std::to_string(i);
    inst.metadata.resource_version = std::to_string(i + 1);
    instances.upsert(std::make_shared<const Json>(api::encode(inst)));
  }
  for (const auto& key : instances.keys()) {
    auto got = decoded.instances.get(instances.get(key));
    ASSERT_TRUE(got);
    EXPECT_EQ(*got, *to_instance(*instances.get(key)));
  }
  EXPECT_EQ(decoded.instances.size(), 3u);
}

}  // namespace
}  // namespace gpupool::controllers
