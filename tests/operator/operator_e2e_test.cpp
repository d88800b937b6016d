// The real `gpupool-operator run` binary against the in-process test API
// server, with GpuProviders of type "fake" (in-process fake provider inside
// the operator), driven with kubectl. Observations read the API objects:
// GpuInstances (one per machine), their phases and providerIds, the pool's
// conditions and spend.
//
// Waiting: every wait is a poll with a deadline on real time (the operator
// is another process on the system clock).

#include <fcntl.h>
#include <signal.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <functional>
#include <mutex>
#include <regex>
#include <set>
#include <sstream>
#include <thread>

#include "operator/core/api_codec.h"
#include "operator/core/api_validation.h"
#include "operator/core/billing.h"
#include "operator/core/pool_decision.h"
#include "operator/httpserver/http_server.h"
#include "tests/apiserver/api_server.h"
#include "tests/operator/http_get.h"
#include "tests/operator/process.h"

extern char** environ;

namespace gpupool {
namespace {

using namespace std::chrono_literals;
using kube::Json;
namespace fs = std::filesystem;

const kube::Resource kPools{"gpupool.io", "v1alpha1", "gpupools", "GpuPool", true};
const kube::Resource kInstances{"gpupool.io", "v1alpha1", "gpuinstances", "GpuInstance", true};

std::string read_file(const fs::path& p) {
  std::ifstream in(p);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

bool eventually(const std::function<bool()>& pred, std::chrono::milliseconds limit = 60s) {
  const auto deadline = std::chrono::steady_clock::now() + limit;
  while (std::chrono::steady_clock::now() < deadline) {
    if (pred()) return true;
    std::this_thread::sleep_for(100ms);
  }
  return pred();
}

pid_t spawn(const std::vector<std::string>& args, const fs::path& out, const fs::path& err,
            const std::vector<std::string>& extra_env = {}) {
  return testing_process::spawn(args, out, err, {.extra_env = extra_env});
}

using testing_process::wait_exit;

class OperatorE2E : public ::testing::Test {
 protected:
  void SetUp() override {
    const char* src = std::getenv("GPUPOOL_SOURCE_DIR");
    const char* bin = std::getenv("GPUPOOL_BINARY_DIR");
    ASSERT_TRUE(src && bin);
    source_ = src;
    binary_ = fs::path(bin) / "bin" / "gpupool-operator";
    ASSERT_TRUE(fs::exists(binary_)) << binary_;
    dir_ = fs::temp_directory_path() /
           ("gpupool-e2e-" + std::to_string(getpid()) + "-" +
            ::testing::UnitTest::GetInstance()->current_test_info()->name());
    fs::remove_all(dir_);
    fs::create_directories(dir_ / "home");
    server_ = std::make_unique<apiserver::TestApiServer>(clock_);
    ASSERT_TRUE(server_->start().ok());
    for (const char* f : {"gpupool.io_gpupools.yaml", "gpupool.io_gpuinstances.yaml",
                          "gpupool.io_gpuproviders.yaml"}) {
      auto s = server_->load_manifests(read_file(source_ / "crds" / f));
      ASSERT_TRUE(s.ok()) << s.error().message;
    }
    kubeconfig_ = dir_ / "kubeconfig";
    ASSERT_TRUE(server_->write_kubeconfig(kubeconfig_.string()).ok());
  }

  void TearDown() override {
    stop_operator(SIGKILL);
    for (const pid_t pid : fake_servers_) {
      kill(pid, SIGTERM);
      wait_exit(pid);
    }
    if (server_) server_->stop();
    if (!HasFailure()) fs::remove_all(dir_);
  }

  void start_operator(const std::vector<std::string>& extra = {}) {
    std::vector<std::string> args = {
        binary_.string(), "run",         "--kubeconfig",        kubeconfig_.string(),
        "--health-addr",  "127.0.0.1:0", "--gc-period-seconds", "1",
        "--log-format",   "json"};
    args.insert(args.end(), extra.begin(), extra.end());
    op_ = spawn(args, dir_ / "operator.out", dir_ / "operator.log");
    ASSERT_GT(op_, 0);
  }
  int stop_operator(int sig) {
    if (op_ <= 0) return -1;
    kill(op_, sig);
    const int code = wait_exit(op_);
    op_ = -1;
    return code;
  }

  // A gpupool-fake-provider-server (machines boot at once) for a GpuProvider
  // of type fake with spec.endpoint; its port, 0 when it did not start.
  uint16_t start_fake_provider(const std::string& name) {
    const fs::path port_file = dir_ / (name + ".port");
    const pid_t pid = spawn({(binary_.parent_path() / "gpupool-fake-provider-server").string(),
                             "--port-file", port_file.string(), "--boot-seconds", "0"},
                            dir_ / (name + ".out"), dir_ / (name + ".log"));
    if (pid <= 0) return 0;
    fake_servers_.push_back(pid);
    if (!eventually([&] { return fs::exists(port_file); }, 30s)) return 0;
    return static_cast<uint16_t>(std::stoi(read_file(port_file)));
  }

  // kubectl with its own HOME; returns exit code, output in `out`.
  int kubectl(const std::vector<std::string>& args, std::string* out = nullptr,
              const std::string& stdin_text = "") {
    std::vector<std::string> full = {"timeout", "60", "kubectl", "--kubeconfig",
                                     kubeconfig_.string()};
    full.insert(full.end(), args.begin(), args.end());
    const fs::path o = dir_ / "kubectl.out", e = dir_ / "kubectl.err";
    fs::remove(o);
    fs::remove(e);
    if (!stdin_text.empty()) {
      const fs::path in = dir_ / "stdin.yaml";
      std::ofstream(in) << stdin_text;
      for (auto& a : full) {
        if (a == "-") a = in.string();
      }
    }
    pid_t pid = spawn(
        full, o, e,
        {"HOME=" + (dir_ / "home").string(), "KUBECACHEDIR=" + (dir_ / "home" / "cache").string()});
    const int code = pid > 0 ? wait_exit(pid) : -1;
    if (out) *out = read_file(o) + read_file(e);
    return code;
  }
  void apply(const std::string& yaml) {
    std::string out;
    ASSERT_EQ(kubectl({"apply", "-f", "-"}, &out, yaml), 0) << out;
  }

  std::vector<api::GpuInstance> instances() {
    std::vector<api::GpuInstance> out;
    auto list = server_->store().list(kInstances, "default");
    if (!list.ok()) return out;
    for (const auto& j : list->items) {
      auto i = api::decode_gpu_instance(j, api::DecodeMode::Lenient);
      if (i.ok()) out.push_back(*i);
    }
    return out;
  }
  std::optional<api::GpuPool> pool(const std::string& name = "web") {
    auto j = server_->store().get(kPools, "default", name);
    if (!j.ok()) return std::nullopt;
    auto p = api::decode_gpu_pool(*j, api::DecodeMode::Lenient);
    if (!p.ok()) return std::nullopt;
    return *p;
  }
  bool condition_is(const std::string& type, api::ConditionStatus st,
                    const std::string& reason = "") {
    auto p = pool();
    if (!p) return false;
    const auto* c = decision::find_condition(p->status.conditions, type);
    return c && c->status == st && (reason.empty() || c->reason == reason);
  }
  int count(api::InstancePhase phase) {
    int n = 0;
    for (const auto& i : instances())
      n += (i.status.phase == phase) ? 1 : 0;
    return n;
  }

  static std::string provider_yaml(const std::string& extra_meta, const std::string& spec) {
    return "apiVersion: gpupool.io/v1alpha1\nkind: GpuProvider\nmetadata:\n  name: local\n" +
           extra_meta + "spec:\n  type: fake\n" + spec;
  }
  static std::string pool_yaml(int replicas, const std::string& extra_spec = "") {
    return "apiVersion: gpupool.io/v1alpha1\nkind: GpuPool\nmetadata:\n  name: web\n  "
           "namespace: default\nspec:\n  gpu:\n    models:\n    - name: L40S\n  replicas:\n    "
           "count: " +
           std::to_string(replicas) + "\n  providers:\n  - name: local\n" + extra_spec;
  }

  SystemClock clock_;
  fs::path source_, binary_, dir_, kubeconfig_;
  std::unique_ptr<apiserver::TestApiServer> server_;
  pid_t op_ = -1;
  std::vector<pid_t> fake_servers_;
};

TEST_F(OperatorE2E, ExamplePoolBecomesReadyWithTheRightInstances) {
  start_operator();
  apply(provider_yaml("", "  fake:\n    bootSeconds: 1\n"));
  apply(pool_yaml(3));
  std::string out;
  EXPECT_EQ(kubectl({"wait", "--for=condition=Ready", "gpupool/web", "--timeout=60s"}, &out), 0)
      << out;
  const auto insts = instances();
  ASSERT_EQ(insts.size(), 3u);
  std::set<std::string> ids;
  for (const auto& i : insts) {
    EXPECT_EQ(i.status.phase, api::InstancePhase::Running);
    EXPECT_EQ(i.spec.offer.gpu_model, "L40S");
    ids.insert(i.status.provider_id);
  }
  EXPECT_EQ(ids.size(), 3u);
  EXPECT_EQ(kubectl({"get", "gpuinstances", "-o", "name"}, &out), 0);
  EXPECT_NE(out.find("gpuinstance.gpupool.io/web-"), std::string::npos) << out;
  // SIGTERM shuts down cleanly.
  EXPECT_EQ(stop_operator(SIGTERM), 0);
  EXPECT_NE(read_file(dir_ / "operator.log").find("\"msg\":\"stopped\""), std::string::npos);
}

TEST_F(OperatorE2E, ScaleDownParksAndEndsAtTheEndOfThePaidWindow) {
  start_operator();
  // 20-second billing increments, park margin 3 s.
  apply(provider_yaml("", "  fake:\n    bootSeconds: 0\n  billing:\n    incrementSeconds: 20\n"));
  apply(pool_yaml(2, "  lifecycle:\n    parkMarginSeconds: 3\n    minParkSeconds: 0\n"));
  ASSERT_TRUE(eventually([&] { return count(api::InstancePhase::Running) == 2; }));
  std::string out;
  ASSERT_EQ(kubectl({"patch", "gpupool/web", "--type=merge", "-p",
                     R"({"spec":{"replicas":{"count":1}}})"},
                    &out),
            0)
      << out;
  ASSERT_TRUE(eventually([&] { return count(api::InstancePhase::Parked) == 1; }, 15s));
  api::GpuInstance parked;
  for (const auto& i : instances()) {
    if (i.status.phase == api::InstancePhase::Parked) parked = i;
  }
  ASSERT_TRUE(parked.status.launch_time && parked.status.billing);
  const Time boundary =
      billing::next_boundary(*parked.status.billing, *parked.status.launch_time, clock_.now());
  // It stays until shortly before its boundary...
  ASSERT_TRUE(eventually([&] { return instances().size() == 1; }, 30s));
  const Time gone = clock_.now();
  EXPECT_GE(gone, boundary - Duration{3} - Duration{1});
  EXPECT_LE(gone, boundary + Duration{1});
  // ...and the pool's ledger holds exactly whole increments for it.
  ASSERT_TRUE(eventually([&] {
    auto p = pool();
    return p && !p->status.terminated_spend.is_zero();
  }));
  const Money per_increment = parked.status.price_per_hour->scaled(20, 3600);
  EXPECT_EQ(pool()->status.terminated_spend.micros() % per_increment.micros(), 0);
}

// A Prometheus stand-in: answers every instant query with `value` as a
// one-element vector, and counts the queries.
class PrometheusStandIn {
 public:
  PrometheusStandIn()
      : server_([this](const http::HttpRequest& req, http::ResponseWriter& w) {
          ++queries;
          if (req.path != "/api/v1/query" || !req.query_param("query")) {
            w.send(400, {{"Content-Type", "application/json"}},
                   R"({"status":"error","errorType":"bad_data","error":"no query"})");
            return;
          }
          const std::string v = std::to_string(value.load());
          w.send(200, {{"Content-Type", "application/json"}},
                 R"({"status":"success","data":{"resultType":"vector","result":[)"
                 R"({"metric":{},"value":[1764000000,")" +
                     v + R"("]}]}})");
        }) {}
  bool start() { return server_.start().ok(); }
  void stop() { server_.stop(); }
  std::string url() const { return server_.base_url(); }
  std::atomic<int> value{0};
  std::atomic<int> queries{0};

 private:
  http::HttpServer server_;
};

