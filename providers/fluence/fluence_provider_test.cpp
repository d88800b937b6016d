// The Fluence adapter against the Fluence GPU Cloud emulator over loopback.
#include "providers/fluence/fluence_provider.h"

#include <gtest/gtest.h>

#include "providers/http/curl_transport.h"
#include "tests/emulators/common/adapter_fixture.h"
#include "tests/emulators/fluence/fluence_emulator.h"

namespace gpupool::fluence {
namespace {

using emulators::Fault;
using emulators::FaultKind;
using std::chrono::seconds;

class FluenceProviderTest
    : public emulators::AdapterTest<emulators::FluenceEmulator, emulators::FluenceEmulatorOptions> {
 protected:
  FluenceProviderTest()
      : AdapterTest(Time(std::chrono::sys_days(std::chrono::year(2026) / 2 / 9)) +
                        std::chrono::hours(15) + std::chrono::minutes(40),
                    [](emulators::FluenceEmulatorOptions& o) {
                      o.plans = {{"plan-l40s-1", "l40s", 1, "us-central-3", "massed-compute",
                                  Money::parse("1.07").value(), 2},
                                 {"plan-l40s-2", "l40s", 2, "culpeper-usa-1", "sesterce",
                                  Money::parse("2.10").value(), -1},
                                 {"plan-l40-1", "l40", 1, "us-central-3", "massed-compute",
                                  Money::parse("0.89").value(), -1},
                                 {"plan-a100-1", "a100", 1, "us-central-3", "massed-compute",
                                  Money::parse("1.50").value(), -1},
                                 // An option that offers only a CUDA image (real name).
                                 {"plan-l40s-cuda",
                                  "l40s",
                                  1,
                                  "helsinki-fi-1",
                                  "shade",
                                  Money::parse("0.99").value(),
                                  -1,
                                  {"ubuntu22.04_cuda12.4_shade_os"}},
                                 {"plan-l40s-both",
                                  "l40s",
                                  1,
                                  "culpeper-usa-1",
                                  "sesterce",
                                  Money::parse("1.20").value(),
                                  -1,
                                  {"Ubuntu Server 22.04", "ubuntu22.04_cuda12.4_shade_os"}}};
                    }) {}

  FluenceConfig config() {
    auto c = adapter_config<FluenceConfig>("fluence-main", 3);
    c.api_key = "fluence-test-key";
    return c;
  }

  InstanceIntent intent(std::string name = "pool-a-0", std::string plan = "plan-l40s-1") {
    InstanceIntent i = emulators::l40s_intent(std::move(name), "2b7c3c8e-uid", std::move(plan),
                                              "us-central-3", Money::parse("1.07").value(), "");
    i.pool_namespace = "ml";
    i.pool_name = "pool-a";
    i.ssh_public_key = "ssh-ed25519 AAAAC3Nza operator@gpupool";
    return i;
  }
};

TEST(FluenceNames, EncodedNameFollowsFluenceRules) {
  std::string n = fluence_vm_name("2b7c3c8e-uid", "pool-a-0");
  EXPECT_EQ(n.size(), 24u);
  EXPECT_TRUE(n.starts_with(fluence_pool_prefix("2b7c3c8e-uid")));
  for (char c : n)
    EXPECT_TRUE((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-');
  EXPECT_NE(n, fluence_vm_name("2b7c3c8e-uid", "pool-a-1"));
  EXPECT_NE(n, fluence_vm_name("other-uid", "pool-a-0"));
  EXPECT_EQ(n, fluence_vm_name("2b7c3c8e-uid", "pool-a-0"));
  EXPECT_EQ(canonical_gpu_model("l40s"), "L40S");
}

TEST_F(FluenceProviderTest, OffersFlattenPlansFilteredByModelCountAndLocation) {
  FluenceProvider p(config(), transport_, clock_, sleeper_);
  OfferQuery q;
  q.gpu_models = {"L40S", "L40"};
  auto offers = p.offers(q);
  ASSERT_TRUE(offers.ok()) << describe(offers.error());
  ASSERT_EQ(offers->size(), 5u);
  const Offer* one = nullptr;
  for (const auto& o : *offers) {
    if (o.id == "plan-l40s-1") one = &o;
  }
  ASSERT_NE(one, nullptr);
  EXPECT_EQ(one->gpu_model, "L40S");
  EXPECT_EQ(one->gpu_count, 1);
  EXPECT_EQ(one->region, "us-central-3");
  EXPECT_EQ(one->price_per_hour, Money::parse("1.07").value());
  EXPECT_EQ(one->billing.minimum, Duration(3 * 3600));
  EXPECT_EQ(one->provider_type, "fluence");
  q.max_gpu_count = 1;
  q.regions = {"us-central-3"};
  EXPECT_EQ(p.offers(q)->size(), 2u);
}

TEST_F(FluenceProviderTest, CreateGetAndIdempotentRepeat) {
  FluenceProvider p(config(), transport_, clock_, sleeper_);
  auto m = p.create(intent());
  ASSERT_TRUE(m.ok()) << describe(m.error());
  EXPECT_EQ(m->state, MachineState::Pending);
  EXPECT_EQ(m->name, "pool-a-0");
  EXPECT_EQ(m->pool_uid(), "2b7c3c8e-uid");
  EXPECT_EQ(m->price_per_hour, Money::parse("1.07").value());
  auto vms = emulator_.vms();
  ASSERT_EQ(vms.size(), 1u);
  EXPECT_EQ(vms[0].name, fluence_vm_name("2b7c3c8e-uid", "pool-a-0"));
  EXPECT_EQ(vms[0].ssh_key, "ssh-ed25519 AAAAC3Nza operator@gpupool");

  auto again = p.create(intent());
  ASSERT_TRUE(again.ok());
  EXPECT_EQ(again->provider_id, m->provider_id);
  EXPECT_EQ(emulator_.vms().size(), 1u);
  EXPECT_EQ(emulator_.requests("create"), 1);

  clock_.advance(seconds(151));
  auto got = p.get("2b7c3c8e-uid", "pool-a-0");
  ASSERT_TRUE(got.ok());
  EXPECT_EQ(got->state, MachineState::Running);
  EXPECT_EQ(got->gpu_model, "L40S");
  EXPECT_FALSE(got->public_address.empty());
  EXPECT_EQ(p.get("2b7c3c8e-uid", "nope").error().kind, ProviderErrorKind::NotFound);
}

TEST_F(FluenceProviderTest, FindAfterCrashWhenTheDeployAnswerWasLost) {
  {
    FluenceProvider p(config(), short_transport_, clock_, sleeper_);
    emulator_.faults().add("create", Fault{FaultKind::LoseAnswer});
    auto m = p.create(intent());
    // The adapter looks the name up after the ambiguous failure and finds it.
    ASSERT_TRUE(m.ok()) << describe(m.error());
    EXPECT_EQ(emulator_.vms().size(), 1u);
    EXPECT_EQ(emulator_.requests("create"), 1);  // a non-idempotent POST is never blindly re-sent
  }
  // After a restart a new adapter finds the VM by its encoded name, and a
  // repeated create returns it instead of buying another.
  FluenceProvider restarted(config(), transport_, clock_, sleeper_);
  auto found = restarted.get("2b7c3c8e-uid", "pool-a-0");
  ASSERT_TRUE(found.ok());
  auto again = restarted.create(intent());
  ASSERT_TRUE(again.ok());
  EXPECT_EQ(again->provider_id, found->provider_id);
  EXPECT_EQ(emulator_.vms().size(), 1u);
  EXPECT_EQ(emulator_.requests("create"), 1);
}

TEST_F(FluenceProviderTest, LostAnswerWithFailedLookupIsTransientThenRecovered) {
  FluenceProvider p(config(), short_transport_, clock_, sleeper_);
  // 1st list (pre-check) fine, POST answer lost, 2nd list (lookup) fails 3x.
  emulator_.faults().add("create", Fault{FaultKind::LoseAnswer});
  // The pre-check list passes (a zero-delay Slow fault), the lookup after
  // the lost answer fails with server errors on every attempt.
  emulator_.faults().add("list", Fault{FaultKind::Slow, std::chrono::milliseconds(0)});
  emulator_.faults().add("list", Fault{FaultKind::ServerError}, 3);
  auto m = p.create(intent());
  ASSERT_FALSE(m.ok());
  EXPECT_EQ(m.error().kind, ProviderErrorKind::Transient);
  EXPECT_EQ(emulator_.vms().size(), 1u);
  auto again = p.create(intent());
  ASSERT_TRUE(again.ok()) << describe(again.error());
  EXPECT_EQ(emulator_.vms().size(), 1u);
  EXPECT_EQ(again->provider_id, emulator_.vms()[0].id);
}

TEST_F(FluenceProviderTest, TerminateWaitsOutInitializedAndTreatsEndedAsGone) {
  FluenceProvider p(config(), transport_, clock_, sleeper_);
  auto m = p.create(intent());
  ASSERT_TRUE(m.ok());
  auto early = p.terminate(m->provider_id);
  ASSERT_FALSE(early.ok());
  EXPECT_EQ(early.error().kind, ProviderErrorKind::Transient);
  EXPECT_NE(early.error().message.find("INITIALIZED"), std::string::npos);
  EXPECT_EQ(emulator_.requests("delete"), 0);

  clock_.advance(seconds(150));
  ASSERT_TRUE(p.terminate(m->provider_id).ok());
  EXPECT_EQ(emulator_.requests("delete"), 1);
  auto gone = p.terminate(m->provider_id);
  ASSERT_FALSE(gone.ok());
  EXPECT_EQ(gone.error().kind, ProviderErrorKind::NotFound);
  EXPECT_EQ(emulator_.requests("delete"), 1);  // never a DELETE on an ENDED VM
  EXPECT_EQ(p.get("2b7c3c8e-uid", "pool-a-0")->state, MachineState::Terminated);
  EXPECT_EQ(p.terminate("no-such-vm").error().kind, ProviderErrorKind::NotFound);
  // 15:40 -> 15:42:30: one clock hour charged.
  EXPECT_EQ(emulator_.charged_hours(m->provider_id), 1);
  EXPECT_TRUE(p.list({})->empty());
  MachineFilter all;
  all.include_terminated = true;
  EXPECT_EQ(p.list(all)->size(), 1u);
}

TEST_F(FluenceProviderTest, FailedBootIsGone) {
  FluenceProvider p(config(), transport_, clock_, sleeper_);
  emulator_.fail_next_boots(1);
  auto m = p.create(intent());
  ASSERT_TRUE(m.ok());
  clock_.advance(seconds(200));
  EXPECT_EQ(p.get("2b7c3c8e-uid", "pool-a-0")->state, MachineState::Failed);
  EXPECT_EQ(p.terminate(m->provider_id).error().kind, ProviderErrorKind::NotFound);
  // A new create for the same intent buys a fresh VM (the failed one is gone).
  auto again = p.create(intent());
  ASSERT_TRUE(again.ok());
  EXPECT_NE(again->provider_id, m->provider_id);
}

TEST_F(FluenceProviderTest, ListFiltersByOperatorIdentityAndPool) {
  FluenceProvider p(config(), transport_, clock_, sleeper_);
  ASSERT_TRUE(p.create(intent("a-0", "plan-l40-1")).ok());
  InstanceIntent other = intent("b-0", "plan-l40-1");
  other.pool_uid = "other-pool";
  ASSERT_TRUE(p.create(other).ok());
  MachineFilter f;
  f.pool_uid = "2b7c3c8e-uid";
  auto mine = p.list(f);
  ASSERT_TRUE(mine.ok());
  ASSERT_EQ(mine->size(), 1u);
  EXPECT_EQ(mine->at(0).pool_uid(), "2b7c3c8e-uid");
  EXPECT_EQ(p.list({})->size(), 2u);
}

TEST_F(FluenceProviderTest, PlanNoLongerAvailableIsNoCapacity) {
  FluenceProvider p(config(), transport_, clock_, sleeper_);
  ASSERT_TRUE(p.create(intent("a-0")).ok());
  ASSERT_TRUE(p.create(intent("a-1")).ok());
  auto full = p.create(intent("a-2"));  // capacity 2
  ASSERT_FALSE(full.ok());
  EXPECT_EQ(full.error().kind, ProviderErrorKind::NoCapacity);
  EXPECT_NE(full.error().message.find("no longer available"), std::string::npos);
  EXPECT_EQ(emulator_.requests("create"), 3);
  emulator_.faults().add("create", Fault{FaultKind::NoCapacity});
  EXPECT_EQ(p.create(intent("x-0", "plan-l40-1")).error().kind, ProviderErrorKind::NoCapacity);
}

TEST_F(FluenceProviderTest, CreatePicksAnImageTheOptionLists) {
  // Each option lists its own os_options; Fluence refuses any other image.
  FluenceProvider p(config(), transport_, clock_, sleeper_);
  ASSERT_TRUE(p.offers({}).ok());
  auto cuda_only = p.create(intent("pool-a-c", "plan-l40s-cuda"));
  ASSERT_TRUE(cuda_only.ok()) << describe(cuda_only.error());
  // Where both are listed, the CUDA image is preferred.
  auto both = p.create(intent("pool-a-b", "plan-l40s-both"));
  ASSERT_TRUE(both.ok()) << describe(both.error());
  // Without a prior offers() call the adapter reads the plan's list itself.
  FluenceProvider fresh(config(), transport_, clock_, sleeper_);
  auto plain = fresh.create(intent("pool-a-p", "plan-l40s-1"));
  ASSERT_TRUE(plain.ok()) << describe(plain.error());
  std::map<std::string, std::string> os_by_plan;
  for (const auto& vm : emulator_.vms())
    os_by_plan[vm.plan_id] = vm.os_image;
  EXPECT_EQ(os_by_plan["plan-l40s-cuda"], "ubuntu22.04_cuda12.4_shade_os");
  EXPECT_EQ(os_by_plan["plan-l40s-both"], "ubuntu22.04_cuda12.4_shade_os");
  EXPECT_EQ(os_by_plan["plan-l40s-1"], "Ubuntu Server 22.04");
}

TEST_F(FluenceProviderTest, ConfiguredImageIsUsedWhereTheOptionListsIt) {
  FluenceConfig c = config();
  c.os_image = "Ubuntu Server 22.04";
  FluenceProvider p(c, transport_, clock_, sleeper_);
  ASSERT_TRUE(p.create(intent("pool-a-b", "plan-l40s-both")).ok());
  // Not listed by this option: the option's own (CUDA) image instead.
  ASSERT_TRUE(p.create(intent("pool-a-c", "plan-l40s-cuda")).ok());
  std::map<std::string, std::string> os_by_plan;
  for (const auto& vm : emulator_.vms())
    os_by_plan[vm.plan_id] = vm.os_image;
  EXPECT_EQ(os_by_plan["plan-l40s-both"], "Ubuntu Server 22.04");
  EXPECT_EQ(os_by_plan["plan-l40s-cuda"], "ubuntu22.04_cuda12.4_shade_os");
}

TEST_F(FluenceProviderTest, ValidationErrorsAreInvalidRequest) {
  FluenceProvider p(config(), transport_, clock_, sleeper_);
  InstanceIntent bad_image = intent();
  bad_image.image = "Windows 95";
  auto r = p.create(bad_image);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().kind, ProviderErrorKind::InvalidRequest);
  EXPECT_NE(r.error().message.find("not supported"), std::string::npos);
  InstanceIntent no_key = intent();
  no_key.ssh_public_key.clear();
  EXPECT_EQ(p.create(no_key).error().kind, ProviderErrorKind::InvalidRequest);
}

TEST_F(FluenceProviderTest, ThrottlingHonoursRetryAfterAndRecovers) {
  FluenceProvider p(config(), transport_, clock_, sleeper_);
  emulator_.faults().add("plans", Fault{FaultKind::Throttle, {}, seconds(4)}, 2);
  auto offers = p.offers({});
  ASSERT_TRUE(offers.ok()) << describe(offers.error());
  EXPECT_EQ(emulator_.requests("plans"), 3);
  ASSERT_EQ(sleeper_.waits().size(), 2u);
  EXPECT_GE(sleeper_.waits()[0], std::chrono::milliseconds(4000));
  emulator_.faults().add("plans", Fault{FaultKind::Throttle, {}, seconds(600)});
  auto limited = p.offers({});
  ASSERT_FALSE(limited.ok());
  EXPECT_EQ(limited.error().kind, ProviderErrorKind::RateLimited);
  EXPECT_EQ(limited.error().retry_after, std::chrono::milliseconds(600'000));
}

TEST_F(FluenceProviderTest, GarbledAnswersAreKnownKinds) {
  FluenceProvider p(config(), transport_, clock_, sleeper_);
  emulator_.faults().add("plans", Fault{FaultKind::Garbled});
  auto r = p.offers({});
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().kind, ProviderErrorKind::Transient);
  EXPECT_NE(r.error().message.find("unreadable"), std::string::npos);
  emulator_.faults().add("list", Fault{FaultKind::Garbled});
  EXPECT_EQ(p.list({}).error().kind, ProviderErrorKind::Transient);
  emulator_.faults().add("list", Fault{FaultKind::GarbledError}, 3);
  auto g = p.list({});
  ASSERT_FALSE(g.ok());
  EXPECT_EQ(g.error().kind, ProviderErrorKind::Transient);
  EXPECT_NE(g.error().message.find("502"), std::string::npos);
  EXPECT_TRUE(p.list({}).ok());
}

TEST_F(FluenceProviderTest, AnEndpointContainerIsInvalidNamingTheMissingUserData) {
  FluenceProvider p(config(), transport_, clock_, sleeper_);
  InstanceIntent i = intent();
  i.container.image = "vllm/vllm-openai:v0.6.3";
  i.container.port = 8000;
  auto r = p.create(i);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().kind, ProviderErrorKind::InvalidRequest);
  EXPECT_NE(r.error().message.find("no user data"), std::string::npos) << r.error().message;
  EXPECT_EQ(emulator_.requests(), 0);
}

}  // namespace
}  // namespace gpupool::fluence
