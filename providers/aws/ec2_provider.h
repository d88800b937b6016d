#pragma once
// AWS EC2 adapter over the EC2 Query API (version 2016-11-15), SigV4-signed
// POSTs with form bodies. One adapter instance serves one region (EC2
// endpoints are regional).
//
// Offers: DescribeInstanceTypeOfferings (LocationType=region) for the
// configured g6e types (NVIDIA L40S; EC2 has no L40, so L40 queries get no
// offers), with GPU model and count read from DescribeInstanceTypes
// (gpuInfo) once per type and cached; when that call is refused as invalid
// (an endpoint without it) the built-in g6e table is used instead. The EC2 API carries no on-demand
// prices: they come from the configuration (the price catalog / GpuProvider overrides); a type
// without a configured price is not offered. Billing: per second, 60 s minimum.
//
// create(): RunInstances with ClientToken = client_token(pool uid, intent
// name, instance type) (deterministic, <= 64 ASCII) and a TagSpecification carrying
// kTagManagedBy, kTagPoolUid, kTagPool, kTagInstance and the intent's labels;
// user data is base64-encoded. Because EC2 returns the original instance for
// a repeated ClientToken, RunInstances is sent as idempotent: the HTTP layer
// retries timeouts, and a create whose answer was lost is found again by a
// later create() or get() (DescribeInstances by tags / client token).
//
// get(): DescribeInstances filtered by tag:pool-uid and tag:instance (else,
// while tags are not visible yet, by the client tokens of every type it
// may have been bought as); a live instance wins over terminated ones.
// list(): DescribeInstances filtered by the managed-by tag (and pool uid),
// excluding terminated instances unless asked, following nextToken.
// terminate(): TerminateInstances. Returns success while the instance is
// going away and NotFound once it is already terminated or unknown, so
// "call until NotFound" ends.
//
// Error codes: InsufficientInstanceCapacity and friends -> NoCapacity;
// RequestLimitExceeded / EC2ThrottledException -> RateLimited (retried with
// backoff inside the HTTP layer first); AuthFailure, UnauthorizedOperation,
// SignatureDoesNotMatch, ... -> Unauthorized (never retried);
// InstanceLimitExceeded / VcpuLimitExceeded -> QuotaExceeded;
// InvalidInstanceID.NotFound -> NotFound; InvalidParameter*, other client
// codes -> InvalidRequest; InternalError, 5xx -> Transient. An unreadable
// 2xx answer is Transient (the call may have happened); an unreadable error
// body falls back to the HTTP status.
//
// Endpoint mode: the container's start script (providers/container/) is the
// UserData; the tag gpupool.io/container-port carries the container port, so
// get()/list() set Machine::public_port to it once the machine has a public
// address.
//
// Thread-safe: all state is in the HttpClient (thread-safe) and immutable
// configuration.

#include <map>
#include <memory>
#include <set>
#include <string>
#include <vector>

#include "operator/base/thread_annotations.h"
#include "operator/clock/clock.h"
#include "providers/aws/sigv4.h"
#include "providers/aws/xml.h"
#include "providers/http/client.h"
#include "providers/provider.h"

namespace gpupool::factory {
struct AdapterType;
}  // namespace gpupool::factory

namespace gpupool::aws {

// This adapter's line in the adapter table (providers/factory), type "aws":
// credentials accessKeyId, secretAccessKey, sessionToken (optional); settings spec.aws.
factory::AdapterType adapter_type();

inline constexpr std::string_view kEc2ApiVersion = "2016-11-15";

struct Ec2Config {
  std::string provider_name;  // GpuProvider object name
  std::string region = "us-east-1";
  std::string endpoint;  // override; empty: https://ec2.<region>.amazonaws.com
  Credentials credentials;
  std::string image_id;  // AMI for the machines (required for create)
  std::string subnet_id;
  std::vector<std::string> security_group_ids;
  std::string key_name;
  // Instance types to offer and their on-demand prices (whole machine, per
  // hour). Defaults to the g6e family with no prices: set them.
  std::map<std::string, Money> prices;
  BillingRule billing{Duration(60), Duration(1), BillingAlignment::Launch, MinimumKind::Charge,
                      Money::from_micros(90'000)};
  int describe_page_size = 500;  // DescribeInstances MaxResults (5..1000); pages follow nextToken
  net::ClientOptions http;       // retries, rate limit, logging; base_url is set from endpoint
};

// GPUs per g6e size (NVIDIA L40S); 0 for types this adapter does not know.
int g6e_gpu_count(std::string_view instance_type);

// Deterministic ClientToken for an intent: "gpupool-" + 40 hex chars of
// SHA-256(pool_uid + "/" + name + "/" + instance_type). Always 48 ASCII
// characters. The instance type is part of it because an intent whose create
// was refused NoCapacity may move to another offer (another type) before any
// machine exists (docs/operations.md): its retry there is a new request, not
// a repeat that EC2 would refuse as IdempotentParameterMismatch. A repeat on
// the same type is still the same request.
std::string client_token(std::string_view pool_uid, std::string_view name,
                         std::string_view instance_type);

class Ec2Provider final : public Provider {
 public:
  // transport, clock and sleeper must outlive the provider.
  Ec2Provider(Ec2Config config, net::HttpTransport& transport, const Clock& clock,
              net::Sleeper& sleeper);

  const std::string& name() const override { return config_.provider_name; }
  std::string_view type() const override { return "aws"; }
  // User data: RunInstances UserData (base64); cloud-init on the AMI runs it at first boot.
  UserDataSupport user_data_support() const override { return user_data_support_of_type(type()); }
  ProviderResult<std::vector<Offer>> offers(const OfferQuery& query) override;
  ProviderResult<Machine> create(const InstanceIntent& intent) override;
  ProviderResult<Machine> get(std::string_view pool_uid, std::string_view name) override;
  ProviderResult<std::vector<Machine>> list(const MachineFilter& filter) override;
  ProviderStatus terminate(std::string_view provider_id) override;

  int64_t requests_sent() const { return client_.requests_sent(); }

 private:
  // Signs and sends one Query API call; returns the parsed success body or
  // the mapped error.
  ProviderResult<XmlNode> call(const std::string& action, net::Params params);
  ProviderResult<std::vector<Machine>> describe(const net::Params& filters);

  struct GpuFacts {
    std::string model;
    int count = 0;
  };
  // GPU model/count per instance type (DescribeInstanceTypes, cached).
  ProviderResult<std::map<std::string, GpuFacts>> gpu_facts(const std::set<std::string>& types);

  Ec2Config config_;
  const Clock& clock_;
  Mutex facts_mu_;
  std::map<std::string, GpuFacts> facts_ GUARDED_BY(facts_mu_);
  net::Url endpoint_;
  net::HttpClient client_;
};

// Maps one EC2 error code (and HTTP status) to a ProviderError.
ProviderError map_ec2_error(int status, const std::string& code, const std::string& message,
                            net::Millis retry_after);

// Parses an instancesSet <item> into a Machine.
Machine parse_instance(const XmlNode& item);

}  // namespace gpupool::aws
