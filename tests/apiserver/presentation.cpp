#include "tests/apiserver/presentation.h"

#include <cstdio>
#include <functional>
#include <map>
#include <set>

#include "operator/kube/memory/selectors.h"

namespace gpupool::apiserver {

namespace {

Json verbs() {
  return Json::array(
      {"create", "delete", "deletecollection", "get", "list", "patch", "update", "watch"});
}
Json sub_verbs() {
  return Json::array({"get", "patch", "update"});
}

std::string group_version(const std::string& group, const std::string& version) {
  return group.empty() ? version : group + "/" + version;
}

// Served versions of a group, in order of first appearance.
std::vector<std::string> versions_of(const std::vector<TypeInfo>& types, const std::string& group) {
  std::vector<std::string> out;
  for (const auto& t : types) {
    if (t.resource.group != group) continue;
    if (std::find(out.begin(), out.end(), t.resource.version) == out.end()) {
      out.push_back(t.resource.version);
    }
  }
  return out;
}

Json group_json(const std::vector<TypeInfo>& types, const std::string& group) {
  Json versions = Json::array();
  for (const auto& v : versions_of(types, group)) {
    versions.push_back({{"groupVersion", group_version(group, v)}, {"version", v}});
  }
  return Json{{"name", group}, {"versions", versions}, {"preferredVersion", versions.at(0)}};
}

std::string hex_hash(const std::string& s) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%016zx", std::hash<std::string>{}(s));
  return buf;
}

std::string gv_path(const kube::Resource& r) {
  return r.group.empty() ? "api/" + r.version : "apis/" + r.group + "/" + r.version;
}

constexpr const char* kNameDescription =
    "Name must be unique within a namespace. Is required when creating resources, although some "
    "resources may allow a client to request the generation of an appropriate name "
    "automatically. Name is primarily intended for creation idempotence and configuration "
    "definition. Cannot be updated. More info: "
    "https://kubernetes.io/docs/concepts/overview/working-with-objects/names#names";
constexpr const char* kAgeDescription =
    "CreationTimestamp is a timestamp representing the server time when this object was created. "
    "It is not guaranteed to be set in happens-before order across separate operations. Clients "
    "may not set this value. It is represented in RFC3339 form and is in UTC.";

kube::PrinterColumn column(std::string name, std::string type, std::string path, int priority = 0,
                           std::string description = "") {
  kube::PrinterColumn c;
  c.name = std::move(name);
  c.type = std::move(type);
  c.json_path = std::move(path);
  c.priority = priority;
  c.description = std::move(description);
  return c;
}

kube::PrinterColumn age_column() {
  return column("Age", "date", ".metadata.creationTimestamp", 0, kAgeDescription);
}

// Printer columns after Name. Paths starting with '#' are computed cells.
std::vector<kube::PrinterColumn> columns_for(const TypeInfo& t) {
  if (t.custom) {
    if (t.printer_columns.empty()) return {age_column()};
    return t.printer_columns;
  }
  const std::string& r = t.resource.resource;
  const std::string& g = t.resource.group;
  if (g.empty() && r == "namespaces") {
    return {column("Status", "string", ".status.phase", 0, "The status of the namespace"),
            age_column()};
  }
  if (g.empty() && r == "nodes") {
    return {column("Status", "string", "#node-status", 0, "The status of the node"), age_column()};
  }
  if (g.empty() && r == "pods") {
    return {column("Status", "string", ".status.phase", 0, "The aggregate status of the pod"),
            age_column(), column("Node", "string", ".spec.nodeName", 1, "Node the pod runs on")};
  }
  if (r == "events") {
    return {column("Last Seen", "date", g.empty() ? ".lastTimestamp" : ".eventTime"),
            column("Type", "string", ".type"),
            column("Reason", "string", ".reason"),
            column("Object", "string", "#event-object"),
            column("Message", "string", g.empty() ? ".message" : ".note"),
            column("Name", "string", ".metadata.name", 1, kNameDescription)};
  }
  if (g == "discovery.k8s.io" && r == "endpointslices") {
    return {column("AddressType", "string", ".addressType", 0,
                   "Type of address carried by this EndpointSlice"),
            column("Ports", "string", "#slice-ports", 0, "Port numbers exposed by this slice"),
            column("Endpoints", "string", "#slice-endpoints", 0,
                   "Addresses of the endpoints in this slice"),
            age_column()};
  }
  if (g == "coordination.k8s.io" && r == "leases") {
    return {column("Holder", "string", ".spec.holderIdentity"), age_column()};
  }
  if (g == "apiextensions.k8s.io") {
    return {column("Created At", "date", ".metadata.creationTimestamp")};
  }
  return {age_column()};
}

std::string lower(std::string s) {
  for (auto& c : s) {
    if (c >= 'A' && c <= 'Z') c = static_cast<char>(c - 'A' + 'a');
  }
  return s;
}

std::string text_of(const Json& v) {
  return v.is_string() ? v.get<std::string>() : v.dump();
}

Json computed_cell(const std::string& what, const Json& obj) {
  if (what == "#event-object") {
    const Json* o = kube::find_path(obj, "involvedObject");
    if (!o) o = kube::find_path(obj, "regarding");
    if (!o || !o->is_object()) return nullptr;
    return lower(kube::scalar_text(kube::find_path(*o, "kind"))) + "/" +
           kube::scalar_text(kube::find_path(*o, "name"));
  }
  // EndpointSlices as the real server prints them (printers.go: at most
  // three entries, then " + N more...").
  auto at_most_three = [](const std::vector<std::string>& all, const char* none) -> Json {
    if (all.empty()) return none;
    std::string out;
    for (size_t i = 0; i < all.size() && i < 3; ++i)
      out += (i ? "," : "") + all[i];
    if (all.size() > 3) out += " + " + std::to_string(all.size() - 3) + " more...";
    return out;
  };
  if (what == "#slice-ports") {
    std::vector<std::string> ports;
    const Json* ps = kube::find_path(obj, "ports");
    if (ps && ps->is_array()) {
      for (const auto& p : *ps) {
        const Json* n = kube::find_path(p, "port");
        const Json* name = kube::find_path(p, "name");
        ports.push_back(n && n->is_number_integer() ? std::to_string(n->get<int64_t>())
                        : name && name->is_string() ? name->get<std::string>()
                                                    : "*");
      }
    }
    return at_most_three(ports, "<unset>");
  }
  if (what == "#slice-endpoints") {
    std::vector<std::string> addresses;
    const Json* eps = kube::find_path(obj, "endpoints");
    if (eps && eps->is_array()) {
      for (const auto& ep : *eps) {
        const Json* as = kube::find_path(ep, "addresses");
        if (!as || !as->is_array()) continue;
        for (const auto& a : *as)
          if (a.is_string()) addresses.push_back(a.get<std::string>());
      }
    }
    return at_most_three(addresses, "<none>");
  }
  if (what == "#node-status") {
    for (const auto& v : jsonpath(obj, ".status.conditions[?(@.type==\"Ready\")].status")) {
      if (v == "True") return "Ready";
    }
    return "NotReady";
  }
  return nullptr;
}

Json cell(const kube::PrinterColumn& c, const Json& obj, Time now) {
  if (!c.json_path.empty() && c.json_path[0] == '#') return computed_cell(c.json_path, obj);
  std::vector<Json> vals = jsonpath(obj, c.json_path);
  if (vals.empty()) return nullptr;
  if (c.type == "string") {
    std::string out;
    for (size_t i = 0; i < vals.size(); ++i) {
      if (i) out += " ";
      out += text_of(vals[i]);
    }
    return out;
  }
  const Json& v = vals[0];
  if (c.type == "integer") return v.is_number_integer() ? v : Json(nullptr);
  if (c.type == "number") return v.is_number() ? v : Json(nullptr);
  if (c.type == "boolean") return v.is_boolean() ? v : Json(nullptr);
  if (c.type == "date") {
    if (!v.is_string()) return "<unknown>";
    Time t;
    if (!parse_rfc3339(v.get<std::string>(), t)) return "<invalid>";
    return human_duration(now - t);
  }
  return text_of(v);
}

}  // namespace

