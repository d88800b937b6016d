// MemoryStore: the pods/<name>/eviction subresource, as the real API server
// serves it (kubernetes pkg/registry/core/pod/storage/eviction.go, v1.32):
//  * a pod that cannot be disrupted further (Succeeded, Failed, Pending, or
//    already being deleted) is deleted without looking at budgets;
//  * otherwise the policy/v1 PodDisruptionBudgets of the pod's namespace
//    whose spec.selector matches the pod's labels are found (a pod without
//    labels has none; an empty selector matches every pod, a missing one
//    none); more than one is a 500; none: the pod is deleted;
//  * a pod that is not Ready is deleted without spending the budget when
//    spec.unhealthyPodEvictionPolicy is AlwaysAllow, or (IfHealthyBudget,
//    the default) when status.currentHealthy >= status.desiredHealthy > 0;
//  * else the budget is checked from its status, which the disruption
//    controller maintains (tests set it with kubectl patch
//    --subresource=status): status.observedGeneration behind
//    metadata.generation is a 429 ("... is still being processed by the
//    server."), a negative disruptionsAllowed a 403, zero a 429
//    TooManyRequests "Cannot evict pod as it would violate the pod's
//    disruption budget." with a DisruptionBudget cause "The disruption
//    budget <name> needs <desiredHealthy> healthy pods and has
//    <currentHealthy> currently"; otherwise disruptionsAllowed is
//    decremented, the pod recorded in status.disruptedPods and deleted;
//  * success is a Status {status: Success, code: 201}; dry run changes
//    nothing.
#include <algorithm>

#include "operator/kube/memory/store_impl.h"

