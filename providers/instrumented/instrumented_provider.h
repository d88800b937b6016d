#pragma once
// InstrumentedProvider wraps any Provider and reports every call (provider,
// method, outcome, latency) to a ProviderObserver. main wraps each adapter in
// one; metrics/ implements an observer that feeds Prometheus, and
// ProviderCallStats is a plain in-memory observer for tests and the
// simulator's report.
//
// Thread safety: the decorator adds no state of its own; observers must be
// safe to call concurrently (ProviderCallStats is).

#include <chrono>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <tuple>

#include "operator/base/thread_annotations.h"
#include "operator/clock/clock.h"
#include "providers/provider.h"

namespace gpupool {

class ProviderObserver {
 public:
  virtual ~ProviderObserver() = default;
  // error is nullptr on success.
  virtual void observe(std::string_view provider, std::string_view method,
                       const ProviderError* error, std::chrono::nanoseconds latency) = 0;
};

struct ProviderCallCounts {
  int64_t calls = 0;
  int64_t errors = 0;
  std::map<ProviderErrorKind, int64_t> errors_by_kind;
  std::chrono::nanoseconds total_latency{0};
  std::chrono::nanoseconds max_latency{0};
};

class ProviderCallStats final : public ProviderObserver {
 public:
  using Key = std::tuple<std::string, std::string>;  // (provider, method)
  void observe(std::string_view provider, std::string_view method, const ProviderError* error,
               std::chrono::nanoseconds latency) override;
  std::map<Key, ProviderCallCounts> snapshot() const;
  ProviderCallCounts get(std::string_view provider, std::string_view method) const;

 private:
  mutable Mutex mu_;
  std::map<Key, ProviderCallCounts> counts_ GUARDED_BY(mu_);
};

class InstrumentedProvider final : public Provider {
 public:
  // `inner`, `observer` and `clock` must outlive this object (inner is owned).
  InstrumentedProvider(std::unique_ptr<Provider> inner, ProviderObserver& observer,
                       const Clock& clock);

  const std::string& name() const override { return inner_->name(); }
  std::string_view type() const override { return inner_->type(); }
  UserDataSupport user_data_support() const override { return inner_->user_data_support(); }
  ProviderResult<std::vector<Offer>> offers(const OfferQuery& query) override;
  ProviderResult<Machine> create(const InstanceIntent& intent) override;
  ProviderResult<Machine> get(std::string_view pool_uid, std::string_view name) override;
  ProviderResult<std::vector<Machine>> list(const MachineFilter& filter) override;
  ProviderStatus terminate(std::string_view provider_id) override;

  Provider& inner() { return *inner_; }

 private:
  template <typename R, typename F>
  R timed(std::string_view method, F&& call);

  std::unique_ptr<Provider> inner_;
  ProviderObserver& observer_;
  const Clock& clock_;
};

}  // namespace gpupool
