#include "operator/controllers/provider_registry.h"

#include <cctype>
#include "operator/controllers/remote_fake_provider.h"
#include "providers/aws/ec2_provider.h"
#include "providers/catalog/catalog.h"
#include "providers/digitalocean/digitalocean_provider.h"
#include "providers/fake/fake_provider.h"
#include "providers/fluence/fluence_provider.h"
#include "providers/http/curl_transport.h"
#include "providers/lambda/lambda_provider.h"
#include "providers/runpod/runpod_provider.h"
#include "providers/scaleway/scaleway_provider.h"
#include "providers/vastai/vastai_provider.h"
#include "providers/verda/verda_provider.h"
#include "providers/vultr/vultr_provider.h"

namespace gpupool::controllers {
namespace {

// A real adapter together with the transport and sleeper it borrows, so the
// three live and die together. Forwards every call.
class OwningAdapter final : public Provider {
 public:
  OwningAdapter() : transport_(std::make_unique<net::CurlTransport>()) {}
  net::HttpTransport& transport() { return *transport_; }
  net::Sleeper& sleeper() { return sleeper_; }
  void set(std::unique_ptr<Provider> inner) { inner_ = std::move(inner); }
  void set_ssh_public_key(std::string key) { ssh_public_key_ = std::move(key); }

  const std::string& name() const override { return inner_->name(); }
  std::string_view type() const override { return inner_->type(); }
  UserDataSupport user_data_support() const override { return inner_->user_data_support(); }
  ProviderResult<std::vector<Offer>> offers(const OfferQuery& q) override {
    return inner_->offers(q);
  }
  ProviderResult<Machine> create(const InstanceIntent& i) override {
    if (!i.ssh_public_key.empty() || ssh_public_key_.empty()) return inner_->create(i);
    InstanceIntent with = i;
    with.ssh_public_key = ssh_public_key_;
    return inner_->create(with);
  }
  ProviderResult<Machine> get(std::string_view pool_uid, std::string_view name) override {
    return inner_->get(pool_uid, name);
  }
  ProviderResult<std::vector<Machine>> list(const MachineFilter& f) override {
    return inner_->list(f);
  }
  ProviderStatus terminate(std::string_view id) override { return inner_->terminate(id); }

