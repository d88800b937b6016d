// SIGKILL chaos: the real operator binary is killed at random moments while
// it provisions and scales (>= 20 runs), then restarted; at the end the
// provider holds exactly the desired machines, none orphaned or duplicated,
// and the pool's spend equals the provider's own bill.
//
// The fake provider must outlive the operator, so it runs out of process:
// gpupool-fake-provider-server (this folder) serves a FakeProvider over
// HTTP and the GpuProvider (type fake) points spec.endpoint at it; the
// operator uses RemoteFakeProvider (operator/controllers). Its /ledger
// endpoint is the provider's own record. Billing is hourly from launch, so
// the few seconds between the provider's and the operator's notion of "ended"
// cannot change a bill; parkMarginSeconds 3600 ends parked machines at once
// so "machines at the provider" settles quickly.

#include <fcntl.h>
#include <signal.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <gtest/gtest.h>

#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <fstream>

#include <functional>
#include <random>
#include <set>
#include <sstream>
#include <thread>

#include "operator/core/api_codec.h"
#include "operator/core/api_validation.h"
#include "operator/core/billing.h"
#include "operator/core/pool_decision.h"
#include "tests/apiserver/api_server.h"
#include "tests/operator/http_get.h"
#include "tests/operator/operator_world.h"
#include "tests/operator/process.h"

extern char** environ;

namespace gpupool {
namespace {

using namespace std::chrono_literals;
using kube::Json;
namespace fs = std::filesystem;

const kube::Resource kPools{"gpupool.io", "v1alpha1", "gpupools", "GpuPool", true};
const kube::Resource kInstances{"gpupool.io", "v1alpha1", "gpuinstances", "GpuInstance", true};

using testing_world::read_text;

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

using testing_http::http_get;

class OperatorChaos : public testing_world::OperatorWorldTest {
 protected:
  void SetUp() override { start_world("chaos", "fake.out", "fake.log"); }
  void TearDown() override {
    stop_operator(SIGKILL);
    stop_world();
  }

