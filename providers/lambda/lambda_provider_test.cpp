// The Lambda adapter against the Lambda emulator over loopback.
#include "providers/lambda/lambda_provider.h"

#include <gtest/gtest.h>

#include "providers/http/curl_transport.h"
#include "tests/emulators/common/adapter_fixture.h"
#include "tests/emulators/lambda/lambda_emulator.h"

namespace gpupool::lambda {
namespace {

using emulators::Fault;
using emulators::FaultKind;
using std::chrono::seconds;

class LambdaProviderTest
    : public emulators::AdapterTest<emulators::LambdaEmulator, emulators::LambdaEmulatorOptions> {
 protected:
  LambdaProviderTest()
      : AdapterTest(Time(std::chrono::sys_days(std::chrono::year(2026) / 8 / 22)),
                    [](emulators::LambdaEmulatorOptions& o) {
                      o.types = {
                          {"gpu_1x_l40s",
                           "L40S (48 GB PCIe)",
                           1,
                           129,
                           {{"us-east-1", 1}, {"us-west-1", 0}}},
                          {"gpu_1x_a10", "A10 (24 GB PCIe)", 1, 75, {{"us-east-1", -1}}},
                          {"gpu_8x_h100_sxm5", "H100 (80 GB SXM5)", 8, 2392, {{"us-east-1", -1}}}};
                    }) {}

  LambdaConfig config() {
    auto c = adapter_config<LambdaConfig>("lambda-main", 11);
    c.api_key = "lambda-test-key";
    c.ssh_key_name = "operator";
    return c;
  }

  InstanceIntent intent(std::string name = "pool-l-0") {
    return emulators::l40s_intent(std::move(name), "uid-lambda", "gpu_1x_l40s", "us-east-1",
                                  Money::from_cents(129),
                                  "#cloud-config\nruncmd: [join --token k33p]\n");
  }
};

TEST(LambdaNames, GpuFromDescription) {
  EXPECT_EQ(gpu_from_description("L40S (48 GB PCIe)"), "L40S");
  EXPECT_EQ(gpu_from_description("H100 (80 GB SXM5)"), "H100");
  EXPECT_EQ(gpu_from_description("A6000"), "A6000");
}

TEST_F(LambdaProviderTest, OffersOnlyRegionsWithCapacity) {
  LambdaProvider p(config(), transport_, clock_, sleeper_);
  OfferQuery q;
  q.gpu_models = {"L40S", "L40"};
  auto offers = p.offers(q);
  ASSERT_TRUE(offers.ok()) << describe(offers.error());
  ASSERT_EQ(offers->size(), 1u);
  EXPECT_EQ(offers->at(0).id, "gpu_1x_l40s");
  EXPECT_EQ(offers->at(0).region, "us-east-1");
  EXPECT_EQ(offers->at(0).price_per_hour, Money::from_cents(129));
  q.gpu_models = {};
  q.min_gpu_count = 8;
  EXPECT_EQ(p.offers(q)->size(), 1u);
}

TEST_F(LambdaProviderTest, LaunchTagsGetListTerminate) {
  LambdaProvider p(config(), transport_, clock_, sleeper_);
  auto m = p.create(intent());
  ASSERT_TRUE(m.ok()) << describe(m.error());
  EXPECT_EQ(m->state, MachineState::Pending);
  auto again = p.create(intent());
  ASSERT_TRUE(again.ok());
  EXPECT_EQ(again->provider_id, m->provider_id);
  ASSERT_EQ(emulator_.instances().size(), 1u);
  EXPECT_EQ(emulator_.instances()[0].user_data, "#cloud-config\nruncmd: [join --token k33p]\n");
  clock_.advance(seconds(121));
  auto got = p.get("uid-lambda", "pool-l-0");
  ASSERT_TRUE(got.ok());
  EXPECT_EQ(got->state, MachineState::Running);
  EXPECT_EQ(got->gpu_model, "L40S");
  EXPECT_FALSE(got->public_address.empty());
  MachineFilter f;
  f.pool_uid = "uid-lambda";
  EXPECT_EQ(p.list(f)->size(), 1u);
  ASSERT_TRUE(p.terminate(m->provider_id).ok());
  clock_.advance(seconds(31));
  auto gone = p.terminate(m->provider_id);
  ASSERT_FALSE(gone.ok());
  EXPECT_EQ(gone.error().kind, ProviderErrorKind::NotFound);
  EXPECT_EQ(p.terminate("ffff").error().kind, ProviderErrorKind::NotFound);
  EXPECT_TRUE(p.list(f)->empty());
  for (const auto& l : log_)
    EXPECT_EQ(l.find("k33p"), std::string::npos) << l;
}

TEST_F(LambdaProviderTest, InsufficientCapacityIsNoCapacity) {
  LambdaProvider p(config(), transport_, clock_, sleeper_);
  ASSERT_TRUE(p.create(intent("a-0")).ok());
  auto full = p.create(intent("a-1"));
  ASSERT_FALSE(full.ok());
  EXPECT_EQ(full.error().kind, ProviderErrorKind::NoCapacity);
  EXPECT_EQ(emulator_.requests("launch"), 2);
}

TEST_F(LambdaProviderTest, UnknownSshKeyIsInvalidRequestNotNotFound) {
  // Lambda answers a launch naming an unknown SSH key with 404
  // global/object-does-not-exist: the request is wrong, no machine is missing.
  LambdaConfig c = config();
  c.ssh_key_name = "nobody";
  LambdaProvider p(c, transport_, clock_, sleeper_);
  auto r = p.create(intent());
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().kind, ProviderErrorKind::InvalidRequest) << describe(r.error());
  EXPECT_EQ(emulator_.requests("launch"), 1);
}

TEST_F(LambdaProviderTest, PublishedRateLimitsAreKeptOnFakeTime) {
  // One request per second, one launch per 12 seconds: the adapter waits on
  // the injected sleeper (which moves the fake clock), never on real time.
  LambdaProvider p(config(), transport_, clock_, sleeper_);
  const Time start = clock_.now();
  ASSERT_TRUE(p.create(intent("a-0")).ok());
  auto second = p.create(intent("a-1"));  // capacity 1: sold out, but not throttled
  ASSERT_FALSE(second.ok());
  EXPECT_EQ(second.error().kind, ProviderErrorKind::NoCapacity) << describe(second.error());
  EXPECT_GE(clock_.now() - start, Duration(12));
  const int before = emulator_.requests();
  const Time t0 = clock_.now();
  for (int i = 0; i < 3; ++i)
    ASSERT_TRUE(p.offers({}).ok());
  EXPECT_EQ(emulator_.requests() - before, 3);
  EXPECT_GE(clock_.now() - t0, Duration(2));  // 3 requests: at least 2 s apart in total
}

}  // namespace
}  // namespace gpupool::lambda