 private:
  std::unique_ptr<net::CurlTransport> transport_;
  net::RealSleeper sleeper_;
  std::string ssh_public_key_;       // for intents that carry none
  std::unique_ptr<Provider> inner_;  // declared last: destroyed before what it borrows
};

struct Built {
  std::unique_ptr<Provider> provider;
  std::string problem, reason;
};

// Reads credentials into `out` in order; on the first missing one returns
// its error message.
struct CredReader {
  const std::map<std::string, std::string>& data;
  const std::map<std::string, std::string>& keys;
  std::string problem;
  std::string get(std::string_view logical, bool required = true) {
    if (!problem.empty()) return {};
    auto v = secret_value(data, keys, logical, required);
    if (!v.ok()) {
      problem = "credentials: " + v.error().message;
      return {};
    }
    return std::move(v).value();
  }
};

template <typename Config>
void set_endpoint(Config& c, const api::GpuProvider& p) {
  if (!p.spec.endpoint.empty()) c.endpoint = p.spec.endpoint;
}

Built build_real(const api::GpuProvider& p, const std::map<std::string, std::string>& creds,
                 const Clock& clock) {
  Built b;
  CredReader cr{creds, p.spec.credentials_secret.keys, {}};
  auto holder = std::make_unique<OwningAdapter>();
  const std::string& name = p.metadata.name;
  const std::string& type = p.spec.type;
  std::unique_ptr<Provider> inner;
  if (type == "aws") {
    aws::Ec2Config c;
    c.provider_name = name;
    set_endpoint(c, p);
    if (!p.spec.regions.empty()) c.region = p.spec.regions.front();
    c.credentials.access_key_id = cr.get("accessKeyId");
    c.credentials.secret_access_key = cr.get("secretAccessKey");
    c.credentials.session_token = cr.get("sessionToken", false);
    if (p.spec.aws) {
      c.image_id = p.spec.aws->image_id;
      c.subnet_id = p.spec.aws->subnet_id;
      c.security_group_ids = p.spec.aws->security_group_ids;
      c.key_name = p.spec.aws->key_name;
    }
    for (const Offer& o : catalog::offers_for(p, catalog::planning_options()))
      c.prices.emplace(o.id, o.price_per_hour);
    if (cr.problem.empty())
      inner = std::make_unique<aws::Ec2Provider>(std::move(c), holder->transport(), clock,
                                                 holder->sleeper());
  } else if (type == "fluence") {
    fluence::FluenceConfig c;
    c.provider_name = name;
    set_endpoint(c, p);
    c.api_key = cr.get("apiKey");
    if (p.spec.fluence) c.os_image = p.spec.fluence->os_image;
    if (cr.problem.empty())
      inner = std::make_unique<fluence::FluenceProvider>(std::move(c), holder->transport(), clock,
                                                         holder->sleeper());
  } else if (type == "runpod") {
    runpod::RunpodConfig c;
    c.provider_name = name;
    set_endpoint(c, p);
    c.api_key = cr.get("apiKey");
    if (cr.problem.empty())
      inner = std::make_unique<runpod::RunpodProvider>(std::move(c), holder->transport(), clock,
                                                       holder->sleeper());
  } else if (type == "vastai") {
    vastai::VastConfig c;
    c.provider_name = name;
    set_endpoint(c, p);
    c.api_key = cr.get("apiKey");
    if (cr.problem.empty())
      inner = std::make_unique<vastai::VastProvider>(std::move(c), holder->transport(), clock,
                                                     holder->sleeper());
  } else if (type == "lambda") {
    lambda::LambdaConfig c;
    c.provider_name = name;
    set_endpoint(c, p);
    c.api_key = cr.get("apiKey");
    if (p.spec.lambda) c.ssh_key_name = p.spec.lambda->ssh_key_name;
    if (cr.problem.empty())
      inner = std::make_unique<lambda::LambdaProvider>(std::move(c), holder->transport(), clock,
                                                       holder->sleeper());
  } else if (type == "verda") {
    verda::VerdaConfig c;
    c.provider_name = name;
    set_endpoint(c, p);
    c.client_id = cr.get("clientId");
    c.client_secret = cr.get("clientSecret");
    if (cr.problem.empty())
      inner = std::make_unique<verda::VerdaProvider>(std::move(c), holder->transport(), clock,
                                                     holder->sleeper());
  } else if (type == "digitalocean") {
    digitalocean::DoConfig c;
    c.provider_name = name;
    set_endpoint(c, p);
    c.api_token = cr.get("apiToken");
    if (cr.problem.empty())
      inner = std::make_unique<digitalocean::DoProvider>(std::move(c), holder->transport(), clock,
                                                         holder->sleeper());
  } else if (type == "scaleway") {
    scaleway::ScwConfig c;
    c.provider_name = name;
    set_endpoint(c, p);
    c.secret_key = cr.get("secretKey");
    if (p.spec.scaleway) c.project_id = p.spec.scaleway->project_id;
    if (!p.spec.regions.empty()) c.zones = p.spec.regions;
    if (cr.problem.empty())
      inner = std::make_unique<scaleway::ScwProvider>(std::move(c), holder->transport(), clock,
                                                      holder->sleeper());
  } else if (type == "vultr") {
    vultr::VultrConfig c;
    c.provider_name = name;
    set_endpoint(c, p);
    c.api_key = cr.get("apiKey");
    if (cr.problem.empty())
      inner = std::make_unique<vultr::VultrProvider>(std::move(c), holder->transport(), clock,
                                                     holder->sleeper());
  } else {
    b.problem = "no adapter for provider type \"" + type + "\"";
    b.reason = kReasonNoAdapter;
    return b;
  }
  if (!cr.problem.empty()) {
    b.problem = cr.problem;
    b.reason = kReasonCredentialsMissing;
    return b;
  }
  holder->set(std::move(inner));
  if (p.spec.ssh_public_key) holder->set_ssh_public_key(p.spec.ssh_public_key->value);
  b.provider = std::move(holder);
  return b;
}

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
    std::lock_guard lock(mu_);
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
    e.provider = std::make_shared<InstrumentedProvider>(
        std::make_unique<RemoteFakeProvider>(name, provider.spec.endpoint), observer_, clock_);
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
    e.provider = std::make_shared<InstrumentedProvider>(
        std::make_unique<FakeProvider>(std::move(opts), clock_), observer_, clock_);
  } else {
    Built b = build_real(effective, credentials, clock_);
    e.problem = std::move(b.problem);
    e.reason = std::move(b.reason);
    if (b.provider) {
      e.provider = std::make_shared<InstrumentedProvider>(std::move(b.provider), observer_, clock_);
      e.prices = make_refresher(e.provider, clock_, effective);
    }
  }
  std::lock_guard lock(mu_);
  entries_[name] = e;
  return e.problem;
}

std::vector<std::string> ProviderRegistry::take_deprecation_notice(const std::string& name) {
  std::lock_guard lock(mu_);
  auto it = entries_.find(name);
  if (it == entries_.end() || !it->second.deprecation_pending) return {};
  it->second.deprecation_pending = false;
  return it->second.deprecated_annotations;
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