TEST_F(OperatorE2E, AutoscalingFollowsAPrometheusSignalUpAndDownWithParking) {
  PrometheusStandIn prom;
  ASSERT_TRUE(prom.start());
  prom.value = 25;  // 10 per replica: 3 machines
  start_operator({"--prometheus-url", prom.url(), "--autoscale-period-seconds", "1"});
  // Hourly billing: a machine no longer needed is parked for the rest of its hour.
  apply(provider_yaml("", "  fake:\n    bootSeconds: 0\n  billing:\n    incrementSeconds: 3600\n"));
  apply(
      "apiVersion: gpupool.io/v1alpha1\nkind: GpuPool\nmetadata:\n  name: web\n  namespace: "
      "default\nspec:\n  gpu:\n    models:\n    - name: L40S\n  replicas:\n    min: 1\n    "
      "max: 8\n  providers:\n  - name: local\n  autoscaling:\n    enabled: true\n    "
      "scaleDownStabilizationSeconds: 2\n    scaleDown:\n      pods: 4\n    metrics:\n    - "
      "type: External\n      target: 10\n      query: sum(inference_queue_depth)\n");
  ASSERT_TRUE(eventually([&] { return count(api::InstancePhase::Running) == 3; }))
      << read_file(dir_ / "operator.log");
  auto dump = [&] {
    auto j = server_->store().get(kPools, "default", "web");
    return (j.ok() ? j->dump(1) : std::string("no pool")) + "\n" + read_file(dir_ / "operator.log");
  };
  EXPECT_TRUE(eventually(
      [&] { return condition_is("ScalingActive", api::ConditionStatus::True, "ValidMetrics"); },
      10s))
      << dump();
  std::string out;
  // kubectl get keeps working and shows the desired count.
  ASSERT_EQ(kubectl({"get", "gpupools", "web"}, &out), 0) << out;
  EXPECT_NE(out.find("web"), std::string::npos) << out;

  // Demand falls to one machine: two are parked (their paid hour runs on),
  // none ended.
  prom.value = 7;
  ASSERT_TRUE(eventually([&] { return count(api::InstancePhase::Parked) == 2; }, 30s)) << dump();
  EXPECT_EQ(count(api::InstancePhase::Running), 1);
  EXPECT_TRUE(eventually([&] { return pool()->status.replicas.desired == 1; }, 10s));

  // Demand rises to four: both parked machines come back, one is bought.
  prom.value = 38;
  ASSERT_TRUE(eventually([&] { return count(api::InstancePhase::Running) == 4; }, 30s))
      << read_file(dir_ / "operator.log");
  EXPECT_EQ(instances().size(), 4u);  // 3 + 1: the parked ones were re-used
  // The status is written after the phase changes of the same reconcile.
  ASSERT_TRUE(eventually(
      [&] {
        auto q = pool();
        return q && q->status.autoscaling && q->status.autoscaling->desired == 4;
      },
      10s))
      << dump();
  auto p = pool();
  ASSERT_TRUE(p && p->status.autoscaling);
  EXPECT_EQ(p->status.autoscaling->desired, 4);
  ASSERT_FALSE(p->status.autoscaling->metrics.empty());
  EXPECT_EQ(p->status.autoscaling->metrics[0].value, 38.0);

  // Prometheus goes away: the count holds and the pool says why.
  const int before = static_cast<int>(instances().size());
  prom.stop();  // connection refused from now on
  ASSERT_TRUE(eventually(
      [&] {
        return condition_is("ScalingActive", api::ConditionStatus::False, "FailedGetMetrics");
      },
      30s))
      << read_file(dir_ / "operator.log");
  EXPECT_EQ(count(api::InstancePhase::Running), 4);
  EXPECT_EQ(static_cast<int>(instances().size()), before);
}