Json version_info() {
  return Json{{"major", "1"},
              {"minor", "32"},
              {"gitVersion", "v1.32.0-gpupool-test"},
              {"gitCommit", "0000000000000000000000000000000000000000"},
              {"gitTreeState", "clean"},
              {"buildDate", "2025-01-01T00:00:00Z"},
              {"goVersion", "go1.23.4"},
              {"compiler", "gc"},
              {"platform", "linux/amd64"}};
}

Json core_api_versions(const std::string& server_address) {
  return Json{{"kind", "APIVersions"},
              {"versions", {"v1"}},
              {"serverAddressByClientCIDRs",
               {{{"clientCIDR", "0.0.0.0/0"}, {"serverAddress", server_address}}}}};
}

Json api_group_list(const std::vector<TypeInfo>& types) {
  std::vector<std::string> groups;
  for (const auto& t : types) {
    if (t.resource.group.empty()) continue;
    if (std::find(groups.begin(), groups.end(), t.resource.group) == groups.end()) {
      groups.push_back(t.resource.group);
    }
  }
  Json list = Json::array();
  for (const auto& g : groups)
    list.push_back(group_json(types, g));
  return Json{{"kind", "APIGroupList"}, {"apiVersion", "v1"}, {"groups", list}};
}

std::optional<Json> api_group(const std::vector<TypeInfo>& types, const std::string& group) {
  if (group.empty() || versions_of(types, group).empty()) return std::nullopt;
  Json g = group_json(types, group);
  g["kind"] = "APIGroup";
  g["apiVersion"] = "v1";
  return g;
}

