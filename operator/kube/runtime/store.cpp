#include "operator/kube/runtime/store.h"

namespace gpupool::kube {
namespace {

const Json* metadata(const Json& obj) {
  if (!obj.is_object()) return nullptr;
  auto it = obj.find("metadata");
  return it != obj.end() && it->is_object() ? &*it : nullptr;
}

std::string md_string(const Json& obj, const char* field) {
  const Json* md = metadata(obj);
  if (md == nullptr) return "";
  auto it = md->find(field);
  return it != md->end() && it->is_string() ? it->get<std::string>() : "";
}

}  // namespace

std::string object_key(const Json& obj) {
  const std::string ns = md_string(obj, "namespace");
  const std::string name = md_string(obj, "name");
  return ns.empty() ? name : ns + "/" + name;
}

std::string resource_version_of(const Json& obj) {
  return md_string(obj, "resourceVersion");
}

IndexFn index_by_owner_uid() {
  return [](const Json& obj) {
    std::vector<std::string> out;
    const Json* md = metadata(obj);
    if (md == nullptr) return out;
    auto refs = md->find("ownerReferences");
    if (refs == md->end() || !refs->is_array()) return out;
    for (const auto& ref : *refs) {
      if (ref.is_object() && ref.contains("uid") && ref["uid"].is_string()) {
        out.push_back(ref["uid"].get<std::string>());
      }
    }
    return out;
  };
}

IndexFn index_by_label(const std::string& label) {
  return [label](const Json& obj) {
    std::vector<std::string> out;
    const Json* md = metadata(obj);
    if (md == nullptr) return out;
    auto labels = md->find("labels");
    if (labels == md->end() || !labels->is_object()) return out;
    auto v = labels->find(label);
    if (v != labels->end() && v->is_string()) out.push_back(v->get<std::string>());
    return out;
  };
}

void Store::add_index(const std::string& name, IndexFn fn) {
  MutexLock lock(mu_);
  Index& idx = indexes_[name];
  idx.fn = std::move(fn);
  idx.values.clear();
  for (const auto& [key, obj] : objects_) {
    for (const auto& v : idx.fn(*obj))
      idx.values[v].insert(key);
  }
}

void Store::index_locked(const std::string& key, const Json& obj, bool add) {
  const std::string ns = md_string(obj, "namespace");
  if (add) {
    by_ns_[ns].insert(key);
  } else if (auto it = by_ns_.find(ns); it != by_ns_.end()) {
    it->second.erase(key);
    if (it->second.empty()) by_ns_.erase(it);
  }
  for (auto& [name, idx] : indexes_) {
    for (const auto& v : idx.fn(obj)) {
      if (add) {
        idx.values[v].insert(key);
      } else if (auto it = idx.values.find(v); it != idx.values.end()) {
        it->second.erase(key);
        if (it->second.empty()) idx.values.erase(it);
      }
    }
  }
}

ObjectPtr Store::get(const std::string& key) const {
  MutexLock lock(mu_);
  auto it = objects_.find(key);
  return it == objects_.end() ? nullptr : it->second;
}

ObjectPtr Store::get(const std::string& namespace_, const std::string& name) const {
  return get(namespace_.empty() ? name : namespace_ + "/" + name);
}

std::vector<ObjectPtr> Store::list() const {
  MutexLock lock(mu_);
  std::vector<ObjectPtr> out;
  out.reserve(objects_.size());
  for (const auto& [k, v] : objects_)
    out.push_back(v);
  return out;
}

std::vector<ObjectPtr> Store::list_namespace(const std::string& namespace_) const {
  MutexLock lock(mu_);
  std::vector<ObjectPtr> out;
  auto it = by_ns_.find(namespace_);
  if (it == by_ns_.end()) return out;
  for (const auto& k : it->second)
    out.push_back(objects_.at(k));
  return out;
}

std::vector<ObjectPtr> Store::by_index(const std::string& index, const std::string& value) const {
  MutexLock lock(mu_);
  std::vector<ObjectPtr> out;
  auto idx = indexes_.find(index);
  if (idx == indexes_.end()) return out;
  auto it = idx->second.values.find(value);
  if (it == idx->second.values.end()) return out;
  for (const auto& k : it->second)
    out.push_back(objects_.at(k));
  return out;
}

std::map<std::string, size_t> Store::index_counts(const std::string& index) const {
  MutexLock lock(mu_);
  std::map<std::string, size_t> out;
  auto idx = indexes_.find(index);
  if (idx == indexes_.end()) return out;
  for (const auto& [value, keys] : idx->second.values) {
    if (!keys.empty()) out.emplace(value, keys.size());
  }
  return out;
}

std::vector<std::string> Store::keys() const {
  MutexLock lock(mu_);
  std::vector<std::string> out;
  out.reserve(objects_.size());
  for (const auto& [k, v] : objects_)
    out.push_back(k);
  return out;
}

size_t Store::size() const {
  MutexLock lock(mu_);
  return objects_.size();
}

ObjectPtr Store::upsert(ObjectPtr obj) {
  const std::string key = object_key(*obj);
  MutexLock lock(mu_);
  ObjectPtr old;
  auto it = objects_.find(key);
  if (it != objects_.end()) {
    old = it->second;
    index_locked(key, *old, false);
    it->second = obj;
  } else {
    objects_.emplace(key, obj);
  }
  index_locked(key, *obj, true);
  return old;
}

ObjectPtr Store::remove(const std::string& key) {
  MutexLock lock(mu_);
  auto it = objects_.find(key);
  if (it == objects_.end()) return nullptr;
  ObjectPtr old = it->second;
  index_locked(key, *old, false);
  objects_.erase(it);
  return old;
}

std::vector<StoreDelta> Store::replace(std::vector<ObjectPtr> objs) {
  std::map<std::string, ObjectPtr> next;
  for (auto& o : objs)
    next[object_key(*o)] = std::move(o);
  std::vector<StoreDelta> deltas;
  MutexLock lock(mu_);
  for (const auto& [key, old] : objects_) {
    if (next.count(key) == 0) deltas.push_back({StoreDelta::Type::Deleted, old, nullptr});
  }
  for (const auto& [key, obj] : next) {
    auto it = objects_.find(key);
    if (it == objects_.end()) {
      deltas.push_back({StoreDelta::Type::Added, nullptr, obj});
    } else if (resource_version_of(*it->second) != resource_version_of(*obj) ||
               resource_version_of(*obj).empty()) {
      deltas.push_back({StoreDelta::Type::Updated, it->second, obj});
    }
  }
  for (const auto& d : deltas) {
    if (d.type == StoreDelta::Type::Deleted) {
      const std::string key = object_key(*d.old_obj);
      index_locked(key, *d.old_obj, false);
      objects_.erase(key);
    } else {
      const std::string key = object_key(*d.new_obj);
      if (d.old_obj) index_locked(key, *d.old_obj, false);
      objects_[key] = d.new_obj;
      index_locked(key, *d.new_obj, true);
    }
  }
  return deltas;
}

}  // namespace gpupool::kube
