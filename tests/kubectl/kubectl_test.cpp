// Drives the REAL kubectl against the in-process test API server: applies
// the CRDs from crds/ and the examples from examples/, then checks get
// (tables, -o json/yaml, -w), patch (merge, json, status), scale, delete
// waiting on a finalizer, wait --for=condition, dry run, replace conflicts
// and schema-invalid objects; an Endpoint pool's Service and EndpointSlices
// (written by the real endpoints reconciler on the server's store) as
// kubectl shows them. Every kubectl call runs under `timeout`, with
// its own HOME and KUBECACHEDIR.

#include <fcntl.h>
#include <signal.h>
#include <spawn.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <gtest/gtest.h>
#include <filesystem>
#include <fstream>
#include <functional>
#include <iterator>
#include <sstream>
#include <thread>

#include "operator/controllers/endpoint_slices.h"
#include "operator/core/api_codec.h"
#include "operator/core/pool_decision.h"
#include "providers/instrumented/instrumented_provider.h"
#include "tests/apiserver/api_server.h"

extern char** environ;

namespace gpupool {
namespace {

using namespace std::chrono_literals;
using kube::Json;
namespace fs = std::filesystem;

const kube::Resource kPools{"gpupool.io", "v1alpha1", "gpupools", "GpuPool", true};

std::string read_file(const fs::path& p) {
  std::ifstream in(p);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

bool contains(const std::string& hay, const std::string& needle) {
  return hay.find(needle) != std::string::npos;
}

struct Outcome {
  int exit_code = -1;
  std::string out;
  std::string err;
  std::string all() const { return out + err; }
};

// A kubectl process started in the background.
struct Background {
  pid_t pid = -1;
  fs::path out;
  fs::path err;
};

bool kubectl_available() {
  const char* path = std::getenv("PATH");
  std::stringstream ss(path ? path : "");
  std::string dir;
  while (std::getline(ss, dir, ':')) {
    if (::access((fs::path(dir) / "kubectl").c_str(), X_OK) == 0) return true;
  }
  return false;
}

// Polls `pred` every 50 ms until it holds or `limit` passes.
bool eventually(const std::function<bool()>& pred, std::chrono::milliseconds limit = 20s) {
  auto deadline = std::chrono::steady_clock::now() + limit;
  while (std::chrono::steady_clock::now() < deadline) {
    if (pred()) return true;
    std::this_thread::sleep_for(50ms);
  }
  return pred();
}

class KubectlTest : public ::testing::Test {
 protected:
  void SetUp() override {
    // kubectl 1.32 is part of every machine here (ARCHITECTURE.md); a missing
    // one is a broken setup, not a reason to pass quietly.
    ASSERT_TRUE(kubectl_available()) << "kubectl is not installed";
    const char* src = std::getenv("GPUPOOL_SOURCE_DIR");
    source_ = src ? fs::path(src) : fs::current_path();
    char tmpl[] = "/tmp/gpupool-kubectl-XXXXXX";
    ASSERT_NE(::mkdtemp(tmpl), nullptr);
    dir_ = tmpl;
    fs::create_directories(dir_ / "home");
    apiserver::ApiServerOptions o;
    o.watch_poll = 50ms;
    o.bookmark_interval = 0ms;
    server_ = std::make_unique<apiserver::TestApiServer>(clock_, o);
    auto st = server_->start();
    ASSERT_TRUE(st.ok()) << st.error().message;
    ASSERT_TRUE(server_->write_kubeconfig((dir_ / "kubeconfig").string()).ok());
  }

  void TearDown() override {
    for (const auto& b : background_) {
      ::kill(b.pid, SIGKILL);
      int status;
      ::waitpid(b.pid, &status, 0);
    }
    if (server_) server_->stop();
    std::error_code ec;
    if (!dir_.empty()) fs::remove_all(dir_, ec);
  }

  std::vector<std::string> environment() const {
    std::vector<std::string> env;
    for (char** e = environ; *e; ++e) {
      std::string kv = *e;
      if (kv.rfind("HOME=", 0) == 0 || kv.rfind("KUBECONFIG=", 0) == 0 ||
          kv.rfind("KUBECACHEDIR=", 0) == 0) {
        continue;
      }
      env.push_back(kv);
    }
    env.push_back("HOME=" + (dir_ / "home").string());
    env.push_back("KUBECONFIG=" + (dir_ / "kubeconfig").string());
    env.push_back("KUBECACHEDIR=" + (dir_ / "home" / "cache").string());
    return env;
  }

  Background spawn(const std::vector<std::string>& args, int timeout_s) {
    Background b;
    int n = counter_++;
    b.out = dir_ / ("out" + std::to_string(n));
    b.err = dir_ / ("err" + std::to_string(n));
    std::vector<std::string> argv = {"timeout", "--kill-after=5", std::to_string(timeout_s),
                                     "kubectl"};
    argv.insert(argv.end(), args.begin(), args.end());
    std::vector<char*> cargv;
    for (auto& a : argv)
      cargv.push_back(a.data());
    cargv.push_back(nullptr);
    std::vector<std::string> env = environment();
    std::vector<char*> cenv;
    for (auto& e : env)
      cenv.push_back(e.data());
    cenv.push_back(nullptr);
    posix_spawn_file_actions_t fa;
    posix_spawn_file_actions_init(&fa);
    posix_spawn_file_actions_addopen(&fa, 0, "/dev/null", O_RDONLY, 0);
    posix_spawn_file_actions_addopen(&fa, 1, b.out.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
    posix_spawn_file_actions_addopen(&fa, 2, b.err.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
    int rc = posix_spawnp(&b.pid, "timeout", &fa, nullptr, cargv.data(), cenv.data());
    posix_spawn_file_actions_destroy(&fa);
    if (rc != 0) b.pid = -1;
    return b;
  }

  Outcome finish(const Background& b) {
    Outcome r;
    int status = 0;
    if (b.pid > 0 && ::waitpid(b.pid, &status, 0) == b.pid) {
      r.exit_code = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
    }
    r.out = read_file(b.out);
    r.err = read_file(b.err);
    return r;
  }

  // Runs kubectl to completion (killed after `timeout_s`).
  Outcome kubectl(const std::vector<std::string>& args, int timeout_s = 60) {
    Outcome r = finish(spawn(args, timeout_s));
    EXPECT_NE(r.exit_code, 124) << "kubectl timed out: " << args.at(0);
    return r;
  }

  // Starts kubectl in the background; TearDown kills it if still running.
  Background start(const std::vector<std::string>& args, int timeout_s = 60) {
    Background b = spawn(args, timeout_s);
    background_.push_back(b);
    return b;
  }

  bool running(const Background& b) {
    int status;
    return ::waitpid(b.pid, &status, WNOHANG) == 0;
  }

  Outcome wait_done(const Background& b) {
    Outcome r = finish(b);
    background_.erase(std::remove_if(background_.begin(), background_.end(),
                                     [&](const Background& x) { return x.pid == b.pid; }),
                      background_.end());
    return r;
  }

  std::string path(const std::string& rel) const { return (source_ / rel).string(); }

  void apply_crds() {
    Outcome r = kubectl({"apply", "-f", path("crds")});
    ASSERT_EQ(r.exit_code, 0) << r.all();
  }

  void apply_examples() {
    apply_crds();
    Outcome r = kubectl({"apply", "-f", path("examples/providers.yaml"), "-f",
                         path("examples/l40s-inference-pool.yaml"), "-f",
                         path("examples/l40-or-l40s-pool.yaml")});
    ASSERT_EQ(r.exit_code, 0) << r.all();
  }

  Json pool(const std::string& name) {
    auto r = server_->store().get(kPools, "default", name);
    return r.ok() ? r.value() : Json();
  }

  Json jsonpath(const std::string& resource, const std::string& name, const std::string& expr) {
    Outcome r = kubectl({"get", resource, name, "-o", "jsonpath=" + expr});
    EXPECT_EQ(r.exit_code, 0) << r.all();
    return r.out;
  }

  // One pass of the endpoints reconciler (endpoint_slices.h) over pool
  // `name`, on caches filled from the server's store.
  void reconcile_endpoints(const std::string& name) {
    kube::MemoryStore& api = server_->store();
    ProviderCallStats stats;
    controllers::ProviderRegistry registry(clock_, stats);
    UnavailableOffers unavailable;
    kube::EventRecorder events(api, clock_, controllers::kComponent);
    kube::Store pools, instances, providers, services, slices;
    instances.add_index(controllers::kIndexPoolUid, kube::index_by_label(decision::kLabelPoolUid));
    services.add_index(controllers::kIndexOwnerUid, kube::index_by_owner_uid());
    slices.add_index(controllers::kIndexOwnerUid, kube::index_by_owner_uid());
    controllers::Context ctx{api,   clock_,    registry,  unavailable, events,
                             pools, instances, providers, {}};
    ctx.services = &services;
    ctx.endpoint_slices = &slices;
    ASSERT_TRUE(controllers::refresh_store(api, controllers::kGpuPools, pools).ok());
    ASSERT_TRUE(controllers::refresh_store(api, controllers::kGpuInstances, instances).ok());
    ASSERT_TRUE(controllers::refresh_store(api, kube::resources::kServices, services).ok());
    ASSERT_TRUE(controllers::refresh_store(api, kube::resources::kEndpointSlices, slices).ok());
    controllers::EndpointSliceReconciler rec(ctx);
    auto result = rec.reconcile({"default", name});
    ASSERT_FALSE(result.error.has_value()) << *result.error;
  }

  SystemClock clock_;
  fs::path source_;
  fs::path dir_;
  std::unique_ptr<apiserver::TestApiServer> server_;
  std::vector<Background> background_;
  int counter_ = 0;
};

TEST_F(KubectlTest, VersionSelectsKubectl132) {
  Outcome r = kubectl({"version"});
  ASSERT_EQ(r.exit_code, 0) << r.all();
  EXPECT_TRUE(contains(r.out, "Server Version: v1.32")) << r.out;
  EXPECT_TRUE(contains(r.out, "Client Version: v1.32.4")) << r.out;
}

TEST_F(KubectlTest, AppliesCrdsAndWaitsForEstablished) {
  Outcome first = kubectl({"apply", "-f", path("crds")});
  ASSERT_EQ(first.exit_code, 0) << first.all();
  EXPECT_TRUE(contains(first.out,
                       "customresourcedefinition.apiextensions.k8s.io/gpupools.gpupool.io created"))
      << first.out;
  EXPECT_TRUE(contains(first.out, "gpuinstances.gpupool.io created"));
  EXPECT_TRUE(contains(first.out, "gpuproviders.gpupool.io created"));
  Outcome again = kubectl({"apply", "-f", path("crds/gpupool.io_gpuproviders.yaml")});
  EXPECT_TRUE(contains(again.out, "gpuproviders.gpupool.io unchanged")) << again.all();
  Outcome wait = kubectl({"wait", "--for=condition=Established", "crd/gpupools.gpupool.io",
                          "crd/gpuproviders.gpupool.io", "--timeout=30s"});
  ASSERT_EQ(wait.exit_code, 0) << wait.all();
  EXPECT_TRUE(contains(wait.out, "gpupools.gpupool.io condition met")) << wait.out;
  EXPECT_EQ(jsonpath("crd", "gpupools.gpupool.io",
                     "{.status.conditions[?(@.type==\"NamesAccepted\")].status}"),
            "True");
  Outcome crds = kubectl({"get", "crds"});
  EXPECT_TRUE(contains(crds.out, "gpuinstances.gpupool.io")) << crds.all();
}

// The singular names work as resource types (a CRD category equal to a
// singular name made kubectl read "gpupool web" as two resources), and every
// CRD re-applies as "unchanged" (a flow-style description with a comma once
// split into a stray key, so apply always saw a difference).
TEST_F(KubectlTest, SingularNamesAndReapplyUnchanged) {
  apply_examples();
  Outcome get = kubectl({"get", "gpupool", "llm-inference", "-o", "name"});
  ASSERT_EQ(get.exit_code, 0) << get.all();
  EXPECT_EQ(get.out, "gpupool.gpupool.io/llm-inference\n");
  Outcome providers = kubectl({"get", "gpuprovider", "-o", "name"});
  ASSERT_EQ(providers.exit_code, 0) << providers.all();
  EXPECT_TRUE(contains(providers.out, "gpuprovider.gpupool.io/")) << providers.out;
  Outcome again = kubectl({"apply", "-f", path("crds")});
  ASSERT_EQ(again.exit_code, 0) << again.all();
  for (const char* crd : {"gpupools", "gpuinstances", "gpuproviders"}) {
    EXPECT_TRUE(contains(again.out, std::string(crd) + ".gpupool.io unchanged")) << again.out;
  }
}

TEST_F(KubectlTest, GetShowsPrinterColumnsJsonAndYaml) {
  apply_examples();
  Outcome table = kubectl({"get", "gpupools"});
  ASSERT_EQ(table.exit_code, 0) << table.all();
  std::string header = table.out.substr(0, table.out.find('\n'));
  for (const char* col : {"NAME", "READY", "DESIRED", "$/H", "SPEND", "AGE"}) {
    EXPECT_TRUE(contains(header, col)) << header;
  }
  EXPECT_FALSE(contains(header, "PARKED"));  // priority 1: only with -o wide
  EXPECT_TRUE(contains(table.out, "llm-inference"));
  EXPECT_TRUE(contains(table.out, "batch-l40-or-l40s"));
  Outcome wide = kubectl({"get", "gp", "-o", "wide"});
  EXPECT_TRUE(contains(wide.out, "PARKED")) << wide.all();
  EXPECT_TRUE(contains(wide.out, "BUDGET/H"));
  Outcome single = kubectl({"get", "gpupools", "llm-inference", "-o", "json"});
  ASSERT_EQ(single.exit_code, 0) << single.all();
  Json obj = Json::parse(single.out, nullptr, false);
  ASSERT_TRUE(obj.is_object()) << single.out;
  EXPECT_EQ(obj["kind"], "GpuPool");
  EXPECT_EQ(obj["metadata"]["generation"], 1);
  EXPECT_EQ(obj["metadata"]["uid"], pool("llm-inference")["metadata"]["uid"]);
  Outcome yaml = kubectl({"get", "gpupools", "-o", "yaml"});
  EXPECT_TRUE(contains(yaml.out, "kind: List")) << yaml.all();
  EXPECT_TRUE(contains(yaml.out, "name: llm-inference"));
  Outcome providers = kubectl({"get", "gpr"});
  EXPECT_TRUE(contains(providers.out, "TYPE")) << providers.all();
  EXPECT_TRUE(contains(providers.out, "fluence"));
  Outcome all = kubectl({"get", "all"});
  EXPECT_TRUE(contains(all.out, "gpupool.gpupool.io/llm-inference")) << all.all();
  // Re-applying unchanged examples writes nothing.
  std::string rv = pool("llm-inference")["metadata"]["resourceVersion"];
  Outcome again = kubectl({"apply", "-f", path("examples/l40s-inference-pool.yaml")});
  EXPECT_TRUE(contains(again.out, "llm-inference unchanged")) << again.all();
  EXPECT_EQ(pool("llm-inference")["metadata"]["resourceVersion"], rv);
}

TEST_F(KubectlTest, PatchesSpecAndStatusWithGenerationRules) {
  apply_examples();
  Outcome merge = kubectl({"patch", "gp", "llm-inference", "--type=merge", "-p",
                           R"({"spec":{"replicas":{"count":5}}})"});
  ASSERT_EQ(merge.exit_code, 0) << merge.all();
  EXPECT_EQ(pool("llm-inference")["metadata"]["generation"], 2);
  Outcome json = kubectl({"patch", "gp", "llm-inference", "--type=json", "-p",
                          R"([{"op":"replace","path":"/spec/replicas/count","value":4}])"});
  ASSERT_EQ(json.exit_code, 0) << json.all();
  EXPECT_EQ(pool("llm-inference")["spec"]["replicas"]["count"], 4);
  EXPECT_EQ(pool("llm-inference")["metadata"]["generation"], 3);
  Outcome status = kubectl({"patch", "gp", "llm-inference", "--subresource=status", "--type=merge",
                            "-p", R"({"status":{"replicas":{"ready":2,"desired":4}}})"});
  ASSERT_EQ(status.exit_code, 0) << status.all();
  EXPECT_EQ(pool("llm-inference")["status"]["replicas"]["ready"], 2);
  EXPECT_EQ(pool("llm-inference")["metadata"]["generation"], 3);
  // Status in a main-resource patch is ignored.
  kubectl({"patch", "gp", "llm-inference", "--type=merge", "-p",
           R"({"status":{"replicas":{"ready":9}}})"});
  EXPECT_EQ(pool("llm-inference")["status"]["replicas"]["ready"], 2);
  Outcome row = kubectl({"get", "gp", "llm-inference", "--no-headers"});
  std::istringstream cells(row.out);
  std::vector<std::string> words{std::istream_iterator<std::string>(cells),
                                 std::istream_iterator<std::string>()};
  ASSERT_GE(words.size(), 3u) << row.out;
  EXPECT_EQ(words[0], "llm-inference");
  EXPECT_EQ(words[1], "2");  // READY
  EXPECT_EQ(words[2], "4");  // DESIRED
  Outcome smp =
      kubectl({"patch", "gp", "llm-inference", "-p", R"({"spec":{"replicas":{"count":1}}})"});
  EXPECT_NE(smp.exit_code, 0);
  EXPECT_TRUE(contains(smp.err,
                       "application/strategic-merge-patch+json is not supported by "
                       "gpupool.io/v1alpha1, Kind=GpuPool"))
      << smp.all();
}

TEST_F(KubectlTest, ScalesThroughTheScaleSubresource) {
  apply_examples();
  Outcome r = kubectl({"scale", "gpupools", "llm-inference", "--replicas=5"});
  ASSERT_EQ(r.exit_code, 0) << r.all();
  EXPECT_TRUE(contains(r.out, "gpupool.gpupool.io/llm-inference scaled")) << r.out;
  EXPECT_EQ(pool("llm-inference")["spec"]["replicas"]["count"], 5);
}

TEST_F(KubectlTest, DeleteWaitsForFinalizerRemoval) {
  apply_examples();
  Outcome fin = kubectl({"patch", "gp", "batch-l40-or-l40s", "--type=merge", "-p",
                         R"({"metadata":{"finalizers":["gpupool.io/cleanup"]}})"});
  ASSERT_EQ(fin.exit_code, 0) << fin.all();
  Background del = start({"delete", "gpupools", "batch-l40-or-l40s"});
  ASSERT_GT(del.pid, 0);
  ASSERT_TRUE(eventually(
      [&] { return pool("batch-l40-or-l40s")["metadata"].contains("deletionTimestamp"); }));
  EXPECT_EQ(pool("batch-l40-or-l40s")["metadata"]["generation"], 2);
  // kubectl keeps waiting while the finalizer is there (it watches the object).
  ASSERT_TRUE(eventually([&] { return server_->store().watcher_count() > 0; }));
  EXPECT_TRUE(running(del));
  Outcome rm = kubectl({"patch", "gp", "batch-l40-or-l40s", "--type=json", "-p",
                        R"([{"op":"remove","path":"/metadata/finalizers"}])"});
  ASSERT_EQ(rm.exit_code, 0) << rm.all();
  Outcome done = wait_done(del);
  EXPECT_EQ(done.exit_code, 0) << done.all();
  EXPECT_TRUE(contains(done.out, "gpupool.gpupool.io \"batch-l40-or-l40s\" deleted")) << done.out;
  EXPECT_TRUE(pool("batch-l40-or-l40s").is_null());
}

TEST_F(KubectlTest, WatchPrintsARowPerChange) {
  apply_examples();
  Background w = start({"get", "gpupools", "-w"});
  ASSERT_TRUE(eventually([&] { return contains(read_file(w.out), "llm-inference"); }))
      << read_file(w.err);
  ASSERT_TRUE(eventually([&] { return server_->store().watcher_count() > 0; }));
  Outcome st = kubectl({"patch", "gp", "llm-inference", "--subresource=status", "--type=merge",
                        "-p", R"({"status":{"replicas":{"ready":7,"desired":7}}})"});
  ASSERT_EQ(st.exit_code, 0) << st.all();
  EXPECT_TRUE(eventually([&] { return contains(read_file(w.out), "llm-inference       7"); }))
      << read_file(w.out);
}

TEST_F(KubectlTest, ServerDryRunPersistsNothing) {
  apply_crds();
  Outcome r =
      kubectl({"apply", "--dry-run=server", "-f", path("examples/l40s-inference-pool.yaml")});
  ASSERT_EQ(r.exit_code, 0) << r.all();
  EXPECT_TRUE(contains(r.out, "created (server dry run)")) << r.out;
  EXPECT_TRUE(pool("llm-inference").is_null());
  apply_examples();
  Outcome d = kubectl({"delete", "gp", "llm-inference", "--dry-run=server"});
  EXPECT_TRUE(contains(d.out, "deleted (server dry run)")) << d.all();
  EXPECT_FALSE(pool("llm-inference").is_null());
}

TEST_F(KubectlTest, SchemaInvalidObjectIsRejectedWithFieldCauses) {
  apply_crds();
  Outcome r = kubectl({"apply", "-f", path("examples/invalid/bad-pool.yaml")});
  EXPECT_NE(r.exit_code, 0);
  EXPECT_TRUE(contains(r.err, "The GpuPool \"bad-pool\" is invalid")) << r.all();
  EXPECT_TRUE(contains(r.err, "spec.reliability: Unsupported value: \"Gold\"")) << r.err;
  EXPECT_TRUE(contains(r.err, "spec.providers[1].name")) << r.err;
  // CEL (x-kubernetes-validations) causes come with the OpenAPI ones.
  EXPECT_TRUE(contains(r.err, "spec.replicas.max: Invalid value: \"object\"")) << r.err;
  EXPECT_TRUE(pool("bad-pool").is_null());
  // Unknown fields are refused by the strict validation kubectl asks for.
  fs::path extra = dir_ / "extra.yaml";
  std::ofstream(extra) << read_file(path("examples/l40s-inference-pool.yaml")) << "  bogus: 1\n";
  Outcome strict = kubectl({"apply", "-f", extra.string()});
  EXPECT_NE(strict.exit_code, 0);
  EXPECT_TRUE(contains(strict.err, "unknown field \"spec.bogus\"")) << strict.all();
}

TEST_F(KubectlTest, SelectorsPagingConflictsAndDuplicates) {
  apply_examples();
  Outcome bad = kubectl({"get", "gp", "--field-selector", "spec.size=4"});
  EXPECT_NE(bad.exit_code, 0);
  EXPECT_TRUE(contains(bad.err, "field label not supported: spec.size")) << bad.all();
  Outcome byname =
      kubectl({"get", "gp", "--field-selector", "metadata.name=llm-inference", "--no-headers"});
  EXPECT_TRUE(contains(byname.out, "llm-inference"));
  EXPECT_FALSE(contains(byname.out, "batch-l40-or-l40s"));
  Outcome chunks = kubectl({"get", "gp", "--chunk-size=1", "-o", "name"});
  EXPECT_TRUE(contains(chunks.out, "gpupool.gpupool.io/llm-inference")) << chunks.all();
  EXPECT_TRUE(contains(chunks.out, "gpupool.gpupool.io/batch-l40-or-l40s"));
  // replace with a stale resourceVersion
  Outcome live = kubectl({"get", "gp", "llm-inference", "-o", "json"});
  fs::path stale = dir_ / "stale.json";
  std::ofstream(stale) << live.out;
  ASSERT_EQ(kubectl({"patch", "gp", "llm-inference", "--type=merge", "-p",
                     R"({"spec":{"replicas":{"count":6}}})"})
                .exit_code,
            0);
  Outcome replace = kubectl({"replace", "-f", stale.string()});
  EXPECT_NE(replace.exit_code, 0);
  EXPECT_TRUE(contains(replace.err, "Error from server (Conflict)")) << replace.all();
  EXPECT_TRUE(contains(replace.err, "the object has been modified")) << replace.err;
  Outcome dup = kubectl({"create", "-f", path("examples/l40s-inference-pool.yaml")});
  EXPECT_NE(dup.exit_code, 0);
  EXPECT_TRUE(contains(dup.err, "Error from server (AlreadyExists)")) << dup.all();
}

TEST_F(KubectlTest, CreatesBuiltinsFromTypedCommands) {
  // kubectl's typed create commands send protobuf bodies.
  Outcome ns = kubectl({"create", "namespace", "team-a"});
  ASSERT_EQ(ns.exit_code, 0) << ns.all();
  Outcome secret = kubectl(
      {"create", "secret", "generic", "creds", "-n", "team-a", "--from-literal=token=s3cr3t"});
  ASSERT_EQ(secret.exit_code, 0) << secret.all();
  auto stored = server_->store().get(kube::resources::kSecrets, "team-a", "creds");
  ASSERT_TRUE(stored.ok());
  EXPECT_EQ(stored.value()["data"]["token"], "czNjcjN0");  // base64("s3cr3t")
  Outcome cm = kubectl({"create", "configmap", "settings", "-n", "team-a", "--from-literal=a=b"});
  ASSERT_EQ(cm.exit_code, 0) << cm.all();
  Outcome del = kubectl({"delete", "namespace", "team-a"});
  ASSERT_EQ(del.exit_code, 0) << del.all();
  EXPECT_FALSE(server_->store().get(kube::resources::kSecrets, "team-a", "creds").ok());
  Outcome gone = kubectl({"get", "namespace", "team-a"});
  EXPECT_TRUE(contains(gone.err, "namespaces \"team-a\" not found")) << gone.all();
}

// `kubectl drain` against the test API server: cordon, the pods/eviction
// subresource (found through discovery), a PodDisruptionBudget whose status
// allows no disruption blocking it with the real server's 429, DaemonSet
// pods left alone.
TEST_F(KubectlTest, DrainEvictsThroughTheEvictionApiAndHonoursDisruptionBudgets) {
  fs::path objs = dir_ / "drain.yaml";
  std::ofstream(objs) << R"(apiVersion: v1
kind: Node
metadata: {name: gpu-node-1}
---
apiVersion: apps/v1
kind: DaemonSet
metadata: {name: agent, namespace: default}
spec:
  selector: {matchLabels: {app: agent}}
  template:
    metadata: {labels: {app: agent}}
    spec: {containers: [{name: c, image: agent}]}
---
apiVersion: v1
kind: Pod
metadata:
  name: web-1
  namespace: default
  labels: {app: web}
  ownerReferences: [{apiVersion: apps/v1, kind: ReplicaSet, name: web, uid: r1, controller: true}]
spec: {nodeName: gpu-node-1, containers: [{name: c, image: vllm}]}
---
apiVersion: v1
kind: Pod
metadata:
  name: agent-1
  namespace: default
  ownerReferences: [{apiVersion: apps/v1, kind: DaemonSet, name: agent, uid: d1, controller: true}]
spec: {nodeName: gpu-node-1, containers: [{name: c, image: agent}]}
---
apiVersion: policy/v1
kind: PodDisruptionBudget
metadata: {name: web-pdb, namespace: default}
spec: {minAvailable: 1, selector: {matchLabels: {app: web}}}
)";
  Outcome apply = kubectl({"apply", "-f", objs.string()});
  ASSERT_EQ(apply.exit_code, 0) << apply.all();
  Outcome running = kubectl({"patch", "pod", "web-1", "--subresource=status", "--type=merge", "-p",
                             R"({"status":{"phase":"Running",)"
                             R"("conditions":[{"type":"Ready","status":"True"}]}})"});
  ASSERT_EQ(running.exit_code, 0) << running.all();
  // What the disruption controller would write: no disruption allowed.
  auto budget = [&](int allowed) {
    Outcome r = kubectl({"patch", "pdb", "web-pdb", "--subresource=status", "--type=merge", "-p",
                         R"({"status":{"disruptionsAllowed":)" + std::to_string(allowed) +
                             R"(,"currentHealthy":1,"desiredHealthy":1,"expectedPods":1,)"
                             R"("observedGeneration":1}})"});
    ASSERT_EQ(r.exit_code, 0) << r.all();
  };
  budget(0);
  Outcome blocked = kubectl({"drain", "gpu-node-1", "--ignore-daemonsets", "--timeout=3s"});
  EXPECT_NE(blocked.exit_code, 0);
  EXPECT_TRUE(contains(blocked.all(),
                       "Cannot evict pod as it would violate the pod's disruption "
                       "budget."))
      << blocked.all();
  EXPECT_TRUE(contains(blocked.out, "node/gpu-node-1 cordoned")) << blocked.all();
  EXPECT_TRUE(server_->store().exists(kube::resources::kPods, "default", "web-1"));
  auto node = server_->store().get(kube::resources::kNodes, "", "gpu-node-1");
  ASSERT_TRUE(node.ok());
  EXPECT_TRUE(node.value()["spec"].value("unschedulable", false));

  budget(1);
  Outcome drained = kubectl({"drain", "gpu-node-1", "--ignore-daemonsets", "--timeout=30s"});
  ASSERT_EQ(drained.exit_code, 0) << drained.all();
  EXPECT_TRUE(contains(drained.out, "pod/web-1 evicted")) << drained.all();
  EXPECT_FALSE(server_->store().exists(kube::resources::kPods, "default", "web-1"));
  EXPECT_TRUE(server_->store().exists(kube::resources::kPods, "default", "agent-1"));
  EXPECT_EQ(jsonpath("pdb", "web-pdb", "{.status.disruptionsAllowed}"), "0");
}

// Endpoint mode (issue 13): the endpoints reconciler runs on the server's
// store; kubectl writes the instances' status and reads the slices back.
TEST_F(KubectlTest, EndpointSlicesShowOnlyReadyInstancesReady) {
  apply_crds();
  Outcome r = kubectl({"apply", "-f", path("examples/endpoint-pool.yaml")});
  ASSERT_EQ(r.exit_code, 0) << r.all();
  const std::string pool_uid = pool("chat")["metadata"]["uid"];
  // Three machines of the pool, as the pool reconciler would write them.
  std::string manifests;
  for (const char* name : {"chat-a", "chat-b", "chat-c"}) {
    Json inst = {{"apiVersion", "gpupool.io/v1alpha1"},
                 {"kind", "GpuInstance"},
                 {"metadata",
                  {{"name", name},
                   {"namespace", "default"},
                   {"labels", {{"gpupool.io/pool", "chat"}, {"gpupool.io/pool-uid", pool_uid}}}}},
                 {"spec",
                  {{"pool", "chat"},
                   {"offer",
                    {{"provider", "runpod"},
                     {"providerType", "runpod"},
                     {"offerId", "l40s"},
                     {"gpuModel", "L40S"},
                     {"pricePerHour", "0.86"}}},
                   {"usage", pool("chat")["spec"]["usage"]}}}};
    manifests += inst.dump() + "\n";
  }
  std::ofstream(dir_ / "instances.json") << manifests;
  r = kubectl({"apply", "-f", (dir_ / "instances.json").string()});
  ASSERT_EQ(r.exit_code, 0) << r.all();
  auto set_status = [&](const std::string& name, const std::string& phase, const std::string& ip) {
    Json st = {{"status", {{"phase", phase}, {"address", ip}, {"port", 8000}}}};
    Outcome o = kubectl(
        {"patch", "gpuinstance", name, "--subresource=status", "--type=merge", "-p", st.dump()});
    ASSERT_EQ(o.exit_code, 0) << o.all();
  };
  set_status("chat-a", "Ready", "10.0.0.1");
  set_status("chat-b", "Running", "10.0.0.2");
  set_status("chat-c", "Parked", "10.0.0.3");
  ASSERT_NO_FATAL_FAILURE(reconcile_endpoints("chat"));

  // Endpoint conditions by instance, from `kubectl get endpointslices -o yaml`.
  auto conditions = [&] {
    std::map<std::string, Json> out;
    Outcome o =
        kubectl({"get", "endpointslices", "-l", "kubernetes.io/service-name=chat", "-o", "yaml"});
    EXPECT_EQ(o.exit_code, 0) << o.all();
    auto docs = api::yaml_to_json(o.out);
    EXPECT_TRUE(docs.ok()) << o.out;
    if (!docs.ok() || docs->empty()) return out;
    for (const auto& s : (*docs)[0]["items"]) {
      EXPECT_EQ(s["addressType"], "IPv4");
      EXPECT_EQ(s["metadata"]["labels"]["endpointslice.kubernetes.io/managed-by"], "gpupool.io");
      EXPECT_EQ(s["ports"][0]["name"], "http");
      for (const auto& ep : s["endpoints"])
        out[ep["targetRef"]["name"]] = ep["conditions"];
    }
    return out;
  };
  auto c = conditions();
  // chat-b's health check has not passed (Running): it is not listed.
  ASSERT_EQ(c.size(), 2u);
  EXPECT_EQ(c["chat-a"]["ready"], true);
  EXPECT_EQ(c.count("chat-b"), 0u);
  EXPECT_EQ(c["chat-c"]["ready"], false);
  EXPECT_EQ(c["chat-c"]["terminating"], true);
  // The Service clients use.
  Outcome svc = kubectl(
      {"get", "service", "chat", "-o", "jsonpath={.spec.ports[0].name}:{.spec.ports[0].port}"});
  EXPECT_EQ(svc.exit_code, 0) << svc.all();
  EXPECT_EQ(svc.out, "http:8000");
  // The table kubectl prints by default.
  Outcome table = kubectl({"get", "endpointslices"});
  EXPECT_EQ(table.exit_code, 0) << table.all();
  EXPECT_TRUE(contains(table.out, "ADDRESSTYPE")) << table.all();
  EXPECT_TRUE(contains(table.out, "10.0.0.1,10.0.0.3")) << table.all();
  // The Ready machine fails its health check (back to Running): it leaves
  // the slice; chat-b passes its own and is listed, ready.
  set_status("chat-a", "Running", "10.0.0.1");
  set_status("chat-b", "Ready", "10.0.0.2");
  ASSERT_NO_FATAL_FAILURE(reconcile_endpoints("chat"));
  c = conditions();
  EXPECT_EQ(c.count("chat-a"), 0u);
  EXPECT_EQ(c["chat-b"]["ready"], true);
  EXPECT_EQ(c["chat-b"]["serving"], true);
}

// Issue 12: server-side apply keeps managedFields and reports field-manager
// conflicts as the real server does (Helm 4 applies server-side).
TEST_F(KubectlTest, ServerSideApplyConflictsUnlessForced) {
  apply_crds();
  Outcome first =
      kubectl({"apply", "--server-side", "-f", path("examples/l40s-inference-pool.yaml")});
  ASSERT_EQ(first.exit_code, 0) << first.all();
  EXPECT_TRUE(contains(first.out, "serverside-applied")) << first.all();
  Json owners = Json::parse(
      kubectl({"get", "gp", "llm-inference", "-o", "jsonpath={.metadata.managedFields}"}).out);
  ASSERT_EQ(owners.size(), 1u) << owners.dump();
  EXPECT_EQ(owners[0]["manager"], "kubectl");
  EXPECT_EQ(owners[0]["operation"], "Apply");
  EXPECT_EQ(owners[0]["fieldsType"], "FieldsV1");
  EXPECT_TRUE(owners[0]["fieldsV1"]["f:spec"]["f:replicas"].contains("f:count"));

  // Another manager sets the replica count kubectl's apply owns.
  fs::path other = dir_ / "other.json";
  std::ofstream(other) << Json{{"apiVersion", "gpupool.io/v1alpha1"},
                               {"kind", "GpuPool"},
                               {"metadata", {{"name", "llm-inference"}, {"namespace", "default"}}},
                               {"spec", {{"replicas", {{"count", 5}}}}}}
                              .dump();
  Outcome clash =
      kubectl({"apply", "--server-side", "--field-manager=autoscaler", "-f", other.string()});
  EXPECT_NE(clash.exit_code, 0);
  EXPECT_TRUE(contains(clash.err,
                       "Apply failed with 1 conflict: conflict with \"kubectl\": "
                       ".spec.replicas.count"))
      << clash.all();
  EXPECT_EQ(pool("llm-inference")["spec"]["replicas"]["count"], 3);

  Outcome forced = kubectl({"apply", "--server-side", "--field-manager=autoscaler",
                            "--force-conflicts", "-f", other.string()});
  ASSERT_EQ(forced.exit_code, 0) << forced.all();
  EXPECT_TRUE(contains(forced.out, "serverside-applied")) << forced.all();
  const Json live = pool("llm-inference");
  EXPECT_EQ(live["spec"]["replicas"]["count"], 5);
  EXPECT_EQ(live["spec"]["replicas"]["max"], 6);  // kubectl's other fields stay
  for (const auto& e : live["metadata"]["managedFields"]) {
    const bool owns_count = e["fieldsV1"]["f:spec"].contains("f:replicas") &&
                            e["fieldsV1"]["f:spec"]["f:replicas"].contains("f:count");
    EXPECT_EQ(owns_count, e["manager"] == "autoscaler") << e.dump();
  }
  // kubectl's own re-apply now conflicts with the new owner.
  Outcome back =
      kubectl({"apply", "--server-side", "-f", path("examples/l40s-inference-pool.yaml")});
  EXPECT_NE(back.exit_code, 0);
  EXPECT_TRUE(contains(back.err, "conflict with \"autoscaler\"")) << back.all();
}

}  // namespace
}  // namespace gpupool
