// The Runpod adapter against the Runpod emulator over loopback.
#include "providers/runpod/runpod_provider.h"

#include <set>

#include <gtest/gtest.h>

#include "providers/factory/adapter_table.h"
#include "providers/http/curl_transport.h"
#include "providers/http/fake_transport.h"
#include "tests/emulators/common/adapter_fixture.h"
#include "tests/emulators/runpod/runpod_emulator.h"

namespace gpupool::runpod {
namespace {

using emulators::Fault;
using emulators::FaultKind;
using std::chrono::seconds;

class RunpodProviderTest
    : public emulators::AdapterTest<emulators::RunpodEmulator, emulators::RunpodEmulatorOptions> {
 protected:
  RunpodProviderTest()
      : AdapterTest(
            Time(std::chrono::sys_days(std::chrono::year(2026) / 3 / 13)) + std::chrono::hours(20),
            [](emulators::RunpodEmulatorOptions& o) {
              o.gpu_types = {
                  // 2 secure GPUs free in each of three data centers; machines of
                  // up to 4 GPUs.
                  {"NVIDIA L40S",
                   "L40S",
                   48,
                   Money::parse("0.86").value(),
                   Money::parse("0.79").value(),
                   2,
                   -1,
                   false,
                   false,
                   4,
                   {"US-TX-3", "EU-RO-1", "EUR-IS-1"}},
                  {"NVIDIA L40", "L40", 48, Money::parse("0.69").value(), Money(), -1, -1},
                  {"NVIDIA GeForce RTX 4090", "RTX 4090", 24, Money::parse("0.44").value(),
                   Money::parse("0.31").value(), -1, -1},
                  {"NVIDIA A40", "A40", 48, Money::parse("0.40").value(), Money(), -1, -1,
                   /*forbidden=*/true},
                  {"NVIDIA RTX A6000", "RTX A6000", 48, Money::parse("0.49").value(), Money(), -1,
                   -1, false, /*refused=*/true}};
            }) {}

  RunpodConfig config() {
    auto c = adapter_config<RunpodConfig>("runpod-main", 5);
    c.api_key = "rp-test-key";
    return c;
  }

  InstanceIntent intent(std::string name = "pool-r-0", std::string offer = "SECURE/NVIDIA L40S") {
    InstanceIntent i = emulators::l40s_intent(std::move(name), "uid-rp", std::move(offer),
                                              "US-TX-3", Money(), "join --token s3cr3t");
    i.pool_namespace = "ml";
    i.pool_name = "pool-r";
    i.ssh_public_key = "ssh-ed25519 AAAA op";
    return i;
  }
};

// The typed settings (GpuProvider spec.runpod) reach the adapter the table
// builds and, through it, the emulator's createPod: image, disk, data
// centers, CUDA floor; cloudType SECURE drops community offers and refuses
// a community offer on create.
TEST_F(RunpodProviderTest, TypedSettingsReachThePodTheAdapterCreates) {
  api::GpuProvider gp;
  gp.metadata.name = "runpod-main";
  gp.spec.type = "runpod";
  gp.spec.endpoint = emulator_.base_url();
  gp.spec.runpod = api::RunpodSettings{
      "runpod/base:0.6.2-cuda12.4.1", 120, "SECURE", {"EUR-IS-1", "EU-RO-1"}, "12.4"};
  const std::map<std::string, std::string> creds = {{"apiKey", "rp-test-key"}};
  const factory::AdapterContext ctx{gp, creds, transport_, sleeper_, clock_};
  std::unique_ptr<Provider> p = adapter_type().construct(ctx);
  OfferQuery q;
  q.gpu_models = {"L40S"};
  q.max_gpu_count = 1;
  auto offers = p->offers(q);
  ASSERT_TRUE(offers.ok()) << describe(offers.error());
  // No COMMUNITY/NVIDIA L40S, and only the two data centers asked for.
  ASSERT_EQ(offers->size(), 2u);
  EXPECT_EQ((*offers)[0].id, "SECURE/NVIDIA L40S");
  EXPECT_EQ((*offers)[0].region, "EU-RO-1");
  EXPECT_EQ((*offers)[1].region, "EUR-IS-1");
  InstanceIntent in = intent();
  in.offer = (*offers)[1];
  auto m = p->create(in);
  ASSERT_TRUE(m.ok()) << describe(m.error());
  ASSERT_EQ(emulator_.pods().size(), 1u);
  const auto pod = emulator_.pods()[0];
  EXPECT_EQ(pod.image, "runpod/base:0.6.2-cuda12.4.1");
  EXPECT_EQ(pod.disk, 120);
  EXPECT_EQ(pod.data_center, "EUR-IS-1");
  EXPECT_EQ(pod.min_cuda_version, "12.4");
  // An offer in a data center the settings leave out is refused before any
  // request.
  auto outside = p->create(intent("pool-r-2"));  // US-TX-3
  ASSERT_FALSE(outside.ok());
  EXPECT_EQ(outside.error().kind, ProviderErrorKind::InvalidRequest);
  InstanceIntent community_intent = intent("pool-r-1", "COMMUNITY/NVIDIA L40S");
  community_intent.offer.region = "EU-RO-1";
  auto community = p->create(community_intent);
  ASSERT_FALSE(community.ok());
  EXPECT_EQ(community.error().kind, ProviderErrorKind::InvalidRequest);
  EXPECT_EQ(emulator_.pods().size(), 1u);
}

// Offers come from the v2 catalog, one per cloud, GPU type, count and data
// center: the region is the data-center id the pod can be placed in.
TEST_F(RunpodProviderTest, OffersPerCloudAndDataCenterFromTheCatalog) {
  RunpodProvider p(config(), transport_, clock_, sleeper_);
  OfferQuery q;
  q.gpu_models = {"L40S", "L40"};
  q.max_gpu_count = 1;
  auto offers = p.offers(q);
  ASSERT_TRUE(offers.ok()) << describe(offers.error());
  // L40S secure and community in three data centers each, L40 secure in one.
  ASSERT_EQ(offers->size(), 7u);
  std::map<std::string, std::set<std::string>> regions;
  for (const auto& o : *offers) {
    regions[o.id].insert(o.region);
    EXPECT_EQ(o.gpu_count, 1);
    EXPECT_EQ(o.capacity_hint, -1);
    if (o.id == "SECURE/NVIDIA L40S") {
      EXPECT_EQ(o.price_per_hour, Money::parse("0.86").value());
      EXPECT_EQ(o.tier, ReliabilityTier::Datacenter);
    }
    if (o.id == "COMMUNITY/NVIDIA L40S") {
      EXPECT_EQ(o.price_per_hour, Money::parse("0.79").value());
      EXPECT_EQ(o.tier, ReliabilityTier::Community);
    }
    if (o.id == "SECURE/NVIDIA L40") EXPECT_EQ(o.gpu_model, "L40");
  }
  const std::set<std::string> three = {"US-TX-3", "EU-RO-1", "EUR-IS-1"};
  EXPECT_EQ(regions["SECURE/NVIDIA L40S"], three);
  EXPECT_EQ(regions["COMMUNITY/NVIDIA L40S"], three);
  EXPECT_EQ(regions["SECURE/NVIDIA L40"], std::set<std::string>{"US-TX-3"});

  // Two GPUs on the secure cloud only, in one region: the catalog's "x2" id.
  q.include_community = false;
  q.min_gpu_count = q.max_gpu_count = 2;
  q.regions = {"EU-RO-1"};
  auto two = p.offers(q);
  ASSERT_TRUE(two.ok()) << describe(two.error());
  ASSERT_EQ(two->size(), 1u);
  EXPECT_EQ(two->at(0).id, "SECURE/NVIDIA L40S x2");
  EXPECT_EQ(two->at(0).region, "EU-RO-1");
  EXPECT_EQ(two->at(0).gpu_count, 2);
  EXPECT_EQ(two->at(0).price_per_hour, Money::parse("1.72").value());
  // Requests carry the key in a header, never in the URL.
  for (const auto& l : log_)
    EXPECT_EQ(l.find("rp-test-key"), std::string::npos) << l;
}

// A query without an upper bound gets every pod size up to the largest
// machine (maxCount) of the asked models, from one catalog read.
TEST_F(RunpodProviderTest, UnboundedQueriesGetEveryPodSizeUpToTheLargestMachine) {
  RunpodProvider p(config(), transport_, clock_, sleeper_);
  OfferQuery q;
  q.gpu_models = {"l40s"};
  q.include_community = false;
  q.regions = {"US-TX-3"};
  auto offers = p.offers(q);
  ASSERT_TRUE(offers.ok()) << describe(offers.error());
  std::vector<std::string> ids;
  for (const auto& o : *offers)
    ids.push_back(o.id + "@" + std::to_string(o.gpu_count));
  EXPECT_EQ(ids, (std::vector<std::string>{"SECURE/NVIDIA L40S@1", "SECURE/NVIDIA L40S x2@2",
                                           "SECURE/NVIDIA L40S x3@3", "SECURE/NVIDIA L40S x4@4"}));
  EXPECT_EQ(emulator_.requests("prices"), 1);
  // A data center out of stock for one GPU is out of stock for more.
  ASSERT_TRUE(p.create(intent("u-0")).ok());  // US-TX-3 has 2 secure GPUs
  ASSERT_TRUE(p.create(intent("u-1")).ok());
  offers = p.offers(q);
  ASSERT_TRUE(offers.ok()) << describe(offers.error());
  ASSERT_EQ(offers->size(), 4u);
  for (const auto& o : *offers)
    EXPECT_EQ(o.capacity_hint, 0) << o.id;
}

// The community cloud is read only when it sells an asked model (every
// answer carries both clouds' prices).
TEST_F(RunpodProviderTest, CommunityIsReadOnlyWhenItSellsAnAskedModel) {
  RunpodProvider p(config(), transport_, clock_, sleeper_);
  OfferQuery q;
  q.gpu_models = {"L40"};  // secure cloud only
  auto offers = p.offers(q);
  ASSERT_TRUE(offers.ok()) << describe(offers.error());
  EXPECT_FALSE(offers->empty());
  EXPECT_EQ(emulator_.requests("prices"), 1);
  q.gpu_models = {"L40S"};
  q.max_gpu_count = 1;
  offers = p.offers(q);
  ASSERT_TRUE(offers.ok()) << describe(offers.error());
  EXPECT_EQ(offers->size(), 6u);  // secure and community, three data centers each
  EXPECT_EQ(emulator_.requests("prices"), 3);
}

// The offer's GPU count (from its id) and data center reach createPod, and
// the machine names the same offer.
TEST_F(RunpodProviderTest, CreateAsksForTheOffersGpuCountInItsDataCenter) {
  RunpodProvider p(config(), transport_, clock_, sleeper_);
  OfferQuery q;
  q.gpu_models = {"L40S"};
  q.include_community = false;
  q.min_gpu_count = q.max_gpu_count = 2;
  q.regions = {"EUR-IS-1"};
  auto offers = p.offers(q);
  ASSERT_TRUE(offers.ok()) << describe(offers.error());
  ASSERT_EQ(offers->size(), 1u);
  InstanceIntent in = intent("two-0");
  in.offer = offers->at(0);
  auto m = p.create(in);
  ASSERT_TRUE(m.ok()) << describe(m.error());
  EXPECT_EQ(m->offer_id, "SECURE/NVIDIA L40S x2");
  EXPECT_EQ(m->region, "EUR-IS-1");
  EXPECT_EQ(m->gpu_count, 2);
  ASSERT_EQ(emulator_.pods().size(), 1u);
  EXPECT_EQ(emulator_.pods()[0].gpu_count, 2);
  EXPECT_EQ(emulator_.pods()[0].data_center, "EUR-IS-1");
  // An id and a count that disagree are refused before any request.
  in = intent("two-1", "SECURE/NVIDIA L40S x2");
  in.offer.gpu_count = 4;
  auto bad = p.create(in);
  ASSERT_FALSE(bad.ok());
  EXPECT_EQ(bad.error().kind, ProviderErrorKind::InvalidRequest);
  EXPECT_EQ(emulator_.requests("create"), 1);
}

TEST(RunpodOfferId, NamesCloudTypeAndCount) {
  EXPECT_EQ(runpod_offer_id("SECURE", "NVIDIA L40S", 1), "SECURE/NVIDIA L40S");
  EXPECT_EQ(runpod_offer_id("COMMUNITY", "NVIDIA L40S", 4), "COMMUNITY/NVIDIA L40S x4");
  auto id = parse_runpod_offer_id("COMMUNITY/NVIDIA GeForce RTX 4090 x8");
  ASSERT_TRUE(id.has_value());
  EXPECT_EQ(id->cloud, "COMMUNITY");
  EXPECT_EQ(id->gpu_type, "NVIDIA GeForce RTX 4090");
  EXPECT_EQ(id->gpu_count, 8);
  id = parse_runpod_offer_id("SECURE/NVIDIA L40S");
  ASSERT_TRUE(id.has_value());
  EXPECT_EQ(id->gpu_type, "NVIDIA L40S");
  EXPECT_EQ(id->gpu_count, 0);
  EXPECT_FALSE(parse_runpod_offer_id("SECURE/NVIDIA L40S x0").has_value());
  EXPECT_FALSE(parse_runpod_offer_id("SECURE/ x2").has_value());
  EXPECT_FALSE(parse_runpod_offer_id("/NVIDIA L40S").has_value());
  EXPECT_FALSE(parse_runpod_offer_id("garbage").has_value());
}

TEST_F(RunpodProviderTest, CreateCarriesIdentityInEnvAndIsIdempotent) {
  RunpodProvider p(config(), transport_, clock_, sleeper_);
  auto m = p.create(intent());
  ASSERT_TRUE(m.ok()) << describe(m.error());
  EXPECT_EQ(m->state, MachineState::Pending);
  EXPECT_EQ(m->name, "pool-r-0");
  EXPECT_EQ(m->pool_uid(), "uid-rp");
  EXPECT_EQ(m->gpu_model, "L40S");
  EXPECT_EQ(m->price_per_hour, Money::parse("0.86").value());
  auto pods = emulator_.pods();
  ASSERT_EQ(pods.size(), 1u);
  EXPECT_EQ(pods[0].name, runpod_pod_name("uid-rp", "pool-r-0"));
  EXPECT_EQ(pods[0].env.at("GPUPOOL_USER_DATA"), "am9pbiAtLXRva2VuIHMzY3IzdA==");
  EXPECT_EQ(pods[0].env.at("PUBLIC_KEY"), "ssh-ed25519 AAAA op");
  auto again = p.create(intent());
  ASSERT_TRUE(again.ok());
  EXPECT_EQ(again->provider_id, m->provider_id);
  EXPECT_EQ(emulator_.pods().size(), 1u);
  clock_.advance(seconds(41));
  auto got = p.get("uid-rp", "pool-r-0");
  ASSERT_TRUE(got.ok());
  EXPECT_EQ(got->state, MachineState::Running);
  EXPECT_FALSE(got->public_address.empty());
  for (const auto& l : log_)
    EXPECT_EQ(l.find("s3cr3t"), std::string::npos) << l;
}

TEST_F(RunpodProviderTest, FindAfterCrashWhenTheCreateAnswerWasLost) {
  RunpodProvider p(config(), short_transport_, clock_, sleeper_);
  emulator_.faults().add("create", Fault{FaultKind::LoseAnswer});
  auto m = p.create(intent());
  ASSERT_TRUE(m.ok()) << describe(m.error());  // found by name after the lost answer
  EXPECT_EQ(emulator_.requests("create"), 1);
  RunpodProvider restarted(config(), transport_, clock_, sleeper_);
  auto found = restarted.get("uid-rp", "pool-r-0");
  ASSERT_TRUE(found.ok());
  EXPECT_EQ(found->provider_id, m->provider_id);
  ASSERT_TRUE(restarted.create(intent()).ok());
  EXPECT_EQ(emulator_.pods().size(), 1u);
}

TEST_F(RunpodProviderTest, TerminateUntilNotFound) {
  RunpodProvider p(config(), transport_, clock_, sleeper_);
  auto m = p.create(intent());
  ASSERT_TRUE(m.ok());
  clock_.advance(seconds(90));
  ASSERT_TRUE(p.terminate(m->provider_id).ok());
  auto again = p.terminate(m->provider_id);
  ASSERT_FALSE(again.ok());
  EXPECT_EQ(again.error().kind, ProviderErrorKind::NotFound);
  EXPECT_EQ(p.get("uid-rp", "pool-r-0").error().kind, ProviderErrorKind::NotFound);
  EXPECT_EQ(emulator_.billed_seconds(m->provider_id), 90);
  EXPECT_TRUE(p.list({})->empty());
}

TEST_F(RunpodProviderTest, ListOnlyOwnedPodsOfThePool) {
  RunpodProvider p(config(), transport_, clock_, sleeper_);
  ASSERT_TRUE(p.create(intent("a-0", "SECURE/NVIDIA L40")).ok());
  InstanceIntent other = intent("b-0", "SECURE/NVIDIA L40");
  other.pool_uid = "uid-other";
  ASSERT_TRUE(p.create(other).ok());
  MachineFilter f;
  f.pool_uid = "uid-rp";
  auto mine = p.list(f);
  ASSERT_TRUE(mine.ok());
  ASSERT_EQ(mine->size(), 1u);
  EXPECT_EQ(mine->at(0).name, "a-0");
  EXPECT_EQ(p.list({})->size(), 2u);
}

TEST_F(RunpodProviderTest, NoCapacityFromTheDetailText) {
  RunpodProvider p(config(), transport_, clock_, sleeper_);
  ASSERT_TRUE(p.create(intent("a-0")).ok());
  ASSERT_TRUE(p.create(intent("a-1")).ok());
  auto full = p.create(intent("a-2"));
  ASSERT_FALSE(full.ok());
  EXPECT_EQ(full.error().kind, ProviderErrorKind::NoCapacity);
  EXPECT_EQ(emulator_.requests("create"), 3);
  InstanceIntent bad = intent("x");
  bad.offer.id = "SECURE/NVIDIA H9000";
  EXPECT_EQ(p.create(bad).error().kind, ProviderErrorKind::InvalidRequest);
  bad.offer.id = "garbage";
  EXPECT_EQ(p.create(bad).error().kind, ProviderErrorKind::InvalidRequest);
}

TEST_F(RunpodProviderTest, Any400Or403OnCreateMeansTryAnotherOffer) {
  // createPod (v2): BadRequestError and ForbiddenError are about this
  // request's shape, not the key: the caller moves on to the next candidate.
  RunpodProvider p(config(), transport_, clock_, sleeper_);
  auto refused = p.create(intent("r-0", "SECURE/NVIDIA RTX A6000"));
  ASSERT_FALSE(refused.ok());
  EXPECT_EQ(refused.error().kind, ProviderErrorKind::NoCapacity) << describe(refused.error());
  auto forbidden = p.create(intent("r-1", "SECURE/NVIDIA A40"));
  ASSERT_FALSE(forbidden.ok());
  EXPECT_EQ(forbidden.error().kind, ProviderErrorKind::NoCapacity) << describe(forbidden.error());
  EXPECT_EQ(emulator_.requests("create"), 2);  // neither is retried
  EXPECT_TRUE(p.create(intent("r-2")).ok());
}

// A full data center is listed with availability NONE: its offer stays, with
// capacity_hint 0, beside the data centers that still have room; a shape
// no machine has is no offer at all.
TEST_F(RunpodProviderTest, AFullDataCenterHasCapacityHintZero) {
  RunpodProvider p(config(), transport_, clock_, sleeper_);
  ASSERT_TRUE(p.create(intent("full-0")).ok());  // US-TX-3 has 2 secure GPUs
  ASSERT_TRUE(p.create(intent("full-1")).ok());
  OfferQuery q;
  q.gpu_models = {"L40S"};
  q.include_community = false;
  q.max_gpu_count = 1;
  auto offers = p.offers(q);
  ASSERT_TRUE(offers.ok()) << describe(offers.error());
  ASSERT_EQ(offers->size(), 3u);
  for (const auto& o : *offers)
    EXPECT_EQ(o.capacity_hint, o.region == "US-TX-3" ? 0 : -1) << o.region;
  q.min_gpu_count = q.max_gpu_count = 3;  // more than any data center has free
  offers = p.offers(q);
  ASSERT_TRUE(offers.ok());
  ASSERT_EQ(offers->size(), 3u);
  for (const auto& o : *offers)
    EXPECT_EQ(o.capacity_hint, 0) << o.region;
  q.min_gpu_count = q.max_gpu_count = 8;  // no L40S machine has 8 GPUs
  offers = p.offers(q);
  ASSERT_TRUE(offers.ok());
  EXPECT_TRUE(offers->empty());
}

// RunpodConfig::min_cuda_version scopes the catalog's stock to hosts the pod
// may run on: above every host's CUDA, nothing is offered.
TEST_F(RunpodProviderTest, TheCudaFloorScopesTheCatalog) {
  RunpodConfig c = config();
  c.min_cuda_version = "12.4";
  OfferQuery q;
  q.gpu_models = {"L40S"};
  q.max_gpu_count = 1;
  auto offers = RunpodProvider(c, transport_, clock_, sleeper_).offers(q);
  ASSERT_TRUE(offers.ok()) << describe(offers.error());
  EXPECT_EQ(offers->size(), 6u);
  c.min_cuda_version = "13.0";  // the emulator's hosts run CUDA 12.8
  offers = RunpodProvider(c, transport_, clock_, sleeper_).offers(q);
  ASSERT_TRUE(offers.ok()) << describe(offers.error());
  EXPECT_TRUE(offers->empty());
}

TEST_F(RunpodProviderTest, RateLimitHonoursRetryAfterAndRecovers) {
  RunpodProvider p(config(), transport_, clock_, sleeper_);
  emulator_.faults().add("list", Fault{FaultKind::Throttle, {}, seconds(12)}, 2);
  auto l = p.list({});
  ASSERT_TRUE(l.ok()) << describe(l.error());
  EXPECT_EQ(emulator_.requests("list"), 3);
  ASSERT_EQ(sleeper_.waits().size(), 2u);
  EXPECT_GE(sleeper_.waits()[0], std::chrono::milliseconds(12'000));
  // A throttled create (the POST was refused, not processed) is retried too.
  emulator_.faults().add("create", Fault{FaultKind::Throttle, {}, seconds(1)});
  ASSERT_TRUE(p.create(intent()).ok());
  EXPECT_EQ(emulator_.pods().size(), 1u);
  emulator_.faults().add("list", Fault{FaultKind::Throttle, {}, seconds(3600)});
  auto limited = p.list({});
  ASSERT_FALSE(limited.ok());
  EXPECT_EQ(limited.error().kind, ProviderErrorKind::RateLimited);
  EXPECT_EQ(limited.error().retry_after, std::chrono::milliseconds(3'600'000));
}

TEST(RunpodRateLimit, ParsesTheDraftHeader) {
  EXPECT_EQ(
      runpod_rate_limit_wait(R"("minute";r=0;t=12, "hour";r=2800;t=1812, "day";r=49500;t=45012)"),
      net::Millis(12'000));
  EXPECT_EQ(runpod_rate_limit_wait(R"("minute";r=0;t=12, "hour";r=0;t=1812)"),
            net::Millis(1'812'000));
  EXPECT_FALSE(runpod_rate_limit_wait(R"("minute";r=5;t=12)"));
  EXPECT_FALSE(runpod_rate_limit_wait(""));
  EXPECT_FALSE(runpod_rate_limit_wait("garbage;;;r=;t=x"));
}

TEST(RunpodRateLimit, A429WithoutRetryAfterWaitsForTheExhaustedWindow) {
  FakeClock clock(Time(std::chrono::seconds(1'800'000'000)));
  net::FakeSleeper sleeper(&clock);
  net::FakeTransport transport;
  transport.push(net::make_response(429, R"({"title":"Too Many Requests","status":429})",
                                    {{"RateLimit", R"("minute";r=0;t=9, "hour";r=10;t=100)"}}));
  transport.push(net::make_response(200, R"({"pods":[]})"));
  RunpodConfig c;
  c.endpoint = "https://api.example";
  c.api_key = "k";
  RunpodProvider p(c, transport, clock, sleeper);
  ASSERT_TRUE(p.list({}).ok());
  ASSERT_EQ(sleeper.waits().size(), 1u);
  EXPECT_GE(sleeper.waits()[0], net::Millis(9000));
}

TEST_F(RunpodProviderTest, GarbledAnswersAreKnownKinds) {
  RunpodProvider p(config(), transport_, clock_, sleeper_);
  emulator_.faults().add("list", Fault{FaultKind::Garbled});
  auto l = p.list({});
  ASSERT_FALSE(l.ok());
  EXPECT_EQ(l.error().kind, ProviderErrorKind::Transient);
  emulator_.faults().add("prices", Fault{FaultKind::Garbled});
  EXPECT_EQ(p.offers({}).error().kind, ProviderErrorKind::Transient);
  emulator_.faults().add("create", Fault{FaultKind::Garbled});
  auto c = p.create(intent());  // 201 with garbage: nothing was created, lookup finds nothing
  ASSERT_FALSE(c.ok());
  EXPECT_EQ(c.error().kind, ProviderErrorKind::Transient);
  emulator_.faults().add("delete", Fault{FaultKind::GarbledError}, 3);
  auto d = p.terminate("pod1");
  ASSERT_FALSE(d.ok());
  EXPECT_EQ(d.error().kind, ProviderErrorKind::Transient);
}

InstanceIntent endpoint(InstanceIntent i) {
  i.user_data.clear();  // Endpoint mode: no Node bootstrap
  i.container.image = "vllm/vllm-openai:v0.6.3";
  i.container.port = 8000;
  i.container.args = {"--model", "meta-llama/Llama-3.1-8B-Instruct", "--served-model-name",
                      "llama 8b"};
  i.container.env = {{"HF_TOKEN", "hf_s3cr3t"}, {"VLLM_LOGGING_LEVEL", "INFO"}};
  return i;
}

TEST_F(RunpodProviderTest, EndpointPodRunsTheContainerWithItsTcpPortEnvAndArgs) {
  RunpodProvider p(config(), transport_, clock_, sleeper_);
  auto m = p.create(endpoint(intent()));
  ASSERT_TRUE(m.ok()) << describe(m.error());
  EXPECT_EQ(m->public_port, 0);  // provisioning: not mapped yet
  auto pods = emulator_.pods();
  ASSERT_EQ(pods.size(), 1u);
  EXPECT_EQ(pods[0].image, "vllm/vllm-openai:v0.6.3");
  EXPECT_EQ(pods[0].ports, (std::vector<std::string>{"22/tcp", "8000/tcp"}));
  EXPECT_EQ(pods[0].args,
            "--model meta-llama/Llama-3.1-8B-Instruct --served-model-name 'llama 8b'");
  EXPECT_EQ(pods[0].env.at("HF_TOKEN"), "hf_s3cr3t");
  EXPECT_EQ(pods[0].env.at("VLLM_LOGGING_LEVEL"), "INFO");
  EXPECT_EQ(pods[0].env.at("GPUPOOL_INSTANCE"), "pool-r-0");
  EXPECT_EQ(pods[0].env.at("GPUPOOL_ENDPOINT_PORT"), "8000");
  EXPECT_EQ(pods[0].env.count("GPUPOOL_USER_DATA"), 0u);
  EXPECT_EQ(pods[0].disk, 50);  // the adapter's setting: the pool named none
  expect_not_logged("hf_s3cr3t");
}

TEST_F(RunpodProviderTest, ThePoolsContainerDiskSizesThePod) {
  RunpodProvider p(config(), transport_, clock_, sleeper_);
  InstanceIntent i = endpoint(intent());
  i.container.disk_gb = 200;
  ASSERT_TRUE(p.create(i).ok());
  auto pods = emulator_.pods();
  ASSERT_EQ(pods.size(), 1u);
  EXPECT_EQ(pods[0].disk, 200);
}

TEST_F(RunpodProviderTest, EndpointAddressIsThePublicMappingOfTheContainerPort) {
  RunpodProvider p(config(), transport_, clock_, sleeper_);
  ASSERT_TRUE(p.create(endpoint(intent())).ok());
  auto pending = p.get("uid-rp", "pool-r-0");
  ASSERT_TRUE(pending.ok());
  EXPECT_EQ(pending->public_port, 0);
  EXPECT_EQ(pending->public_address, "");
  clock_.advance(seconds(41));
  auto pod = emulator_.pods().at(0);
  int mapped = emulators::RunpodEmulator::public_port_of(pod, 8000);
  ASSERT_NE(mapped, 0);
  ASSERT_NE(mapped, emulators::RunpodEmulator::public_port_of(pod, 22));
  auto running = p.get("uid-rp", "pool-r-0");
  ASSERT_TRUE(running.ok());
  EXPECT_EQ(running->state, MachineState::Running);
  EXPECT_EQ(running->public_address, pod.public_ip);
  EXPECT_EQ(running->public_port, mapped);
  auto listed = p.list({});
  ASSERT_TRUE(listed.ok());
  ASSERT_EQ(listed->size(), 1u);
  EXPECT_EQ(listed->at(0).public_port, mapped);
}

TEST_F(RunpodProviderTest, NodePodsReportNoPublicPort) {
  RunpodProvider p(config(), transport_, clock_, sleeper_);
  ASSERT_TRUE(p.create(intent()).ok());
  clock_.advance(seconds(41));
  auto m = p.get("uid-rp", "pool-r-0");
  ASSERT_TRUE(m.ok());
  EXPECT_FALSE(m->public_address.empty());  // ssh.direct
  EXPECT_EQ(m->public_port, 0);
  EXPECT_EQ(emulator_.pods().at(0).ports, (std::vector<std::string>{"22/tcp"}));
}

TEST_F(RunpodProviderTest, ContainerItCannotCarryIsInvalidBeforeAnyRequest) {
  RunpodProvider p(config(), transport_, clock_, sleeper_);
  InstanceIntent both = endpoint(intent());
  both.user_data = "join";
  InstanceIntent reserved = endpoint(intent());
  reserved.container.env["GPUPOOL_INSTANCE"] = "other";
  InstanceIntent nul = endpoint(intent());
  nul.container.args.push_back(std::string("a\0b", 3));
  for (const auto& i : {both, reserved, nul}) {
    auto r = p.create(i);
    ASSERT_FALSE(r.ok());
    EXPECT_EQ(r.error().kind, ProviderErrorKind::InvalidRequest) << r.error().message;
  }
  EXPECT_EQ(emulator_.requests(), 0);
}

}  // namespace
}  // namespace gpupool::runpod
