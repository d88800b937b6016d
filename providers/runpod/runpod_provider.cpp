#include "providers/runpod/runpod_provider.h"
#include "providers/http/json_fields.h"

#include <algorithm>
#include <cctype>
#include <charconv>

#include <nlohmann/json.hpp>

#include "providers/container/container_start_script.h"
#include "providers/http/hash.h"
#include "providers/http/provider_errors.h"
#include "providers/http/strings.h"
#include "providers/http/url.h"

namespace gpupool::runpod {
namespace {

using nlohmann::json;

// Env names the adapter writes; a container's env may not use them.
constexpr const char* kEnvPoolUid = "GPUPOOL_POOL_UID";
constexpr const char* kEnvInstance = "GPUPOOL_INSTANCE";
constexpr const char* kEnvUserData = "GPUPOOL_USER_DATA";
constexpr const char* kEnvPort = "GPUPOOL_ENDPOINT_PORT";

bool no_capacity_text(std::string_view t) {
  return net::icontains(t, "no longer any instances") ||
         net::icontains(t, "no instances available") || net::icontains(t, "capacity") ||
         net::icontains(t, "not enough") || net::icontains(t, "could not be placed") ||
         net::icontains(t, "no available");
}

std::string canonical_gpu(std::string_view runpod_id) {
  std::string s(runpod_id);
  if (s.starts_with("NVIDIA ")) s = s.substr(7);
  if (s.starts_with("GeForce ")) s = s.substr(8);
  return s;
}

MachineState state_from(std::string_view s) {
  if (s == "PROVISIONING" || s == "STARTING") return MachineState::Pending;
  if (s == "RUNNING") return MachineState::Running;
  if (s == "EXITED" || s == "ERROR") return MachineState::Failed;
  if (s == "TERMINATED") return MachineState::Terminated;
  return MachineState::Unknown;
}

// The container port an Endpoint pod serves, from the env create() wrote
// (kEnvPort); 0 for other pods.
int endpoint_port(const json& pod) {
  auto e = pod.find("env");
  if (e == pod.end() || !e->is_object()) return 0;
  return container::parse_port(net::json_str(*e, kEnvPort));
}

// An Endpoint pod's address: the runtime.ports entry (PodRuntimePort) for
// its container port over tcp with a public port and IP. Runtime is null
// until the pod runs, and public / ip null until mapped: the machine then
// has no public_port yet.
void read_endpoint(const json& pod, Machine& m) {
  int port = endpoint_port(pod);
  if (port == 0) return;
  auto rt = pod.find("runtime");
  if (rt == pod.end() || !rt->is_object()) return;
  auto ports = rt->find("ports");
  if (ports == rt->end() || !ports->is_array()) return;
  for (const auto& p : *ports) {
    if (!p.is_object()) continue;
    auto priv = p.find("private");
    auto pub = p.find("public");
    if (priv == p.end() || !priv->is_number_integer() || priv->get<int>() != port) continue;
    if (net::json_str(p, "type") != "tcp") continue;
    std::string ip = net::json_str(p, "ip");
    if (pub == p.end() || !pub->is_number_integer() || ip.empty()) continue;
    int public_port = pub->get<int>();
    if (public_port < 1 || public_port > 65535) continue;
    m.public_address = ip;
    m.public_port = public_port;
    return;
  }
}

Machine parse_pod(const json& j) {
  Machine m;
  m.provider_id = net::json_str(j, "id");
  m.provider_state = net::json_str(j, "status");
  m.state = state_from(m.provider_state);
  m.region = net::json_str(j, "dataCenterId");
  m.tags["runpod.io/name"] = net::json_str(j, "name");
  if (auto g = j.find("gpu"); g != j.end() && g->is_object()) {
    m.gpu_model = canonical_gpu(net::json_str(*g, "id"));
    if (auto c = g->find("count"); c != g->end() && c->is_number_integer())
      m.gpu_count = c->get<int>();
    m.offer_id = runpod_offer_id(net::json_str(j, "cloud"), net::json_str(*g, "id"), m.gpu_count);
  }
  if (auto c = j.find("cost"); c != j.end() && c->is_number())
    m.price_per_hour = net::price_from_double(c->get<double>()).value_or(Money());
  if (auto e = j.find("env"); e != j.end() && e->is_object()) {
    std::string uid = net::json_str(*e, "GPUPOOL_POOL_UID");
    std::string inst = net::json_str(*e, "GPUPOOL_INSTANCE");
    if (!uid.empty()) m.tags[std::string(kTagPoolUid)] = uid;
    if (!inst.empty()) {
      m.tags[std::string(kTagInstance)] = inst;
      m.name = inst;
    }
  }
  if (auto s = j.find("ssh"); s != j.end() && s->is_object()) {
    if (auto d = s->find("direct"); d != s->end() && d->is_object())
      m.public_address = net::json_str(*d, "host");
  }
  read_endpoint(j, m);
  Time t{};
  if (parse_rfc3339(net::json_str(j, "createdAt"), t)) m.launch_time = t;
  return m;
}

// createPod's body for the intent; InvalidRequest for a container it cannot
// carry.
// Whether RunpodConfig::cloud_type lets offers come from `cloud` ("SECURE").
bool cloud_allowed(const RunpodConfig& config, std::string_view cloud) {
  return config.cloud_type.empty() || config.cloud_type == "ALL" || config.cloud_type == cloud;
}

// Where a pod goes: what createPod asks for.
struct Placement {
  std::string cloud;  // SECURE / COMMUNITY
  std::string gpu;    // GPU type id
  int gpu_count = 1;
  std::vector<std::string> data_centers;  // createPod dataCenterIds; empty: Runpod's choice
};

ProviderResult<json> create_body(const RunpodConfig& config, const InstanceIntent& intent,
                                 const std::string& pod_name, const Placement& at) {
  const ContainerSpec& c = intent.container;
  if (auto ok = container::check_container(intent, "create pod"); !ok.ok()) return fail(ok.error());
  for (const auto& [k, v] : c.env) {
    if (k.starts_with("GPUPOOL_")) {
      return fail(provider_error(ProviderErrorKind::InvalidRequest,
                                 "create pod: container env " + k +
                                     " is reserved (GPUPOOL_* carries the pod's identity)"));
    }
  }
  json env = json::object();
  for (const auto& [k, v] : c.env)
    env[k] = v;
  env[kEnvPoolUid] = intent.pool_uid;
  env[kEnvInstance] = intent.name;
  if (!intent.user_data.empty()) env[kEnvUserData] = net::base64_encode(intent.user_data);
  if (!intent.ssh_public_key.empty() && !env.contains("PUBLIC_KEY"))
    env["PUBLIC_KEY"] = intent.ssh_public_key;
  // Ports: "<port>/tcp", so the port gets a direct public mapping
  // (runtime.ports: public IP + public port) that an EndpointSlice can name;
  // an "/http" port is reached only through Runpod's HTTPS proxy host.
  json ports = json::array({"22/tcp"});
  if (!c.image.empty() && c.port != 22) ports.push_back(std::to_string(c.port) + "/tcp");
  json gpu_config = {{"id", at.gpu}, {"count", at.gpu_count}};
  if (!config.min_cuda_version.empty()) gpu_config["minCudaVersion"] = config.min_cuda_version;
  json body = {{"name", pod_name},
               {"image", c.image.empty() ? config.image : c.image},
               {"gpu", gpu_config},
               {"cloud", at.cloud},
               {"disk", c.disk_gb > 0 ? c.disk_gb : config.disk_gb},
               {"ports", ports},
               {"startSsh", true}};
  if (!at.data_centers.empty()) body["dataCenterIds"] = at.data_centers;
  if (!c.image.empty()) {
    env[kEnvPort] = std::to_string(c.port);
    // "Arguments passed to the container entrypoint", one string: each arg
    // shell-quoted only when it needs it, so plain args read as written.
    if (!c.args.empty()) body["args"] = container::shell_words(c.args);
  }
  body["env"] = env;
  return body;
}

// Where the pod for `offer` goes: the cloud, GPU type and count its id names
// and the data center it was priced in. InvalidRequest for an id that is not
// a Runpod offer id, a count the id and the offer disagree on, or a cloud or
// data center outside the provider's settings.
ProviderResult<Placement> placement(const RunpodConfig& config, const Offer& offer) {
  auto id = parse_runpod_offer_id(offer.id);
  if (!id) {
    return fail(
        provider_error(ProviderErrorKind::InvalidRequest,
                       "create pod: offer id must be <SECURE|COMMUNITY>/<gpu type>[ x<N>], got '" +
                           offer.id + "'"));
  }
  if (id->gpu_count > 0 && offer.gpu_count > 0 && id->gpu_count != offer.gpu_count) {
    return fail(provider_error(ProviderErrorKind::InvalidRequest,
                               "create pod: offer " + offer.id + " names " +
                                   std::to_string(id->gpu_count) + " GPUs but carries " +
                                   std::to_string(offer.gpu_count)));
  }
  if (!cloud_allowed(config, id->cloud)) {
    return fail(provider_error(ProviderErrorKind::InvalidRequest,
                               "create pod: offer " + offer.id +
                                   " is outside the provider's cloudType " + config.cloud_type));
  }
  if (!offer.region.empty() && !net::any_or_has(config.data_center_ids, offer.region)) {
    return fail(provider_error(ProviderErrorKind::InvalidRequest,
                               "create pod: offer " + offer.id + " in " + offer.region +
                                   " is outside the provider's dataCenterIds"));
  }
  Placement at;
  at.cloud = id->cloud;
  at.gpu = id->gpu_type;
  // An id without " xN": one GPU, or (an id from before multi-GPU ids) the
  // offer's count.
  at.gpu_count = id->gpu_count > 0 ? id->gpu_count : std::max(1, offer.gpu_count);
  at.data_centers =
      offer.region.empty() ? config.data_center_ids : std::vector<std::string>{offer.region};
  return at;
}

}  // namespace

std::string runpod_offer_id(std::string_view cloud, std::string_view gpu_type, int gpu_count) {
  std::string id(cloud);
  id.push_back('/');
  id.append(gpu_type);
  if (gpu_count > 1) id += " x" + std::to_string(gpu_count);
  return id;
}

std::optional<RunpodOfferId> parse_runpod_offer_id(std::string_view id) {
  const size_t slash = id.find('/');
  if (slash == std::string_view::npos || slash == 0) return std::nullopt;
  RunpodOfferId out;
  out.cloud = std::string(id.substr(0, slash));
  std::string_view type = id.substr(slash + 1);
  if (const size_t x = type.rfind(" x"); x != std::string_view::npos) {
    std::string_view digits = type.substr(x + 2);
    int n = 0;
    auto [ptr, ec] = std::from_chars(digits.data(), digits.data() + digits.size(), n);
    if (!digits.empty() && ec == std::errc() && ptr == digits.data() + digits.size()) {
      if (n < 1) return std::nullopt;
      out.gpu_count = n;
      type = type.substr(0, x);
    }
  }
  if (type.empty()) return std::nullopt;
  out.gpu_type = std::string(type);
  return out;
}

std::string runpod_pool_prefix(std::string_view pool_uid) {
  return "gp-" + net::sha256_hex(pool_uid).substr(0, 10) + "-";
}

std::string runpod_pod_name(std::string_view pool_uid, std::string_view intent_name) {
  std::string key(pool_uid);
  key.push_back('/');
  key.append(intent_name);
  return runpod_pool_prefix(pool_uid) + net::sha256_hex(key).substr(0, 10);
}

ProviderError map_runpod_error(int status, std::string_view body, net::Millis retry_after) {
  std::string detail;
  json j = json::parse(body, nullptr, false);
  if (!j.is_discarded() && j.is_object()) {
    detail = net::json_str(j, "detail");
    if (detail.empty()) detail = net::json_str(j, "title");
    if (detail.empty()) detail = net::json_str(j, "message");
  }
  if (detail.empty()) detail = "unreadable error answer: " + net::body_excerpt(body);
  std::string m = "HTTP " + std::to_string(status) + ": " + detail;
  if (status == 400 && no_capacity_text(detail))
    return provider_error(ProviderErrorKind::NoCapacity, m);
  if (status == 402) return provider_error(ProviderErrorKind::QuotaExceeded, m);
  return net::status_failure(status, detail, retry_after);
}

std::optional<net::Millis> runpod_rate_limit_wait(std::string_view header) {
  std::optional<net::Millis> wait;
  size_t pos = 0;
  while (pos < header.size()) {
    size_t comma = header.find(',', pos);
    std::string_view item =
        header.substr(pos, comma == std::string_view::npos ? std::string_view::npos : comma - pos);
    pos = comma == std::string_view::npos ? header.size() : comma + 1;
    long r = -1, t = -1;
    size_t p = 0;
    while (p < item.size()) {
      size_t semi = item.find(';', p);
      std::string_view kv =
          item.substr(p, semi == std::string_view::npos ? std::string_view::npos : semi - p);
      p = semi == std::string_view::npos ? item.size() : semi + 1;
      while (!kv.empty() && kv.front() == ' ')
        kv.remove_prefix(1);
      if (kv.size() < 3 || kv[1] != '=') continue;
      long v = 0;
      auto [ptr, ec] = std::from_chars(kv.data() + 2, kv.data() + kv.size(), v);
      if (ec != std::errc() || ptr != kv.data() + kv.size() || v < 0) continue;
      if (kv[0] == 'r') r = v;
      if (kv[0] == 't') t = v;
    }
    if (r == 0 && t >= 0 && (!wait || net::Millis(t * 1000) > *wait)) wait = net::Millis(t * 1000);
  }
  return wait;
}

RunpodProvider::RunpodProvider(RunpodConfig config, net::HttpTransport& transport,
                               const Clock& clock, net::Sleeper& sleeper)
    : config_(std::move(config)),
      clock_(clock),
      client_(transport, clock, sleeper,
              [&] {
                net::ClientOptions o = config_.http;
                if (o.provider.empty()) o.provider = "runpod";
                o.hook = [](const net::Response& r) {
                  if (r.status != 429 || !net::find_header(r.headers, "retry-after").empty())
                    return net::RetryAdvice{};
                  auto wait = runpod_rate_limit_wait(net::find_header(r.headers, "ratelimit"));
                  if (!wait) return net::RetryAdvice{};
                  return net::RetryAdvice{net::RetryAdvice::Action::Retry, *wait};
                };
                std::string base = config_.endpoint;
                while (!base.empty() && base.back() == '/')
                  base.pop_back();
                o.base_url = base;
                return o;
              }()),
      api_(client_, net::ApiSpec{"Runpod", config_.endpoint,
                                 net::bearer_auth(config_.api_key, "Runpod API key is missing"),
                                 map_runpod_error}) {}

ProviderResult<std::string> RunpodProvider::call(const std::string& what, const std::string& method,
                                                 const std::string& url, const std::string& body,
                                                 bool idempotent) {
  return api_.call(what, method, url, body, idempotent);
}

ProviderResult<json> RunpodProvider::gpu_catalog(const std::string& cloud, int count) {
  // listGpuTypes: stock needs include=AVAILABILITY with product=POD; count,
  // cloud and the CUDA floor scope it (and the dataCenters list).
  std::string url =
      "/v2/catalog/gpus?include=AVAILABILITY&product=POD&count=" + std::to_string(count) +
      "&cloud=" + cloud;
  if (!config_.min_cuda_version.empty())
    url += "&minCudaVersion=" + net::percent_encode(config_.min_cuda_version);
  auto body = call("gpu catalog", "GET", url, "", true);
  if (!body.ok()) return fail(body.error());
  json j = json::parse(*body, nullptr, false);
  if (j.is_discarded() || !j.is_object() || !j.contains("gpus") || !j["gpus"].is_array()) {
    return fail(provider_error(
        ProviderErrorKind::Transient,
        "gpu catalog: unreadable answer (no gpus array): " + net::body_excerpt(*body)));
  }
  return j["gpus"];
}

namespace {

// maxCount.<cloud> of a catalog GPU type ("secure" / "community"); 0 when
// absent.
int max_count(const json& g, const std::string& cloud_key) {
  auto m = g.find("maxCount");
  if (m == g.end() || !m->is_object()) return 0;
  auto c = m->find(cloud_key);
  return c != m->end() && c->is_number_integer() ? c->get<int>() : 0;
}

std::string cloud_key(const std::string& cloud) {
  return cloud == "SECURE" ? "secure" : "community";
}

}  // namespace

std::vector<Offer> RunpodProvider::catalog_offers(const json& gpus, const std::string& cloud,
                                                  int count, const OfferQuery& query) const {
  const std::string key = cloud_key(cloud);
  const ReliabilityTier tier =
      cloud == "SECURE" ? ReliabilityTier::Datacenter : ReliabilityTier::Community;
  std::vector<Offer> out;
  for (const auto& g : gpus) {
    if (!g.is_object()) continue;
    const std::string id = net::json_str(g, "id");
    auto sells = g.find(key);
    if (id.empty() || sells == g.end() || !sells->is_boolean() || !sells->get<bool>()) continue;
    if (max_count(g, key) < count) continue;
    auto price = g.find("price");
    if (price == g.end() || !price->is_object()) continue;
    auto per_gpu_value = price->find(key);
    if (per_gpu_value == price->end() || !per_gpu_value->is_number()) continue;
    auto per_gpu = net::price_from_double(per_gpu_value->get<double>());
    if (!per_gpu || per_gpu->is_zero()) continue;
    auto dcs = g.find("dataCenters");
    if (dcs == g.end() || !dcs->is_array()) continue;  // sold nowhere in this shape
    for (const auto& dc : *dcs) {
      const std::string region = dc.is_object() ? net::json_str(dc, "id") : "";
      if (region.empty() || !net::any_or_has(config_.data_center_ids, region)) continue;
      Offer o;
      o.provider = config_.provider_name;
      o.provider_type = "runpod";
      o.id = runpod_offer_id(cloud, id, count);
      o.region = region;
      o.gpu_model = canonical_gpu(id);
      o.gpu_count = count;
      o.price_per_hour = *per_gpu * count;
      o.billing = config_.billing;
      o.tier = tier;
      o.capacity_hint = net::json_str(dc, "availability") == "NONE" ? 0 : -1;
      o.source = "live";
      o.as_of = clock_.now();
      if (matches(o, query)) out.push_back(std::move(o));
    }
  }
  return out;
}

namespace {

// Whether a catalog GPU type is of a model `query` asks for.
bool asked_model(const json& g, const OfferQuery& query) {
  Offer probe;  // the type's model, against the query's models only
  probe.gpu_model = canonical_gpu(net::json_str(g, "id"));
  probe.gpu_count = 1;
  OfferQuery models;
  models.gpu_models = query.gpu_models;
  return matches(probe, models);
}

// Whether the catalog answer has an asked model sold on the community cloud
// (every answer carries both clouds' flags and prices).
bool community_sells_asked(const json& gpus, const OfferQuery& query) {
  for (const auto& g : gpus) {
    if (!g.is_object() || !asked_model(g, query)) continue;
    auto c = g.find("community");
    if (c != g.end() && c->is_boolean() && c->get<bool>()) return true;
  }
  return false;
}

// The largest pod to offer on `cloud`: the query's bound, or the biggest
// machine (maxCount) of an asked model, at most kMaxPodGpus.
int largest_pod(const json& gpus, const std::string& cloud, const OfferQuery& query) {
  if (query.max_gpu_count > 0) return query.max_gpu_count;
  int last = 0;
  for (const auto& g : gpus) {
    if (g.is_object() && asked_model(g, query))
      last = std::max(last, max_count(g, cloud_key(cloud)));
  }
  return std::min(last, kMaxPodGpus);
}

}  // namespace

ProviderResult<std::vector<Offer>> RunpodProvider::offers(const OfferQuery& query) {
  std::vector<std::string> clouds;
  if (cloud_allowed(config_, "SECURE")) clouds.emplace_back("SECURE");
  if (cloud_allowed(config_, "COMMUNITY") && query.include_community)
    clouds.emplace_back("COMMUNITY");
  const int first = std::max(1, query.min_gpu_count);
  std::vector<Offer> out;
  std::optional<json> secure;
  for (const std::string& cloud : clouds) {
    // The secure answer already says whether community sells an asked model.
    if (cloud == "COMMUNITY" && secure && !community_sells_asked(*secure, query)) continue;
    auto gpus = gpu_catalog(cloud, first);
    if (!gpus.ok()) return fail(gpus.error());
    if (cloud == "SECURE") secure = *gpus;
    // Larger pods come from the same answer: its data centers and their
    // stock for `first` GPUs (a data center out of stock for fewer is out of
    // stock for more; one with stock may still lack a machine that large).
    const int last = largest_pod(*gpus, cloud, query);
    for (int n = first; n <= last; ++n) {
      for (Offer& o : catalog_offers(*gpus, cloud, n, query))
        out.push_back(std::move(o));
    }
  }
  return out;
}

ProviderResult<std::vector<Machine>> RunpodProvider::all_pods() {
  auto body = call("list pods", "GET", "/v2/pods", "", true);
  if (!body.ok()) return fail(body.error());
  std::vector<Machine> out;
  try {
    json j = json::parse(*body);
    for (const auto& p : j.at("pods"))
      out.push_back(parse_pod(p));
  } catch (const std::exception& e) {
    return fail(net::unreadable_answer("list pods", e));
  }
  return out;
}

ProviderResult<Machine> RunpodProvider::find_by_pod_name(const std::string& pod_name) {
  return machine_tagged(all_pods(), "runpod.io/name", pod_name, "Runpod pod");
}

ProviderResult<Machine> RunpodProvider::get(std::string_view pool_uid, std::string_view name) {
  return find_by_pod_name(runpod_pod_name(pool_uid, name));
}

ProviderResult<std::vector<Machine>> RunpodProvider::list(const MachineFilter& filter) {
  auto pods = all_pods();
  if (!pods.ok()) return fail(pods.error());
  std::string prefix =
      filter.pool_uid.empty() ? std::string("gp-") : runpod_pool_prefix(filter.pool_uid);
  std::vector<Machine> out;
  for (auto& m : *pods) {
    const std::string& n = m.tags.at("runpod.io/name");
    if (!n.starts_with(prefix) || m.pool_uid().empty()) continue;
    if (!filter.include_terminated && is_gone(m.state)) continue;
    out.push_back(std::move(m));
  }
  return out;
}

ProviderResult<Machine> RunpodProvider::create(const InstanceIntent& intent) {
  if (intent.name.empty() || intent.pool_uid.empty()) {
    return fail(provider_error(ProviderErrorKind::InvalidRequest,
                               "create pod: intent needs a name and a pool uid"));
  }
  auto at = placement(config_, intent.offer);
  if (!at.ok()) return fail(at.error());
  std::string pod_name = runpod_pod_name(intent.pool_uid, intent.name);
  auto body = create_body(config_, intent, pod_name, *at);
  if (!body.ok()) return fail(body.error());
  auto existing = find_by_pod_name(pod_name);
  if (existing.ok() && !is_gone(existing->state)) return existing;
  if (!existing.ok() && existing.error().kind != ProviderErrorKind::NotFound)
    return fail(existing.error());

  auto ans = call("create pod", "POST", "/v2/pods", net::json_text(*body), false);
  if (!ans.ok() &&
      (ans.error().kind == ProviderErrorKind::InvalidRequest ||
       ans.error().kind == ProviderErrorKind::Unauthorized) &&
      (ans.error().message.find("HTTP 400") != std::string::npos ||
       ans.error().message.find("HTTP 403") != std::string::npos)) {
    // createPod (v2): a 400 BadRequestError ("request could not be
    // processed": sold out, a constraint this offer cannot meet) or a 403
    // ForbiddenError (the key may not use this GPU type / cloud) is about
    // this offer, not the account: try another offer.
    ProviderError e = ans.error();
    e.kind = ProviderErrorKind::NoCapacity;
    return fail(e);
  }
  if (!ans.ok()) {
    if (ans.error().kind != ProviderErrorKind::Transient) return fail(ans.error());
    auto again = find_by_pod_name(pod_name);
    if (again.ok() && !is_gone(again->state)) return again;
    return fail(ans.error());
  }
  try {
    return parse_pod(json::parse(*ans));
  } catch (const std::exception& e) {
    auto again = find_by_pod_name(pod_name);
    if (again.ok() && !is_gone(again->state)) return again;
    return fail(net::unreadable_answer("create pod", e));
  }
}

ProviderStatus RunpodProvider::terminate(std::string_view provider_id) {
  if (provider_id.empty())
    return fail(provider_error(ProviderErrorKind::InvalidRequest, "terminate: empty pod id"));
  auto ans =
      call("terminate pod", "DELETE", "/v2/pods/" + net::percent_encode(provider_id), "", true);
  if (!ans.ok()) return fail(ans.error());
  return ProviderStatus::success();
}

}  // namespace gpupool::runpod
