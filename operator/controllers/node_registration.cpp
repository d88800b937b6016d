#include "operator/controllers/node_registration.h"

#include <charconv>

#include "operator/controllers/pending_pods.h"
#include "operator/core/pool_decision.h"

namespace gpupool::controllers {
namespace {

using kube::Json;

const Json* at(const Json& j, const char* key) {
  return j.is_object() && j.contains(key) ? &j[key] : nullptr;
}

int64_t quantity(const Json& v) {
  if (v.is_number_integer()) return v.get<int64_t>();
  if (!v.is_string()) return 0;
  const std::string s = v.get<std::string>();
  int64_t n = 0;
  auto [p, ec] = std::from_chars(s.data(), s.data() + s.size(), n);
  return ec == std::errc() && p == s.data() + s.size() ? n : 0;
}

bool provider_id_matches(const Json& node, const std::string& id) {
  if (id.empty()) return false;
  const Json* spec = at(node, "spec");
  const Json* pid = spec ? at(*spec, "providerID") : nullptr;
  if (!pid || !pid->is_string()) return false;
  const std::string v = pid->get<std::string>();
  return v == id || (v.size() > id.size() && v.compare(v.size() - id.size(), id.size(), id) == 0 &&
                     v[v.size() - id.size() - 1] == '/');
}

// A taint in the API's form, as a Node's spec.taints entry.
Json taint_json(const Taint& t) {
  Json j = {{"key", t.key}, {"effect", t.effect}};
  if (!t.value.empty()) j["value"] = t.value;
  return j;
}

}  // namespace

std::optional<Json> node_of(const kube::Store& nodes, const api::GpuInstance& inst) {
  for (const auto& n : nodes.by_index(kIndexNodeInstance, inst.metadata.name))
    return *n;
  if (inst.status.provider_id.empty()) return std::nullopt;
  for (const auto& n : nodes.list()) {
    if (provider_id_matches(*n, inst.status.provider_id)) return *n;
  }
  return std::nullopt;
}

NodeState node_state(const Json& node) {
  NodeState s;
  const Json* status = at(node, "status");
  if (status) {
    if (const Json* conds = at(*status, "conditions"); conds && conds->is_array()) {
      for (const auto& c : *conds) {
        if (c.value("type", "") == "Ready") s.ready = c.value("status", "") == "True";
      }
    }
    if (const Json* cap = at(*status, "capacity"); cap && cap->contains(kGpuResource)) {
      s.gpus = quantity((*cap)[kGpuResource]);
    }
  }
  const Json* spec = at(node, "spec");
  s.cordoned = spec && spec->value("unschedulable", false);
  return s;
}

std::optional<Json> node_patch(const Json& node, const api::GpuInstance& inst, bool cordon) {
  Json patch = Json::object();
  std::map<std::string, std::string> want = inst.spec.usage.node.labels;
  want[decision::kLabelPool] = inst.spec.pool;
  want[kLabelInstance] = inst.metadata.name;
  const Json* md = at(node, "metadata");
  const Json* labels = md ? at(*md, "labels") : nullptr;
  for (const auto& [k, v] : want) {
    if (!labels || !labels->contains(k) || (*labels)[k] != v) patch["metadata"]["labels"][k] = v;
  }
  const Json* spec = at(node, "spec");
  Json taints = spec && spec->contains("taints") && (*spec)["taints"].is_array() ? (*spec)["taints"]
                                                                                 : Json::array();
  bool taints_changed = false;
  for (const auto& text : inst.spec.usage.node.taints) {
    auto t = parse_taint(text);
    if (!t) continue;
    bool present = false;
    for (const auto& have : taints) {
      present =
          present || (have.value("key", "") == t->key && have.value("effect", "") == t->effect);
    }
    if (!present) {
      taints.push_back(taint_json(*t));
      taints_changed = true;
    }
  }
  if (taints_changed) patch["spec"]["taints"] = taints;
  const bool cordoned = spec && spec->value("unschedulable", false);
  if (cordoned != cordon) patch["spec"]["unschedulable"] = cordon;
  if (patch.empty()) return std::nullopt;
  return patch;
}

}  // namespace gpupool::controllers
