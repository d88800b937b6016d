#include "providers/provider.h"

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

TEST(ProviderError, RateLimitedCarriesRetryAfterAndDescribeNamesKind) {
  ProviderError e = rate_limited("throttled", std::chrono::milliseconds(2500));
  EXPECT_EQ(e.kind, ProviderErrorKind::RateLimited);
  EXPECT_EQ(e.retry_after, std::chrono::milliseconds(2500));
  EXPECT_EQ(describe(e), "RateLimited: throttled");
  EXPECT_EQ(describe(provider_error(ProviderErrorKind::NotFound, "")), "NotFound");
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
