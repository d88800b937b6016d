#pragma once
// The default price catalog: L40S and L40 offers as the seed documents
// (shared/seeds/) and the provider research notes describe them, with each
// provider's billing rule, egress price and reliability tier. Used when a
// provider's API gives no live prices, by `gpupool-operator plan`, and as the
// base that a GpuProvider's spec overrides.
//
// The figures are a dated snapshot, not truth: every entry carries a source
// note (which document, which date, and every assumption made where the
// documents give no figure), and every field can be overridden per
// GpuProvider (price per GPU-hour by model and region, billing rule, egress
// price, reliability tier, regions).
//
// Assumptions applied where the documents are silent (stated again in each
// entry's note):
//  * Egress "yes" without a figure: $0.12/GB, the top of the only documented
//    per-GB range ($0.08-0.12, hyperscalers), so estimates err high.
//  * Billing granularity unknown: hourly from launch (seed 001: most
//    platforms bill a 1-3 hour minimum), so estimates err high.
//  * Only a price range for a provider: the range's upper bound, unless the
//    document places the provider at the low end.
//
// Providers whose adapter types the API does not know (salad, novita, civo)
// are listed for reference and for `plan` without GpuProvider objects.
//
// Thread-safety: pure functions returning fresh values; safe concurrently.

#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "operator/clock/clock.h"
#include "operator/core/api_types.h"
#include "operator/core/money.h"
#include "operator/core/offer.h"

