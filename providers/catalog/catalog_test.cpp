#include "providers/catalog/catalog.h"
#include "providers/provider.h"

#include <gtest/gtest.h>

#include <set>

#include <algorithm>
#include <chrono>

namespace gpupool::catalog {
namespace {

using namespace std::chrono_literals;

Money usd(std::string_view s) {
  return Money::parse(s).value();
}

std::vector<Offer> only(const std::vector<Offer>& offers, std::string_view model) {
  std::vector<Offer> out;
  for (const Offer& o : offers) {
    if (o.gpu_model == model) out.push_back(o);
  }
  return out;
}

api::GpuProvider provider(std::string name, std::string type) {
  api::GpuProvider p;
  p.metadata.name = std::move(name);
  p.spec.type = std::move(type);
  return p;
}

TEST(CatalogTest, EveryEntryIsCompleteAndSourced) {
  const auto all = entries();
  ASSERT_FALSE(all.empty());
  for (const Entry& e : all) {
    SCOPED_TRACE(e.provider_type + " " + e.offer_id);
    EXPECT_TRUE(e.gpu_model == "L40S" || e.gpu_model == "L40");
    EXPECT_GE(e.gpu_count, 1);
    EXPECT_GT(e.price_per_hour, Money());
    EXPECT_GT(e.billing.increment.count(), 0);
    EXPECT_GE(e.billing.egress_per_gb, Money());
    EXPECT_FALSE(e.note.empty());
    EXPECT_NE(e.note.find("seeds/"), std::string::npos) << "entry must cite a document";
    EXPECT_GE(e.as_of, std::chrono::sys_days{2025y / 12 / 1});
    EXPECT_EQ(default_billing(e.provider_type).value(), e.billing) << "rows use their type's rule";
  }
}

TEST(CatalogTest, SeedFiguresAndDefaults) {
  // Fluence's own docs are the default reading (issue 8): UTC clock hours
  // with a refundable 3 h deposit.
  const auto fluence = only(offers_for_type("fluence"), "L40S");
  // Seed 000's seven cities, four of them with a known location id.
  ASSERT_EQ(fluence.size(), 4u);
  for (const Offer& o : fluence) {
    EXPECT_EQ(o.price_per_hour, usd("1.27"));
    EXPECT_EQ(o.billing.minimum, 3h);
    EXPECT_EQ(o.billing.increment, 1h);
    EXPECT_EQ(o.billing.alignment, BillingAlignment::WallClock);
    EXPECT_EQ(o.billing.minimum_kind, MinimumKind::Deposit);
    EXPECT_TRUE(o.billing.egress_per_gb.is_zero());
    EXPECT_EQ(o.tier, ReliabilityTier::Datacenter);
    EXPECT_EQ(o.provider, "fluence");
  }
  EXPECT_TRUE(std::any_of(fluence.begin(), fluence.end(),
                          [](const Offer& o) { return o.region == "culpeper-usa-1"; }));

  const auto aws = offers_for_type("aws", "aws-prod");
  ASSERT_EQ(aws.size(), 3u);  // g6e.xlarge, g6e.12xlarge (4 GPUs), g6e.48xlarge (8 GPUs)
  EXPECT_EQ(aws[1].gpu_count, 4);
  EXPECT_EQ(aws[2].gpu_count, 8);
  EXPECT_EQ(aws[0].id, "g6e.xlarge");
  EXPECT_EQ(aws[0].provider, "aws-prod");
  EXPECT_EQ(aws[0].price_per_hour, usd("1.86"));
  EXPECT_EQ(aws[0].billing.minimum, 60s);
  EXPECT_EQ(aws[0].billing.increment, 1s);
  EXPECT_EQ(aws[0].billing.egress_per_gb, usd("0.09"));

  for (std::string_view type : {"runpod", "vastai"}) {
    for (const Offer& o : offers_for_type(type)) {
      EXPECT_EQ(o.billing.increment, 1s);
      EXPECT_EQ(o.billing.minimum, 0s);
    }
  }
  EXPECT_EQ(default_billing("lambda")->increment, 60s);
  EXPECT_FALSE(default_billing("nosuch").has_value());
  EXPECT_TRUE(offers_for_type("nosuch").empty());

  const auto vast = offers_for_type("vastai");
  ASSERT_FALSE(vast.empty());
  EXPECT_EQ(vast[0].tier, ReliabilityTier::Community);
  EXPECT_EQ(vast[0].billing.egress_per_gb, usd("0.12"));
}

TEST(CatalogTest, FluenceSeedReadingIsSelectable) {
  Options seed;
  seed.fluence = FluenceBilling::SeedDocuments;
  const auto offers = offers_for_type("fluence", "", seed);
  ASSERT_FALSE(offers.empty());
  for (const Offer& o : offers) {
    EXPECT_EQ(o.billing.alignment, BillingAlignment::Launch);
    EXPECT_EQ(o.billing.minimum_kind, MinimumKind::Charge);
    EXPECT_EQ(o.billing.minimum, 3h);
    EXPECT_EQ(o.billing.increment, 1h);
  }
}

TEST(CatalogTest, PlanningOptionsMakeEveryShapeAPoolCanAskFor) {
  const auto offers = offers_for_type("runpod", "", planning_options());
  std::set<int> counts;
  for (const Offer& o : offers)
    counts.insert(o.gpu_count);
  EXPECT_TRUE(counts.count(1) && counts.count(2) && counts.count(4)) << counts.size();
  EXPECT_EQ(planning_options().fluence, FluenceBilling::FluenceDocs);
}

TEST(CatalogTest, ProvidersWithoutTheGpuAreListedAsGaps) {
  const auto g = gaps();
  const auto has = [&](std::string_view type, std::string_view model, Gap::Kind kind) {
    return std::any_of(g.begin(), g.end(), [&](const Gap& x) {
      return x.provider_type == type && x.gpu_model == model && x.kind == kind && !x.note.empty();
    });
  };
  EXPECT_TRUE(has("aws", "L40", Gap::Kind::NotOffered));
  EXPECT_TRUE(has("lambda", "L40S", Gap::Kind::NotOffered));
  EXPECT_TRUE(has("lambda", "L40", Gap::Kind::NotOffered));
  EXPECT_TRUE(only(offers_for_type("aws"), "L40").empty());
  EXPECT_TRUE(offers_for_type("lambda").empty());
  // No pair is both a gap and an entry.
  for (const Gap& x : g) {
    EXPECT_TRUE(only(offers_for_type(x.provider_type), x.gpu_model).empty())
        << x.provider_type << " " << x.gpu_model;
  }
  EXPECT_EQ(to_string(Gap::Kind::NoFigure), "no figure");
}

// Issue 11: a catalog row's regions are written the way its adapter's live
// offers name regions (provider.h "Regions"), so one GpuProvider region list
// selects both.
TEST(CatalogTest, RegionsHaveTheAdaptersForm) {
  for (const Entry& e : entries(planning_options())) {
    for (const std::string& r : e.regions) {
      EXPECT_TRUE(region_has_form(e.provider_type, r))
          << e.provider_type << " " << e.offer_id << ": region '" << r << "'";
    }
  }
}

TEST(CatalogOverridesTest, NoOverridesMatchesTheCatalogUnderTheObjectName) {
  const auto plain = offers_for_type("runpod", "runpod-main");
  EXPECT_EQ(offers_for(provider("runpod-main", "runpod")), plain);
}

TEST(CatalogOverridesTest, PriceOverrideByModelAndRegion) {
  api::GpuProvider p = provider("fl", "fluence");
  p.spec.price_overrides.push_back({"l40s", std::nullopt, usd("1.10")});  // case-insensitive
  p.spec.price_overrides.push_back({"L40S", std::string("warsaw-poland-1"), usd("0.99")});
  const auto offers = offers_for(p);
  int seen = 0;
  for (const Offer& o : offers) {
    if (o.gpu_model == "L40S") {
      ++seen;
      EXPECT_EQ(o.price_per_hour, o.region == "warsaw-poland-1" ? usd("0.99") : usd("1.10"))
          << o.region;
      EXPECT_NE(o.source.find("priceOverride"), std::string::npos);
    } else {
      EXPECT_EQ(o.price_per_hour, usd("1.27"));  // the L40 row is untouched
      EXPECT_EQ(o.source.find("priceOverride"), std::string::npos);
    }
  }
  EXPECT_EQ(seen, 4);
}

TEST(CatalogOverridesTest, PriceOverrideIsPerGpuAndNeverCreatesOffers) {
  api::GpuProvider cw = provider("cw", "coreweave");
  cw.spec.price_overrides.push_back({"L40", std::nullopt, usd("1.50")});
  for (const Offer& o : offers_for(cw)) {
    if (o.gpu_model == "L40") {
      EXPECT_EQ(o.price_per_hour, usd("12"));  // 8 GPUs per node
    }
  }
  api::GpuProvider aws = provider("aws", "aws");
  aws.spec.price_overrides.push_back({"L40", std::nullopt, usd("1.00")});
  EXPECT_TRUE(only(offers_for(aws), "L40").empty());
}

TEST(CatalogOverridesTest, BillingEgressAndReliabilityOverrides) {
  api::GpuProvider p = provider("fl", "fluence");
  BillingRule docs = fluence_billing(FluenceBilling::FluenceDocs);
  docs.egress_per_gb = usd("0.5");
  p.spec.billing = docs;
  for (const Offer& o : offers_for(p))
    EXPECT_EQ(o.billing, docs);

  p.spec.egress_usd_per_gb = usd("0.01");
  p.spec.reliability = ReliabilityTier::Community;
  for (const Offer& o : offers_for(p)) {
    EXPECT_EQ(o.billing.egress_per_gb, usd("0.01"));
    EXPECT_EQ(o.billing.alignment, BillingAlignment::WallClock);
    EXPECT_EQ(o.tier, ReliabilityTier::Community);
  }
}

TEST(CatalogOverridesTest, RegionRestriction) {
  // Exhaustive list (Verda's locations): only the named locations the
  // catalog has.
  api::GpuProvider verda = provider("verda", "verda");
  verda.spec.regions = {"FIN-03", "TOKYO-01"};
  const auto fin = offers_for(verda);
  ASSERT_EQ(fin.size(), 1u);
  EXPECT_EQ(fin[0].region, "FIN-03");
  // Fluence's L40S list is not exhaustive: the price carries over to every
  // named location; the L40 row has no known location: it is placed in each.
  api::GpuProvider fl = provider("fl", "fluence");
  fl.spec.regions = {"warsaw-poland-1", "tokyo-japan-2"};
  const auto l40s = only(offers_for(fl), "L40S");
  ASSERT_EQ(l40s.size(), 2u);
  EXPECT_EQ(l40s[0].region, "warsaw-poland-1");
  EXPECT_EQ(l40s[1].region, "tokyo-japan-2");
  const auto l40 = only(offers_for(fl), "L40");
  ASSERT_EQ(l40.size(), 2u);
  EXPECT_EQ(l40[0].region, "warsaw-poland-1");
  EXPECT_EQ(l40[1].region, "tokyo-japan-2");

  // Non-exhaustive list (price quoted for us-east-1): the price carries over.
  api::GpuProvider aws = provider("aws", "aws");
  aws.spec.regions = {"us-west-2", "eu-west-1"};
  const auto offers = offers_for(aws);
  ASSERT_EQ(offers.size(), 6u);  // three shapes in two regions
  EXPECT_EQ(offers[0].region, "us-west-2");
  EXPECT_EQ(offers[1].region, "eu-west-1");
  EXPECT_EQ(offers[1].price_per_hour, usd("1.86"));
}

TEST(CatalogOverridesTest, DatacenterReliabilitySelectsATierOrPromotes) {
  api::GpuProvider runpod = provider("rp", "runpod");
  runpod.spec.reliability = ReliabilityTier::Datacenter;
  const auto offers = offers_for(runpod);
  ASSERT_FALSE(offers.empty());
  for (const Offer& o : offers) {
    EXPECT_EQ(o.tier, ReliabilityTier::Datacenter);
    EXPECT_EQ(o.id.find("community"), std::string::npos) << o.id;  // Secure Cloud only
  }
  EXPECT_LT(offers.size(), offers_for(provider("rp", "runpod")).size());

  // Vast.ai has no datacenter row: the setting promotes its rows.
  api::GpuProvider vast = provider("v", "vastai");
  vast.spec.reliability = ReliabilityTier::Datacenter;
  const auto promoted = offers_for(vast);
  EXPECT_EQ(promoted.size(), offers_for(provider("v", "vastai")).size());
  for (const Offer& o : promoted)
    EXPECT_EQ(o.tier, ReliabilityTier::Datacenter);
}

// spec.runpod.cloudType: the catalog offers what the adapter would buy.
TEST(CatalogOverridesTest, RunpodCloudTypeKeepsThatCloudsRows) {
  api::GpuProvider runpod = provider("rp", "runpod");
  runpod.spec.runpod = api::RunpodSettings{};
  runpod.spec.runpod->cloud_type = "COMMUNITY";
  const auto community = offers_for(runpod);
  ASSERT_FALSE(community.empty());
  for (const Offer& o : community)
    EXPECT_TRUE(o.id.starts_with("COMMUNITY/")) << o.id;
  runpod.spec.runpod->cloud_type = "SECURE";
  const auto secure = offers_for(runpod);
  ASSERT_FALSE(secure.empty());
  for (const Offer& o : secure)
    EXPECT_TRUE(o.id.starts_with("SECURE/")) << o.id;
  runpod.spec.runpod->cloud_type = "ALL";
  EXPECT_EQ(offers_for(runpod).size(), community.size() + secure.size());
}

TEST(CatalogTest, MultiGpuShapesOnRequest) {
  Options o;
  o.gpu_counts = {2, 4, 16};
  const auto runpod = only(offers_for_type("runpod", "", o), "L40S");
  // Two rows (secure, community) in 2 and 4 GPUs; 16 is above the 8-GPU limit.
  ASSERT_EQ(runpod.size(), 4u);
  EXPECT_EQ(runpod[0].id, "SECURE/NVIDIA L40S x2");
  EXPECT_EQ(runpod[0].gpu_count, 2);
  EXPECT_EQ(runpod[0].price_per_hour, usd("1.72"));
  EXPECT_EQ(runpod[1].gpu_count, 4);
  EXPECT_EQ(runpod[1].price_per_hour, usd("3.44"));
  // Fixed shapes are unaffected: AWS still has its 1-, 4- and 8-GPU types.
  EXPECT_EQ(offers_for_type("aws", "", o).size(), 3u);
  // The same through a GpuProvider.
  EXPECT_EQ(only(offers_for(provider("rp", "runpod"), o), "L40S").size(), 4u);
}

TEST(CatalogTest, PlaceInRegions) {
  std::vector<Offer> offers = offers_for_type("runpod");
  offers.push_back(offers_for_type("aws")[0]);
  const auto placed = place_in_regions(offers, {"EU-RO-1", "US-KS-2"});
  ASSERT_EQ(placed.size(), 2 * (offers.size() - 1) + 1);
  EXPECT_EQ(placed[0].region, "EU-RO-1");
  EXPECT_EQ(placed[1].region, "US-KS-2");
  EXPECT_EQ(placed.back().region, "us-east-1");  // known regions are kept
  EXPECT_EQ(place_in_regions(offers, {}), offers);
}

}  // namespace
}  // namespace gpupool::catalog