  void start_operator() {
    op_ = spawn({binary_.string(), "run", "--kubeconfig", kubeconfig_.string(), "--health-addr", "",
                 "--gc-period-seconds", "1"},
                dir_ / "operator.out", dir_ / "operator.log");
    ASSERT_GT(op_, 0);
  }
  // How many times an operator of this test logged that its controllers run.
  size_t controllers_started() {
    const std::string log = read_text(dir_ / "operator.log");
    size_t n = 0;
    for (size_t at = log.find("controllers started"); at != std::string::npos;
         at = log.find("controllers started", at + 1))
      ++n;
    return n;
  }
  int stop_operator(int sig) {
    if (op_ <= 0) return -1;
    kill(op_, sig);
    const int code = wait_exit(op_);
    op_ = -1;
    return code;
  }
  int kubectl(const std::vector<std::string>& args, std::string* out = nullptr) {
    std::vector<std::string> full = {"timeout", "60", "kubectl", "--kubeconfig",
                                     kubeconfig_.string()};
    full.insert(full.end(), args.begin(), args.end());
    const fs::path o = dir_ / "kubectl.out";
    fs::remove(o);
    pid_t pid =
        spawn(full, o, o, {"HOME=" + dir_.string(), "KUBECACHEDIR=" + (dir_ / "cache").string()});
    const int code = pid > 0 ? wait_exit(pid) : -1;
    if (out) *out = read_text(o);
    return code;
  }
  Json ledger() {
    Json j = Json::parse(http_get(fake_port_, "/ledger"), nullptr, false);
    return j.is_discarded() ? Json::object() : j;
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
  std::optional<api::GpuPool> pool() {
    auto j = server_->store().get(kPools, "default", "web");
    if (!j.ok()) return std::nullopt;
    auto p = api::decode_gpu_pool(*j, api::DecodeMode::Lenient);
    if (!p.ok()) return std::nullopt;
    return *p;
  }
  void set_replicas(int n) {
    auto r = server_->store().patch(kPools, "default", "web", kube::PatchType::Merge,
                                    {{"spec", {{"replicas", {{"count", n}}}}}});
    ASSERT_TRUE(r.ok());
  }

  // The world is converged on `desired` machines.
  bool converged(int desired, std::string& why) {
    const Json l = ledger();
    if (!l.contains("machines")) {
      why = "no ledger";
      return false;
    }
    std::map<std::string, std::string> live;  // name -> provider id
    std::set<std::string> names;
    for (const auto& m : l["machines"]) {
      const std::string name = m.value("name", "");
      if (!names.insert(name).second) {
        why = "duplicate machine for " + name;
        return false;
      }
      if (!m.value("ended", true)) live[name] = m.value("providerId", "");
    }
    if (static_cast<int>(live.size()) != desired) {
      why = std::to_string(live.size()) + " live machines";
      return false;
    }
    const auto insts = instances();
    if (static_cast<int>(insts.size()) != desired) {
      why = std::to_string(insts.size()) + " GpuInstances";
      return false;
    }
    for (const auto& i : insts) {
      auto it = live.find(i.metadata.name);
      if (i.status.phase != api::InstancePhase::Running || it == live.end() ||
          it->second != i.status.provider_id) {
        why = "instance " + i.metadata.name + " not Running on its live machine";
        return false;
      }
    }
    auto p = pool();
    const auto billed = Money::parse(l.value("totalBilled", "x"));
    if (!p || !billed || p->status.spend.accrued != *billed) {
      why = "spend " + (p ? p->status.spend.accrued.to_string() : "?") + " vs provider " +
            l.value("totalBilled", "?");
      return false;
    }
    return true;
  }

  pid_t op_ = -1;
};

TEST_F(OperatorChaos, SigkillDuringProvisioningAndScalingConverges) {
  const std::string manifests =
      "apiVersion: gpupool.io/v1alpha1\nkind: GpuProvider\nmetadata:\n  name: remote\nspec:\n"
      "  type: fake\n  endpoint: http://127.0.0.1:" +
      std::to_string(fake_port_) +
      "\n---\napiVersion: gpupool.io/v1alpha1\nkind: GpuPool\nmetadata:\n  name: web\n  "
      "namespace: default\nspec:\n  gpu:\n    models:\n    - name: L40S\n  replicas:\n    count: "
      "3\n  providers:\n  - name: remote\n  lifecycle:\n    minParkSeconds: 0\n    "
      "parkMarginSeconds: 3600\n    "
      "adoptionGraceSeconds: 5\n";
  std::ofstream(dir_ / "manifests.yaml") << manifests;
  std::string out;
  ASSERT_EQ(kubectl({"apply", "-f", (dir_ / "manifests.yaml").string()}, &out), 0) << out;

  std::mt19937 rng(20261122);
  std::uniform_int_distribution<int> delay_ms(150, 2500), replicas(0, 5);
  constexpr int kRuns = 22;
  for (int run = 0; run < kRuns; ++run) {
    if (run % 2 == 0) set_replicas(replicas(rng));
    // The delay counts from when the controllers run, so that on a loaded
    // machine (an ASan binary can take seconds to start) the kill still
    // lands while machines are being bought and ended, not during start-up.
    const size_t started = controllers_started();
    start_operator();
    ASSERT_TRUE(eventually([&] { return controllers_started() > started; }, 60s)) << "run " << run;
    std::this_thread::sleep_for(std::chrono::milliseconds(delay_ms(rng)));
    ASSERT_EQ(stop_operator(SIGKILL), 128 + SIGKILL) << "run " << run;
  }
  set_replicas(3);
  start_operator();
  std::string why;
  EXPECT_TRUE(eventually([&] { return converged(3, why); }, 120s)) << why;
  // Stays converged: nothing else gets bought or ended.
  std::this_thread::sleep_for(3s);
  EXPECT_TRUE(converged(3, why)) << why;
  // The kills really interrupted buying and ending: machines came and went.
  const Json l = ledger();
  int ended = 0;
  for (const auto& m : l["machines"])
    ended += m.value("ended", false) ? 1 : 0;
  EXPECT_GT(ended, 0) << l.dump();
  EXPECT_EQ(stop_operator(SIGTERM), 0);
}

}  // namespace
}  // namespace gpupool
