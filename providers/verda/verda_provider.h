#pragma once
// Verda (formerly DataCrunch) adapter (https://api.verda.com/v1), following
// the official Python SDK (providers.md §6.1).
//
// Auth: OAuth2 client credentials. POST /oauth2/token {"grant_type":
// "client_credentials", client_id, client_secret} gives an access token
// (Bearer) with expires_in and a refresh token; the adapter caches the token,
// renews it shortly before expiry (refresh_token grant first, client
// credentials when that fails), and on a 401 from an API call with a cached
// token fetches a new one once and repeats the call once. A 401 from the
// token endpoint itself is Unauthorized at once (no retry storm). Secret keys
// (logical names): clientId, clientSecret.
//
// Offers: GET /instance-types (price_per_hour for the whole machine, a
// decimal string such as "5.00" on the wire (a number is accepted too),
// gpu.number_of_gpus) joined with GET /instance-availability
// ([{"location_code","availabilities":[type...]}]): one offer per (type,
// location where it is available now). The GPU model comes from the type
// name ("1L40S.20V" -> 1 x "L40S"). Billing from config (10-minute
// increments by default: UNCONFIRMED, as in the catalog).
//
// Identity: Verda instances have no tags. hostname "gp-<10 hex H(pool
// uid)>-<10 hex H(pool uid/name)>" and description "gpupool-operator
// pool-uid=<uid> instance=<name>"; list()/get() read GET /instances and
// match the description.
//
// create(): no idempotency token: looks the description up first, never
// blindly retries POST /instances, and after an ambiguous failure looks it
// up once more. user_data becomes a startup script (POST /scripts {name,
// script} -> id as plain text, UNCONFIRMED beyond the SDK) passed as
// startup_script_id. The intent's ssh_public_key is registered once (GET
// /sshkeys, else POST /sshkeys {name, key} -> id as plain text) and its id
// sent in ssh_key_ids next to the configured ones. POST /instances answers the new id as plain
// text; an answer that is not an id is treated as lost (looked up, else Transient). terminate():
// PUT /instances {"id":[id],"action":"delete"}; success while the instance is deleting; NotFound
// (404 not_found) once it is gone.
//
// Errors by `code`: unauthorized_request -> Unauthorized; insufficient_funds
// -> QuotaExceeded; not_found -> NotFound; server_error,
// service_unavailable -> Transient; invalid_request / forbidden_action ->
// InvalidRequest, except that Verda has no documented no-capacity code
// (UNCONFIRMED): a 4xx whose message mentions "capacity" or "not available"
// is NoCapacity. 429 -> RateLimited (Retry-After honoured; Verda's limits are
// UNCONFIRMED). Instance states: ordered, new, validating, provisioning ->
// Pending; running -> Running; deleting -> Terminating; discontinued,
// notfound -> Terminated; error, no_capacity, installation_failed -> Failed;
// offline -> Unknown.
//
// Logging: the configured log sink is wrapped so startup scripts are
// redacted (redact_script_fields) before lines reach it.
//
// Endpoint mode: the container's start script (providers/container/) is the
// user data; " port=<port>" in the description carries the container port, so get()/list() set
// Machine::public_port to it once the machine has a public address.
//
// Thread-safe.

#include <optional>
#include <string>
#include <vector>

#include "operator/base/thread_annotations.h"
#include "operator/clock/clock.h"
#include "providers/http/client.h"
#include "providers/http/json_api.h"
#include "providers/http/ssh_keys.h"
#include "providers/jsonapi/json_api_provider.h"

namespace gpupool::factory {
struct AdapterType;
}  // namespace gpupool::factory

namespace gpupool::verda {

// This adapter's line in the adapter table (providers/factory), type "verda":
// credentials clientId, clientSecret.
factory::AdapterType adapter_type();

struct VerdaConfig {
  std::string provider_name;
  std::string endpoint = "https://api.verda.com/v1";
  std::string client_id;
  std::string client_secret;
  // The GpuProvider's spec.verda block sets these two (adapter_type.cpp).
  std::vector<std::string> ssh_key_ids;  // registered key ids, sent with every create; may be empty
  std::string image = "ubuntu-24.04";    // OS image type or OS volume id; the intent's wins
  BillingRule billing{Duration(0), Duration(600), BillingAlignment::Launch, MinimumKind::Charge,
                      Money()};
  net::ClientOptions http;
};

// "1L40S.20V" -> {"L40S", 1}; "8H100.80S.176V" -> {"H100", 8}; nullopt when
// the name does not start with a GPU count.
struct TypeGpu {
  std::string model;
  int count = 0;
};
std::optional<TypeGpu> gpu_from_type(std::string_view instance_type);

class VerdaProvider final : public jsonapi::JsonApiProvider {
 public:
  // User data: a startup script (POST /scripts) named by startup_script_id, run at first boot.
  VerdaProvider(VerdaConfig config, net::HttpTransport& transport, const Clock& clock,
                net::Sleeper& sleeper);

  ProviderResult<std::vector<Offer>> offers(const OfferQuery& query) override;
  ProviderResult<Machine> create(const InstanceIntent& intent) override;
  ProviderStatus terminate(std::string_view provider_id) override;

 private:
  // The access token; a new one when `renew` or when the cached one expires.
  ProviderResult<std::string> token(bool renew);
  // GET /instances (no server-side filter; the description names the owner).
  ProviderResult<std::vector<Machine>> list_all(std::string_view pool_uid,
                                                std::string_view name) override;
  // POST `path` whose answer is a bare id (plain text, perhaps quoted):
  // Transient "<what>: unreadable answer" when it is not one.
  ProviderResult<std::string> post_for_id(const std::string& what, const std::string& path,
                                          const std::string& body);

  VerdaConfig config_;
  net::JsonApi token_api_;  // POST /oauth2/token, no bearer; over the skeleton's client
  net::SshKeyRegistry ssh_keys_;
  Mutex token_mu_;
  std::string access_token_ GUARDED_BY(token_mu_);
  std::string refresh_token_ GUARDED_BY(token_mu_);
  Time token_expires_ GUARDED_BY(token_mu_){};
};

// Replaces the value of every "script" JSON field in a log line with
// REDACTED (startup scripts carry join tokens; the shared redaction only
// knows user_data-like names). Works on truncated JSON.
std::string redact_script_fields(std::string_view line);

ProviderError map_verda_error(int status, std::string_view body, net::Millis retry_after);

}  // namespace gpupool::verda
