#include "providers/pricing/price_refresher.h"

#include <gtest/gtest.h>

#include <thread>

#include "operator/core/planner.h"
#include "providers/catalog/catalog.h"
#include "providers/fake/fake_provider.h"

namespace gpupool::pricing {
namespace {

using namespace std::chrono_literals;

Time t0() {
  Time t;
  EXPECT_TRUE(parse_rfc3339("2026-11-02T10:00:00Z", t));
  return t;
}

Money usd(std::string_view text) {
  return Money::parse(text).value();
}

Offer make_offer(std::string id, std::string region, std::string_view price,
                 std::string model = "L40S", int gpus = 1) {
  Offer o;
  o.provider = "prov";
  o.provider_type = "verda";
  o.id = std::move(id);
  o.region = std::move(region);
  o.gpu_model = std::move(model);
  o.gpu_count = gpus;
  o.price_per_hour = usd(price);
  return o;
}

BillingRule catalog_rule() {
  BillingRule r;
  r.minimum = 3h;
  r.increment = 1h;
  r.egress_per_gb = usd("0.05");
  return r;
}

Offer catalog_offer(std::string id, std::string region, std::string_view price,
                    std::string model = "L40S") {
  Offer o = make_offer(std::move(id), std::move(region), price, std::move(model));
  o.billing = catalog_rule();
  o.source = "catalog 2026-01";
  return o;
}

const Offer* find(const Snapshot& s, std::string_view id, std::string_view region) {
  for (const Offer& o : *s.offers) {
    if (o.id == id && o.region == region) return &o;
  }
  return nullptr;
}

class PricingTest : public ::testing::Test {
 protected:
  PricingTest() : clock_(t0()) {}

  void make(std::vector<FakeOffer> live, Inputs in) {
    FakeProviderOptions opts;
    opts.name = "prov";
    opts.offers = std::move(live);
    provider_ = std::make_unique<FakeProvider>(std::move(opts), clock_);
    refresher_ = std::make_unique<PriceRefresher>(*provider_, clock_, std::move(in));
  }

  static Inputs inputs(std::vector<Offer> catalog) {
    Inputs in;
    in.provider_name = "prov";
    in.provider_type = "verda";
    in.catalog = std::move(catalog);
    in.refresh_interval = 600s;
    in.failure_retry = 60s;
    return in;
  }

  // One live offer a1 (cheaper than the catalog) and a catalog-only one b1.
  void make_standard() {
    make({{make_offer("a", "r1", "1.50"), 3}},
         inputs({catalog_offer("a", "r1", "2.00"), catalog_offer("b", "r1", "3.00")}));
  }

