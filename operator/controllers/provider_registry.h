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
//           spec.fake tunes the in-process fake: bootSeconds (default 5),
//           capacity (machines each offer/region still sells; unlisted:
//           unlimited).
//   a type in the adapter table (factory::AdapterTable, handed in by main;
//   there: aws, fluence, runpod, vastai, lambda, verda, digitalocean,
//   scaleway, vultr)
//           the real adapter, built by the table from the spec and the
//           Secret's (already base64-decoded) data: the table says which
//           credentials and settings block each type reads and how the
//           adapter is made (providers/factory/adapter_table.h, and each
//           adapter's adapter_type()). A missing or empty credential gives
//           problem reason CredentialsMissing, naming the key (never a
//           value). spec.sshPublicKey.value is the SSH public key given to
//           create() when the intent has none; a secretKeyRef must be
//           resolved into value by the caller (the provider reconciler
//           reads that Secret).
//           The deprecated settings annotations (deprecated_annotations.h)
//           fill typed fields that are unset; RegistryEntry lists those used.
//           Each real adapter gets a pricing::PriceRefresher (entry.prices)
//           over the catalog; the GpuProvider reconciler refreshes it and the
//           pool reconciler plans on its snapshot. Fake providers get none
//           (their offers are asked for directly, capacity changes included).
//   other   (not "fake", not in the table) no adapter: problem reason
//           NoAdapter, and pools using it are Degraded.
//
// An adapter is rebuilt only when the GpuProvider's generation, the
// Secrets' resourceVersions (secret_version) or the values of the
// deprecated annotations it used change, so a status write or a resync
// never throws away an in-process fake's state or a refresher's live prices.
//
// Thread-safety: all methods are safe from any thread; providers returned
// are shared and themselves thread-safe.

#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "operator/base/thread_annotations.h"
#include "operator/clock/clock.h"
#include "operator/controllers/deprecated_annotations.h"
#include "operator/core/api_types.h"
#include "operator/core/planner.h"
#include "providers/factory/adapter_table.h"
#include "providers/instrumented/instrumented_provider.h"
#include "providers/pricing/price_refresher.h"
#include "providers/provider.h"

namespace gpupool::controllers {

// Healthy=False reasons the registry reports (RegistryEntry::reason).
inline constexpr const char* kReasonNoAdapter = "NoAdapter";
inline constexpr const char* kReasonInvalidConfig = "InvalidConfig";
inline constexpr const char* kReasonCredentialsMissing = "CredentialsMissing";

struct RegistryEntry {
  std::shared_ptr<Provider> provider;  // null when the type has no adapter
  int64_t generation = 0;
  std::string problem;         // why provider is null, for conditions
  std::string reason;          // kReason* when problem is set
  std::string secret_version;  // Secrets' resourceVersions the adapter was built with
  // Deprecated settings annotations the adapter was built from (sorted), and
  // their values ("key=value\n"...), part of the rebuild key.
  std::vector<std::string> deprecated_annotations;
  std::string legacy_key;
  bool deprecation_pending = false;  // not yet handed out by take_deprecation_notice()
  // Live prices (real adapters only); null for fake or when provider is null.
  std::shared_ptr<pricing::PriceRefresher> prices;
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

// Wraps every adapter the registry builds, of every type, before it is
// instrumented (the manager's leader fence, leader_fence.h).
using AdapterWrapper = std::function<std::unique_ptr<Provider>(std::unique_ptr<Provider>)>;

class ProviderRegistry {
 public:
  // `adapters`: the real adapter types this registry can build (main's
  // table); empty: only "fake" providers (the simulator, most tests).
  // `wrap`: applied to each adapter built by sync(), "fake" ones included
  // (not to those handed to put()); empty: none.
  ProviderRegistry(const Clock& clock, ProviderObserver& observer,
                   factory::AdapterTable adapters = {}, AdapterWrapper wrap = {})
      : clock_(clock),
        observer_(observer),
        adapters_(std::move(adapters)),
        wrap_(std::move(wrap)) {}

  // Builds or keeps the adapter for `provider`. Returns the entry's problem
  // ("" when an adapter is in place). `credentials` are the Secret's decoded
  // data (never logged or put in a message); `secret_version` its
  // resourceVersion (a change rebuilds the adapter, and its refresher).
  std::string sync(const api::GpuProvider& provider,
                   const std::map<std::string, std::string>& credentials,
                   const std::string& secret_version = "");
  void remove(const std::string& name);
  // The deprecated annotations the current adapter of `name` was built from,
  // once per build (then empty until the next rebuild), so the caller
  // reports them once rather than on every resync.
  std::vector<std::string> take_deprecation_notice(const std::string& name);
  // Installs a ready-made adapter (tests, and providers built elsewhere).
  void put(const std::string& name, std::shared_ptr<Provider> provider, int64_t generation = 0);

  std::shared_ptr<Provider> get(const std::string& name) const;
  std::optional<RegistryEntry> entry(const std::string& name) const;
  std::map<std::string, std::shared_ptr<Provider>> all() const;

 private:
  // `adapter` wrapped (wrap_) and instrumented.
  std::shared_ptr<Provider> instrumented(std::unique_ptr<Provider> adapter) const;

  const Clock& clock_;
  ProviderObserver& observer_;
  const factory::AdapterTable adapters_;
  const AdapterWrapper wrap_;
  mutable Mutex mu_;
  std::map<std::string, RegistryEntry> entries_ GUARDED_BY(mu_);
};

}  // namespace gpupool::controllers
