#include "operator/kube/api/eviction.h"

namespace gpupool::kube {
namespace {

const Json* member(const Json& j, const char* key) {
  if (!j.is_object()) return nullptr;
  auto it = j.find(key);
  return it == j.end() ? nullptr : &*it;
}

bool owned_by_daemon_set(const Json& pod) {
  const Json* md = member(pod, "metadata");
  const Json* refs = md ? member(*md, "ownerReferences") : nullptr;
  if (!refs || !refs->is_array()) return false;
  for (const auto& r : *refs) {
    // kubectl drain looks at the controller reference only.
    if (r.is_object() && r.value("controller", false) && r.value("kind", "") == "DaemonSet") {
      return true;
    }
  }
  return false;
}

bool is_mirror(const Json& pod) {
  const Json* md = member(pod, "metadata");
  const Json* ann = md ? member(*md, "annotations") : nullptr;
  return ann && ann->is_object() && ann->contains(kMirrorPodAnnotation);
}

}  // namespace

ApiResult<Eviction> evict(KubeApi& api, const std::string& ns, const std::string& name,
                          std::optional<int64_t> grace_period_seconds) {
  Json body = {{"apiVersion", "policy/v1"},
               {"kind", "Eviction"},
               {"metadata", {{"name", name}, {"namespace", ns}}}};
  if (grace_period_seconds) body["deleteOptions"]["gracePeriodSeconds"] = *grace_period_seconds;
  CreateOptions opts;
  opts.subresource = "eviction";
  auto r = api.create(resources::kPods, ns, body, opts);
  if (r.ok()) return Eviction{Eviction::Outcome::Evicted, ""};
  const ApiError& e = r.error();
  if (e.kind == ErrorKind::NotFound) return Eviction{Eviction::Outcome::NotFound, e.message};
  if (e.kind == ErrorKind::TooManyRequests) {
    // A budget says no. (A 429 without the cause is the server's own rate
    // limiting and stays an error, retried by the caller's backoff.)
    std::string why;
    bool budget = false;
    for (const auto& c : e.causes) {
      if (c.reason != kDisruptionBudgetCause) continue;
      budget = true;
      if (!c.message.empty()) why += " " + c.message;
    }
    if (budget) return Eviction{Eviction::Outcome::BlockedByBudget, e.message + why};
  }
  return fail(e);
}

DrainAction drain_action(const Json& pod) try {
  if (is_mirror(pod)) return DrainAction::IgnoreMirror;
  if (owned_by_daemon_set(pod)) return DrainAction::IgnoreDaemon;
  const Json* md = member(pod, "metadata");
  if (md && member(*md, "deletionTimestamp") && !(*md)["deletionTimestamp"].is_null()) {
    return DrainAction::Done;
  }
  const Json* st = member(pod, "status");
  const std::string phase = st && st->is_object() ? st->value("phase", "") : "";
  if (phase == "Succeeded" || phase == "Failed") return DrainAction::Done;
  return DrainAction::Evict;
} catch (const Json::exception&) {
  // A field of an unexpected type: not ours to judge; the Eviction API
  // decides (the server validated the pod, so this should not happen).
  return DrainAction::Evict;
}

ApiResult<DrainPods> drain_candidates(KubeApi& api, const std::string& node) {
  DrainPods out;
  ListOptions lo;
  lo.field_selector = "spec.nodeName=" + node;
  lo.limit = 500;
  do {
    auto page = api.list(resources::kPods, "", lo);
    if (!page.ok()) return fail(page.error());
    for (auto& pod : page->items) {
      switch (drain_action(pod)) {
        case DrainAction::Evict:
          out.evict.push_back(std::move(pod));
          break;
        case DrainAction::Done:
          ++out.done;
          break;
        case DrainAction::IgnoreDaemon:
        case DrainAction::IgnoreMirror:
          ++out.ignored;
          break;
      }
    }
    lo.continue_token = page->continue_token;
  } while (!lo.continue_token.empty());
  return out;
}

}  // namespace gpupool::kube
