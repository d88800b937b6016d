#include "providers/http/provider_errors.h"

#include <cmath>
#include <limits>

#include <gtest/gtest.h>

namespace gpupool::net {
namespace {

TEST(ProviderErrors, TransportFailuresMapToKinds) {
  EXPECT_EQ(transport_failure({TransportErrorKind::Connect, "refused"}, "x").kind,
            ProviderErrorKind::Transient);
  auto timeout = transport_failure({TransportErrorKind::Timeout, "slow"}, "RunInstances");
  EXPECT_EQ(timeout.kind, ProviderErrorKind::Transient);
  EXPECT_NE(timeout.message.find("RunInstances"), std::string::npos);
  EXPECT_NE(timeout.message.find("outcome is unknown"), std::string::npos);
  EXPECT_EQ(transport_failure({TransportErrorKind::Tls, "bad cert"}, "x").kind,
            ProviderErrorKind::InvalidRequest);
  EXPECT_EQ(transport_failure({TransportErrorKind::Invalid, "bad url"}, "x").kind,
            ProviderErrorKind::InvalidRequest);
}

TEST(ProviderErrors, StatusFailuresMapToKinds) {
  EXPECT_EQ(status_failure(401, "", Millis(0)).kind, ProviderErrorKind::Unauthorized);
  EXPECT_EQ(status_failure(403, "", Millis(0)).kind, ProviderErrorKind::Unauthorized);
  EXPECT_EQ(status_failure(404, "", Millis(0)).kind, ProviderErrorKind::NotFound);
  auto limited = status_failure(429, "slow down", Millis(1500));
  EXPECT_EQ(limited.kind, ProviderErrorKind::RateLimited);
  EXPECT_EQ(limited.retry_after, Millis(1500));
  EXPECT_EQ(status_failure(503, "", Millis(0)).kind, ProviderErrorKind::Transient);
  EXPECT_EQ(status_failure(422, "", Millis(0)).kind, ProviderErrorKind::InvalidRequest);
}

TEST(ProviderErrors, PricesFromJsonNumbersAreSane) {
  EXPECT_EQ(price_from_double(1.861), Money::parse("1.861"));
  EXPECT_EQ(price_from_double(0.0), Money());
  EXPECT_FALSE(price_from_double(-0.5));
  EXPECT_FALSE(price_from_double(std::nan("")));
  EXPECT_FALSE(price_from_double(std::numeric_limits<double>::infinity()));
  EXPECT_FALSE(price_from_double(1e300));
}

}  // namespace
}  // namespace gpupool::net
