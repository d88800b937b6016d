// The real `gpupool-operator run` binary against the in-process test API
// server and in-process emulators of Fluence, AWS EC2, Runpod, Vast.ai and
// Verda (real adapters, credentials from Secrets, live prices). Fluence is the cheapest
// but starts out of capacity: the pool's machines land on the next cheapest
// eligible offers (Runpod, then AWS once Runpod is full). When Fluence has
// room again and its prices have been refreshed, the machines a scale-up adds
// go to Fluence. Assertions read the emulators' own state: which provider
// holds which machine. A second test buys from Vast.ai and Verda, with the
// GpuProviders' typed settings reaching the machines.
//
// Waiting: every wait is a poll with a deadline on real time (the operator
// is another process on the system clock; so are the emulators).

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
#include <sstream>
#include <thread>

#include "operator/core/api_codec.h"
#include "operator/core/pool_decision.h"
#include "providers/http/url.h"
#include "tests/apiserver/api_server.h"
#include "tests/emulators/aws/ec2_emulator.h"
#include "tests/emulators/fluence/fluence_emulator.h"
#include "tests/emulators/runpod/runpod_emulator.h"
#include "tests/emulators/vastai/vastai_emulator.h"
#include "tests/emulators/verda/verda_emulator.h"
#include "tests/operator/process.h"

extern char** environ;

