#include "operator/controllers/provider_registry.h"

#include <charconv>
#include <sstream>

#include <cctype>
#include "operator/controllers/remote_fake_provider.h"
#include "providers/fake/fake_provider.h"

namespace gpupool::controllers {
namespace {

std::optional<int64_t> parse_int(std::string_view s) {
  int64_t v = 0;
  auto [p, ec] = std::from_chars(s.data(), s.data() + s.size(), v);
  if (ec != std::errc() || p != s.data() + s.size()) return std::nullopt;
  return v;
}

std::string annotation(const api::GpuProvider& p, const char* key) {
  auto it = p.metadata.annotations.find(key);
  return it == p.metadata.annotations.end() ? std::string() : it->second;
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
      regions.push_back("local");
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
                                   const std::map<std::string, std::string>& credentials) {
  (void)credentials;  // no credentialed adapter is wired yet
  const std::string& name = provider.metadata.name;
  {
    std::lock_guard lock(mu_);
    auto it = entries_.find(name);
    if (it != entries_.end() && it->second.generation == provider.metadata.generation &&
        (it->second.provider || !it->second.problem.empty())) {
      it->second.paused = provider.spec.paused;
      it->second.max_instances = provider.spec.quota.max_instances;
      it->second.max_gpus = provider.spec.quota.max_gpus;
      return it->second.problem;
    }
  }
  RegistryEntry e;
  e.generation = provider.metadata.generation;
  e.paused = provider.spec.paused;
  e.max_instances = provider.spec.quota.max_instances;
  e.max_gpus = provider.spec.quota.max_gpus;
  if (provider.spec.type == "fake" && !provider.spec.endpoint.empty()) {
    e.provider = std::make_shared<InstrumentedProvider>(
        std::make_unique<RemoteFakeProvider>(name, provider.spec.endpoint), observer_, clock_);
  } else if (provider.spec.type == "fake") {
    FakeProviderOptions opts;
    opts.name = name;
    opts.boot_delay = Duration{5};
    const std::string boot = annotation(provider, kFakeBootAnnotation);
    if (!boot.empty()) {
      auto v = parse_int(boot);
      if (!v || *v < 0) {
        e.problem = std::string("annotation ") + kFakeBootAnnotation +
                    " must be a whole number of seconds, got \"" + boot + "\"";
      } else {
        opts.boot_delay = Duration{*v};
      }
    }
    std::map<std::string, int> capacity;  // "offerId/region" -> n
    std::stringstream caps(annotation(provider, kFakeCapacityAnnotation));
    std::string item;
    while (e.problem.empty() && std::getline(caps, item, ',')) {
      if (item.empty()) continue;
      const auto eq = item.rfind('=');
      auto v = eq == std::string::npos ? std::nullopt : parse_int(item.substr(eq + 1));
      if (!v || *v < -1) {
        e.problem = std::string("annotation ") + kFakeCapacityAnnotation +
                    ": expected <offerId>/<region>=<n>, got \"" + item + "\"";
        break;
      }
      capacity[item.substr(0, eq)] = static_cast<int>(*v);
    }
    for (const Offer& o : fake_offers(provider)) {
      FakeOffer fo;
      fo.offer = o;
      auto it = capacity.find(o.id + "/" + o.region);
      if (it != capacity.end()) fo.capacity = it->second;
      opts.offers.push_back(std::move(fo));
    }
    if (e.problem.empty()) {
      e.provider = std::make_shared<InstrumentedProvider>(
          std::make_unique<FakeProvider>(std::move(opts), clock_), observer_, clock_);
    }
  } else {
    e.problem = "no adapter for provider type \"" + provider.spec.type +
                "\" is wired into this operator yet";
  }
  std::lock_guard lock(mu_);
  entries_[name] = e;
  return e.problem;
}

void ProviderRegistry::remove(const std::string& name) {
  std::lock_guard lock(mu_);
  entries_.erase(name);
}

void ProviderRegistry::put(const std::string& name, std::shared_ptr<Provider> provider,
                           int64_t generation) {
  std::lock_guard lock(mu_);
  RegistryEntry e;
  e.provider = std::move(provider);
  e.generation = generation;
  entries_[name] = e;
}

std::shared_ptr<Provider> ProviderRegistry::get(const std::string& name) const {
  std::lock_guard lock(mu_);
  auto it = entries_.find(name);
  return it == entries_.end() ? nullptr : it->second.provider;
}

std::optional<RegistryEntry> ProviderRegistry::entry(const std::string& name) const {
  std::lock_guard lock(mu_);
  auto it = entries_.find(name);
  if (it == entries_.end()) return std::nullopt;
  return it->second;
}

std::map<std::string, std::shared_ptr<Provider>> ProviderRegistry::all() const {
  std::lock_guard lock(mu_);
  std::map<std::string, std::shared_ptr<Provider>> out;
  for (const auto& [k, v] : entries_) {
    if (v.provider) out[k] = v.provider;
  }
  return out;
}

}  // namespace gpupool::controllers
