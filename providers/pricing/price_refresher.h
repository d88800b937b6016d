#pragma once
// Live prices for one GpuProvider: asks the adapter for its offers at most
// once per refresh interval and merges them over the static catalog, so the
// planner always has an offer set, whether the provider's API answers or not.
//
// Usage (one PriceRefresher per GpuProvider object, kept as long as its
// adapter; the GpuProvider reconciler owns both):
//
//   pricing::PriceRefresher prices(adapter, clock,
//                                  pricing::Inputs::from(gp, catalog::offers_for(gp)));
//   ...on every reconcile of the GpuProvider:
//   prices.set_inputs(pricing::Inputs::from(gp, catalog::offers_for(gp)));  // spec may have
//   changed pricing::Snapshot s = prices.refresh_if_due();   // calls the API only when due
//   pricing::apply_to_status(s, gp.metadata.generation, clock.now(), gp.status);
//   requeue after (s.next_refresh - clock.now());
//   ...the planner reads prices.snapshot().offers (no I/O, never blocks on the API).
//
// Merge and precedence. Offers are matched by planner::offer_key
// ("provider/id/region"); a catalog offer with an empty region (price known
// for every region) matches any live offer with the same id. For a matched
// offer, in increasing precedence:
//   1. catalog figures (tier, billing rule, egress: already with the
//      GpuProvider's spec.billing / egressUsdPerGb / reliability applied);
//   2. the live answer: price_per_hour, capacity_hint, gpu model/count,
//      spot, as_of; source becomes "live";
//   3. the GpuProvider's spec.priceOverrides (pricePerGpuHour x GPUs; an
//      override naming the region wins over one without): the admin said so,
//      so an override beats the live price. source then ends "+ priceOverride".
// Offers only the API knows are added: billing is the adapter's rule, or the
// catalog's default rule for the provider type (catalog::default_billing) when
// the adapter gives none (a default-constructed BillingRule); then spec.billing,
// egressUsdPerGb, reliability and priceOverrides apply as above.
// Vast.ai and Fluence sell listings (catalog::OfferIds::Listing): their live
// ids are ask / plan option ids the catalog cannot know, and their catalog
// rows name a shape. A live listing with the row's GPU model and count (any
// region) replaces the row: the row is dropped, the listings carry the price.
// Catalog offers no live offer matched are kept unchanged; their source still
// starts with "catalog" (is_live() is false). Every offer carries
// provider = GpuProvider name and provider_type = spec.type.
//
// Live offers are checked before merging: an offer with an empty id, a
// gpu_count < 1, an empty GPU model or a negative price is dropped. An answer
// that holds offers but none usable is a failure of kind InvalidRequest (a
// garbled answer). An empty answer is a success with zero live offers.
//
// Refresh timing (all on the injected Clock):
//   * due when no attempt was made yet, or when refresh_interval has passed
//     since the last successful refresh;
//   * after a failed attempt the next one is due failure_retry later, or
//     later still when the error is RateLimited with a longer retry_after,
//     but never later than refresh_interval;
//   * set_inputs() with a changed interval takes effect at once.
// Failure fallback: the last good live set stays in use (source Stale) while
// it is younger than max_live_age; after that, and before the first success,
// the effective set is the catalog alone (source Catalog).
//
// Thread safety: every method is safe to call concurrently. At most one call
// to provider.offers() is in flight per refresher: a refresh_if_due() that
// finds one running returns the current snapshot at once. Snapshots are
// immutable values (the offer vector is shared, const).

#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "operator/base/thread_annotations.h"
#include "operator/clock/clock.h"
#include "operator/core/api_types.h"
#include "operator/core/offer.h"
#include "providers/provider.h"

namespace gpupool::pricing {

// Defaults when the GpuProvider says nothing.
inline constexpr Duration kDefaultRefreshInterval{3600};  // spec.pricingRefreshSeconds default
inline constexpr Duration kDefaultFailureRetry{60};
inline constexpr int kDefaultMaxAgeIntervals = 3;  // max_live_age = 3 x interval

// Where the effective offer set's live part comes from.
enum class PriceSource {
  Live,     // the last attempt succeeded
  Stale,    // the last attempt failed; the last good live set is still young enough
  Catalog,  // no usable live set (never succeeded, or too old): catalog only
};
std::string_view to_string(PriceSource source);  // "Live", "Stale", "Catalog"

// Everything the refresher takes from the GpuProvider object.
struct Inputs {
  std::string provider_name;  // GpuProvider metadata.name
  std::string provider_type;  // spec.type
  // Catalog offers for this GpuProvider, spec overrides already applied
  // (catalog::offers_for(gp)).
  std::vector<Offer> catalog;
  std::vector<api::PriceOverride> price_overrides;
  std::optional<BillingRule> billing;          // spec.billing
  std::optional<Money> egress_usd_per_gb;      // spec.egressUsdPerGb
  std::optional<ReliabilityTier> reliability;  // spec.reliability
  Duration refresh_interval = kDefaultRefreshInterval;
  Duration max_live_age{0};  // 0: kDefaultMaxAgeIntervals x refresh_interval
  Duration failure_retry = kDefaultFailureRetry;
  // What to ask the adapter for. from() sets gpu_models from the catalog's
  // models (L40S, L40 when the catalog has none) and regions from spec.regions.
  OfferQuery query;