std::optional<Json> api_resource_list(const std::vector<TypeInfo>& types, const std::string& group,
                                      const std::string& version) {
  Json resources = Json::array();
  bool any = false;
  for (const auto& t : types) {
    if (t.resource.group != group || t.resource.version != version) continue;
    any = true;
    Json r = {{"name", t.resource.resource},
              {"singularName", t.singular},
              {"namespaced", t.resource.namespaced},
              {"kind", t.resource.kind},
              {"verbs", verbs()}};
    if (!t.short_names.empty()) r["shortNames"] = t.short_names;
    if (!t.categories.empty()) r["categories"] = t.categories;
    resources.push_back(r);
    if (t.status_subresource) {
      resources.push_back({{"name", t.resource.resource + "/status"},
                           {"singularName", ""},
                           {"namespaced", t.resource.namespaced},
                           {"kind", t.resource.kind},
                           {"verbs", sub_verbs()}});
    }
    if (t.eviction_subresource) {
      resources.push_back({{"name", t.resource.resource + "/eviction"},
                           {"singularName", ""},
                           {"namespaced", t.resource.namespaced},
                           {"group", "policy"},
                           {"version", "v1"},
                           {"kind", "Eviction"},
                           {"verbs", Json::array({"create"})}});
    }
    if (t.scale) {
      resources.push_back({{"name", t.resource.resource + "/scale"},
                           {"singularName", ""},
                           {"namespaced", t.resource.namespaced},
                           {"group", "autoscaling"},
                           {"version", "v1"},
                           {"kind", "Scale"},
                           {"verbs", sub_verbs()}});
    }
  }
  if (!any) return std::nullopt;
  return Json{{"kind", "APIResourceList"},
              {"apiVersion", "v1"},
              {"groupVersion", group_version(group, version)},
              {"resources", resources}};
}

