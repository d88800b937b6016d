#pragma once
// Vast.ai adapter (https://console.vast.ai, Bearer key in the header).
//
// Offers: POST /api/v0/bundles/ filtered server-side to the asked GPU names
// (Vast uses "L40S" / "L40"), GPU count, rentable and not rented, verified
// hosts with reliability >= min_reliability and on-demand type, cheapest
// first ("order": [["dph_total", "asc"]], the published list-of-pairs form).
// Regions are ISO country codes: Vast writes geolocation as "Texas, US", so
// Offer::region and Machine::region carry "US" and a query's regions are
// matched against that code client-side. Each ask is one machine: Offer id = ask
// id, price = dph_total, egress = inet_up_cost per GB, tier Community
// (marketplace hosts; no offers when the query excludes community tiers),
// capacity_hint 1, billing per second.
//
// Identity: the instance label "gpupool/<pool uid>/<intent name>" (Vast
// labels take up to 1024 chars), so list() recovers both tags. The
// bootstrap (user_data) is the instance's onstart script; env carries
// GPUPOOL_POOL_UID / GPUPOOL_INSTANCE.
//
// Endpoint mode (intent.container): runtype "args" (the image's own
// entrypoint runs; ssh_direct would replace it with Vast's ssh launcher)
// with the container's args as createInstance's `args` array, and its env
// and port in the env string ("Docker flag format"): " -e K=V" per
// variable (a value with spaces double-quoted; one holding a quote or a
// control character is InvalidRequest: the string has no escapes),
// " -e GPUPOOL_ENDPOINT_PORT=<port> -p <port>:<port>". GPUPOOL_* names are
// reserved. get()/list() read the port back from the instance's extra_env
// and set Machine::public_port to the host port of ports["<port>/tcp"]
// (HostPort, a string), public_address being public_ipaddr; 0 until the
// instance runs ("only present on running instances").
//
// create(): no idempotency key (a repeated PUT can rent twice), so create
// looks the label up first, then PUT /api/v0/asks/{id}/ (never blindly
// retried), and after an ambiguous failure looks the label up once more.
// terminate(): DELETE /api/v0/instances/{id}/; success, then NotFound once
// the instance is gone.
//
// SSH: the intent's public key is attached after the rent with POST
// /api/v0/instances/{id}/ssh/ {"ssh_key"} (the create body has no key field);
// a failed attach is returned as the create's error (the instance exists and
// a later create() finds it by label, without attaching again).
//
// Errors: no_such_ask (404 / 410) -> NoCapacity; a bad key (404 "Invalid user
// key" on search, 401 auth_error elsewhere) -> Unauthorized; 401/403 -> Unauthorized;
// other 400 -> InvalidRequest; 404 not_found -> NotFound; 429 (plain text,
// no Retry-After) -> RateLimited after the HTTP layer's own backoff; 5xx ->
// Transient.
//
// Thread-safe.

#include <string>
#include <vector>

#include "operator/clock/clock.h"
#include "providers/http/client.h"
#include "providers/jsonapi/json_api_provider.h"

namespace gpupool::factory {
struct AdapterType;
}  // namespace gpupool::factory

namespace gpupool::vastai {

// This adapter's line in the adapter table (providers/factory), type "vastai":
// credentials apiKey; settings spec.vastai (image, diskGb, verifiedOnly).
factory::AdapterType adapter_type();

struct VastConfig {
  std::string provider_name;
  std::string endpoint = "https://console.vast.ai";
  std::string api_key;
  std::string image = "vastai/base-image:@vastai-automatic-tag";
  int disk_gb = 64;
  double min_reliability = 0.98;
  bool verified_only = true;
  BillingRule billing{Duration(0), Duration(1), BillingAlignment::Launch, MinimumKind::Charge,
                      Money()};
  net::ClientOptions http;
};

// "gpupool/<pool uid>/<intent name>"
std::string vast_label(std::string_view pool_uid, std::string_view intent_name);

class VastProvider final : public jsonapi::JsonApiProvider {
 public:
  VastProvider(VastConfig config, net::HttpTransport& transport, const Clock& clock,
               net::Sleeper& sleeper);

  // User data: the instance's onstart commands, run by a shell at container start
  // (not cloud-init). Vast caps onstart at kMaxOnstart characters: a longer
  // one is InvalidRequest before any request.
  static constexpr size_t kMaxOnstart = 4048;
  ProviderResult<std::vector<Offer>> offers(const OfferQuery& query) override;
  ProviderResult<Machine> create(const InstanceIntent& intent) override;
  ProviderStatus terminate(std::string_view provider_id) override;

 private:
  // Instances; for one intent (`name` given) filtered by its exact label
  // server-side.
  ProviderResult<std::vector<Machine>> list_all(std::string_view pool_uid,
                                                std::string_view name) override;

  VastConfig config_;
};

ProviderError map_vast_error(int status, std::string_view body, net::Millis retry_after);

}  // namespace gpupool::vastai
