#include "operator/controllers/provider_reconciler.h"

#include <algorithm>
#include <chrono>

#include "operator/controllers/provider_slots.h"
#include "operator/core/api_codec.h"
#include "operator/core/pool_decision.h"
#include "providers/http/url.h"

namespace gpupool::controllers {

using kube::Json;
using kube::ReconcileResult;

ProviderReconciler::SecretData ProviderReconciler::read_secret(const std::string& namespace_,
                                                               const std::string& name) {
  SecretData out;
  const std::string ns = namespace_.empty() ? "default" : namespace_;
  out.where = ns + "/" + name;
  auto secret = ctx_.api.get(kube::resources::kSecrets, ns, name);
  if (!secret.ok()) {
    out.problem = "Secret " + out.where + ": " + std::string(kube::to_string(secret.error().kind));
    return out;
  }
  const Json& meta = (*secret)["metadata"];
  if (meta.is_object() && meta.contains("resourceVersion") && meta["resourceVersion"].is_string()) {
    out.resource_version = meta["resourceVersion"].get<std::string>();
  }
  if (secret->contains("data") && (*secret)["data"].is_object()) {
    for (const auto& [k, v] : (*secret)["data"].items()) {
      if (!v.is_string()) continue;
      auto decoded = net::base64_decode(v.get<std::string>());
      if (!decoded) {
        out.problem = "Secret " + out.where + ": key \"" + k + "\" is not valid base64";
        out.data.clear();
        return out;
      }
      out.data[k] = std::move(*decoded);
    }
  }
  return out;
}

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
    SecretData secret = read_secret(ref.namespace_, ref.name);
    if (!secret.problem.empty()) {
      problem = "credentials " + secret.problem;
      reason = kReasonCredentialsMissing;
    }
    credentials = std::move(secret.data);
    secret_version = secret.resource_version;
  }
  // The SSH public key from its Secret, handed to the registry as the value.
  api::GpuProvider effective = *prov;
  if (problem.empty() && prov->spec.ssh_public_key && prov->spec.ssh_public_key->secret_key_ref) {
    const api::SecretKeyRef key_ref = *prov->spec.ssh_public_key->secret_key_ref;
    SecretData secret = read_secret(key_ref.namespace_, key_ref.name);
    auto it = secret.data.find(key_ref.key);
    if (!secret.problem.empty()) {
      problem = "sshPublicKey: " + secret.problem;
    } else if (it == secret.data.end() || it->second.empty()) {
      problem = "sshPublicKey: Secret " + secret.where + " has no key \"" + key_ref.key + "\"";
    } else {
      std::string key = it->second;
      while (!key.empty() && (key.back() == '\n' || key.back() == '\r' || key.back() == ' '))
        key.pop_back();
      effective.spec.ssh_public_key = api::SshPublicKeySpec{std::move(key), std::nullopt};
    }
    if (!problem.empty()) reason = kReasonInvalidConfig;
    secret_version += "/ssh:" + secret.resource_version;
  }
  if (problem.empty()) {
    problem = ctx_.registry.sync(effective, credentials, secret_version);
    if (!problem.empty()) {
      auto e = ctx_.registry.entry(req.name);
      reason = e && !e->reason.empty() ? e->reason : kReasonInvalidConfig;
    }
    for (const auto& key : ctx_.registry.take_deprecation_notice(req.name)) {
      record_event(ctx_, *cached, "Warning", kReasonDeprecatedAnnotation,
                   "annotation " + key + " is deprecated and will be removed in the next " +
                       "release; set " + replacement_field(key) + " instead");
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
  // A provider at its limit of calls in flight (provider_slots.h) is asked
  // on a later pass; the status below still says how its adapter is.
  ProviderSlots::Slot slot = ctx_.provider_slots->try_acquire(req.name);
  const bool busy = !slot;
  if (busy) {
    requeue = kProviderBusyRequeue;
  } else if (entry && entry->prices) {
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
  slot.release();
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
  // Pools re-plan on what was just asked (not on every busy pass).
  if (ctx_.enqueue_pool && !busy) ctx_.enqueue_pool("");
  return requeue ? ReconcileResult::after(*requeue) : ReconcileResult::done();
}

}  // namespace gpupool::controllers
