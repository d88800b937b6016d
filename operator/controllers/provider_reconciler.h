#pragma once
// The provider reconciler: keeps the ProviderRegistry in step with the
// GpuProvider objects and reports on each one in its status: condition
// Healthy (True, reason AdapterReady; False, reason NoAdapter or
// InvalidConfig or CredentialsMissing with the problem as message) and
// offersSeen. Credentials are read from the referenced Secret (its data
// values, base64 as Kubernetes stores them) and passed to the registry,
// never logged or written anywhere. After a change every pool is asked to
// reconcile (Context::enqueue_pool with an empty key means "all pools").
//
// Thread-safety: reconcile() is safe for distinct keys concurrently.

#include "operator/controllers/context.h"
#include "operator/kube/runtime/controller.h"

namespace gpupool::controllers {

class ProviderReconciler {
 public:
  explicit ProviderReconciler(Context& ctx) : ctx_(ctx) {}
  kube::ReconcileResult reconcile(const kube::ReconcileRequest& req);

 private:
  Context& ctx_;
};

}  // namespace gpupool::controllers
