#include "operator/controllers/provider_registry.h"

#include <cctype>
#include "operator/controllers/remote_fake_provider.h"
#include "providers/catalog/catalog.h"
#include "providers/fake/fake_provider.h"

namespace gpupool::controllers {
namespace {

// A refresher that keeps the adapter it reads from alive.
std::shared_ptr<pricing::PriceRefresher> make_refresher(std::shared_ptr<Provider> provider,
                                                        const Clock& clock,
                                                        const api::GpuProvider& p) {
  struct Holder {
    Holder(std::shared_ptr<Provider> prov, const Clock& clock, pricing::Inputs in)
        : provider(std::move(prov)), prices(*provider, clock, std::move(in)) {}
    std::shared_ptr<Provider> provider;
    pricing::PriceRefresher prices;
  };
  auto h = std::make_shared<Holder>(
      std::move(provider), clock,
      pricing::Inputs::from(p, catalog::offers_for(p, catalog::planning_options())));
  return std::shared_ptr<pricing::PriceRefresher>(h, &h->prices);
}

}  // namespace

std::vector<Offer> fake_offers(const api::GpuProvider& provider) {
  std::vector<api::PriceOverride> prices = provider.spec.price_overrides;
  if (prices.empty()) {
    prices.push_back({"L40S", std::nullopt, Money::from_dollars(1)});
    prices.push_back({"L40", std::nullopt, Money::from_cents(80)});
  }
  BillingRule billing;
  if (provider.spec.billing) billing = *provider.spec.billing;
  std::vector<Offer> out;
  for (const auto& p : prices) {
    std::vector<std::string> regions;
    if (p.region) {
      regions.push_back(*p.region);
    } else if (!provider.spec.regions.empty()) {
      regions = provider.spec.regions;
    } else {
      regions.emplace_back("local");
    }
    std::string id;
    for (char c : p.gpu_model)
      id += static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    for (const auto& r : regions) {
      Offer o;
      o.provider = provider.metadata.name;
      o.provider_type = "fake";
      o.id = id + "-1";
      o.region = r;
      o.gpu_model = p.gpu_model;
      o.gpu_count = 1;
      o.price_per_hour = p.price_per_gpu_hour;
      o.billing = billing;
      o.tier = provider.spec.reliability.value_or(ReliabilityTier::Datacenter);
      o.source = "fake";
      out.push_back(std::move(o));
    }
  }
  return out;
}

std::string ProviderRegistry::sync(const api::GpuProvider& provider,
                                   const std::map<std::string, std::string>& credentials,
                                   const std::string& secret_version) {
  const std::string& name = provider.metadata.name;
  // Typed settings, with the deprecated annotations filling what is unset.
  api::GpuProvider effective = provider;
  DeprecatedAnnotations legacy = apply_deprecated_annotations(effective);
  std::string legacy_key;
  for (const auto& k : legacy.used)
    legacy_key += k + "=" + provider.metadata.annotations.at(k) + "\n";
  {
    MutexLock lock(mu_);
    auto it = entries_.find(name);
    if (it != entries_.end() && it->second.generation == provider.metadata.generation &&
        it->second.secret_version == secret_version && it->second.legacy_key == legacy_key &&
        (it->second.provider || !it->second.problem.empty())) {
      it->second.paused = provider.spec.paused;
      it->second.max_instances = provider.spec.quota.max_instances;
      it->second.max_gpus = provider.spec.quota.max_gpus;
      return it->second.problem;
    }
  }
  RegistryEntry e;
  e.generation = provider.metadata.generation;
  e.secret_version = secret_version;
  e.legacy_key = legacy_key;
  e.deprecated_annotations = legacy.used;
  e.deprecation_pending = !legacy.used.empty();
  e.paused = provider.spec.paused;
  e.max_instances = provider.spec.quota.max_instances;
  e.max_gpus = provider.spec.quota.max_gpus;
  if (!legacy.problem.empty()) {
    e.problem = legacy.problem;
    e.reason = kReasonInvalidConfig;
  } else if (provider.spec.type == "fake" && !provider.spec.endpoint.empty()) {
    e.provider = instrumented(std::make_unique<RemoteFakeProvider>(name, provider.spec.endpoint));
  } else if (provider.spec.type == "fake") {
    FakeProviderOptions opts;
    opts.name = name;
    opts.boot_delay = Duration{5};
    std::map<std::string, int> capacity;  // "offerId/region" -> n
    if (const auto& fake = effective.spec.fake) {
      if (fake->boot_seconds) opts.boot_delay = Duration{*fake->boot_seconds};
      for (const auto& c : fake->capacity)
        capacity[c.offer_id + "/" + c.region] = c.count;
    }
    for (const Offer& o : fake_offers(effective)) {
      FakeOffer fo;
      fo.offer = o;
      auto it = capacity.find(o.id + "/" + o.region);
      if (it != capacity.end()) fo.capacity = it->second;
      opts.offers.push_back(std::move(fo));
    }
    e.provider = instrumented(std::make_unique<FakeProvider>(std::move(opts), clock_));
  } else {
    factory::BuildResult b = adapters_.build(effective, credentials, clock_);
    e.problem = std::move(b.message);
    if (b.problem == factory::BuildProblem::NoAdapter) e.reason = kReasonNoAdapter;
    if (b.problem == factory::BuildProblem::CredentialsMissing)
      e.reason = kReasonCredentialsMissing;
    if (b.provider) {
      e.provider = instrumented(std::move(b.provider));
      e.prices = make_refresher(e.provider, clock_, effective);
    }
  }
  MutexLock lock(mu_);
  entries_[name] = e;
  return e.problem;
}

std::shared_ptr<Provider> ProviderRegistry::instrumented(std::unique_ptr<Provider> adapter) const {
  if (wrap_) adapter = wrap_(std::move(adapter));
  return std::make_shared<InstrumentedProvider>(std::move(adapter), observer_, clock_);
}

std::vector<std::string> ProviderRegistry::take_deprecation_notice(const std::string& name) {
  MutexLock lock(mu_);
  auto it = entries_.find(name);
  if (it == entries_.end() || !it->second.deprecation_pending) return {};
  it->second.deprecation_pending = false;
  return it->second.deprecated_annotations;
}

void ProviderRegistry::remove(const std::string& name) {
  MutexLock lock(mu_);
  entries_.erase(name);
}

void ProviderRegistry::put(const std::string& name, std::shared_ptr<Provider> provider,
                           int64_t generation) {
  MutexLock lock(mu_);
  RegistryEntry e;
  e.provider = std::move(provider);
  e.generation = generation;
  entries_[name] = e;
}

std::shared_ptr<Provider> ProviderRegistry::get(const std::string& name) const {
  MutexLock lock(mu_);
  auto it = entries_.find(name);
  return it == entries_.end() ? nullptr : it->second.provider;
}

std::optional<RegistryEntry> ProviderRegistry::entry(const std::string& name) const {
  MutexLock lock(mu_);
  auto it = entries_.find(name);
  if (it == entries_.end()) return std::nullopt;
  return it->second;
}

std::map<std::string, std::shared_ptr<Provider>> ProviderRegistry::all() const {
  MutexLock lock(mu_);
  std::map<std::string, std::shared_ptr<Provider>> out;
  for (const auto& [k, v] : entries_) {
    if (v.provider) out[k] = v.provider;
  }
  return out;
}

}  // namespace gpupool::controllers
