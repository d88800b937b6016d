#pragma once
// How the client reaches an API server: kubeconfig files (client-go
// clientcmd semantics) or the in-cluster service account.
//
// Loading never throws; every problem is a ConfigError with a message naming
// the file, context, cluster or user at fault. Credentials (tokens, client
// keys) are never included in messages or in ClientConfig::to_string().
//
// Supported kubeconfig features: current-context or a named context;
// clusters[].cluster.{server, certificate-authority(-data),
// insecure-skip-tls-verify, tls-server-name}; users[].user.{token, tokenFile,
// client-certificate(-data), client-key(-data), exec}; contexts[].context.
// {cluster, user, namespace}. Relative file paths resolve against the
// directory of the kubeconfig file that named them. Several files (KUBECONFIG
// "a:b") merge like client-go: the first file to define a named cluster, user
// or context (or current-context) wins.

#include <chrono>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "operator/base/result.h"
#include "operator/base/thread_annotations.h"
#include "operator/clock/clock.h"

namespace gpupool::kube {

struct ConfigError {
  enum class Kind {
    NotFound,      // file, context, cluster or user missing
    Invalid,       // malformed YAML, base64, PEM or contradictory settings
    Io,            // a file exists but cannot be read
    Exec,          // exec credential plugin failed or printed garbage
    NotInCluster,  // KUBERNETES_SERVICE_HOST/PORT not set
  };
  Kind kind = Kind::Invalid;
  std::string message;
};

// An exec credential plugin (client.authentication.k8s.io/v1 or v1beta1).
struct ExecConfig {
  std::string command;
  std::vector<std::string> args;
  std::vector<std::pair<std::string, std::string>> env;
  std::string api_version;
  bool provide_cluster_info = false;
  std::string install_hint;
  std::string interactive_mode;  // "Never", "IfAvailable", "Always" (we never are)
};

// What the client needs per request to authenticate.
struct Credentials {
  std::string token;            // bearer token; empty for none
  std::string client_cert_pem;  // PEM, empty for none
  std::string client_key_pem;   // PEM, empty for none
};

// Produces credentials, caching them as client-go does:
//  - a static token, client certificate and key from the kubeconfig;
//  - a token file, re-read when older than `token_file_refresh` (1 minute;
//    kubelet rotates projected service-account tokens);
//  - an exec plugin, re-run when its expirationTimestamp has passed or after
//    invalidate() (the client calls it on HTTP 401).
// Thread-safe.
class CredentialSource {
 public:
  static std::shared_ptr<CredentialSource> fixed(Credentials c);
  static std::shared_ptr<CredentialSource> token_file(std::string path, Credentials base,
                                                      Duration refresh = std::chrono::minutes(1));
  // `cluster_info` is the JSON put into KUBERNETES_EXEC_INFO spec.cluster
  // when provide_cluster_info is set.
  static std::shared_ptr<CredentialSource> exec(ExecConfig exec, Credentials base,
                                                std::string cluster_info_json);

  Result<Credentials, ConfigError> get(const Clock& clock);
  // Forgets cached plugin or file output so the next get() refreshes it.
  void invalidate();
  // True when invalidate() can yield different credentials (file or plugin).
  bool refreshable() const { return mode_ != Mode::Fixed; }
  // "token", "token-file <path>", "exec <command>", "client-certificate" ...
  std::string describe() const;

 private:
  enum class Mode { Fixed, TokenFile, Exec };
  CredentialSource(Mode mode, Credentials base) : mode_(mode), base_(std::move(base)) {}

  Mode mode_;
  Credentials base_;
  std::string token_path_;
  Duration refresh_{60};
  ExecConfig exec_;
  std::string cluster_info_;

  Mutex mu_;
  std::optional<Credentials> cached_ GUARDED_BY(mu_);
  std::optional<Time> expires_ GUARDED_BY(mu_);  // nullopt = never
};

struct ClientConfig {
  std::string server;                             // "https://host:port", no trailing slash
  std::string ca_pem;                             // CA bundle; empty: system trust store
  bool insecure_skip_tls_verify = false;          // only when the kubeconfig says so
  std::string tls_server_name;                    // override for SNI / verification
  std::string namespace_ = "default";             // default namespace of the context
  std::string context;                            // name of the context used, if any
  std::shared_ptr<CredentialSource> credentials;  // null: anonymous

  // Client behaviour (not from the kubeconfig).
  double qps = 5.0;  // client-side rate limit; <= 0 disables it
  int burst = 10;
  std::string user_agent = "gpupool-operator";
  std::chrono::milliseconds request_timeout{30'000};
  std::chrono::milliseconds connect_timeout{10'000};

  // One line for logs, with every credential redacted.
  std::string to_string() const;
};

// Environment lookup, injectable for tests. Returns nullopt when unset.
using EnvLookup = std::function<std::optional<std::string>(const std::string&)>;
EnvLookup process_env();

struct KubeconfigOptions {
  std::vector<std::string> paths;  // first wins per key; at least one
  std::string context;             // empty: current-context
};

// Loads and merges kubeconfig files.
Result<ClientConfig, ConfigError> load_kubeconfig(const KubeconfigOptions& options);

// Paths from $KUBECONFIG (':'-separated, empty entries skipped) or else
// $HOME/.kube/config.
std::vector<std::string> default_kubeconfig_paths(const EnvLookup& env);

struct InClusterOptions {
  std::string service_account_dir = "/var/run/secrets/kubernetes.io/serviceaccount";
  Duration token_refresh = std::chrono::minutes(1);
};

// Reads KUBERNETES_SERVICE_HOST/PORT and the service account files (token,
// ca.crt, namespace; POD_NAMESPACE overrides the namespace file). The token is
// re-read periodically.
Result<ClientConfig, ConfigError> load_in_cluster(const EnvLookup& env,
                                                  const InClusterOptions& options = {});

// The configuration a process should use, in controller-runtime's order:
// an explicit `kubeconfig_path`, then $KUBECONFIG, then in-cluster (when
// KUBERNETES_SERVICE_HOST is set), then $HOME/.kube/config. `context` picks a
// kubeconfig context ("" = current).
Result<ClientConfig, ConfigError> load_default(const EnvLookup& env,
                                               const std::string& kubeconfig_path = "",
                                               const std::string& context = "",
                                               const InClusterOptions& in_cluster = {});

// Strict standard base64 (padding optional, whitespace ignored).
Result<std::string, ConfigError> base64_decode(std::string_view in);
std::string base64_encode(std::string_view in);

}  // namespace gpupool::kube
