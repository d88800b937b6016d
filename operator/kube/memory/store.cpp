#include <algorithm>
#include <thread>
#include <utility>

#include "operator/kube/memory/store_impl.h"

namespace gpupool::kube {

namespace {

constexpr char kForeground[] = "foregroundDeletion";

ApiError bad_request(std::string msg) {
  return make_error(ErrorKind::BadRequest, std::move(msg));
}

ApiError unknown_resource() {
  return make_error(ErrorKind::NotFound, "the server could not find the requested resource");
}

bool valid_name(const std::string& n) {
  if (n.empty() || n.size() > 253) return false;
  auto alnum = [](char c) { return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9'); };
  if (!alnum(n.front()) || !alnum(n.back())) return false;
  for (size_t i = 0; i < n.size(); ++i) {
    char c = n[i];
    if (alnum(c)) continue;
    if (c == '-') continue;
    if (c == '.' && i > 0 && n[i - 1] != '.' && n[i - 1] != '-' && i + 1 < n.size() &&
        n[i + 1] != '-') {
      continue;
    }
    return false;
  }
  return true;
}

std::string invalid_name_message(const std::string& n) {
  return "Invalid value: \"" + n +
         "\": a lowercase RFC 1123 subdomain must consist of lower case alphanumeric characters, "
         "'-' or '.', and must start and end with an alphanumeric character (e.g. 'example.com', "
         "regex used for validation is "
         "'[a-z0-9]([-a-z0-9]*[a-z0-9])?(\\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*')";
}

std::vector<std::string> finalizers_of(const Json& obj) {
  std::vector<std::string> out;
  auto m = obj.find("metadata");
  if (m == obj.end() || !m->is_object()) return out;
  auto f = m->find("finalizers");
  if (f == m->end() || !f->is_array()) return out;
  for (const auto& s : *f) {
    if (s.is_string()) out.push_back(s.get<std::string>());
  }
  return out;
}

void set_finalizers(Json& obj, const std::vector<std::string>& f) {
  if (f.empty()) {
    obj["metadata"].erase("finalizers");
  } else {
    obj["metadata"]["finalizers"] = f;
  }
}

bool is_deleting(const Json& obj) {
  return !meta_string(obj, "deletionTimestamp").empty();
}

// a == b ignoring the top-level keys in `skip` (no copies).
bool equal_except(const Json& a, const Json& b, std::initializer_list<std::string_view> skip) {
  if (!a.is_object() || !b.is_object()) return a == b;
  auto skipped = [&](const std::string& k) {
    for (auto s : skip) {
      if (k == s) return true;
    }
    return false;
  };
  size_t na = 0;
  for (auto it = a.begin(); it != a.end(); ++it) {
    if (skipped(it.key())) continue;
    ++na;
    auto jt = b.find(it.key());
    if (jt == b.end() || *jt != *it) return false;
  }
  size_t nb = 0;
  for (auto it = b.begin(); it != b.end(); ++it) {
    if (!skipped(it.key())) ++nb;
  }
  return na == nb;
}

const Json& metadata_of(const Json& obj) {
  static const Json empty = Json::object();
  auto it = obj.find("metadata");
  return it == obj.end() ? empty : *it;
}

// Objects equal apart from resourceVersion and managedFields.
bool same_content(const Json& a, const Json& b) {
  return equal_except(a, b, {"metadata"}) &&
         equal_except(metadata_of(a), metadata_of(b), {"resourceVersion", "managedFields"});
}

// Whether a and b have the same managedFields apart from the entries' times.
bool same_ownership(const Json& a, const Json& b) {
  auto entries = [](const Json& o) {
    Json out = Json::array();
    const Json* mf = find_path(o, "metadata.managedFields");
    if (!mf || !mf->is_array()) return out;
    for (Json e : *mf) {
      if (e.is_object()) e.erase("time");
      out.push_back(std::move(e));
    }
    return out;
  };
  return entries(a) == entries(b);
}

void set_managed_fields(Json& obj, const std::vector<managed::Entry>& entries) {
  if (entries.empty()) {
    obj["metadata"].erase("managedFields");
  } else {
    obj["metadata"]["managedFields"] = managed::to_json(entries);
  }
}

// What the real server refuses in an apply configuration before looking at
// the stored object.
ApiStatus check_apply_config(const TypeDef& t, const VersionDef& v, const Json& config,
                             const std::string& name) {
  if (!config.is_object()) return fail(bad_request("apply patch must be a JSON object"));
  const Json* mf = find_path(config, "metadata.managedFields");
  if (mf && !mf->is_null()) return fail(bad_request("metadata.managedFields must be nil"));
  const std::string want_av = t.api_version(v.name);
  if (config.contains("apiVersion") && config["apiVersion"] != want_av) {
    return fail(bad_request("the API version in the data (" + scalar_text(&config["apiVersion"]) +
                            ") does not match the expected API version (" + want_av + ")"));
  }
  if (config.contains("kind") && config["kind"] != t.kind) {
    return fail(bad_request(scalar_text(&config["kind"]) + " in version \"" + v.name +
                            "\" cannot be handled as a " + t.kind + ": kind mismatch"));
  }
  const std::string config_name = meta_string(config, "name");
  if (!config_name.empty() && config_name != name) {
    return fail(bad_request("the name of the object (" + config_name +
                            ") does not match the name on the URL (" + name + ")"));
  }
  return ApiStatus::success();
}

// Spec-ish content: everything except apiVersion, kind, metadata (and status).
bool same_spec(const Json& a, const Json& b, bool ignore_status) {
  if (ignore_status) return equal_except(a, b, {"metadata", "apiVersion", "kind", "status"});
  return equal_except(a, b, {"metadata", "apiVersion", "kind"});
}

int64_t generation_of(const Json& obj) {
  const Json* g = find_path(obj, "metadata.generation");
  return (g && g->is_number_integer()) ? g->get<int64_t>() : 0;
}

// Removes strategic-merge directives ("$patch", "$setElementOrder/...", ...).
void strip_directives(Json& j) {
  if (j.is_object()) {
    for (auto it = j.begin(); it != j.end();) {
      if (!it.key().empty() && it.key()[0] == '$') {
        it = j.erase(it);
      } else {
        strip_directives(*it);
        ++it;
      }
    }
  } else if (j.is_array()) {
    for (auto& e : j)
      strip_directives(e);
  }
}

ApiResult<Json> apply_patch(const Json& base, PatchType type, const Json& patch) {
  try {
    switch (type) {
      case PatchType::Merge:
      case PatchType::Apply:
      case PatchType::StrategicMerge: {
        if (!patch.is_object()) {
          return fail(bad_request("error decoding patch: patch must be a JSON object"));
        }
        Json p = patch;
        if (type == PatchType::StrategicMerge) strip_directives(p);
        Json out = base;
        out.merge_patch(p);
        return out;
      }
      case PatchType::JsonPatch: {
        if (!patch.is_array()) {
          return fail(bad_request("error decoding patch: json patch must be an array"));
        }
        for (const auto& op : patch) {
          if (!op.is_object() || !op.contains("op") || !op["op"].is_string() ||
              !op.contains("path") || !op["path"].is_string()) {
            return fail(
                bad_request("error decoding patch: invalid JSON patch operation: " + op.dump()));
          }
        }
        return base.patch(patch);
      }
    }
  } catch (const nlohmann::json::exception& e) {
    return fail(make_error(ErrorKind::Invalid, std::string("the server rejected our request due "
                                                           "to an error in our request: ") +
                                                   e.what()));
  }
  return fail(bad_request("unsupported patch type"));
}

std::string base64_encode(const std::string& in) {
  static const char* k = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
  std::string out;
  size_t i = 0;
  while (i + 2 < in.size()) {
    uint32_t n =
        (uint32_t(uint8_t(in[i])) << 16) | (uint32_t(uint8_t(in[i + 1])) << 8) | uint8_t(in[i + 2]);
    out += k[(n >> 18) & 63];
    out += k[(n >> 12) & 63];
    out += k[(n >> 6) & 63];
    out += k[n & 63];
    i += 3;
  }
  if (i < in.size()) {
    uint32_t n = uint32_t(uint8_t(in[i])) << 16;
    if (i + 1 < in.size()) n |= uint32_t(uint8_t(in[i + 1])) << 8;
    out += k[(n >> 18) & 63];
    out += k[(n >> 12) & 63];
    out += i + 1 < in.size() ? k[(n >> 6) & 63] : '=';
    out += '=';
  }
  return out;
}

// core/v1 Secrets: stringData is write-only. The API server folds each of
// its entries into data (base64; it wins over data's entry of the same key)
// and never stores or returns it.
void fold_secret_string_data(const TypeDef& t, Json& obj) {
  if (!t.group.empty() || t.resource != "secrets") return;
  auto it = obj.find("stringData");
  if (it == obj.end() || !it->is_object()) return;
  const Json plain = *it;
  obj.erase("stringData");
  for (const auto& [k, v] : plain.items()) {
    if (!obj.contains("data") || !obj["data"].is_object()) obj["data"] = Json::object();
    obj["data"][k] = base64_encode(v.is_string() ? v.get<std::string>() : v.dump());
  }
}

bool base64_decode(const std::string& in, std::string& out) {
  out.clear();
  uint32_t buf = 0;
  int bits = 0;
  for (char c : in) {
    int v;
    if (c >= 'A' && c <= 'Z') {
      v = c - 'A';
    } else if (c >= 'a' && c <= 'z') {
      v = c - 'a' + 26;
    } else if (c >= '0' && c <= '9') {
      v = c - '0' + 52;
    } else if (c == '+' || c == '-') {
      v = 62;
    } else if (c == '/' || c == '_') {
      v = 63;
    } else if (c == '=') {
      break;
    } else {
      return false;
    }
    buf = (buf << 6) | uint32_t(v);
    bits += 6;
    if (bits >= 8) {
      bits -= 8;
      out.push_back(char((buf >> bits) & 0xff));
    }
  }
  return true;
}

bool parse_rv(const std::string& s, int64_t& out) {
  if (s.empty() || s.size() > 18) return false;
  int64_t v = 0;
  for (char c : s) {
    if (c < '0' || c > '9') return false;
    v = v * 10 + (c - '0');
  }
  out = v;
  return true;
}

// The real server's token: base64 of {"v":"meta.k8s.io/v1","rv":<list
// revision>,"start":<last key returned>} (apiserver storage.EncodeContinue).
std::string encode_continue(int64_t rv, const std::string& last_key) {
  return base64_encode(Json{{"v", "meta.k8s.io/v1"}, {"rv", rv}, {"start", last_key}}.dump());
}

constexpr char kContinueTooOld[] =
    "The provided continue parameter is too old to display a consistent list result. You can "
    "start a new list without the continue parameter, or use the continue token in this "
    "response to retrieve the remainder of the results. Continuing with the provided token "
    "results in an inconsistent list - objects that were created, modified, or deleted between "
    "the time the first chunk was returned and now may show up in the list.";

// A list's resourceVersion: a decimal no newer than the store's, and none
// with a continue token (the token names the revision).
ApiStatus check_list_version(const ListOptions& opts, int64_t current) {
  if (opts.resource_version.empty()) return ApiStatus::success();
  if (!opts.continue_token.empty()) {
    return fail(bad_request("specifying resource version is not allowed when using continue"));
  }
  int64_t want = 0;
  if (!parse_rv(opts.resource_version, want)) {
    return fail(bad_request("invalid resource version: " + opts.resource_version));
  }
  if (want > current) {
    ApiError e = make_error(ErrorKind::Timeout,
                            "Timeout: Too large resource version: " + opts.resource_version +
                                ", current: " + std::to_string(current));
    e.causes.push_back({"ResourceVersionTooLarge", "Too large resource version", ""});
    e.retry_after_seconds = 1;
    return fail(e);
  }
  return ApiStatus::success();
}

class MemoryWatchStream final : public WatchStream {
 public:
  MemoryWatchStream(std::shared_ptr<Watcher> w, const Clock& clock,
                    std::optional<SteadyTime> deadline)
      : w_(std::move(w)), clock_(clock), deadline_(deadline) {}
  ~MemoryWatchStream() override { cancel(); }

  Next next(std::chrono::milliseconds timeout) override {
    Watcher& w = *w_;
    MutexLock lock(w.mu);
    auto ready = [&w]() REQUIRES(w.mu) { return w.cancelled || !w.queue.empty() || w.ended; };
    auto wait = timeout;
    if (deadline_) {
      auto left =
          std::chrono::duration_cast<std::chrono::milliseconds>(*deadline_ - clock_.steady_now());
      if (left <= std::chrono::milliseconds(0)) w.ended = true;
      wait = std::min(wait, std::max(left, std::chrono::milliseconds(0)));
    }
    lock.wait_for(w.cv, wait, ready);
    if (w.cancelled) return Next{State::Closed, {}};
    if (!w.queue.empty()) {
      Next n{State::Event, std::move(w.queue.front())};
      w.queue.pop_front();
      return n;
    }
    if (deadline_ && clock_.steady_now() >= *deadline_) w.ended = true;
    if (w.ended) return Next{State::Closed, {}};
    return Next{State::Timeout, {}};
  }

  void cancel() override {
    MutexLock lock(w_->mu);
    w_->cancelled = true;
    w_->queue.clear();
    w_->cv.notify_all();
  }

 private:
  std::shared_ptr<Watcher> w_;
  const Clock& clock_;
  std::optional<SteadyTime> deadline_;
};

void push_event(Watcher& w, WatchEvent ev, bool unbounded) {
  MutexLock lock(w.mu);
  if (w.cancelled || w.ended) return;
  if (!unbounded && w.queue.size() >= w.limit) {
    w.ended = true;  // slow watcher: dropped; it drains what it has, then ends
  } else {
    w.queue.push_back(std::move(ev));
  }
  w.cv.notify_all();
}

// Safety net: a JSON library exception (a bug, or input shapes not checked
// elsewhere) becomes an Internal error instead of escaping.
template <typename F>
auto guarded(F&& f) -> decltype(f()) {
  try {
    return f();
  } catch (const nlohmann::json::exception& e) {
    return fail(
        make_error(ErrorKind::Internal, std::string("Internal error occurred: ") + e.what()));
  }
}

}  // namespace

// ---------------------------------------------------------------------------

MemoryStore::Impl::Impl(const Clock& c, MemoryStoreOptions o)
    : clock(c), opts(std::move(o)), rng(opts.seed ? opts.seed : std::random_device{}()) {}

MemoryStore::MemoryStore(const Clock& clock, MemoryStoreOptions options)
    : impl_(std::make_unique<Impl>(clock, std::move(options))) {
  MutexLock lock(impl_->mu);
  impl_->add_builtin_types();
  TypeDef& ns = impl_->types.at("/namespaces");
  for (const char* n : {"default", "kube-system", "kube-public", "kube-node-lease"}) {
    Json obj = {{"apiVersion", "v1"}, {"kind", "Namespace"}, {"metadata", {{"name", n}}}};
    auto r = impl_->create_locked(ns, ns.versions[0], "", obj, false, FieldValidation::Strict, {});
    (void)r;
  }
}

MemoryStore::~MemoryStore() {
  drop_watches();
}

ApiStatus MemoryStore::Impl::before_request(const std::string& verb, const std::string& resource) {
  std::chrono::milliseconds d;
  std::optional<ApiError> err;
  {
    MutexLock lock(fault_mu);
    d = delay;
    for (auto it = faults.begin(); it != faults.end(); ++it) {
      if ((it->verb.empty() || it->verb == verb) &&
          (it->resource.empty() || it->resource == resource)) {
        err = it->error;
        if (--it->count <= 0) faults.erase(it);
        break;
      }
    }
  }
  if (d.count() > 0) std::this_thread::sleep_for(d);
  if (err) return fail(*err);
  return ApiStatus::success();
}

ApiResult<TypeDef*> MemoryStore::Impl::resolve(const Resource& r, const VersionDef** version) {
  auto it = types.find(r.group + "/" + r.resource);
  if (it == types.end()) return fail(unknown_resource());
  const VersionDef* v = it->second.version(r.version);
  if (!v) return fail(unknown_resource());
  *version = v;
  return &it->second;
}

std::string MemoryStore::Impl::now_text() const {
  return format_rfc3339(clock.now());
}

std::string MemoryStore::Impl::new_uid() {
  static const char* hex = "0123456789abcdef";
  std::string s;
  for (int i = 0; i < 32; ++i) {
    s += hex[rng() & 15];
    if (i == 7 || i == 11 || i == 15 || i == 19) s += '-';
  }
  s[14] = '4';
  return s;
}

std::string MemoryStore::Impl::random_suffix() {
  static const char* alphabet = "bcdfghjklmnpqrstvwxz2456789";
  std::string s;
  for (int i = 0; i < 5; ++i)
    s += alphabet[rng() % 27];
  return s;
}

Json MemoryStore::Impl::present(const TypeDef& t, const std::string& version, Json obj) const {
  obj["apiVersion"] = t.api_version(version);
  obj["kind"] = t.kind;
  return obj;
}

std::vector<std::string> MemoryStore::Impl::field_labels(const TypeDef& t,
                                                         const VersionDef& v) const {
  std::vector<std::string> f = {"metadata.name", "metadata.namespace"};
  f.insert(f.end(), t.extra_fields.begin(), t.extra_fields.end());
  for (const auto& s : v.selectable_fields) {
    f.push_back(s.size() && s[0] == '.' ? s.substr(1) : s);
  }
  return f;
}

bool MemoryStore::Impl::watcher_matches(const Watcher& w, const Json& obj) const {
  if (obj.is_null()) return false;
  if (!w.ns.empty() && meta_string(obj, "namespace") != w.ns) return false;
  const Json* labels = find_path(obj, "metadata.labels");
  if (!w.labels.matches(labels ? *labels : Json())) return false;
  return w.fields.matches(obj);
}

std::optional<WatchEvent> MemoryStore::Impl::event_for(const Watcher& w,
                                                       const HistoryEntry& e) const {
  if (e.type_key != w.type_key) return std::nullopt;
  bool was = watcher_matches(w, e.prev);
  bool is = e.type != WatchEventType::Deleted && watcher_matches(w, e.object);
  WatchEventType t;
  if (e.type == WatchEventType::Deleted) {
    if (!was) return std::nullopt;
    t = WatchEventType::Deleted;
  } else if (was && is) {
    t = WatchEventType::Modified;
  } else if (is) {
    t = WatchEventType::Added;
  } else if (was) {
    t = WatchEventType::Deleted;
  } else {
    return std::nullopt;
  }
  Json obj = e.object;
  obj["apiVersion"] = w.api_version;
  obj["kind"] = w.kind;
  return WatchEvent{t, std::move(obj), std::nullopt};
}

void MemoryStore::Impl::notify(const HistoryEntry& e) {
  auto it = watchers.begin();
  while (it != watchers.end()) {
    Watcher& w = **it;
    bool gone;
    {
      MutexLock lock(w.mu);
      gone = w.cancelled || w.ended;
    }
    if (gone) {
      it = watchers.erase(it);
      continue;
    }
    if (auto ev = event_for(w, e)) push_event(w, std::move(*ev), false);
    ++it;
  }
}

void MemoryStore::Impl::record(TypeDef& t, WatchEventType type, Json obj, Json prev) {
  history.push_back(HistoryEntry{rv, t.key(), type, std::move(obj), std::move(prev)});
  while (history.size() > std::max<size_t>(opts.history_size, 1)) {
    compacted_rv = history.front().rv;
    history.pop_front();
  }
  notify(history.back());
}

ApiResult<ListStart> MemoryStore::Impl::list_start(const ListOptions& list) const {
  if (list.continue_token.empty()) return ListStart{rv, ""};
  auto invalid = [](const std::string& why) {
    return fail(bad_request("invalid continue token: continue key is not valid: " + why));
  };
  std::string raw;
  if (!base64_decode(list.continue_token, raw)) return invalid("illegal base64 data");
  const Json tok = Json::parse(raw, nullptr, false);
  if (!tok.is_object()) return invalid("the token is not a JSON object");
  const auto version = tok.find("v");
  if (version == tok.end() || *version != "meta.k8s.io/v1") {
    return invalid("server does not recognize this encoded version \"" +
                   (version != tok.end() && version->is_string() ? version->get<std::string>()
                                                                 : std::string()) +
                   "\"");
  }
  const auto tok_rv = tok.find("rv");
  if (tok_rv == tok.end() || !tok_rv->is_number_integer() || tok_rv->get<int64_t>() == 0) {
    return invalid("incorrect encoded start resourceVersion (version meta.k8s.io/v1)");
  }
  const auto start = tok.find("start");
  if (start == tok.end() || !start->is_string() || start->get<std::string>().empty()) {
    return invalid("encoded start key empty (version meta.k8s.io/v1)");
  }
  const int64_t at = tok_rv->get<int64_t>();
  const std::string after = start->get<std::string>();
  // rv -1: the token an Expired answer carries; continues at the latest
  // revision (an inconsistent list, as the client was told).
  if (at < 0) return ListStart{rv, after};
  if (at > rv) return invalid("the encoded resourceVersion is newer than the server's");
  if (at < compacted_rv) {
    ApiError e = make_error(ErrorKind::Gone, kContinueTooOld);
    e.continue_token = encode_continue(-1, after);
    return fail(e);
  }
  return ListStart{at, after};
}

std::map<std::string, const Json*> MemoryStore::Impl::snapshot_changes(
    const TypeDef& t, int64_t at, const std::string& after) const {
  std::map<std::string, const Json*> then;
  // history is in revision order and holds every change after compacted_rv.
  auto first = std::upper_bound(history.begin(), history.end(), at,
                                [](int64_t v, const HistoryEntry& e) { return v < e.rv; });
  const std::string type_key = t.key();
  for (auto it = first; it != history.end(); ++it) {
    if (it->type_key != type_key) continue;
    const Json& named = it->object;
    std::string key = object_key(t, t.namespaced ? meta_string(named, "namespace") : "",
                                 meta_string(named, "name"));
    if (!after.empty() && key <= after) continue;
    // The earliest change after the snapshot holds the object as it was in
    // it: its previous state (null for a creation).
    then.emplace(std::move(key), &it->prev);
  }
  return then;
}

ObjectList MemoryStore::Impl::list_page(const TypeDef& t, const VersionDef& v,
                                        const std::string& ns, const LabelSelector& labels,
                                        const FieldSelector& fields, const ListStart& start,
                                        int64_t limit) const {
  // Objects changed since the snapshot, as they were in it (null: absent);
  // pointers into the history, which the held lock keeps in place.
  const std::map<std::string, const Json*> then = start.rv < rv
                                                      ? snapshot_changes(t, start.rv, start.after)
                                                      : std::map<std::string, const Json*>{};
  ObjectList out;
  out.resource_version = std::to_string(start.rv);
  auto now_it = start.after.empty() ? t.objects.begin() : t.objects.upper_bound(start.after);
  auto then_it = then.upper_bound(start.after);
  std::string last_key;
  // The current objects merged with the snapshot's differences, in key order.
  while (now_it != t.objects.end() || then_it != then.end()) {
    const bool from_then =
        then_it != then.end() && (now_it == t.objects.end() || then_it->first <= now_it->first);
    const std::string& key = from_then ? then_it->first : now_it->first;
    const Json& o = from_then ? *then_it->second : now_it->second;
    if (from_then) {
      if (now_it != t.objects.end() && now_it->first == key) ++now_it;
      ++then_it;
    } else {
      ++now_it;
    }
    if (o.is_null()) continue;  // created after the snapshot
    if (t.namespaced && !ns.empty() && meta_string(o, "namespace") != ns) continue;
    const Json* label_map = find_path(o, "metadata.labels");
    if (!labels.matches(label_map ? *label_map : Json())) continue;
    if (!fields.matches(o)) continue;
    if (limit > 0 && static_cast<int64_t>(out.items.size()) >= limit) {
      // More remain (remainingItemCount is optional and would make every
      // page O(N)).
      out.continue_token = encode_continue(start.rv, last_key);
      break;
    }
    out.items.push_back(present(t, v.name, o));
    last_key = key;
  }
  return out;
}

ApiStatus MemoryStore::Impl::check_namespace(const TypeDef& t, const std::string& ns,
                                             const std::string& name) {
  if (!t.namespaced) return ApiStatus::success();
  if (ns.empty()) {
    return fail(bad_request("the namespace of the object must be set for a namespaced resource"));
  }
  TypeDef& nst = types.at("/namespaces");
  auto it = nst.objects.find(ns);
  if (it == nst.objects.end()) {
    return fail(make_not_found(resources::kNamespaces, ns));
  }
  if (is_deleting(it->second)) {
    ApiError e = make_error(ErrorKind::Forbidden,
                            t.group_resource() + " \"" + name +
                                "\" is forbidden: unable to create new content in namespace " + ns +
                                " because it is being terminated");
    e.name = name;
    e.group = t.group;
    e.details_kind = t.resource;
    return fail(e);
  }
  return ApiStatus::success();
}

ApiResult<Json> MemoryStore::Impl::create_locked(TypeDef& t, const VersionDef& v,
                                                 const std::string& ns, const Json& in,
                                                 bool dry_run, FieldValidation fv,
                                                 const WarningHandler& warn, const WriteBy& by) {
  if (!in.is_object()) return fail(bad_request("the object must be a JSON object"));
  Json obj = in;
  std::string want_av = t.api_version(v.name);
  if (obj.contains("apiVersion") && obj["apiVersion"] != want_av) {
    return fail(bad_request("the API version in the data (" + scalar_text(&obj["apiVersion"]) +
                            ") does not match the expected API version (" + want_av + ")"));
  }
  if (obj.contains("kind") && obj["kind"] != t.kind) {
    return fail(bad_request(scalar_text(&obj["kind"]) + " in version \"" + v.name +
                            "\" cannot be handled as a " + t.kind + ": kind mismatch"));
  }
  if (!obj.contains("metadata") || !obj["metadata"].is_object()) obj["metadata"] = Json::object();
  Json& meta = obj["metadata"];
  std::string obj_ns = meta_string(obj, "namespace");
  if (t.namespaced) {
    if (!obj_ns.empty() && !ns.empty() && obj_ns != ns) {
      return fail(bad_request(
          "the namespace of the provided object does not match the namespace sent on the "
          "request"));
    }
    std::string eff = ns.empty() ? obj_ns : ns;
    meta["namespace"] = eff;
  } else {
    meta.erase("namespace");
  }
  std::string name = meta_string(obj, "name");
  std::string gen_name = meta_string(obj, "generateName");
  if (name.empty() && gen_name.empty()) {
    return fail(
        make_invalid(t.qualified_kind(), "",
                     {{"FieldValueRequired", "Required value: name or generateName is required",
                       "metadata.name"}}));
  }
  std::string eff_ns = t.namespaced ? meta_string(obj, "namespace") : "";
  if (auto st = check_namespace(t, eff_ns, name.empty() ? gen_name : name); !st.ok()) {
    return fail(st.error());
  }
  if (name.empty()) {
    for (int i = 0; i < 100; ++i) {
      std::string candidate = gen_name + random_suffix();
      if (!t.objects.count(object_key(t, eff_ns, candidate))) {
        name = candidate;
        break;
      }
    }
    if (name.empty()) {
      return fail(make_error(ErrorKind::AlreadyExists, "could not generate a unique name"));
    }
    meta["name"] = name;
  }
  if (!valid_name(name)) {
    return fail(make_invalid(t.qualified_kind(), name,
                             {{"FieldValueInvalid", invalid_name_message(name), "metadata.name"}}));
  }
  std::string key = object_key(t, eff_ns, name);
  if (t.objects.count(key)) return fail(make_already_exists(t.as_resource(v.name), name));

  obj["apiVersion"] = want_av;
  obj["kind"] = t.kind;
  meta.erase("deletionTimestamp");
  meta.erase("deletionGracePeriodSeconds");
  meta.erase("resourceVersion");
  meta["uid"] = new_uid();
  meta["creationTimestamp"] = now_text();
  if (t.generation) {
    meta["generation"] = 1;
  } else {
    meta.erase("generation");
  }
  if (t.has_status(v) && t.custom) obj.erase("status");
  if (t.resource == "namespaces" && t.group.empty()) {
    obj["status"] = {{"phase", "Active"}};
    meta["labels"]["kubernetes.io/metadata.name"] = name;
    if (!obj.contains("spec")) obj["spec"] = {{"finalizers", {"kubernetes"}}};
  }
  fold_secret_string_data(t, obj);
  if (auto st = validate_object(t, v, obj, nullptr, fv, warn); !st.ok()) return fail(st.error());
  if (!by.applied) {
    obj["metadata"].erase("managedFields");
    if (!by.manager.empty()) {
      std::vector<managed::Entry> entries;
      managed::record_update(entries, writer(t, v, by), managed::fields_of(obj), obj);
      set_managed_fields(obj, entries);
    }
  }
  bool is_crd = t.group == "apiextensions.k8s.io" && t.resource == "customresourcedefinitions";
  if (is_crd) set_crd_status(obj);
  if (dry_run) return present(t, v.name, obj);
  ++rv;
  obj["metadata"]["resourceVersion"] = std::to_string(rv);
  t.objects[key] = obj;
  record(t, WatchEventType::Added, obj, Json());
  if (is_crd) register_crd(obj);
  collect_if_orphaned(t, key);
  return present(t, v.name, std::move(obj));
}

ApiResult<Json> MemoryStore::Impl::finish_update(TypeDef& t, const VersionDef& v,
                                                 const std::string& key, const Json& old,
                                                 Json desired, bool dry_run, FieldValidation fv,
                                                 const WarningHandler& warn, const WriteBy& by) {
  if (!desired.is_object()) return fail(bad_request("the object must be a JSON object"));
  if (!desired.contains("metadata") || !desired["metadata"].is_object()) {
    desired["metadata"] = Json::object();
  }
  Json& meta = desired["metadata"];
  const Json& old_meta = old["metadata"];
  std::string name = meta_string(old, "name");
  if (meta.contains("name") && meta["name"] != old_meta["name"]) {
    return fail(bad_request("the name of the object (" + scalar_text(&meta["name"]) +
                            ") does not match the name on the URL (" + name + ")"));
  }
  if (t.namespaced && meta.contains("namespace") && meta["namespace"] != old_meta["namespace"]) {
    return fail(bad_request(
        "the namespace of the provided object does not match the namespace sent on the request"));
  }
  std::string want_av = t.api_version(v.name);
  if (desired.contains("apiVersion") && desired["apiVersion"] != want_av) {
    return fail(bad_request("the API version in the data (" + scalar_text(&desired["apiVersion"]) +
                            ") does not match the expected API version (" + want_av + ")"));
  }
  if (desired.contains("kind") && desired["kind"] != t.kind) {
    return fail(bad_request(scalar_text(&desired["kind"]) + " in version \"" + v.name +
                            "\" cannot be handled as a " + t.kind + ": kind mismatch"));
  }
  desired["apiVersion"] = want_av;
  desired["kind"] = t.kind;
  for (const char* f : {"name", "namespace", "uid", "creationTimestamp", "deletionTimestamp",
                        "deletionGracePeriodSeconds", "generation", "resourceVersion"}) {
    auto it = old_meta.find(f);
    if (it != old_meta.end()) {
      meta[f] = *it;
    } else {
      meta.erase(f);
    }
  }
  if (is_deleting(old)) {
    auto before = finalizers_of(old);
    std::vector<std::string> added;
    for (const auto& f : finalizers_of(desired)) {
      if (std::find(before.begin(), before.end(), f) == before.end()) added.push_back(f);
    }
    if (!added.empty()) {
      std::string list;
      for (size_t i = 0; i < added.size(); ++i) {
        list += (i ? ", \"" : "\"") + added[i] + "\"";
      }
      return fail(make_invalid(
          t.qualified_kind(), name,
          {{"FieldValueForbidden",
            "Forbidden: no new finalizers can be added if the object is being deleted, found new "
            "finalizers []string{" +
                list + "}",
            "metadata.finalizers"}}));
    }
  }
  fold_secret_string_data(t, desired);
  if (auto st = validate_object(t, v, desired, &old, fv, warn); !st.ok()) return fail(st.error());
  if (by.applied) {
    // apply_locked set the entries.
  } else if (by.manager.empty()) {
    const Json* kept = find_path(old, "metadata.managedFields");
    if (kept) {
      desired["metadata"]["managedFields"] = *kept;
    } else {
      desired["metadata"].erase("managedFields");
    }
  } else {
    auto entries = managed::entries_of(old);
    managed::record_update(entries, writer(t, v, by), managed::changed_fields(old, desired),
                           desired);
    set_managed_fields(desired, entries);
  }
  if (t.generation && !same_spec(old, desired, t.has_status(v))) {
    meta["generation"] = generation_of(old) + 1;
  }
  bool is_crd = t.group == "apiextensions.k8s.io" && t.resource == "customresourcedefinitions";
  if (is_crd && !is_deleting(desired)) set_crd_status(desired);
  if (same_content(old, desired) && same_ownership(old, desired)) return present(t, v.name, old);
  if (dry_run) return present(t, v.name, desired);
  ++rv;
  desired["metadata"]["resourceVersion"] = std::to_string(rv);
  if (is_deleting(desired) && finalizers_of(desired).empty()) {
    Json before = old;  // `old` may be the slot overwritten next
    t.objects[key] = desired;
    --rv;  // remove_locked takes the next version itself
    Json gone = remove_locked(t, key, std::move(before));
    return present(t, v.name, gone);
  }
  // `old` may be the stored object itself (MemoryStore::update passes a
  // reference): it is not read after the store's slot is replaced. The
  // previous version moves into the history instead of being copied.
  Json& slot = t.objects[key];
  Json prev = std::exchange(slot, desired);
  record(t, WatchEventType::Modified, desired, std::move(prev));
  if (is_crd) register_crd(desired);
  return present(t, v.name, std::move(desired));
}

managed::Writer MemoryStore::Impl::writer(const TypeDef& t, const VersionDef& v,
                                          const WriteBy& by) const {
  return managed::Writer{by.manager, t.api_version(v.name), by.subresource, now_text()};
}

ApiResult<Json> MemoryStore::Impl::apply_create_locked(TypeDef& t, const VersionDef& v,
                                                       const std::string& ns,
                                                       const std::string& name, const Json& patch,
                                                       const PatchOptions& req) {
  if (auto st = check_apply_config(t, v, patch, name); !st.ok()) return fail(st.error());
  Json obj = patch;
  if (t.has_status(v)) obj.erase("status");
  const WriteBy by{req.field_manager, "", true};
  auto outcome = managed::apply(Json::object(), {}, obj, writer(t, v, by), false);
  obj["metadata"]["name"] = name;
  if (t.namespaced) obj["metadata"]["namespace"] = ns;
  set_managed_fields(obj, outcome.entries);
  return create_locked(t, v, ns, obj, req.dry_run, req.field_validation, req.on_warning, by);
}

ApiResult<Json> MemoryStore::Impl::apply_locked(TypeDef& t, const VersionDef& v,
                                                const std::string& key, const Json& old,
                                                const Json& patch, const PatchOptions& req) {
  const std::string name = meta_string(old, "name");
  if (auto st = check_apply_config(t, v, patch, name); !st.ok()) return fail(st.error());
  const std::string want_rv = meta_string(patch, "resourceVersion");
  if (!want_rv.empty() && want_rv != meta_string(old, "resourceVersion")) {
    return fail(make_conflict(t.as_resource(v.name), name,
                              "the object has been modified; please apply your changes to the "
                              "latest version and try again"));
  }
  // The status subresource takes only .status; the main resource ignores it.
  Json config;
  if (req.subresource == "status") {
    config = Json::object();
    if (patch.contains("status")) config["status"] = patch["status"];
  } else {
    config = patch;
    if (t.has_status(v)) config.erase("status");
  }
  const WriteBy by{req.field_manager, req.subresource, true};
  auto outcome = managed::apply(old, managed::entries_of(old), config, writer(t, v, by), req.force);
  if (!outcome.conflicts.empty()) return fail(managed::conflict_error(outcome.conflicts));
  Json desired = std::move(outcome.object);
  set_managed_fields(desired, outcome.entries);
  return finish_update(t, v, key, old, std::move(desired), req.dry_run, req.field_validation,
                       req.on_warning, by);
}

Json MemoryStore::Impl::remove_locked(TypeDef& t, const std::string& key,
                                      std::optional<Json> stored) {
  Json obj = t.objects.at(key);
  Json prev = stored ? std::move(*stored) : obj;
  t.objects.erase(key);
  ++rv;
  obj["metadata"]["resourceVersion"] = std::to_string(rv);
  std::string type_key = t.key();
  record(t, WatchEventType::Deleted, obj, prev);
  if (t.group == "apiextensions.k8s.io" && t.resource == "customresourcedefinitions") {
    unregister_crd(obj);
  }
  after_removal(obj);
  return obj;
}

void MemoryStore::Impl::collect_if_orphaned(TypeDef& t, const std::string& key) {
  auto it = t.objects.find(key);
  if (it == t.objects.end()) return;
  const Json* refs = find_path(it->second, "metadata.ownerReferences");
  if (!refs || !refs->is_array() || refs->empty()) return;
  for (const auto& ref : *refs) {
    if (!ref.is_object() || !ref.contains("uid") || !ref["uid"].is_string()) return;
    if (!removed_uids.count(ref["uid"].get<std::string>())) return;
  }
  DeleteOptions o;
  o.propagation_policy = PropagationPolicy::Background;
  (void)delete_locked(t, key, o);
}

void MemoryStore::Impl::after_removal(const Json& removed) {
  std::string uid = meta_string(removed, "uid");
  if (!uid.empty() && removed_uids.insert(uid).second) {
    removed_order.push_back(uid);
    if (removed_order.size() > kRemovedUidsKept) {
      removed_uids.erase(removed_order.front());
      removed_order.pop_front();
    }
  }
  // Garbage-collect dependents (background).
  struct Dep {
    std::string type_key;
    std::string key;
  };
  std::vector<Dep> deps;
  for (auto& [tk, t] : types) {
    for (auto& [k, o] : t.objects) {
      const Json* refs = find_path(o, "metadata.ownerReferences");
      if (!refs || !refs->is_array()) continue;
      for (const auto& ref : *refs) {
        if (ref.is_object() && ref.contains("uid") && ref["uid"] == uid) {
          deps.push_back({tk, k});
          break;
        }
      }
    }
  }
  for (const auto& d : deps) {
    auto tit = types.find(d.type_key);
    if (tit == types.end() || !tit->second.objects.count(d.key)) continue;
    DeleteOptions o;
    o.propagation_policy = PropagationPolicy::Background;
    (void)delete_locked(tit->second, d.key, o);
  }
  // Owners waiting in foreground deletion for this dependent.
  const Json* refs = find_path(removed, "metadata.ownerReferences");
  std::vector<std::string> owner_uids;
  if (refs && refs->is_array()) {
    for (const auto& ref : *refs) {
      if (ref.is_object() && ref.contains("uid") && ref["uid"].is_string()) {
        owner_uids.push_back(ref["uid"].get<std::string>());
      }
    }
  }
  for (const auto& owner_uid : owner_uids)
    release_foreground_owner(owner_uid);
  // A terminating namespace disappears once empty.
  std::string ns = meta_string(removed, "namespace");
  if (!ns.empty()) {
    TypeDef& nst = types.at("/namespaces");
    auto it = nst.objects.find(ns);
    if (it != nst.objects.end() && is_deleting(it->second)) {
      bool empty = true;
      for (auto& [tk, t] : types) {
        if (!t.namespaced) continue;
        for (auto& [k, o] : t.objects) {
          if (meta_string(o, "namespace") == ns) {
            empty = false;
            break;
          }
        }
        if (!empty) break;
      }
      if (empty) remove_locked(nst, ns);
    }
  }
}

bool MemoryStore::Impl::has_dependents(const std::string& owner_uid) const {
  for (const auto& [tk, t] : types) {
    for (const auto& [k, o] : t.objects) {
      const Json* refs = find_path(o, "metadata.ownerReferences");
      if (!refs || !refs->is_array()) continue;
      for (const auto& r : *refs) {
        if (r.is_object() && r.contains("uid") && r["uid"] == owner_uid) return true;
      }
    }
  }
  return false;
}

void MemoryStore::Impl::release_foreground_owner(const std::string& owner_uid) {
  TypeDef* owner_type = nullptr;
  std::string owner_key;
  for (auto& [tk, t] : types) {
    for (auto& [k, o] : t.objects) {
      if (meta_string(o, "uid") == owner_uid) {
        owner_type = &t;
        owner_key = k;
      }
    }
  }
  if (!owner_type) return;
  const Json old = owner_type->objects.at(owner_key);
  auto fins = finalizers_of(old);
  if (!is_deleting(old) || std::find(fins.begin(), fins.end(), kForeground) == fins.end()) return;
  if (has_dependents(owner_uid)) return;
  Json next = old;
  fins.erase(std::remove(fins.begin(), fins.end(), kForeground), fins.end());
  set_finalizers(next, fins);
  (void)finish_update(*owner_type, owner_type->versions.front(), owner_key, old, next, false,
                      FieldValidation::Ignore, {});
}

ApiResult<DeleteResult> MemoryStore::Impl::delete_locked(TypeDef& t, const std::string& key,
                                                         const DeleteOptions& o) {
  Json& cur = t.objects.at(key);
  std::string name = meta_string(cur, "name");
  if (o.precondition_uid && *o.precondition_uid != meta_string(cur, "uid")) {
    ApiError e = make_conflict(t.as_resource(t.versions.front().name), name,
                               "Precondition failed: UID in precondition: " + *o.precondition_uid +
                                   ", UID in object meta: " + meta_string(cur, "uid"));
    return fail(e);
  }
  if (o.precondition_resource_version &&
      *o.precondition_resource_version != meta_string(cur, "resourceVersion")) {
    ApiError e = make_error(
        ErrorKind::Conflict,
        "Operation cannot be fulfilled on " + t.qualified_kind() + " \"" + name +
            "\": the ResourceVersion in the precondition (" + *o.precondition_resource_version +
            ") does not match the ResourceVersion in record (" +
            meta_string(cur, "resourceVersion") + "). The object might have been modified");
    e.name = name;
    e.group = t.group;
    e.details_kind = t.resource;
    return fail(e);
  }
  if (is_deleting(cur)) return DeleteResult{false, cur};
  Json next = cur;
  auto fins = finalizers_of(next);
  std::string uid = meta_string(cur, "uid");
  if (o.propagation_policy == PropagationPolicy::Foreground) {
    if (has_dependents(uid) && std::find(fins.begin(), fins.end(), kForeground) == fins.end()) {
      fins.emplace_back(kForeground);
    }
  }
  bool is_namespace = t.group.empty() && t.resource == "namespaces";
  if (o.dry_run) {
    if (fins.empty() && !is_namespace) return DeleteResult{true, cur};
    next["metadata"]["deletionTimestamp"] = now_text();
    return DeleteResult{false, next};
  }
  if (o.propagation_policy == PropagationPolicy::Orphan) {
    for (auto& [tk, tt] : types) {
      for (auto& [k, ob] : tt.objects) {
        Json* refs = ob.contains("metadata") && ob["metadata"].contains("ownerReferences")
                         ? &ob["metadata"]["ownerReferences"]
                         : nullptr;
        if (!refs || !refs->is_array()) continue;
        Json kept = Json::array();
        for (const auto& r : *refs) {
          if (!(r.is_object() && r.contains("uid") && r["uid"] == uid)) kept.push_back(r);
        }
        if (kept.size() == refs->size()) continue;
        Json before = ob;
        if (kept.empty()) {
          ob["metadata"].erase("ownerReferences");
        } else {
          *refs = kept;
        }
        ++rv;
        ob["metadata"]["resourceVersion"] = std::to_string(rv);
        record(tt, WatchEventType::Modified, ob, before);
      }
    }
  }
  if (fins.empty() && !is_namespace) {
    Json gone = remove_locked(t, key);
    return DeleteResult{true, gone};
  }
  set_finalizers(next, fins);
  next["metadata"]["deletionTimestamp"] = now_text();
  next["metadata"]["deletionGracePeriodSeconds"] = 0;
  if (t.generation) next["metadata"]["generation"] = generation_of(next) + 1;
  if (is_namespace) next["status"]["phase"] = "Terminating";
  ++rv;
  next["metadata"]["resourceVersion"] = std::to_string(rv);
  Json prev = cur;
  cur = next;
  record(t, WatchEventType::Modified, next, prev);
  if (o.propagation_policy == PropagationPolicy::Foreground || is_namespace) {
    // Delete dependents (or, for a namespace, its contents) now.
    struct Dep {
      std::string type_key;
      std::string key;
    };
    std::vector<Dep> deps;
    std::string ns_name = meta_string(next, "name");
    for (auto& [tk, tt] : types) {
      for (auto& [k, ob] : tt.objects) {
        bool dep = false;
        if (is_namespace) {
          dep = tt.namespaced && meta_string(ob, "namespace") == ns_name;
        } else {
          const Json* refs = find_path(ob, "metadata.ownerReferences");
          if (refs && refs->is_array()) {
            for (const auto& r : *refs) {
              if (r.is_object() && r.contains("uid") && r["uid"] == uid) dep = true;
            }
          }
        }
        if (dep) deps.push_back({tk, k});
      }
    }
    for (const auto& d : deps) {
      auto tit = types.find(d.type_key);
      if (tit == types.end() || !tit->second.objects.count(d.key)) continue;
      DeleteOptions bo;
      bo.propagation_policy = PropagationPolicy::Background;
      (void)delete_locked(tit->second, d.key, bo);
    }
    if (is_namespace && t.objects.count(key)) {
      bool empty = true;
      for (auto& [tk, tt] : types) {
        if (!tt.namespaced) continue;
        for (auto& [k, ob] : tt.objects) {
          if (meta_string(ob, "namespace") == ns_name) empty = false;
        }
      }
      if (empty) {
        Json gone = remove_locked(t, key);
        return DeleteResult{true, gone};
      }
    }
  }
  auto it = t.objects.find(key);
  if (it == t.objects.end()) return DeleteResult{true, next};
  return DeleteResult{false, it->second};
}

// ---------------------------------------------------------------------------
// Verbs

ApiResult<Json> MemoryStore::get(const Resource& r, const std::string& ns, const std::string& name,
                                 const GetOptions& opts) {
  return guarded([&]() -> ApiResult<Json> {
    if (auto st = impl_->before_request("get", r.resource); !st.ok()) return fail(st.error());
    MutexLock lock(impl_->mu);
    const VersionDef* v = nullptr;
    auto t = impl_->resolve(r, &v);
    if (!t.ok()) return fail(t.error());
    TypeDef& td = *t.value();
    auto it = td.objects.find(object_key(td, ns, name));
    if (it == td.objects.end()) return fail(make_not_found(td.as_resource(v->name), name));
    if (opts.subresource == "scale") return impl_->scale_of(td, *v, it->second);
    if (!opts.subresource.empty() && !(opts.subresource == "status" && td.has_status(*v))) {
      return fail(unknown_resource());
    }
    return impl_->present(td, v->name, it->second);
  });
}

ApiResult<ObjectList> MemoryStore::list(const Resource& r, const std::string& ns,
                                        const ListOptions& opts) {
  return guarded([&]() -> ApiResult<ObjectList> {
    if (auto st = impl_->before_request("list", r.resource); !st.ok()) return fail(st.error());
    MutexLock lock(impl_->mu);
    const VersionDef* v = nullptr;
    auto t = impl_->resolve(r, &v);
    if (!t.ok()) return fail(t.error());
    TypeDef& td = *t.value();
    auto ls = LabelSelector::parse(opts.label_selector);
    if (!ls.ok()) return fail(bad_request(ls.error().message));
    auto fs = FieldSelector::parse(opts.field_selector, impl_->field_labels(td, *v));
    if (!fs.ok()) return fail(bad_request(fs.error().message));
    if (auto st = check_list_version(opts, impl_->rv); !st.ok()) return fail(st.error());
    auto start = impl_->list_start(opts);
    if (!start.ok()) return fail(start.error());
    return impl_->list_page(td, *v, ns, ls.value(), fs.value(), start.value(), opts.limit);
  });
}

ApiResult<Json> MemoryStore::create(const Resource& r, const std::string& ns, const Json& obj,
                                    const CreateOptions& opts) {
  return guarded([&]() -> ApiResult<Json> {
    if (auto st = impl_->before_request("create", r.resource); !st.ok()) return fail(st.error());
    MutexLock lock(impl_->mu);
    const VersionDef* v = nullptr;
    auto t = impl_->resolve(r, &v);
    if (!t.ok()) return fail(t.error());
    if (!opts.subresource.empty()) {
      if (opts.subresource != "eviction" || !t.value()->eviction_subresource) {
        return fail(make_error(ErrorKind::NotFound,
                               "the server could not find the requested "
                               "resource"));
      }
      return impl_->evict_locked(*t.value(), ns, obj, opts.dry_run);
    }
    return impl_->create_locked(*t.value(), *v, t.value()->namespaced ? ns : "", obj, opts.dry_run,
                                opts.field_validation, opts.on_warning,
                                WriteBy{opts.field_manager, "", false});
  });
}

ApiResult<Json> MemoryStore::update(const Resource& r, const Json& obj, const UpdateOptions& opts) {
  return guarded([&]() -> ApiResult<Json> {
    if (auto st = impl_->before_request("update", r.resource); !st.ok()) return fail(st.error());
    MutexLock lock(impl_->mu);
    const VersionDef* v = nullptr;
    auto t = impl_->resolve(r, &v);
    if (!t.ok()) return fail(t.error());
    TypeDef& td = *t.value();
    if (!obj.is_object()) return fail(bad_request("the object must be a JSON object"));
    std::string name = meta_string(obj, "name");
    std::string ns = td.namespaced ? meta_string(obj, "namespace") : "";
    if (name.empty()) {
      return fail(make_invalid(
          td.qualified_kind(), "",
          {{"FieldValueRequired", "Required value: name is required", "metadata.name"}}));
    }
    std::string key = object_key(td, ns, name);
    auto it = td.objects.find(key);
    if (it == td.objects.end()) {
      if (opts.subresource.empty() && td.create_on_update) {
        return impl_->create_locked(td, *v, ns, obj, opts.dry_run, opts.field_validation,
                                    opts.on_warning, WriteBy{opts.field_manager, "", false});
      }
      return fail(make_not_found(td.as_resource(v->name), name));
    }
    // A reference, not a copy: finish_update reads it only before it
    // replaces the stored object.
    const Json& old = it->second;
    std::string want_rv = meta_string(obj, "resourceVersion");
    std::string have_rv = meta_string(old, "resourceVersion");
    if (opts.subresource == "scale") {
      if (!td.custom || !v->scale) return fail(unknown_resource());
      if (!want_rv.empty() && want_rv != have_rv) {
        return fail(make_conflict(td.as_resource(v->name), name,
                                  "the object has been modified; please apply your changes to the "
                                  "latest version and try again"));
      }
      auto desired = impl_->apply_scale(td, *v, old, obj);
      if (!desired.ok()) return fail(desired.error());
      auto res = impl_->finish_update(td, *v, key, old, desired.value(), opts.dry_run,
                                      opts.field_validation, opts.on_warning,
                                      WriteBy{opts.field_manager, "scale", false});
      if (!res.ok()) return res;
      return impl_->scale_of(td, *v, res.value());
    }
    if (want_rv.empty()) {
      if (!td.unconditional_update) {
        return fail(make_invalid(
            td.group_resource(), name,
            {{"FieldValueInvalid", "Invalid value: 0x0: must be specified for an update",
              "metadata.resourceVersion"}}));
      }
    } else if (want_rv != have_rv) {
      return fail(make_conflict(td.as_resource(v->name), name,
                                "the object has been modified; please apply your changes to the "
                                "latest version and try again"));
    }
    Json desired;
    if (opts.subresource == "status") {
      if (!td.has_status(*v)) return fail(unknown_resource());
      desired = old;
      if (obj.contains("status")) {
        desired["status"] = obj["status"];
      } else {
        desired.erase("status");
      }
    } else if (opts.subresource.empty()) {
      desired = obj;
      if (td.has_status(*v)) {
        if (old.contains("status")) {
          desired["status"] = old["status"];
        } else {
          desired.erase("status");
        }
      }
    } else {
      return fail(unknown_resource());
    }
    return impl_->finish_update(td, *v, key, old, std::move(desired), opts.dry_run,
                                opts.field_validation, opts.on_warning,
                                WriteBy{opts.field_manager, opts.subresource, false});
  });
}

ApiResult<Json> MemoryStore::patch(const Resource& r, const std::string& ns,
                                   const std::string& name, PatchType type, const Json& patch,
                                   const PatchOptions& opts) {
  return guarded([&]() -> ApiResult<Json> {
    if (auto st = impl_->before_request("patch", r.resource); !st.ok()) return fail(st.error());
    MutexLock lock(impl_->mu);
    const VersionDef* v = nullptr;
    auto t = impl_->resolve(r, &v);
    if (!t.ok()) return fail(t.error());
    TypeDef& td = *t.value();
    if (type == PatchType::StrategicMerge && !td.strategic_merge) {
      return fail(make_error(
          ErrorKind::UnsupportedMediaType,
          "the body of the request was in an unknown format - accepted media types include: "
          "application/json-patch+json, application/merge-patch+json, "
          "application/apply-patch+yaml"));
    }
    if (type == PatchType::Apply && opts.field_manager.empty()) {
      return fail(make_invalid(
          "PatchOptions.meta.k8s.io", "",
          {{"FieldValueRequired", "Required value: is required for apply patch", "fieldManager"}}));
    }
    if (opts.force && type != PatchType::Apply) {
      return fail(make_invalid("PatchOptions.meta.k8s.io", "",
                               {{"FieldValueForbidden",
                                 "Forbidden: may not be specified for non-apply patch", "force"}}));
    }
    std::string eff_ns = td.namespaced ? ns : "";
    std::string key = object_key(td, eff_ns, name);
    auto it = td.objects.find(key);
    if (it == td.objects.end()) {
      if (type == PatchType::Apply && opts.subresource.empty()) {
        return impl_->apply_create_locked(td, *v, eff_ns, name, patch, opts);
      }
      return fail(make_not_found(td.as_resource(v->name), name));
    }
    const Json old = it->second;
    std::string have_rv = meta_string(old, "resourceVersion");
    if (opts.subresource == "scale") {
      if (!td.custom || !v->scale) return fail(unknown_resource());
      auto cur_scale = impl_->scale_of(td, *v, old);
      if (!cur_scale.ok()) return fail(cur_scale.error());
      auto patched = apply_patch(cur_scale.value(), type, patch);
      if (!patched.ok()) return fail(patched.error());
      std::string want_rv = meta_string(patched.value(), "resourceVersion");
      if (!want_rv.empty() && want_rv != have_rv) {
        return fail(make_conflict(td.as_resource(v->name), name,
                                  "the object has been modified; please apply your changes to the "
                                  "latest version and try again"));
      }
      auto desired = impl_->apply_scale(td, *v, old, patched.value());
      if (!desired.ok()) return fail(desired.error());
      auto res = impl_->finish_update(td, *v, key, old, desired.value(), opts.dry_run,
                                      opts.field_validation, opts.on_warning,
                                      WriteBy{opts.field_manager, "scale", false});
      if (!res.ok()) return res;
      return impl_->scale_of(td, *v, res.value());
    }
    if (!opts.subresource.empty() && !(opts.subresource == "status" && td.has_status(*v))) {
      return fail(unknown_resource());
    }
    if (type == PatchType::Apply) return impl_->apply_locked(td, *v, key, old, patch, opts);
    Json base = impl_->present(td, v->name, old);
    auto patched = apply_patch(base, type, patch);
    if (!patched.ok()) return fail(patched.error());
    Json p = std::move(patched.value());
    if (!p.is_object()) return fail(bad_request("the patched object must be a JSON object"));
    std::string want_rv = meta_string(p, "resourceVersion");
    if (!want_rv.empty() && want_rv != have_rv) {
      return fail(make_conflict(td.as_resource(v->name), name,
                                "the object has been modified; please apply your changes to the "
                                "latest version and try again"));
    }
    Json desired;
    if (opts.subresource == "status") {
      desired = old;
      if (p.contains("status")) {
        desired["status"] = p["status"];
      } else {
        desired.erase("status");
      }
    } else {
      desired = std::move(p);
      if (td.has_status(*v)) {
        if (old.contains("status")) {
          desired["status"] = old["status"];
        } else {
          desired.erase("status");
        }
      }
    }
    return impl_->finish_update(td, *v, key, old, std::move(desired), opts.dry_run,
                                opts.field_validation, opts.on_warning,
                                WriteBy{opts.field_manager, opts.subresource, false});
  });
}

ApiResult<DeleteResult> MemoryStore::remove(const Resource& r, const std::string& ns,
                                            const std::string& name, const DeleteOptions& opts) {
  return guarded([&]() -> ApiResult<DeleteResult> {
    if (auto st = impl_->before_request("delete", r.resource); !st.ok()) return fail(st.error());
    MutexLock lock(impl_->mu);
    const VersionDef* v = nullptr;
    auto t = impl_->resolve(r, &v);
    if (!t.ok()) return fail(t.error());
    TypeDef& td = *t.value();
    std::string key = object_key(td, td.namespaced ? ns : "", name);
    if (!td.objects.count(key)) return fail(make_not_found(td.as_resource(v->name), name));
    auto res = impl_->delete_locked(td, key, opts);
    if (!res.ok()) return res;
    DeleteResult out = std::move(res.value());
    out.object = impl_->present(td, v->name, std::move(out.object));
    return out;
  });
}

ApiResult<std::unique_ptr<WatchStream>> MemoryStore::watch(const Resource& r, const std::string& ns,
                                                           const WatchOptions& opts) {
  return guarded([&]() -> ApiResult<std::unique_ptr<WatchStream>> {
    if (auto st = impl_->before_request("watch", r.resource); !st.ok()) return fail(st.error());
    MutexLock lock(impl_->mu);
    const VersionDef* v = nullptr;
    auto t = impl_->resolve(r, &v);
    if (!t.ok()) return fail(t.error());
    TypeDef& td = *t.value();
    auto ls = LabelSelector::parse(opts.label_selector);
    if (!ls.ok()) return fail(bad_request(ls.error().message));
    auto fs = FieldSelector::parse(opts.field_selector, impl_->field_labels(td, *v));
    if (!fs.ok()) return fail(bad_request(fs.error().message));
    int64_t from = 0;
    bool initial = opts.resource_version.empty() || opts.resource_version == "0";
    if (!initial && !parse_rv(opts.resource_version, from)) {
      return fail(bad_request("invalid resource version: " + opts.resource_version));
    }
    auto w = std::make_shared<Watcher>();
    w->type_key = td.key();
    w->api_version = td.api_version(v->name);
    w->kind = td.kind;
    w->ns = td.namespaced ? ns : "";
    w->labels = std::move(ls.value());
    w->fields = std::move(fs.value());
    w->bookmarks = opts.allow_bookmarks;
    w->limit = std::max<size_t>(impl_->opts.watcher_queue_limit, 1);
    std::optional<SteadyTime> deadline;
    if (opts.timeout) deadline = impl_->clock.steady_now() + *opts.timeout;
    auto stream = std::make_unique<MemoryWatchStream>(w, impl_->clock, deadline);
    if (initial) {
      for (const auto& [k, o] : td.objects) {
        if (!impl_->watcher_matches(*w, o)) continue;
        push_event(*w,
                   WatchEvent{WatchEventType::Added, impl_->present(td, v->name, o), std::nullopt},
                   true);
      }
    } else if (from < impl_->compacted_rv) {
      ApiError e =
          make_error(ErrorKind::Gone, "too old resource version: " + opts.resource_version + " (" +
                                          std::to_string(impl_->compacted_rv) + ")");
      push_event(*w, WatchEvent{WatchEventType::Error, to_status_json(e), e}, true);
      MutexLock wl(w->mu);
      w->ended = true;
      return std::unique_ptr<WatchStream>(std::move(stream));
    } else {
      for (const auto& e : impl_->history) {
        if (e.rv <= from) continue;
        if (auto ev = impl_->event_for(*w, e)) push_event(*w, std::move(*ev), true);
      }
    }
    impl_->watchers.push_back(w);
    return std::unique_ptr<WatchStream>(std::move(stream));
  });
}

// ---------------------------------------------------------------------------
// Registry queries and test hooks

namespace {
TypeInfo type_info(const TypeDef& t, const VersionDef& v) {
  TypeInfo i;
  i.resource = t.as_resource(v.name);
  i.list_kind = t.list_kind;
  i.singular = t.singular;
  i.short_names = t.short_names;
  i.categories = t.categories;
  i.custom = t.custom;
  i.status_subresource = t.has_status(v);
  i.eviction_subresource = t.eviction_subresource;
  i.scale = v.scale;
  i.printer_columns = v.columns;
  i.strategic_merge = t.strategic_merge;
  i.field_selectors = {"metadata.name", "metadata.namespace"};
  i.field_selectors.insert(i.field_selectors.end(), t.extra_fields.begin(), t.extra_fields.end());
  for (const auto& f : v.selectable_fields) {
    i.field_selectors.push_back(!f.empty() && f[0] == '.' ? f.substr(1) : f);
  }
  i.schema = v.schema;  // shared, not copied
  return i;
}
}  // namespace

std::vector<TypeInfo> MemoryStore::served_types() const {
  MutexLock lock(impl_->mu);
  std::vector<TypeInfo> out;
  for (bool custom : {false, true}) {
    for (const auto& [k, t] : impl_->types) {
      if (t.custom != custom) continue;
      for (const auto& v : t.versions) {
        if (v.served) out.push_back(type_info(t, v));
      }
    }
  }
  return out;
}

std::optional<TypeInfo> MemoryStore::find_type(const std::string& group, const std::string& version,
                                               const std::string& resource) const {
  MutexLock lock(impl_->mu);
  auto it = impl_->types.find(group + "/" + resource);
  if (it == impl_->types.end()) return std::nullopt;
  const VersionDef* v = it->second.version(version);
  if (!v) return std::nullopt;
  return type_info(it->second, *v);
}

std::optional<TypeInfo> MemoryStore::find_type_by_kind(const std::string& api_version,
                                                       const std::string& kind) const {
  MutexLock lock(impl_->mu);
  size_t slash = api_version.find('/');
  std::string group = slash == std::string::npos ? "" : api_version.substr(0, slash);
  std::string version = slash == std::string::npos ? api_version : api_version.substr(slash + 1);
  for (const auto& [k, t] : impl_->types) {
    if (t.group != group || t.kind != kind) continue;
    const VersionDef* v = t.version(version);
    if (v) return type_info(t, *v);
  }
  return std::nullopt;
}

bool MemoryStore::exists(const Resource& r, const std::string& ns, const std::string& name) const {
  MutexLock lock(impl_->mu);
  auto it = impl_->types.find(r.group + "/" + r.resource);
  if (it == impl_->types.end()) return false;
  return it->second.objects.count(object_key(it->second, ns, name)) > 0;
}

int64_t MemoryStore::resource_version() const {
  MutexLock lock(impl_->mu);
  return impl_->rv;
}

void MemoryStore::drop_watches() {
  MutexLock lock(impl_->mu);
  for (auto& w : impl_->watchers) {
    MutexLock wl(w->mu);
    w->ended = true;
    w->queue.clear();
    w->cv.notify_all();
  }
  impl_->watchers.clear();
}

void MemoryStore::inject_fault(FaultRule rule) {
  MutexLock lock(impl_->fault_mu);
  impl_->faults.push_back(std::move(rule));
}

void MemoryStore::clear_faults() {
  MutexLock lock(impl_->fault_mu);
  impl_->faults.clear();
}

void MemoryStore::set_delay(std::chrono::milliseconds delay) {
  MutexLock lock(impl_->fault_mu);
  impl_->delay = delay;
}

void MemoryStore::compact() {
  MutexLock lock(impl_->mu);
  impl_->history.clear();
  impl_->compacted_rv = impl_->rv;
}

void MemoryStore::send_bookmarks() {
  MutexLock lock(impl_->mu);
  for (auto& w : impl_->watchers) {
    if (!w->bookmarks) continue;
    Json obj = {{"apiVersion", w->api_version},
                {"kind", w->kind},
                {"metadata", {{"resourceVersion", std::to_string(impl_->rv)}}}};
    push_event(*w, WatchEvent{WatchEventType::Bookmark, std::move(obj), std::nullopt}, true);
  }
}

size_t MemoryStore::watcher_count() const {
  MutexLock lock(impl_->mu);
  size_t n = 0;
  for (const auto& w : impl_->watchers) {
    MutexLock wl(w->mu);
    if (!w->cancelled && !w->ended) ++n;
  }
  return n;
}

}  // namespace gpupool::kube
