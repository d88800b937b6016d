// The Vast.ai adapter against the Vast.ai emulator over loopback.
#include "providers/vastai/vastai_provider.h"

#include <gtest/gtest.h>

#include "providers/factory/adapter_table.h"
#include "providers/http/curl_transport.h"
#include "tests/emulators/common/adapter_fixture.h"
#include "tests/emulators/vastai/vastai_emulator.h"

namespace gpupool::vastai {
namespace {

using emulators::Fault;
using emulators::FaultKind;
using std::chrono::seconds;

class VastProviderTest
    : public emulators::AdapterTest<emulators::VastEmulator, emulators::VastEmulatorOptions> {
 protected:
  VastProviderTest()
      : AdapterTest(
            Time(std::chrono::sys_days(std::chrono::year(2026) / 8 / 7)),
            [](emulators::VastEmulatorOptions& o) {
              auto m = [](const char* s) { return Money::parse(s).value(); };
              // Real geolocation values: "<region>, <country code>".
              o.asks = {
                  {101, "L40S", 1, m("0.62"), m("0.01"), "Texas, US", 0.995, true},
                  {102, "L40S", 1, m("0.55"), m("0.02"), "Quebec, CA", 0.97, true},  // unreliable
                  {103, "L40", 1, m("0.48"), m("0.00"), "California, US", 0.99, true},
                  {104, "L40S", 2, m("1.30"), m("0.01"), "Texas, US", 0.99, true},
                  {105, "L40S", 1, m("0.40"), m("0.01"), "Texas, US", 0.99, false},  // unverified
                  {106, "RTX_4090", 1, m("0.30"), m("0.01"), "Texas, US", 0.99, true},
                  {107, "L40S", 1, m("0.70"), m("0.01"), "Ontario, CA", 0.99, true}};
            }) {}

  VastConfig config() {
    auto c = adapter_config<VastConfig>("vast-main", 9);
    c.api_key = "vast-test-key";
    return c;
  }

  InstanceIntent intent(std::string name = "pool-v-0", std::string ask = "101") {
    InstanceIntent i = emulators::l40s_intent(std::move(name), "uid-vast", std::move(ask), "",
                                              Money::parse("0.62").value(),
                                              "#!/bin/sh\nkubeadm join --token zz9\n");
    i.pool_namespace = "ml";
    i.pool_name = "pool-v";
    return i;
  }
};

TEST_F(VastProviderTest, SearchFiltersModelsReliabilityVerificationCheapestFirst) {
  VastProvider p(config(), transport_, clock_, sleeper_);
  OfferQuery q;
  q.gpu_models = {"L40S", "L40"};
  auto offers = p.offers(q);
  ASSERT_TRUE(offers.ok()) << describe(offers.error());
  ASSERT_EQ(offers->size(), 4u);  // 103, 101, 107, 104
  EXPECT_EQ((*offers)[0].id, "103");
  EXPECT_EQ((*offers)[1].id, "101");
  EXPECT_EQ((*offers)[1].price_per_hour, Money::parse("0.62").value());
  EXPECT_EQ((*offers)[1].billing.egress_per_gb, Money::parse("0.01").value());
  EXPECT_EQ((*offers)[1].tier, ReliabilityTier::Community);
  EXPECT_EQ((*offers)[3].gpu_count, 2);
  q.max_gpu_count = 1;
  q.regions = {"US"};
  EXPECT_EQ(p.offers(q)->size(), 2u);
  q.include_community = false;
  EXPECT_TRUE(p.offers(q)->empty());
}

// The typed settings (GpuProvider spec.vastai) reach the adapter that the
// adapter table builds: unverified hosts when verifiedOnly is false, and the
// instance's image.
TEST_F(VastProviderTest, TypedSettingsReachTheAdapterTheTableBuilds) {
  api::GpuProvider gp;
  gp.metadata.name = "vast-main";
  gp.spec.type = "vastai";
  gp.spec.endpoint = emulator_.base_url();
  gp.spec.vastai = api::VastaiSettings{"vastai/base-image:cuda-12.4", 100, false};
  const std::map<std::string, std::string> creds = {{"apiKey", "vast-test-key"}};
  const factory::AdapterContext ctx{gp, creds, transport_, sleeper_, clock_};
  std::unique_ptr<Provider> p = adapter_type().construct(ctx);
  OfferQuery q;
  q.gpu_models = {"L40S", "L40"};
  auto offers = p->offers(q);
  ASSERT_TRUE(offers.ok()) << describe(offers.error());
  ASSERT_EQ(offers->size(), 5u);  // 105 (unverified) too
  EXPECT_EQ((*offers)[0].id, "105");
  auto m = p->create(intent());
  ASSERT_TRUE(m.ok()) << describe(m.error());
  ASSERT_EQ(emulator_.instances().size(), 1u);
  EXPECT_EQ(emulator_.instances()[0].image, "vastai/base-image:cuda-12.4");
}

TEST_F(VastProviderTest, SearchOrderIsAListOfFieldDirectionPairs) {
  // searchOffers: "order": [["dph_total", "asc"]]; the object form
  // {"dph_total": "asc"} is refused by the real API.
  auto raw = [&](const std::string& order) {
    net::Request r;
    r.method = "POST";
    r.url = emulator_.base_url() + "/api/v0/bundles/";
    r.headers = {{"Authorization", "Bearer vast-test-key"}, {"Content-Type", "application/json"}};
    r.body = R"({"gpu_name": {"in": ["L40S"]}, "order": )" + order + "}";
    auto res = transport_.send(r);
    return res.ok() ? res->status : 0;
  };
  EXPECT_EQ(raw(R"({"dph_total": "asc"})"), 400);
  EXPECT_EQ(raw(R"([["dph_total"]])"), 400);
  EXPECT_EQ(raw(R"([["dph_total", "asc"]])"), 200);
  VastProvider p(config(), transport_, clock_, sleeper_);
  auto offers = p.offers({});
  ASSERT_TRUE(offers.ok()) << describe(offers.error());
  ASSERT_FALSE(offers->empty());
  for (size_t i = 1; i < offers->size(); ++i)
    EXPECT_LE((*offers)[i - 1].price_per_hour, (*offers)[i].price_per_hour);
}

TEST_F(VastProviderTest, RegionsAreCountryCodes) {
  // Vast.ai writes geolocation as "Texas, US"; offers carry the country code
  // and a query names country codes.
  VastProvider p(config(), transport_, clock_, sleeper_);
  OfferQuery q;
  q.gpu_models = {"L40S"};
  q.regions = {"CA"};
  auto offers = p.offers(q);
  ASSERT_TRUE(offers.ok()) << describe(offers.error());
  ASSERT_EQ(offers->size(), 1u);
  EXPECT_EQ((*offers)[0].id, "107");
  EXPECT_EQ((*offers)[0].region, "CA");
  auto m = p.create(intent("pool-v-r", "107"));
  ASSERT_TRUE(m.ok()) << describe(m.error());
  auto found = p.get("uid-vast", "pool-v-r");
  ASSERT_TRUE(found.ok()) << describe(found.error());
  EXPECT_EQ(found->region, "CA");
}

TEST_F(VastProviderTest, AnOnstartScriptOverVastsLimitIsRefusedBeforeRenting) {
  VastProvider p(config(), transport_, clock_, sleeper_);
  InstanceIntent big = intent();
  big.user_data = "#!/bin/sh\n" + std::string(VastProvider::kMaxOnstart, '#');
  auto m = p.create(big);
  ASSERT_FALSE(m.ok());
  EXPECT_EQ(m.error().kind, ProviderErrorKind::InvalidRequest);
  EXPECT_NE(m.error().message.find("at most 4048"), std::string::npos) << m.error().message;
  EXPECT_EQ(emulator_.requests("create"), 0);
}

TEST_F(VastProviderTest, RentLabelsTheInstanceAndIsIdempotent) {
  VastProvider p(config(), transport_, clock_, sleeper_);
  auto m = p.create(intent());
  ASSERT_TRUE(m.ok()) << describe(m.error());
  EXPECT_EQ(m->state, MachineState::Pending);
  EXPECT_EQ(m->pool_uid(), "uid-vast");
  auto rentals = emulator_.instances();
  ASSERT_EQ(rentals.size(), 1u);
  EXPECT_EQ(rentals[0].label, "gpupool/uid-vast/pool-v-0");
  EXPECT_EQ(rentals[0].onstart, "#!/bin/sh\nkubeadm join --token zz9\n");
  auto again = p.create(intent());
  ASSERT_TRUE(again.ok());
  EXPECT_EQ(again->provider_id, m->provider_id);
  EXPECT_EQ(emulator_.requests("create"), 1);
  clock_.advance(seconds(61));
  auto got = p.get("uid-vast", "pool-v-0");
  ASSERT_TRUE(got.ok());
  EXPECT_EQ(got->state, MachineState::Running);
  EXPECT_EQ(got->name, "pool-v-0");
  EXPECT_EQ(got->gpu_model, "L40S");
  EXPECT_FALSE(got->public_address.empty());
  for (const auto& l : log_)
    EXPECT_EQ(l.find("zz9"), std::string::npos) << l;
}

TEST_F(VastProviderTest, IntentSshKeyIsAttachedToTheInstance) {
  // Vast.ai's create-instance body has no key field: the key is attached
  // with POST /api/v0/instances/{id}/ssh/ {"ssh_key": ...}.
  VastProvider p(config(), transport_, clock_, sleeper_);
  InstanceIntent i = intent();
  i.ssh_public_key = "ssh-ed25519 AAAAC3NzaVAST gpupool";
  auto m = p.create(i);
  ASSERT_TRUE(m.ok()) << describe(m.error());
  auto all = emulator_.instances();
  ASSERT_EQ(all.size(), 1u);
  EXPECT_EQ(all[0].ssh_keys, std::vector<std::string>{i.ssh_public_key});
}

TEST_F(VastProviderTest, FindAfterCrashWhenTheRentAnswerWasLost) {
  VastProvider p(config(), short_transport_, clock_, sleeper_);
  emulator_.faults().add("create", Fault{FaultKind::LoseAnswer});
  auto m = p.create(intent());
  ASSERT_TRUE(m.ok()) << describe(m.error());
  EXPECT_EQ(emulator_.requests("create"), 1);
  VastProvider restarted(config(), transport_, clock_, sleeper_);
  auto again = restarted.create(intent());
  ASSERT_TRUE(again.ok());
  EXPECT_EQ(again->provider_id, m->provider_id);
  EXPECT_EQ(emulator_.instances().size(), 1u);
}

TEST_F(VastProviderTest, RentedAskIsNoCapacity) {
  VastProvider p(config(), transport_, clock_, sleeper_);
  ASSERT_TRUE(p.create(intent("a-0")).ok());
  auto taken = p.create(intent("a-1"));  // same ask: already rented
  ASSERT_FALSE(taken.ok());
  EXPECT_EQ(taken.error().kind, ProviderErrorKind::NoCapacity);
  EXPECT_NE(taken.error().message.find("no_such_ask"), std::string::npos);
  auto unknown = p.create(intent("a-2", "999"));
  ASSERT_FALSE(unknown.ok());
  EXPECT_EQ(unknown.error().kind, ProviderErrorKind::NoCapacity);
  EXPECT_EQ(p.create(intent("a-3", "not-a-number")).error().kind,
            ProviderErrorKind::InvalidRequest);
}

TEST_F(VastProviderTest, DestroyThenNotFoundAndListByPool) {
  VastProvider p(config(), transport_, clock_, sleeper_);
  auto m = p.create(intent("a-0", "101"));
  ASSERT_TRUE(m.ok());
  InstanceIntent other = intent("b-0", "103");
  other.pool_uid = "uid-other";
  ASSERT_TRUE(p.create(other).ok());
  MachineFilter f;
  f.pool_uid = "uid-vast";
  ASSERT_EQ(p.list(f)->size(), 1u);
  EXPECT_EQ(p.list({})->size(), 2u);
  clock_.advance(seconds(600));
  ASSERT_TRUE(p.terminate(m->provider_id).ok());
  auto gone = p.terminate(m->provider_id);
  ASSERT_FALSE(gone.ok());
  EXPECT_EQ(gone.error().kind, ProviderErrorKind::NotFound);
  EXPECT_EQ(p.get("uid-vast", "a-0").error().kind, ProviderErrorKind::NotFound);
  EXPECT_EQ(emulator_.billed_seconds(std::stoll(m->provider_id)), 540);  // not billed while loading
  EXPECT_TRUE(p.list(f)->empty());
  EXPECT_TRUE(p.create(intent("a-9", "101")).ok());  // the ask is rentable again
}

TEST_F(VastProviderTest, ListFollowsPages) {
  std::vector<emulators::VastAsk> asks;
  for (int i = 0; i < 30; ++i)
    asks.push_back({1000 + i, "L40S", 1, Money::parse("0.5").value(), Money(), "US", 0.99, true});
  emulators::VastEmulatorOptions o;
  o.clock = &clock_;
  o.asks = asks;
  emulators::VastEmulator big(o);
  ASSERT_TRUE(big.start());
  VastConfig c = config();
  c.endpoint = big.base_url();
  VastProvider p(c, transport_, clock_, sleeper_);
  for (int i = 0; i < 30; ++i)
    ASSERT_TRUE(p.create(intent("m-" + std::to_string(i), std::to_string(1000 + i))).ok());
  auto all = p.list({});
  ASSERT_TRUE(all.ok());
  EXPECT_EQ(all->size(), 30u);
}

TEST_F(VastProviderTest, ThrottlingWithoutRetryAfterBacksOffAndRecovers) {
  VastProvider p(config(), transport_, clock_, sleeper_);
  emulator_.faults().add("search", Fault{FaultKind::Throttle}, 2);
  auto offers = p.offers({});
  ASSERT_TRUE(offers.ok()) << describe(offers.error());
  EXPECT_EQ(emulator_.requests("search"), 3);
  EXPECT_EQ(sleeper_.waits().size(), 2u);
  emulator_.faults().add("search", Fault{FaultKind::Throttle}, 3);
  auto limited = p.offers({});
  ASSERT_FALSE(limited.ok());
  EXPECT_EQ(limited.error().kind, ProviderErrorKind::RateLimited);
  EXPECT_GT(limited.error().retry_after.count(), 0);
}

InstanceIntent endpoint(InstanceIntent i) {
  i.user_data.clear();  // Endpoint mode: no Node bootstrap
  i.container.image = "vllm/vllm-openai:v0.6.3";
  i.container.port = 8000;
  i.container.args = {"--model", "meta-llama/Llama-3.1-8B-Instruct", "--served-model-name",
                      "llama 8b"};
  i.container.env = {{"HF_TOKEN", "hf_s3cr3t"}, {"EXTRA", "two words"}};
  return i;
}

TEST_F(VastProviderTest, EndpointInstanceRunsTheImageEntrypointWithArgsEnvAndPort) {
  VastProvider p(config(), transport_, clock_, sleeper_);
  auto m = p.create(endpoint(intent()));
  ASSERT_TRUE(m.ok()) << describe(m.error());
  auto all = emulator_.instances();
  ASSERT_EQ(all.size(), 1u);
  const auto& in = all[0];
  EXPECT_EQ(in.image, "vllm/vllm-openai:v0.6.3");
  EXPECT_EQ(in.runtype, "args");
  EXPECT_EQ(in.args, endpoint(intent()).container.args);
  EXPECT_EQ(in.onstart, "");
  std::map<std::string, std::string> env(in.extra_env.begin(), in.extra_env.end());
  EXPECT_EQ(env.at("HF_TOKEN"), "hf_s3cr3t");
  EXPECT_EQ(env.at("EXTRA"), "two words");
  EXPECT_EQ(env.at("GPUPOOL_INSTANCE"), "pool-v-0");
  EXPECT_EQ(env.at("-p 8000:8000"), "1");
  EXPECT_EQ(env.count("-p 22:22"), 0u);
  ASSERT_EQ(in.ports.count(8000), 1u);
  EXPECT_EQ(in.disk, 64.0);  // spec.vastai.diskGb's default: the pool named none
  expect_not_logged("hf_s3cr3t");
}

TEST_F(VastProviderTest, ThePoolsContainerDiskSizesTheInstance) {
  VastProvider p(config(), transport_, clock_, sleeper_);
  InstanceIntent i = endpoint(intent());
  i.container.disk_gb = 300;
  ASSERT_TRUE(p.create(i).ok());
  auto all = emulator_.instances();
  ASSERT_EQ(all.size(), 1u);
  EXPECT_EQ(all[0].disk, 300.0);
}

TEST_F(VastProviderTest, EndpointAddressIsThePublicIpAndTheHostPortOfTheContainerPort) {
  VastProvider p(config(), transport_, clock_, sleeper_);
  ASSERT_TRUE(p.create(endpoint(intent())).ok());
  auto loading = p.get("uid-vast", "pool-v-0");
  ASSERT_TRUE(loading.ok());
  EXPECT_EQ(loading->public_port, 0);  // ports: only present on running instances
  clock_.advance(seconds(61));
  auto in = emulator_.instances().at(0);
  int host = in.ports.at(8000);
  ASSERT_NE(host, 8000);  // a real mapping: the host port differs
  auto running = p.get("uid-vast", "pool-v-0");
  ASSERT_TRUE(running.ok());
  EXPECT_EQ(running->state, MachineState::Running);
  EXPECT_EQ(running->public_address, emulators::VastEmulator::public_ip_of(in));
  EXPECT_EQ(running->public_port, host);
  auto listed = p.list({});
  ASSERT_TRUE(listed.ok());
  ASSERT_EQ(listed->size(), 1u);
  EXPECT_EQ(listed->at(0).public_port, host);
}

TEST_F(VastProviderTest, NodeModeKeepsTheSshLauncherAndHasNoPublicPort) {
  VastProvider p(config(), transport_, clock_, sleeper_);
  ASSERT_TRUE(p.create(intent()).ok());
  clock_.advance(seconds(61));
  auto in = emulator_.instances().at(0);
  EXPECT_EQ(in.runtype, "ssh_direct");
  EXPECT_EQ(in.onstart, intent().user_data);
  auto m = p.get("uid-vast", "pool-v-0");
  ASSERT_TRUE(m.ok());
  EXPECT_EQ(m->public_port, 0);  // 22 is mapped, but it is not an Endpoint port
}

TEST_F(VastProviderTest, EnvValuesTheEnvStringCannotCarryAreInvalidBeforeAnyRequest) {
  VastProvider p(config(), transport_, clock_, sleeper_);
  std::vector<InstanceIntent> bad;
  for (const char* v : {"say \"hi\"", "it's", "a\nb", "tab\there"}) {
    bad.push_back(endpoint(intent()));
    bad.back().container.env["X"] = v;
  }
  bad.push_back(endpoint(intent()));
  bad.back().user_data = "#!/bin/sh\n";  // both modes
  bad.push_back(endpoint(intent()));
  bad.back().container.env["GPUPOOL_INSTANCE"] = "other";
  for (const auto& i : bad) {
    auto r = p.create(i);
    ASSERT_FALSE(r.ok());
    EXPECT_EQ(r.error().kind, ProviderErrorKind::InvalidRequest) << r.error().message;
    EXPECT_EQ(r.error().message.find("hf_s3cr3t"), std::string::npos);
  }
  EXPECT_EQ(emulator_.requests(), 0);
}

}  // namespace
}  // namespace gpupool::vastai
