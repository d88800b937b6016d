#include "operator/kube/memory/managed_fields.h"

#include <algorithm>
#include <map>

namespace gpupool::kube::managed {
namespace {

bool server_owned_meta(const std::string& key) {
  static const std::set<std::string> owned = {"name",
                                              "namespace",
                                              "uid",
                                              "resourceVersion",
                                              "generation",
                                              "creationTimestamp",
                                              "deletionTimestamp",
                                              "deletionGracePeriodSeconds",
                                              "selfLink",
                                              "managedFields"};
  return owned.count(key) > 0;
}

void collect(const Json& value, Path& at, FieldSet& out) {
  if (!value.is_object() || value.empty()) {
    out.insert(at);
    return;
  }
  for (const auto& [k, v] : value.items()) {
    at.push_back(k);
    collect(v, at, out);
    at.pop_back();
  }
}

const Json* value_at(const Json& obj, const Path& path) {
  const Json* cur = &obj;
  for (const auto& seg : path) {
    if (!cur->is_object()) return nullptr;
    auto it = cur->find(seg);
    if (it == cur->end()) return nullptr;
    cur = &*it;
  }
  return cur;
}

// Sets the value at `path`, making (or replacing with) maps on the way.
void set_at(Json& obj, const Path& path, const Json& value) {
  Json* cur = &obj;
  for (size_t i = 0; i + 1 < path.size(); ++i) {
    Json& next = (*cur)[path[i]];
    if (!next.is_object()) next = Json::object();
    cur = &next;
  }
  (*cur)[path.back()] = value;
}

void erase_at(Json& obj, const Path& path) {
  Json* cur = &obj;
  for (size_t i = 0; i + 1 < path.size(); ++i) {
    if (!cur->is_object()) return;
    auto it = cur->find(path[i]);
    if (it == cur->end()) return;
    cur = &*it;
  }
  if (cur->is_object()) cur->erase(path.back());
}

bool same_identity(const Entry& e, const std::string& manager, const std::string& operation,
                   const std::string& subresource, const std::string& api_version) {
  return e.manager == manager && e.operation == operation && e.subresource == subresource &&
         (operation == "Apply" || e.api_version == api_version);
}

// "\"kubectl\"", "\"kubectl\" with subresource \"status\"", "\"helm\" using v1".
std::string printed_manager(const Entry& e) {
  std::string s = "\"" + e.manager + "\"";
  if (!e.subresource.empty()) s += " with subresource \"" + e.subresource + "\"";
  if (e.operation == "Update") s += " using " + e.api_version;
  return s;
}

void drop_empty(std::vector<Entry>& entries) {
  std::erase_if(entries, [](const Entry& e) { return e.fields.empty(); });
}

}  // namespace

std::string path_text(const Path& path) {
  std::string s;
  for (const auto& seg : path)
    s += "." + seg;
  return s;
}

FieldSet fields_of(const Json& obj) {
  FieldSet out;
  if (!obj.is_object()) return out;
  Path at;
  for (const auto& [k, v] : obj.items()) {
    if (k == "apiVersion" || k == "kind") continue;
    if (k == "metadata" && v.is_object()) {
      for (const auto& [mk, mv] : v.items()) {
        if (server_owned_meta(mk)) continue;
        at = {"metadata", mk};
        collect(mv, at, out);
      }
      continue;
    }
    at = {k};
    collect(v, at, out);
  }
  return out;
}

FieldSet changed_fields(const Json& before, const Json& after) {
  FieldSet out;
  const FieldSet a = fields_of(before);
  const FieldSet b = fields_of(after);
  for (const FieldSet* side : {&a, &b}) {
    for (const Path& p : *side) {
      const Json* x = value_at(before, p);
      const Json* y = value_at(after, p);
      if (!x || !y || *x != *y) out.insert(p);
    }
  }
  return out;
}

Json to_fields_v1(const FieldSet& fields) {
  Json out = Json::object();
  for (const Path& p : fields) {
    Json* cur = &out;
    for (const auto& seg : p) {
      Json& next = (*cur)["f:" + seg];
      if (!next.is_object()) next = Json::object();
      cur = &next;
    }
  }
  return out;
}

namespace {
void read_fields_v1(const Json& node, Path& at, FieldSet& out) {
  bool child = false;
  for (const auto& [k, v] : node.items()) {
    if (k.rfind("f:", 0) != 0 || !v.is_object()) continue;
    child = true;
    at.push_back(k.substr(2));
    read_fields_v1(v, at, out);
    at.pop_back();
  }
  if (!child && !at.empty()) out.insert(at);
}
}  // namespace

FieldSet from_fields_v1(const Json& fields_v1) {
  FieldSet out;
  if (!fields_v1.is_object()) return out;
  Path at;
  read_fields_v1(fields_v1, at, out);
  return out;
}

std::vector<Entry> entries_of(const Json& obj) {
  std::vector<Entry> out;
  auto meta = obj.find("metadata");
  if (meta == obj.end() || !meta->is_object()) return out;
  auto mf = meta->find("managedFields");
  if (mf == meta->end() || !mf->is_array()) return out;
  for (const auto& j : *mf) {
    if (!j.is_object() || j.value("fieldsType", "") != "FieldsV1") continue;
    Entry e;
    e.manager = j.value("manager", "");
    e.operation = j.value("operation", "");
    e.api_version = j.value("apiVersion", "");
    e.time = j.value("time", "");
    e.subresource = j.value("subresource", "");
    if (auto f = j.find("fieldsV1"); f != j.end()) e.fields = from_fields_v1(*f);
    out.push_back(std::move(e));
  }
  return out;
}

Json to_json(const std::vector<Entry>& entries) {
  Json out = Json::array();
  for (const Entry& e : entries) {
    Json j = {{"manager", e.manager},        {"operation", e.operation},
              {"apiVersion", e.api_version}, {"time", e.time},
              {"fieldsType", "FieldsV1"},    {"fieldsV1", to_fields_v1(e.fields)}};
    if (!e.subresource.empty()) j["subresource"] = e.subresource;
    out.push_back(std::move(j));
  }
  return out;
}

void record_update(std::vector<Entry>& entries, const Writer& w, const FieldSet& changed,
                   const Json& after) {
  if (changed.empty()) return;
  const FieldSet present = fields_of(after);
  auto own = std::find_if(entries.begin(), entries.end(), [&](const Entry& e) {
    return same_identity(e, w.manager, "Update", w.subresource, w.api_version);
  });
  if (own == entries.end()) {
    entries.push_back(Entry{w.manager, "Update", w.api_version, w.time, w.subresource, {}});
    own = std::prev(entries.end());
  }
  own->time = w.time;
  for (auto it = entries.begin(); it != entries.end(); ++it) {
    for (const Path& p : changed) {
      if (it == own && present.count(p)) {
        it->fields.insert(p);
      } else {
        it->fields.erase(p);
      }
    }
  }
  drop_empty(entries);
}

namespace {

std::vector<Conflict> find_conflicts(const Json& live, const std::vector<Entry>& entries,
                                     const Entry* own, const Json& config,
                                     const FieldSet& applied) {
  std::vector<Conflict> out;
  for (const Entry& e : entries) {
    if (&e == own) continue;
    for (const Path& p : applied) {
      if (!e.fields.count(p)) continue;
      const Json* want = value_at(config, p);
      const Json* have = value_at(live, p);
      if (!have || !want || *have != *want) out.push_back({printed_manager(e), p});
    }
  }
  return out;
}

}  // namespace

ApplyOutcome apply(const Json& live, std::vector<Entry> entries, const Json& config,
                   const Writer& w, bool force) {
  ApplyOutcome out;
  const FieldSet applied = fields_of(config);
  auto own_it = std::find_if(entries.begin(), entries.end(), [&](const Entry& e) {
    return same_identity(e, w.manager, "Apply", w.subresource, w.api_version);
  });
  const Entry* own = own_it == entries.end() ? nullptr : &*own_it;
  out.conflicts = find_conflicts(live, entries, own, config, applied);
  if (!out.conflicts.empty() && !force) return out;
  for (Entry& e : entries) {
    if (&e == own) continue;
    for (const Path& p : applied) {
      const Json* want = value_at(config, p);
      const Json* have = value_at(live, p);
      if (!have || !want || *have != *want) e.fields.erase(p);  // forced away
    }
  }
  out.conflicts.clear();
  out.object = live;
  for (const Path& p : applied) {
    const Json* v = value_at(config, p);
    if (v->is_null()) {
      erase_at(out.object, p);
    } else {
      set_at(out.object, p, *v);
    }
  }
  FieldSet dropped;
  if (own) {
    for (const Path& p : own->fields) {
      if (!applied.count(p)) dropped.insert(p);
    }
  }
  for (const Path& p : dropped) {
    bool shared = std::any_of(entries.begin(), entries.end(),
                              [&](const Entry& e) { return &e != own && e.fields.count(p) > 0; });
    if (!shared) erase_at(out.object, p);
  }
  if (own_it == entries.end()) {
    entries.push_back(Entry{w.manager, "Apply", w.api_version, w.time, w.subresource, {}});
    own_it = std::prev(entries.end());
  }
  own_it->fields = applied;
  own_it->api_version = w.api_version;
  own_it->time = w.time;
  drop_empty(entries);
  out.entries = std::move(entries);
  return out;
}

ApiError conflict_error(const std::vector<Conflict>& conflicts) {
  ApiError e = make_error(ErrorKind::Conflict, "");
  for (const Conflict& c : conflicts) {
    e.causes.push_back({"FieldManagerConflict", "conflict with " + c.manager, path_text(c.path)});
  }
  if (conflicts.size() == 1) {
    e.message = "Apply failed with 1 conflict: conflict with " + conflicts[0].manager + ": " +
                path_text(conflicts[0].path);
    return e;
  }
  std::map<std::string, std::vector<std::string>> by_manager;  // sorted, as the server does
  for (const Conflict& c : conflicts)
    by_manager[c.manager].push_back(path_text(c.path));
  std::string text;
  for (const auto& [manager, paths] : by_manager) {
    if (!text.empty()) text += "\n";
    text += "conflicts with " + manager + ":";
    for (const auto& p : paths)
      text += "\n- " + p;
  }
  e.message = "Apply failed with " + std::to_string(conflicts.size()) + " conflicts: " + text;
  return e;
}

}  // namespace gpupool::kube::managed
