// The DigitalOcean adapter against the DigitalOcean emulator over loopback.
#include "providers/digitalocean/digitalocean_provider.h"

#include <gtest/gtest.h>

#include "providers/factory/adapter_table.h"
#include "providers/http/curl_transport.h"
#include "tests/emulators/common/adapter_fixture.h"
#include "tests/emulators/digitalocean/digitalocean_emulator.h"

namespace gpupool::digitalocean {
namespace {

using emulators::Fault;
using emulators::FaultKind;
using std::chrono::seconds;

class DoProviderTest
    : public emulators::AdapterTest<emulators::DoEmulator, emulators::DoEmulatorOptions> {
 protected:
  DoProviderTest()
      : AdapterTest(Time(std::chrono::sys_days(std::chrono::year(2026) / 11 / 20)),
                    [](emulators::DoEmulatorOptions& o) {
                      o.sizes = {
                          {"gpu-l40sx1-48gb", "nvidia_l40s", 1, 1.57, {{"tor1", 1}, {"nyc2", 0}}},
                          {"gpu-h100x8-640gb", "nvidia_h100", 8, 23.92, {{"nyc2", -1}}},
                          {"s-2vcpu-4gb", "", 0, 0.036, {{"tor1", -1}}}};
                      o.max_per_page = 2;  // so paging is exercised
                    }) {}

  DoConfig config() {
    auto c = adapter_config<DoConfig>("do-main", 5);
    c.api_token = "do-test-token";
    return c;
  }

  InstanceIntent intent(std::string name = "pool-d-0", std::string uid = "uid-do") {
    return emulators::l40s_intent(std::move(name), std::move(uid), "gpu-l40sx1-48gb", "tor1",
                                  Money::from_cents(157),
                                  "#cloud-config\nruncmd: [join --token d0j01n]\n");
  }
};

// The typed settings (GpuProvider spec.digitalocean) reach the adapter the
// table builds and, through it, POST /v2/droplets: the image, and account
// keys by numeric id (sent as a number) and by fingerprint.
TEST_F(DoProviderTest, TypedSettingsReachTheDropletTheAdapterCreates) {
  const int64_t id = emulator_.add_ssh_key("ssh-ed25519 AAAAC3NzaOPS1 ops@console", "ops").first;
  const std::string fingerprint =
      emulator_.add_ssh_key("ssh-ed25519 AAAAC3NzaOPS2 ci@console", "ci").second;
  api::GpuProvider gp;
  gp.metadata.name = "do-main";
  gp.spec.type = "digitalocean";
  gp.spec.endpoint = emulator_.base_url();
  gp.spec.digitalocean =
      api::DigitaloceanSettings{"ubuntu-22-04-x64", {std::to_string(id), fingerprint}};
  const std::map<std::string, std::string> creds = {{"apiToken", "do-test-token"}};
  const factory::AdapterContext ctx{gp, creds, transport_, sleeper_, clock_};
  std::unique_ptr<Provider> p = adapter_type().construct(ctx);
  auto m = p->create(intent());
  ASSERT_TRUE(m.ok()) << describe(m.error());
  ASSERT_EQ(emulator_.droplets().size(), 1u);
  const auto d = emulator_.droplets()[0];
  EXPECT_EQ(d.image, "ubuntu-22-04-x64");
  EXPECT_EQ(d.ssh_keys, (std::vector<std::string>{"ssh-ed25519 AAAAC3NzaOPS1 ops@console",
                                                  "ssh-ed25519 AAAAC3NzaOPS2 ci@console"}));
  // A numeric image id goes out as a number, as DigitalOcean takes it.
  gp.spec.digitalocean = api::DigitaloceanSettings{"187654321", {}};
  emulator_.set_capacity("gpu-l40sx1-48gb", "tor1", 2);
  std::unique_ptr<Provider> by_id = adapter_type().construct(ctx);
  auto m2 = by_id->create(intent("pool-d-1", "uid-do-2"));
  ASSERT_TRUE(m2.ok()) << describe(m2.error());
  ASSERT_EQ(emulator_.droplets().size(), 2u);
  EXPECT_EQ(emulator_.droplets()[1].image, "187654321");
}

TEST(DoNames, GpuFromModelAndSlug) {
  EXPECT_EQ(gpu_from_model("nvidia_l40s"), "L40S");
  EXPECT_EQ(gpu_from_model(""), "");
  auto a = gpu_from_slug("gpu-l40sx1-48gb");
  ASSERT_TRUE(a.has_value());
  EXPECT_EQ(a->model, "L40S");
  EXPECT_EQ(a->count, 1);
  auto b = gpu_from_slug("gpu-h100x8-640gb");
  ASSERT_TRUE(b.has_value());
  EXPECT_EQ(b->count, 8);
  EXPECT_FALSE(gpu_from_slug("s-2vcpu-4gb").has_value());
  EXPECT_FALSE(gpu_from_slug("gpu-x-1").has_value());
  EXPECT_FALSE(gpu_from_slug("gpu-l40sxz-48gb").has_value());
}

TEST(DoErrors, MapToKinds) {
  auto kind = [](int status, std::string_view body) {
    return map_do_error(status, body, net::Millis(0)).kind;
  };
  EXPECT_EQ(kind(401, R"({"id":"Unauthorized","message":"Unable to authenticate you"})"),
            ProviderErrorKind::Unauthorized);
  EXPECT_EQ(kind(404, R"({"id":"not_found","message":"x"})"), ProviderErrorKind::NotFound);
  EXPECT_EQ(kind(422, R"({"id":"unprocessable_entity","message":"Size is not available"})"),
            ProviderErrorKind::NoCapacity);
  EXPECT_EQ(kind(422, R"({"id":"unprocessable_entity","message":"droplet limit reached"})"),
            ProviderErrorKind::QuotaExceeded);
  EXPECT_EQ(kind(422, R"({"id":"unprocessable_entity","message":"bad image"})"),
            ProviderErrorKind::InvalidRequest);
  EXPECT_EQ(kind(429, R"({"id":"too_many_requests","message":"x"})"),
            ProviderErrorKind::RateLimited);
  EXPECT_EQ(kind(502, "<html>"), ProviderErrorKind::Transient);
}

TEST(DoRateLimit, WaitUntilReset) {
  const Time now = Time(seconds(1'000'000));
  EXPECT_EQ(wait_until_reset("1000030", now), net::Millis(30'000));
  EXPECT_EQ(wait_until_reset("999000", now), net::Millis(0));
  EXPECT_FALSE(wait_until_reset("soon", now).has_value());
  EXPECT_FALSE(wait_until_reset("", now).has_value());
  EXPECT_FALSE(wait_until_reset("99999999999", now).has_value());
}

TEST_F(DoProviderTest, OffersFromSizesWithRegions) {
  DoProvider p(config(), transport_, clock_, sleeper_);
  OfferQuery q;
  q.gpu_models = {"L40S", "L40"};
  auto offers = p.offers(q);
  ASSERT_TRUE(offers.ok()) << describe(offers.error());
  ASSERT_EQ(offers->size(), 1u);  // nyc2 has no capacity
  EXPECT_EQ(offers->at(0).id, "gpu-l40sx1-48gb");
  EXPECT_EQ(offers->at(0).region, "tor1");
  EXPECT_EQ(offers->at(0).price_per_hour, Money::from_cents(157));
  q.gpu_models = {};
  EXPECT_EQ(p.offers(q)->size(), 2u);  // the CPU size is no GPU offer
}

TEST_F(DoProviderTest, CreateGetListTerminate) {
  DoProvider p(config(), transport_, clock_, sleeper_);
  auto m = p.create(intent());
  ASSERT_TRUE(m.ok()) << describe(m.error());
  EXPECT_EQ(m->state, MachineState::Pending);  // 202 is "accepted", not running
  auto again = p.create(intent());
  ASSERT_TRUE(again.ok());
  EXPECT_EQ(again->provider_id, m->provider_id);
  EXPECT_EQ(emulator_.requests("create"), 1);
  auto d = emulator_.droplets();
  ASSERT_EQ(d.size(), 1u);
  EXPECT_EQ(d[0].user_data, "#cloud-config\nruncmd: [join --token d0j01n]\n");
  EXPECT_EQ(d[0].tags, (std::vector<std::string>{"gpupool-managed", "gpupool-pool:uid-do"}));
  clock_.advance(seconds(91));
  auto got = p.get("uid-do", "pool-d-0");
  ASSERT_TRUE(got.ok()) << describe(got.error());
  EXPECT_EQ(got->state, MachineState::Running);
  EXPECT_EQ(got->gpu_model, "L40S");
  EXPECT_FALSE(got->public_address.empty());
  MachineFilter f;
  f.pool_uid = "uid-do";
  EXPECT_EQ(p.list(f)->size(), 1u);
  ASSERT_TRUE(p.terminate(m->provider_id).ok());
  auto gone = p.terminate(m->provider_id);
  ASSERT_FALSE(gone.ok());
  EXPECT_EQ(gone.error().kind, ProviderErrorKind::NotFound);
  EXPECT_EQ(p.get("uid-do", "pool-d-0").error().kind, ProviderErrorKind::NotFound);
  EXPECT_EQ(p.terminate("12; rm").error().kind, ProviderErrorKind::InvalidRequest);
  std::lock_guard lock(log_mu_);
  for (const auto& l : log_) {
    EXPECT_EQ(l.find("d0j01n"), std::string::npos) << l;
    EXPECT_EQ(l.find("do-test-token"), std::string::npos) << l;
  }
}

TEST_F(DoProviderTest, IntentSshKeyIsRegisteredAndSentInSshKeys) {
  // Droplets take account keys (id or fingerprint) in ssh_keys: the intent's
  // public key is added to the account once and then referred to.
  emulator_.set_capacity("gpu-l40sx1-48gb", "tor1", -1);
  DoProvider p(config(), transport_, clock_, sleeper_);
  InstanceIntent i = intent();
  i.ssh_public_key = "ssh-ed25519 AAAAC3NzaDOKEY gpupool";
  auto m = p.create(i);
  ASSERT_TRUE(m.ok()) << describe(m.error());
  InstanceIntent j = intent("pool-d-1");
  j.ssh_public_key = i.ssh_public_key;
  auto n = p.create(j);
  ASSERT_TRUE(n.ok()) << describe(n.error());
  auto all = emulator_.droplets();
  ASSERT_EQ(all.size(), 2u);
  for (const auto& d : all)
    EXPECT_EQ(d.ssh_keys, std::vector<std::string>{i.ssh_public_key});
  EXPECT_EQ(emulator_.requests("add_key"), 1);
}

TEST_F(DoProviderTest, ListFollowsPages) {
  emulator_.set_capacity("gpu-l40sx1-48gb", "tor1", -1);
  DoProvider p(config(), transport_, clock_, sleeper_);
  for (int i = 0; i < 5; ++i)
    ASSERT_TRUE(p.create(intent("m-" + std::to_string(i))).ok());
  ASSERT_TRUE(p.create(intent("other-0", "uid-other")).ok());
  const int before = emulator_.requests("list");
  auto all = p.list({});
  ASSERT_TRUE(all.ok()) << describe(all.error());
  EXPECT_EQ(all->size(), 6u);
  EXPECT_EQ(emulator_.requests("list") - before, 3);  // 2 + 2 + 2
  MachineFilter f;
  f.pool_uid = "uid-do";
  EXPECT_EQ(p.list(f)->size(), 5u);
}

TEST_F(DoProviderTest, NoCapacity) {
  DoProvider p(config(), transport_, clock_, sleeper_);
  ASSERT_TRUE(p.create(intent("a-0")).ok());
  auto full = p.create(intent("a-1"));
  ASSERT_FALSE(full.ok());
  EXPECT_EQ(full.error().kind, ProviderErrorKind::NoCapacity);
  EXPECT_EQ(emulator_.requests("create"), 2);
}

TEST_F(DoProviderTest, ThrottleWaitsForRateLimitReset) {
  DoProvider p(config(), transport_, clock_, sleeper_);
  emulator_.faults().add("sizes", Fault{FaultKind::Throttle, {}, seconds(3)}, 2);
  ASSERT_TRUE(p.offers({}).ok());
  EXPECT_EQ(emulator_.requests("sizes"), 3);
  ASSERT_FALSE(sleeper_.waits().empty());
  EXPECT_GE(sleeper_.waits().at(0), std::chrono::milliseconds(3000));
  // Throttled beyond the attempts: RateLimited with the reset as the hint.
  emulator_.faults().add("sizes", Fault{FaultKind::Throttle, {}, seconds(20)}, 3);
  auto r = p.offers({});
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().kind, ProviderErrorKind::RateLimited);
  EXPECT_GE(r.error().retry_after, std::chrono::milliseconds(19'000));
}

}  // namespace
}  // namespace gpupool::digitalocean