namespace gpupool {
namespace {

using namespace std::chrono_literals;
using kube::Json;
namespace fs = std::filesystem;

const kube::Resource kPools{"gpupool.io", "v1alpha1", "gpupools", "GpuPool", true};
const kube::Resource kInstances{"gpupool.io", "v1alpha1", "gpuinstances", "GpuInstance", true};
const kube::Resource kProviders{"gpupool.io", "v1alpha1", "gpuproviders", "GpuProvider", false};

constexpr const char* kFluencePlan = "l40s-1x-us";

std::string read_file(const fs::path& p) {
  std::ifstream in(p);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

bool eventually(const std::function<bool()>& pred, std::chrono::milliseconds limit) {
  const auto deadline = std::chrono::steady_clock::now() + limit;
  while (std::chrono::steady_clock::now() < deadline) {
    if (pred()) return true;
    std::this_thread::sleep_for(200ms);
  }
  return pred();
}

pid_t spawn(const std::vector<std::string>& args, const fs::path& out, const fs::path& err) {
  return testing_process::spawn(args, out, err);
}

class OperatorLiveProviders : public ::testing::Test {
 protected:
  OperatorLiveProviders()
      : fluence_([this] {
          emulators::FluenceEmulatorOptions o;
          o.clock = &clock_;
          o.api_key = "fl-key";
          o.boot_time = Duration{1};
          emulators::FluencePlan plan;
          plan.id = kFluencePlan;
          plan.model = "l40s";
          plan.location = "us-central-3";
          plan.price_per_hour = Money::from_cents(20);
          plan.capacity = 0;  // sold out at first
          o.plans = {plan};
          return o;
        }()),
        runpod_([this] {
          emulators::RunpodEmulatorOptions o;
          o.clock = &clock_;
          o.api_key = "rp-key";
          o.boot_time = Duration{1};
          // One L40S on the secure cloud, none on community.
          o.gpu_types = {{"NVIDIA L40S", "L40S", 48, Money::from_cents(95), Money(), 1, 0}};
          return o;
        }()),
        ec2_([this] {
          emulators::Ec2EmulatorOptions o;
          o.clock = &clock_;
          o.boot_time = Duration{1};
          return o;
        }()),
        vast_([this] {
          emulators::VastEmulatorOptions o;
          o.clock = &clock_;
          o.api_key = "vast-key";
          o.boot_time = Duration{1};
          // One L40S machine, the cheapest offer anywhere here.
          o.asks = {{501, "L40S", 1, Money::from_cents(50), Money::from_cents(1), "Texas, US",
                     0.995, true}};
          return o;
        }()),
        verda_([this] {
          emulators::VerdaEmulatorOptions o;
          o.clock = &clock_;
          o.boot_time = Duration{1};
          o.shutdown_time = Duration{1};
          o.types = {{"1L40S.20V", "1x L40S 48GB", 1, 0.91, {{"FIN-03", 1}}}};
          return o;
        }()) {}

  void SetUp() override {
    const char* src = std::getenv("GPUPOOL_SOURCE_DIR");
    const char* bin = std::getenv("GPUPOOL_BINARY_DIR");
    ASSERT_TRUE(src && bin);
    binary_ = fs::path(bin) / "bin" / "gpupool-operator";
    ASSERT_TRUE(fs::exists(binary_)) << binary_;
    dir_ = fs::temp_directory_path() / ("gpupool-live-" + std::to_string(getpid()));
    fs::remove_all(dir_);
    fs::create_directories(dir_);
    ASSERT_TRUE(fluence_.start());
    ASSERT_TRUE(runpod_.start());
    ASSERT_TRUE(ec2_.start());
    ASSERT_TRUE(vast_.start());
    ASSERT_TRUE(verda_.start());
    server_ = std::make_unique<apiserver::TestApiServer>(clock_);
    ASSERT_TRUE(server_->start().ok());
    for (const char* f : {"gpupool.io_gpupools.yaml", "gpupool.io_gpuinstances.yaml",
                          "gpupool.io_gpuproviders.yaml"}) {
      auto s = server_->load_manifests(read_file(fs::path(src) / "crds" / f));
      ASSERT_TRUE(s.ok()) << s.error().message;
    }
    kubeconfig_ = dir_ / "kubeconfig";
    ASSERT_TRUE(server_->write_kubeconfig(kubeconfig_.string()).ok());
  }

  void TearDown() override {
    if (op_ > 0) {
      kill(op_, SIGKILL);
      int status = 0;
      waitpid(op_, &status, 0);
    }
    if (server_) server_->stop();
    fluence_.stop();
    runpod_.stop();
    ec2_.stop();
    vast_.stop();
    verda_.stop();
    if (!HasFailure()) fs::remove_all(dir_);
  }

  void create(const kube::Resource& r, const std::string& ns, const Json& obj) {
    auto c = server_->store().create(r, ns, obj);
    ASSERT_TRUE(c.ok()) << c.error().message;
  }
  void secret(const std::string& name, const std::map<std::string, std::string>& data) {
    Json d = Json::object();
    for (const auto& [k, v] : data)
      d[k] = net::base64_encode(v);
    create(kube::resources::kSecrets, "default",
           {{"apiVersion", "v1"},
            {"kind", "Secret"},
            {"metadata", {{"name", name}, {"namespace", "default"}}},
            {"data", d}});
  }
  void provider(const std::string& name, const std::string& type, const std::string& endpoint,
                Json extra_spec = Json::object()) {
    Json spec = {{"type", type},
                 {"endpoint", endpoint},
                 {"pricingRefreshSeconds", 60},
                 {"credentialsSecret", {{"name", name + "-creds"}, {"namespace", "default"}}}};
    spec.merge_patch(extra_spec);
    create(kProviders, "",
           {{"apiVersion", "gpupool.io/v1alpha1"},
            {"kind", "GpuProvider"},
            {"metadata", {{"name", name}}},
            {"spec", spec}});
  }
  std::optional<api::GpuProvider> get_provider(const std::string& name) {
    auto j = server_->store().get(kProviders, "", name);
    if (!j.ok()) return std::nullopt;
    auto p = api::decode_gpu_provider(*j, api::DecodeMode::Lenient);
    if (!p.ok()) return std::nullopt;
    return *p;
  }
  bool prices_live(const std::string& name, int min_offers) {
    auto p = get_provider(name);
    if (!p) return false;
    const auto* c = decision::find_condition(p->status.conditions, "PricesLive");
    return c && c->status == api::ConditionStatus::True && p->status.offers_seen >= min_offers;
  }
  void set_replicas(int n) {
    auto r = server_->store().patch(kPools, "default", "web", kube::PatchType::Merge,
                                    {{"spec", {{"replicas", {{"count", n}}}}}});
    ASSERT_TRUE(r.ok()) << r.error().message;
  }
  int running_instances() {
    int n = 0;
    auto list = server_->store().list(kInstances, "default");
    if (!list.ok()) return 0;
    for (const auto& j : list->items) {
      auto i = api::decode_gpu_instance(j, api::DecodeMode::Lenient);
      n += (i.ok() && i->status.phase == api::InstancePhase::Running) ? 1 : 0;
    }
    return n;
  }
  int ec2_alive() {
    int n = 0;
    for (const auto& i : ec2_.instances())
      n += (i.state == "pending" || i.state == "running") ? 1 : 0;
    return n;
  }
  int runpod_alive() { return runpod_.alive(); }
  int verda_alive() {
    int n = 0;
    for (const auto& i : verda_.instances())
      n += i.delete_requested ? 0 : 1;
    return n;
  }
  std::string where() {
    return "fluence=" + std::to_string(fluence_.alive()) +
           " runpod=" + std::to_string(runpod_alive()) + " aws=" + std::to_string(ec2_alive()) +
           " (operator log: " + (dir_ / "operator.log").string() + ")";
  }

  SystemClock clock_;
  emulators::FluenceEmulator fluence_;
  emulators::RunpodEmulator runpod_;
  emulators::Ec2Emulator ec2_;
  emulators::VastEmulator vast_;
  emulators::VerdaEmulator verda_;
  fs::path binary_, dir_, kubeconfig_;
  std::unique_ptr<apiserver::TestApiServer> server_;
  pid_t op_ = -1;
};

TEST_F(OperatorLiveProviders, FluenceOutOfCapacityFallsBackAndWinsAgainWhenItRecovers) {
  secret("fluence-creds", {{"apiKey", "fl-key"}});
  secret("runpod-creds", {{"apiKey", "rp-key"}});
  secret("aws-creds",
         {{"accessKeyId", "AKIDEMULATOR"}, {"secretAccessKey", "emulator/secret/KEY"}});
  // The pool API has no SSH key; Fluence needs one: the provider supplies it.
  provider("fluence", "fluence", fluence_.base_url(),
           {{"sshPublicKey", {{"value", "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAITEST e2e"}}}});
  provider("runpod", "runpod", runpod_.base_url());
  provider("aws", "aws", ec2_.base_url(),
           {{"regions", {"us-east-1"}}, {"aws", {{"imageId", "ami-0123456789abcdef0"}}}});
  op_ = spawn({binary_.string(), "run", "--kubeconfig", kubeconfig_.string(), "--health-addr",
               "127.0.0.1:0", "--gc-period-seconds", "1", "--log-format", "json"},
              dir_ / "operator.out", dir_ / "operator.log");
  ASSERT_GT(op_, 0);
  // The pool comes once every provider is loaded with its first prices (a
  // pool planning earlier plans without the providers not loaded yet).
  ASSERT_TRUE(eventually(
      [&] {
        return prices_live("fluence", 0) && prices_live("runpod", 1) && prices_live("aws", 1);
      },
      60s))
      << where();
  EXPECT_EQ(get_provider("fluence")->status.offers_seen, 0);  // sold out
  create(kPools, "default",
         {{"apiVersion", "gpupool.io/v1alpha1"},
          {"kind", "GpuPool"},
          {"metadata", {{"name", "web"}, {"namespace", "default"}}},
          {"spec",
           {{"gpu", {{"models", {{{"name", "L40S"}}}}}},
            {"replicas", {{"count", 2}}},
            {"providers", {{{"name", "fluence"}}, {{"name", "runpod"}}, {{"name", "aws"}}}},
            // Consolidation off: as a UTC hour starts, it hands per-second
            // machines to a clock-hour offer such as Fluence's once Fluence
            // has room (docs/billing.md "Bridging a clock hour"), so with it
            // this test's last counts depended on the wall clock it ran at.
            // This test is about capacity; the hand-over is tested on a
            // fake clock (pool_decision_test, simulation_test).
            {"lifecycle", {{"consolidationLeadSeconds", 0}}}}}});

  // Fluence sold out: the cheapest eligible offers left are Runpod's one GPU,
  // then AWS.
  ASSERT_TRUE(eventually([&] { return running_instances() == 2; }, 180s)) << where();
  EXPECT_EQ(fluence_.alive(), 0) << where();
  EXPECT_EQ(runpod_alive(), 1) << where();
  EXPECT_EQ(ec2_alive(), 1) << where();
  EXPECT_TRUE(prices_live("runpod", 1));
  EXPECT_TRUE(prices_live("aws", 1));

  // Fluence has room again; once its prices are refreshed (60 s interval) it
  // offers the plan again, and the machines a scale-up adds go there.
  fluence_.set_capacity(kFluencePlan, 5);
  ASSERT_TRUE(eventually([&] { return prices_live("fluence", 1); }, 150s)) << where();
  set_replicas(4);
  ASSERT_TRUE(eventually([&] { return running_instances() == 4; }, 180s)) << where();
  EXPECT_EQ(fluence_.alive(), 2) << where();
  EXPECT_EQ(runpod_alive(), 1) << where();
  EXPECT_EQ(ec2_alive(), 1) << where();
  for (const auto& vm : fluence_.vms())
    EXPECT_EQ(vm.plan_id, kFluencePlan);
}

// Vast.ai and Verda through their real adapters: a pool that accepts
// community hosts gets Vast.ai's one cheap machine, then Verda's L40S; the
// GpuProviders' typed settings (spec.vastai, spec.verda) reach the machines.
TEST_F(OperatorLiveProviders, VastaiAndVerdaMachinesComeFromLivePricesWithTypedSettings) {
  secret("vastai-creds", {{"apiKey", "vast-key"}});
  secret("verda-creds", {{"clientId", "verda-client"}, {"clientSecret", "verda-secret"}});
  provider("vastai", "vastai", vast_.base_url(),
           {{"vastai", {{"image", "vastai/base-image:cuda-12.4"}, {"diskGb", 80}}}});
  provider("verda", "verda", verda_.base_url(),
           {{"verda",
             {{"image", "ubuntu-24.04-cuda-12.8-open-docker"},
              {"sshKeyIds", {emulators::kVerdaSeedKeyId}}}}});
  op_ = spawn({binary_.string(), "run", "--kubeconfig", kubeconfig_.string(), "--health-addr",
               "127.0.0.1:0", "--gc-period-seconds", "1", "--log-format", "json"},
              dir_ / "operator.out", dir_ / "operator.log");
  ASSERT_GT(op_, 0);
  ASSERT_TRUE(eventually([&] { return prices_live("vastai", 1) && prices_live("verda", 1); }, 60s))
      << where();
  create(kPools, "default",
         {{"apiVersion", "gpupool.io/v1alpha1"},
          {"kind", "GpuPool"},
          {"metadata", {{"name", "web"}, {"namespace", "default"}}},
          {"spec",
           {{"gpu", {{"models", {{{"name", "L40S"}}}}}},
            {"replicas", {{"count", 2}}},
            {"reliability", "Any"},
            {"providers", {{{"name", "vastai"}}, {{"name", "verda"}}}}}}});
  ASSERT_TRUE(eventually([&] { return running_instances() == 2; }, 120s))
      << "vastai=" << vast_.alive() << " verda=" << verda_alive() << " " << where();
  EXPECT_EQ(vast_.alive(), 1);
  EXPECT_EQ(verda_alive(), 1);
  for (const auto& in : vast_.instances()) {
    if (in.destroyed) continue;
    EXPECT_EQ(in.ask_id, 501);
    EXPECT_EQ(in.image, "vastai/base-image:cuda-12.4");
    EXPECT_EQ(in.disk, 80);
  }
  for (const auto& in : verda_.instances()) {
    if (in.delete_requested) continue;
    EXPECT_EQ(in.type, "1L40S.20V");
    EXPECT_EQ(in.location, "FIN-03");
    EXPECT_EQ(in.image, "ubuntu-24.04-cuda-12.8-open-docker");
    EXPECT_EQ(in.ssh_keys, std::vector<std::string>{"ssh-ed25519 AAAAC3NzaKEY1 admin@laptop"});
  }
}

}  // namespace
}  // namespace gpupool