// Issue 13, Endpoint mode through the binary: the fake provider reports the
// machine at 127.0.0.1 and the container's port, where a local HTTP server
// stands in for the inference server; the pool's EndpointSlice follows its
// health check, as kubectl shows it.
TEST_F(OperatorE2E, EndpointSlicesFollowTheHealthCheckOfALocalInferenceServer) {
  std::atomic<int> status{200};
  std::atomic<int> probes{0};
  http::HttpServer inference([&](const http::HttpRequest& req, http::ResponseWriter& w) {
    ++probes;
    w.send(req.path == "/health" ? status.load() : 404, {{"Content-Type", "text/plain"}}, "ok");
  });
  ASSERT_TRUE(inference.start().ok());
  const std::string port = std::to_string(inference.port());
  start_operator();
  apply(provider_yaml("", "  fake:\n    bootSeconds: 0\n"));
  apply(pool_yaml(1,
                  "  usage:\n    mode: Endpoint\n    endpoint:\n      image: "
                  "vllm/vllm-openai:v0.6.3\n      port: " +
                      port +
                      "\n      healthPath: /health\n      healthCheck:\n        periodSeconds: "
                      "1\n        timeoutSeconds: 1\n        failureThreshold: 1\n"));
  std::string out;
  ASSERT_EQ(kubectl({"wait", "--for=condition=Ready", "gpupool/web", "--timeout=60s"}, &out), 0)
      << out << read_file(dir_ / "operator.log");
  EXPECT_GT(probes.load(), 0);
  auto slices = [&] {
    std::string yaml;
    kubectl({"get", "endpointslices", "-l", "kubernetes.io/service-name=web", "-o", "yaml"}, &yaml);
    return yaml;
  };
  ASSERT_TRUE(eventually([&] { return slices().find("ready: true") != std::string::npos; }, 30s))
      << slices();
  const std::string ready = slices();
  EXPECT_NE(ready.find("- 127.0.0.1"), std::string::npos) << ready;
  EXPECT_NE(ready.find("port: " + port), std::string::npos) << ready;
  EXPECT_NE(ready.find("kind: GpuInstance"), std::string::npos) << ready;
  EXPECT_EQ(kubectl({"get", "service", "web"}, &out), 0) << out;
  // The server fails its health check: its endpoint leaves the slice.
  status = 500;
  EXPECT_TRUE(eventually([&] { return slices().find("- 127.0.0.1") == std::string::npos; }, 30s))
      << slices() << read_file(dir_ / "operator.log");
  EXPECT_EQ(slices().find("ready: true"), std::string::npos) << slices();
  EXPECT_TRUE(eventually([&] { return count(api::InstancePhase::Running) == 1; }, 10s));
  // It answers again: ready again.
  status = 200;
  EXPECT_TRUE(eventually([&] { return slices().find("ready: true") != std::string::npos; }, 30s))
      << slices();
  EXPECT_NE(slices().find("- 127.0.0.1"), std::string::npos) << slices();
  inference.stop();
}

