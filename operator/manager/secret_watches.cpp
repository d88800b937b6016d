#include "operator/manager/secret_watches.h"

#include <vector>

#include "operator/controllers/context.h"
#include "operator/kube/runtime/controller.h"

namespace gpupool::manager {
namespace {

std::vector<SecretName> references_of(const api::GpuProvider& p) {
  auto ns = [](const std::string& n) { return n.empty() ? std::string("default") : n; };
  std::vector<SecretName> out;
  if (!p.spec.credentials_secret.name.empty()) {
    out.emplace_back(ns(p.spec.credentials_secret.namespace_), p.spec.credentials_secret.name);
  }
  if (p.spec.ssh_public_key && p.spec.ssh_public_key->secret_key_ref) {
    const api::SecretKeyRef& ref = *p.spec.ssh_public_key->secret_key_ref;
    if (!ref.name.empty()) out.emplace_back(ns(ref.namespace_), ref.name);
  }
  return out;
}

}  // namespace

std::set<SecretName> secrets_referenced(const kube::Store& providers) {
  std::set<SecretName> out;
  for (const auto& obj : providers.list()) {
    if (auto p = controllers::to_provider(*obj)) {
      for (auto& ref : references_of(*p))
        out.insert(std::move(ref));
    }
  }
  return out;
}

std::set<std::string> providers_referencing(const kube::Store& providers,
                                            const SecretName& secret) {
  std::set<std::string> out;
  for (const auto& obj : providers.list()) {
    auto p = controllers::to_provider(*obj);
    if (!p) continue;
    for (const auto& ref : references_of(*p)) {
      if (ref == secret) out.insert(kube::make_key("", p->metadata.name));
    }
  }
  return out;
}

SecretWatches::SecretWatches(kube::KubeApi& api, const Clock& clock, OnChange on_change)
    : api_(api), clock_(clock), on_change_(std::move(on_change)) {}

SecretWatches::~SecretWatches() {
  stop();
}

void SecretWatches::watch(const std::set<SecretName>& secrets) {
  std::vector<std::unique_ptr<kube::Informer>> unused;
  {
    MutexLock lock(mu_);
    if (stopped_) return;
    for (auto it = watches_.begin(); it != watches_.end();) {
      if (secrets.count(it->first) != 0) {
        ++it;
        continue;
      }
      unused.push_back(std::move(it->second));
      it = watches_.erase(it);
    }
    for (const SecretName& s : secrets) {
      if (watches_.count(s) != 0) continue;
      kube::Informer::Options o;
      o.namespace_ = s.first;
      o.field_selector = "metadata.name=" + s.second;
      auto inf = std::make_unique<kube::Informer>(api_, kube::resources::kSecrets, clock_, o);
      auto changed = [this, s](const kube::ObjectPtr&) { on_change_(s); };
      inf->add_handlers(
          {changed, [changed](const kube::ObjectPtr&, const kube::ObjectPtr& o) { changed(o); },
           changed});
      inf->start();
      watches_.emplace(s, std::move(inf));
    }
  }
  for (auto& inf : unused)
    inf->stop();  // outside the lock: stop() joins the informer's thread
}

void SecretWatches::stop() {
  std::map<SecretName, std::unique_ptr<kube::Informer>> all;
  {
    MutexLock lock(mu_);
    stopped_ = true;
    all.swap(watches_);
  }
  for (auto& [name, inf] : all)
    inf->stop();
}

std::set<SecretName> SecretWatches::watched() const {
  MutexLock lock(mu_);
  std::set<SecretName> out;
  for (const auto& [name, inf] : watches_)
    out.insert(name);
  return out;
}

}  // namespace gpupool::manager
