#include "operator/kube/runtime/store.h"

#include <cstdio>
#include <cstdlib>

namespace gpupool::kube {

namespace {
// Guards StoredObject::tree of every store: held only to lock, set or reset
// a weak pointer, never while decoding; no other lock is taken under it.
Mutex g_tree_mu;  // NOLINT(cppcoreguidelines-avoid-non-const-global-variables)
}  // namespace

struct StoredObject {
  std::string resource_version;
  std::string encoded;  // CBOR of the whole object, exactly sized
  // The tree a reader holds, if any (so concurrent readers share it).
  mutable std::weak_ptr<const Json> tree GUARDED_BY(g_tree_mu);
};

namespace {

// The deleter of every tree a Store hands out: it keeps the stored version
// the tree was read from, which stored_version() returns. When the tree goes
// it lets go of the version's expired weak pointer too, so a version nobody
// reads holds no control block.
struct ReadFrom {
  StoredVersion version;
  void operator()(const Json* j) const {
    {
      MutexLock lock(g_tree_mu);
      if (version->tree.expired()) version->tree.reset();  // else: a newer tree
    }
    delete j;
  }
};

StoredVersion encode(const Json& obj) {
  auto v = std::make_shared<StoredObject>();
  v->resource_version = resource_version_of(obj);
  Json::to_cbor(obj, v->encoded);
  v->encoded.shrink_to_fit();
  return v;
}

// The tree of `v`: the one a reader still holds, or a new one decoded.
ObjectPtr read(const StoredVersion& v) {
  {
    MutexLock lock(g_tree_mu);
    if (ObjectPtr held = v->tree.lock()) return held;
  }
  Json decoded = Json::from_cbor(v->encoded, /*strict=*/true, /*allow_exceptions=*/false);
  if (decoded.is_discarded()) {
    // The store encoded it itself: failing to decode is a bug, not input.
    std::fputs("kube::Store: a stored object does not decode\n", stderr);
    std::abort();
  }
  ObjectPtr fresh(new Json(std::move(decoded)), ReadFrom{v});
  MutexLock lock(g_tree_mu);
  if (ObjectPtr held = v->tree.lock()) return held;  // another reader was first
  v->tree = fresh;
  return fresh;
}

std::string namespace_of_key(const std::string& key) {
  const auto slash = key.find('/');
  return slash == std::string::npos ? "" : key.substr(0, slash);
}

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

StoredVersion stored_version(const ObjectPtr& obj) {
  const auto* from = obj ? std::get_deleter<ReadFrom>(obj) : nullptr;
  return from != nullptr ? from->version : nullptr;
}

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
  for (const auto& [key, version] : objects_) {
    const ObjectPtr obj = read(version);
    for (const auto& v : idx.fn(*obj))
      idx.values[v].insert(key);
  }
}

void Store::index_locked(const std::string& key, const Json& obj, bool add) {
  const std::string ns = namespace_of_key(key);
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

ObjectPtr Store::put_locked(const std::string& key, StoredVersion version, const Json& obj) {
  ObjectPtr old;
  auto it = objects_.find(key);
  if (it != objects_.end()) {
    old = read(it->second);
    index_locked(key, *old, false);
    it->second = std::move(version);
  } else {
    objects_.emplace(key, std::move(version));
  }
  index_locked(key, obj, true);
  return old;
}

ObjectPtr Store::erase_locked(const std::string& key) {
  auto it = objects_.find(key);
  if (it == objects_.end()) return nullptr;
  ObjectPtr old = read(it->second);
  index_locked(key, *old, false);
  objects_.erase(it);
  return old;
}

std::vector<ObjectPtr> Store::read_all(const std::vector<StoredVersion>& versions) const {
  std::vector<ObjectPtr> out;
  out.reserve(versions.size());
  for (const auto& v : versions)
    out.push_back(read(v));
  return out;
}

ObjectPtr Store::get(const std::string& key) const {
  StoredVersion v;
  {
    MutexLock lock(mu_);
    auto it = objects_.find(key);
    if (it == objects_.end()) return nullptr;
    v = it->second;
  }
  return read(v);
}

ObjectPtr Store::get(const std::string& namespace_, const std::string& name) const {
  return get(namespace_.empty() ? name : namespace_ + "/" + name);
}

std::vector<ObjectPtr> Store::list() const {
  std::vector<StoredVersion> versions;
  {
    MutexLock lock(mu_);
    versions.reserve(objects_.size());
    for (const auto& [k, v] : objects_)
      versions.push_back(v);
  }
  return read_all(versions);
}

std::vector<ObjectPtr> Store::list_namespace(const std::string& namespace_) const {
  std::vector<StoredVersion> versions;
  {
    MutexLock lock(mu_);
    auto it = by_ns_.find(namespace_);
    if (it == by_ns_.end()) return {};
    for (const auto& k : it->second)
      versions.push_back(objects_.at(k));
  }
  return read_all(versions);
}

std::vector<ObjectPtr> Store::by_index(const std::string& index, const std::string& value) const {
  std::vector<StoredVersion> versions;
  {
    MutexLock lock(mu_);
    auto idx = indexes_.find(index);
    if (idx == indexes_.end()) return {};
    auto it = idx->second.values.find(value);
    if (it == idx->second.values.end()) return {};
    for (const auto& k : it->second)
      versions.push_back(objects_.at(k));
  }
  return read_all(versions);
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

size_t Store::encoded_bytes() const {
  MutexLock lock(mu_);
  size_t n = 0;
  for (const auto& [k, v] : objects_)
    n += v->encoded.size();
  return n;
}

ObjectPtr Store::upsert(ObjectPtr obj) {
  const std::string key = object_key(*obj);
  StoredVersion version = encode(*obj);
  MutexLock lock(mu_);
  return put_locked(key, std::move(version), *obj);
}

ObjectPtr Store::remove(const std::string& key) {
  MutexLock lock(mu_);
  return erase_locked(key);
}

std::vector<StoreDelta> Store::replace(std::vector<ObjectPtr> objs) {
  std::map<std::string, ObjectPtr> next;
  for (auto& o : objs)
    next[object_key(*o)] = std::move(o);
  // The versions to store: new keys and changed resourceVersions only.
  std::vector<std::pair<std::string, ObjectPtr>> changed;
  std::vector<std::string> gone;
  {
    MutexLock lock(mu_);
    for (const auto& [key, old] : objects_) {
      if (next.count(key) == 0) gone.push_back(key);
    }
    for (const auto& [key, obj] : next) {
      auto it = objects_.find(key);
      const std::string rv = resource_version_of(*obj);
      if (it == objects_.end() || it->second->resource_version != rv || rv.empty()) {
        changed.emplace_back(key, obj);
      }
    }
  }
  std::vector<StoredVersion> encoded;
  encoded.reserve(changed.size());
  for (const auto& [key, obj] : changed)
    encoded.push_back(encode(*obj));
  std::vector<StoreDelta> deltas;
  MutexLock lock(mu_);
  for (const auto& key : gone) {
    if (ObjectPtr old = erase_locked(key))
      deltas.push_back({StoreDelta::Type::Deleted, old, nullptr});
  }
  for (size_t i = 0; i < changed.size(); ++i) {
    const auto& [key, obj] = changed[i];
    ObjectPtr old = put_locked(key, std::move(encoded[i]), *obj);
    deltas.push_back({old ? StoreDelta::Type::Updated : StoreDelta::Type::Added, old, obj});
  }
  return deltas;
}

}  // namespace gpupool::kube
