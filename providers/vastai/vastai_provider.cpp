#include "providers/vastai/vastai_provider.h"
#include "providers/http/json_fields.h"

#include <algorithm>
#include <cmath>

#include <nlohmann/json.hpp>

#include "providers/container/container_start_script.h"
#include "providers/http/provider_errors.h"
#include "providers/http/url.h"

namespace gpupool::vastai {
namespace {

using nlohmann::json;

MachineState state_from(const json& status) {
  if (status.is_null()) return MachineState::Pending;
  if (!status.is_string()) return MachineState::Unknown;
  std::string s = status.get<std::string>();
  if (s == "running") return MachineState::Running;
  if (s == "created" || s == "loading" || s == "rebooting") return MachineState::Pending;
  if (s == "stopped" || s == "exited" || s == "frozen" || s == "offline")
    return MachineState::Failed;
  return MachineState::Unknown;
}

// Vast.ai writes geolocation as "<region>, <country code>" ("Texas, US") or
// just the country code; offers and machines carry the country code.
std::string country_code(std::string_view geo) {
  if (auto comma = geo.rfind(','); comma != std::string_view::npos) geo.remove_prefix(comma + 1);
  while (!geo.empty() && geo.front() == ' ')
    geo.remove_prefix(1);
  while (!geo.empty() && geo.back() == ' ')
    geo.remove_suffix(1);
  return std::string(geo);
}

std::string id_text(const json& v) {
  if (v.is_number_integer()) return std::to_string(v.get<int64_t>());
  if (v.is_string()) return v.get<std::string>();
  throw std::runtime_error("id is neither a number nor a string");
}

constexpr const char* kEnvPort = "GPUPOOL_ENDPOINT_PORT";

// The container port an Endpoint instance serves: extra_env's
// [GPUPOOL_ENDPOINT_PORT, "8000"] pair (what create() wrote); 0 otherwise.
int endpoint_port(const json& j) {
  auto e = j.find("extra_env");
  if (e == j.end() || !e->is_array()) return 0;
  for (const auto& kv : *e) {
    if (!kv.is_array() || kv.size() != 2 || kv[0] != kEnvPort || !kv[1].is_string()) continue;
    return container::parse_port(kv[1].get<std::string>());
  }
  return 0;
}

// ports {"8000/tcp": [{"HostIp": "0.0.0.0", "HostPort": "41234"}]} ("only
// present on running instances"; HostPort is a string): the host port the
// container port is published on, 0 when not (yet) mapped.
int host_port(const json& j, int container_port) {
  auto ports = j.find("ports");
  if (ports == j.end() || !ports->is_object()) return 0;
  auto list = ports->find(std::to_string(container_port) + "/tcp");
  if (list == ports->end() || !list->is_array()) return 0;
  for (const auto& b : *list) {
    if (!b.is_object()) continue;
    auto hp = b.find("HostPort");
    if (hp != b.end() && hp->is_string()) {
      if (int p = container::parse_port(hp->get<std::string>()); p != 0) return p;
    }
  }
  return 0;
}

Machine parse_instance(const json& j) {
  Machine m;
  m.provider_id = id_text(j.at("id"));
  auto st = j.find("actual_status");
  m.state = st == j.end() ? MachineState::Pending : state_from(*st);
  m.provider_state = st != j.end() && st->is_string() ? st->get<std::string>() : "provisioning";
  m.gpu_model = net::json_str(j, "gpu_name");
  if (auto n = j.find("num_gpus"); n != j.end() && n->is_number_integer())
    m.gpu_count = n->get<int>();
  if (auto p = j.find("dph_total"); p != j.end() && p->is_number())
    m.price_per_hour = net::price_from_double(p->get<double>()).value_or(Money());
  m.region = country_code(net::json_str(j, "geolocation"));
  m.public_address = net::json_str(j, "public_ipaddr");
  if (int port = endpoint_port(j); port != 0 && !m.public_address.empty())
    m.public_port = host_port(j, port);
  if (auto s = j.find("start_date"); s != j.end() && s->is_number() && s->get<double>() > 0) {
    m.launch_time = Time(std::chrono::seconds(static_cast<int64_t>(s->get<double>())));
  }
  std::string label = net::json_str(j, "label");
  m.tags["vast.ai/label"] = label;
  if (label.starts_with("gpupool/")) {
    auto second = label.find('/', 8);
    if (second != std::string::npos) {
      m.tags[std::string(kTagPoolUid)] = label.substr(8, second - 8);
      m.name = label.substr(second + 1);
      m.tags[std::string(kTagInstance)] = m.name;
    }
  }
  if (auto a = j.find("ask_contract_id");
      a != j.end() && (a->is_number_integer() || a->is_string())) {
    m.offer_id = id_text(*a);
  }
  return m;
}

// One "-e K=V" word of the env string. Vast splits the string on spaces
// outside quotes and strips quotes around a value (extra_env shows the
// result), with no escape: a value with whitespace is double-quoted, and one
// holding a quote or a control character cannot be carried.
ProviderResult<std::string> env_word(const std::string& key, const std::string& value) {
  for (char c : value) {
    auto u = static_cast<unsigned char>(c);
    if (c == '"' || c == '\'' || u < 0x20 || u == 0x7f) {
      return fail(provider_error(ProviderErrorKind::InvalidRequest,
                                 "rent: container env " + key +
                                     " holds a quote or a control character, which Vast.ai's "
                                     "env string (Docker flag format, no escapes) cannot carry"));
    }
  }
  bool quote = value.empty() || value.find(' ') != std::string::npos;
  return " -e " + key + "=" + (quote ? "\"" + value + "\"" : value);
}

// createInstance's body. Node mode: Vast's ssh launcher (runtype
// ssh_direct, port 22) runs the bootstrap as onstart. Endpoint mode: runtype
// "args", so the image's own entrypoint runs, with the container's args
// (args, an array, carried as is), its env and "-p <port>:<port>" in the env
// string, and GPUPOOL_ENDPOINT_PORT, which get()/list() read back from
// extra_env to find the port's host mapping.
ProviderResult<json> rent_body(const VastConfig& config, const InstanceIntent& intent,
                               const std::string& label) {
  const ContainerSpec& c = intent.container;
  if (auto ok = container::check_container(intent, "rent"); !ok.ok()) return fail(ok.error());
  std::string env =
      "-e GPUPOOL_POOL_UID=" + intent.pool_uid + " -e GPUPOOL_INSTANCE=" + intent.name;
  json body = {{"image", c.image.empty() ? config.image : c.image},
               {"label", label},
               {"disk", c.disk_gb > 0 ? c.disk_gb : config.disk_gb},
               {"target_state", "running"},
               {"cancel_unavail", true}};
  if (c.image.empty()) {
    body["runtype"] = "ssh_direct";
    body["env"] = env + " -p 22:22";
    if (!intent.user_data.empty()) body["onstart"] = intent.user_data;
    return body;
  }
  for (const auto& [k, v] : c.env) {
    if (k.starts_with("GPUPOOL_")) {
      return fail(provider_error(
          ProviderErrorKind::InvalidRequest,
          "rent: container env " + k + " is reserved (GPUPOOL_* carries the instance's identity)"));
    }
    auto word = env_word(k, v);
    if (!word.ok()) return fail(word.error());
    env += *word;
  }
  const std::string port = std::to_string(c.port);
  env += " -e " + std::string(kEnvPort) + "=" + port + " -p " + port + ":" + port;
  body["runtype"] = "args";
  body["env"] = env;
  if (!c.args.empty()) body["args"] = c.args;
  return body;
}

}  // namespace

std::string vast_label(std::string_view pool_uid, std::string_view intent_name) {
  return "gpupool/" + std::string(pool_uid) + "/" + std::string(intent_name);
}

ProviderError map_vast_error(int status, std::string_view body, net::Millis retry_after) {
  std::string code, msg;
  json j = json::parse(body, nullptr, false);
  if (!j.is_discarded() && j.is_object()) {
    code = net::json_str(j, "error");
    msg = net::json_str(j, "msg");
    if (msg.empty()) msg = net::json_str(j, "detail");
  } else if (!j.is_discarded() && j.is_string()) {
    msg = j.get<std::string>();
  } else {
    msg = net::body_excerpt(body);
  }
  std::string text = code + (code.empty() || msg.empty() ? "" : ": ") + msg;
  std::string m = "HTTP " + std::to_string(status) + ": " + text;
  // searchOffers answers a bad key with 404 "Invalid user key" (as published);
  // the instance endpoints with 401 auth_error.
  if (code == "auth_error" || msg.find("Invalid user key") != std::string::npos)
    return provider_error(ProviderErrorKind::Unauthorized, m);
  if (code == "no_such_ask" || msg.find("no_such_ask") != std::string::npos) {
    return provider_error(ProviderErrorKind::NoCapacity, m);
  }
  if (status == 429)
    return rate_limited(m, retry_after.count() > 0 ? retry_after : net::Millis(5000));
  return net::status_failure(status, text, retry_after);
}

VastProvider::VastProvider(VastConfig config, net::HttpTransport& transport, const Clock& clock,
                           net::Sleeper& sleeper)
    : JsonApiProvider(
          {.provider_name = config.provider_name,
           .type = "vastai",
           .http = config.http,
           .api = {.label = "Vast.ai",
                   .endpoint = config.endpoint,
                   .auth = net::bearer_auth(config.api_key, "Vast.ai API key is missing"),
                   .map_error = map_vast_error},
           .get_live_only = false,
           .require_managed_tag = false,
           .machine_noun = "Vast.ai instance"},
          transport, clock, sleeper),
      config_(std::move(config)) {}

ProviderResult<std::vector<Offer>> VastProvider::offers(const OfferQuery& query) {
  std::vector<Offer> out;
  if (!query.include_community) return out;  // every Vast.ai host is a marketplace host
  json q = {{"rentable", {{"eq", true}}},
            {"rented", {{"eq", false}}},
            {"num_gpus", {{"gte", std::max(1, query.min_gpu_count)}}},
            {"reliability", {{"gte", config_.min_reliability}}},
            {"type", "ondemand"},
            // searchOffers: a list of [field, direction] pairs.
            {"order", json::array({json::array({"dph_total", "asc"})})},
            {"limit", query.regions.empty() ? 100 : 500}};
  if (query.max_gpu_count > 0) q["num_gpus"]["lte"] = query.max_gpu_count;
  if (config_.verified_only) q["verified"] = {{"eq", true}};
  q["gpu_name"] = {{"in", query.gpu_models.empty() ? std::vector<std::string>{"L40S", "L40"}
                                                   : query.gpu_models}};
  auto body = call("search offers", "POST", "/api/v0/bundles/", net::json_text(q),
                   true);  // a search: safe to retry
  if (!body.ok()) return fail(body.error());
  try {
    json j = json::parse(*body);
    for (const auto& o : j.at("offers")) {
      Offer offer;
      offer.id = id_text(o.contains("ask_contract_id") ? o.at("ask_contract_id") : o.at("id"));
      offer.region = country_code(net::json_str(o, "geolocation"));
      offer.gpu_model = o.at("gpu_name").get<std::string>();
      offer.gpu_count = o.at("num_gpus").get<int>();
      auto price = net::price_from_double(o.at("dph_total").get<double>());
      if (!price) continue;  // unusable price: not an offer
      offer.price_per_hour = *price;
      offer.billing = config_.billing;
      if (auto up = o.find("inet_up_cost"); up != o.end() && up->is_number()) {
        offer.billing.egress_per_gb = net::price_from_double(up->get<double>()).value_or(Money());
      }
      offer.tier = ReliabilityTier::Community;
      offer.capacity_hint = 1;
      add_offer(out, query, std::move(offer));
    }
  } catch (const std::exception& e) {
    return fail(net::unreadable_answer("search offers", e));
  }
  return out;
}

ProviderResult<std::vector<Machine>> VastProvider::list_all(std::string_view pool_uid,
                                                            std::string_view name) {
  std::string first = "/api/v1/instances/?limit=25";
  if (!name.empty()) {
    first +=
        "&select_filters=" +
        net::percent_encode(net::json_text(json{{"label", {{"eq", vast_label(pool_uid, name)}}}}));
  }
  std::vector<Machine> out;
  auto read = read_pages("list instances", first, 1000, [&](const json& j, const net::Response&) {
    for (const auto& i : j.at("instances"))
      out.push_back(parse_instance(i));
    auto next = j.find("next_token");
    if (next == j.end() || !next->is_string() || next->get<std::string>().empty())
      return std::string();  // the last page
    return first + "&after_token=" + net::percent_encode(next->get<std::string>());
  });
  if (!read.ok()) return fail(read.error());
  return out;
}

ProviderResult<Machine> VastProvider::create(const InstanceIntent& intent) {
  if (intent.name.empty() || intent.pool_uid.empty()) {
    return fail(provider_error(ProviderErrorKind::InvalidRequest,
                               "rent: intent needs a name and a pool uid"));
  }
  if (intent.offer.id.empty() || !std::all_of(intent.offer.id.begin(), intent.offer.id.end(),
                                              [](char c) { return c >= '0' && c <= '9'; })) {
    return fail(
        provider_error(ProviderErrorKind::InvalidRequest,
                       "rent: offer id must be a Vast.ai ask id, got '" + intent.offer.id + "'"));
  }
  if (intent.user_data.size() > kMaxOnstart) {
    return fail(provider_error(
        ProviderErrorKind::InvalidRequest,
        "rent: the bootstrap script is " + std::to_string(intent.user_data.size()) +
            " characters; Vast.ai's onstart takes at most " + std::to_string(kMaxOnstart)));
  }
  std::string label = vast_label(intent.pool_uid, intent.name);
  auto body = rent_body(config_, intent, label);
  if (!body.ok()) return fail(body.error());
  auto existing = this->existing(intent);
  if (!existing.ok()) return fail(existing.error());
  if (*existing) return **existing;

  auto ans =
      call("rent", "PUT", "/api/v0/asks/" + intent.offer.id + "/", net::json_text(*body), false);
  if (!ans.ok()) {
    if (ans.error().kind != ProviderErrorKind::Transient) return fail(ans.error());
    return found_or(intent, ans.error());
  }
  Machine m;
  try {
    json j = json::parse(*ans);
    if (!j.value("success", false)) throw std::runtime_error("success is not true");
    m.provider_id = id_text(j.at("new_contract"));
  } catch (const std::exception& e) {
    return found_or(intent, net::unreadable_answer("rent", e));
  }
  if (!intent.ssh_public_key.empty()) {
    // attachSshKey: the create body has no key field. Attaching twice is
    // harmless, so the call may be retried.
    auto key = call("attach ssh key", "POST", "/api/v0/instances/" + m.provider_id + "/ssh/",
                    net::json_text(json{{"ssh_key", intent.ssh_public_key}}), true);
    if (!key.ok()) return fail(key.error());
  }
  m.name = intent.name;
  m.state = MachineState::Pending;
  m.provider_state = "provisioning";
  m.offer_id = intent.offer.id;
  m.region = intent.offer.region;
  m.gpu_model = intent.offer.gpu_model;
  m.gpu_count = intent.offer.gpu_count;
  m.price_per_hour = intent.offer.price_per_hour;
  m.launch_time = clock().now();
  m.tags = {{std::string(kTagPoolUid), intent.pool_uid},
            {std::string(kTagInstance), intent.name},
            {"vast.ai/label", label}};
  return m;
}

ProviderStatus VastProvider::terminate(std::string_view provider_id) {
  if (provider_id.empty() || !std::all_of(provider_id.begin(), provider_id.end(),
                                          [](char c) { return c >= '0' && c <= '9'; })) {
    return fail(provider_error(ProviderErrorKind::InvalidRequest, "destroy: invalid instance id"));
  }
  auto ans =
      call("destroy", "DELETE", "/api/v0/instances/" + std::string(provider_id) + "/", "", true);
  if (!ans.ok()) return fail(ans.error());
  return ProviderStatus::success();
}

}  // namespace gpupool::vastai
