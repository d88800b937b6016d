#pragma once
// The adapter table: for each provider type ("aws", "runpod", ...) how to
// build its Provider adapter from a GpuProvider object, and the settings it
// reads (its schema): the credentials it takes from the Secret and the typed
// spec block it reads (spec.aws, spec.fluence, ...).
//
// Each adapter folder supplies its own entry (providers/<type>/, function
// <type>::adapter_type()); `main` lists the entries, one line per adapter,
// and hands the table to the ProviderRegistry, so nothing else names a
// concrete adapter (STYLE.md rule 9: one composition root, no static
// self-registration). Adding a provider is one folder and one line in main.
//
// What build() does for every type alike, so entries only map settings to
// their adapter's config:
//   * reads the entry's credentials from the Secret's decoded data with
//     secret_value() and spec.credentialsSecret.keys; a missing or empty
//     required one is CredentialsMissing, naming the key, never a value;
//   * gives the adapter its own net::CurlTransport, which lives as long as
//     the adapter, and the table's net::RealSleeper, shared by every adapter
//     the table (or a copy of it) builds, so stop_waits() at shutdown ends
//     every provider wait (rate limit, backoff) at once;
//   * spec.sshPublicKey.value is the SSH public key create() receives when
//     the intent carries none (a secretKeyRef is resolved into value by the
//     caller).
// A type not in the table is NoAdapter.
//
// Thread-safety: a built table is immutable; build() is safe to call
// concurrently. Constructors must be too (they only read their context).

#include <functional>
#include <map>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "operator/clock/clock.h"
#include "operator/core/api_types.h"
#include "providers/http/client.h"
#include "providers/http/transport.h"
#include "providers/provider.h"

namespace gpupool::factory {

// One credential an adapter reads from its Secret, by logical name
// ("apiKey"); spec.credentialsSecret.keys may map it to another Secret key.
struct CredentialKey {
  std::string logical;
  bool required = true;
};

// What a constructor gets. Everything is borrowed for the call, except that
// `transport` and `sleeper` outlive the adapter it returns.
struct AdapterContext {
  // The GpuProvider with its typed settings (deprecated annotations already
  // applied by the caller).
  const api::GpuProvider& provider;
  // The entry's credentials by logical name; optional ones may be "".
  const std::map<std::string, std::string>& credentials;
  net::HttpTransport& transport;
  net::Sleeper& sleeper;
  const Clock& clock;

  // The credential `logical` ("" when absent).
  const std::string& credential(const std::string& logical) const;
  // spec.endpoint when set, else `fallback` (the adapter's public API).
  std::string endpoint(const std::string& fallback) const;
};

using AdapterConstructor = std::function<std::unique_ptr<Provider>(const AdapterContext&)>;

// One line of the table.
struct AdapterType {
  std::string type;                        // spec.type it serves: "aws"
  std::vector<CredentialKey> credentials;  // read in this order
  // The GpuProvider spec block it reads ("aws" for spec.aws), "" for none;
  // spec.sshPublicKey, spec.endpoint and spec.regions apply to every type.
  std::string settings_block;
  AdapterConstructor construct;  // never returns null
};

// The usual entry: the adapter P is built from a Config with provider_name
// (the GpuProvider's name) and endpoint (spec.endpoint, else the Config's
// default, the public API) filled in, then `settings` maps the credentials
// and the typed spec block onto the rest; P is constructed as
// P(Config, transport, clock, sleeper).
template <typename P, typename Config>
AdapterType adapter(std::string type, std::vector<CredentialKey> credentials,
                    std::string settings_block,
                    std::function<void(const AdapterContext&, Config&)> settings) {
  AdapterType t;
  t.type = std::move(type);
  t.credentials = std::move(credentials);
  t.settings_block = std::move(settings_block);
  t.construct = [settings = std::move(settings)](const AdapterContext& ctx) {
    Config c;
    c.provider_name = ctx.provider.metadata.name;
    c.endpoint = ctx.endpoint(c.endpoint);
    settings(ctx, c);
    return std::unique_ptr<Provider>(
        std::make_unique<P>(std::move(c), ctx.transport, ctx.clock, ctx.sleeper));
  };
  return t;
}

// Why build() made no adapter.
enum class BuildProblem {
  None,
  NoAdapter,           // the type is not in the table
  CredentialsMissing,  // a required credential is missing or empty
};

struct BuildResult {
  std::unique_ptr<Provider> provider;  // null unless problem is None
  BuildProblem problem = BuildProblem::None;
  std::string message;  // for conditions; never holds a credential
};

class AdapterTable {
 public:
  AdapterTable() = default;  // no real adapters (the simulator, most tests)
  // REQUIRES: types are unique and every entry has a constructor (a
  // programming error in main otherwise: aborts with a message).
  explicit AdapterTable(std::vector<AdapterType> types);

  // A table of other entries (the same REQUIRES) sharing this one's
  // sleeper, so stop_waits() on either stops both (a wrapping table, such
  // as the manager's leader fence).
  AdapterTable with_types(std::vector<AdapterType> types) const;

  // The entry for `type`; null when there is none.
  const AdapterType* find(std::string_view type) const;
  // The types, in table order.
  std::vector<std::string> types() const;

  // Builds the adapter for `provider` (spec.type picks the entry) from the
  // Secret's decoded `secret_data` (see the header comment).
  BuildResult build(const api::GpuProvider& provider,
                    const std::map<std::string, std::string>& secret_data,
                    const Clock& clock) const;

  // Shutdown: every wait of every adapter built from this table (or a copy)
  // ends now and later ones return at once; their HTTP clients send nothing
  // more after a wait (net::Sleeper::stopped). Thread-safe, idempotent.
  void stop_waits() const { sleeper_->stop(); }

 private:
  std::vector<AdapterType> types_;
  // Shared by copies of the table and by the adapters it built (each holds
  // a reference to it), so it outlives them all.
  std::shared_ptr<net::RealSleeper> sleeper_ = std::make_shared<net::RealSleeper>();
};

}  // namespace gpupool::factory
