#pragma once
// Endpoint mode (issue 13) for the instance reconciler: the container a
// machine is bought with, its environment read from Secrets, and where it
// is reached, as small functions the reconciler calls. The health check
// itself is decided by operator/core/endpoint_health.h and made through
// Context::prober (endpoint_prober.h).
//
//   * endpoint_container(): spec.usage.endpoint as the provider's
//     ContainerSpec. env[].value is taken as written; env[].valueFrom.
//     secretKeyRef {name, key} is read from that Secret of the instance's
//     (= the pool's) namespace. A Secret or key that is missing (or not
//     base64) is a Config error: the create waits, nothing is bought, and
//     the message names the variable, Secret and key, never a value.
//   * record_address(): copies Machine::public_address / public_port into
//     status.address / port / endpoint ("http://address:port", IPv6 in
//     brackets). An empty address or a zero port keeps what was known (a
//     provider answer that briefly lacks them does not unpublish a
//     machine); any other change is copied. Returns whether anything changed.
//
// Thread-safety: as the Context.

#include <string>

#include "operator/base/result.h"
#include "operator/controllers/context.h"
#include "operator/core/api_types.h"
#include "providers/provider.h"

namespace gpupool::controllers {

// Why the container cannot be built. Config: a person must create or fix a
// Secret (reason SecretNotFound / SecretKeyNotFound / SecretValueInvalid);
// retried slowly. Api: reading a Secret failed otherwise; retried as usual.
struct ContainerError {
  enum class Kind { Config, Api } kind = Kind::Config;
  std::string reason;   // CamelCase, for the condition and Event
  std::string message;  // names the variable, Secret and key; never a value
  kube::ApiError api;   // when kind == Api
};

Result<ContainerSpec, ContainerError> endpoint_container(kube::KubeApi& api,
                                                         const std::string& namespace_,
                                                         const api::EndpointUsage& endpoint);

bool record_address(api::GpuInstanceStatus& st, const Machine& m);

}  // namespace gpupool::controllers