std::optional<Json> openapi_document(const std::vector<TypeInfo>& types, const std::string& path) {
  Json paths = Json::object();
  bool any = false;
  for (const auto& t : types) {
    if (gv_path(t.resource) != path) continue;
    any = true;
    std::string base = "/" + path + "/";
    if (t.resource.namespaced) base += "namespaces/{namespace}/";
    base += t.resource.resource + "/{name}";
    Json gvk = {
        {"group", t.resource.group}, {"version", t.resource.version}, {"kind", t.resource.kind}};
    Json params = Json::array();
    for (const char* p : {"fieldValidation", "fieldManager", "dryRun", "force"}) {
      params.push_back({{"name", p}, {"in", "query"}, {"schema", {{"type", "string"}}}});
    }
    Json content = Json::object();
    for (const char* ct : {"application/json-patch+json", "application/merge-patch+json",
                           "application/apply-patch+yaml"}) {
      content[ct] = {{"schema", {{"type", "object"}}}};
    }
    Json post_params = Json::array();
    for (const char* p : {"fieldValidation", "fieldManager", "dryRun"}) {
      post_params.push_back({{"name", p}, {"in", "query"}, {"schema", {{"type", "string"}}}});
    }
    paths[base] = {{"patch",
                    {{"x-kubernetes-group-version-kind", gvk},
                     {"x-kubernetes-action", "patch"},
                     {"parameters", params},
                     {"requestBody", {{"content", content}}},
                     {"responses", {{"200", {{"description", "OK"}}}}}}},
                   {"put",
                    {{"x-kubernetes-group-version-kind", gvk},
                     {"x-kubernetes-action", "put"},
                     {"parameters", post_params},
                     {"responses", {{"200", {{"description", "OK"}}}}}}}};
    std::string coll = base.substr(0, base.size() - std::string("/{name}").size());
    paths[coll] = {{"post",
                    {{"x-kubernetes-group-version-kind", gvk},
                     {"x-kubernetes-action", "post"},
                     {"parameters", post_params},
                     {"responses", {{"201", {{"description", "Created"}}}}}}}};
  }
  if (!any) return std::nullopt;
  return Json{{"openapi", "3.0.0"},
              {"info", {{"title", "Kubernetes"}, {"version", "v1.32.0"}}},
              {"paths", paths},
              {"components", {{"schemas", Json::object()}}}};
}

Json openapi_index(const std::vector<TypeInfo>& types) {
  Json paths = Json::object();
  std::set<std::string> seen;
  for (const auto& t : types) {
    std::string p = gv_path(t.resource);
    if (!seen.insert(p).second) continue;
    auto doc = openapi_document(types, p);
    if (!doc) continue;
    paths[p] = {{"serverRelativeURL", "/openapi/v3/" + p + "?hash=" + hex_hash(doc->dump())}};
  }
  return Json{{"paths", paths}};
}

Json to_table(const TypeInfo& type, const std::vector<Json>& objects, Time now,
              IncludeObject include, bool with_columns) {
  std::vector<kube::PrinterColumn> cols = columns_for(type);
  // Events (like the real server's printer) show Name last, wide only.
  bool leading_name = type.resource.resource != "events";
  Json table = {{"kind", "Table"}, {"apiVersion", "meta.k8s.io/v1"}, {"metadata", Json::object()}};
  if (with_columns) {
    Json defs = Json::array();
    if (leading_name) {
      defs.push_back({{"name", "Name"},
                      {"type", "string"},
                      {"format", "name"},
                      {"description", kNameDescription},
                      {"priority", 0}});
    }
    for (const auto& c : cols) {
      defs.push_back(
          {{"name", c.name},
           {"type", c.type},
           {"format", c.format},
           {"description", c.description.empty() ? "Custom resource definition column (in JSONPath "
                                                   "format): " +
                                                       c.json_path
                                                 : c.description},
           {"priority", c.priority}});
    }
    table["columnDefinitions"] = defs;
  } else {
    table["columnDefinitions"] = Json::array();
  }
  Json rows = Json::array();
  for (const auto& obj : objects) {
    Json cells = Json::array();
    if (leading_name) cells.push_back(kube::scalar_text(kube::find_path(obj, "metadata.name")));
    for (const auto& c : cols)
      cells.push_back(cell(c, obj, now));
    Json row = {{"cells", cells}};
    if (include == IncludeObject::Object) {
      row["object"] = obj;
    } else if (include == IncludeObject::Metadata) {
      const Json* meta = kube::find_path(obj, "metadata");
      row["object"] = {{"kind", "PartialObjectMetadata"},
                       {"apiVersion", "meta.k8s.io/v1"},
                       {"metadata", meta ? *meta : Json::object()}};
    }
    rows.push_back(std::move(row));
  }
  table["rows"] = rows;
  return table;
}

