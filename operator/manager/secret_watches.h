#pragma once
// Watches exactly the Secrets that GpuProviders reference (credentials and
// the SSH public key), so a Secret that is created, fixed or rotated reaches
// its providers at once instead of at the next resync: a provider whose
// credentials were missing holds its pools' purchases until then.
//
// Each referenced Secret gets its own informer limited to its namespace and
// `fieldSelector=metadata.name=<name>`: the operator never caches Secrets it
// has no use for (a cluster's Secrets are many and sensitive), and the watch
// needs only get/list/watch on Secrets. Informers of Secrets no longer
// referenced are stopped.
//
// Thread-safety: every member function may be called from any thread, except
// from inside `on_change` (which runs on a Secret informer's thread and must
// only enqueue).

#include <functional>
#include <map>
#include <memory>
#include <set>
#include <string>
#include <utility>

#include "operator/base/thread_annotations.h"
#include "operator/clock/clock.h"
#include "operator/kube/api/api.h"
#include "operator/kube/runtime/informer.h"
#include "operator/kube/runtime/store.h"

namespace gpupool::manager {

// (namespace, name) of a Secret.
using SecretName = std::pair<std::string, std::string>;

// The Secrets the GpuProviders in `providers` reference; a reference without
// a namespace means "default" (as the provider reconciler reads it).
std::set<SecretName> secrets_referenced(const kube::Store& providers);

// Keys ("/name", cluster-scoped) of the GpuProviders that reference `secret`.
std::set<std::string> providers_referencing(const kube::Store& providers, const SecretName& secret);

class SecretWatches {
 public:
  // Called with the Secret's name on every add, update and delete it sees
  // (including the first list).
  using OnChange = std::function<void(const SecretName&)>;

  SecretWatches(kube::KubeApi& api, const Clock& clock, OnChange on_change);
  ~SecretWatches();  // stops every informer
  SecretWatches(const SecretWatches&) = delete;
  SecretWatches& operator=(const SecretWatches&) = delete;

  // Watches exactly `secrets`: starts informers for new names, stops those
  // of names not in the set. No-op after stop().
  void watch(const std::set<SecretName>& secrets);
  void stop();

  std::set<SecretName> watched() const;

 private:
  kube::KubeApi& api_;
  const Clock& clock_;
  OnChange on_change_;
  mutable Mutex mu_;
  bool stopped_ GUARDED_BY(mu_) = false;
  std::map<SecretName, std::unique_ptr<kube::Informer>> watches_ GUARDED_BY(mu_);
};

}  // namespace gpupool::manager
