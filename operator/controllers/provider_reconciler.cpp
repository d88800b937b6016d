#include "operator/controllers/provider_reconciler.h"

#include "operator/core/api_codec.h"
#include "operator/core/pool_decision.h"

namespace gpupool::controllers {

using kube::Json;
using kube::ReconcileResult;

kube::ReconcileResult ProviderReconciler::reconcile(const kube::ReconcileRequest& req) {
  kube::ObjectPtr cached = ctx_.providers.get(req.name);
  if (!cached) {
    ctx_.registry.remove(req.name);
    if (ctx_.enqueue_pool) ctx_.enqueue_pool("");
    return ReconcileResult::done();
  }
  auto prov = to_provider(*cached);
  if (!prov) return ReconcileResult::failed("cannot decode GpuProvider " + req.name);
  const Time now = ctx_.clock.now();

  std::map<std::string, std::string> credentials;
  std::string problem, reason = "AdapterReady";
  const auto& ref = prov->spec.credentials_secret;
  if (!ref.name.empty()) {
    auto secret = ctx_.api.get(kube::resources::kSecrets,
                               ref.namespace_.empty() ? "default" : ref.namespace_, ref.name);
    if (!secret.ok()) {
      problem = "credentials Secret " + ref.namespace_ + "/" + ref.name + ": " +
                std::string(kube::to_string(secret.error().kind));
      reason = "CredentialsMissing";
    } else if (secret->contains("data") && (*secret)["data"].is_object()) {
      for (const auto& [k, v] : (*secret)["data"].items()) {
        if (v.is_string()) credentials[k] = v.get<std::string>();
      }
    }
  }
  if (problem.empty()) {
    problem = ctx_.registry.sync(*prov, credentials);
    if (!problem.empty()) reason = prov->spec.type == "fake" ? "InvalidConfig" : "NoAdapter";
  } else {
    ctx_.registry.remove(req.name);
  }

  api::GpuProviderStatus st = prov->status;
  st.observed_generation = prov->metadata.generation;
  st.message = problem;
  api::Condition c;
  c.type = "Healthy";
  c.status = problem.empty() ? api::ConditionStatus::True : api::ConditionStatus::False;
  c.reason = reason;
  c.message = problem.empty() ? "adapter " + prov->spec.type + " ready" : problem;
  c.last_transition_time = now;
  c.observed_generation = prov->metadata.generation;
  decision::set_condition(st.conditions, c);
  if (auto p = ctx_.registry.get(req.name)) {
    auto offers = p->offers(OfferQuery{});
    if (offers.ok()) st.offers_seen = static_cast<int>(offers->size());
  }
  if (!(st == prov->status)) {
    api::GpuProvider with = *prov;
    with.status = st;
    Json j = *cached;
    j["status"] = api::encode(with)["status"];
    kube::UpdateOptions uo;
    uo.subresource = "status";
    auto r = ctx_.api.update(kGpuProviders, j, uo);
    if (!r.ok() && r.error().kind != kube::ErrorKind::NotFound) {
      return ReconcileResult::failed(std::string(kube::to_string(r.error().kind)) + ": " +
                                     r.error().message);
    }
  }
  if (ctx_.enqueue_pool) ctx_.enqueue_pool("");
  return ReconcileResult::done();
}

}  // namespace gpupool::controllers