TEST_F(OperatorE2E, SigtermExitsInBoundedTimeEvenWithTheApiServerGone) {
  start_operator({"--shutdown-grace-seconds", "6"});
  apply(provider_yaml("", "  fake:\n    bootSeconds: 0\n"));
  apply(pool_yaml(2));
  ASSERT_TRUE(eventually([&] { return count(api::InstancePhase::Running) == 2; }));
  // The API server dies: every worker, informer and writer is now retrying,
  // backing off or waiting on the client's rate limiter.
  server_->stop();
  std::this_thread::sleep_for(3s);
  const auto t0 = std::chrono::steady_clock::now();
  const int code = stop_operator(SIGTERM);
  const auto took = std::chrono::steady_clock::now() - t0;
  EXPECT_LT(took, 8s) << read_file(dir_ / "operator.log");
  EXPECT_EQ(code, 0) << read_file(dir_ / "operator.log");
  EXPECT_NE(read_file(dir_ / "operator.log").find("\"msg\":\"stopped\""), std::string::npos);
}

TEST_F(OperatorE2E, BudgetCapStopsScaleUpWithBudgetExceeded) {
  start_operator();
  apply(provider_yaml("", ""));  // L40S at $1.00/h
  apply(pool_yaml(5, "  budget:\n    maxUsdPerHour: \"2.50\"\n"));
  std::string out;
  EXPECT_EQ(
      kubectl({"wait", "--for=condition=BudgetExceeded", "gpupool/web", "--timeout=60s"}, &out), 0)
      << out;
  EXPECT_TRUE(eventually([&] { return instances().size() == 2; }));
  std::this_thread::sleep_for(2s);  // settle: nothing more may be bought
  EXPECT_EQ(instances().size(), 2u);
  EXPECT_EQ(kubectl({"get", "events", "--field-selector", "reason=BudgetExceeded"}, &out), 0);
  EXPECT_NE(out.find("maxUsdPerHour"), std::string::npos) << out;
}

