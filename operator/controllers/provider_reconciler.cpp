#include "operator/controllers/provider_reconciler.h"

#include <algorithm>
#include <chrono>

#include "operator/core/api_codec.h"
#include "operator/core/pool_decision.h"
#include "providers/http/url.h"

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
  std::string problem, reason = "AdapterReady", secret_version;
  const auto& ref = prov->spec.credentials_secret;
  if (!ref.name.empty()) {
    const std::string ns = ref.namespace_.empty() ? "default" : ref.namespace_;
    auto secret = ctx_.api.get(kube::resources::kSecrets, ns, ref.name);
    if (!secret.ok()) {
      problem = "credentials Secret " + ns + "/" + ref.name + ": " +
                std::string(kube::to_string(secret.error().kind));
      reason = kReasonCredentialsMissing;
    } else {
      const Json& meta = (*secret)["metadata"];
      if (meta.is_object() && meta.contains("resourceVersion") &&
          meta["resourceVersion"].is_string()) {
        secret_version = meta["resourceVersion"].get<std::string>();
      }
      if (secret->contains("data") && (*secret)["data"].is_object()) {
        for (const auto& [k, v] : (*secret)["data"].items()) {
          if (!v.is_string()) continue;
          auto decoded = net::base64_decode(v.get<std::string>());
          if (!decoded) {
            problem = "credentials Secret " + ns + "/" + ref.name + ": key \"" + k +
                      "\" is not valid base64";
            reason = kReasonCredentialsMissing;
            break;
          }
          credentials[k] = std::move(*decoded);
        }
      }
    }
  }
  if (problem.empty()) {
    problem = ctx_.registry.sync(*prov, credentials, secret_version);
    if (!problem.empty()) {
      auto e = ctx_.registry.entry(req.name);
      reason = e && !e->reason.empty() ? e->reason : kReasonInvalidConfig;
    }
  } else {
    ctx_.registry.remove(req.name);
  }
  credentials.clear();

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
  std::optional<std::chrono::milliseconds> requeue;
  auto entry = ctx_.registry.entry(req.name);
  if (entry && entry->prices) {
    // Live prices: the API is asked only when due; the pool reconciler plans
    // on the refresher's snapshot.
    pricing::Snapshot snap = entry->prices->refresh_if_due();
    pricing::apply_to_status(snap, prov->metadata.generation, now, st);
    requeue =
        std::max(std::chrono::milliseconds(1000),
                 std::chrono::duration_cast<std::chrono::milliseconds>(snap.next_refresh - now));
  } else if (entry && entry->provider) {
    auto offers = entry->provider->offers(OfferQuery{});
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
  return requeue ? ReconcileResult::after(*requeue) : ReconcileResult::done();
}

}  // namespace gpupool::controllers