namespace {

struct Filter {
  std::vector<std::string> path;  // @.a.b
  bool has_value = false;
  bool negate = false;
  Json value;
};

struct Step {
  enum Kind { Field, Index, All, FilterStep } kind;
  std::string field;
  long index = 0;
  Filter filter;
};

bool parse_literal(std::string_view s, Json& out) {
  if (s.size() >= 2 && (s.front() == '"' || s.front() == '\'') && s.back() == s.front()) {
    out = std::string(s.substr(1, s.size() - 2));
    return true;
  }
  Json j = Json::parse(s, nullptr, false);
  if (j.is_discarded()) return false;
  out = j;
  return true;
}

bool parse_steps(std::string_view p, std::vector<Step>& steps) {
  if (!p.empty() && p.front() == '{' && p.back() == '}') p = p.substr(1, p.size() - 2);
  size_t i = 0;
  if (!p.empty() && p[0] == '$') i = 1;
  while (i < p.size()) {
    if (p[i] == '.') {
      size_t j = i + 1;
      while (j < p.size() && p[j] != '.' && p[j] != '[')
        ++j;
      if (j == i + 1) return false;
      steps.push_back({Step::Field, std::string(p.substr(i + 1, j - i - 1)), 0, {}});
      i = j;
    } else if (p[i] == '[') {
      size_t close = p.find(']', i);
      if (p.substr(i, 3) == "[?(") close = p.find(")]", i) + 1;
      if (close == std::string_view::npos || close == 0) return false;
      std::string_view inner = p.substr(i + 1, close - i - 1);
      if (inner == "*") {
        steps.push_back({Step::All, "", 0, {}});
      } else if (!inner.empty() && (inner[0] == '\'' || inner[0] == '"')) {
        Json lit;
        if (!parse_literal(inner, lit) || !lit.is_string()) return false;
        steps.push_back({Step::Field, lit.get<std::string>(), 0, {}});
      } else if (inner.size() > 3 && inner.substr(0, 2) == "?(" && inner.back() == ')') {
        std::string_view expr = inner.substr(2, inner.size() - 3);
        Step s{Step::FilterStep, "", 0, {}};
        size_t op = expr.find("==");
        size_t ne = expr.find("!=");
        std::string_view lhs = expr;
        if (ne != std::string_view::npos) {
          s.filter.negate = true;
          op = ne;
        }
        if (op != std::string_view::npos) {
          lhs = expr.substr(0, op);
          std::string_view rhs = expr.substr(op + 2);
          while (!rhs.empty() && rhs.front() == ' ')
            rhs.remove_prefix(1);
          while (!rhs.empty() && rhs.back() == ' ')
            rhs.remove_suffix(1);
          if (!parse_literal(rhs, s.filter.value)) return false;
          s.filter.has_value = true;
        }
        while (!lhs.empty() && lhs.back() == ' ')
          lhs.remove_suffix(1);
        if (lhs.substr(0, 2) != "@.") return false;
        lhs.remove_prefix(2);
        size_t st = 0;
        for (size_t k = 0; k <= lhs.size(); ++k) {
          if (k == lhs.size() || lhs[k] == '.') {
            s.filter.path.emplace_back(lhs.substr(st, k - st));
            st = k + 1;
          }
        }
        steps.push_back(std::move(s));
      } else {
        long n = 0;
        bool neg = false;
        size_t k = 0;
        if (!inner.empty() && inner[0] == '-') {
          neg = true;
          k = 1;
        }
        if (k >= inner.size()) return false;
        for (; k < inner.size(); ++k) {
          if (inner[k] < '0' || inner[k] > '9') return false;
          n = n * 10 + (inner[k] - '0');
          if (n > 1000000) return false;
        }
        steps.push_back({Step::Index, "", neg ? -n : n, {}});
      }
      i = close + 1;
    } else {
      return false;
    }
  }
  return true;
}

}  // namespace