namespace gpupool::catalog {

// The catalog as a whole: the newest document date it is built from.
inline constexpr std::string_view kCatalogDate = "2026-01";

// Offer ids. A catalog row's offer_id is the id the provider's adapter gives
// the same machine in its live offers, so live prices merge over the catalog
// by id (pricing::merge) instead of sitting beside it:
//
//   type          id form (adapter's)                    example
//   aws           instance type                          g6e.xlarge
//   runpod        <SECURE|COMMUNITY>/<GPU type id>       SECURE/NVIDIA L40S
//                 [ x<N>] for N > 1 GPUs per pod          SECURE/NVIDIA L40S x4
//   verda         instance type                          1L40S.20V
//   digitalocean  size slug                              gpu-l40sx1-48gb
//   scaleway      commercial type                        L40S-1-48G
//   vultr         plan id                                vcg-l40s-16c-180g-48vram
//   lambda        instance type name (no catalog rows)   gpu_1x_l40s
//   vastai        ask id (a listing)                     12345678
//   fluence       plan option id (a listing)             (the API's option id)
//
// Vast.ai and Fluence sell listings: each live offer is one host's ask or one
// plan option, with an id no catalog can know in advance. Their catalog rows
// name the shape instead (the GPU model, "L40S" / "l40s") and stand in for
// it until the provider answers; once live listings of that GPU model and
// count exist they replace the row (see offer_ids_of_type and pricing::merge).
// A test lists every adapter's offers from its emulator and checks this
// (tests/emulators/conformance, LivePricesMergeOverTheCatalog).
enum class OfferIds {
  Shape,    // a live offer's id names a machine shape; the catalog uses the same id
  Listing,  // a live offer's id names one listing; catalog rows name the shape
};
// Listing for "vastai" and "fluence"; Shape for every other type.
OfferIds offer_ids_of_type(std::string_view provider_type);

// One catalog row: one machine shape at one provider.
struct Entry {
  std::string provider_type;  // "fluence", "aws", ...
  std::string offer_id;       // the adapter's id for the shape (OfferIds above)
  std::string gpu_model;      // canonical: "L40S", "L40"
  int gpu_count = 1;          // GPUs per machine
  Money price_per_hour;       // whole machine, on demand
  // Where the documents place the shape, in the form the provider's adapter
  // gives Offer::region (provider.h, "Regions"). Empty: not known, the price
  // is taken to hold in every region.
  std::vector<std::string> regions;
  // True when `regions` is the complete list (Verda's four L40S
  // locations); false when it only says where the price was quoted, so other
  // regions a GpuProvider names get the same price.
  bool regions_exhaustive = false;
  ReliabilityTier tier = ReliabilityTier::Datacenter;
  bool spot = false;
  // > 0: the provider also sells machines with 2..max_gpus_linear of these
  // GPUs at gpu_count x the per-GPU price (Runpod pods, Vast.ai and Fluence
  // options, assumed linear); such shapes are produced on request
  // (Options::gpu_counts).
  int max_gpus_linear = 0;
  BillingRule billing;     // includes egress_per_gb
  Time as_of{};            // date of the figure
  std::string as_of_text;  // "2026", "2025-12"
  std::string note;        // source and assumptions, for people
};

// A provider/model pair the catalog deliberately has no offer for.
struct Gap {
  enum class Kind {
    NotOffered,  // the provider does not sell this GPU (as far as the documents show)
    NoFigure,    // sold, but the documents give no usable price
  };
  std::string provider_type;
  std::string gpu_model;
  Kind kind = Kind::NotOffered;
  std::string note;
};

// How to read Fluence's billing. The seed documents say "three-hour minimum,
// hourly increments" (a charge, counted from launch); Fluence's own GPU Cloud
// docs (docs/build/gpu_cloud/overview.md, "Billing model";
// shared/reference/providers.md 1.8) describe fixed UTC clock hours with a
// 3-hour prepaid deposit whose unused part is refunded on termination. The
// provider's own documentation is the better source for what an account is
// billed, so FluenceDocs is the default; the seed reading stays available
// (GpuProvider spec.billing, `plan --fluence-billing seed`) for accounts
// billed the older way. docs/billing.md.
enum class FluenceBilling { SeedDocuments, FluenceDocs };

struct Options {
  FluenceBilling fluence = FluenceBilling::FluenceDocs;
  // GPUs-per-machine shapes wanted from rows with max_gpus_linear: each such
  // row gives one offer per count in [1, max_gpus_linear] listed here (id
  // suffixed " xN" when N differs from the row's own count) instead of its
  // native shape. Empty: native shapes only. Fixed-shape rows are unaffected.
  std::vector<int> gpu_counts;
};

// The options the operator (ProviderRegistry) and `plan` both build catalog
// offers with, so both plan on the same offers: the default Fluence reading
// and every GPUs-per-machine count a pool can ask for (1..16).
Options planning_options(FluenceBilling fluence = FluenceBilling::FluenceDocs);

// Every catalog row, in a stable order (provider, then model).
std::vector<Entry> entries(const Options& options = {});
// Every provider/model pair with no offer, and why.
std::vector<Gap> gaps();

// The default billing rule (with egress price) of a provider type, also for
// types with no catalog rows (lambda: per-minute). nullopt for unknown types.
std::optional<BillingRule> default_billing(std::string_view provider_type,
                                           const Options& options = {});
BillingRule fluence_billing(FluenceBilling reading);

// Catalog offers of one provider type, one Offer per (row, region); a row
// with no known region gives one Offer with an empty region. Offer::provider
// is `provider_name`, or the type when empty. Unknown types give none.
std::vector<Offer> offers_for_type(std::string_view provider_type,
                                   std::string_view provider_name = {},
                                   const Options& options = {});

// Catalog offers for one GpuProvider object, with its spec applied:
//  * provider = metadata.name, provider_type = spec.type;
//  * spec.regions (when set) restricts rows with an exhaustive region list to
//    those regions and places every other row in each of them;
//  * spec.billing replaces the whole billing rule, including its egress
//    price; spec.egress_usd_per_gb then replaces the egress price;
//  * spec.reliability: Community marks every offer community-tier.
//    Datacenter drops the provider's community rows for a GPU model when it
//    also has a datacenter row for that model (it sells both tiers, so the
//    setting selects one: Runpod Secure Cloud), and otherwise marks the rows
//    datacenter-tier (the account is known to be better than the catalog
//    says);
//  * spec.runpod.cloudType SECURE or COMMUNITY keeps only that cloud's rows,
//    as the adapter does;
//  * spec.price_overrides set price = pricePerGpuHour × GPUs per machine for
//    rows of that GPU model (case-insensitive); an override naming the
//    offer's region wins over one without a region; among equals the first
//    wins. Overrides only change offers the catalog has; they never create
//    offers for gaps. Offer::source then ends in "+ priceOverride".
// spec.paused and spec.quota are not applied here (they are planner inputs).
std::vector<Offer> offers_for(const api::GpuProvider& provider, const Options& options = {});

// Offers with an unknown (empty) region are replaced by one copy in each of
// `regions`; offers with a region, and all offers when `regions` is empty,
// are kept as they are. For a pool's per-provider region list: a catalog
// price with no known region holds in every region.
std::vector<Offer> place_in_regions(std::vector<Offer> offers,
                                    const std::vector<std::string>& regions);

// "not offered" / "no figure".
std::string_view to_string(Gap::Kind kind);

}  // namespace gpupool::catalog
