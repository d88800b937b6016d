#pragma once
// Runs a kubeconfig exec credential plugin and parses its ExecCredential
// (client.authentication.k8s.io/v1 or v1beta1). Internal to the client.
//
// The command runs with the operator's environment plus ExecConfig::env and
// KUBERNETES_EXEC_INFO (spec.interactive=false; spec.cluster when
// provide_cluster_info). Standard input is /dev/null. It must exit 0 within
// `timeout` and print a status with a token or a client certificate and key.
// Error messages never include the plugin's stdout (it carries secrets).

#include <chrono>
#include <optional>
#include <string>

#include "operator/base/result.h"
#include "operator/clock/clock.h"
#include "operator/kube/client/config.h"

namespace gpupool::kube {

struct ExecOutput {
  std::string token;
  std::string client_cert_pem;
  std::string client_key_pem;
  std::optional<Time> expiration;  // nullopt: valid until invalidated
};

Result<ExecOutput, ConfigError> run_exec_plugin(
    const ExecConfig& exec, const std::string& cluster_info_json,
    std::chrono::milliseconds timeout = std::chrono::milliseconds(60'000));

// Parses ExecCredential JSON text (exposed for tests).
Result<ExecOutput, ConfigError> parse_exec_credential(const std::string& text,
                                                      const std::string& api_version);

}  // namespace gpupool::kube
