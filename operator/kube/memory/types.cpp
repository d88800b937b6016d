// Built-in types, CRD registration and validation, schema hook, scale.

#include <algorithm>

#include "operator/kube/memory/store_impl.h"

#ifdef GPUPOOL_HAVE_SCHEMA
#include "operator/kube/schema/cel.h"
#include "operator/kube/schema/schema.h"
#endif

namespace gpupool::kube {

namespace {

std::string str_at(const Json& j, std::string_view path) {
  const Json* v = find_path(j, path);
  return (v && v->is_string()) ? v->get<std::string>() : "";
}

std::vector<std::string> strings_at(const Json& j, std::string_view path) {
  std::vector<std::string> out;
  const Json* v = find_path(j, path);
  if (!v || !v->is_array()) return out;
  for (const auto& s : *v) {
    if (s.is_string()) out.push_back(s.get<std::string>());
  }
  return out;
}

std::string lower(std::string s) {
  for (auto& c : s) {
    if (c >= 'A' && c <= 'Z') c = static_cast<char>(c - 'A' + 'a');
  }
  return s;
}

SchemaCheck default_schema_check(const Json& schema, Json& obj, const Json* old) {
  SchemaCheck c;
#ifdef GPUPOOL_HAVE_SCHEMA
  c.unknown_fields = schema::unknown_fields(schema, obj);
  schema::prune(schema, obj);
  apply_schema_defaults(schema, obj);
  for (const auto& sc : schema::validate(schema, obj)) {
    c.causes.push_back({std::string(sc.reason()), sc.message, sc.field});
  }
  for (const auto& sc : schema::validate_rules(schema, obj, old)) {
    c.causes.push_back({std::string(sc.reason()), sc.message, sc.field});
  }
#else
  (void)old;
  apply_schema_defaults(schema, obj);
#endif
  return c;
}

TypeDef builtin(std::string group, std::string version, std::string resource, std::string kind,
                bool namespaced, std::vector<std::string> short_names) {
  TypeDef t;
  t.group = std::move(group);
  t.resource = std::move(resource);
  t.kind = std::move(kind);
  t.list_kind = t.kind + "List";
  t.singular = lower(t.kind);
  t.namespaced = namespaced;
  t.short_names = std::move(short_names);
  t.strategic_merge = true;
  t.unconditional_update = true;
  VersionDef v;
  v.name = std::move(version);
  t.versions.push_back(std::move(v));
  return t;
}

// Sets `value` at a dotted path, creating objects on the way. False when a
// non-object is in the way.
bool set_path(Json& obj, std::string_view path, Json value) {
  if (!path.empty() && path[0] == '.') path.remove_prefix(1);
  Json* cur = &obj;
  while (true) {
    size_t dot = path.find('.');
    std::string key(path.substr(0, dot));
    if (!cur->is_object()) return false;
    if (dot == std::string_view::npos) {
      (*cur)[key] = std::move(value);
      return true;
    }
    Json& next = (*cur)[key];
    if (next.is_null()) next = Json::object();
    cur = &next;
    path = path.substr(dot + 1);
  }
}

}  // namespace

void apply_schema_defaults(const Json& schema, Json& value) {
  if (!schema.is_object()) return;
  if (value.is_object()) {
    auto props = schema.find("properties");
    if (props != schema.end() && props->is_object()) {
      for (auto it = props->begin(); it != props->end(); ++it) {
        if (!it->is_object()) continue;
        auto have = value.find(it.key());
        if (have == value.end()) {
          auto d = it->find("default");
          if (d != it->end()) value[it.key()] = *d;
        } else if (it.key() != "metadata") {
          apply_schema_defaults(*it, *have);
        }
      }
    }
    auto add = schema.find("additionalProperties");
    if (add != schema.end() && add->is_object()) {
      for (auto& [k, v] : value.items())
        apply_schema_defaults(*add, v);
    }
  } else if (value.is_array()) {
    auto items = schema.find("items");
    if (items != schema.end() && items->is_object()) {
      for (auto& e : value)
        apply_schema_defaults(*items, e);
    }
  }
}

void MemoryStore::Impl::add_builtin_types() {
  auto add = [&](TypeDef t) REQUIRES(mu) { types[t.key()] = std::move(t); };
  {
    TypeDef t = builtin("", "v1", "namespaces", "Namespace", false, {"ns"});
    t.status_subresource = true;
    t.extra_fields = {"status.phase"};
    add(std::move(t));
  }
  {
    TypeDef t = builtin("", "v1", "nodes", "Node", false, {"no"});
    t.status_subresource = true;
    t.extra_fields = {"spec.unschedulable"};
    add(std::move(t));
  }
  {
    TypeDef t = builtin("", "v1", "pods", "Pod", true, {"po"});
    t.status_subresource = true;
    t.eviction_subresource = true;
    t.categories = {"all"};
    t.extra_fields = {"spec.nodeName",           "spec.restartPolicy", "spec.schedulerName",
                      "spec.serviceAccountName", "status.phase",       "status.podIP",
                      "status.nominatedNodeName"};
    add(std::move(t));
  }
  {
    TypeDef t = builtin("", "v1", "services", "Service", true, {"svc"});
    t.status_subresource = true;
    t.categories = {"all"};
    add(std::move(t));
  }
  {
    TypeDef t = builtin("", "v1", "secrets", "Secret", true, {});
    t.extra_fields = {"type"};
    add(std::move(t));
  }
  add(builtin("", "v1", "configmaps", "ConfigMap", true, {"cm"}));
  {
    TypeDef t = builtin("", "v1", "events", "Event", true, {"ev"});
    t.create_on_update = true;
    t.extra_fields = {"involvedObject.kind",
                      "involvedObject.namespace",
                      "involvedObject.name",
                      "involvedObject.uid",
                      "involvedObject.apiVersion",
                      "involvedObject.resourceVersion",
                      "involvedObject.fieldPath",
                      "reason",
                      "reportingComponent",
                      "source",
                      "type"};
    add(std::move(t));
  }
  {
    TypeDef t = builtin("events.k8s.io", "v1", "events", "Event", true, {"ev"});
    t.create_on_update = true;
    t.extra_fields = {"regarding.kind",       "regarding.namespace",
                      "regarding.name",       "regarding.uid",
                      "regarding.apiVersion", "reason",
                      "reportingController",  "type"};
    add(std::move(t));
  }
  add(builtin("discovery.k8s.io", "v1", "endpointslices", "EndpointSlice", true, {}));
  {
    // Stored only (no controller): `kubectl drain` reads a DaemonSet pod's
    // owner to decide that --ignore-daemonsets applies.
    TypeDef t = builtin("apps", "v1", "daemonsets", "DaemonSet", true, {"ds"});
    t.status_subresource = true;
    t.generation = true;
    add(std::move(t));
  }
  {
    // Status (disruptionsAllowed, currentHealthy, desiredHealthy,
    // observedGeneration) is written by the disruption controller; here by
    // whoever patches /status. The eviction subresource reads it.
    TypeDef t =
        builtin("policy", "v1", "poddisruptionbudgets", "PodDisruptionBudget", true, {"pdb"});
    t.status_subresource = true;
    t.generation = true;
    add(std::move(t));
  }
  {
    TypeDef t = builtin("coordination.k8s.io", "v1", "leases", "Lease", true, {});
    t.create_on_update = true;
    t.unconditional_update = false;
    add(std::move(t));
  }
  {
    TypeDef t = builtin("apiextensions.k8s.io", "v1", "customresourcedefinitions",
                        "CustomResourceDefinition", false, {"crd", "crds"});
    t.status_subresource = true;
    t.generation = true;
    t.unconditional_update = false;
    t.categories = {"api-extensions"};
    add(std::move(t));
  }
}

ApiStatus MemoryStore::Impl::validate_object(const TypeDef& t, const VersionDef& v, Json& obj,
                                             const Json* old, FieldValidation fv,
                                             const WarningHandler& warn) const {
  std::string name = meta_string(obj, "name");
  // Metadata shape.
  std::vector<StatusCause> causes;
  const Json& meta = obj["metadata"];
  for (const char* map_field : {"labels", "annotations"}) {
    auto it = meta.find(map_field);
    if (it == meta.end() || it->is_null()) continue;
    bool ok = it->is_object();
    if (ok) {
      for (const auto& [k, val] : it->items()) {
        if (!val.is_string() || k.empty()) ok = false;
      }
    }
    if (!ok) {
      causes.push_back({"FieldValueInvalid", "Invalid value: must be a map of strings",
                        std::string("metadata.") + map_field});
    }
  }
  if (auto it = meta.find("finalizers"); it != meta.end() && !it->is_null()) {
    bool ok = it->is_array() &&
              std::all_of(it->begin(), it->end(), [](const Json& s) { return s.is_string(); });
    if (!ok) {
      causes.push_back(
          {"FieldValueInvalid", "Invalid value: must be a list of strings", "metadata.finalizers"});
    }
  }
  if (auto it = meta.find("ownerReferences"); it != meta.end() && !it->is_null()) {
    bool ok = it->is_array();
    if (ok) {
      for (const auto& r : *it) {
        if (!r.is_object() || !r.contains("uid") || !r["uid"].is_string() || !r.contains("name") ||
            !r["name"].is_string() || !r.contains("kind") || !r.contains("apiVersion")) {
          ok = false;
        }
      }
    }
    if (!ok) {
      causes.push_back({"FieldValueInvalid",
                        "Invalid value: each owner reference needs apiVersion, kind, name and uid",
                        "metadata.ownerReferences"});
    }
  }
  if (!causes.empty()) return fail(make_invalid(t.qualified_kind(), name, std::move(causes)));

  if (t.custom && v.schema) {
    SchemaCheck c = opts.schema_validator ? opts.schema_validator(*v.schema, obj, old)
                                          : default_schema_check(*v.schema, obj, old);
    if (!c.unknown_fields.empty()) {
      if (fv == FieldValidation::Strict) {
        std::string msg = t.kind + " in version \"" + v.name + "\" cannot be handled as a " +
                          t.kind + ": strict decoding error: ";
        for (size_t i = 0; i < c.unknown_fields.size(); ++i) {
          msg += (i ? ", unknown field \"" : "unknown field \"") + c.unknown_fields[i] + "\"";
        }
        return fail(make_error(ErrorKind::BadRequest, msg));
      }
      if (fv == FieldValidation::Warn && warn) {
        for (const auto& f : c.unknown_fields)
          warn("unknown field \"" + f + "\"");
      }
    }
    if (!c.causes.empty()) return fail(make_invalid(t.qualified_kind(), name, c.causes));
  }
  if (t.group == "apiextensions.k8s.io" && t.resource == "customresourcedefinitions") {
    auto crd_causes = validate_crd(obj);
    if (!crd_causes.empty()) {
      return fail(make_invalid(t.qualified_kind(), name, std::move(crd_causes)));
    }
  }
  return ApiStatus::success();
}

std::vector<StatusCause> MemoryStore::Impl::validate_crd(const Json& crd) const {
  std::vector<StatusCause> c;
  auto invalid = [&](std::string field, const std::string& msg) {
    c.push_back({"FieldValueInvalid", "Invalid value: " + msg, std::move(field)});
  };
  auto required = [&](std::string field, const std::string& detail = "") {
    c.push_back({"FieldValueRequired",
                 detail.empty() ? "Required value" : "Required value: " + detail,
                 std::move(field)});
  };
  const Json* spec = find_path(crd, "spec");
  if (!spec || !spec->is_object()) {
    required("spec");
    return c;
  }
  std::string group = str_at(crd, "spec.group");
  std::string plural = str_at(crd, "spec.names.plural");
  std::string kind = str_at(crd, "spec.names.kind");
  std::string name = meta_string(crd, "name");
  if (group.empty()) {
    required("spec.group");
  } else if (group.find('.') == std::string::npos) {
    invalid("spec.group", "\"" + group + "\": should be a domain with at least one dot");
  }
  if (plural.empty()) required("spec.names.plural");
  if (kind.empty()) required("spec.names.kind");
  if (!plural.empty() && !group.empty() && name != plural + "." + group) {
    invalid("metadata.name", "\"" + name + "\": must be spec.names.plural+\".\"+spec.group");
  }
  std::string list_kind = str_at(crd, "spec.names.listKind");
  if (!list_kind.empty() && list_kind == kind) {
    invalid("spec.names.listKind", "\"" + list_kind + "\": kind and listKind may not be the same");
  }
  std::string scope = str_at(crd, "spec.scope");
  if (scope != "Namespaced" && scope != "Cluster") {
    c.push_back(
        {"FieldValueNotSupported",
         "Unsupported value: \"" + scope + "\": supported values: \"Cluster\", \"Namespaced\"",
         "spec.scope"});
  }
  const Json* versions = find_path(crd, "spec.versions");
  if (!versions || !versions->is_array() || versions->empty()) {
    required("spec.versions", "must have exactly one version marked as storage version");
    return c;
  }
  int storage = 0;
  for (size_t i = 0; i < versions->size(); ++i) {
    const Json& v = (*versions)[i];
    std::string p = "spec.versions[" + std::to_string(i) + "]";
    if (!v.is_object()) {
      invalid(p, "must be an object");
      continue;
    }
    if (str_at(v, "name").empty()) required(p + ".name");
    const Json* st = find_path(v, "storage");
    if (st && st->is_boolean() && st->get<bool>()) ++storage;
    const Json* schema = find_path(v, "schema.openAPIV3Schema");
    if (!schema || !schema->is_object()) {
      required(p + ".schema.openAPIV3Schema", "schemas are required");
    } else if (str_at(*schema, "type") != "object") {
      c.push_back({"FieldValueInvalid",
                   "Invalid value: \"" + str_at(*schema, "type") + "\": must be object at the root",
                   p + ".schema.openAPIV3Schema.type"});
    } else {
#ifdef GPUPOOL_HAVE_SCHEMA
      for (const auto& e : schema::rule_compile_errors(*schema)) {
        c.push_back({"FieldValueInvalid", "Invalid value: " + e, p + ".schema.openAPIV3Schema"});
      }
#endif
    }
    const Json* cols = find_path(v, "additionalPrinterColumns");
    if (cols && cols->is_array()) {
      for (size_t j = 0; j < cols->size(); ++j) {
        const Json& col = (*cols)[j];
        std::string cp = p + ".additionalPrinterColumns[" + std::to_string(j) + "]";
        std::string type = str_at(col, "type");
        static const std::vector<std::string> column_types = {"boolean", "date", "integer",
                                                              "number", "string"};
        if (std::find(column_types.begin(), column_types.end(), type) == column_types.end()) {
          c.push_back({"FieldValueNotSupported",
                       "Unsupported value: \"" + type +
                           "\": supported values: \"boolean\", \"date\", \"integer\", "
                           "\"number\", \"string\"",
                       cp + ".type"});
        }
        if (str_at(col, "name").empty()) required(cp + ".name");
        if (str_at(col, "jsonPath").empty()) required(cp + ".jsonPath");
      }
    }
  }
  if (storage != 1) {
    invalid("spec.versions", "must have exactly one version marked as storage version");
  }
  return c;
}

void MemoryStore::Impl::set_crd_status(Json& crd) const {
  Json names = crd["spec"]["names"];
  if (!names.is_object()) names = Json::object();
  std::string kind = str_at(names, "kind");
  if (!names.contains("singular")) names["singular"] = lower(kind);
  if (!names.contains("listKind")) names["listKind"] = kind + "List";
  std::string now = now_text();
  Json old_conditions = Json::array();
  if (const Json* oc = find_path(crd, "status.conditions"); oc && oc->is_array()) {
    old_conditions = *oc;
  }
  auto cond = [&](const std::string& type, const std::string& reason, const std::string& msg) {
    std::string since = now;
    for (const auto& o : old_conditions) {
      if (o.is_object() && str_at(o, "type") == type && str_at(o, "status") == "True") {
        since = str_at(o, "lastTransitionTime");
      }
    }
    return Json{{"type", type},
                {"status", "True"},
                {"reason", reason},
                {"message", msg},
                {"lastTransitionTime", since}};
  };
  Json stored = Json::array();
  for (const auto& v : crd["spec"]["versions"]) {
    if (const Json* st = find_path(v, "storage"); st && st->is_boolean() && st->get<bool>()) {
      stored.push_back(str_at(v, "name"));
    }
  }
  crd["status"] = {
      {"acceptedNames", names},
      {"storedVersions", stored},
      {"conditions",
       {cond("NamesAccepted", "NoConflicts", "no conflicts found"),
        cond("Established", "InitialNamesAccepted", "the initial names have been accepted")}}};
}

void MemoryStore::Impl::register_crd(const Json& crd) {
  TypeDef t;
  t.group = str_at(crd, "spec.group");
  t.resource = str_at(crd, "spec.names.plural");
  t.kind = str_at(crd, "spec.names.kind");
  t.list_kind = str_at(crd, "spec.names.listKind");
  if (t.list_kind.empty()) t.list_kind = t.kind + "List";
  t.singular = str_at(crd, "spec.names.singular");
  if (t.singular.empty()) t.singular = lower(t.kind);
  t.short_names = strings_at(crd, "spec.names.shortNames");
  t.categories = strings_at(crd, "spec.names.categories");
  t.namespaced = str_at(crd, "spec.scope") != "Cluster";
  t.custom = true;
  t.generation = true;
  for (const auto& vj : crd["spec"]["versions"]) {
    VersionDef v;
    v.name = str_at(vj, "name");
    const Json* served = find_path(vj, "served");
    v.served = !served || !served->is_boolean() || served->get<bool>();
    const Json* storage = find_path(vj, "storage");
    v.storage = storage && storage->is_boolean() && storage->get<bool>();
    if (const Json* s = find_path(vj, "schema.openAPIV3Schema")) {
      v.schema = std::make_shared<const Json>(*s);
    }
    v.status = find_path(vj, "subresources.status") != nullptr;
    if (const Json* sc = find_path(vj, "subresources.scale"); sc && sc->is_object()) {
      v.scale = ScaleSpec{str_at(*sc, "specReplicasPath"), str_at(*sc, "statusReplicasPath"),
                          str_at(*sc, "labelSelectorPath")};
    }
    if (const Json* cols = find_path(vj, "additionalPrinterColumns"); cols && cols->is_array()) {
      for (const auto& cj : *cols) {
        PrinterColumn pc;
        pc.name = str_at(cj, "name");
        pc.type = str_at(cj, "type");
        pc.format = str_at(cj, "format");
        pc.description = str_at(cj, "description");
        pc.json_path = str_at(cj, "jsonPath");
        const Json* pr = find_path(cj, "priority");
        pc.priority = (pr && pr->is_number_integer()) ? pr->get<int>() : 0;
        v.columns.push_back(std::move(pc));
      }
    }
    if (const Json* sf = find_path(vj, "selectableFields"); sf && sf->is_array()) {
      for (const auto& f : *sf)
        v.selectable_fields.push_back(str_at(f, "jsonPath"));
    }
    t.versions.push_back(std::move(v));
  }
  auto it = types.find(t.key());
  if (it != types.end()) t.objects = std::move(it->second.objects);
  types[t.key()] = std::move(t);
}

void MemoryStore::Impl::unregister_crd(const Json& crd) {
  std::string key = str_at(crd, "spec.group") + "/" + str_at(crd, "spec.names.plural");
  auto it = types.find(key);
  if (it == types.end() || !it->second.custom) return;
  std::vector<std::string> keys;
  for (const auto& [k, o] : it->second.objects)
    keys.push_back(k);
  for (const auto& k : keys) {
    auto again = types.find(key);
    if (again == types.end() || !again->second.objects.count(k)) continue;
    remove_locked(again->second, k);
  }
  types.erase(key);
}

ApiResult<Json> MemoryStore::Impl::scale_of(const TypeDef& t, const VersionDef& v,
                                            const Json& obj) const {
  if (!t.custom || !v.scale) {
    return fail(
        make_error(ErrorKind::NotFound, "the server could not find the requested resource"));
  }
  const Json* spec = find_path(obj, v.scale->spec_replicas_path);
  if (!spec || !spec->is_number_integer()) {
    return fail(
        make_error(ErrorKind::Internal, "Internal error occurred: the spec replicas field \"" +
                                            v.scale->spec_replicas_path + "\" does not exist"));
  }
  const Json* status = find_path(obj, v.scale->status_replicas_path);
  Json scale = {
      {"kind", "Scale"},
      {"apiVersion", "autoscaling/v1"},
      {"metadata",
       {{"name", meta_string(obj, "name")},
        {"uid", meta_string(obj, "uid")},
        {"resourceVersion", meta_string(obj, "resourceVersion")},
        {"creationTimestamp", meta_string(obj, "creationTimestamp")}}},
      {"spec", {{"replicas", *spec}}},
      {"status", {{"replicas", (status && status->is_number_integer()) ? *status : Json(0)}}}};
  if (t.namespaced) scale["metadata"]["namespace"] = meta_string(obj, "namespace");
  if (!v.scale->label_selector_path.empty()) {
    const Json* sel = find_path(obj, v.scale->label_selector_path);
    if (sel && sel->is_string()) scale["status"]["selector"] = *sel;
  }
  return scale;
}

ApiResult<Json> MemoryStore::Impl::apply_scale(const TypeDef& t, const VersionDef& v,
                                               const Json& old, const Json& scale) const {
  (void)t;
  std::string name = meta_string(old, "name");
  const Json* replicas = find_path(scale, "spec.replicas");
  if (!replicas || !replicas->is_number_integer() || replicas->get<int64_t>() < 0) {
    std::string shown = replicas ? replicas->dump() : "null";
    return fail(make_invalid(
        "Scale.autoscaling", name,
        {{"FieldValueInvalid", "Invalid value: " + shown + ": must be greater than or equal to 0",
          "spec.replicas"}}));
  }
  Json desired = old;
  if (!set_path(desired, v.scale->spec_replicas_path, *replicas)) {
    return fail(make_error(ErrorKind::Internal, "Internal error occurred: cannot set \"" +
                                                    v.scale->spec_replicas_path + "\""));
  }
  return desired;
}

}  // namespace gpupool::kube
