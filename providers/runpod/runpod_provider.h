#pragma once
// Runpod adapter: REST v2 (https://api.runpod.io/v2, Bearer key) for pods and
// for GPU prices and stock (the catalog, GET /v2/catalog/gpus).
//
// Offers: one per (cloud, GPU type, GPU count, data center). For each cloud
// RunpodConfig::cloud_type allows (COMMUNITY only when the query takes
// community hosts and the first answer shows an asked model sold there),
// one catalog read: include=AVAILABILITY&product=POD&count=<n>&cloud=<cloud>
// with n = the query's min_gpu_count (and minCudaVersion when RunpodConfig::
// min_cuda_version is set, so stock is that of hosts the pod may run on).
// Each GPU type of an asked model ("NVIDIA L40S" -> "L40S") that the cloud
// sells (secure / community true, price.<cloud> > 0) gives, for each pod
// size from n up to the query's max_gpu_count (unbounded: the type's
// maxCount.<cloud>, at most kMaxPodGpus) that maxCount allows, one offer per
// data center in its dataCenters: region = the data-center id ("US-TX-3",
// "EU-RO-1"), id = runpod_offer_id(cloud, type, size) ("SECURE/NVIDIA L40S",
// "SECURE/NVIDIA L40S x2": the catalog's ids), price = price.<cloud> x size,
// capacity_hint 0 when the data center's availability for n GPUs is NONE,
// -1 otherwise (for sizes above n the read says nothing sharper: a pool
// that asks for exactly one size, min = max, gets that size's stock); no
// dataCenters (sold nowhere for n GPUs): no offer. RunpodConfig::
// data_center_ids and the query's regions keep only those data centers.
// Community cloud offers are ReliabilityTier::Community. Billing per second
// without minimum.
//
// Identity: pods have no tags. The pod name is "gp-<10 hex H(pool uid)>-<10
// hex H(pool uid/intent name)>" and the pod's env carries GPUPOOL_POOL_UID
// and GPUPOOL_INSTANCE, so list() recovers both tags. The bootstrap
// (user_data) goes to the container as env GPUPOOL_USER_DATA (base64) and
// the SSH key as PUBLIC_KEY (what Runpod images read).
//
// Placement: create() reads cloud, GPU type and count from the offer id and
// sends createPod dataCenterIds [offer.region], so the pod runs in the data
// center the offer was priced in (an offer region outside RunpodConfig::
// data_center_ids is InvalidRequest); an offer without a region (a catalog
// offer) sends data_center_ids when set and lets Runpod place the pod
// otherwise. min_cuda_version goes to gpu.minCudaVersion.
//
// Endpoint mode (intent.container): the pod runs the container's image with
// its env (beside the identity env above; GPUPOOL_* names are reserved), its
// args as createPod's "args" string (each arg shell-quoted when it needs
// it), and ports ["22/tcp", "<port>/tcp"]. tcp, not http: a tcp port gets a
// direct mapping on the pod's public IP (runtime.ports, PodRuntimePort
// {private, public, type, ip}; the mapping ssh.direct reads for 22/tcp),
// which is an address:port an EndpointSlice and a health check can use; an
// http port is served through Runpod's HTTPS proxy host name instead. The
// env GPUPOOL_ENDPOINT_PORT records the port, so get()/list() read
// Machine::public_address / public_port from the tcp mapping of that port
// (0 until the pod runs and is mapped).
//
// create(): no idempotency token: look the name up first; POST /v2/pods is
// not retried blindly; after an ambiguous failure the name is looked up once
// more. terminate(): DELETE /v2/pods/{id}; 204 success, 404 NotFound (gone),
// a TERMINATED pod is NotFound too.
//
// Errors (RFC 9457 problem+json): on createPod, every 400 (the v2 spec's
// BadRequestError: "malformed or conflicts with request rules", which is how
// sold out arrives) and 403 (ForbiddenError: a valid key that may not use
// this GPU type or cloud) -> NoCapacity: skip this offer, try the next;
// elsewhere 400 whose detail speaks of capacity -> NoCapacity, other 400 and
// 422 -> InvalidRequest, 402 -> QuotaExceeded (balance), 401/403 -> Unauthorized,
// 404 -> NotFound, 429 -> RateLimited with Retry-After, 5xx -> Transient.
//
// Thread-safe.

