#include "operator/controllers/endpoint_slices.h"

#include <arpa/inet.h>

#include <algorithm>
#include <cctype>
#include <map>
#include <mutex>
#include <tuple>

#include "operator/core/api_codec.h"
#include "operator/core/pool_decision.h"

namespace gpupool::controllers {
namespace {

using api::InstancePhase;
using kube::Json;
using kube::ReconcileResult;

using kube::resources::kEndpointSlices;
using kube::resources::kServices;

bool is_dns_label(std::string_view s, bool must_start_with_letter) {
  if (s.empty() || s.size() > 63) return false;
  auto alnum = [](char c) {
    return std::islower(static_cast<unsigned char>(c)) ||
           std::isdigit(static_cast<unsigned char>(c));
  };
  if (!alnum(s.front()) || !alnum(s.back())) return false;
  if (must_start_with_letter && !std::islower(static_cast<unsigned char>(s.front()))) return false;
  return std::all_of(s.begin(), s.end(), [&](char c) { return alnum(c) || c == '-'; });
}

bool is_dns_subdomain(std::string_view s) {
  if (s.empty() || s.size() > 253) return false;
  size_t start = 0;
  while (true) {
    const size_t dot = s.find('.', start);
    if (!is_dns_label(s.substr(start, dot == std::string_view::npos ? s.npos : dot - start),
                      false)) {
      return false;
    }
    if (dot == std::string_view::npos) return true;
    start = dot + 1;
  }
}

std::string lower_type(AddressType t) {
  switch (t) {
    case AddressType::IPv4:
      return "ipv4";
    case AddressType::IPv6:
      return "ipv6";
    case AddressType::FQDN:
      return "fqdn";
  }
  return "ipv4";
}

Json owner_reference(const api::GpuPool& pool) {
  return Json::array({{{"apiVersion", api::kApiVersion},
                       {"kind", api::kGpuPoolKind},
                       {"name", pool.metadata.name},
                       {"uid", pool.metadata.uid},
                       {"controller", true},
                       {"blockOwnerDeletion", true}}});
}

Json object_meta(const api::GpuPool& pool, const std::string& name, Json labels) {
  labels[decision::kLabelPool] = pool.metadata.name;
  labels[decision::kLabelPoolUid] = pool.metadata.uid;
  return {{"name", name},
          {"namespace", pool.metadata.namespace_},
          {"labels", std::move(labels)},
          {"ownerReferences", owner_reference(pool)}};
}

// An instance that is going away, or parked: never ready.
bool ending(const api::GpuInstance& i) {
  return i.metadata.deletion_timestamp || i.status.phase == InstancePhase::Parked ||
         i.status.phase == InstancePhase::Terminating || i.status.phase == InstancePhase::Failed;
}

Json endpoint_of(const api::GpuInstance& i, const std::string& address) {
  const bool terminating = ending(i);
  const bool ready = i.status.phase == InstancePhase::Ready && !terminating;
  return {{"addresses", Json::array({address})},
          {"conditions", {{"ready", ready}, {"serving", ready}, {"terminating", terminating}}},
          {"targetRef",
           {{"apiVersion", api::kApiVersion},
            {"kind", api::kGpuInstanceKind},
            {"namespace", i.metadata.namespace_},
            {"name", i.metadata.name},
            {"uid", i.metadata.uid}}}};
}

Json service_ports(int port) {
  return Json::array(
      {{{"name", kEndpointPortName}, {"protocol", "TCP"}, {"port", port}, {"targetPort", port}}});
}

bool has_controller_owner(const Json& obj, const std::string& uid) {
  const auto& md = obj["metadata"];
  if (!md.contains("ownerReferences") || !md["ownerReferences"].is_array()) return false;
  for (const auto& o : md["ownerReferences"]) {
    if (o.value("uid", "") == uid && o.value("controller", false)) return true;
  }
  return false;
}

bool labels_hold(const Json& stored, const Json& desired) {
  const auto& md = stored["metadata"];
  if (!md.contains("labels") || !md["labels"].is_object()) return false;
  for (const auto& [k, v] : desired["metadata"]["labels"].items()) {
    if (!md["labels"].contains(k) || md["labels"][k] != v) return false;
  }
  return true;
}

// The fields this controller sets, compared with the stored object's.
bool service_differs(const Json& stored, const Json& desired) {
  if (!labels_hold(stored, desired)) return true;
  if (stored["metadata"].value("ownerReferences", Json()) != desired["metadata"]["ownerReferences"])
    return true;
  const Json spec = stored.value("spec", Json::object());
  if (spec.contains("selector") && !spec["selector"].empty()) return true;
  const Json ports = spec.value("ports", Json::array());
  const Json& want = desired["spec"]["ports"];
  if (!ports.is_array() || ports.size() != want.size()) return true;
  for (size_t i = 0; i < want.size(); ++i) {
    for (const char* f : {"name", "protocol", "port", "targetPort"}) {
      if (ports[i].value(f, Json()) != want[i][f]) return true;
    }
  }
  return false;
}

bool slice_differs(const Json& stored, const Json& desired) {
  if (!labels_hold(stored, desired)) return true;
  if (stored["metadata"].value("ownerReferences", Json()) != desired["metadata"]["ownerReferences"])
    return true;
  for (const char* f : {"addressType", "endpoints", "ports"}) {
    if (stored.value(f, Json()) != desired[f]) return true;
  }
  return false;
}

// `stored` with the desired fields written over it (server defaults kept).
Json merged(const Json& stored, const Json& desired, bool service) {
  Json out = stored;
  for (const auto& [k, v] : desired["metadata"]["labels"].items())
    out["metadata"]["labels"][k] = v;
  out["metadata"]["ownerReferences"] = desired["metadata"]["ownerReferences"];
  if (service) {
    out["spec"]["ports"] = desired["spec"]["ports"];
    out["spec"].erase("selector");
  } else {
    for (const char* f : {"addressType", "endpoints", "ports"})
      out[f] = desired[f];
  }
  return out;
}

// Our objects (controller ownerReference to the pool) in `store`.
std::map<std::string, kube::ObjectPtr> owned(const kube::Store& store, const api::GpuPool& pool) {
  std::map<std::string, kube::ObjectPtr> out;
  for (const auto& o : store.by_index(kIndexOwnerUid, pool.metadata.uid)) {
    if ((*o)["metadata"].value("namespace", "") != pool.metadata.namespace_) continue;
    if (!has_controller_owner(*o, pool.metadata.uid)) continue;
    out[(*o)["metadata"].value("name", "")] = o;
  }
  return out;
}

kube::ApiStatus remove_all(kube::KubeApi& api, const kube::Resource& r,
                           const std::map<std::string, kube::ObjectPtr>& objs,
                           const std::string& keep = {}) {
  for (const auto& [name, o] : objs) {
    if (name == keep) continue;
    kube::DeleteOptions opts;
    opts.precondition_uid = (*o)["metadata"].value("uid", "");
    auto d = api.remove(r, (*o)["metadata"].value("namespace", ""), name, opts);
    if (!d.ok() && d.error().kind != kube::ErrorKind::NotFound) return fail(d.error());
  }
  return {};
}

// Makes the stored object (if any) match `desired`: create, update or nothing.
kube::ApiStatus apply(kube::KubeApi& api, const kube::Resource& r, const kube::ObjectPtr& stored,
                      const Json& desired) {
  const bool service = r == kServices;
  if (!stored) {
    auto c = api.create(r, desired["metadata"]["namespace"], desired);
    if (!c.ok()) return fail(c.error());
    return {};
  }
  if (!(service ? service_differs(*stored, desired) : slice_differs(*stored, desired))) return {};
  auto u = api.update(r, merged(*stored, desired, service));
  if (!u.ok()) return fail(u.error());
  return {};
}

}  // namespace

std::string_view to_string(AddressType t) {
  switch (t) {
    case AddressType::IPv4:
      return "IPv4";
    case AddressType::IPv6:
      return "IPv6";
    case AddressType::FQDN:
      return "FQDN";
  }
  return "IPv4";
}

std::optional<EndpointAddress> parse_endpoint_address(std::string_view address) {
  if (address.empty() || address.size() > 253) return std::nullopt;
  const std::string text(address);
  char buf[INET6_ADDRSTRLEN] = {};
  unsigned char bin[16] = {};
  if (inet_pton(AF_INET, text.c_str(), bin) == 1) {
    if (!inet_ntop(AF_INET, bin, buf, sizeof buf)) return std::nullopt;
    return EndpointAddress{AddressType::IPv4, buf};
  }
  if (text.find(':') != std::string::npos) {
    if (inet_pton(AF_INET6, text.c_str(), bin) != 1) return std::nullopt;
    if (!inet_ntop(AF_INET6, bin, buf, sizeof buf)) return std::nullopt;
    return EndpointAddress{AddressType::IPv6, buf};
  }
  std::string lower = text;
  std::transform(lower.begin(), lower.end(), lower.begin(),
                 [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  // A dotted all-digit name is an IPv4 address inet_pton refused (leading
  // zeros, out of range), not a host name.
  if (std::all_of(lower.begin(), lower.end(),
                  [](char c) { return std::isdigit(static_cast<unsigned char>(c)) || c == '.'; }))
    return std::nullopt;
  if (!is_dns_subdomain(lower)) return std::nullopt;
  return EndpointAddress{AddressType::FQDN, lower};
}

std::string endpoint_service_name(const api::GpuPool& pool) {
  const std::string& name = pool.spec.usage.endpoint.service_name;
  return name.empty() ? pool.metadata.name : name;
}

EndpointObjects desired_endpoint_objects(const api::GpuPool& pool,
                                         const std::vector<api::GpuInstance>& instances) {
  EndpointObjects out;
  const std::string service = endpoint_service_name(pool);
  out.service = {{"apiVersion", "v1"},
                 {"kind", "Service"},
                 {"metadata", object_meta(pool, service, Json::object())},
                 {"spec", {{"ports", service_ports(pool.spec.usage.endpoint.port)}}}};

  // (address type, port) -> endpoints, by instance name.
  std::map<std::tuple<AddressType, int>, std::map<std::string, Json>> groups;
  for (const auto& i : instances) {
    if (i.status.phase == InstancePhase::Terminated) continue;
    // Listed: Ready machines (ready) and ending ones (terminating, so a
    // consumer drains them). A machine not (or no longer) healthy is left
    // out: the health check decides what is in the slice.
    if (i.status.phase != InstancePhase::Ready && !ending(i)) continue;
    if (i.status.address.empty() || i.status.port == 0) continue;
    if (i.status.port < 1 || i.status.port > 65535) {
      out.skipped.push_back(i.metadata.name + ": port " + std::to_string(i.status.port) +
                            " is not in 1..65535");
      continue;
    }
    auto addr = parse_endpoint_address(i.status.address);
    if (!addr) {
      out.skipped.push_back(i.metadata.name + ": address \"" + i.status.address +
                            "\" is none of IPv4, IPv6 or a DNS name");
      continue;
    }
    groups[{addr->type, i.status.port}][i.metadata.name] = endpoint_of(i, addr->value);
  }
  for (const auto& [key, endpoints] : groups) {
    // Plain names, not a structured binding: the lambda below captures them
    // (clang before 16 cannot capture structured bindings).
    const AddressType type = std::get<0>(key);
    const int port = std::get<1>(key);
    Json chunk = Json::array();
    int n = 0;
    auto flush = [&] {
      Json labels = {{kLabelServiceName, service}, {kLabelManagedBy, kManagedBy}};
      const std::string name =
          service + "-" + lower_type(type) + "-" + std::to_string(port) + "-" + std::to_string(n++);
      out.slices.push_back(
          {{"apiVersion", "discovery.k8s.io/v1"},
           {"kind", "EndpointSlice"},
           {"metadata", object_meta(pool, name, std::move(labels))},
           {"addressType", std::string(to_string(type))},
           {"endpoints", std::move(chunk)},
           {"ports",
            Json::array({{{"name", kEndpointPortName}, {"protocol", "TCP"}, {"port", port}}})}});
      chunk = Json::array();
    };
    for (const auto& [name, ep] : endpoints) {
      chunk.push_back(ep);
      if (chunk.size() == kMaxEndpointsPerSlice) flush();
    }
    if (!chunk.empty()) flush();
  }
  std::sort(out.slices.begin(), out.slices.end(), [](const Json& a, const Json& b) {
    return a["metadata"]["name"].get<std::string>() < b["metadata"]["name"].get<std::string>();
  });
  return out;
}

kube::ReconcileResult EndpointSliceReconciler::reconcile(const kube::ReconcileRequest& req) {
  if (!ctx_.services || !ctx_.endpoint_slices) {
    return ReconcileResult::terminal("no Service or EndpointSlice cache configured");
  }
  kube::ObjectPtr cached = ctx_.pools.get(req.namespace_, req.name);
  if (!cached) return ReconcileResult::done();  // the ownerReferences take the rest
  std::shared_ptr<const api::GpuPool> pool_ptr = ctx_.decoded->pools.get(cached);
  if (!pool_ptr) return ReconcileResult::done();  // the pool reconciler says why
  const api::GpuPool& pool = *pool_ptr;
  const auto services = owned(*ctx_.services, pool);
  const auto slices = owned(*ctx_.endpoint_slices, pool);

  if (pool.spec.usage.mode != api::UsageMode::Endpoint) {
    auto s = remove_all(ctx_.api, kEndpointSlices, slices);
    if (s.ok()) s = remove_all(ctx_.api, kServices, services);
    return s.ok() ? ReconcileResult::done() : ReconcileResult::from(s.error());
  }
  const std::string service = endpoint_service_name(pool);
  if (!is_dns_label(service, true)) {
    const std::string message = "cannot publish this pool behind a Service: \"" + service +
                                "\" is not a DNS-1035 label (lower case letters, digits and '-', "
                                "starting with a letter, at most 63 characters)";
    record_event(ctx_, *cached, "Warning", "InvalidServiceName", message);
    return ReconcileResult::terminal(message);
  }

  std::vector<api::GpuInstance> instances;
  for (const auto& ip : ctx_.instances.by_index(kIndexPoolUid, pool.metadata.uid)) {
    if (auto i = ctx_.decoded->instances.get(ip)) instances.push_back(*i);
  }
  EndpointObjects want = desired_endpoint_objects(pool, instances);
  report_skipped(kube::make_key(req.namespace_, req.name), want.skipped, *cached);

  // The Service first: slices must never attach to someone else's Service.
  auto svc_it = services.find(service);
  kube::ObjectPtr stored_svc = svc_it == services.end() ? nullptr : svc_it->second;
  auto s = apply(ctx_.api, kServices, stored_svc, want.service);
  if (!s.ok() && s.error().kind == kube::ErrorKind::AlreadyExists) {
    // Ours but not yet in the cache, or someone else's.
    auto live = ctx_.api.get(kServices, pool.metadata.namespace_, service);
    if (!live.ok()) return ReconcileResult::from(live.error());
    if (!has_controller_owner(*live, pool.metadata.uid)) {
      record_event(
          ctx_, *cached, "Warning", "ServiceNameTaken",
          "Service " + service + " exists and is not this pool's; its endpoints are not published");
      return ReconcileResult::after(kube::Millis{60000});
    }
    s = apply(ctx_.api, kServices, std::make_shared<const Json>(std::move(live).value()),
              want.service);
  }
  if (!s.ok()) return ReconcileResult::from(s.error());

  for (const Json& slice : want.slices) {
    const std::string name = slice["metadata"]["name"];
    auto it = slices.find(name);
    auto a = apply(ctx_.api, kEndpointSlices, it == slices.end() ? nullptr : it->second, slice);
    if (!a.ok()) return ReconcileResult::from(a.error());
  }
  std::map<std::string, kube::ObjectPtr> stale_slices;
  for (const auto& [slice_name, o] : slices) {
    const std::string& name = slice_name;  // captured below (clang < 16)
    const bool wanted = std::any_of(want.slices.begin(), want.slices.end(),
                                    [&](const Json& w) { return w["metadata"]["name"] == name; });
    if (!wanted) stale_slices[name] = o;
  }
  auto r = remove_all(ctx_.api, kEndpointSlices, stale_slices);
  if (r.ok()) r = remove_all(ctx_.api, kServices, services, service);
  return r.ok() ? ReconcileResult::done() : ReconcileResult::from(r.error());
}

void EndpointSliceReconciler::report_skipped(const std::string& key,
                                             const std::vector<std::string>& skipped,
                                             const Json& pool) {
  std::string message;
  for (const auto& s : skipped)
    message += (message.empty() ? "" : "; ") + s;
  {
    MutexLock lock(mu_);
    auto it = reported_.find(key);
    if ((it == reported_.end() ? std::string() : it->second) == message) return;
    if (message.empty()) {
      reported_.erase(it);
      return;
    }
    reported_[key] = message;
  }
  record_event(ctx_, pool, "Warning", "InvalidEndpointAddress",
               "left out of the Service's endpoints: " + message);
}

UnlistStep unlisted_before_end(Context& ctx, const api::GpuInstance& inst, const Json& obj,
                               Time now) {
  if (inst.spec.usage.mode != api::UsageMode::Endpoint || inst.status.ended_at) return {};
  kube::ListOptions opts;
  opts.label_selector = std::string(decision::kLabelPool) + "=" + inst.spec.pool + "," +
                        kLabelManagedBy + "=" + kManagedBy;
  const bool timed_out =
      inst.metadata.deletion_timestamp && now - *inst.metadata.deletion_timestamp >= kUnlistTimeout;
  auto list = ctx.api.list(kEndpointSlices, inst.metadata.namespace_, opts);
  if (!list.ok()) {
    if (timed_out) return {};
    return {std::nullopt, list.error()};
  }
  bool listed_ready = false;
  for (const auto& slice : list->items) {
    for (const auto& ep : slice.value("endpoints", Json::array())) {
      if (!ep.contains("targetRef") || ep["targetRef"].value("uid", "") != inst.metadata.uid)
        continue;
      if (ep.contains("conditions") && ep["conditions"].value("ready", false)) listed_ready = true;
    }
  }
  if (!listed_ready) return {};
  if (timed_out) {
    record_event(ctx, obj, "Warning", "EndpointStillReady",
                 "an EndpointSlice still lists this machine ready " +
                     std::to_string(kUnlistTimeout.count()) + "s after its end began; ending it");
    return {};
  }
  return {kube::Millis{1000}, std::nullopt};
}

}  // namespace gpupool::controllers