namespace gpupool::kube {
namespace {

const Json* member(const Json& j, const char* key) {
  if (!j.is_object()) return nullptr;
  auto it = j.find(key);
  return it == j.end() ? nullptr : &*it;
}

int64_t int_at(const Json& obj, const char* section, const char* field) {
  const Json* s = member(obj, section);
  const Json* v = s ? member(*s, field) : nullptr;
  return v && v->is_number_integer() ? v->get<int64_t>() : 0;
}

std::string label_of(const Json& labels, const std::string& key, bool* present) {
  const Json* v = member(labels, key.c_str());
  *present = v && v->is_string();
  return *present ? v->get<std::string>() : "";
}

// A metav1.LabelSelector (matchLabels, matchExpressions) against labels.
bool selector_matches(const Json& selector, const Json& labels) {
  if (!selector.is_object()) return false;  // null selects nothing (policy/v1)
  if (const Json* ml = member(selector, "matchLabels"); ml && ml->is_object()) {
    for (auto it = ml->begin(); it != ml->end(); ++it) {
      bool present = false;
      if (label_of(labels, it.key(), &present) != *it || !present) return false;
    }
  }
  const Json* exprs = member(selector, "matchExpressions");
  if (!exprs || !exprs->is_array()) return true;
  for (const auto& e : *exprs) {
    if (!e.is_object()) return false;
    const std::string key = e.value("key", "");
    const std::string op = e.value("operator", "");
    bool present = false;
    const std::string have = label_of(labels, key, &present);
    const Json* values = member(e, "values");
    const bool listed = present && values && values->is_array() &&
                        std::find(values->begin(), values->end(), Json(have)) != values->end();
    if (op == "In" && !listed) return false;
    if (op == "NotIn" && listed) return false;
    if (op == "Exists" && !present) return false;
    if (op == "DoesNotExist" && present) return false;
    if (op != "In" && op != "NotIn" && op != "Exists" && op != "DoesNotExist") return false;
  }
  return true;
}

bool pod_ready(const Json& pod) {
  const Json* st = member(pod, "status");
  const Json* conds = st ? member(*st, "conditions") : nullptr;
  if (!conds || !conds->is_array()) return false;
  return std::any_of(conds->begin(), conds->end(), [](const Json& c) {
    return c.is_object() && c.value("type", "") == "Ready" && c.value("status", "") == "True";
  });
}

bool can_ignore_budget(const Json& pod) {
  const Json* st = member(pod, "status");
  const std::string phase = st && st->is_object() ? st->value("phase", "") : "";
  const Json* md = member(pod, "metadata");
  const bool deleting =
      md && member(*md, "deletionTimestamp") && !(*md)["deletionTimestamp"].is_null();
  return phase == "Succeeded" || phase == "Failed" || phase == "Pending" || deleting;
}

ApiError budget_blocks(const std::string& cause) {
  ApiError e = make_error(ErrorKind::TooManyRequests,
                          "Cannot evict pod as it would violate the pod's disruption budget.");
  e.causes.push_back({"DisruptionBudget", cause, ""});
  return e;
}

Json success_status() {
  return Json{{"kind", "Status"},
              {"apiVersion", "v1"},
              {"metadata", Json::object()},
              {"status", "Success"},
              {"code", 201}};
}

DeleteOptions delete_options_of(const Json& eviction) {
  DeleteOptions o;
  const Json* d = member(eviction, "deleteOptions");
  if (!d || !d->is_object()) return o;
  if (const Json* g = member(*d, "gracePeriodSeconds"); g && g->is_number_integer()) {
    o.grace_period_seconds = g->get<int64_t>();
  }
  if (const Json* p = member(*d, "preconditions"); p && p->is_object()) {
    if (p->contains("uid") && (*p)["uid"].is_string()) o.precondition_uid = (*p)["uid"];
    if (p->contains("resourceVersion") && (*p)["resourceVersion"].is_string()) {
      o.precondition_resource_version = (*p)["resourceVersion"];
    }
  }
  return o;
}

}  // namespace

ApiResult<Json> MemoryStore::Impl::evict_locked(TypeDef& pods, const std::string& ns,
                                                const Json& eviction, bool dry_run) {
  if (!eviction.is_object()) return fail(make_error(ErrorKind::BadRequest, "not an Eviction"));
  const std::string av = eviction.value("apiVersion", "policy/v1");
  if (eviction.value("kind", "Eviction") != "Eviction" ||
      (av != "policy/v1" && av != "policy/v1beta1")) {
    return fail(
        make_error(ErrorKind::BadRequest, "the body of the request must be a policy/v1 Eviction"));
  }
  const std::string name = meta_string(eviction, "name");
  const std::string key = object_key(pods, ns, name);
  const Resource pod_resource = pods.as_resource("v1");
  if (name.empty() || !pods.objects.count(key)) return fail(make_not_found(pod_resource, name));
  DeleteOptions del = delete_options_of(eviction);
  del.dry_run = dry_run;
  auto delete_pod = [&]() REQUIRES(mu) -> ApiResult<Json> {
    auto r = delete_locked(pods, key, del);
    if (!r.ok()) return fail(r.error());
    return success_status();
  };
  const Json& pod = pods.objects.at(key);
  if (can_ignore_budget(pod)) return delete_pod();

  // The budgets selecting the pod.
  TypeDef& budgets = types.at("policy/poddisruptionbudgets");
  std::vector<std::string> matching;
  const Json* md = member(pod, "metadata");
  const Json* labels = md ? member(*md, "labels") : nullptr;
  if (labels && labels->is_object() && !labels->empty()) {
    for (const auto& [k, b] : budgets.objects) {
      if (meta_string(b, "namespace") != ns) continue;
      const Json* spec = member(b, "spec");
      const Json* sel = spec ? member(*spec, "selector") : nullptr;
      if (sel && selector_matches(*sel, *labels)) matching.push_back(k);
    }
  }
  if (matching.size() > 1) {
    return fail(make_error(ErrorKind::Internal,
                           "This pod has more than one PodDisruptionBudget, which the eviction "
                           "subresource does not support."));
  }
  if (matching.empty()) return delete_pod();
  const Json pdb = budgets.objects.at(matching.front());  // a copy: rewritten below
  const std::string pdb_name = meta_string(pdb, "name");

  if (!pod_ready(pod)) {
    const Json* spec = member(pdb, "spec");
    const std::string policy = spec && spec->is_object()
                                   ? spec->value("unhealthyPodEvictionPolicy", "IfHealthyBudget")
                                   : "IfHealthyBudget";
    const int64_t desired = int_at(pdb, "status", "desiredHealthy");
    if (policy == "AlwaysAllow" ||
        (int_at(pdb, "status", "currentHealthy") >= desired && desired > 0)) {
      return delete_pod();
    }
  }
  if (int_at(pdb, "status", "observedGeneration") < int_at(pdb, "metadata", "generation")) {
    ApiError e = budget_blocks("The disruption budget " + pdb_name +
                               " is still being processed by the server.");
    e.retry_after_seconds = 10;
    return fail(e);
  }
  const int64_t allowed = int_at(pdb, "status", "disruptionsAllowed");
  if (allowed < 0) {
    ApiError e = make_error(ErrorKind::Forbidden, "poddisruptionbudgets.policy \"" + pdb_name +
                                                      "\" is forbidden: pdb disruptions allowed "
                                                      "is negative");
    e.name = pdb_name;
    e.group = "policy";
    e.details_kind = "poddisruptionbudgets";
    return fail(e);
  }
  if (allowed == 0) {
    return fail(budget_blocks(
        "The disruption budget " + pdb_name + " needs " +
        std::to_string(int_at(pdb, "status", "desiredHealthy")) + " healthy pods and has " +
        std::to_string(int_at(pdb, "status", "currentHealthy")) + " currently"));
  }
  if (dry_run) return success_status();
  Json spent = pdb;
  spent["status"]["disruptionsAllowed"] = allowed - 1;
  spent["status"]["disruptedPods"][name] = now_text();
  const VersionDef& pdb_version = budgets.versions.front();
  auto w = finish_update(budgets, pdb_version, matching.front(), pdb, spent, false,
                         FieldValidation::Ignore, {});
  if (!w.ok()) return fail(w.error());
  return delete_pod();
}

}  // namespace gpupool::kube
