#include "providers/instrumented/instrumented_provider.h"

#include <gtest/gtest.h>

#include "providers/fake/fake_provider.h"

namespace gpupool {
namespace {

using namespace std::chrono_literals;

TEST(InstrumentedProvider, CountsCallsAndErrorsPerMethod) {
  Time start;
  ASSERT_TRUE(parse_rfc3339("2026-11-02T10:00:00Z", start));
  FakeClock clock(start);
  Offer o;
  o.id = "plan";
  o.region = "r";
  o.gpu_model = "L40S";
  auto fake =
      std::make_unique<FakeProvider>(FakeProviderOptions{"fluence", {{o, 1}}, 0s, 0s}, clock);
  FakeProvider& inner = *fake;
  ProviderCallStats stats;
  InstrumentedProvider provider(std::move(fake), stats, clock);
  EXPECT_EQ(provider.name(), "fluence");

  InstanceIntent intent;
  intent.name = "i-1";
  intent.pool_uid = "u";
  intent.offer = o;
  ASSERT_TRUE(provider.create(intent).ok());
  intent.name = "i-2";
  EXPECT_EQ(provider.create(intent).error().kind, ProviderErrorKind::NoCapacity);
  inner.fail_next(FakeMethod::List, provider_error(ProviderErrorKind::Unauthorized, "bad key"));
  EXPECT_FALSE(provider.list({}).ok());
  EXPECT_TRUE(provider.offers({}).ok());

  const auto create = stats.get("fluence", "create");
  EXPECT_EQ(create.calls, 2);
  EXPECT_EQ(create.errors, 1);
  EXPECT_EQ(create.errors_by_kind.at(ProviderErrorKind::NoCapacity), 1);
  const auto list = stats.get("fluence", "list");
  EXPECT_EQ(list.errors_by_kind.at(ProviderErrorKind::Unauthorized), 1);
  EXPECT_EQ(stats.get("fluence", "offers").calls, 1);
  EXPECT_EQ(stats.get("fluence", "terminate").calls, 0);
}

}  // namespace
}  // namespace gpupool
