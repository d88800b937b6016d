// The Vultr adapter against the Vultr emulator over loopback.
#include "providers/vultr/vultr_provider.h"

#include <gtest/gtest.h>

#include "providers/factory/adapter_table.h"
#include "providers/http/curl_transport.h"
#include "tests/emulators/common/adapter_fixture.h"
#include "tests/emulators/vultr/vultr_emulator.h"

namespace gpupool::vultr {
namespace {

using emulators::Fault;
using emulators::FaultKind;
using std::chrono::seconds;

class VultrProviderTest
    : public emulators::AdapterTest<emulators::VultrEmulator, emulators::VultrEmulatorOptions> {
 protected:
  VultrProviderTest()
      : AdapterTest(
            Time(std::chrono::sys_days(std::chrono::year(2026) / 11 / 20)),
            [](emulators::VultrEmulatorOptions& o) {
              // Real plan ids; the GPU count follows from gpu_vram_gb (48 GB per L40S).
              o.plans = {
                  {"vcg-l40s-16c-180g-48vram", "NVIDIA_L40S", 48, 2.09, {{"ewr", 1}, {"ord", 0}}},
                  {"vcg-a100-12c-120g-80vram", "NVIDIA_A100", 80, 2.60, {{"ewr", -1}}},
                  {"vcg-l40s-32c-375g-96vram", "NVIDIA_L40S", 96, 4.18, {{"sjc", -1}}},
                  {"vcg-l40s-64c-750g-192vram", "NVIDIA_L40S", 192, 8.36, {{"sjc", -1}}},
                  {"vcg-a16-2c-8g-2vram", "NVIDIA_A16", 2, 0.06, {{"ewr", -1}}}};  // a slice
              o.max_per_page = 2;
            }) {}

  VultrConfig config() {
    auto c = adapter_config<VultrConfig>("vultr-main", 9);
    c.api_key = "vultr-test-key";
    c.page_size = 2;
    return c;
  }

  InstanceIntent intent(std::string name = "pool-u-0") {
    return emulators::l40s_intent(std::move(name), "uid-vultr", "vcg-l40s-16c-180g-48vram", "ewr",
                                  Money::from_cents(209),
                                  "#cloud-config\nruncmd: [join --token vuj01n]\n");
  }
};

// The typed settings (GpuProvider spec.vultr) reach the adapter the table
// builds and, through it, POST /v2/instances: os_id, or snapshot_id instead
// of it, and the registered SSH key ids.
TEST_F(VultrProviderTest, TypedSettingsReachTheInstanceTheAdapterCreates) {
  const std::string key = emulator_.add_ssh_key("ssh-ed25519 AAAAC3NzaOPS1 ops@console");
  api::GpuProvider gp;
  gp.metadata.name = "vultr-main";
  gp.spec.type = "vultr";
  gp.spec.endpoint = emulator_.base_url();
  gp.spec.vultr = api::VultrSettings{2284, "", {key}};
  const std::map<std::string, std::string> creds = {{"apiKey", "vultr-test-key"}};
  const factory::AdapterContext ctx{gp, creds, transport_, sleeper_, clock_};
  std::unique_ptr<Provider> p = adapter_type().construct(ctx);
  auto m = p->create(intent());
  ASSERT_TRUE(m.ok()) << describe(m.error());
  ASSERT_EQ(emulator_.instances().size(), 1u);
  EXPECT_EQ(emulator_.instances()[0].os_id, 2284);
  EXPECT_EQ(emulator_.instances()[0].ssh_keys,
            std::vector<std::string>{"ssh-ed25519 AAAAC3NzaOPS1 ops@console"});
  gp.spec.vultr = api::VultrSettings{std::nullopt, "9c3a1c2e-7f4b-4a3d-8e21-5b6f0d9e1a22", {}};
  emulator_.set_capacity("vcg-l40s-16c-180g-48vram", "ewr", 2);
  std::unique_ptr<Provider> from_snapshot = adapter_type().construct(ctx);
  auto m2 = from_snapshot->create(intent("pool-u-1"));
  ASSERT_TRUE(m2.ok()) << describe(m2.error());
  ASSERT_EQ(emulator_.instances().size(), 2u);
  EXPECT_EQ(emulator_.instances()[1].os_id, 0);
  EXPECT_EQ(emulator_.instances()[1].snapshot_id, "9c3a1c2e-7f4b-4a3d-8e21-5b6f0d9e1a22");
}

TEST(VultrNames, GpuFromTypeAndPlan) {
  EXPECT_EQ(gpu_from_type("NVIDIA_L40S"), "L40S");
  EXPECT_EQ(gpu_from_type(""), "");
  EXPECT_EQ(gpu_count_from_vram("L40S", 48), 1);
  EXPECT_EQ(gpu_count_from_vram("L40S", 96), 2);
  EXPECT_EQ(gpu_count_from_vram("L40S", 192), 4);
  EXPECT_EQ(gpu_count_from_vram("A16", 2), std::nullopt);  // a slice
  EXPECT_EQ(gpu_count_from_vram("B9000", 96), std::nullopt);
  EXPECT_EQ(vram_from_plan("vcg-l40s-32c-375g-96vram"), 96);
  EXPECT_EQ(vram_from_plan("vc2-1c-1gb"), std::nullopt);
}

TEST(VultrErrors, MapToKinds) {
  auto kind = [](int status, std::string_view body) {
    return map_vultr_error(status, body, net::Millis(0)).kind;
  };
  EXPECT_EQ(kind(401, R"({"error":"Invalid API token.","status":401})"),
            ProviderErrorKind::Unauthorized);
  EXPECT_EQ(kind(404, R"({"error":"instance not found","status":404})"),
            ProviderErrorKind::NotFound);
  EXPECT_EQ(kind(400, R"({"error":"Plan is not available in the selected region","status":400})"),
            ProviderErrorKind::NoCapacity);
  EXPECT_EQ(kind(400, R"({"error":"Instance limit reached","status":400})"),
            ProviderErrorKind::QuotaExceeded);
  EXPECT_EQ(kind(400, R"({"error":"Invalid os_id","status":400})"),
            ProviderErrorKind::InvalidRequest);
  EXPECT_EQ(kind(502, "<html>"), ProviderErrorKind::Transient);
}

TEST_F(VultrProviderTest, OffersFromPlanLocations) {
  VultrProvider p(config(), transport_, clock_, sleeper_);
  OfferQuery q;
  q.gpu_models = {"L40S", "L40"};
  auto offers = p.offers(q);
  ASSERT_TRUE(offers.ok()) << describe(offers.error());
  q.max_gpu_count = 1;
  ASSERT_EQ(offers->size(), 3u);
  offers = p.offers(q);
  ASSERT_EQ(offers->size(), 1u);  // ord has no capacity
  EXPECT_EQ(offers->at(0).id, "vcg-l40s-16c-180g-48vram");
  EXPECT_EQ(offers->at(0).region, "ewr");
  EXPECT_EQ(offers->at(0).price_per_hour, Money::from_cents(209));
  q.gpu_models = {};
  EXPECT_EQ(p.offers(q)->size(), 2u);  // the A16 slice is no whole GPU
}

TEST_F(VultrProviderTest, GpuCountFollowsPlanGpuMemory) {
  // Vultr's plan object has no GPU count: gpu_vram_gb / 48 GB per L40S
  // (as gpuhunt derives it). vcg-l40s-32c-...-96vram is 2 x L40S.
  VultrProvider p(config(), transport_, clock_, sleeper_);
  OfferQuery q;
  q.gpu_models = {"L40S"};
  q.min_gpu_count = 2;
  auto offers = p.offers(q);
  ASSERT_TRUE(offers.ok()) << describe(offers.error());
  ASSERT_EQ(offers->size(), 2u);
  std::map<std::string, int> count;
  for (const auto& o : *offers)
    count[o.id] = o.gpu_count;
  EXPECT_EQ(count["vcg-l40s-32c-375g-96vram"], 2);
  EXPECT_EQ(count["vcg-l40s-64c-750g-192vram"], 4);
  InstanceIntent i = intent();
  i.offer = offers->at(0);
  auto m = p.create(i);
  ASSERT_TRUE(m.ok()) << describe(m.error());
  auto found = p.get(i.pool_uid, i.name);
  ASSERT_TRUE(found.ok()) << describe(found.error());
  EXPECT_EQ(found->gpu_count, offers->at(0).gpu_count);
}

TEST_F(VultrProviderTest, IntentSshKeyIsRegisteredAndSentAsSshkeyId) {
  // Vultr takes SSH keys by id (sshkey_id): the intent's public key is added
  // (POST /v2/ssh-keys) once and then found by its text.
  emulator_.set_capacity("vcg-l40s-16c-180g-48vram", "ewr", -1);
  VultrProvider p(config(), transport_, clock_, sleeper_);
  InstanceIntent i = intent();
  i.ssh_public_key = "ssh-ed25519 AAAAC3NzaVULTR gpupool";
  auto m = p.create(i);
  ASSERT_TRUE(m.ok()) << describe(m.error());
  InstanceIntent j = intent("pool-u-1");
  j.ssh_public_key = i.ssh_public_key;
  auto n = p.create(j);
  ASSERT_TRUE(n.ok()) << describe(n.error());
  auto all = emulator_.instances();
  ASSERT_EQ(all.size(), 2u);
  for (const auto& in : all)
    EXPECT_EQ(in.ssh_keys, std::vector<std::string>{i.ssh_public_key});
  EXPECT_EQ(emulator_.requests("add_key"), 1);
}

TEST_F(VultrProviderTest, CreateGetListTerminate) {
  VultrProvider p(config(), transport_, clock_, sleeper_);
  auto m = p.create(intent());
  ASSERT_TRUE(m.ok()) << describe(m.error());
  EXPECT_EQ(m->state, MachineState::Pending);
  auto again = p.create(intent());
  ASSERT_TRUE(again.ok());
  EXPECT_EQ(again->provider_id, m->provider_id);
  EXPECT_EQ(emulator_.requests("create"), 1);
  auto in = emulator_.instances();
  ASSERT_EQ(in.size(), 1u);
  EXPECT_EQ(in[0].user_data, "#cloud-config\nruncmd: [join --token vuj01n]\n");
  EXPECT_EQ(in[0].label, "pool-u-0");
  clock_.advance(seconds(121));
  auto got = p.get("uid-vultr", "pool-u-0");
  ASSERT_TRUE(got.ok()) << describe(got.error());
  EXPECT_EQ(got->state, MachineState::Running);
  EXPECT_EQ(got->gpu_model, "L40S");
  EXPECT_FALSE(got->public_address.empty());
  MachineFilter f;
  f.pool_uid = "uid-vultr";
  EXPECT_EQ(p.list(f)->size(), 1u);
  ASSERT_TRUE(p.terminate(m->provider_id).ok());
  auto gone = p.terminate(m->provider_id);
  ASSERT_FALSE(gone.ok());
  EXPECT_EQ(gone.error().kind, ProviderErrorKind::NotFound);
  EXPECT_EQ(p.get("uid-vultr", "pool-u-0").error().kind, ProviderErrorKind::NotFound);
  EXPECT_EQ(p.terminate("../x").error().kind, ProviderErrorKind::InvalidRequest);
  std::lock_guard lock(log_mu_);
  for (const auto& l : log_)
    EXPECT_EQ(l.find("vultr-test-key"), std::string::npos) << l;
}

TEST_F(VultrProviderTest, ListFollowsCursor) {
  emulator_.set_capacity("vcg-l40s-16c-180g-48vram", "ewr", -1);
  VultrProvider p(config(), transport_, clock_, sleeper_);
  for (int i = 0; i < 5; ++i)
    ASSERT_TRUE(p.create(intent("m-" + std::to_string(i))).ok());
  const int before = emulator_.requests("list");
  auto all = p.list({});
  ASSERT_TRUE(all.ok()) << describe(all.error());
  EXPECT_EQ(all->size(), 5u);
  EXPECT_EQ(emulator_.requests("list") - before, 3);
}

TEST_F(VultrProviderTest, NoCapacity) {
  VultrProvider p(config(), transport_, clock_, sleeper_);
  ASSERT_TRUE(p.create(intent("a-0")).ok());
  auto full = p.create(intent("a-1"));
  ASSERT_FALSE(full.ok());
  EXPECT_EQ(full.error().kind, ProviderErrorKind::NoCapacity);
  EXPECT_EQ(emulator_.requests("create"), 2);
}

}  // namespace
}  // namespace gpupool::vultr
