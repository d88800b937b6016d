#pragma once
// The provider reconciler: keeps the ProviderRegistry in step with the
// GpuProvider objects and reports on each one in its status: condition
// Healthy (True, reason AdapterReady; False, reason NoAdapter or
// InvalidConfig or CredentialsMissing with the problem as message) and
// offersSeen. Credentials are read from the referenced Secret (namespace
// default when unset; its data values are base64-decoded, a value that is not
// base64 is CredentialsMissing naming the key) and passed to the registry
// with the Secret's resourceVersion, never logged or written anywhere.
// For adapters with live prices (ProviderRegistry entry.prices) each
// reconcile calls refresh_if_due() (the API only when due), writes
// lastPriceRefresh, offersSeen and the PricesLive condition
// (pricing::apply_to_status), and requeues at the snapshot's next_refresh
// (at least 1 s later). The status is written only when it changed.
// After every reconcile every pool is asked to reconcile
// (Context::enqueue_pool with an empty key means "all pools").
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