// Also: the deprecated gpupool.io/fake-capacity annotation (spec.fake.capacity
// since issue 11) is still read for one release, with a Warning Event.
TEST_F(OperatorE2E, NoCapacityOnTheFirstOfferLandsOnTheNext) {
  start_operator();
  apply(provider_yaml("  annotations:\n    gpupool.io/fake-capacity: \"l40s-1/cheap=0\"\n",
                      "  priceOverrides:\n  - gpuModel: L40S\n    region: cheap\n    "
                      "pricePerGpuHour: \"1.00\"\n  - gpuModel: L40S\n    region: dear\n    "
                      "pricePerGpuHour: \"2.00\"\n"));
  apply(pool_yaml(1));
  ASSERT_TRUE(eventually([&] { return count(api::InstancePhase::Running) == 1; }));
  EXPECT_EQ(instances()[0].spec.offer.region, "dear");
  EXPECT_EQ(instances()[0].status.region, "dear");
  std::string out;
  EXPECT_EQ(kubectl({"get", "events", "--field-selector", "reason=DeprecatedAnnotation"}, &out), 0);
  EXPECT_NE(out.find("gpupool.io/fake-capacity is deprecated"), std::string::npos) << out;
  EXPECT_NE(out.find("spec.fake.capacity"), std::string::npos) << out;
}

TEST_F(OperatorE2E, DeletingThePoolEndsEveryMachine) {
  start_operator();
  apply(provider_yaml("", ""));
  apply(pool_yaml(3));
  ASSERT_TRUE(eventually([&] { return count(api::InstancePhase::Running) == 3; }));
  std::string out;
  EXPECT_EQ(kubectl({"delete", "gpupool/web", "--timeout=60s"}, &out), 0) << out;
  EXPECT_FALSE(pool().has_value());
  EXPECT_TRUE(instances().empty());
  EXPECT_EQ(kubectl({"get", "events", "--field-selector", "reason=Terminated"}, &out), 0);
  EXPECT_NE(out.find("Terminating -> Terminated"), std::string::npos) << out;
}

