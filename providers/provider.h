#pragma once
// The Provider seam: everything the operator asks of a GPU cloud, whatever the
// cloud. One adapter per provider implements it (providers/<name>/); the
// reconcilers only ever see this interface.
//
// Error contract. Every failure is a ProviderError whose `kind` is one of the
// seven below; callers branch on the kind, never on the message. Messages are
// for people and never contain a credential (adapters build them from the
// provider's own error code/text, which does not echo keys back).
//
//   NoCapacity     the offer cannot be bought right now (sold out, plan gone).
//                  Try another offer; do not retry this one at once.
//   QuotaExceeded  an account limit stops the purchase (vCPU / instance quota).
//   RateLimited    the provider throttled us; retry no earlier than retry_after.
//   Unauthorized   credentials missing, wrong, or lacking permission. Retrying
//                  does not help until the Secret changes.
//   InvalidRequest the request itself is wrong (bad offer id, bad parameter,
//                  an image or key the provider does not know). Retrying the
//                  same request does not help.
//   Transient      network error, timeout, 5xx, or an answer the adapter
//                  cannot read: the outcome is unknown. After a Transient
//                  failure of create(), the machine may exist; the caller
//                  looks it up with get(name) before trying again (or simply
//                  calls create() again, which is idempotent).
//
// Unreadable answers are Transient. A 2xx whose body does not parse, or
// lacks the fields the provider documents, is far more often a truncated
// body, a proxy's or load balancer's HTML page, or a provider hiccup than a
// lasting mismatch: the same request, repeated, usually reads fine. Calling it
// InvalidRequest would make the caller give up on a request that is right,
// and for create() it would hide that the machine may have been made (the
// adapter looks the name up once before it reports the failure). A lasting
// mismatch (the provider changed its format) shows up as Transient that never
// clears, which the caller's backoff and metrics make visible. Error answers
// (non-2xx) with an unreadable body are classified by their status alone.
//   NotFound       no such machine (get / terminate).
//
// Idempotency. create() is idempotent on InstanceIntent::name: calling it
// again with the same name returns the machine the first call made (possibly
// in a later state) instead of buying a second one, even when the first call's
// answer was lost. Adapters use the provider's idempotency token where one
// exists (AWS ClientToken) and otherwise look the name up before creating.
//
// Termination. terminate(provider_id) is called repeatedly until it returns
// NotFound, or get() reports Terminated. A success means "termination is under
// way or done", not "gone"; adapters document the exact meaning for their
// provider (e.g. Fluence only deletes ACTIVE machines, so terminate on an
// INITIALIZED machine returns Transient until it can be deleted).
//
// Thread safety. Implementations are safe to call from several threads at once.

#include <chrono>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "operator/base/result.h"
#include "operator/clock/clock.h"
#include "operator/core/money.h"
#include "operator/core/offer.h"

namespace gpupool {

enum class ProviderErrorKind {
  NoCapacity,
  QuotaExceeded,
  RateLimited,
  Unauthorized,
  InvalidRequest,
  Transient,
  NotFound,
};

// "NoCapacity", "QuotaExceeded", ... (stable; used in metrics labels and logs).
std::string_view to_string(ProviderErrorKind kind);

struct ProviderError {
  ProviderErrorKind kind = ProviderErrorKind::Transient;
  std::string message;
  // Only meaningful for RateLimited: the earliest time to retry, relative to
  // when the error was returned. Zero when the provider gave no hint.
  std::chrono::milliseconds retry_after{0};

