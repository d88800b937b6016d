#pragma once
// Vultr adapter (https://api.vultr.com/v2, Bearer API key; providers.md
// §6.4). Secret key (logical name): apiKey.
//
// Offers: GET /v2/plans?type=vcg&per_page=500 (cursor pagination via
// meta.links.next): one offer per plan with a GPU and each region in its
// `locations`; price = hourly_cost for the whole instance. GPU model from
// gpu_type ("NVIDIA_L40S" -> "L40S"); the plan object has no GPU count, so
// it is gpu_vram_gb over one GPU's memory (48 GB per L40S / L40), as gpuhunt
// derives it: vcg-l40s-16c-180g-48vram is 1 GPU, vcg-l40s-32c-375g-96vram
// 2, vcg-l40s-64c-750g-192vram 4. A plan with less memory than one GPU is a
// fractional vGPU slice and is not offered. Machines read the count back
// from the "<n>vram" in their plan id. Billing: the config's rule; the default-constructed rule
// lets the pricing refresher use the catalog's.
//
// Identity: label = hostname = the intent name; tags "gpupool-managed",
// "gpupool-pool=<pool uid>", "gpupool-instance=<name>". list()/get() use
// GET /v2/instances?tag=<tag> (UNCONFIRMED filter name; providers.md) and
// follow the cursor.
//
// create(): POST /v2/instances {region, plan, os_id (or snapshot_id), label,
// hostname, tags, sshkey_id, user_data (base64)}; no idempotency token: looks the tags up first,
// never blindly retries the POST, and after an ambiguous failure looks them up once more. 202 means
// accepted: Pending until status "active" with power_status "running" and server_status "ok".
// terminate(): DELETE /v2/instances/{id}; 204 is success, 404 is NotFound (gone).
//
// Errors (body {"error","status"}; UNCONFIRMED wording): 401/403 ->
// Unauthorized; 404 -> NotFound; 400 whose error says "not available" or
// "capacity" / "resources" -> NoCapacity; one that mentions a limit ->
// QuotaExceeded; other 4xx -> InvalidRequest; 429 -> RateLimited
// (Retry-After honoured; Vultr allows about 30 requests per second); 5xx ->
// Transient.
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
#include "providers/http/ssh_keys.h"
#include "providers/jsonapi/json_api_provider.h"

namespace gpupool::factory {
struct AdapterType;
}  // namespace gpupool::factory

namespace gpupool::vultr {

// This adapter's line in the adapter table (providers/factory), type "vultr":
// credentials apiKey.
factory::AdapterType adapter_type();

struct VultrConfig {
  std::string provider_name;
  std::string endpoint = "https://api.vultr.com";
  std::string api_key;
  // The GpuProvider's spec.vultr block sets the next three (adapter_type.cpp).
  int os_id = 1743;                      // Ubuntu 22.04 LTS x64; unused when snapshot_id is set
  std::string snapshot_id;               // boot from this snapshot (sent instead of os_id)
  std::vector<std::string> ssh_key_ids;  // registered key ids, sent with every create
  BillingRule billing{};
  int page_size = 500;
  int max_pages = 50;
  net::ClientOptions http;
};

// "NVIDIA_L40S" -> "L40S"; "NVIDIA_A100_PCIE" -> "A100_PCIE"; "" -> "".
std::string gpu_from_type(std::string_view gpu_type);
// GB of memory of one GPU of the model (L40S, L40: 48); 0 when unknown.
int gpu_memory_gb(std::string_view model);
// Whole GPUs in a plan with `gpu_vram_gb` of GPU memory: 96 GB of L40S -> 2;
// nullopt for an unknown model or a fractional slice (less than one GPU).
std::optional<int> gpu_count_from_vram(std::string_view model, int gpu_vram_gb);
// The GPU memory a plan id names: "vcg-l40s-32c-375g-96vram" -> 96.
std::optional<int> vram_from_plan(std::string_view plan_id);

class VultrProvider final : public jsonapi::JsonApiProvider {
 public:
  // User data: user_data (base64), run by cloud-init at first boot.
  VultrProvider(VultrConfig config, net::HttpTransport& transport, const Clock& clock,
                net::Sleeper& sleeper);

  ProviderResult<std::vector<Offer>> offers(const OfferQuery& query) override;
  ProviderResult<Machine> create(const InstanceIntent& intent) override;
  ProviderStatus terminate(std::string_view provider_id) override;

 private:
  // GET /v2/instances filtered by the pool's tag (the managed tag for every pool).
  ProviderResult<std::vector<Machine>> list_all(std::string_view pool_uid,
                                                std::string_view name) override;

  VultrConfig config_;
  net::SshKeyRegistry ssh_keys_;
};

ProviderError map_vultr_error(int status, std::string_view body, net::Millis retry_after);

}  // namespace gpupool::vultr
