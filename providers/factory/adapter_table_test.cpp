#include "providers/factory/adapter_table.h"

#include <gtest/gtest.h>

#include <mutex>
#include <thread>

namespace gpupool::factory {
namespace {

// Records what it was built with and the intents create() receives.
class RecordingProvider final : public Provider {
 public:
  explicit RecordingProvider(std::string name) : name_(std::move(name)) {}
  const std::string& name() const override { return name_; }
  std::string_view type() const override { return "test"; }
  UserDataSupport user_data_support() const override { return UserDataSupport::CloudInit; }
  ProviderResult<std::vector<Offer>> offers(const OfferQuery&) override {
    return std::vector<Offer>{};
  }
  ProviderResult<Machine> create(const InstanceIntent& intent) override {
    std::lock_guard lock(mu_);
    intents.push_back(intent);
    Machine m;
    m.name = intent.name;
    return m;
  }
  ProviderResult<Machine> get(std::string_view, std::string_view) override {
    return fail(provider_error(ProviderErrorKind::NotFound, "none"));
  }
  ProviderResult<std::vector<Machine>> list(const MachineFilter&) override {
    return std::vector<Machine>{};
  }
  ProviderStatus terminate(std::string_view) override { return {}; }

  std::vector<InstanceIntent> intents;

 private:
  std::string name_;
  std::mutex mu_;
};

// What the constructor saw, for the assertions.
struct Seen {
  std::string name, api_key, region_hint, endpoint;
  bool called = false;
};

AdapterType test_type(Seen& seen) {
  AdapterType t;
  t.type = "test";
  t.credentials = {{"apiKey", true}, {"regionHint", false}};
  t.settings_block = "";
  t.construct = [&seen](const AdapterContext& ctx) -> std::unique_ptr<Provider> {
    seen.called = true;
    seen.name = ctx.provider.metadata.name;
    seen.api_key = ctx.credential("apiKey");
    seen.region_hint = ctx.credential("regionHint");
    seen.endpoint = ctx.endpoint("https://api.example.test");
    return std::make_unique<RecordingProvider>(ctx.provider.metadata.name);
  };
  return t;
}

AdapterType other_type() {
  AdapterType t;
  t.type = "other";
  t.construct = [](const AdapterContext& ctx) -> std::unique_ptr<Provider> {
    return std::make_unique<RecordingProvider>(ctx.provider.metadata.name);
  };
  return t;
}

api::GpuProvider provider(std::string type) {
  api::GpuProvider p;
  p.metadata.name = "acct";
  p.spec.type = std::move(type);
  return p;
}

class AdapterTableTest : public ::testing::Test {
 protected:
  AdapterTableTest() : table_({test_type(seen_), other_type()}) {}
  FakeClock clock_{Time{}};
  Seen seen_;
  AdapterTable table_;
};

TEST_F(AdapterTableTest, ListsItsTypesInTableOrder) {
  EXPECT_EQ(table_.types(), (std::vector<std::string>{"test", "other"}));
  ASSERT_NE(table_.find("other"), nullptr);
  EXPECT_EQ(table_.find("other")->type, "other");
  EXPECT_EQ(table_.find("aws"), nullptr);
  EXPECT_TRUE(AdapterTable().types().empty());
}

TEST_F(AdapterTableTest, BuildsTheEntryOfTheSpecTypeWithItsCredentials) {
  api::GpuProvider p = provider("test");
  p.spec.credentials_secret.keys = {{"apiKey", "token"}};  // Secret key "token"
  p.spec.endpoint = "http://127.0.0.1:9";
  BuildResult b = table_.build(p, {{"token", "k-123"}}, clock_);
  ASSERT_EQ(b.problem, BuildProblem::None) << b.message;
  ASSERT_TRUE(b.provider);
  EXPECT_EQ(b.provider->name(), "acct");
  EXPECT_EQ(b.provider->type(), "test");
  EXPECT_TRUE(seen_.called);
  EXPECT_EQ(seen_.api_key, "k-123");
  EXPECT_EQ(seen_.region_hint, "");  // optional and absent
  EXPECT_EQ(seen_.endpoint, "http://127.0.0.1:9");
}

TEST_F(AdapterTableTest, WithoutAnEndpointTheAdapterKeepsItsPublicApi) {
  BuildResult b = table_.build(provider("test"), {{"apiKey", "k"}}, clock_);
  ASSERT_TRUE(b.provider) << b.message;
  EXPECT_EQ(seen_.endpoint, "https://api.example.test");
}

TEST_F(AdapterTableTest, AMissingCredentialNamesTheKeyNeverAValue) {
  BuildResult b = table_.build(provider("test"), {{"regionHint", "secret-ish"}}, clock_);
  EXPECT_FALSE(b.provider);
  EXPECT_EQ(b.problem, BuildProblem::CredentialsMissing);
  EXPECT_NE(b.message.find("apiKey"), std::string::npos) << b.message;
  EXPECT_EQ(b.message.find("secret-ish"), std::string::npos) << b.message;
  EXPECT_FALSE(seen_.called);  // nothing is built without its credentials
  BuildResult empty = table_.build(provider("test"), {{"apiKey", ""}}, clock_);
  EXPECT_EQ(empty.problem, BuildProblem::CredentialsMissing);
}

TEST_F(AdapterTableTest, ATypeNotInTheTableIsNoAdapter) {
  BuildResult b = table_.build(provider("aws"), {{"apiKey", "k"}}, clock_);
  EXPECT_FALSE(b.provider);
  EXPECT_EQ(b.problem, BuildProblem::NoAdapter);
  EXPECT_EQ(b.message, "no adapter for provider type \"aws\"");
  EXPECT_EQ(AdapterTable().build(provider("test"), {}, clock_).problem, BuildProblem::NoAdapter);
}

TEST_F(AdapterTableTest, TheProvidersSshKeyGoesToIntentsThatCarryNone) {
  api::GpuProvider p = provider("other");
  p.spec.ssh_public_key = api::SshPublicKeySpec{};
  p.spec.ssh_public_key->value = "ssh-ed25519 AAAAdefault";
  InstanceIntent none;
  none.name = "a";
  InstanceIntent own;
  own.name = "b";
  own.ssh_public_key = "ssh-ed25519 AAAAown";
  RecordingProvider* rec = nullptr;
  AdapterType keep = other_type();
  keep.construct = [&rec](const AdapterContext& ctx) -> std::unique_ptr<Provider> {
    auto r = std::make_unique<RecordingProvider>(ctx.provider.metadata.name);
    rec = r.get();
    return r;
  };
  AdapterTable table({keep});
  BuildResult kept = table.build(p, {}, clock_);
  ASSERT_TRUE(kept.provider) << kept.message;
  ASSERT_TRUE(kept.provider->create(none).ok());
  ASSERT_TRUE(kept.provider->create(own).ok());
  ASSERT_NE(rec, nullptr);
  ASSERT_EQ(rec->intents.size(), 2u);
  EXPECT_EQ(rec->intents[0].ssh_public_key, "ssh-ed25519 AAAAdefault");
  EXPECT_EQ(rec->intents[1].ssh_public_key, "ssh-ed25519 AAAAown");
}

TEST_F(AdapterTableTest, StopWaitsWakesEveryAdaptersSleepIncludingThoseOfAWrappingTable) {
  net::Sleeper* slept = nullptr;
  AdapterType t = other_type();
  t.construct = [&slept](const AdapterContext& ctx) -> std::unique_ptr<Provider> {
    slept = &ctx.sleeper;
    return std::make_unique<RecordingProvider>(ctx.provider.metadata.name);
  };
  const AdapterTable wrapping = table_.with_types({t});
  BuildResult b = wrapping.build(provider("other"), {}, clock_);
  ASSERT_TRUE(b.provider);
  ASSERT_NE(slept, nullptr);
  EXPECT_FALSE(slept->stopped());
  std::thread waker([&] {
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
    table_.stop_waits();  // the original table: the wrapping one shares its sleeper
  });
  const auto start = std::chrono::steady_clock::now();
  slept->sleep_for(std::chrono::minutes(10));
  const auto took = std::chrono::steady_clock::now() - start;
  waker.join();
  EXPECT_LT(took, std::chrono::seconds(30)) << "the ten-minute wait ended at stop_waits()";
  EXPECT_TRUE(slept->stopped());
  const auto again = std::chrono::steady_clock::now();
  slept->sleep_for(std::chrono::minutes(10));
  EXPECT_LT(std::chrono::steady_clock::now() - again, std::chrono::seconds(5))
      << "later waits return at once";
}

TEST(AdapterTableDeathTest, ATypeListedTwiceIsAProgrammingError) {
  Seen seen;
  EXPECT_DEATH(AdapterTable({test_type(seen), test_type(seen)}), "listed twice");
}

}  // namespace
}  // namespace gpupool::factory
