// The Scaleway adapter against the Scaleway emulator over loopback.
#include "providers/scaleway/scaleway_provider.h"

#include <gtest/gtest.h>

#include "providers/http/curl_transport.h"
#include "tests/emulators/common/adapter_fixture.h"
#include "tests/emulators/scaleway/scaleway_emulator.h"

namespace gpupool::scaleway {
namespace {

using emulators::Fault;
using emulators::FaultKind;
using std::chrono::seconds;

class ScwProviderTest
    : public emulators::AdapterTest<emulators::ScwEmulator, emulators::ScwEmulatorOptions> {
 protected:
  ScwProviderTest()
      : AdapterTest(Time(std::chrono::sys_days(std::chrono::year(2026) / 11 / 20)),
                    [](emulators::ScwEmulatorOptions& o) {
                      o.types = {{"L40S-1-48G", "L40S", 1, 1.40, {{"fr-par-2", 1}}},
                                 {"L40S-2-48G", "L40S", 2, 2.80, {{"fr-par-2", 0}}},
                                 {"H100-1-80G", "H100", 1, 2.73, {{"fr-par-2", -1}}},
                                 {"PRO2-S", "", 0, 0.22, {{"fr-par-2", -1}}}};
                      o.max_per_page = 2;
                    }) {}

  ScwConfig config() {
    auto c = adapter_config<ScwConfig>("scw-main", 3);
    c.secret_key = "scw-test-secret";
    c.project_id = "proj-1";
    c.page_size = 2;
    return c;
  }

  InstanceIntent intent(std::string name = "pool-s-0") {
    return emulators::l40s_intent(std::move(name), "uid-scw", "L40S-1-48G", "fr-par-2",
                                  Money::from_cents(140),
                                  "#cloud-config\nruncmd: [join --token scwj01n]\n");
  }
};

TEST(ScwNames, GpuFromType) {
  auto a = gpu_from_type("L40S-1-48G");
  ASSERT_TRUE(a.has_value());
  EXPECT_EQ(a->model, "L40S");
  EXPECT_EQ(a->count, 1);
  EXPECT_EQ(gpu_from_type("H100-2-80G")->count, 2);
  EXPECT_FALSE(gpu_from_type("PRO2-S").has_value());
  EXPECT_FALSE(gpu_from_type("GP1-XS").has_value());
  EXPECT_FALSE(gpu_from_type("").has_value());
}

TEST(ScwErrors, TypesMapToKinds) {
  auto kind = [](int status, std::string_view body) {
    return map_scw_error(status, body, net::Millis(0)).kind;
  };
  EXPECT_EQ(kind(401, R"({"type":"denied_authentication","message":"x"})"),
            ProviderErrorKind::Unauthorized);
  EXPECT_EQ(kind(404, R"({"type":"unknown_resource","message":"x"})"), ProviderErrorKind::NotFound);
  EXPECT_EQ(kind(412, R"({"type":"out_of_stock","message":"x"})"), ProviderErrorKind::NoCapacity);
  EXPECT_EQ(kind(403, R"({"type":"quotas_exceeded","message":"x"})"),
            ProviderErrorKind::QuotaExceeded);
  EXPECT_EQ(kind(400, R"({"type":"invalid_arguments","message":"x"})"),
            ProviderErrorKind::InvalidRequest);
  EXPECT_EQ(kind(502, "<html>"), ProviderErrorKind::Transient);
}

TEST_F(ScwProviderTest, OffersSkipShortageAndCpuTypes) {
  ScwProvider p(config(), transport_, clock_, sleeper_);
  OfferQuery q;
  q.gpu_models = {"L40S", "L40"};
  auto offers = p.offers(q);
  ASSERT_TRUE(offers.ok()) << describe(offers.error());
  ASSERT_EQ(offers->size(), 1u);  // L40S-2-48G is in shortage
  EXPECT_EQ(offers->at(0).id, "L40S-1-48G");
  EXPECT_EQ(offers->at(0).region, "fr-par-2");
  EXPECT_EQ(offers->at(0).price_per_hour, Money::from_cents(140));
  q.gpu_models = {};
  EXPECT_EQ(p.offers(q)->size(), 2u);
  q.regions = {"nl-ams-1"};
  EXPECT_TRUE(p.offers(q)->empty());
}

TEST_F(ScwProviderTest, CreatePowersOnGetListTerminate) {
  ScwProvider p(config(), transport_, clock_, sleeper_);
  auto m = p.create(intent());
  ASSERT_TRUE(m.ok()) << describe(m.error());
  EXPECT_EQ(m->state, MachineState::Pending);
  auto s = emulator_.servers();
  ASSERT_EQ(s.size(), 1u);
  EXPECT_EQ(s[0].state, "starting");
  EXPECT_EQ(s[0].cloud_init, "#cloud-config\nruncmd: [join --token scwj01n]\n");
  EXPECT_EQ(m->provider_id, "fr-par-2/" + s[0].id);
  auto again = p.create(intent());
  ASSERT_TRUE(again.ok());
  EXPECT_EQ(again->provider_id, m->provider_id);
  EXPECT_EQ(emulator_.requests("create"), 1);
  EXPECT_EQ(emulator_.requests("action"), 1);
  clock_.advance(seconds(61));
  auto got = p.get("uid-scw", "pool-s-0");
  ASSERT_TRUE(got.ok()) << describe(got.error());
  EXPECT_EQ(got->state, MachineState::Running);
  EXPECT_EQ(got->gpu_model, "L40S");
  EXPECT_FALSE(got->public_address.empty());
  MachineFilter f;
  f.pool_uid = "uid-scw";
  ASSERT_EQ(p.list(f)->size(), 1u);
  EXPECT_EQ(p.list(f)->at(0).name, "pool-s-0");
  ASSERT_TRUE(p.terminate(m->provider_id).ok());
  ASSERT_TRUE(p.terminate(m->provider_id).ok());  // already stopping
  EXPECT_EQ(p.get("uid-scw", "pool-s-0")->state, MachineState::Terminating);
  clock_.advance(seconds(31));
  auto gone = p.terminate(m->provider_id);
  ASSERT_FALSE(gone.ok());
  EXPECT_EQ(gone.error().kind, ProviderErrorKind::NotFound);
  EXPECT_EQ(p.get("uid-scw", "pool-s-0").error().kind, ProviderErrorKind::NotFound);
  EXPECT_EQ(p.terminate("no-zone").error().kind, ProviderErrorKind::InvalidRequest);
  std::lock_guard lock(log_mu_);
  for (const auto& l : log_)
    EXPECT_EQ(l.find("scw-test-secret"), std::string::npos) << l;
}

TEST_F(ScwProviderTest, TransientStateIsRetryable) {
  // An action on a server that is starting or stopping answers 409
  // {"type":"transient_state"}: call again later.
  ScwProvider p(config(), transport_, clock_, sleeper_);
  auto m = p.create(intent());
  ASSERT_TRUE(m.ok()) << describe(m.error());
  auto busy = p.terminate(m->provider_id);  // still starting
  ASSERT_FALSE(busy.ok());
  EXPECT_EQ(busy.error().kind, ProviderErrorKind::Transient) << describe(busy.error());
  EXPECT_EQ(map_scw_error(409, R"({"type":"transient_state","message":"x"})", net::Millis(0)).kind,
            ProviderErrorKind::Transient);
  clock_.advance(seconds(61));
  EXPECT_TRUE(p.terminate(m->provider_id).ok());
}

TEST_F(ScwProviderTest, TerminatingAStoppedServerDeletesItAndItsVolumes) {
  // A crash between "create" and "poweron" leaves a stopped server, which
  // the terminate action refuses: delete the server, then its volumes.
  ScwProvider p(config(), transport_, clock_, sleeper_);
  emulator_.faults().add("action", Fault{FaultKind::ServerError}, 5);
  ASSERT_FALSE(p.create(intent()).ok());
  emulator_.faults().clear();
  ASSERT_EQ(emulator_.servers().size(), 1u);
  ASSERT_EQ(emulator_.servers()[0].state, "stopped");
  ASSERT_EQ(emulator_.volumes().size(), 1u);
  auto listed = p.list({});
  ASSERT_TRUE(listed.ok()) << describe(listed.error());
  ASSERT_EQ(listed->size(), 1u);
  const std::string id = listed->at(0).provider_id;
  auto t = p.terminate(id);
  ASSERT_TRUE(t.ok()) << describe(t.error());
  EXPECT_TRUE(emulator_.servers().empty());
  EXPECT_TRUE(emulator_.volumes().empty());
  auto again = p.terminate(id);
  ASSERT_FALSE(again.ok());
  EXPECT_EQ(again.error().kind, ProviderErrorKind::NotFound);
}

TEST_F(ScwProviderTest, ListPagesThroughEveryServer) {
  emulator_.set_capacity("L40S-1-48G", "fr-par-2", -1);
  ScwProvider p(config(), transport_, clock_, sleeper_);
  for (int i = 0; i < 5; ++i)
    ASSERT_TRUE(p.create(intent("m-" + std::to_string(i))).ok());
  const int before = emulator_.requests("list");
  auto all = p.list({});
  ASSERT_TRUE(all.ok()) << describe(all.error());
  EXPECT_EQ(all->size(), 5u);
  EXPECT_EQ(emulator_.requests("list") - before, 3);
}

TEST_F(ScwProviderTest, FindAfterLostCreateAnswerAndFinishStart) {
  emulator_.set_capacity("L40S-1-48G", "fr-par-2", -1);
  ScwProvider p(config(), short_transport_, clock_, sleeper_);
  emulator_.faults().add("create", Fault{FaultKind::LoseAnswer});
  auto m = p.create(intent());
  ASSERT_TRUE(m.ok()) << describe(m.error());
  EXPECT_EQ(emulator_.servers().at(0).state, "starting");
  // A crash between create and poweron: the next create() finishes the job.
  ScwProvider q(config(), transport_, clock_, sleeper_);
  emulator_.faults().add("action", Fault{FaultKind::ServerError});  // poweron is not retried
  auto half = q.create(intent("pool-s-1"));
  ASSERT_FALSE(half.ok());
  EXPECT_EQ(half.error().kind, ProviderErrorKind::Transient);
  ASSERT_EQ(emulator_.servers().size(), 2u);
  EXPECT_EQ(emulator_.servers().at(1).state, "stopped");
  auto done = q.create(intent("pool-s-1"));
  ASSERT_TRUE(done.ok()) << describe(done.error());
  EXPECT_EQ(emulator_.servers().at(1).state, "starting");
  EXPECT_EQ(emulator_.servers().size(), 2u);
  EXPECT_EQ(emulator_.requests("create"), 2);
}

TEST_F(ScwProviderTest, OutOfStockIsNoCapacity) {
  ScwProvider p(config(), transport_, clock_, sleeper_);
  ASSERT_TRUE(p.create(intent("a-0")).ok());
  auto full = p.create(intent("a-1"));
  ASSERT_FALSE(full.ok());
  EXPECT_EQ(full.error().kind, ProviderErrorKind::NoCapacity);
  EXPECT_EQ(emulator_.requests("create"), 2);
}

}  // namespace
}  // namespace gpupool::scaleway