#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json_fwd.hpp>

#include "operator/clock/clock.h"
#include "providers/http/client.h"
#include "providers/http/json_api.h"
#include "providers/provider.h"

namespace gpupool::factory {
struct AdapterType;
}  // namespace gpupool::factory

namespace gpupool::runpod {

// This adapter's line in the adapter table (providers/factory), type "runpod":
// credentials apiKey.
factory::AdapterType adapter_type();

struct RunpodConfig {
  std::string provider_name;
  std::string endpoint = "https://api.runpod.io";  // REST v2 base; override for tests
  std::string api_key;
  // The GpuProvider's spec.runpod block sets the next five (adapter_type.cpp).
  std::string image = "runpod/pytorch:1.0.2-cu1281-torch280-ubuntu2404";  // Node-mode pods
  int disk_gb = 50;  // container disk; an Endpoint pool's disk_gb wins
  // "SECURE", "COMMUNITY" or "ALL": the clouds offers come from and create()
  // accepts (an offer of another cloud is InvalidRequest).
  std::string cloud_type = "ALL";
  // Data centers offers come from and create() may place pods in; empty: any.
  std::vector<std::string> data_center_ids;
  std::string min_cuda_version;  // gpu.minCudaVersion ("12.4"); empty: any
  BillingRule billing{Duration(0), Duration(1), BillingAlignment::Launch, MinimumKind::Charge,
                      Money()};
  net::ClientOptions http;
};

// The most GPUs per pod offered when a query has no upper bound.
inline constexpr int kMaxPodGpus = 16;

// An offer's id: "<cloud>/<GPU type id>", with " x<N>" for N > 1 GPUs
// ("COMMUNITY/NVIDIA L40S x4"), as catalog.h names Runpod shapes.
std::string runpod_offer_id(std::string_view cloud, std::string_view gpu_type, int gpu_count);

// What an offer id names; nullopt when it is not "<cloud>/<type>[ x<N>]".
// gpu_count is 0 when the id has no " x<N>" (one GPU, or an id written before
// multi-GPU ids carried the count).
struct RunpodOfferId {
  std::string cloud;
  std::string gpu_type;
  int gpu_count = 0;
};
std::optional<RunpodOfferId> parse_runpod_offer_id(std::string_view id);

std::string runpod_pod_name(std::string_view pool_uid, std::string_view intent_name);
std::string runpod_pool_prefix(std::string_view pool_uid);

class RunpodProvider final : public Provider {
 public:
  RunpodProvider(RunpodConfig config, net::HttpTransport& transport, const Clock& clock,
                 net::Sleeper& sleeper);

  const std::string& name() const override { return config_.provider_name; }
  std::string_view type() const override { return "runpod"; }
  // User data: a pod is a container: user_data only reaches it as env GPUPOOL_USER_DATA
  // (base64), which nothing runs at boot, so no Node bootstrap.
  UserDataSupport user_data_support() const override { return user_data_support_of_type(type()); }
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
  ProviderResult<std::vector<Machine>> all_pods();
  // The catalog's GPU types with stock for pods of `count` GPUs on `cloud`.
  ProviderResult<nlohmann::json> gpu_catalog(const std::string& cloud, int count);
  // The offers for pods of `count` GPUs from one catalog answer (above) that
  // pass `query`.
  std::vector<Offer> catalog_offers(const nlohmann::json& gpus, const std::string& cloud, int count,
                                    const OfferQuery& query) const;
  ProviderResult<Machine> find_by_pod_name(const std::string& pod_name);

  RunpodConfig config_;
  const Clock& clock_;
  net::HttpClient client_;
  net::JsonApi api_;  // after client_: uses it
};

ProviderError map_runpod_error(int status, std::string_view body, net::Millis retry_after);

// Runpod's IETF draft RateLimit header ('"minute";r=0;t=12, "hour";r=2800;
// t=1812'): when some window has no requests left (r=0), the seconds until
// it resets (the largest such t); nullopt when every window has room or the
// header is absent / unreadable. Used as a throttling hint when a 429 has
// no Retry-After.
std::optional<net::Millis> runpod_rate_limit_wait(std::string_view header);

}  // namespace gpupool::runpod