// Node mode (issue 13): ending a machine drains its Node first; a
// PodDisruptionBudget that allows no disruption holds the end, which the
// instance reports in its Drained condition; the Node goes with the machine.
TEST_F(OperatorE2E, EndingAMachineDrainsItsNodeAndABudgetDelaysIt) {
  start_operator();
  apply(provider_yaml("", "  fake:\n    bootSeconds: 0\n"));
  apply(pool_yaml(1,
                  "  usage:\n    mode: Node\n    node:\n      bootstrapScript: \"k3s agent\"\n"
                  "      drainTimeoutSeconds: 600\n"));
  ASSERT_TRUE(eventually([&] { return count(api::InstancePhase::Running) == 1; }));
  const std::string inst = instances()[0].metadata.name;
  // The kubelet registers; a workload runs there under a budget that
  // allows no disruption (status as the disruption controller writes it).
  apply(
      "apiVersion: v1\nkind: Node\nmetadata:\n  name: gpu-node-1\n  labels:\n"
      "    gpupool.io/instance: " +
      inst +
      "\n---\napiVersion: v1\nkind: Pod\nmetadata:\n  name: web-1\n  namespace: default\n"
      "  labels: {app: web}\nspec:\n  nodeName: gpu-node-1\n"
      "  containers: [{name: c, image: vllm}]\n---\napiVersion: policy/v1\n"
      "kind: PodDisruptionBudget\nmetadata:\n  name: web-pdb\n  namespace: default\n"
      "spec:\n  minAvailable: 1\n  selector: {matchLabels: {app: web}}\n");
  std::string out;
  ASSERT_EQ(kubectl({"patch", "node", "gpu-node-1", "--subresource=status", "--type=merge", "-p",
                     R"({"status":{"capacity":{"nvidia.com/gpu":"1"},)"
                     R"("conditions":[{"type":"Ready","status":"True"}]}})"},
                    &out),
            0)
      << out;
  ASSERT_EQ(kubectl({"patch", "pod", "web-1", "--subresource=status", "--type=merge", "-p",
                     R"({"status":{"phase":"Running",)"
                     R"("conditions":[{"type":"Ready","status":"True"}]}})"},
                    &out),
            0)
      << out;
  auto budget = [&](int allowed) {
    std::string o;
    ASSERT_EQ(kubectl({"patch", "pdb", "web-pdb", "--subresource=status", "--type=merge", "-p",
                       R"({"status":{"disruptionsAllowed":)" + std::to_string(allowed) +
                           R"(,"currentHealthy":1,"desiredHealthy":1,"expectedPods":1,)"
                           R"("observedGeneration":1}})"},
                      &o),
              0)
        << o;
  };
  budget(0);
  ASSERT_TRUE(eventually([&] { return count(api::InstancePhase::Ready) == 1; }));

  ASSERT_EQ(kubectl({"delete", "gpupool/web", "--wait=false"}, &out), 0) << out;
  auto blocked = [&] {
    auto list = instances();
    if (list.size() != 1) return false;
    const auto* c = decision::find_condition(list[0].status.conditions, "Drained");
    return c && c->status == api::ConditionStatus::False && c->reason == "EvictionBlocked";
  };
  ASSERT_TRUE(eventually(blocked, 30s)) << read_file(dir_ / "operator.log");
  EXPECT_EQ(instances()[0].status.phase, api::InstancePhase::Terminating);
  ASSERT_EQ(kubectl({"get", "gpuinstance", inst, "-o",
                     "jsonpath={.status.conditions[?(@.type==\"Drained\")].message}"},
                    &out),
            0);
  EXPECT_NE(out.find("web-pdb"), std::string::npos) << out;
  EXPECT_TRUE(server_->store().exists(kube::resources::kPods, "default", "web-1"));
  auto node = server_->store().get(kube::resources::kNodes, "", "gpu-node-1");
  ASSERT_TRUE(node.ok());
  EXPECT_TRUE(node.value()["spec"].value("unschedulable", false));

  // The budget allows it: evicted, the machine ended, its Node deleted.
  budget(1);
  ASSERT_TRUE(eventually([&] { return instances().empty(); }, 60s))
      << read_file(dir_ / "operator.log");
  EXPECT_FALSE(server_->store().exists(kube::resources::kPods, "default", "web-1"));
  EXPECT_FALSE(server_->store().exists(kube::resources::kNodes, "", "gpu-node-1"));
  EXPECT_TRUE(eventually([&] { return !pool().has_value(); }, 30s));
}

// Node mode through the binary: a Node registering makes its instance
// Ready; parking cordons the Node (taking the machine back uncordons it); a
// machine whose Node never registers is ended at registrationTimeoutSeconds,
// replaced, and counted in gpupool_instance_failures_total.
TEST_F(OperatorE2E, NodeModeRegistrationParkingCordonsAndAMissingRegistrationIsReplaced) {
  start_operator();
  // Hourly billing: a parked machine keeps its paid hour.
  apply(provider_yaml("", "  fake:\n    bootSeconds: 0\n  billing:\n    incrementSeconds: 3600\n"));
  apply(pool_yaml(2,
                  "  lifecycle:\n    minParkSeconds: 0\n"
                  "  usage:\n    mode: Node\n    node:\n      bootstrapScript: \"k3s agent\"\n"
                  "      registrationTimeoutSeconds: 60\n"));
  ASSERT_TRUE(eventually([&] { return count(api::InstancePhase::Running) == 2; }))
      << read_file(dir_ / "operator.log");
  EXPECT_EQ(count(api::InstancePhase::Ready), 0);  // running is not serving

  // The kubelets register (label from --node-labels), then report Ready
  // with a GPU.
  std::map<std::string, std::string> node_of;  // instance -> Node
  for (const auto& i : instances()) {
    const std::string node = "gpu-node-" + std::to_string(node_of.size() + 1);
    node_of[i.metadata.name] = node;
    apply("apiVersion: v1\nkind: Node\nmetadata:\n  name: " + node +
          "\n  labels:\n    gpupool.io/instance: " + i.metadata.name + "\n");
    std::string out;
    ASSERT_EQ(kubectl({"patch", "node", node, "--subresource=status", "--type=merge", "-p",
                       R"({"status":{"capacity":{"nvidia.com/gpu":"1"},)"
                       R"("conditions":[{"type":"Ready","status":"True"}]}})"},
                      &out),
              0)
        << out;
  }
  ASSERT_TRUE(eventually([&] { return count(api::InstancePhase::Ready) == 2; }, 30s))
      << read_file(dir_ / "operator.log");
  for (const auto& i : instances())
    EXPECT_EQ(i.status.node_name, node_of[i.metadata.name]);
  auto cordoned = [&](const std::string& node) {
    std::string out;
    kubectl({"get", "node", node, "-o", "jsonpath={.spec.unschedulable}"}, &out);
    return out == "true";
  };
  auto scale = [&](int n) {
    std::string out;
    ASSERT_EQ(kubectl({"scale", "gpupool/web", "--replicas=" + std::to_string(n)}, &out), 0) << out;
  };

  // Scale down: one machine is parked (its paid hour runs on) and its Node
  // cordoned, not drained; the other Node stays schedulable.
  scale(1);
  ASSERT_TRUE(eventually([&] { return count(api::InstancePhase::Parked) == 1; }, 30s));
  std::string parked, serving;
  for (const auto& i : instances())
    (i.status.phase == api::InstancePhase::Parked ? parked : serving) = i.metadata.name;
  ASSERT_TRUE(eventually([&] { return cordoned(node_of[parked]); }, 30s))
      << read_file(dir_ / "operator.log");
  EXPECT_FALSE(cordoned(node_of[serving]));

  // Scale up to 3: the parked machine is taken back (uncordoned) and one
  // new machine is bought, whose Node never registers.
  scale(3);
  ASSERT_TRUE(eventually([&] { return !cordoned(node_of[parked]); }, 30s));
  ASSERT_TRUE(eventually([&] { return instances().size() == 3; }, 30s));
  std::string lost;
  for (const auto& i : instances())
    if (!node_of.count(i.metadata.name)) lost = i.metadata.name;
  ASSERT_FALSE(lost.empty());
  ASSERT_TRUE(eventually([&] { return count(api::InstancePhase::Ready) == 2; }, 30s));

  // Past the 60 s registration timeout: ended, replaced by a new machine.
  auto replaced = [&] {
    auto list = instances();
    bool has_lost = false, has_new = false;
    for (const auto& i : list) {
      has_lost |= i.metadata.name == lost;
      has_new |= i.metadata.name != lost && !node_of.count(i.metadata.name);
    }
    return !has_lost && has_new && list.size() == 3;
  };
  ASSERT_TRUE(eventually(replaced, 150s)) << read_file(dir_ / "operator.log");
  // One Event says why (kubectl describe shows it).
  std::vector<std::string> about;
  auto events = server_->store().list(kube::resources::kEvents, "default");
  ASSERT_TRUE(events.ok());
  for (const auto& e : events->items) {
    if (e.value("reason", "") == "RegistrationTimeout")
      about.push_back(e["involvedObject"].value("name", ""));
  }
  EXPECT_EQ(about, std::vector<std::string>{lost});

  // ...and counted: the operator's /metrics (served on the health address).
  std::smatch m;
  const std::string log = read_file(dir_ / "operator.log");
  static const std::regex addr(R"(127\.0\.0\.1:([0-9]+)[^\n]*serving health and metrics)");
  ASSERT_TRUE(std::regex_search(log, m, addr)) << log;
  const auto port = static_cast<uint16_t>(std::stoi(m[1].str()));
  const std::string metrics = testing_http::http_get(port, "/metrics");
  EXPECT_NE(metrics.find(R"(gpupool_instance_failures_total{namespace="default",pool="web",)"
                         R"(provider="local",reason="RegistrationTimeout"} 1)"),
            std::string::npos)
      << metrics;
}

