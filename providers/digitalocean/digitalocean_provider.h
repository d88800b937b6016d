#pragma once
// DigitalOcean GPU Droplets adapter (https://api.digitalocean.com, Bearer
// token; providers.md §6.5). Secret key (logical name): apiToken.
//
// Offers: GET /v2/sizes?per_page=200 (links.pages.next followed): one offer
// per (GPU size, region in the size's `regions`), price = price_hourly for
// the whole droplet. GPU model and count from gpu_info ("nvidia_l40s" ->
// "L40S"), else from the slug ("gpu-l40sx1-48gb" -> 1 x "L40S"); sizes with
// neither are CPU sizes and skipped. Billing: the config's rule; the default
// is the default-constructed BillingRule, which the pricing refresher
// replaces by the catalog's rule for "digitalocean" (per second, 3RD-PARTY).
//
// Identity: droplet name = the intent name (Kubernetes names are valid
// hostnames); tags "gpupool-managed" and "gpupool-pool:<pool uid>" (DO tags
// allow letters, digits, ':', '-', '_'). list()/get() use GET /v2/droplets
// ?tag_name=<tag> (UNCONFIRMED parameter name, the most plausible reading of
// the Terraform data source) and follow links.pages.next.
//
// create(): no idempotency token: looks the name up first, never blindly
// retries POST /v2/droplets, and after an ambiguous failure looks it up once
// more. 202 Accepted with the droplet means "accepted", not "running": the
// machine is Pending until a later get() shows status "active". user_data
// is sent as user_data (cloud-init). terminate(): DELETE
// /v2/droplets/{id}; 204 is success, 404 not_found is NotFound (gone).
//
// Errors by `id`: Unauthorized (401) / forbidden -> Unauthorized;
// not_found -> NotFound; too_many_requests / 429 -> RateLimited;
// unprocessable_entity (422) -> NoCapacity when the message says the size is
// "not available" or mentions capacity (UNCONFIRMED wording), QuotaExceeded
// when it mentions a droplet limit, else InvalidRequest; 5xx -> Transient.
// Throttling: a 429 without Retry-After is retried after ratelimit-reset
// (epoch seconds) through the HTTP layer's hook.
//
// Droplet states: new -> Pending, active -> Running, off -> Unknown,
// archive -> Terminated.
//
// Endpoint mode: the container's start script (providers/container/) is the
// user data; the tag "gpupool-port:<port>" carries the container port, so get()/list() set
// Machine::public_port to it once the machine has a public address.
//
// Thread-safe.

#include <optional>
#include <string>
#include <vector>

#include "operator/clock/clock.h"
#include "providers/http/client.h"
#include "providers/http/ssh_keys.h"
#include "providers/jsonapi/json_api_provider.h"

namespace gpupool::factory {
struct AdapterType;
}  // namespace gpupool::factory

namespace gpupool::digitalocean {

// This adapter's line in the adapter table (providers/factory), type "digitalocean":
// credentials apiToken.
factory::AdapterType adapter_type();

struct DoConfig {
  std::string provider_name;
  std::string endpoint = "https://api.digitalocean.com";
  std::string api_token;
  // The GpuProvider's spec.digitalocean block sets these two (adapter_type.cpp).
  // Numeric values are sent as JSON numbers (DO's image and key ids), others as strings.
  std::string image = "gpu-h100x1-base";  // DO's GPU-ready AI/ML image slug, or an image id
  std::vector<std::string> ssh_keys;      // key ids or fingerprints; may be empty
  BillingRule billing{};                  // default: let the catalog decide (see above)
  int page_size = 200;
  int max_pages = 50;
  net::ClientOptions http;
};

// "nvidia_l40s" -> "L40S"; "" -> "".
std::string gpu_from_model(std::string_view model);
// "gpu-l40sx1-48gb" -> {"L40S", 1}; nullopt for slugs of another shape.
struct SlugGpu {
  std::string model;
  int count = 0;
};
std::optional<SlugGpu> gpu_from_slug(std::string_view slug);
// Wait until `ratelimit_reset` (epoch seconds) from `now`; nullopt when
// malformed, 0 when in the past.
std::optional<net::Millis> wait_until_reset(std::string_view ratelimit_reset, Time now);

class DoProvider final : public jsonapi::JsonApiProvider {
 public:
  // User data: the droplet's user_data (plain text), run by cloud-init at first boot.
  DoProvider(DoConfig config, net::HttpTransport& transport, const Clock& clock,
             net::Sleeper& sleeper);

  ProviderResult<std::vector<Offer>> offers(const OfferQuery& query) override;
  ProviderResult<Machine> create(const InstanceIntent& intent) override;
  ProviderStatus terminate(std::string_view provider_id) override;

 private:
  // GET /v2/droplets filtered by the pool's tag (the managed tag for every pool).
  ProviderResult<std::vector<Machine>> list_all(std::string_view pool_uid,
                                                std::string_view name) override;

  DoConfig config_;
  net::SshKeyRegistry ssh_keys_;
};

ProviderError map_do_error(int status, std::string_view body, net::Millis retry_after);

}  // namespace gpupool::digitalocean
