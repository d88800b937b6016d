#pragma once
// The provider reconciler: keeps the ProviderRegistry in step with the
// GpuProvider objects and reports on each one in its status: condition
// Healthy (True, reason AdapterReady; False, reason NoAdapter or
// InvalidConfig or CredentialsMissing with the problem as message) and
// offersSeen. Credentials are read from the referenced Secret (namespace
// default when unset; its data values are base64-decoded, a value that is not
// base64 is CredentialsMissing naming the key) and passed to the registry
// with the Secret's resourceVersion, never logged or written anywhere.
// spec.sshPublicKey.secretKeyRef is read the same way (a missing Secret or
// key is InvalidConfig) and handed to the registry as the key's value; its
// resourceVersion joins the credentials' in the registry's rebuild key.
// Deprecated settings annotations the registry used
// (deprecated_annotations.h) are reported as Warning Events, reason
// DeprecatedAnnotation, once per adapter build.
// For adapters with live prices (ProviderRegistry entry.prices) each
// reconcile calls refresh_if_due() (the API only when due), writes
// lastPriceRefresh, offersSeen and the PricesLive condition
// (pricing::apply_to_status), and requeues at the snapshot's next_refresh
// (at least 1 s later). The status is written only when it changed.
// After every reconcile every pool is asked to reconcile
// (Context::enqueue_pool with an empty key means "all pools").
//
// Thread-safety: reconcile() is safe for distinct keys concurrently.

#include <map>
#include <string>

#include "operator/controllers/context.h"
#include "operator/kube/runtime/controller.h"

namespace gpupool::controllers {

class ProviderReconciler {
 public:
  explicit ProviderReconciler(Context& ctx) : ctx_(ctx) {}
  kube::ReconcileResult reconcile(const kube::ReconcileRequest& req);

 private:
  struct SecretData {
    std::map<std::string, std::string> data;  // base64-decoded values
    std::string resource_version;
    std::string where;    // "namespace/name"
    std::string problem;  // "Secret ns/name: NotFound", never a value
  };
  // Namespace "" means "default".
  SecretData read_secret(const std::string& namespace_, const std::string& name);

  Context& ctx_;
};

}  // namespace gpupool::controllers
