// The price refresher over the Verda adapter and emulator, with the real
// catalog for a "verda" GpuProvider: live prices replace the catalog's, a
// garbled or unauthorized answer is reported and the last good set kept.
#include <gtest/gtest.h>

#include "providers/catalog/catalog.h"
#include "providers/http/curl_transport.h"
#include "providers/pricing/price_refresher.h"
#include "providers/verda/verda_provider.h"
#include "tests/emulators/verda/verda_emulator.h"

namespace gpupool::pricing {
namespace {

using emulators::Fault;
using emulators::FaultKind;
using std::chrono::seconds;

class LivePricingTest : public ::testing::Test {
 protected:
  LivePricingTest()
      : clock_(Time(std::chrono::sys_days(std::chrono::year(2026) / 11 / 20))),
        sleeper_(&clock_),
        emulator_([this] {
          emulators::VerdaEmulatorOptions o;
          o.clock = &clock_;
          o.types = {{"1L40S.20V", "1x L40S 48GB", 1, 0.85, {{"FIN-03", -1}}},
                     {"2L40S.40V", "2x L40S 48GB", 2, 1.70, {{"FIN-03", -1}}}};
          return o;
        }()),
        transport_([] {
          net::CurlOptions o;
          o.total_timeout = std::chrono::milliseconds(15000);
          return o;
        }()) {
    gp_.metadata.name = "verda-main";
    gp_.spec.type = "verda";
    gp_.spec.pricing_refresh_seconds = 600;
  }

  void SetUp() override { ASSERT_TRUE(emulator_.start()); }

  verda::VerdaConfig config(std::string secret = "verda-secret") {
    verda::VerdaConfig c;
    c.provider_name = "verda-main";
    c.endpoint = emulator_.base_url();
    c.client_id = "verda-client";
    c.client_secret = std::move(secret);
    c.http.max_attempts = 2;
    c.http.jitter_seed = 1;
    return c;
  }

  static const Offer* find(const Snapshot& s, std::string_view id, std::string_view region) {
    for (const Offer& o : *s.offers) {
      if (o.id == id && o.region == region) return &o;
    }
    return nullptr;
  }

  FakeClock clock_;
  net::FakeSleeper sleeper_;
  emulators::VerdaEmulator emulator_;
  net::CurlTransport transport_;
  api::GpuProvider gp_;
};

TEST_F(LivePricingTest, LivePricesOverTheCatalogThenStaleOnGarbledAnswer) {
  verda::VerdaProvider adapter(config(), transport_, clock_, sleeper_);
  const std::vector<Offer> catalog = catalog::offers_for(gp_);
  ASSERT_NE(
      std::find_if(catalog.begin(), catalog.end(),
                   [](const Offer& o) { return o.id == "1L40S.20V" && o.region == "FIN-03"; }),
      catalog.end());
  PriceRefresher prices(adapter, clock_, Inputs::from(gp_, catalog));

  Snapshot s = prices.refresh_if_due();
  ASSERT_EQ(s.source, PriceSource::Live) << (s.last_error ? s.last_error->message : "");
  EXPECT_EQ(s.offers_seen, 2);
  const Offer* l40s = find(s, "1L40S.20V", "FIN-03");
  ASSERT_NE(l40s, nullptr);
  EXPECT_EQ(l40s->price_per_hour, Money::from_cents(85));  // live, not the catalog's 0.91
  EXPECT_TRUE(is_live(*l40s));
  EXPECT_EQ(l40s->billing, catalog::default_billing("verda").value());
  const Offer* other = find(s, "1L40S.20V", "FIN-01");  // catalog only: kept, marked
  ASSERT_NE(other, nullptr);
  EXPECT_FALSE(is_live(*other));
  EXPECT_NE(find(s, "2L40S.40V", "FIN-03"), nullptr);  // only the API knows it

  clock_.advance(seconds(600));
  emulator_.faults().add("types", Fault{FaultKind::Garbled});
  s = prices.refresh_if_due();
  EXPECT_EQ(s.source, PriceSource::Stale);
  ASSERT_TRUE(s.last_error.has_value());
  EXPECT_EQ(s.last_error->kind, ProviderErrorKind::Transient);
  EXPECT_EQ(find(s, "1L40S.20V", "FIN-03")->price_per_hour, Money::from_cents(85));

  clock_.advance(seconds(60));
  s = prices.refresh_if_due();
  EXPECT_EQ(s.source, PriceSource::Live);
  api::GpuProviderStatus status;
  apply_to_status(s, 1, clock_.now(), status);
  EXPECT_EQ(status.last_price_refresh, clock_.now());
  EXPECT_EQ(status.offers_seen, 2);
}

TEST_F(LivePricingTest, UnauthorizedFallsBackToCatalogWithOneTokenRequest) {
  verda::VerdaProvider adapter(config("wrong"), transport_, clock_, sleeper_);
  PriceRefresher prices(adapter, clock_, Inputs::from(gp_, catalog::offers_for(gp_)));
  Snapshot s = prices.refresh_if_due();
  EXPECT_EQ(s.source, PriceSource::Catalog);
  ASSERT_TRUE(s.last_error.has_value());
  EXPECT_EQ(s.last_error->kind, ProviderErrorKind::Unauthorized);
  EXPECT_EQ(find(s, "1L40S.20V", "FIN-03")->price_per_hour, Money::from_cents(91));
  (void)prices.refresh_if_due();  // not due yet: no second attempt
  EXPECT_EQ(emulator_.requests("token"), 1);
  EXPECT_EQ(emulator_.requests("types"), 0);
}

}  // namespace
}  // namespace gpupool::pricing
