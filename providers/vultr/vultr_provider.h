#pragma once
// Vultr adapter (https://api.vultr.com/v2, Bearer API key; providers.md
// §6.4). Secret key (logical name): apiKey.
//
// Offers: GET /v2/plans?type=vcg&per_page=500 (cursor pagination via
// meta.links.next): one offer per plan with a GPU and each region in its
// `locations`; price = hourly_cost for the whole instance. GPU model from
// gpu_type ("NVIDIA_L40S" -> "L40S"); the GPU count is not in the plan
// object (UNCONFIRMED), so it is read from the plan id when it names one
// ("...-2xl40s-..."), else 1. The vcg L40S plans may be fractional vGPUs
// (UNCONFIRMED; providers.md): the adapter offers only plans whose
// gpu_vram_gb is at least 48 per GPU, so a slice is never taken for a whole
// L40S. Billing: the config's rule; the default-constructed rule lets the
// pricing refresher use the catalog's.
//
// Identity: label = hostname = the intent name; tags "gpupool-managed",
// "gpupool-pool=<pool uid>", "gpupool-instance=<name>". list()/get() use
// GET /v2/instances?tag=<tag> (UNCONFIRMED filter name; providers.md) and
// follow the cursor.
//
// create(): POST /v2/instances {region, plan, os_id, label, hostname, tags,
// user_data (base64)}; no idempotency token: looks the tags up first, never
// blindly retries the POST, and after an ambiguous failure looks them up
// once more. 202 means accepted: Pending until status "active" with
// power_status "running" and server_status "ok". terminate(): DELETE
// /v2/instances/{id}; 204 is success, 404 is NotFound (gone).
//
// Errors (body {"error","status"}; UNCONFIRMED wording): 401/403 ->
// Unauthorized; 404 -> NotFound; 400 whose error says "not available" or
// "capacity" / "resources" -> NoCapacity; one that mentions a limit ->
// QuotaExceeded; other 4xx -> InvalidRequest; 429 -> RateLimited
// (Retry-After honoured; Vultr allows about 30 requests per second); 5xx ->
// Transient.
//
// Thread-safe.

#include <string>
#include <vector>

#include "operator/clock/clock.h"
#include "providers/http/client.h"
#include "providers/provider.h"

namespace gpupool::vultr {

struct VultrConfig {
  std::string provider_name;
  std::string endpoint = "https://api.vultr.com";
  std::string api_key;
  int os_id = 1743;  // Ubuntu 22.04 LTS x64
  std::vector<std::string> ssh_key_ids;
  int min_vram_gb_per_gpu = 48;  // below: a fractional vGPU slice, not offered
  BillingRule billing{};
  int page_size = 500;
  int max_pages = 50;
  net::ClientOptions http;
};

// "NVIDIA_L40S" -> "L40S"; "NVIDIA_A100_PCIE" -> "A100_PCIE"; "" -> "".
std::string gpu_from_type(std::string_view gpu_type);
// GPUs in a plan id: "vcg-l40s-2x..." style "2xl40s" / "-2x-" -> 2; else 1.
int gpu_count_from_plan(std::string_view plan_id, std::string_view model);

class VultrProvider final : public Provider {
 public:
  VultrProvider(VultrConfig config, net::HttpTransport& transport, const Clock& clock,
                net::Sleeper& sleeper);

  const std::string& name() const override { return config_.provider_name; }
  std::string_view type() const override { return "vultr"; }
  ProviderResult<std::vector<Offer>> offers(const OfferQuery& query) override;
  ProviderResult<Machine> create(const InstanceIntent& intent) override;
  ProviderResult<Machine> get(std::string_view pool_uid, std::string_view name) override;
  ProviderResult<std::vector<Machine>> list(const MachineFilter& filter) override;
  ProviderStatus terminate(std::string_view provider_id) override;

  int64_t requests_sent() const { return client_.requests_sent(); }

 private:
  ProviderResult<std::string> call(const std::string& what, const std::string& method,
                                   const std::string& url, const std::string& body,
                                   bool idempotent);
  ProviderResult<std::vector<Machine>> instances(const std::string& tag);

  VultrConfig config_;
  const Clock& clock_;
  net::HttpClient client_;
};

ProviderError map_vultr_error(int status, std::string_view body, net::Millis retry_after);

}  // namespace gpupool::vultr
