#pragma once
// Node bootstrap (issue 13): the pool's bootstrap template (inline
// spec.usage.node.bootstrapScript, or the Secret key bootstrapSecretRef in
// the pool's namespace) rendered per instance (operator/core/
// bootstrap_template.h) with a registration token, and handed to the
// provider as user data.
//
// Registration token: one kubeadm-format bootstrap token per instance, a
// Secret kube-system/bootstrap-token-<id> of type bootstrap.kubernetes.io/
// token (token-id [a-z0-9]{6}, token-secret [a-z0-9]{16}, both from the
// kernel's CSPRNG; expiration = creation + registrationTimeoutSeconds;
// usage-bootstrap-authentication and -signing "true"; auth-extra-groups
// system:bootstrappers:gpupool). It is labelled gpupool.io/instance and
// gpupool.io/pool-uid, so after a restart the same token is found again and
// never a second one made; it is created before the provider is called and
// recorded in the instance's status.bootstrapTokenSecret, and deleted once the
// Node has registered (Ready) or the machine ends (Failed, Terminating,
// Terminated, or the GpuInstance is deleted); a machine parked before it
// registered keeps it until then (it may still register when taken back). The API server's own
// token cleaner deletes it at its expiration if the operator never gets to. Token values never
// reach a log line, an Event or a condition.
//
// Thread-safety: as the Context.

#include <string>
#include <vector>

#include "operator/base/result.h"
#include "operator/controllers/context.h"
#include "operator/core/api_types.h"
#include "operator/core/pool_decision.h"

namespace gpupool::controllers {

inline constexpr const char* kBootstrapTokenNamespace = "kube-system";
inline constexpr const char* kBootstrapTokenType = "bootstrap.kubernetes.io/token";
inline constexpr const char* kBootstrapTokenGroup = "system:bootstrappers:gpupool";

// Why a bootstrap cannot be prepared. Template: the template is missing or
// wrong (Secret or key absent, a render error): a person must fix the pool
// or the Secret; retried slowly. Api: the API call failed; retried as usual.
struct BootstrapError {
  enum class Kind { Template, Api } kind = Kind::Template;
  std::string message;  // for conditions and Events; never a token
  kube::ApiError api;   // when kind == Api
};

// The pool's template text. Template errors: the Secret or its key is
// missing or not base64; Api: reading the Secret failed otherwise.
Result<std::string, BootstrapError> bootstrap_template(kube::KubeApi& api,
                                                       const std::string& namespace_,
                                                       const api::NodeUsage& node);

// For the pool reconciler: whether the pool's template can be read and
// renders (with sample values; line:column of the first error), and which of
// the pool's loaded providers cannot run it (Provider::user_data_support).
// REQUIRES: decision::awaits_node(pool.spec.usage).
decision::BootstrapCheck check_pool_bootstrap(Context& ctx, const api::GpuPool& pool);

// For the instance reconciler, before create(): the instance's token
// (found again or made), and the template rendered with it. Records the
// token's Secret name in `st.bootstrap_token_secret`.
// REQUIRES: decision::awaits_node(inst.spec.usage).
Result<std::string, BootstrapError> prepare_bootstrap(Context& ctx, const api::GpuInstance& inst,
                                                      const std::string& pool_uid,
                                                      api::GpuInstanceStatus& st, Time now);

// Deletes the token named in st.bootstrap_token_secret (and clears it) once
// the instance no longer needs it: Ready, Failed, Terminating or Terminated. Does nothing
// otherwise.
kube::ApiStatus retire_bootstrap_token(Context& ctx, api::GpuInstanceStatus& st);

// Deletes every token made for this instance (found by label), for a
// GpuInstance being deleted: also those a crash kept out of its status.
kube::ApiStatus delete_bootstrap_tokens(Context& ctx, const std::string& instance_name,
                                        const std::string& pool_uid);

}  // namespace gpupool::controllers