std::vector<Json> jsonpath(const Json& obj, std::string_view path) {
  std::vector<Step> steps;
  if (!parse_steps(path, steps)) return {};
  std::vector<const Json*> cur = {&obj};
  for (const auto& s : steps) {
    std::vector<const Json*> next;
    for (const Json* v : cur) {
      switch (s.kind) {
        case Step::Field:
          if (v->is_object()) {
            auto it = v->find(s.field);
            if (it != v->end()) next.push_back(&*it);
          }
          break;
        case Step::Index:
          if (v->is_array()) {
            long n = s.index < 0 ? static_cast<long>(v->size()) + s.index : s.index;
            if (n >= 0 && static_cast<size_t>(n) < v->size()) {
              next.push_back(&(*v)[static_cast<size_t>(n)]);
            }
          }
          break;
        case Step::All:
          if (v->is_array() || v->is_object()) {
            for (const auto& e : *v)
              next.push_back(&e);
          }
          break;
        case Step::FilterStep:
          if (v->is_array()) {
            for (const auto& e : *v) {
              const Json* f = &e;
              for (const auto& key : s.filter.path) {
                if (!f || !f->is_object()) {
                  f = nullptr;
                  break;
                }
                auto it = f->find(key);
                f = it == f->end() ? nullptr : &*it;
              }
              bool keep = s.filter.has_value ? (f && *f == s.filter.value) != s.filter.negate
                                             : f != nullptr;
              if (keep) next.push_back(&e);
            }
          }
          break;
      }
    }
    cur = std::move(next);
  }
  std::vector<Json> out;
  out.reserve(cur.size());
  for (const Json* v : cur)
    out.push_back(*v);
  return out;
}

std::string human_duration(Duration d) {
  long long seconds = d.count();
  char buf[64];
  if (seconds < -1) return "<invalid>";
  if (seconds < 0) return "0s";
  if (seconds < 60LL * 2) {
    std::snprintf(buf, sizeof buf, "%llds", seconds);
    return buf;
  }
  long long minutes = seconds / 60;
  if (minutes < 10) {
    long long s = seconds % 60;
    if (s == 0) {
      std::snprintf(buf, sizeof buf, "%lldm", minutes);
    } else {
      std::snprintf(buf, sizeof buf, "%lldm%llds", minutes, s);
    }
    return buf;
  }
  if (minutes < 60LL * 3) {
    std::snprintf(buf, sizeof buf, "%lldm", minutes);
    return buf;
  }
  long long hours = seconds / 3600;
  if (hours < 8) {
    long long m = minutes % 60;
    if (m == 0) {
      std::snprintf(buf, sizeof buf, "%lldh", hours);
    } else {
      std::snprintf(buf, sizeof buf, "%lldh%lldm", hours, m);
    }
  } else if (hours < 48) {
    std::snprintf(buf, sizeof buf, "%lldh", hours);
  } else if (hours < 24LL * 8) {
    long long h = hours % 24;
    if (h == 0) {
      std::snprintf(buf, sizeof buf, "%lldd", hours / 24);
    } else {
      std::snprintf(buf, sizeof buf, "%lldd%lldh", hours / 24, h);
    }
  } else if (hours < 24LL * 365 * 2) {
    std::snprintf(buf, sizeof buf, "%lldd", hours / 24);
  } else if (hours < 24LL * 365 * 8) {
    long long dy = (hours / 24) % 365;
    if (dy == 0) {
      std::snprintf(buf, sizeof buf, "%lldy", hours / 24 / 365);
    } else {
      std::snprintf(buf, sizeof buf, "%lldy%lldd", hours / 24 / 365, dy);
    }
  } else {
    std::snprintf(buf, sizeof buf, "%lldy", hours / 24 / 365);
  }
  return buf;
}

}  // namespace gpupool::apiserver
