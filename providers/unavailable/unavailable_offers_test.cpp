#include "providers/unavailable/unavailable_offers.h"

#include <gtest/gtest.h>

namespace gpupool {
namespace {

using namespace std::chrono_literals;

TEST(UnavailableOffers, ExpiresAfterTtl) {
  Time now;
  ASSERT_TRUE(parse_rfc3339("2026-11-02T10:00:00Z", now));
  UnavailableOffers cache(180s);
  cache.mark("fluence/plan-a/paris", now);
  EXPECT_TRUE(cache.contains("fluence/plan-a/paris", now + 179s));
  EXPECT_FALSE(cache.contains("fluence/plan-a/paris", now + 180s));
  EXPECT_EQ(cache.active(now + 10s), (std::set<std::string>{"fluence/plan-a/paris"}));
  EXPECT_TRUE(cache.active(now + 180s).empty());
}

TEST(UnavailableOffers, MarkExtendsAndClearForgets) {
  Time now;
  ASSERT_TRUE(parse_rfc3339("2026-11-02T10:00:00Z", now));
  UnavailableOffers cache(60s);
  cache.mark("k", now);
  cache.mark("k", now + 50s);
  EXPECT_TRUE(cache.contains("k", now + 100s));
  cache.clear("k");
  EXPECT_FALSE(cache.contains("k", now + 100s));
}

TEST(UnavailableOffers, RecentRemembersASoldOutOfferLongerThanTheTtl) {
  Time now;
  ASSERT_TRUE(parse_rfc3339("2026-11-02T10:00:00Z", now));
  UnavailableOffers cache(180s, 3600s);
  cache.mark("runpod/l40s/US", now);
  EXPECT_TRUE(cache.active(now + 600s).empty());
  EXPECT_EQ(cache.recent(now + 600s), (std::set<std::string>{"runpod/l40s/US"}));
  EXPECT_EQ(cache.recent(now + 3599s).size(), 1u);
  EXPECT_TRUE(cache.recent(now + 3600s).empty());
  cache.mark("k", now);
  cache.clear("k");
  EXPECT_TRUE(cache.recent(now).empty());
}

}  // namespace
}  // namespace gpupool
