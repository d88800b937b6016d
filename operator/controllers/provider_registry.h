#pragma once
// ProviderRegistry: the Provider adapters the operator talks to, one per
// GpuProvider object, built from the object's spec (and, for real adapters,
// the credentials in its Secret), each wrapped in an InstrumentedProvider.
//
// Adapter types:
//   "fake"  an in-process FakeProvider (fake_offers() below), or, when
//           spec.endpoint is set, a RemoteFakeProvider talking to a
//           fake-provider server there (remote_fake_provider.h), whose
//           machines outlive operator restarts.
//           Annotations tune the in-process fake:
//             gpupool.io/fake-boot-seconds: "5"     (boot delay, default 5)
//             gpupool.io/fake-capacity: "<offerId>/<region>=<n>,..."
//   other   no adapter is wired into this operator yet: the GpuProvider gets
//           Healthy=False, reason NoAdapter, and pools using it are Degraded.
//
// An adapter is rebuilt only when the GpuProvider's generation changes, so a
// status write or a resync never throws away an in-process fake's state.
//
// Thread-safety: all methods are safe from any thread; providers returned
// are shared and themselves thread-safe.

#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>

#include "operator/clock/clock.h"
#include "operator/core/api_types.h"
#include "operator/core/planner.h"
#include "providers/instrumented/instrumented_provider.h"
#include "providers/provider.h"

namespace gpupool::controllers {

inline constexpr const char* kFakeBootAnnotation = "gpupool.io/fake-boot-seconds";
inline constexpr const char* kFakeCapacityAnnotation = "gpupool.io/fake-capacity";

struct RegistryEntry {
  std::shared_ptr<Provider> provider;  // null when the type has no adapter
  int64_t generation = 0;
  std::string problem;  // why provider is null, for conditions
  bool paused = false;
  std::optional<int> max_instances;
  std::optional<int> max_gpus;
};

// The offers of a "fake" GpuProvider: one single-GPU offer per
// spec.priceOverrides entry (id "<model lower-case>-1", region: the
// override's, else each of spec.regions, else "local"), priced from the
// override; without overrides L40S at $1.00 and L40 at $0.80 per hour.
// Billing: spec.billing, else per-second with no minimum; tier:
// spec.reliability, else Datacenter.
std::vector<Offer> fake_offers(const api::GpuProvider& provider);

class ProviderRegistry {
 public:
  ProviderRegistry(const Clock& clock, ProviderObserver& observer)
      : clock_(clock), observer_(observer) {}

  // Builds or keeps the adapter for `provider`. Returns the entry's problem
  // ("" when an adapter is in place). `credentials` are the Secret's data
  // (never logged).
  std::string sync(const api::GpuProvider& provider,
                   const std::map<std::string, std::string>& credentials);
  void remove(const std::string& name);
  // Installs a ready-made adapter (tests, and providers built elsewhere).
  void put(const std::string& name, std::shared_ptr<Provider> provider, int64_t generation = 0);

  std::shared_ptr<Provider> get(const std::string& name) const;
  std::optional<RegistryEntry> entry(const std::string& name) const;
  std::map<std::string, std::shared_ptr<Provider>> all() const;

 private:
  const Clock& clock_;
  ProviderObserver& observer_;
  mutable std::mutex mu_;
  std::map<std::string, RegistryEntry> entries_;  // guarded by mu_
};

}  // namespace gpupool::controllers
