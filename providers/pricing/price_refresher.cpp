#include "providers/pricing/price_refresher.h"

#include <algorithm>
#include <cctype>
#include <map>
#include <set>
#include <utility>

#include "operator/core/planner.h"
#include "providers/catalog/catalog.h"

namespace gpupool::pricing {
namespace {

bool iequals(std::string_view a, std::string_view b) {
  return std::equal(a.begin(), a.end(), b.begin(), b.end(), [](char x, char y) {
    return std::tolower(static_cast<unsigned char>(x)) ==
           std::tolower(static_cast<unsigned char>(y));
  });
}

void apply_price_override(const Inputs& in, Offer& o) {
  const api::PriceOverride* best = nullptr;
  for (const api::PriceOverride& p : in.price_overrides) {
    if (!iequals(p.gpu_model, o.gpu_model)) continue;
    if (p.region && *p.region != o.region) continue;
    if (best == nullptr || (p.region && !best->region)) best = &p;
  }
  if (best != nullptr) {
    o.price_per_hour = best->price_per_gpu_hour * o.gpu_count;
    o.source += " + priceOverride";
  }
}

void sort_by_key(std::vector<Offer>& offers) {
  std::stable_sort(offers.begin(), offers.end(), [](const Offer& a, const Offer& b) {
    return planner::offer_key(a) < planner::offer_key(b);
  });
}

// Why a live offer cannot be used; empty when it can.
std::string unusable_reason(const Offer& o) {
  if (o.id.empty()) return "offer without an id";
  if (o.gpu_model.empty()) return "offer " + o.id + " without a GPU model";
  if (o.gpu_count < 1) return "offer " + o.id + " with " + std::to_string(o.gpu_count) + " GPUs";
  if (o.price_per_hour < Money()) return "offer " + o.id + " with a negative price";
  return {};
}

// A listing provider's catalog rows name shapes, not listings
// (catalog::OfferIds): a live listing of the same GPU model and count, in any
// region, replaces the row, so the stand-in does not sit beside real offers.
void cover_listed_shapes(const Inputs& in, const std::vector<Offer>& live,
                         std::vector<bool>& matched) {
  if (catalog::offer_ids_of_type(in.provider_type) != catalog::OfferIds::Listing) return;
  std::set<std::pair<std::string, int>> listed;
  for (const Offer& l : live)
    listed.emplace(l.gpu_model, l.gpu_count);
  for (size_t i = 0; i < in.catalog.size(); ++i) {
    const Offer& c = in.catalog[i];
    if (listed.contains({c.gpu_model, c.gpu_count})) matched[i] = true;
  }
}

}  // namespace

std::string_view to_string(PriceSource source) {
  switch (source) {
    case PriceSource::Live:
      return "Live";
    case PriceSource::Stale:
      return "Stale";
    case PriceSource::Catalog:
      return "Catalog";
  }
  return "Catalog";
}

bool is_live(const Offer& offer) {
  return offer.source.starts_with("live");
}

Inputs Inputs::from(const api::GpuProvider& provider, std::vector<Offer> catalog_offers) {
  Inputs in;
  in.provider_name = provider.metadata.name;
  in.provider_type = provider.spec.type;
  in.price_overrides = provider.spec.price_overrides;
  in.billing = provider.spec.billing;
  in.egress_usd_per_gb = provider.spec.egress_usd_per_gb;
  in.reliability = provider.spec.reliability;
  in.refresh_interval = Duration(std::max<int64_t>(60, provider.spec.pricing_refresh_seconds));
  std::set<std::string> models;
  for (const Offer& o : catalog_offers)
    models.insert(o.gpu_model);
  in.query.gpu_models.assign(models.begin(), models.end());
  if (in.query.gpu_models.empty()) in.query.gpu_models = {"L40S", "L40"};
  in.query.regions = provider.spec.regions;
  in.query.include_community = provider.spec.reliability != ReliabilityTier::Datacenter;
  in.catalog = std::move(catalog_offers);
  return in;
}

std::vector<Offer> merge(const Inputs& in, const std::vector<Offer>& live, Time now) {
  std::map<std::string, size_t> by_key;         // catalog offer key -> index
  std::map<std::string, size_t> any_region_id;  // catalog id with empty region -> index
  for (size_t i = 0; i < in.catalog.size(); ++i) {
    Offer o = in.catalog[i];
    o.provider = in.provider_name;
    by_key.emplace(planner::offer_key(o), i);
    if (o.region.empty()) any_region_id.emplace(o.id, i);
  }
  std::vector<bool> matched(in.catalog.size(), false);
  std::set<std::string> seen;
  std::vector<Offer> out;
  for (const Offer& l : live) {
    Offer probe = l;
    probe.provider = in.provider_name;
    const std::string key = planner::offer_key(probe);
    if (!seen.insert(key).second) continue;  // the first of duplicate answers wins
    std::optional<size_t> hit;
    if (auto k = by_key.find(key); k != by_key.end()) {
      hit = k->second;
    } else if (auto r = any_region_id.find(l.id); r != any_region_id.end()) {
      hit = r->second;
    }
    Offer o;
    if (hit) {
      matched[*hit] = true;
      o = in.catalog[*hit];
      o.region = l.region;
      o.gpu_model = l.gpu_model;
      o.gpu_count = l.gpu_count;
      o.price_per_hour = l.price_per_hour;
      o.capacity_hint = l.capacity_hint;
      o.spot = l.spot;
    } else {
      o = l;
      if (o.billing == BillingRule{}) {
        o.billing = catalog::default_billing(in.provider_type).value_or(BillingRule{});
      }
      if (in.billing) o.billing = *in.billing;
      if (in.egress_usd_per_gb) o.billing.egress_per_gb = *in.egress_usd_per_gb;
      if (in.reliability) o.tier = *in.reliability;
    }
    o.provider = in.provider_name;
    o.provider_type = in.provider_type;
    o.as_of = l.as_of == Time{} ? now : l.as_of;
    o.source = "live";
    apply_price_override(in, o);
    out.push_back(std::move(o));
  }
  cover_listed_shapes(in, live, matched);
  for (size_t i = 0; i < in.catalog.size(); ++i) {
    if (matched[i]) continue;
    Offer o = in.catalog[i];
    o.provider = in.provider_name;
    o.provider_type = in.provider_type;
    out.push_back(std::move(o));
  }
  sort_by_key(out);
  return out;
}

void apply_to_status(const Snapshot& s, int64_t generation, Time now,
                     api::GpuProviderStatus& status) {
  status.last_price_refresh = s.last_success;
  status.offers_seen = s.offers_seen;
  api::Condition c;
  c.type = std::string(kConditionPricesLive);
  c.observed_generation = generation;
  const std::string error =
      s.last_error ? std::string(to_string(s.last_error->kind)) + ": " + s.last_error->message
                   : std::string();
  switch (s.source) {
    case PriceSource::Live:
      c.status = api::ConditionStatus::True;
      c.reason = "Refreshed";
      c.message = std::to_string(s.offers_seen) + " live offers, " +
                  std::to_string(s.catalog_offers) + " catalog-only offers";
      break;
    case PriceSource::Stale:
      c.status = api::ConditionStatus::False;
      c.reason = "StalePrices";
      c.message = "using live prices from " +
                  (s.last_success ? format_rfc3339(*s.last_success) : std::string("?")) +
                  "; last refresh failed: " + error;
      break;
    case PriceSource::Catalog:
      if (!s.last_attempt) {
        c.status = api::ConditionStatus::Unknown;
        c.reason = "NotRefreshedYet";
        c.message = "catalog prices until the first refresh";
      } else {
        c.status = api::ConditionStatus::False;
        c.reason = "CatalogFallback";
        c.message = error.empty() ? "live prices too old; using catalog prices"
                                  : "using catalog prices; last refresh failed: " + error;
      }
      break;
  }
  for (api::Condition& existing : status.conditions) {
    if (existing.type != c.type) continue;
    c.last_transition_time = existing.status == c.status ? existing.last_transition_time : now;
    existing = std::move(c);
    return;
  }
  c.last_transition_time = now;
  status.conditions.push_back(std::move(c));
}

PriceRefresher::PriceRefresher(Provider& provider, const Clock& clock, Inputs inputs)
    : provider_(provider), clock_(clock), inputs_(std::move(inputs)) {
  rebuild_locked();  // no other thread can see *this yet
}

void PriceRefresher::set_inputs(Inputs inputs) {
  MutexLock lock(mu_);
  inputs_ = std::move(inputs);
  rebuild_locked();
}

Snapshot PriceRefresher::refresh_if_due() {
  return refresh(false);
}
Snapshot PriceRefresher::refresh_now() {
  return refresh(true);
}

Snapshot PriceRefresher::snapshot() const {
  MutexLock lock(mu_);
  return snapshot_locked();
}

Snapshot PriceRefresher::refresh(bool force) {
  OfferQuery query;
  {
    MutexLock lock(mu_);
    Snapshot s = snapshot_locked();
    if (in_flight_ || (!force && clock_.now() < s.next_refresh)) return s;
    in_flight_ = true;
    query = inputs_.query;
  }
  ProviderResult<std::vector<Offer>> answer = provider_.offers(query);
  MutexLock lock(mu_);
  in_flight_ = false;
  const Time now = clock_.now();
  last_attempt_ = now;
  std::optional<ProviderError> failure;
  std::vector<Offer> usable;
  if (answer.ok()) {
    std::string first_problem;
    for (Offer& o : answer.value()) {
      std::string why = unusable_reason(o);
      if (why.empty()) {
        usable.push_back(std::move(o));
      } else if (first_problem.empty()) {
        first_problem = std::move(why);
      }
    }
    if (usable.empty() && !answer.value().empty()) {
      failure = provider_error(ProviderErrorKind::InvalidRequest,
                               "garbled offers answer: " + std::to_string(answer.value().size()) +
                                   " offers, none usable (" + first_problem + ")");
    }
  } else {
    failure = answer.error();
  }
  if (failure) {
    ++failures_;
    last_error_ = PricingError{failure->kind, failure->message, now};
    Duration wait = inputs_.failure_retry;
    if (failure->kind == ProviderErrorKind::RateLimited) {
      const auto hint = std::chrono::ceil<Duration>(failure->retry_after);
      wait = std::max(wait, hint);
    }
    retry_at_ = now + std::min(wait, inputs_.refresh_interval);
    return snapshot_locked();
  }
  ++refreshes_;
  last_error_.reset();
  retry_at_.reset();
  last_success_ = now;
  for (Offer& o : usable) {
    o.provider = inputs_.provider_name;
    o.provider_type = inputs_.provider_type;
  }
  last_good_ = std::move(usable);
  rebuild_locked();
  return snapshot_locked();
}

Duration PriceRefresher::max_age_locked() const {
  if (inputs_.max_live_age > Duration(0)) return inputs_.max_live_age;
  return inputs_.refresh_interval * kDefaultMaxAgeIntervals;
}

bool PriceRefresher::live_usable_locked(Time now) const {
  return last_good_ && last_success_ && now - *last_success_ <= max_age_locked();
}

void PriceRefresher::rebuild_locked() {
  const Time now = clock_.now();
  std::vector<Offer> catalog = merge(inputs_, {}, now);
  catalog_only_ = std::make_shared<const std::vector<Offer>>(std::move(catalog));
  if (last_good_) {
    merged_ = std::make_shared<const std::vector<Offer>>(
        merge(inputs_, *last_good_, last_success_.value_or(now)));
  } else {
    merged_ = catalog_only_;
  }
}

Snapshot PriceRefresher::snapshot_locked() const {
  const Time now = clock_.now();
  Snapshot s;
  const bool usable = live_usable_locked(now);
  s.source =
      !usable ? PriceSource::Catalog : (last_error_ ? PriceSource::Stale : PriceSource::Live);
  s.offers = usable ? merged_ : catalog_only_;
  s.last_success = last_success_;
  s.last_attempt = last_attempt_;
  s.last_error = last_error_;
  s.offers_seen = usable ? static_cast<int>(last_good_->size()) : 0;
  for (const Offer& o : *s.offers)
    (is_live(o) ? s.live_offers : s.catalog_offers) += 1;
  s.refreshes = refreshes_;
  s.failures = failures_;
  if (!last_attempt_) {
    s.next_refresh = now;
  } else {
    // After a failure: the retry time (never later than one interval after
    // the attempt, also when the interval shrank since); else one interval
    // after the success.
    s.next_refresh = retry_at_ ? std::min(*retry_at_, *last_attempt_ + inputs_.refresh_interval)
                               : *last_success_ + inputs_.refresh_interval;
  }
  return s;
}

}  // namespace gpupool::pricing