// Issue 13: health checks run off the reconcile workers. With one worker per
// controller, a machine whose health check never answers (a server that
// takes the request and never replies; 30 s timeout) does not keep another
// pool's machines from being bought and run, and SIGTERM does not wait out
// that probe. Probed inside the reconcile, the other pool would wait 30 s
// and the exit would take the whole shutdown grace.
TEST_F(OperatorE2E, AHealthCheckThatNeverAnswersHoldsNoReconcileWorker) {
  std::mutex mu;
  std::condition_variable cv;
  bool answer = false;
  std::atomic<int> hung{0};
  http::HttpServer silent([&](const http::HttpRequest&, http::ResponseWriter& w) {
    ++hung;
    std::unique_lock lock(mu);
    cv.wait(lock, [&] { return answer; });
    w.send(503, {{"Content-Type", "text/plain"}}, "late");
  });
  ASSERT_TRUE(silent.start().ok());
  struct Unblock {
    std::mutex& mu;
    std::condition_variable& cv;
    bool& answer;
    ~Unblock() {
      std::lock_guard lock(mu);
      answer = true;
      cv.notify_all();
    }
  } unblock{mu, cv, answer};  // however the test ends, before `silent` stops
  start_operator(
      {"--workers", "1", "--health-check-workers", "2", "--shutdown-grace-seconds", "20"});
  apply(provider_yaml("", "  fake:\n    bootSeconds: 0\n"));
  apply(pool_yaml(1,
                  "  usage:\n    mode: Endpoint\n    endpoint:\n      image: "
                  "vllm/vllm-openai:v0.6.3\n      port: " +
                      std::to_string(silent.port()) +
                      "\n      healthPath: /health\n      healthCheck:\n        periodSeconds: "
                      "30\n        timeoutSeconds: 30\n"));
  ASSERT_TRUE(eventually([&] { return hung.load() > 0; }, 30s)) << read_file(dir_ / "operator.log");

  std::string batch = pool_yaml(2);
  batch.replace(batch.find("name: web"), 9, "name: batch");
  apply(batch);
  auto running_in = [&](const std::string& pool) {
    int n = 0;
    for (const auto& i : instances())
      n += i.spec.pool == pool && i.status.phase == api::InstancePhase::Running ? 1 : 0;
    return n;
  };
  EXPECT_TRUE(eventually([&] { return running_in("batch") == 2; }, 15s))
      << "another pool waited behind a health check\n"
      << read_file(dir_ / "operator.log");
  EXPECT_EQ(running_in("web"), 1);  // up, not Ready: its health check has not answered
  EXPECT_EQ(hung.load(), 1) << "one probe in flight per machine";

  const auto t0 = std::chrono::steady_clock::now();
  const int code = stop_operator(SIGTERM);
  const auto took = std::chrono::steady_clock::now() - t0;
  EXPECT_LT(took, 8s) << read_file(dir_ / "operator.log");
  EXPECT_EQ(code, 0) << read_file(dir_ / "operator.log");
}

