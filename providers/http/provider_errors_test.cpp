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

TEST(ProviderErrors, CodedErrorAnswersReadTheSameForEveryAdapter) {
  CodedError e = read_coded_error(422, R"({"id":"unprocessable_entity","message":"Sold out"})",
                                  "id", "message");
  EXPECT_EQ(e.code, "unprocessable_entity");
  EXPECT_EQ(e.message, "Sold out");
  EXPECT_EQ(e.text, "unprocessable_entity: Sold out");
  EXPECT_EQ(e.described, "HTTP 422: unprocessable_entity: Sold out");

  // Inside an enclosing object (Lambda's "error"); a message-only provider.
  e = read_coded_error(400, R"({"error":{"code":"global/x","message":"m"}})", "code", "message",
                       "error");
  EXPECT_EQ(e.described, "HTTP 400: global/x: m");
  e = read_coded_error(400, R"({"error":"Plan is not available","status":400})", nullptr, "error");
  EXPECT_EQ(e.code, "");
  EXPECT_EQ(e.text, "Plan is not available");

  // Neither field readable: the body's excerpt says what came.
  e = read_coded_error(502, "<html>bad gateway</html>", "code", "message");
  EXPECT_EQ(e.message, "unreadable error answer: <html>bad gateway</html>");
  EXPECT_EQ(e.described, "HTTP 502: unreadable error answer: <html>bad gateway</html>");
  e = read_coded_error(400, R"({"error":"not an object"})", "code", "message", "error");
  EXPECT_EQ(e.text, R"(unreadable error answer: {"error":"not an object"})");
  e = read_coded_error(400, R"({"code":7,"message":["x"]})", "code", "message");
  EXPECT_EQ(e.code, "");  // not strings: not read
  EXPECT_TRUE(e.message.starts_with("unreadable error answer: "));
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
