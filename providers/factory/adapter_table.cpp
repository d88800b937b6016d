#include "providers/factory/adapter_table.h"

#include <cstdlib>
#include <iostream>
#include <utility>

#include "providers/http/curl_transport.h"

namespace gpupool::factory {
namespace {

// A real adapter together with the transport and sleeper it borrows, so the
// three live and die together. Forwards every call; create() adds the
// provider's default SSH public key to intents that carry none.
class OwningAdapter final : public Provider {
 public:
  explicit OwningAdapter(std::shared_ptr<net::RealSleeper> sleeper)
      : transport_(std::make_unique<net::CurlTransport>()), sleeper_(std::move(sleeper)) {}
  net::HttpTransport& transport() { return *transport_; }
  net::Sleeper& sleeper() { return *sleeper_; }
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
  std::shared_ptr<net::RealSleeper> sleeper_;  // the table's, shared
  std::string ssh_public_key_;                 // for intents that carry none
  std::unique_ptr<Provider> inner_;            // declared last: destroyed before what it borrows
};

[[noreturn]] void table_error(const std::string& message) {
  std::cerr << "adapter table: " << message << '\n';
  std::abort();
}

}  // namespace

const std::string& AdapterContext::credential(const std::string& logical) const {
  static const std::string kNone;
  auto it = credentials.find(logical);
  return it == credentials.end() ? kNone : it->second;
}

std::string AdapterContext::endpoint(const std::string& fallback) const {
  return provider.spec.endpoint.empty() ? fallback : provider.spec.endpoint;
}

AdapterTable::AdapterTable(std::vector<AdapterType> types) : types_(std::move(types)) {
  for (size_t i = 0; i < types_.size(); ++i) {
    if (types_[i].type.empty()) table_error("an entry has no type");
    if (!types_[i].construct) table_error("type \"" + types_[i].type + "\" has no constructor");
    for (size_t j = 0; j < i; ++j) {
      if (types_[j].type == types_[i].type) {
        table_error("type \"" + types_[i].type + "\" is listed twice");
      }
    }
  }
}

AdapterTable AdapterTable::with_types(std::vector<AdapterType> types) const {
  AdapterTable t(std::move(types));
  t.sleeper_ = sleeper_;
  return t;
}

const AdapterType* AdapterTable::find(std::string_view type) const {
  for (const AdapterType& t : types_) {
    if (t.type == type) return &t;
  }
  return nullptr;
}

std::vector<std::string> AdapterTable::types() const {
  std::vector<std::string> out;
  out.reserve(types_.size());
  for (const AdapterType& t : types_)
    out.push_back(t.type);
  return out;
}

BuildResult AdapterTable::build(const api::GpuProvider& provider,
                                const std::map<std::string, std::string>& secret_data,
                                const Clock& clock) const {
  BuildResult out;
  const AdapterType* entry = find(provider.spec.type);
  if (entry == nullptr) {
    out.problem = BuildProblem::NoAdapter;
    out.message = "no adapter for provider type \"" + provider.spec.type + "\"";
    return out;
  }
  std::map<std::string, std::string> credentials;
  for (const CredentialKey& k : entry->credentials) {
    auto v =
        secret_value(secret_data, provider.spec.credentials_secret.keys, k.logical, k.required);
    if (!v.ok()) {
      out.problem = BuildProblem::CredentialsMissing;
      out.message = "credentials: " + v.error().message;
      return out;
    }
    credentials[k.logical] = std::move(v).value();
  }
  auto holder = std::make_unique<OwningAdapter>(sleeper_);
  const AdapterContext ctx{provider, credentials, holder->transport(), holder->sleeper(), clock};
  holder->set(entry->construct(ctx));
  if (provider.spec.ssh_public_key) holder->set_ssh_public_key(provider.spec.ssh_public_key->value);
  out.provider = std::move(holder);
  return out;
}

}  // namespace gpupool::factory
