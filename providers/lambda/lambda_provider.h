#pragma once
// Lambda Cloud adapter (https://cloud.lambda.ai/api/v1, Bearer key).
//
// Lambda's public catalog has shown no L40S / L40 types so far; the adapter
// offers whatever GET /instance-types lists whose GPU (from gpu_description,
// "L40S (48 GB PCIe)" -> "L40S") matches the query, so it starts offering
// L40S the day Lambda does. One offer per (type, region with capacity):
// price = price_cents_per_hour (whole machine), billing per second (config).
//
// Identity: launch tags gpupool-managed-by, gpupool-pool-uid and
// gpupool-instance (Lambda tag keys match ^[a-z][a-z0-9-:]+$), name
// "gp-<10 hex H(pool uid)>-<10 hex H(pool uid/name)>". There is no server
// side tag filter, so list()/get() read GET /instances and match tags.
//
// create(): no idempotency token: looks the tags up first, POST
// /instance-operations/launch is never blindly retried, and after an
// ambiguous failure the tags are looked up once more. user_data goes to
// Lambda's user_data (cloud-init); exactly one SSH key name (config).
// terminate(): POST /instance-operations/terminate; success while the
// instance is going away, NotFound once it is terminated or unknown.
//
// Rate limits (published: "one request per second", launch "one request per
// 12 seconds"): every request waits for the HTTP client's token bucket
// (1/s, burst 1) and launches are serialised and spaced 12 s apart, both on
// the injected Clock and Sleeper, so tests run on fake time.
//
// Errors by `error.code`: instance-operations/launch/insufficient-capacity
// -> NoCapacity; global/quota-exceeded -> QuotaExceeded;
// global/invalid-api-key, global/account-inactive -> Unauthorized;
// global/object-does-not-exist, global/not-found -> NotFound, except on
// launch, where a 404 (an unknown SSH key name, type or file system) is
// InvalidRequest;
// global/invalid-parameters and other 4xx -> InvalidRequest; 429 ->
// RateLimited; 5xx and provider/* -> Transient.
//
// Endpoint mode: the container's start script (providers/container/) is the
// user data; the tag gpupool-container-port carries the container port, so get()/list() set
// Machine::public_port to it once the machine has a public address.
//
// Thread-safe.

#include <optional>
#include <string>
#include <vector>

#include "operator/base/thread_annotations.h"
#include "operator/clock/clock.h"
#include "providers/http/client.h"
#include "providers/jsonapi/json_api_provider.h"

namespace gpupool::factory {
struct AdapterType;
}  // namespace gpupool::factory

namespace gpupool::lambda {

// This adapter's line in the adapter table (providers/factory), type "lambda":
// credentials apiKey; settings spec.lambda.
factory::AdapterType adapter_type();

struct LambdaConfig {
  std::string provider_name;
  std::string endpoint = "https://cloud.lambda.ai";
  std::string api_key;
  std::string ssh_key_name;  // required for create: Lambda wants exactly one
  // Lambda's published limits: about one request per second (used when
  // http.rate_per_second is 0) and one launch per 12 seconds. <= 0: none.
  double requests_per_second = 1.0;
  net::Millis launch_interval{12'000};
  BillingRule billing{Duration(0), Duration(1), BillingAlignment::Launch, MinimumKind::Charge,
                      Money()};
  net::ClientOptions http;
};

// "L40S (48 GB PCIe)" -> "L40S"; "H100 (80 GB SXM5)" -> "H100".
std::string gpu_from_description(std::string_view description);

class LambdaProvider final : public jsonapi::JsonApiProvider {
 public:
  // User data: launch user_data (plain text), run by cloud-init at first boot.
  LambdaProvider(LambdaConfig config, net::HttpTransport& transport, const Clock& clock,
                 net::Sleeper& sleeper);

  ProviderResult<std::vector<Offer>> offers(const OfferQuery& query) override;
  ProviderResult<Machine> create(const InstanceIntent& intent) override;
  ProviderStatus terminate(std::string_view provider_id) override;

 private:
  // GET /instances (no server-side filter).
  ProviderResult<std::vector<Machine>> list_all(std::string_view pool_uid,
                                                std::string_view name) override;

  LambdaConfig config_;
  net::Sleeper& sleeper_;
  // Launches are serialised and spaced launch_interval apart, measured from
  // the previous launch's answer (never earlier than its sending).
  Mutex launch_mu_;
  std::optional<SteadyTime> last_launch_ GUARDED_BY(launch_mu_);
};

ProviderError map_lambda_error(int status, std::string_view body, net::Millis retry_after);

}  // namespace gpupool::lambda