  // True for kinds where repeating the same call later may succeed
  // (RateLimited, Transient).
  bool retryable() const;
};

// "<Kind>: <message>" for logs and conditions.
std::string describe(const ProviderError& e);

ProviderError provider_error(ProviderErrorKind kind, std::string message);
ProviderError rate_limited(std::string message, std::chrono::milliseconds retry_after);

template <typename T>
using ProviderResult = Result<T, ProviderError>;
using ProviderStatus = Status<ProviderError>;

// The tags every machine the operator buys carries (as tags, labels or an
// encoded name, whatever the provider supports). Key names for providers with
// real tags.
inline constexpr std::string_view kTagManagedBy = "gpupool.io/managed-by";
inline constexpr std::string_view kTagManagedByValue = "gpupool-operator";
inline constexpr std::string_view kTagPoolUid = "gpupool.io/pool-uid";
inline constexpr std::string_view kTagPool = "gpupool.io/pool";          // "<namespace>/<name>"
inline constexpr std::string_view kTagInstance = "gpupool.io/instance";  // GpuInstance name

// Regions. Offer::region, Machine::region and OfferQuery::regions use one
// form per provider, documented in its adapter header and providers/README.md:
//   - clouds and marketplaces with region, zone or data-center codes: the
//     provider's own code ("us-east-1", "fr-par-2", "FIN-03", "ewr", "tor1",
//     Fluence's "culpeper-usa-1", Runpod's data center "US-TX-3");
//   - marketplaces whose hosts report a free-text place (Vast.ai's
//     geolocation "Texas, US"): the ISO 3166-1 alpha-2 country code ("US").
// (operator/core/offer.h's comment on Offer::region says "provider's region
// / location code"; this is what that means.) The catalog's regions
// (providers/catalog) use the same form, so a GpuProvider's regions read
// alike for live and catalog offers.
//
// Whether `region` has the form offers of adapter type `provider_type` carry
// (the table in providers/README.md): aws "us-east-1", lambda
// "us-south-1", fluence "culpeper-usa-1", runpod "US-TX-3", vastai "US",
// verda "FIN-03", digitalocean "tor1", scaleway "fr-par-2", vultr "ewr".
// True for any non-empty region of other types (fake, catalog-only ones).
bool region_has_form(std::string_view provider_type, std::string_view region);
//
// What to look for. Empty vectors mean "any".
struct OfferQuery {
  std::vector<std::string> gpu_models;  // canonical names: "L40S", "L40"
  std::vector<std::string> regions;     // region codes as Offer::region carries them (below)
  int min_gpu_count = 1;
  int max_gpu_count = 0;  // 0: no upper bound
  bool include_spot = false;
  bool include_community = true;  // marketplaces' unverified hosts (Vast.ai, Runpod community)
};

// The inference container of an Endpoint-mode machine.
struct ContainerSpec {
  std::string image;  // e.g. "vllm/vllm-openai:v0.6.3"; empty: none
  int port = 0;       // the container port that serves (and is health-checked)
  std::vector<std::string> args;
  std::map<std::string, std::string> env;  // resolved values (Secrets already read)
  // The container's disk in GB where the provider sizes it (Runpod, Vast.ai);
  // 0: the provider's setting. VM providers run it on the plan's disk.
  int disk_gb = 0;
  bool operator==(const ContainerSpec&) const = default;
};

// What to buy. Written into the GpuInstance before create() is called.
struct InstanceIntent {
  // Idempotency key and tag: the GpuInstance's name, unique within the pool
  // and never reused. Adapters derive the provider-side name/token from it
  // (and from pool_uid) deterministically.
  std::string name;
  std::string pool_uid;        // GpuPool metadata.uid
  std::string pool_namespace;  // GpuPool namespace
  std::string pool_name;       // GpuPool name
  Offer offer;                 // the chosen offer (id, region, gpu model/count, price)
  std::string user_data;       // bootstrap script / cloud-init, plain text (adapters encode)
  std::string ssh_public_key;  // may be empty where the provider does not need one
  std::string image;           // machine image (OS image / AMI); empty: adapter default
  // Endpoint mode: the container the machine serves. Container providers
  // (Runpod pods, Vast.ai) launch it natively; VM providers run it from a
  // start script. Empty image: no container (Node mode). Never the machine
  // image above.
  ContainerSpec container;
  std::map<std::string, std::string> labels;  // extra tags, where the provider has tags
};

enum class MachineState {
  Pending,      // accepted, not yet running (booting, provisioning)
  Running,      // up
  Terminating,  // termination under way
  Terminated,   // gone (or ended; no longer billed)
  Failed,       // the provider gave up on it
  Unknown,      // the provider reported a state this adapter does not know
};

std::string_view to_string(MachineState state);
// Terminated or Failed: the machine no longer runs and is no longer billed.
inline bool is_gone(MachineState state) {
  return state == MachineState::Terminated || state == MachineState::Failed;
}

struct Machine {
  std::string provider_id;  // the provider's id (instance id, pod id, ...)
  std::string name;         // the intent name it was created for ("" when unknown)
  MachineState state = MachineState::Unknown;
  std::string region;
  std::string offer_id;
  std::string gpu_model;  // canonical ("L40S") when known
  int gpu_count = 0;
  Money price_per_hour;  // zero when the provider did not say
  std::optional<Time> launch_time;
  std::string public_address;  // IP or host name; empty until known
  // Where the container's port (InstanceIntent::container.port) is reached
  // on public_address: container providers map it to another port; 0 until
  // known (or no container).
  int public_port = 0;
  std::string provider_state;               // the provider's raw state string, for people
  std::map<std::string, std::string> tags;  // at least kTagPoolUid and kTagInstance when known

