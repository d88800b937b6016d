#pragma once
// Scaleway Instance adapter (https://api.scaleway.com/instance/v1, header
// X-Auth-Token: <secret key>; providers.md §6.3). Secret keys (logical
// names): secretKey; the project id comes from the config (projectId).
//
// Zones are the regions: every call is per zone (/zones/{zone}/...); the
// adapter serves the zones in its config (default fr-par-2, where the L40S
// types are) and, for offers, only those the query names when it names any.
//
// Offers: GET products/servers (hourly_price for the whole server; gpu count
// and gpu_info.gpu_name) joined with GET products/servers/availability: one
// offer per GPU type and zone unless its availability is "shortage". Prices
// are taken as the account's billing currency as they come (Scaleway bills
// in EUR; no conversion here). GPU model from gpu_info.gpu_name, else from
// the type name ("L40S-1-48G" -> 1 x "L40S"). Billing: the config's rule;
// the default-constructed rule lets the pricing refresher use the catalog's
// ("per minute, 60-minute minimum", UNCONFIRMED).
//
// Identity: server name = the intent name; tags "gpupool-managed",
// "gpupool-pool=<pool uid>", "gpupool-instance=<name>". list()/get() use GET
// servers?tags=<tag> (servers carrying every listed tag) in each zone,
// paging with per_page/page until X-Total-Count servers are read.
//
// create(): Scaleway creates servers powered off. Steps: look the name up;
// POST servers (201, state "stopped"; never blindly retried); PATCH
// servers/{id}/user_data/cloud-init (text/plain) when there is user data;
// POST servers/{id}/action {"action":"poweron"}. A server found "stopped"
// by a later create() (a crash or lost answer between the steps) is
// finished the same way, so calling create() again converges. A stopped
// server is reported Pending; callers that only poll get() after a failed
// create() should call create() again to finish it.
// terminate(): reads GET servers/{id} first. Running: POST
// servers/{id}/action {"action":"terminate"} (Scaleway also deletes the
// volumes). Stopping: success (under way). Stopped (a crash between create
// and power-on; "terminate" is refused for it): DELETE servers/{id}, then
// DELETE volumes/{id} for each volume it had. Starting: the action answers
// 409 transient_state -> Transient, call again. NotFound (404
// unknown_resource) once it is gone. The id is "<zone>/<server id>", since
// every Scaleway call needs the zone.
//
// Errors by `type`: denied_authentication, authentication_error,
// permissions_denied -> Unauthorized; unknown_resource -> NotFound;
// transient_state (409, the server is starting or stopping) -> Transient;
// out_of_stock (or a message saying "out of stock"; UNCONFIRMED how
// Scaleway reports sold-out GPU types) -> NoCapacity; quotas_exceeded ->
// QuotaExceeded; invalid_arguments, invalid_request_error -> InvalidRequest;
// 429 -> RateLimited (Retry-After honoured); 5xx -> Transient.
// Server states: stopped, starting -> Pending; running -> Running;
// stopping -> Terminating; locked -> Failed; others Unknown.
//
// Endpoint mode: the container's start script (providers/container/) is the
// user data; the tag "gpupool-port=<port>" carries the container port, so get()/list() set
// Machine::public_port to it once the machine has a public address.
//
// Thread-safe.

#include <optional>
#include <string>
#include <vector>

#include "operator/clock/clock.h"
#include "providers/http/client.h"
#include "providers/jsonapi/json_api_provider.h"

namespace gpupool::factory {
struct AdapterType;
}  // namespace gpupool::factory

namespace gpupool::scaleway {

// This adapter's line in the adapter table (providers/factory), type "scaleway":
// credentials secretKey; settings spec.scaleway.
factory::AdapterType adapter_type();

struct ScwConfig {
  std::string provider_name;
  std::string endpoint = "https://api.scaleway.com";
  std::string secret_key;
  std::string project_id;  // required for create
  std::vector<std::string> zones = {"fr-par-2"};
  // Image id or label (UNCONFIRMED that the API takes labels; set an image
  // id from the console when it does not).
  std::string image = "ubuntu_jammy_gpu_os_12";
  BillingRule billing{};
  int page_size = 100;
  int max_pages = 50;
  net::ClientOptions http;
};

// "L40S-1-48G" -> {"L40S", 1}; "H100-2-80G" -> {"H100", 2}; nullopt otherwise.
struct TypeGpu {
  std::string model;
  int count = 0;
};
std::optional<TypeGpu> gpu_from_type(std::string_view commercial_type);

class ScwProvider final : public jsonapi::JsonApiProvider {
 public:
  // User data: PATCH servers/{id}/user_data/cloud-init (text/plain) before power-on.
  ScwProvider(ScwConfig config, net::HttpTransport& transport, const Clock& clock,
              net::Sleeper& sleeper);

  ProviderResult<std::vector<Offer>> offers(const OfferQuery& query) override;
  ProviderResult<Machine> create(const InstanceIntent& intent) override;
  ProviderStatus terminate(std::string_view provider_id) override;

 private:
  // GET servers of every configured zone filtered by the pool's tag (the
  // managed tag for every pool).
  ProviderResult<std::vector<Machine>> list_all(std::string_view pool_uid,
                                                std::string_view name) override;
  // user data + poweron for a server in state "stopped".
  ProviderResult<Machine> finish(Machine m, const InstanceIntent& intent);

  ScwConfig config_;
};

ProviderError map_scw_error(int status, std::string_view body, net::Millis retry_after);

}  // namespace gpupool::scaleway