// Issue 12: a provider whose every call takes 20 s holds at most
// --provider-concurrency (default --workers / 2) workers of a controller;
// a reconcile that finds it at its limit comes back shortly, so pools on
// another provider converge while its own pools wait.
TEST_F(OperatorE2E, ASlowProviderDoesNotStarvePoolsOnAnotherProvider) {
  const uint16_t slow = start_fake_provider("slow");
  const uint16_t fast = start_fake_provider("fast");
  ASSERT_GT(slow, 0);
  ASSERT_GT(fast, 0);
  ASSERT_EQ(testing_http::http_call(slow, "POST", "/delay", R"({"ms":20000})").status, 200);
  auto in_flight = [&](uint16_t port) {
    Json j = Json::parse(testing_http::http_get(port, "/calls"), nullptr, false);
    return j.is_object() ? j.value("inFlight", -1) : -1;
  };
  auto provider = [](const std::string& name, uint16_t port) {
    return "apiVersion: gpupool.io/v1alpha1\nkind: GpuProvider\nmetadata:\n  name: " + name +
           "\nspec:\n  type: fake\n  endpoint: http://127.0.0.1:" + std::to_string(port) + "\n";
  };
  auto pool_on = [](const std::string& name, const std::string& provider_name, int replicas) {
    std::string y = pool_yaml(replicas);
    y.replace(y.find("name: web"), 9, "name: " + name);
    y.replace(y.find("name: local"), 11, "name: " + provider_name);
    return y;
  };
  start_operator({"--workers", "2", "--shutdown-grace-seconds", "6"});
  apply(provider("slow", slow) + "---\n" + provider("fast", fast));
  // Two pools on the slow provider: without the limit their offers calls
  // hold both pool workers for 20 s, then their creates both instance workers.
  apply(pool_on("stuck-a", "slow", 1) + "---\n" + pool_on("stuck-b", "slow", 1));
  ASSERT_TRUE(eventually([&] { return in_flight(slow) >= 1; }, 30s))
      << read_file(dir_ / "operator.log");

  apply(pool_on("quick", "fast", 2));
  const auto t0 = std::chrono::steady_clock::now();
  auto running_in = [&](const std::string& pool) {
    int n = 0;
    for (const auto& i : instances())
      n += i.spec.pool == pool && i.status.phase == api::InstancePhase::Running ? 1 : 0;
    return n;
  };
  // A few seconds normally; 20 s (a slow call) is when a starved one could
  // first move, so the bound keeps a margin for a loaded machine.
  EXPECT_TRUE(eventually([&] { return running_in("quick") == 2; }, 14s))
      << "a pool on the fast provider waited behind the slow one\n"
      << read_file(dir_ / "operator.log");
  const auto took = std::chrono::steady_clock::now() - t0;
  RecordProperty(
      "quick_running_ms",
      static_cast<int>(std::chrono::duration_cast<std::chrono::milliseconds>(took).count()));
  EXPECT_EQ(running_in("stuck-a") + running_in("stuck-b"), 0) << "the slow provider answered";
  // The default limit for 2 workers: one call in flight at the slow provider
  // (without a limit: 4, from the two pools, its GpuProvider and the collector).
  EXPECT_LE(in_flight(slow), 1);
  // The refusals are counted on the operator's /metrics.
  std::smatch m;
  const std::string log = read_file(dir_ / "operator.log");
  static const std::regex addr(R"(127\.0\.0\.1:([0-9]+)[^\n]*serving health and metrics)");
  ASSERT_TRUE(std::regex_search(log, m, addr)) << log;
  const std::string metrics =
      testing_http::http_get(static_cast<uint16_t>(std::stoi(m[1].str())), "/metrics");
  static const std::regex refused(
      R"re(gpupool_provider_calls_refused_total\{provider="slow"\} ([0-9.e+]+))re");
  std::smatch r;
  ASSERT_TRUE(std::regex_search(metrics, r, refused)) << metrics;
  EXPECT_GT(std::stod(r[1].str()), 0.0) << metrics;

  // SIGTERM with a 20 s call in flight: the process leaves within its grace.
  const auto t1 = std::chrono::steady_clock::now();
  stop_operator(SIGTERM);
  const auto stopping = std::chrono::steady_clock::now() - t1;
  RecordProperty(
      "sigterm_exit_ms",
      static_cast<int>(std::chrono::duration_cast<std::chrono::milliseconds>(stopping).count()));
  EXPECT_LT(stopping, 10s) << read_file(dir_ / "operator.log");
}

}  // namespace
}  // namespace gpupool
