#include "providers/instrumented/instrumented_provider.h"

namespace gpupool {

void ProviderCallStats::observe(std::string_view provider, std::string_view method,
                                const ProviderError* error, std::chrono::nanoseconds latency) {
  MutexLock lock(mu_);
  auto& c = counts_[Key{std::string(provider), std::string(method)}];
  ++c.calls;
  if (error != nullptr) {
    ++c.errors;
    ++c.errors_by_kind[error->kind];
  }
  c.total_latency += latency;
  if (latency > c.max_latency) c.max_latency = latency;
}

std::map<ProviderCallStats::Key, ProviderCallCounts> ProviderCallStats::snapshot() const {
  MutexLock lock(mu_);
  return counts_;
}

ProviderCallCounts ProviderCallStats::get(std::string_view provider,
                                          std::string_view method) const {
  MutexLock lock(mu_);
  auto it = counts_.find(Key{std::string(provider), std::string(method)});
  return it == counts_.end() ? ProviderCallCounts{} : it->second;
}

InstrumentedProvider::InstrumentedProvider(std::unique_ptr<Provider> inner,
                                           ProviderObserver& observer, const Clock& clock)
    : inner_(std::move(inner)), observer_(observer), clock_(clock) {}

template <typename R, typename F>
R InstrumentedProvider::timed(std::string_view method, F&& call) {
  const auto start = clock_.steady_now();
  R result = call();
  const auto latency =
      std::chrono::duration_cast<std::chrono::nanoseconds>(clock_.steady_now() - start);
  observer_.observe(inner_->name(), method, result.ok() ? nullptr : &result.error(), latency);
  return result;
}

ProviderResult<std::vector<Offer>> InstrumentedProvider::offers(const OfferQuery& query) {
  return timed<ProviderResult<std::vector<Offer>>>("offers", [&] { return inner_->offers(query); });
}

ProviderResult<Machine> InstrumentedProvider::create(const InstanceIntent& intent) {
  return timed<ProviderResult<Machine>>("create", [&] { return inner_->create(intent); });
}

ProviderResult<Machine> InstrumentedProvider::get(std::string_view pool_uid,
                                                  std::string_view name) {
  return timed<ProviderResult<Machine>>("get", [&] { return inner_->get(pool_uid, name); });
}

ProviderResult<std::vector<Machine>> InstrumentedProvider::list(const MachineFilter& filter) {
  return timed<ProviderResult<std::vector<Machine>>>("list", [&] { return inner_->list(filter); });
}

ProviderStatus InstrumentedProvider::terminate(std::string_view provider_id) {
  return timed<ProviderStatus>("terminate", [&] { return inner_->terminate(provider_id); });
}

}  // namespace gpupool
