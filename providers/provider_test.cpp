#include "providers/provider.h"

#include "operator/base/utf8.h"

#include <gtest/gtest.h>

namespace gpupool {
namespace {

TEST(ProviderError, KindNamesAreStable) {
  EXPECT_EQ(to_string(ProviderErrorKind::NoCapacity), "NoCapacity");
  EXPECT_EQ(to_string(ProviderErrorKind::QuotaExceeded), "QuotaExceeded");
  EXPECT_EQ(to_string(ProviderErrorKind::RateLimited), "RateLimited");
  EXPECT_EQ(to_string(ProviderErrorKind::Unauthorized), "Unauthorized");
  EXPECT_EQ(to_string(ProviderErrorKind::InvalidRequest), "InvalidRequest");
  EXPECT_EQ(to_string(ProviderErrorKind::Transient), "Transient");
  EXPECT_EQ(to_string(ProviderErrorKind::NotFound), "NotFound");
}

TEST(ProviderError, OnlyRateLimitedAndTransientAreRetryable) {
  EXPECT_TRUE(provider_error(ProviderErrorKind::Transient, "x").retryable());
  EXPECT_TRUE(rate_limited("slow down", std::chrono::seconds(3)).retryable());
  EXPECT_FALSE(provider_error(ProviderErrorKind::Unauthorized, "x").retryable());
  EXPECT_FALSE(provider_error(ProviderErrorKind::NoCapacity, "x").retryable());
  EXPECT_FALSE(provider_error(ProviderErrorKind::InvalidRequest, "x").retryable());
}

// Found by every fuzz_provider_* target: an error message quoting a garbled
// answer carried bytes that are not UTF-8 into conditions and Events, whose
// JSON encoding then threw.
TEST(ProviderError, MessagesAreAlwaysUtf8) {
  const auto e = provider_error(ProviderErrorKind::Transient,
                                std::string("HTTP 500: \xc6\x80ok \xff caf\xc3\xa9"));
  EXPECT_EQ(e.message, "HTTP 500: \xc6\x80ok \xef\xbf\xbd caf\xc3\xa9");
  EXPECT_EQ(invalid_utf8_at(rate_limited("\xed\xa0\x80", {}).message), std::string_view::npos);
  EXPECT_EQ(to_valid_utf8("\xf0\x9f\x9a"), "\xef\xbf\xbd\xef\xbf\xbd\xef\xbf\xbd");
}

TEST(ProviderError, RateLimitedCarriesRetryAfterAndDescribeNamesKind) {
  ProviderError e = rate_limited("throttled", std::chrono::milliseconds(2500));
  EXPECT_EQ(e.kind, ProviderErrorKind::RateLimited);
  EXPECT_EQ(e.retry_after, std::chrono::milliseconds(2500));
  EXPECT_EQ(describe(e), "RateLimited: throttled");
  EXPECT_EQ(describe(provider_error(ProviderErrorKind::NotFound, "")), "NotFound");
}

// Issue 13: which machines run a rendered bootstrap at first boot.
TEST(UserData, EachAdapterTypeSaysWhetherItsMachinesRunTheBootstrap) {
  for (const char* t : {"aws", "lambda", "verda", "digitalocean", "scaleway", "vultr", "fake"}) {
    EXPECT_EQ(user_data_support_of_type(t), UserDataSupport::CloudInit) << t;
  }
  EXPECT_EQ(user_data_support_of_type("vastai"), UserDataSupport::Script);
  EXPECT_EQ(user_data_support_of_type("runpod"), UserDataSupport::None);
  EXPECT_EQ(user_data_support_of_type("fluence"), UserDataSupport::None);
  EXPECT_EQ(user_data_support_of_type("coreweave"), UserDataSupport::None);  // no adapter
  EXPECT_EQ(to_string(UserDataSupport::CloudInit), "CloudInit");
}

TEST(UserData, AShellOnlyProviderRunsScriptsButNotCloudInitDocuments) {
  EXPECT_TRUE(runs_user_data(UserDataSupport::Script, "#!/bin/sh\nkubeadm join\n"));
  EXPECT_TRUE(runs_user_data(UserDataSupport::Script, "kubeadm join --token x\n"));
  for (const char* doc : {"#cloud-config\n", "#include\nhttps://x\n", "#cloud-boothook\n",
                          "Content-Type: multipart/mixed\n"}) {
    EXPECT_FALSE(runs_user_data(UserDataSupport::Script, doc)) << doc;
    EXPECT_TRUE(runs_user_data(UserDataSupport::CloudInit, doc)) << doc;
  }
  EXPECT_FALSE(runs_user_data(UserDataSupport::None, "#!/bin/sh\n"));
}

TEST(Machine, PoolUidComesFromTag) {
  Machine m;
  EXPECT_EQ(m.pool_uid(), "");
  m.tags[std::string(kTagPoolUid)] = "uid-1";
  EXPECT_EQ(m.pool_uid(), "uid-1");
  EXPECT_EQ(to_string(MachineState::Terminating), "Terminating");
}

TEST(ProviderResult, CarriesValueOrError) {
  ProviderResult<int> ok = 3;
  ASSERT_TRUE(ok.ok());
  EXPECT_EQ(*ok, 3);
  ProviderResult<int> bad = fail(provider_error(ProviderErrorKind::NoCapacity, "sold out"));
  ASSERT_FALSE(bad.ok());
  EXPECT_EQ(bad.error().kind, ProviderErrorKind::NoCapacity);
}

TEST(SecretValue, MapsLogicalNamesAndNeverEchoesValues) {
  std::map<std::string, std::string> data = {
      {"token", "sekrit"}, {"accessKeyId", "AKID"}, {"empty", ""}};
  auto direct = secret_value(data, {}, "accessKeyId");
  ASSERT_TRUE(direct.ok());
  EXPECT_EQ(*direct, "AKID");
  auto mapped = secret_value(data, {{"apiKey", "token"}}, "apiKey");
  ASSERT_TRUE(mapped.ok());
  EXPECT_EQ(*mapped, "sekrit");
  auto missing = secret_value(data, {{"apiKey", "nope"}}, "apiKey");
  ASSERT_FALSE(missing.ok());
  EXPECT_EQ(missing.error().kind, ProviderErrorKind::Unauthorized);
  EXPECT_NE(missing.error().message.find("'nope'"), std::string::npos);
  EXPECT_EQ(secret_value(data, {{"x", "empty"}}, "x").error().kind,
            ProviderErrorKind::Unauthorized);
  auto optional = secret_value(data, {}, "sessionToken", false);
  ASSERT_TRUE(optional.ok());
  EXPECT_EQ(*optional, "");
}

}  // namespace
}  // namespace gpupool

