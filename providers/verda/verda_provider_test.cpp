// The Verda adapter against the Verda emulator over loopback.
#include "providers/verda/verda_provider.h"

#include <algorithm>

#include <gtest/gtest.h>

#include "providers/factory/adapter_table.h"
#include "providers/http/curl_transport.h"
#include "tests/emulators/common/adapter_fixture.h"
#include "tests/emulators/verda/verda_emulator.h"

namespace gpupool::verda {
namespace {

using emulators::Fault;
using emulators::FaultKind;
using std::chrono::seconds;

class VerdaProviderTest
    : public emulators::AdapterTest<emulators::VerdaEmulator, emulators::VerdaEmulatorOptions> {
 protected:
  VerdaProviderTest()
      : AdapterTest(Time(std::chrono::sys_days(std::chrono::year(2026) / 11 / 20)),
                    [](emulators::VerdaEmulatorOptions& o) {
                      o.types = {
                          {"1L40S.20V", "1x L40S 48GB", 1, 0.91, {{"FIN-03", 1}, {"ICE-01", 0}}},
                          {"8H100.80S.176V", "8x H100 SXM5 80GB", 8, 19.92, {{"FIN-01", -1}}},
                          {"CPU.4V.16G", "", 0, 0.03, {{"FIN-01", -1}}}};
                    }) {}

  VerdaConfig config() {
    auto c = adapter_config<VerdaConfig>("verda-main", 7);
    c.client_id = "verda-client";
    c.client_secret = "verda-secret";
    c.ssh_key_ids = {emulators::kVerdaSeedKeyId};
    return c;
  }

  InstanceIntent intent(std::string name = "pool-v-0") {
    return emulators::l40s_intent(std::move(name), "uid-verda", "1L40S.20V", "FIN-03",
                                  Money::from_cents(91), "#!/bin/sh\njoin --token s3cr3tjoin\n");
  }

  void expect_no_secrets_logged() {
    std::lock_guard lock(log_mu_);
    for (const auto& l : log_) {
      EXPECT_EQ(l.find("verda-secret"), std::string::npos) << l;
      EXPECT_EQ(l.find("s3cr3tjoin"), std::string::npos) << l;
      EXPECT_EQ(l.find("vat-"), std::string::npos) << l;
    }
  }
};

// The typed settings (GpuProvider spec.verda) reach the adapter the table
// builds and, through it, POST /instances: the image and the registered
// SSH key ids.
TEST_F(VerdaProviderTest, TypedSettingsReachTheInstanceTheAdapterCreates) {
  api::GpuProvider gp;
  gp.metadata.name = "verda-main";
  gp.spec.type = "verda";
  gp.spec.endpoint = emulator_.base_url();
  gp.spec.verda =
      api::VerdaSettings{"ubuntu-24.04-cuda-12.8-open-docker", {emulators::kVerdaSeedKeyId}};
  const std::map<std::string, std::string> creds = {{"clientId", "verda-client"},
                                                    {"clientSecret", "verda-secret"}};
  const factory::AdapterContext ctx{gp, creds, transport_, sleeper_, clock_};
  std::unique_ptr<Provider> p = adapter_type().construct(ctx);
  auto m = p->create(intent());
  ASSERT_TRUE(m.ok()) << describe(m.error());
  ASSERT_EQ(emulator_.instances().size(), 1u);
  const auto in = emulator_.instances()[0];
  EXPECT_EQ(in.image, "ubuntu-24.04-cuda-12.8-open-docker");
  EXPECT_EQ(in.ssh_keys, std::vector<std::string>{"ssh-ed25519 AAAAC3NzaKEY1 admin@laptop"});
}

TEST(VerdaNames, GpuFromType) {
  auto a = gpu_from_type("1L40S.20V");
  ASSERT_TRUE(a.has_value());
  EXPECT_EQ(a->model, "L40S");
  EXPECT_EQ(a->count, 1);
  auto b = gpu_from_type("8H100.80S.176V");
  ASSERT_TRUE(b.has_value());
  EXPECT_EQ(b->model, "H100");
  EXPECT_EQ(b->count, 8);
  EXPECT_FALSE(gpu_from_type("CPU.4V.16G").has_value());
  EXPECT_FALSE(gpu_from_type("").has_value());
  EXPECT_FALSE(gpu_from_type("4").has_value());
}

TEST(VerdaLog, ScriptFieldsAreRedacted) {
  EXPECT_EQ(redact_script_fields(R"(body={"name":"h","script":"join \"k\" s3cr3t"} x)"),
            R"(body={"name":"h","script":"REDACTED"} x)");
  EXPECT_EQ(redact_script_fields(R"({"script": "cut s3cr)"), R"({"script": "REDACTED)");
  EXPECT_EQ(redact_script_fields(R"({"script":12})"), R"({"script":12})");
  EXPECT_EQ(redact_script_fields("plain"), "plain");
}

TEST(VerdaErrors, CodesMapToKinds) {
  auto kind = [](int status, std::string_view body) {
    return map_verda_error(status, body, net::Millis(0)).kind;
  };
  EXPECT_EQ(kind(401, R"({"code":"unauthorized_request","message":"x"})"),
            ProviderErrorKind::Unauthorized);
  EXPECT_EQ(kind(400, R"({"code":"insufficient_funds","message":"x"})"),
            ProviderErrorKind::QuotaExceeded);
  EXPECT_EQ(kind(404, R"({"code":"not_found","message":"x"})"), ProviderErrorKind::NotFound);
  EXPECT_EQ(kind(503, R"({"code":"service_unavailable","message":"x"})"),
            ProviderErrorKind::Transient);
  EXPECT_EQ(kind(400, R"({"code":"invalid_request","message":"Not enough capacity"})"),
            ProviderErrorKind::NoCapacity);
  EXPECT_EQ(kind(400, R"({"code":"invalid_request","message":"bad image"})"),
            ProviderErrorKind::InvalidRequest);
  EXPECT_EQ(kind(502, "<html>"), ProviderErrorKind::Transient);
  EXPECT_EQ(kind(429, "{}"), ProviderErrorKind::RateLimited);
}

TEST_F(VerdaProviderTest, OffersJoinTypesWithAvailability) {
  VerdaProvider p(config(), transport_, clock_, sleeper_);
  OfferQuery q;
  q.gpu_models = {"L40S", "L40"};
  auto offers = p.offers(q);
  ASSERT_TRUE(offers.ok()) << describe(offers.error());
  ASSERT_EQ(offers->size(), 1u);  // ICE-01 has no capacity
  EXPECT_EQ(offers->at(0).id, "1L40S.20V");
  EXPECT_EQ(offers->at(0).region, "FIN-03");
  EXPECT_EQ(offers->at(0).price_per_hour, Money::from_cents(91));
  EXPECT_EQ(offers->at(0).billing.increment, Duration(600));
  q.gpu_models = {};
  auto all = p.offers(q);
  ASSERT_TRUE(all.ok());
  EXPECT_EQ(all->size(), 2u);                 // the CPU type is no GPU offer
  EXPECT_EQ(emulator_.requests("token"), 1);  // the token is cached
}

TEST_F(VerdaProviderTest, PricesSentAsDecimalStringsAreRead) {
  // The real API sends "price_per_hour": "0.91" (a string); a number must
  // still be accepted.
  VerdaProvider p(config(), transport_, clock_, sleeper_);
  OfferQuery q;
  q.gpu_models = {"L40S"};
  auto offers = p.offers(q);
  ASSERT_TRUE(offers.ok()) << describe(offers.error());
  ASSERT_EQ(offers->size(), 1u);
  EXPECT_EQ(offers->at(0).price_per_hour, Money::from_cents(91));
  ASSERT_TRUE(p.create(intent()).ok());
  auto listed = p.list({});
  ASSERT_TRUE(listed.ok()) << describe(listed.error());
  ASSERT_EQ(listed->size(), 1u);
  EXPECT_EQ(listed->at(0).price_per_hour, Money::from_cents(91));
}

TEST_F(VerdaProviderTest, IntentSshKeyIsRegisteredAndSentById) {
  // Verda takes SSH keys by id (ssh_key_ids): the intent's public key is
  // registered once (POST /sshkeys) and sent next to the configured ids.
  VerdaProvider p(config(), transport_, clock_, sleeper_);
  emulator_.set_capacity("1L40S.20V", "FIN-03", -1);
  InstanceIntent i = intent();
  i.ssh_public_key = "ssh-ed25519 AAAAC3NzaOPERATOR gpupool";
  auto first = p.create(i);
  ASSERT_TRUE(first.ok()) << describe(first.error());
  InstanceIntent j = intent("pool-v-2");
  j.ssh_public_key = i.ssh_public_key;
  ASSERT_TRUE(p.create(j).ok());
  auto all = emulator_.instances();
  ASSERT_EQ(all.size(), 2u);
  for (const auto& in : all) {
    EXPECT_NE(std::find(in.ssh_keys.begin(), in.ssh_keys.end(), i.ssh_public_key),
              in.ssh_keys.end());
    EXPECT_NE(
        std::find(in.ssh_keys.begin(), in.ssh_keys.end(), "ssh-ed25519 AAAAC3NzaKEY1 admin@laptop"),
        in.ssh_keys.end());
  }
  EXPECT_EQ(emulator_.requests("add_key"), 1);  // registered once, then found
}

TEST_F(VerdaProviderTest, CreateGetListTerminate) {
  VerdaProvider p(config(), transport_, clock_, sleeper_);
  auto m = p.create(intent());
  ASSERT_TRUE(m.ok()) << describe(m.error());
  EXPECT_EQ(m->state, MachineState::Pending);
  auto again = p.create(intent());
  ASSERT_TRUE(again.ok());
  EXPECT_EQ(again->provider_id, m->provider_id);
  auto in = emulator_.instances();
  ASSERT_EQ(in.size(), 1u);
  EXPECT_EQ(in[0].startup_script, "#!/bin/sh\njoin --token s3cr3tjoin\n");
  EXPECT_EQ(in[0].description, "gpupool-operator pool-uid=uid-verda instance=pool-v-0");
  EXPECT_EQ(emulator_.requests("create"), 1);
  clock_.advance(seconds(121));
  auto got = p.get("uid-verda", "pool-v-0");
  ASSERT_TRUE(got.ok()) << describe(got.error());
  EXPECT_EQ(got->state, MachineState::Running);
  EXPECT_EQ(got->gpu_model, "L40S");
  EXPECT_EQ(got->region, "FIN-03");
  EXPECT_FALSE(got->public_address.empty());
  MachineFilter f;
  f.pool_uid = "uid-verda";
  EXPECT_EQ(p.list(f)->size(), 1u);
  f.pool_uid = "other";
  EXPECT_TRUE(p.list(f)->empty());
  ASSERT_TRUE(p.terminate(m->provider_id).ok());
  EXPECT_EQ(p.get("uid-verda", "pool-v-0")->state, MachineState::Terminating);
  ASSERT_TRUE(p.terminate(m->provider_id).ok());  // still deleting
  clock_.advance(seconds(31));
  auto gone = p.terminate(m->provider_id);
  ASSERT_FALSE(gone.ok());
  EXPECT_EQ(gone.error().kind, ProviderErrorKind::NotFound);
  EXPECT_EQ(p.get("uid-verda", "pool-v-0").error().kind, ProviderErrorKind::NotFound);
  EXPECT_EQ(p.terminate("not an id").error().kind, ProviderErrorKind::InvalidRequest);
  expect_no_secrets_logged();
}

TEST_F(VerdaProviderTest, NoCapacity) {
  VerdaProvider p(config(), transport_, clock_, sleeper_);
  ASSERT_TRUE(p.create(intent("a-0")).ok());
  auto full = p.create(intent("a-1"));
  ASSERT_FALSE(full.ok());
  EXPECT_EQ(full.error().kind, ProviderErrorKind::NoCapacity);
  EXPECT_EQ(emulator_.requests("create"), 2);
  emulator_.faults().add("create", Fault{FaultKind::NoCapacity});
  InstanceIntent other = intent("a-2");
  other.offer.id = "8H100.80S.176V";
  other.offer.region = "FIN-01";
  EXPECT_EQ(p.create(other).error().kind, ProviderErrorKind::NoCapacity);
}

TEST_F(VerdaProviderTest, ExpiredOrRevokedTokenIsRenewedOnce) {
  VerdaProvider p(config(), transport_, clock_, sleeper_);
  ASSERT_TRUE(p.list({}).ok());
  clock_.advance(seconds(3600));  // expired: renewed before the call (refresh grant)
  ASSERT_TRUE(p.list({}).ok());
  EXPECT_EQ(emulator_.requests("token"), 2);
  emulator_.revoke_tokens();  // rejected mid-life: one renewal, one repeat
  ASSERT_TRUE(p.list({}).ok());
  EXPECT_EQ(emulator_.requests("token"), 3);
  EXPECT_EQ(emulator_.requests("list"), 4);
  // A credential rejected again after renewal is Unauthorized, not a loop.
  emulator_.faults().add("list", Fault{FaultKind::AuthFailure}, 5);
  auto r = p.list({});
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().kind, ProviderErrorKind::Unauthorized);
  EXPECT_EQ(emulator_.requests("list"), 6);
  EXPECT_EQ(emulator_.requests("token"), 4);
  expect_no_secrets_logged();
}

}  // namespace
}  // namespace gpupool::verda