  std::string pool_uid() const;
  bool operator==(const Machine&) const = default;
};

// Which machines list() returns. Empty fields do not filter. Every adapter
// returns only machines this operator created (its managed-by tag or name
// encoding), never other machines in the account.
struct MachineFilter {
  std::string pool_uid;
  bool include_terminated = false;
};

// Shared by adapters that read all their machines with one paged list and
// answer get() and list() from it.
//
// The machines of `all` this operator owns (a pool uid is known and, when
// `require_managed_tag`, kTagManagedBy says so) that pass `filter`.
std::vector<Machine> owned_machines(std::vector<Machine> all, const MachineFilter& filter,
                                    bool require_managed_tag);
// The machine made for intent `name` of pool `pool_uid` among `all`: a live
// one before a gone one (with `live_only`, gone ones do not count). NotFound
// ("no <what> for <name>") when there is none.
ProviderResult<Machine> machine_named(const std::vector<Machine>& all, std::string_view pool_uid,
                                      std::string_view name, bool live_only, std::string_view what);
// The same over a listing that may have failed: its error passes through,
// so an adapter's get() and list() are each one line over its listing.
ProviderResult<std::vector<Machine>> owned_machines(ProviderResult<std::vector<Machine>> all,
                                                    const MachineFilter& filter,
                                                    bool require_managed_tag);
ProviderResult<Machine> machine_named(const ProviderResult<std::vector<Machine>>& all,
                                      std::string_view pool_uid, std::string_view name,
                                      bool live_only, std::string_view what);
// The machine among `all` whose tag `key` is `value`, for adapters that find
// a machine by the provider-side name they derive from pool and intent
// (Fluence's VM name, Runpod's pod name): a live one before a gone one.
// NotFound ("no <what> named <value>") when there is none.
ProviderResult<Machine> machine_tagged(const ProviderResult<std::vector<Machine>>& all,
                                       std::string_view key, std::string_view value,
                                       std::string_view what);

// Whether `offer` is one `query` asks for: GPU model (case-insensitive),
// region, GPU count, spot and community tier (empty lists mean any). Adapters apply it to every
// offer they build, so they all read a query the same way.
bool matches(const Offer& offer, const OfferQuery& query);

// Reads one credential from a Secret's data for an adapter. `logical` is the
// adapter's name for it ("apiKey", "accessKeyId", ...); `key_names` maps
// logical names to the Secret's keys (GpuProvider spec.credentialsSecret.keys;
// a missing entry means the key is the logical name itself). A missing or
// empty required value is Unauthorized with a message naming the key, never
// the value; a missing optional one is "".
//
// Default logical names per adapter: aws: accessKeyId, secretAccessKey,
// sessionToken (optional); fluence, runpod, vastai: apiKey.
ProviderResult<std::string> secret_value(const std::map<std::string, std::string>& data,
                                         const std::map<std::string, std::string>& key_names,
                                         std::string_view logical, bool required = true);

// How a provider carries InstanceIntent::user_data to the machine it buys
// (each adapter's header says which field and encoding). A pool that
// bootstraps Nodes (spec.usage.node with a bootstrap template) plans only
// offers of providers that run its template at first boot.
enum class UserDataSupport {
  None,       // not sent, or sent but never run (a container's env): no bootstrap
  Script,     // run once at first boot as a shell script ("#!..."), not cloud-init
  CloudInit,  // handed to cloud-init: a "#!" script or a "#cloud-config" document
};

// "None", "Script", "CloudInit".
std::string_view to_string(UserDataSupport s);

// What each adapter type ("aws", "runpod", ...) supports; the adapters
// answer user_data_support() from this table, and `plan` and `simulate`,
// which plan without adapters, read it directly. None for unknown types.
//   aws, lambda, verda, digitalocean, scaleway, vultr  CloudInit
//   vastai                                             Script (onstart)
//   runpod, fluence                                    None
//   fake                                               CloudInit (the in-process
//                                                      fake can be told otherwise)
UserDataSupport user_data_support_of_type(std::string_view type);

// Whether a machine of a provider with `support` would run `user_data` (a
// rendered bootstrap): Script needs a "#!" script; CloudInit takes anything
// cloud-init reads; None runs nothing.
bool runs_user_data(UserDataSupport support, std::string_view user_data);

class Provider {
 public:
  virtual ~Provider() = default;

  // The GpuProvider object name this adapter serves ("fluence-main").
  virtual const std::string& name() const = 0;
  // Adapter type ("aws", "fluence", "runpod", "vastai", "fake").
  virtual std::string_view type() const = 0;
  // How InstanceIntent::user_data reaches and runs on the machine (above).
  // A constant of the adapter type; never calls the provider.
  virtual UserDataSupport user_data_support() const = 0;

  // Live offers matching the query. Errors: Unauthorized, RateLimited,
  // Transient (also for an unreadable answer), InvalidRequest.
  virtual ProviderResult<std::vector<Offer>> offers(const OfferQuery& query) = 0;

  // Buys one machine for the intent; idempotent on intent.name (see above).
  // Errors: NoCapacity, QuotaExceeded, RateLimited, Unauthorized,
  // InvalidRequest, Transient.
  virtual ProviderResult<Machine> create(const InstanceIntent& intent) = 0;

  // The machine created for the intent name `name` in pool `pool_uid`.
  // NotFound when there is none (or only a terminated one long gone).
  virtual ProviderResult<Machine> get(std::string_view pool_uid, std::string_view name) = 0;

  // The machines this operator owns that match the filter.
  virtual ProviderResult<std::vector<Machine>> list(const MachineFilter& filter) = 0;

  // Starts or continues ending the machine. Call until NotFound or until get()
  // reports Terminated. Success means "under way or done".
  virtual ProviderStatus terminate(std::string_view provider_id) = 0;
};

}  // namespace gpupool
