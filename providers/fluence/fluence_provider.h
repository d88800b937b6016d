#pragma once
// Fluence GPU Cloud adapter (https://api.fluence.dev/gpu, header X-API-KEY).
//
// Offers: GET /gpu/plans/vms, flattened from gpu model -> gpu count ->
// options; each option (its id is the plan_id) is one Offer in its location.
// Model names are compared case-insensitively ("l40s" -> "L40S").
// Prices are per hour for the whole VM; the billing rule is configured (by
// default the seed documents' 3-hour minimum charge with hourly increments;
// Fluence's own docs describe clock-aligned hours with a refundable 3-hour
// deposit, selectable through FluenceConfig::billing).
//
// Identity: GPU VMs have no tags, so the operator's identity is encoded in
// the VM name (<= 25 chars of [a-z0-9-]): "gp-<10 hex of H(pool uid)>-<10 hex
// of H(pool uid/intent name)>" (see fluence_vm_name). list() filters the full
// VM list client-side by that prefix; Machines from list() carry the pool
// uid tag only when the filter named the pool, and never the intent name
// (it cannot be recovered from the hash; match with fluence_vm_name).
//
// create(): there is no idempotency token, so create first looks for a live
// VM with the encoded name and returns it; otherwise POST /gpu/instances/vms.
// The POST is not retried on timeouts by the HTTP layer; after an ambiguous
// failure create() looks the name up once more before reporting Transient.
// Fluence GPU VMs take no user data: InstanceIntent::user_data is not sent
// (bootstrap must happen over SSH); ssh_public_key is required. So an
// Endpoint container (InstanceIntent::container) cannot be started either:
// create() answers InvalidRequest naming the missing capability.
//
// OS image: every plan option lists its own os_options and Fluence refuses
// any other image. The adapter remembers each option's list from offers()
// (and reads GET /gpu/plans/vms itself when it has not seen the option) and
// sends: InstanceIntent::image when set (InvalidRequest, before any POST,
// when the option does not list it); else FluenceConfig::os_image when the
// option lists it; else the option's first image that mentions CUDA; else
// its first image. An option no longer in the plan list is NoCapacity.
//
// terminate(): Fluence deletes only ACTIVE VMs. terminate() reads the VM
// first: INITIALIZED -> Transient ("not deletable yet, call again"); ENDED or
// FAILED or unknown -> NotFound (gone); ACTIVE -> DELETE, success on 204.
//
// Errors: 403/401 Unauthorized; 400 whose detail says the plan is no longer
// available (or similar sold-out wording) -> NoCapacity; "insufficient
// balance" -> QuotaExceeded; other 400 and 422 -> InvalidRequest; 404
// NotFound; 429 RateLimited (Retry-After honoured); 5xx Transient; an
// unreadable 2xx body -> Transient (for reads) with a clear message.
//
// Thread-safe.

#include <map>
#include <string>
#include <vector>

#include "operator/base/thread_annotations.h"
#include "operator/clock/clock.h"
#include "providers/http/client.h"
#include "providers/http/json_api.h"
#include "providers/provider.h"

namespace gpupool::factory {
struct AdapterType;
}  // namespace gpupool::factory

namespace gpupool::fluence {

// This adapter's line in the adapter table (providers/factory), type "fluence":
// credentials apiKey; settings spec.fluence.
factory::AdapterType adapter_type();

struct FluenceConfig {
  std::string provider_name;
  std::string endpoint = "https://api.fluence.dev";  // override for tests / gateways
  std::string api_key;
  // The preferred OS image: used for an option that lists it; an option
  // that does not gets its own choice (below). Empty: automatic.
  std::string os_image;
  BillingRule billing{Duration(3 * 3600), Duration(3600), BillingAlignment::Launch,
                      MinimumKind::Charge, Money()};
  net::ClientOptions http;
};

// The VM name used for an intent (24 chars, [a-z0-9-]).
std::string fluence_vm_name(std::string_view pool_uid, std::string_view intent_name);
// The name prefix shared by every VM of a pool ("gp-<10 hex>-").
std::string fluence_pool_prefix(std::string_view pool_uid);
// "l40s" -> "L40S"; other models upper-cased.
std::string canonical_gpu_model(std::string_view model);

class FluenceProvider final : public Provider {
 public:
  FluenceProvider(FluenceConfig config, net::HttpTransport& transport, const Clock& clock,
                  net::Sleeper& sleeper);

  const std::string& name() const override { return config_.provider_name; }
  std::string_view type() const override { return "fluence"; }
  // User data: POST /gpu/instances/vms has no user-data field (cloudInit.userData exists only on
  // the CPU-VM POST /v2/vms): pools that bootstrap Nodes do not plan Fluence GPU offers.
  UserDataSupport user_data_support() const override { return user_data_support_of_type(type()); }
  ProviderResult<std::vector<Offer>> offers(const OfferQuery& query) override;
  ProviderResult<Machine> create(const InstanceIntent& intent) override;
  ProviderResult<Machine> get(std::string_view pool_uid, std::string_view name) override;
  ProviderResult<std::vector<Machine>> list(const MachineFilter& filter) override;
  ProviderStatus terminate(std::string_view provider_id) override;

  int64_t requests_sent() const { return client_.requests_sent(); }

 private:
  struct Answer {
    int status = 0;
    std::string body;
  };
  ProviderResult<Answer> call(const std::string& what, const std::string& method,
                              const std::string& path, const std::string& body, bool idempotent);
  // All VMs (raw list), parsed.
  ProviderResult<std::vector<Machine>> all_vms();
  ProviderResult<Machine> find_by_vm_name(const std::string& vm_name);
  // GET /gpu/plans/vms, parsed into offers; remembers each option's images.
  ProviderResult<std::vector<Offer>> read_plans(const OfferQuery& query);
  // The image to deploy plan option `plan_id` with (see above).
  ProviderResult<std::string> image_for(const InstanceIntent& intent);

  FluenceConfig config_;
  Mutex mu_;
  std::map<std::string, std::vector<std::string>> os_options_ GUARDED_BY(mu_);
  const Clock& clock_;
  net::HttpClient client_;
  net::JsonApi api_;  // after client_: uses it
};

// Maps a Fluence error answer to a ProviderError.
ProviderError map_fluence_error(int status, std::string_view body, net::Millis retry_after);

}  // namespace gpupool::fluence
