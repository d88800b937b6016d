// Informer list+watch throughput and cache memory for GpuPool-like and
// GpuInstance-like objects flowing from the in-memory API store.
//
// Per run: the store is filled with N objects (untimed), then an informer
// lists them (paged, 500 per page) into its cache, then N/10 merge patches
// flow through its watch. Reported counters:
//   list_objects_per_s   objects listed and cached per second
//   watch_events_per_s   watch events applied to the cache per second
//   rss_delta_MiB        process RSS growth from informer start to synced
//   rss_bytes_per_object rss_delta / N (run one benchmark per process for
//                        this: RSS keeps pages freed by earlier benchmarks)
//   heap_bytes_per_object  malloc'd bytes held after sync / N (the cache)
//   json_bytes_per_object  size of one object serialised (for scale)
//   decoded_bytes_per_object  malloc'd bytes the typed copies add when every
//                        cached object is read through a DecodeCache bounded
//                        as the reconcilers' (operator/controllers/
//                        decode_cache.h; cache_capacity entries)
//   total_bytes_per_object heap_bytes_per_object + decoded_bytes_per_object
//   decoded_all_bytes_per_object, total_all_bytes_per_object  the same with
//                        an unbounded DecodeCache (a typed copy of every
//                        object, as before the bound)
//   first_read_objects_per_s  objects read from the cache by key and decoded
//                        to the typed form per second (store get + DecodeCache)
//   reread_objects_per_s objects read again per second (a resync: typed forms
//                        found while they fit the bound, else decoded again)
//   first_read_cpu_us, resync_cpu_us  CPU per object of those two passes
//   resync_cpu_s         CPU of the second pass over all N objects
//   read_cpu_us          CPU per object of a store read alone (the tree)
//   typed_decode_cpu_us  resync_cpu_us - read_cpu_us: the typed decode
//
// BM_Footprint*: where an object's bytes go, each form built alone for N
// objects and measured by malloc'd bytes per object: the JSON tree
// (nlohmann::json), its minified text, its CBOR encoding, the typed struct
// (api::GpuPool / GpuInstance), and a kube::Store holding the trees with the
// informer's indexes (store_index = store - tree).
#include <benchmark/benchmark.h>
#include <malloc.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <ctime>
#include <thread>

#include "operator/controllers/decode_cache.h"
#include "operator/core/api_codec.h"
#include "operator/core/api_validation.h"
#include "operator/kube/client/http_client.h"
#include "operator/kube/memory/store.h"
#include "operator/kube/runtime/informer.h"
#include "tests/apiserver/api_server.h"

