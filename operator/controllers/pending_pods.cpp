#include "operator/controllers/pending_pods.h"

#include <algorithm>
#include <charconv>
#include <cmath>
#include <string_view>

namespace gpupool::controllers {
namespace {

using kube::Json;

// Lookups that never throw: nullptr when `j` is not an object or has no `key`.
const Json* field(const Json* j, const char* key) {
  if (j == nullptr || !j->is_object()) return nullptr;
  auto it = j->find(key);
  return it == j->end() ? nullptr : &*it;
}
std::string text(const Json* j) {
  return j != nullptr && j->is_string() ? j->get<std::string>() : "";
}
const Json* path(const Json& j, std::initializer_list<const char*> keys) {
  const Json* at = &j;
  for (const char* k : keys)
    at = field(at, k);
  return at;
}
template <typename F>
void each(const Json* array, F&& f) {
  if (array == nullptr || !array->is_array()) return;
  for (const Json& e : *array)
    f(e);
}

std::string quoted_text(std::string_view s) {
  return "'" + std::string(s) + "'";
}

// Rule 1.
bool waits_for_a_node(const Json& pod) {
  if (field(field(&pod, "metadata"), "deletionTimestamp") != nullptr &&
      !field(field(&pod, "metadata"), "deletionTimestamp")->is_null()) {
    return false;
  }
  if (text(path(pod, {"status", "phase"})) != "Pending") return false;
  if (!text(path(pod, {"spec", "nodeName"})).empty()) return false;
  bool unschedulable = false;
  each(path(pod, {"status", "conditions"}), [&](const Json& c) {
    if (text(field(&c, "type")) == "PodScheduled" && text(field(&c, "status")) == "False" &&
        text(field(&c, "reason")) == "Unschedulable") {
      unschedulable = true;
    }
  });
  return unschedulable;
}

// One container's GPUs: 0 when it asks for none; an error text for garbage.
struct Quantity {
  int64_t gpus = 0;
  std::string error;
};
Quantity container_gpus(const Json& container) {
  const Json* resources = field(&container, "resources");
  const Json* v = field(field(resources, "limits"), kGpuResource);
  if (v == nullptr) v = field(field(resources, "requests"), kGpuResource);
  if (v == nullptr || v->is_null()) return {};
  constexpr int64_t kMax = 1'000'000;
  if (v->is_number_unsigned() || v->is_number_integer()) {
    const int64_t n = v->get<int64_t>();
    if (n >= 0 && n <= kMax) return {n, ""};
  } else if (v->is_number_float()) {
    const double d = v->get<double>();
    if (d >= 0 && d <= static_cast<double>(kMax) && std::floor(d) == d) {
      return {static_cast<int64_t>(d), ""};
    }
  } else if (v->is_string()) {
    const std::string s = v->get<std::string>();
    int64_t n = 0;
    const char* end = s.data() + s.size();
    auto [ptr, ec] = std::from_chars(s.data(), end, n);
    if (!s.empty() && s[0] != '-' && ec == std::errc() && ptr == end && n <= kMax) return {n, ""};
  }
  return {0, std::string(kGpuResource) + " quantity " + quoted_text(v->dump()) +
                 " is not a whole number of GPUs"};
}

// Rule 2: the pod's request as the scheduler computes it.
Quantity pod_gpus(const Json& pod) {
  Quantity out;
  int64_t containers = 0;
  each(path(pod, {"spec", "containers"}), [&](const Json& c) {
    const Quantity q = container_gpus(c);
    if (!q.error.empty() && out.error.empty()) out.error = q.error;
    containers += q.gpus;
  });
  int64_t sidecars = 0;
  int64_t peak = 0;
  each(path(pod, {"spec", "initContainers"}), [&](const Json& c) {
    const Quantity q = container_gpus(c);
    if (!q.error.empty() && out.error.empty()) out.error = q.error;
    if (text(field(&c, "restartPolicy")) == "Always") {
      sidecars += q.gpus;
      peak = std::max(peak, sidecars);
    } else {
      peak = std::max(peak, q.gpus + sidecars);
    }
  });
  out.gpus = std::max(containers + sidecars, peak);
  return out;
}

// Rule 3: the first selector pair the labels do not satisfy, or "".
std::string selector_mismatch(const Json& pod, const std::map<std::string, std::string>& labels) {
  const Json* selector = path(pod, {"spec", "nodeSelector"});
  if (selector == nullptr || !selector->is_object()) return "";
  for (const auto& [key, value] : selector->items()) {
    const std::string want = value.is_string() ? value.get<std::string>() : value.dump();
    auto it = labels.find(key);
    if (it == labels.end() || it->second != want) return key + "=" + want;
  }
  return "";
}

std::optional<int64_t> integer(const std::string& s) {
  int64_t n = 0;
  const char* end = s.data() + s.size();
  auto [ptr, ec] = std::from_chars(s.data(), end, n);
  if (s.empty() || ec != std::errc() || ptr != end) return std::nullopt;
  return n;
}

bool expression_matches(const Json& e, const std::map<std::string, std::string>& labels) {
  const std::string key = text(field(&e, "key"));
  const std::string op = text(field(&e, "operator"));
  std::vector<std::string> values;
  each(field(&e, "values"), [&](const Json& v) { values.push_back(text(&v)); });
  auto it = labels.find(key);
  const bool has = it != labels.end();
  const auto in_values = [&] {
    return has && std::find(values.begin(), values.end(), it->second) != values.end();
  };
  if (op == "In") return in_values();
  if (op == "NotIn") return !in_values();
  if (op == "Exists") return has;
  if (op == "DoesNotExist") return !has;
  if (op == "Gt" || op == "Lt") {
    if (!has || values.size() != 1) return false;
    const auto label = integer(it->second);
    const auto bound = integer(values[0]);
    if (!label || !bound) return false;
    return op == "Gt" ? *label > *bound : *label < *bound;
  }
  return false;
}

// Rule 4.
bool affinity_matches(const Json& pod, const std::map<std::string, std::string>& labels) {
  const Json* required = path(
      pod, {"spec", "affinity", "nodeAffinity", "requiredDuringSchedulingIgnoredDuringExecution"});
  if (required == nullptr || required->is_null()) return true;
  bool any = false;
  each(field(required, "nodeSelectorTerms"), [&](const Json& term) {
    if (any) return;
    const Json* fields = field(&term, "matchFields");
    if (fields != nullptr && fields->is_array() && !fields->empty()) return;
    const Json* exprs = field(&term, "matchExpressions");
    if (exprs == nullptr || !exprs->is_array() || exprs->empty()) return;
    bool all = true;
    for (const Json& e : *exprs)
      all = all && expression_matches(e, labels);
    any = all;
  });
  return any;
}

// Rule 5, Kubernetes' ToleratesTaint.
bool tolerates(const Json& toleration, const Taint& taint) {
  const std::string effect = text(field(&toleration, "effect"));
  if (!effect.empty() && effect != taint.effect) return false;
  const std::string key = text(field(&toleration, "key"));
  if (!key.empty() && key != taint.key) return false;
  const std::string op = text(field(&toleration, "operator"));
  if (op == "Exists") return true;
  if (op.empty() || op == "Equal") return text(field(&toleration, "value")) == taint.value;
  return false;
}

std::string describe(const Taint& t) {
  return t.key + (t.value.empty() ? "" : "=" + t.value) + ":" + t.effect;
}

std::string pod_name(const Json& pod) {
  const std::string ns = text(path(pod, {"metadata", "namespace"}));
  const std::string name = text(path(pod, {"metadata", "name"}));
  return ns.empty() ? name : ns + "/" + name;
}

}  // namespace

std::optional<int64_t> pod_gpu_request(const Json& pod) {
  const Quantity q = pod_gpus(pod);
  if (!q.error.empty()) return std::nullopt;
  return q.gpus;
}

std::optional<Taint> parse_taint(const std::string& t) {
  const size_t colon = t.rfind(':');
  if (colon == std::string::npos || colon == 0) return std::nullopt;
  Taint out;
  out.effect = t.substr(colon + 1);
  if (out.effect != "NoSchedule" && out.effect != "PreferNoSchedule" && out.effect != "NoExecute") {
    return std::nullopt;
  }
  const std::string kv = t.substr(0, colon);
  const size_t eq = kv.find('=');
  out.key = kv.substr(0, eq);
  if (eq != std::string::npos) out.value = kv.substr(eq + 1);
  if (out.key.empty()) return std::nullopt;
  return out;
}

PendingGpuDemand pending_gpu_demand(const std::vector<Json>& pods, const NodeShape& node,
                                    size_t max_reasons) {
  std::vector<Taint> taints;
  for (const std::string& t : node.taints) {
    std::optional<Taint> parsed = parse_taint(t);
    if (!parsed) parsed = Taint{t, "", "NoSchedule"};  // see the header
    if (parsed->effect != "PreferNoSchedule") taints.push_back(*parsed);
  }

  PendingGpuDemand out;
  const auto skip = [&](const Json& pod, const std::string& why) {
    if (out.skipped.size() < max_reasons) out.skipped.push_back(pod_name(pod) + ": " + why);
  };
  for (const Json& pod : pods) {
    if (!pod.is_object() || !waits_for_a_node(pod)) continue;
    const Quantity gpus = pod_gpus(pod);
    if (!gpus.error.empty()) {
      skip(pod, gpus.error);
      continue;
    }
    if (gpus.gpus == 0) continue;
    if (const std::string bad = selector_mismatch(pod, node.labels); !bad.empty()) {
      skip(pod, "nodeSelector " + bad + " does not match the pool's node labels");
      continue;
    }
    if (!affinity_matches(pod, node.labels)) {
      skip(pod, "required node affinity does not match the pool's node labels");
      continue;
    }
    const Json* tolerations = path(pod, {"spec", "tolerations"});
    const auto untolerated = std::find_if(taints.begin(), taints.end(), [&](const Taint& t) {
      bool ok = false;
      each(tolerations, [&](const Json& tol) { ok = ok || tolerates(tol, t); });
      return !ok;
    });
    if (untolerated != taints.end()) {
      skip(pod, "does not tolerate the pool's taint " + describe(*untolerated));
      continue;
    }
    out.gpus += gpus.gpus;
    ++out.pods;
  }
  return out;
}

}  // namespace gpupool::controllers