  FakeClock clock_;
  std::unique_ptr<FakeProvider> provider_;
  std::unique_ptr<PriceRefresher> refresher_;
};

TEST_F(PricingTest, StartsWithTheCatalogAndCallsNothing) {
  make_standard();
  Snapshot s = refresher_->snapshot();
  EXPECT_EQ(s.source, PriceSource::Catalog);
  EXPECT_EQ(s.offers->size(), 2u);
  EXPECT_EQ(s.live_offers, 0);
  EXPECT_EQ(provider_->calls(FakeMethod::Offers), 0);
  EXPECT_EQ(s.next_refresh, t0());

  api::GpuProviderStatus status;
  apply_to_status(s, 1, clock_.now(), status);
  ASSERT_EQ(status.conditions.size(), 1u);
  EXPECT_EQ(status.conditions[0].status, api::ConditionStatus::Unknown);
  EXPECT_EQ(status.conditions[0].reason, "NotRefreshedYet");
  EXPECT_FALSE(status.last_price_refresh.has_value());
}

TEST_F(PricingTest, RefreshesOnlyWhenTheIntervalHasPassed) {
  make_standard();
  Snapshot s = refresher_->refresh_if_due();
  EXPECT_EQ(s.source, PriceSource::Live);
  EXPECT_EQ(provider_->calls(FakeMethod::Offers), 1);
  EXPECT_EQ(s.next_refresh, t0() + 600s);

  clock_.advance(599s);
  (void)refresher_->refresh_if_due();
  EXPECT_EQ(provider_->calls(FakeMethod::Offers), 1);
  clock_.advance(1s);
  s = refresher_->refresh_if_due();
  EXPECT_EQ(provider_->calls(FakeMethod::Offers), 2);
  EXPECT_EQ(s.last_success, t0() + 600s);
  EXPECT_EQ(s.refreshes, 2);

  // refresh_now ignores the interval.
  (void)refresher_->refresh_now();
  EXPECT_EQ(provider_->calls(FakeMethod::Offers), 3);
}

TEST_F(PricingTest, ShorterIntervalFromNewInputsTakesEffectAtOnce) {
  make_standard();
  (void)refresher_->refresh_if_due();
  clock_.advance(120s);
  Inputs in = inputs({catalog_offer("a", "r1", "2.00")});
  in.refresh_interval = 60s;
  refresher_->set_inputs(std::move(in));
  EXPECT_EQ(provider_->calls(FakeMethod::Offers), 1);  // set_inputs does no I/O
  (void)refresher_->refresh_if_due();
  EXPECT_EQ(provider_->calls(FakeMethod::Offers), 2);
}

TEST_F(PricingTest, LiveWinsOverCatalogAndOverrideWinsOverLive) {
  BillingRule adapter_rule;
  adapter_rule.minimum = 0s;
  adapter_rule.increment = 60s;
  Offer with_rule = make_offer("d", "r2", "0.90");
  with_rule.billing = adapter_rule;
  make({{make_offer("a", "r1", "1.50"), 3},
        {make_offer("c", "r2", "1.10"), -1},
        {with_rule, -1},
        {make_offer("e", "r1", "5.00", "L40", 2), -1}},
       inputs({catalog_offer("a", "r1", "2.00"), catalog_offer("b", "r1", "3.00"),
               catalog_offer("e", "r1", "9.00", "L40")}));
  Inputs in = inputs({catalog_offer("a", "r1", "2.00"), catalog_offer("b", "r1", "3.00"),
                      catalog_offer("e", "r1", "9.00", "L40")});
  in.price_overrides.push_back({"l40", std::string("r1"), usd("0.70")});
  in.price_overrides.push_back({"L40", std::nullopt, usd("0.99")});
  refresher_->set_inputs(std::move(in));

  Snapshot s = refresher_->refresh_if_due();
  ASSERT_EQ(s.source, PriceSource::Live);
  EXPECT_EQ(s.offers_seen, 4);
  EXPECT_EQ(s.live_offers, 4);
  EXPECT_EQ(s.catalog_offers, 1);

  const Offer* a = find(s, "a", "r1");
  ASSERT_NE(a, nullptr);
  EXPECT_EQ(a->price_per_hour, usd("1.50"));  // live price over the catalog's 2.00
  EXPECT_EQ(a->capacity_hint, 3);
  EXPECT_EQ(a->billing, catalog_rule());  // catalog knowledge kept
  EXPECT_TRUE(is_live(*a));
  EXPECT_EQ(a->as_of, t0());

  const Offer* b = find(s, "b", "r1");
  ASSERT_NE(b, nullptr);
  EXPECT_FALSE(is_live(*b));
  EXPECT_EQ(b->source, "catalog 2026-01");
  EXPECT_EQ(b->price_per_hour, usd("3.00"));

  // Only the API knows c: the catalog's default billing for the type.
  const Offer* c = find(s, "c", "r2");
  ASSERT_NE(c, nullptr);
  EXPECT_EQ(c->billing, catalog::default_billing("verda").value());
  EXPECT_EQ(c->provider, "prov");
  EXPECT_EQ(c->provider_type, "verda");
  // ...unless the adapter gives its own rule.
  const Offer* d = find(s, "d", "r2");
  ASSERT_NE(d, nullptr);
  EXPECT_EQ(d->billing, adapter_rule);

  // The region-specific override wins over the live 5.00 and the regionless one.
  const Offer* e = find(s, "e", "r1");
  ASSERT_NE(e, nullptr);
  EXPECT_EQ(e->price_per_hour, usd("1.40"));
  EXPECT_EQ(e->source, "live + priceOverride");
  EXPECT_EQ(e->gpu_count, 2);
}

TEST_F(PricingTest, SpecBillingAndReliabilityApplyToApiOnlyOffers) {
  Offer community = make_offer("x", "r9", "0.40");
  community.tier = ReliabilityTier::Community;
  Inputs in = inputs({});
  BillingRule admin;
  admin.minimum = 3600s;
  admin.increment = 3600s;
  in.billing = admin;
  in.egress_usd_per_gb = usd("0.01");
  in.reliability = ReliabilityTier::Datacenter;
  make({{community, -1}}, std::move(in));
  Snapshot s = refresher_->refresh_if_due();
  const Offer* x = find(s, "x", "r9");
  ASSERT_NE(x, nullptr);
  EXPECT_EQ(x->billing.minimum, 3600s);
  EXPECT_EQ(x->billing.egress_per_gb, usd("0.01"));
  EXPECT_EQ(x->tier, ReliabilityTier::Datacenter);
}

TEST_F(PricingTest, RegionlessCatalogOfferMatchesLiveOfferInAnyRegion) {
  make({{make_offer("a", "eu-1", "1.25"), -1}}, inputs({catalog_offer("a", "", "2.00")}));
  Snapshot s = refresher_->refresh_if_due();
  ASSERT_EQ(s.offers->size(), 1u);
  const Offer& a = s.offers->front();
  EXPECT_EQ(a.region, "eu-1");
  EXPECT_EQ(a.price_per_hour, usd("1.25"));
  EXPECT_EQ(a.billing, catalog_rule());
}

// Vast.ai sells listings (catalog::OfferIds::Listing): its live ids are ask
// ids, its catalog rows name the GPU model. Live asks of a row's shape replace
// the row; a shape no ask offers keeps its row.
TEST(PricingMerge, ListingsReplaceTheCatalogRowOfTheirShape) {
  Inputs in;
  in.provider_name = "vast";
  in.provider_type = "vastai";
  in.catalog = {catalog_offer("L40S", "", "0.68"), catalog_offer("L40", "", "0.69", "L40")};
  Offer ask1 = make_offer("4101", "US", "0.55");
  Offer ask2 = make_offer("4102", "CA", "0.61");
  const std::vector<Offer> merged = merge(in, {ask1, ask2}, t0());
  std::vector<std::string> ids;
  for (const Offer& o : merged)
    ids.push_back(o.id);
  EXPECT_EQ(ids, (std::vector<std::string>{"4101", "4102", "L40"}));
  // A shape provider keeps an unmatched row beside an offer with another id.
  in.provider_type = "verda";
  EXPECT_EQ(merge(in, {ask1, ask2}, t0()).size(), 4u);
}

TEST_F(PricingTest, FailureKeepsYoungLiveSetThenFallsBackToCatalog) {
  make_standard();
  (void)refresher_->refresh_if_due();
  clock_.advance(600s);
  provider_->fail_next(FakeMethod::Offers, provider_error(ProviderErrorKind::Transient, "HTTP 503"),
                       100);
  Snapshot s = refresher_->refresh_if_due();
  EXPECT_EQ(s.source, PriceSource::Stale);
  EXPECT_EQ(find(s, "a", "r1")->price_per_hour, usd("1.50"));
  ASSERT_TRUE(s.last_error.has_value());
  EXPECT_EQ(s.last_error->kind, ProviderErrorKind::Transient);
  EXPECT_EQ(s.last_success, t0());
  EXPECT_EQ(s.next_refresh, clock_.now() + 60s);  // failure retry, not the full interval

  api::GpuProviderStatus status;
  apply_to_status(s, 4, clock_.now(), status);
  EXPECT_EQ(status.conditions[0].reason, "StalePrices");
  EXPECT_EQ(status.conditions[0].observed_generation, 4);
  EXPECT_EQ(status.last_price_refresh, t0());
  EXPECT_EQ(status.offers_seen, 1);

  // Max age defaults to three intervals (1800 s) after the last success.
  clock_.advance(1200s);  // t0 + 1800: still young enough
  s = refresher_->refresh_if_due();
  EXPECT_EQ(s.source, PriceSource::Stale);
  clock_.advance(1s);
  s = refresher_->snapshot();  // ages without any call
  EXPECT_EQ(s.source, PriceSource::Catalog);
  EXPECT_EQ(find(s, "a", "r1")->price_per_hour, usd("2.00"));
  EXPECT_EQ(s.live_offers, 0);
  EXPECT_EQ(s.offers_seen, 0);
  apply_to_status(s, 4, clock_.now(), status);
  EXPECT_EQ(status.conditions.size(), 1u);
  EXPECT_EQ(status.conditions[0].reason, "CatalogFallback");
  EXPECT_NE(status.conditions[0].message.find("HTTP 503"), std::string::npos);
  EXPECT_EQ(status.last_price_refresh, t0());  // last success is still reported
}

TEST_F(PricingTest, RecoversAfterFailures) {
  make_standard();
  provider_->fail_next(FakeMethod::Offers, provider_error(ProviderErrorKind::Transient, "timeout"),
                       2);
  Snapshot s = refresher_->refresh_if_due();
  EXPECT_EQ(s.source, PriceSource::Catalog);
  clock_.advance(60s);
  s = refresher_->refresh_if_due();
  EXPECT_EQ(s.failures, 2);
  api::GpuProviderStatus status;
  apply_to_status(s, 1, clock_.now(), status);
  const Time fell_back = status.conditions[0].last_transition_time;
  clock_.advance(60s);
  s = refresher_->refresh_if_due();
  EXPECT_EQ(s.source, PriceSource::Live);
  EXPECT_FALSE(s.last_error.has_value());
  EXPECT_EQ(s.last_success, clock_.now());
  EXPECT_EQ(find(s, "a", "r1")->price_per_hour, usd("1.50"));
  apply_to_status(s, 1, clock_.now(), status);
  EXPECT_EQ(status.conditions[0].status, api::ConditionStatus::True);
  EXPECT_EQ(status.conditions[0].last_transition_time, clock_.now());
  EXPECT_NE(fell_back, clock_.now());
}

TEST_F(PricingTest, UnauthorizedIsSurfacedAndNotRetriedInALoop) {
  make_standard();
  provider_->fail_next(FakeMethod::Offers,
                       provider_error(ProviderErrorKind::Unauthorized, "401 invalid API key"), 100);
  Snapshot s = refresher_->refresh_if_due();
  ASSERT_TRUE(s.last_error.has_value());
  EXPECT_EQ(s.last_error->kind, ProviderErrorKind::Unauthorized);
  EXPECT_EQ(s.last_error->at, t0());
  for (int i = 0; i < 5; ++i)
    (void)refresher_->refresh_if_due();
  EXPECT_EQ(provider_->calls(FakeMethod::Offers), 1);
  api::GpuProviderStatus status;
  apply_to_status(s, 1, clock_.now(), status);
  EXPECT_NE(status.conditions[0].message.find("Unauthorized: 401 invalid API key"),
            std::string::npos);
}

TEST_F(PricingTest, RateLimitHintDelaysTheRetryUpToOneInterval) {
  make_standard();
  provider_->fail_next(FakeMethod::Offers, rate_limited("slow down", 300s));
  Snapshot s = refresher_->refresh_if_due();
  EXPECT_EQ(s.next_refresh, t0() + 300s);
  provider_->fail_next(FakeMethod::Offers, rate_limited("slow down", 5000s));
  clock_.advance(300s);
  s = refresher_->refresh_if_due();
  EXPECT_EQ(s.next_refresh, clock_.now() + 600s);
}

TEST_F(PricingTest, GarbledAnswerIsInvalidRequestAndFallsBack) {
  Offer no_gpus = make_offer("a", "r1", "1.00");
  no_gpus.gpu_count = 0;
  Offer negative = make_offer("z", "r1", "1.00");
  negative.price_per_hour = -usd("1.00");
  make({{no_gpus, -1}, {negative, -1}}, inputs({catalog_offer("a", "r1", "2.00")}));
  Snapshot s = refresher_->refresh_if_due();
  ASSERT_TRUE(s.last_error.has_value());
  EXPECT_EQ(s.last_error->kind, ProviderErrorKind::InvalidRequest);
  EXPECT_NE(s.last_error->message.find("none usable"), std::string::npos);
  EXPECT_EQ(s.source, PriceSource::Catalog);
  ASSERT_EQ(s.offers->size(), 1u);
  EXPECT_EQ(s.offers->front().price_per_hour, usd("2.00"));
}

TEST_F(PricingTest, AdapterParseErrorKeepsLastGoodSet) {
  make_standard();
  (void)refresher_->refresh_if_due();
  clock_.advance(600s);
  provider_->fail_next(FakeMethod::Offers,
                       provider_error(ProviderErrorKind::InvalidRequest, "unreadable JSON"));
  Snapshot s = refresher_->refresh_if_due();
  EXPECT_EQ(s.source, PriceSource::Stale);
  EXPECT_EQ(s.last_error->kind, ProviderErrorKind::InvalidRequest);
  EXPECT_EQ(find(s, "a", "r1")->price_per_hour, usd("1.50"));
}

TEST_F(PricingTest, InvalidOffersAreDroppedFromAMixedAnswer) {
  Offer bad = make_offer("", "r1", "1.00");
  make({{make_offer("a", "r1", "1.50"), -1}, {bad, -1}}, inputs({}));
  Snapshot s = refresher_->refresh_if_due();
  EXPECT_EQ(s.source, PriceSource::Live);
  EXPECT_EQ(s.offers_seen, 1);
  EXPECT_EQ(s.offers->size(), 1u);
}

TEST_F(PricingTest, SetInputsRemergesWithoutCallingTheApi) {
  make_standard();
  (void)refresher_->refresh_if_due();
  Inputs in = inputs({catalog_offer("a", "r1", "2.00")});
  in.price_overrides.push_back({"L40S", std::nullopt, usd("0.50")});
  refresher_->set_inputs(std::move(in));
  Snapshot s = refresher_->snapshot();
  EXPECT_EQ(provider_->calls(FakeMethod::Offers), 1);
  EXPECT_EQ(s.offers->size(), 1u);  // b left the catalog
  EXPECT_EQ(find(s, "a", "r1")->price_per_hour, usd("0.50"));
}

TEST_F(PricingTest, ConcurrentCallersShareOneRefresh) {
  make_standard();
  std::vector<std::thread> threads;
  for (int i = 0; i < 4; ++i) {
    threads.emplace_back([this] {
      for (int j = 0; j < 50; ++j)
        (void)refresher_->refresh_if_due();
    });
  }
  for (auto& t : threads)
    t.join();
  EXPECT_EQ(provider_->calls(FakeMethod::Offers), 1);
  EXPECT_EQ(refresher_->snapshot().source, PriceSource::Live);
}

TEST(PricingInputs, FromGpuProviderReadsTheSpec) {
  api::GpuProvider gp;
  gp.metadata.name = "fluence-main";
  gp.spec.type = "fluence";
  gp.spec.regions = {"US"};
  gp.spec.pricing_refresh_seconds = 10;
  gp.spec.reliability = ReliabilityTier::Datacenter;
  Inputs in = Inputs::from(gp, catalog::offers_for(gp));
  EXPECT_EQ(in.provider_name, "fluence-main");
  EXPECT_EQ(in.refresh_interval, 60s);  // raised to the CRD minimum
  EXPECT_EQ(in.query.regions, std::vector<std::string>{"US"});
  EXPECT_FALSE(in.query.include_community);
  EXPECT_FALSE(in.query.gpu_models.empty());
  EXPECT_FALSE(in.catalog.empty());
  gp.spec.pricing_refresh_seconds = 7200;
  EXPECT_EQ(Inputs::from(gp, {}).refresh_interval, 7200s);
  EXPECT_EQ(Inputs::from(gp, {}).query.gpu_models, (std::vector<std::string>{"L40S", "L40"}));
}

}  // namespace
}  // namespace gpupool::pricing