  // From a GpuProvider object: interval = spec.pricingRefreshSeconds (values
  // below 60 s are raised to 60 s, the CRD's minimum).
  static Inputs from(const api::GpuProvider& provider, std::vector<Offer> catalog_offers);
};

struct PricingError {
  ProviderErrorKind kind = ProviderErrorKind::Transient;
  std::string message;  // adapter's message; never holds a credential
  Time at{};
};

// One consistent view of the refresher's state.
struct Snapshot {
  std::shared_ptr<const std::vector<Offer>> offers;  // effective set; never null
  PriceSource source = PriceSource::Catalog;
  std::optional<Time> last_success;  // last successful refresh (status.lastPriceRefresh)
  std::optional<Time> last_attempt;
  std::optional<PricingError> last_error;  // error of the last attempt; nullopt after a success
  int offers_seen = 0;     // usable live offers in the last good answer (status.offersSeen)
  int live_offers = 0;     // offers in `offers` whose figures come from the API
  int catalog_offers = 0;  // offers in `offers` from the catalog alone
  int refreshes = 0;       // successful refreshes so far
  int failures = 0;        // failed attempts so far
  Time next_refresh{};     // when refresh_if_due() will next call the API
};

// True when the offer's figures come from the provider's API (source starts
// with "live").
bool is_live(const Offer& offer);

// The condition type apply_to_status() maintains.
inline constexpr std::string_view kConditionPricesLive = "PricesLive";

// Writes lastPriceRefresh, offersSeen and a "PricesLive" condition into the
// status: True/"Refreshed" when live; False/"StalePrices" (message: the error,
// and the age of the set in use) when stale; False/"CatalogFallback" when the
// catalog alone is in use, Unknown/"NotRefreshedYet" before any attempt. The
// condition's lastTransitionTime changes only when its status changes; other
// conditions are left alone. The message never holds a credential.
void apply_to_status(const Snapshot& snapshot, int64_t generation, Time now,
                     api::GpuProviderStatus& status);

// The merge on its own (pure): what the refresher does with a good answer.
// Exposed for the planner tool and tests. `live` must already be validated.
std::vector<Offer> merge(const Inputs& inputs, const std::vector<Offer>& live, Time now);

class PriceRefresher {
 public:
  // `provider` and `clock` must outlive the refresher. No I/O here: the
  // effective set starts as the catalog.
  PriceRefresher(Provider& provider, const Clock& clock, Inputs inputs);
  PriceRefresher(const PriceRefresher&) = delete;
  PriceRefresher& operator=(const PriceRefresher&) = delete;

  // Replaces the GpuProvider-derived inputs (spec changed); re-merges the
  // last good live answer over the new catalog without calling the API.
  void set_inputs(Inputs inputs);

  // Calls provider.offers() when due (see above), then returns the state.
  Snapshot refresh_if_due();
  // Calls provider.offers() now, whatever the interval (unless a call is
  // already in flight, then it returns the current state).
  Snapshot refresh_now();
  // The current state; no I/O. Source is re-evaluated against the clock, so a
  // stale set turns into Catalog once it is older than max_live_age.
  Snapshot snapshot() const;

 private:
  Snapshot refresh(bool force);
  Snapshot snapshot_locked() const REQUIRES(mu_);
  void rebuild_locked() REQUIRES(mu_);
  Duration max_age_locked() const REQUIRES(mu_);
  bool live_usable_locked(Time now) const REQUIRES(mu_);

  Provider& provider_;
  const Clock& clock_;
  mutable Mutex mu_;
  Inputs inputs_ GUARDED_BY(mu_);
  std::optional<std::vector<Offer>> last_good_ GUARDED_BY(mu_);  // validated live answer
  std::optional<Time> last_success_ GUARDED_BY(mu_);
  std::optional<Time> last_attempt_ GUARDED_BY(mu_);
  std::optional<PricingError> last_error_ GUARDED_BY(mu_);
  std::optional<Time> retry_at_ GUARDED_BY(mu_);  // after a failure
  bool in_flight_ GUARDED_BY(mu_) = false;
  int refreshes_ GUARDED_BY(mu_) = 0;
  int failures_ GUARDED_BY(mu_) = 0;
  // Effective sets, rebuilt when inputs or the live answer change.
  std::shared_ptr<const std::vector<Offer>> merged_ GUARDED_BY(mu_);  // live over catalog
  std::shared_ptr<const std::vector<Offer>> catalog_only_ GUARDED_BY(mu_);
};

}  // namespace gpupool::pricing