namespace gpupool::kube {
namespace {

// NOLINTBEGIN(cert-err58-cpp,readability-identifier-naming): constants, as
// operator/controllers/context.cpp names its Resources
const Resource kPools{"gpupool.io", "v1alpha1", "gpupools", "GpuPool", true};
const Resource kInstances{"gpupool.io", "v1alpha1", "gpuinstances", "GpuInstance", true};
// NOLINTEND(cert-err58-cpp,readability-identifier-naming)
constexpr int kNamespaces = 20;

double rss_bytes() {
  long pages = 0;
  long resident = 0;
  if (FILE* f = std::fopen("/proc/self/statm", "r")) {
    if (std::fscanf(f, "%ld %ld", &pages, &resident) != 2) resident = 0;
    std::fclose(f);
  }
  return static_cast<double>(resident) * static_cast<double>(sysconf(_SC_PAGESIZE));
}

// CPU seconds this thread has used (the informer's own thread is idle once
// synced, so this is what the reads cost, whatever the machine's load).
double thread_cpu_seconds() {
  timespec ts{};
  clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
  return static_cast<double>(ts.tv_sec) + static_cast<double>(ts.tv_nsec) * 1e-9;
}

// Bytes currently allocated by malloc (glibc), a steadier measure of what
// the cache holds than RSS, which keeps pages freed by earlier work.
double heap_bytes() {
  const struct mallinfo2 mi = mallinfo2();
  return static_cast<double>(mi.uordblks) + static_cast<double>(mi.hblkhd);
}

Json crd(const Resource& r, const std::string& singular) {
  return {
      {"apiVersion", "apiextensions.k8s.io/v1"},
      {"kind", "CustomResourceDefinition"},
      {"metadata", {{"name", r.resource + "." + r.group}}},
      {"spec",
       {{"group", r.group},
        {"scope", "Namespaced"},
        {"names",
         {{"plural", r.resource},
          {"singular", singular},
          {"kind", r.kind},
          {"listKind", r.kind + "List"}}},
        {"versions", Json::array({{{"name", r.version},
                                   {"served", true},
                                   {"storage", true},
                                   {"subresources", {{"status", Json::object()}}},
                                   {"schema",
                                    {{"openAPIV3Schema",
                                      {{"type", "object"},
                                       {"x-kubernetes-preserve-unknown-fields", true}}}}}}})}}}};
}

std::string ns_of(int i) {
  return "team-" + std::to_string(i % kNamespaces);
}

// A GpuPool as the operator writes it: spec from api_types.h, a typical status.
Json pool(int i) {
  const std::string name = "pool-" + std::to_string(i);
  return {{"apiVersion", "gpupool.io/v1alpha1"},
          {"kind", "GpuPool"},
          {"metadata",
           {{"name", name},
            {"namespace", ns_of(i)},
            {"labels", {{"app.kubernetes.io/name", "inference"}, {"team", ns_of(i)}}},
            {"annotations", {{"gpupool.io/last-plan", "2026-11-22T02:10:42Z"}}},
            {"finalizers", {"gpupool.io/cleanup"}}}},
          {"spec",
           {{"gpu",
             {{"models",
               {{{"name", "L40S"}, {"throughputWeight", 1.0}},
                {{"name", "L40"}, {"throughputWeight", 0.8}}}},
              {"count", 1}}},
            {"replicas", {{"count", 4}, {"min", 1}, {"max", 8}}},
            {"providers",
             {{{"name", "aws-prod"},
               {"maxPricePerGpuHour", "2.10"},
               {"regions", {"us-east-1", "us-west-2"}}},
              {{"name", "runpod"}, {"maxPricePerGpuHour", "1.20"}, {"regions", Json::array()}}}},
            {"reliability", "Datacenter"},
            {"spot", {{"allowed", false}}},
            {"budget", {{"maxUsdPerHour", "12.00"}, {"maxUsdPerMonth", "6000.00"}}},
            {"egress", {{"gbPerGpuHour", 0.5}}},
            {"lifecycle", {{"parkMarginSeconds", 120}, {"adoptionGraceSeconds", 600}}},
            {"autoscaling",
             {{"enabled", true},
              {"metrics", {{{"type", "QueueDepth"}, {"target", 10.0}}}},
              {"scaleUpStabilizationSeconds", 0},
              {"scaleDownStabilizationSeconds", 300}}},
            {"usage",
             {{"mode", "Endpoint"},
              {"endpoint",
               {{"image", "ghcr.io/example/vllm:0.6.3"},
                {"port", 8000},
                {"args", {"--model", "meta-llama/Llama-3.1-8B-Instruct"}},
                {"env", {{{"name", "HF_HOME"}, {"value", "/models"}}}},
                {"healthPath", "/health"}}}}}}},
          {"status",
           {{"observedGeneration", 1},
            {"replicas", {{"desired", 4}, {"provisioning", 0}, {"ready", 4}, {"parked", 0}}},
            {"spend", {{"hourlyBurn", "5.64"}, {"monthToDate", "812.33"}}},
            {"selector", "gpupool.io/pool=" + name},
            {"conditions",
             {{{"type", "Ready"},
               {"status", "True"},
               {"reason", "AllReplicasReady"},
               {"message", "4 of 4 machines ready"},
               {"lastTransitionTime", "2026-11-22T01:00:00Z"},
               {"observedGeneration", 1}},
              {{"type", "BudgetExceeded"},
               {"status", "False"},
               {"reason", "WithinBudget"},
               {"message", ""},
               {"lastTransitionTime", "2026-11-22T01:00:00Z"},
               {"observedGeneration", 1}}}}}}};
}

Json instance(int i) {
  const int p = i / 5;  // five machines per pool
  const std::string name = "pool-" + std::to_string(p) + "-" + std::to_string(i % 5) + "x7k2q";
  return {{"apiVersion", "gpupool.io/v1alpha1"},
          {"kind", "GpuInstance"},
          {"metadata",
           {{"name", name},
            {"namespace", ns_of(p)},
            {"labels", {{"gpupool.io/pool", "pool-" + std::to_string(p)}}},
            {"ownerReferences",
             {{{"apiVersion", "gpupool.io/v1alpha1"},
               {"kind", "GpuPool"},
               {"name", "pool-" + std::to_string(p)},
               {"uid", "00000000-0000-4000-8000-" + std::to_string(100000000000 + p)},
               {"controller", true},
               {"blockOwnerDeletion", true}}}},
            {"finalizers", {"gpupool.io/release"}}}},
          {"spec",
           {{"pool", "pool-" + std::to_string(p)},
            {"provider", "aws-prod"},
            {"offer",
             {{"id", "aws/us-east-1/g6e.xlarge/on-demand"},
              {"gpuModel", "L40S"},
              {"gpuCount", 1},
              {"region", "us-east-1"},
              {"pricePerHour", "1.861"},
              {"billing", {{"granularitySeconds", 1}, {"minimumSeconds", 60}}}}}}},
          {"status",
           {{"phase", "Ready"},
            {"providerInstanceId", "i-0a1b2c3d4e5f" + std::to_string(i)},
            {"address", "10.1." + std::to_string(i % 250) + "." + std::to_string(i % 200)},
            {"launchedAt", "2026-11-22T01:02:03Z"},
            {"readyAt", "2026-11-22T01:05:40Z"},
            {"paidUntil", "2026-11-22T03:05:40Z"},
            {"conditions",
             {{{"type", "Healthy"},
               {"status", "True"},
               {"reason", "HealthCheckPassed"},
               {"message", "GET /health 200"},
               {"lastTransitionTime", "2026-11-22T01:05:40Z"},
               {"observedGeneration", 1}}}}}}};
}

// The reconcilers' decode (controllers::to_pool / to_instance): lenient,
// then defaults.
template <class T>
std::optional<T> decode_typed(const Json& obj) {
  auto r = [&] {
    if constexpr (std::is_same_v<T, api::GpuPool>) {
      return api::decode_gpu_pool(obj, api::DecodeMode::Lenient);
    } else {
      return api::decode_gpu_instance(obj, api::DecodeMode::Lenient);
    }
  }();
  if (!r.ok()) return std::nullopt;
  api::apply_defaults(*r);
  return std::move(r).value();
}

// The reconcilers' bound for T's DecodeCache (controllers::DecodedObjects).
template <class T>
constexpr std::size_t capacity_of() {
  if constexpr (std::is_same_v<T, api::GpuPool>) {
    return controllers::DecodedObjects::kPoolEntries;
  } else {
    return controllers::DecodedObjects::kInstanceEntries;
  }
}

// `over_http`: the informer reads through HttpKubeClient from the test API
// server (JSON over loopback HTTP) instead of calling the store directly.
template <class T>
void run(benchmark::State& state, const Resource& r, const std::string& singular, Json (*make)(int),
         bool over_http) {
  const int n = static_cast<int>(state.range(0));
  const int updates = n / 10;
  SystemClock clock;
  MemoryStoreOptions so;
  so.history_size = static_cast<size_t>(updates) + 1000;
  so.watcher_queue_limit = static_cast<size_t>(updates) + 1000;
  so.seed = 1;
  MemoryStore store(clock, so);
  if (!store.create(resources::kCustomResourceDefinitions, "", crd(r, singular)).ok()) {
    state.SkipWithError("cannot create the CRD");
    return;
  }
  for (int i = 0; i < kNamespaces; ++i) {
    (void)store.create(
        resources::kNamespaces, "",
        {{"apiVersion", "v1"}, {"kind", "Namespace"}, {"metadata", {{"name", ns_of(i)}}}});
  }
  for (int i = 0; i < n; ++i) {
    Json o = make(i);
    auto c = store.create(r, o["metadata"]["namespace"], o);
    if (!c.ok()) {
      state.SkipWithError(("create failed: " + c.error().message).c_str());
      return;
    }
  }
  const double json_bytes = static_cast<double>(make(0).dump().size());
  std::unique_ptr<apiserver::TestApiServer> server;
  std::unique_ptr<HttpKubeClient> client;
  KubeApi* source = &store;
  if (over_http) {
    apiserver::ApiServerOptions ao;
    ao.bookmark_interval = std::chrono::milliseconds(0);
    server = std::make_unique<apiserver::TestApiServer>(store, clock, ao);
    if (!server->start().ok()) {
      state.SkipWithError("cannot start the test API server");
      return;
    }
    ClientConfig cc;
    cc.server = server->base_url();
    cc.qps = 0;
    cc.request_timeout = std::chrono::minutes(2);
    client = std::make_unique<HttpKubeClient>(cc, clock);
    source = client.get();
  }
  double list_rate = 0, watch_rate = 0, rss_delta = 0, heap_delta = 0, decoded_delta = 0;
  double decode_rate = 0, reread_rate = 0, decoded_all_delta = 0;
  double first_cpu = 0, resync_cpu = 0, read_cpu = 0;
  for (auto _ : state) {
    const double rss0 = rss_bytes();
    const double heap0 = heap_bytes();
    const auto t0 = std::chrono::steady_clock::now();
    Informer::Options io;
    io.poll_interval = std::chrono::milliseconds(50);
    Informer inf(*source, r, clock, io);
    inf.add_index("owner", index_by_owner_uid());
    inf.start();
    if (!inf.wait_for_sync(std::chrono::minutes(10))) {
      state.SkipWithError("informer did not sync");
      return;
    }
    const auto t1 = std::chrono::steady_clock::now();
    rss_delta = rss_bytes() - rss0;
    heap_delta = heap_bytes() - heap0;
    {
      // Every object's typed form kept (an unbounded DecodeCache, what the
      // reconcilers' caches were before their bound).
      controllers::DecodeCache<T> all(&decode_typed<T>);
      const double before = heap_bytes();
      for (const auto& key : inf.store().keys())
        (void)all.get(inf.store().get(key));
      decoded_all_delta = heap_bytes() - before;
    }
    // The reconcilers' bounded cache (controllers::DecodedObjects). Objects
    // are read one at a time by key, each tree dropped at once, as
    // reconciles read them.
    controllers::DecodeCache<T> decoded(&decode_typed<T>, capacity_of<T>());
    const std::vector<std::string> keys = inf.store().keys();
    {
      const double before = heap_bytes();
      const auto d0 = std::chrono::steady_clock::now();
      const double c0 = thread_cpu_seconds();
      for (const auto& key : keys) {
        if (!decoded.get(inf.store().get(key))) {
          state.SkipWithError("an object does not decode");
          return;
        }
      }
      const double c1 = thread_cpu_seconds();
      const auto d1 = std::chrono::steady_clock::now();
      // A second pass reads every object again, as a resync with nothing
      // changed does: typed forms still in the cache are found, the rest
      // (all of them once N exceeds the capacity) decoded again.
      for (const auto& key : keys)
        (void)decoded.get(inf.store().get(key));
      const double c2 = thread_cpu_seconds();
      const auto d2 = std::chrono::steady_clock::now();
      // The reads alone: the trees, no typed form.
      for (const auto& key : keys)
        (void)inf.store().get(key);
      const double c3 = thread_cpu_seconds();
      decoded_delta = heap_bytes() - before;
      decode_rate = n / std::chrono::duration<double>(d1 - d0).count();
      reread_rate = n / std::chrono::duration<double>(d2 - d1).count();
      first_cpu = c1 - c0;
      resync_cpu = c2 - c1;
      read_cpu = c3 - c2;
    }
    const auto t1_watch = std::chrono::steady_clock::now();
    for (int i = 0; i < updates; ++i) {
      Json o = make(i * 10 % n);
      const Json patch = {{"metadata", {{"labels", {{"bench/gen", std::to_string(i)}}}}}};
      (void)store.patch(r, o["metadata"]["namespace"], o["metadata"]["name"], PatchType::Merge,
                        patch);
    }
    const std::string want = std::to_string(store.resource_version());
    while (inf.last_resource_version() != want)
      std::this_thread::sleep_for(std::chrono::microseconds(200));
    const auto t2 = std::chrono::steady_clock::now();
    inf.stop();
    const double list_s = std::chrono::duration<double>(t1 - t0).count();
    const double watch_s = std::chrono::duration<double>(t2 - t1_watch).count();
    state.SetIterationTime(list_s + watch_s);
    list_rate = n / list_s;
    watch_rate = updates / watch_s;
    if (inf.store().size() != static_cast<size_t>(n)) state.SkipWithError("cache size mismatch");
  }
  state.counters["list_objects_per_s"] = list_rate;
  state.counters["watch_events_per_s"] = watch_rate;
  state.counters["rss_delta_MiB"] = rss_delta / (1024.0 * 1024.0);
  state.counters["rss_bytes_per_object"] = rss_delta / n;
  state.counters["heap_bytes_per_object"] = heap_delta / n;
  state.counters["json_bytes_per_object"] = json_bytes;
  state.counters["decoded_bytes_per_object"] = decoded_delta / n;
  state.counters["first_read_objects_per_s"] = decode_rate;
  state.counters["reread_objects_per_s"] = reread_rate;
  state.counters["total_bytes_per_object"] = (heap_delta + decoded_delta) / n;
  state.counters["decoded_all_bytes_per_object"] = decoded_all_delta / n;
  state.counters["total_all_bytes_per_object"] = (heap_delta + decoded_all_delta) / n;
  state.counters["cache_capacity"] = static_cast<double>(capacity_of<T>());
  state.counters["first_read_cpu_us"] = first_cpu / n * 1e6;
  state.counters["resync_cpu_s"] = resync_cpu;
  state.counters["resync_cpu_us"] = resync_cpu / n * 1e6;
  state.counters["read_cpu_us"] = read_cpu / n * 1e6;
  state.counters["typed_decode_cpu_us"] = (resync_cpu - read_cpu) / n * 1e6;
}

// Heap growth per object while `fill` builds N of something.
template <class F>
double bytes_per_object(int n, F&& fill) {
  const double h0 = heap_bytes();
  fill();
  return (heap_bytes() - h0) / n;
}

template <class T>
void footprint(benchmark::State& state, Json (*make)(int)) {
  const int n = static_cast<int>(state.range(0));
  const auto count = static_cast<size_t>(n);
  for (auto _ : state) {
    std::vector<Json> trees;
    trees.reserve(count);
    // Parsed from text, as an object read from the API is.
    state.counters["json_tree"] = static_cast<double>(sizeof(Json)) + bytes_per_object(n, [&] {
                                    for (int i = 0; i < n; ++i)
                                      trees.push_back(Json::parse(make(i).dump()));
                                  });
    std::vector<std::string> texts;
    texts.reserve(count);
    state.counters["json_text"] = bytes_per_object(n, [&] {
      for (const auto& t : trees) {
        texts.push_back(t.dump());
        texts.back().shrink_to_fit();
      }
    });
    texts = {};
    std::vector<std::string> cbors;
    cbors.reserve(count);
    state.counters["cbor"] = bytes_per_object(n, [&] {
      for (const auto& t : trees) {
        cbors.emplace_back();
        Json::to_cbor(t, cbors.back());
        cbors.back().shrink_to_fit();
      }
    });
    cbors = {};
    std::vector<T> typed;
    typed.reserve(count);
    // The vector was reserved before: count the struct itself too.
    state.counters["typed"] = static_cast<double>(sizeof(T)) + bytes_per_object(n, [&] {
                                for (const auto& t : trees)
                                  typed.push_back(*decode_typed<T>(t));
                              });
    state.counters["typed_sizeof"] = static_cast<double>(sizeof(T));
    typed = {};
    // What a kube::Store with the informer's owner index holds per object.
    Store store(StoreMode::Compact);
    store.add_index("owner", index_by_owner_uid());
    state.counters["store"] = bytes_per_object(n, [&] {
      for (const auto& t : trees)
        (void)store.upsert(std::make_shared<const Json>(t));
    });
    state.counters["store_encoded"] = static_cast<double>(store.encoded_bytes()) / n;
    state.counters["store_keys_indexes"] =
        state.counters["store"] - state.counters["store_encoded"];
  }
}

// NOLINTBEGIN(readability-identifier-naming): Google Benchmark's BM_ names
void BM_FootprintGpuPool(benchmark::State& state) {
  footprint<api::GpuPool>(state, &pool);
}
void BM_FootprintGpuInstance(benchmark::State& state) {
  footprint<api::GpuInstance>(state, &instance);
}
// NOLINTEND(readability-identifier-naming)
BENCHMARK(BM_FootprintGpuPool)->Arg(10'000)->Iterations(1)->Unit(benchmark::kMillisecond);
BENCHMARK(BM_FootprintGpuInstance)->Arg(10'000)->Iterations(1)->Unit(benchmark::kMillisecond);

// NOLINTBEGIN(readability-identifier-naming): Google Benchmark's BM_ names
void BM_InformerGpuPools(benchmark::State& state) {
  run<api::GpuPool>(state, kPools, "gpupool", &pool, false);
}
void BM_InformerGpuInstances(benchmark::State& state) {
  run<api::GpuInstance>(state, kInstances, "gpuinstance", &instance, false);
}
void BM_InformerGpuPoolsHttp(benchmark::State& state) {
  run<api::GpuPool>(state, kPools, "gpupool", &pool, true);
}
void BM_InformerGpuInstancesHttp(benchmark::State& state) {
  run<api::GpuInstance>(state, kInstances, "gpuinstance", &instance, true);
}
// NOLINTEND(readability-identifier-naming)

BENCHMARK(BM_InformerGpuPools)
    ->Arg(10'000)
    ->Iterations(1)
    ->UseManualTime()
    ->Unit(benchmark::kMillisecond);
BENCHMARK(BM_InformerGpuInstances)
    ->Arg(50'000)
    ->Iterations(1)
    ->UseManualTime()
    ->Unit(benchmark::kMillisecond);

BENCHMARK(BM_InformerGpuPoolsHttp)
    ->Arg(10'000)
    ->Iterations(1)
    ->UseManualTime()
    ->Unit(benchmark::kMillisecond);
BENCHMARK(BM_InformerGpuInstancesHttp)
    ->Arg(50'000)
    ->Iterations(1)
    ->UseManualTime()
    ->Unit(benchmark::kMillisecond);

}  // namespace
}  // namespace gpupool::kube

BENCHMARK_MAIN();
