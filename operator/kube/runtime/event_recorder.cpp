#include "operator/kube/runtime/event_recorder.h"

#include <cstdio>

namespace gpupool::kube {

EventRecorder::EventRecorder(KubeApi& api, const Clock& clock, std::string component,
                             std::string host, size_t max_cached)
    : api_(api),
      clock_(clock),
      component_(std::move(component)),
      host_(std::move(host)),
      max_cached_(max_cached == 0 ? 1 : max_cached) {}

ApiStatus EventRecorder::record(const Json& involved, const std::string& type,
                                const std::string& reason, const std::string& message) {
  const Json md = involved.value("metadata", Json::object());
  const std::string obj_ns = md.value("namespace", "");
  const std::string obj_name = md.value("name", "");
  if (obj_name.empty()) {
    return fail(make_error(ErrorKind::BadRequest, "event about an object without a name"));
  }
  const std::string ns = obj_ns.empty() ? "default" : obj_ns;
  const Json ref = {{"apiVersion", involved.value("apiVersion", "")},
                    {"kind", involved.value("kind", "")},
                    {"name", obj_name},
                    {"namespace", obj_ns},
                    {"uid", md.value("uid", "")},
                    {"resourceVersion", md.value("resourceVersion", "")}};
  const std::string key = ref["uid"].get<std::string>() + "\x1f" + ref["kind"].get<std::string>() +
                          "\x1f" + obj_ns + "\x1f" + obj_name + "\x1f" + type + "\x1f" + reason +
                          "\x1f" + message;
  const std::string now = format_rfc3339(clock_.now());

  MutexLock lock(mu_);
  auto it = cache_.find(key);
  if (it != cache_.end()) {
    Entry& e = it->second;
    lru_.erase(e.lru);
    lru_.push_front(key);
    e.lru = lru_.begin();
    const Json patch = {{"count", e.count + 1}, {"lastTimestamp", now}, {"message", message}};
    auto r = api_.patch(resources::kEvents, e.namespace_, e.name, PatchType::StrategicMerge, patch);
    if (r) {
      ++e.count;
      ++patched_;
      return {};
    }
    if (r.error().kind != ErrorKind::NotFound) return fail(r.error());
    // The event expired on the server: start over with a new one.
    lru_.erase(e.lru);
    cache_.erase(it);
  }
  char suffix[32];
  const auto nanos =
      static_cast<unsigned long long>(clock_.now().time_since_epoch().count()) * 1'000'000'000ULL +
      (++sequence_ % 1'000'000'000ULL);
  std::snprintf(suffix, sizeof suffix, "%llx", nanos);
  const std::string name = obj_name + "." + suffix;
  Json event = {{"apiVersion", "v1"},
                {"kind", "Event"},
                {"metadata", {{"name", name}, {"namespace", ns}}},
                {"involvedObject", ref},
                {"reason", reason},
                {"message", message},
                {"type", type},
                {"source", {{"component", component_}}},
                {"firstTimestamp", now},
                {"lastTimestamp", now},
                {"count", 1},
                {"reportingComponent", component_},
                {"reportingInstance", host_}};
  if (!host_.empty()) event["source"]["host"] = host_;
  auto created = api_.create(resources::kEvents, ns, event);
  if (!created) return fail(created.error());
  ++created_;
  lru_.push_front(key);
  cache_[key] = Entry{ns, name, 1, lru_.begin()};
  while (cache_.size() > max_cached_) {
    cache_.erase(lru_.back());
    lru_.pop_back();
  }
  return {};
}

}  // namespace gpupool::kube