namespace gpupool {
namespace {

TEST(OfferMatching, ReadsEveryQueryFieldTheSameWay) {
  Offer o;
  o.gpu_model = "L40S";
  o.region = "US";
  o.gpu_count = 2;
  OfferQuery q;
  EXPECT_TRUE(matches(o, q));
  q.gpu_models = {"L40"};
  EXPECT_FALSE(matches(o, q));
  q.gpu_models = {"L40", "L40S"};
  q.regions = {"CA"};
  EXPECT_FALSE(matches(o, q));
  q.regions = {"US"};
  q.min_gpu_count = 3;
  EXPECT_FALSE(matches(o, q));
  q.min_gpu_count = 1;
  q.max_gpu_count = 1;
  EXPECT_FALSE(matches(o, q));
  q.max_gpu_count = 0;
  o.spot = true;
  EXPECT_FALSE(matches(o, q));
  q.include_spot = true;
  o.tier = ReliabilityTier::Community;
  q.include_community = false;
  EXPECT_FALSE(matches(o, q));
  q.include_community = true;
  EXPECT_TRUE(matches(o, q));
}

Machine machine(const std::string& uid, const std::string& name, MachineState state,
                bool managed = true) {
  Machine m;
  m.provider_id = name + "-" + to_string(state).data();
  m.name = name;
  m.state = state;
  if (!uid.empty()) m.tags[std::string(kTagPoolUid)] = uid;
  if (managed) m.tags[std::string(kTagManagedBy)] = std::string(kTagManagedByValue);
  return m;
}

// Each adapter type's region form (README "Regions"), and what it is not:
// Runpod's old "any", Fluence's city names, Vast.ai's raw geolocation.
TEST(RegionForm, OneFormPerAdapterType) {
  const std::vector<std::pair<const char*, std::vector<const char*>>> good = {
      {"aws", {"us-east-1", "ap-southeast-4", "us-gov-west-1"}},
      {"lambda", {"us-south-1", "europe-central-1"}},
      {"fluence", {"culpeper-usa-1", "us-central-3", "kristiansand-norway-2"}},
      {"runpod", {"US-TX-3", "EU-RO-1", "EUR-IS-1", "CA-MTL-1"}},
      {"vastai", {"US", "CA"}},
      {"verda", {"FIN-03", "ICE-01"}},
      {"digitalocean", {"tor1", "nyc3"}},
      {"scaleway", {"fr-par-2", "pl-waw-3"}},
      {"vultr", {"ewr", "ord"}},
      {"fake", {"anywhere at all"}}};
  for (const auto& [type, regions] : good) {
    for (const char* r : regions)
      EXPECT_TRUE(region_has_form(type, r)) << type << " " << r;
  }
  const std::vector<std::pair<const char*, const char*>> bad = {{"runpod", "any"},
                                                                {"fluence", "culpeper"},
                                                                {"fluence", "des-moines"},
                                                                {"vastai", "Texas, US"},
                                                                {"aws", "us-east-1a "},
                                                                {"verda", "fin-03"},
                                                                {"scaleway", "par"},
                                                                {"digitalocean", "TOR1"},
                                                                {"vultr", "ewr1"},
                                                                {"lambda", "us-east"},
                                                                {"fake", ""},
                                                                {"aws", ""}};
  for (const auto& [type, region] : bad)
    EXPECT_FALSE(region_has_form(type, region)) << type << " '" << region << "'";
}

TEST(MachineSelection, OwnedMachinesAndTheMachineForAName) {
  std::vector<Machine> all = {
      machine("u1", "a", MachineState::Terminated), machine("u1", "a", MachineState::Running),
      machine("u2", "b", MachineState::Pending), machine("", "x", MachineState::Running),
      machine("u1", "c", MachineState::Running, /*managed=*/false)};
  EXPECT_EQ(owned_machines(all, {}, true).size(), 2u);
  EXPECT_EQ(owned_machines(all, {}, false).size(), 3u);
  MachineFilter f;
  f.pool_uid = "u1";
  f.include_terminated = true;
  EXPECT_EQ(owned_machines(all, f, true).size(), 2u);
  auto a = machine_named(all, "u1", "a", false, "thing");
  ASSERT_TRUE(a.ok());
  EXPECT_EQ(a->state, MachineState::Running);  // the live one before the gone one
  std::vector<Machine> gone = {machine("u1", "a", MachineState::Terminated)};
  EXPECT_TRUE(machine_named(gone, "u1", "a", false, "thing").ok());
  auto none = machine_named(gone, "u1", "a", true, "thing");
  ASSERT_FALSE(none.ok());
  EXPECT_EQ(none.error().kind, ProviderErrorKind::NotFound);
  EXPECT_EQ(none.error().message, "no thing for a");
}

TEST(MachineSelection, TheMachineByAProviderSideNameTag) {
  auto named = [](std::string name, MachineState state, std::string id) {
    Machine m;
    m.provider_id = std::move(id);
    m.state = state;
    m.tags["runpod.io/name"] = std::move(name);
    return m;
  };
  std::vector<Machine> all = {named("gp-1", MachineState::Terminated, "old"),
                              named("gp-1", MachineState::Running, "new"),
                              named("gp-2", MachineState::Running, "other"), Machine{}};
  auto m = machine_tagged(all, "runpod.io/name", "gp-1", "Runpod pod");
  ASSERT_TRUE(m.ok());
  EXPECT_EQ(m->provider_id, "new");  // the live one before the gone one
  std::vector<Machine> gone = {named("gp-1", MachineState::Terminated, "old")};
  EXPECT_EQ(machine_tagged(gone, "runpod.io/name", "gp-1", "Runpod pod")->provider_id, "old");
  auto none = machine_tagged(all, "runpod.io/name", "gp-9", "Runpod pod");
  ASSERT_FALSE(none.ok());
  EXPECT_EQ(none.error().kind, ProviderErrorKind::NotFound);
  EXPECT_EQ(none.error().message, "no Runpod pod named gp-9");
  // A failed listing passes its error through.
  ProviderResult<std::vector<Machine>> failed =
      fail(provider_error(ProviderErrorKind::Transient, "list pods: timeout"));
  EXPECT_EQ(machine_tagged(failed, "runpod.io/name", "gp-1", "Runpod pod").error().message,
            "list pods: timeout");
}

}  // namespace
}  // namespace gpupool
