#include "operator/kube/runtime/store.h"

#include <zlib.h>

#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <optional>

namespace gpupool::kube {

namespace {
// Guards StoredObject::tree of every store: held only to lock, set or reset
// a weak pointer, never while decoding; no other lock is taken under it.
Mutex g_tree_mu;  // NOLINT(cppcoreguidelines-avoid-non-const-global-variables)
}  // namespace

struct StoredObject {
  std::string resource_version;
  // StoreMode::Trees: the tree itself (and no encoding).
  ObjectPtr kept;
  // The object's CBOR, raw-deflated against `dictionary` when that is
  // smaller (`dictionary` set), else as is. Exactly sized.
  std::string encoded;
  std::shared_ptr<const std::string> dictionary;
  uint32_t cbor_size = 0;
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

// Deflate settings: raw streams (no header or checksum: the store wrote the
// bytes itself), an 8 KiB window, which holds a whole dictionary and the
// objects this cache sees, and small state (~64 KiB per thread).
constexpr int kWindowBits = -13;
constexpr int kMemLevel = 6;
constexpr size_t kMaxDictionary = size_t{1} << 13;

// One deflate and one inflate stream per thread, reset for each object
// (initialising a stream allocates its window: too dear per object).
struct Deflater {
  z_stream s{};
  bool ok = deflateInit2(&s, Z_DEFAULT_COMPRESSION, Z_DEFLATED, kWindowBits, kMemLevel,
                         Z_DEFAULT_STRATEGY) == Z_OK;
  Deflater() = default;
  Deflater(const Deflater&) = delete;
  Deflater& operator=(const Deflater&) = delete;
  ~Deflater() {
    if (ok) deflateEnd(&s);
  }
};
struct Inflater {
  z_stream s{};
  bool ok = inflateInit2(&s, kWindowBits) == Z_OK;
  Inflater() = default;
  Inflater(const Inflater&) = delete;
  Inflater& operator=(const Inflater&) = delete;
  ~Inflater() {
    if (ok) inflateEnd(&s);
  }
};

Bytef* bytes(const std::string& s) {
  // zlib's API takes non-const input pointers but never writes through them.
  return reinterpret_cast<Bytef*>(const_cast<char*>(s.data()));  // NOLINT
}

// `cbor` deflated against `dict`; nullopt when zlib fails or it would not be
// smaller.
std::optional<std::string> deflated(const std::string& cbor, const std::string& dict) {
  thread_local Deflater d;
  if (!d.ok || deflateReset(&d.s) != Z_OK ||
      deflateSetDictionary(&d.s, bytes(dict), static_cast<uInt>(dict.size())) != Z_OK) {
    return std::nullopt;
  }
  std::string out(deflateBound(&d.s, static_cast<uLong>(cbor.size())), '\0');
  d.s.next_in = bytes(cbor);
  d.s.avail_in = static_cast<uInt>(cbor.size());
  d.s.next_out = bytes(out);
  d.s.avail_out = static_cast<uInt>(out.size());
  if (deflate(&d.s, Z_FINISH) != Z_STREAM_END || d.s.total_out >= cbor.size()) return std::nullopt;
  out.resize(d.s.total_out);
  out.shrink_to_fit();
  return out;
}

// The CBOR of `v` (inflated into a per-thread buffer when deflated).
const std::string& cbor_of(const StoredObject& v) {
  if (!v.dictionary) return v.encoded;
  thread_local Inflater in;
  thread_local std::string out;
  out.assign(v.cbor_size, '\0');
  bool ok = in.ok && inflateReset(&in.s) == Z_OK &&
            inflateSetDictionary(&in.s, bytes(*v.dictionary),
                                 static_cast<uInt>(v.dictionary->size())) == Z_OK;
  if (ok) {
    in.s.next_in = bytes(v.encoded);
    in.s.avail_in = static_cast<uInt>(v.encoded.size());
    in.s.next_out = bytes(out);
    in.s.avail_out = static_cast<uInt>(out.size());
    ok = inflate(&in.s, Z_FINISH) == Z_STREAM_END && in.s.total_out == v.cbor_size;
  }
  if (!ok) {
    // The store deflated these bytes itself: only a bug or no memory gets here.
    std::fputs("kube::Store: a stored object does not inflate\n", stderr);
    std::abort();
  }
  return out;
}

// A stored version of `obj`, deflated against `dictionary` when given and
// worth it.
StoredVersion encode(const Json& obj, std::string cbor,
                     const std::shared_ptr<const std::string>& dictionary) {
  auto v = std::make_shared<StoredObject>();
  v->resource_version = resource_version_of(obj);
  v->cbor_size = static_cast<uint32_t>(cbor.size());
  std::optional<std::string> small;
  if (dictionary && cbor.size() <= UINT32_MAX) small = deflated(cbor, *dictionary);
  if (small) {
    v->encoded = std::move(*small);
    v->dictionary = dictionary;
  } else {
    v->encoded = std::move(cbor);
    v->encoded.shrink_to_fit();
  }
  return v;
}

// The tree of `v`: the one a reader still holds, or a new one decoded.
ObjectPtr read(const StoredVersion& v) {
  if (v->kept) return v->kept;
  {
    MutexLock lock(g_tree_mu);
    if (ObjectPtr held = v->tree.lock()) return held;
  }
  Json decoded = Json::from_cbor(cbor_of(*v), /*strict=*/true, /*allow_exceptions=*/false);
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

std::vector<std::vector<std::string>> Store::index_values_locked(const Json& obj) const {
  std::vector<std::vector<std::string>> out;
  out.reserve(indexes_.size());
  for (const auto& [name, idx] : indexes_)
    out.push_back(idx.fn(obj));
  return out;
}

void Store::index_locked(const std::string& key, const Json& obj, bool add) {
  index_locked(key, index_values_locked(obj), add);
}

void Store::index_locked(const std::string& key,
                         const std::vector<std::vector<std::string>>& values, bool add) {
  const std::string ns = namespace_of_key(key);
  if (add) {
    by_ns_[ns].insert(key);
  } else if (auto it = by_ns_.find(ns); it != by_ns_.end()) {
    it->second.erase(key);
    if (it->second.empty()) by_ns_.erase(it);
  }
  size_t i = 0;
  for (auto& [name, idx] : indexes_) {
    for (const auto& v : values[i++]) {
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
    index_locked(it->first, *old, false);
    it->second = std::move(version);
  } else {
    it = objects_.emplace(key, std::move(version)).first;
  }
  index_locked(it->first, obj, true);
  return old;
}

ObjectPtr Store::erase_locked(const std::string& key) {
  auto it = objects_.find(key);
  if (it == objects_.end()) return nullptr;
  ObjectPtr old = read(it->second);
  index_locked(it->first, *old, false);
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
      versions.push_back(objects_.find(k)->second);
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
      versions.push_back(objects_.find(k)->second);
  }
  return read_all(versions);
}

bool Store::has_index(const std::string& index) const {
  MutexLock lock(mu_);
  return indexes_.count(index) > 0;
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

StoredVersion Store::encode_version(const ObjectPtr& obj) {
  if (mode_ == StoreMode::Trees) {
    auto v = std::make_shared<StoredObject>();
    v->resource_version = resource_version_of(*obj);
    v->kept = obj;
    return v;
  }
  std::string cbor;
  Json::to_cbor(*obj, cbor);
  std::shared_ptr<const std::string> dict;
  {
    MutexLock lock(mu_);
    if (!dictionary_) {
      dictionary_ = std::make_shared<const std::string>(
          cbor.size() <= kMaxDictionary ? cbor : cbor.substr(cbor.size() - kMaxDictionary));
    }
    dict = dictionary_;
  }
  return encode(*obj, std::move(cbor), dict);
}

ObjectPtr Store::upsert(const ObjectPtr& obj) {
  const std::string key = object_key(*obj);
  StoredVersion version = encode_version(obj);
  MutexLock lock(mu_);
  return put_locked(key, std::move(version), *obj);
}

ObjectPtr Store::remove(const std::string& key) {
  MutexLock lock(mu_);
  return erase_locked(key);
}

std::vector<StoreDelta> Store::replace(std::vector<ObjectPtr> objs) {
  std::vector<Staged> staged;
  staged.reserve(objs.size());
  for (auto& o : objs) {
    staged.push_back(stage(o));
    o.reset();
  }
  std::vector<StoreDelta> deltas;
  for (const auto& d : replace_staged(std::move(staged)))
    deltas.push_back(read_delta(d));
  return deltas;
}

Store::Staged Store::stage(const ObjectPtr& obj) {
  Staged s{object_key(*obj), nullptr, std::nullopt};
  const std::string rv = resource_version_of(*obj);
  {
    MutexLock lock(mu_);
    auto it = objects_.find(s.key);
    if (it != objects_.end() && !rv.empty() && it->second->resource_version == rv) {
      s.version = it->second;
      return s;
    }
    s.index_values = index_values_locked(*obj);
  }
  s.version = encode_version(obj);
  return s;
}

std::vector<Store::VersionDelta> Store::replace_staged(std::vector<Staged> objs) {
  std::map<std::string_view, Staged*> next;  // the last of a key wins
  for (auto& s : objs)
    next[s.key] = &s;
  std::vector<VersionDelta> deltas;
  MutexLock lock(mu_);
  for (auto it = objects_.begin(); it != objects_.end();) {
    if (next.count(it->first) != 0) {
      ++it;
      continue;
    }
    deltas.push_back({StoreDelta::Type::Deleted, it->second, nullptr});
    index_locked(it->first, *read(it->second), false);
    it = objects_.erase(it);
  }
  for (auto& [key, s] : next) {
    auto it = objects_.find(key);
    if (it != objects_.end() && it->second == s->version) continue;
    // Unset only for a version the store held when staged and no longer does.
    if (!s->index_values) s->index_values = index_values_locked(*read(s->version));
    StoredVersion old;
    if (it != objects_.end()) {
      old = it->second;
      index_locked(it->first, *read(old), false);
      it->second = s->version;
    } else {
      it = objects_.emplace(std::string(key), s->version).first;
    }
    index_locked(it->first, *s->index_values, true);
    deltas.push_back({old ? StoreDelta::Type::Updated : StoreDelta::Type::Added, old, s->version});
  }
  return deltas;
}

StoreDelta Store::read_delta(const VersionDelta& d) {
  return {d.type, d.old_version ? read(d.old_version) : nullptr,
          d.new_version ? read(d.new_version) : nullptr};
}

}  // namespace gpupool::kube
