#include "providers/lambda/lambda_provider.h"
#include "providers/http/json_fields.h"

#include <algorithm>

#include <nlohmann/json.hpp>

#include "providers/container/container_start_script.h"
#include "providers/http/hash.h"
#include "providers/http/provider_errors.h"
#include "providers/http/url.h"

namespace gpupool::lambda {
namespace {

using nlohmann::json;

constexpr const char* kTagManaged = "gpupool-managed-by";
constexpr const char* kTagPool = "gpupool-pool-uid";
constexpr const char* kTagName = "gpupool-instance";
// Endpoint mode: the container port, so get()/list() know public_port.
constexpr const char* kTagPort = "gpupool-container-port";

MachineState state_from(std::string_view s) {
  if (s == "booting") return MachineState::Pending;
  if (s == "active") return MachineState::Running;
  if (s == "terminating") return MachineState::Terminating;
  if (s == "terminated") return MachineState::Terminated;
  if (s == "unhealthy" || s == "preempted") return MachineState::Failed;
  return MachineState::Unknown;
}

Machine parse_instance(const json& j) {
  Machine m;
  m.provider_id = net::json_str(j, "id");
  m.provider_state = net::json_str(j, "status");
  m.state = state_from(m.provider_state);
  m.public_address = net::json_str(j, "ip");
  if (auto r = j.find("region"); r != j.end() && r->is_object())
    m.region = net::json_str(*r, "name");
  if (auto t = j.find("instance_type"); t != j.end() && t->is_object()) {
    m.offer_id = net::json_str(*t, "name");
    m.gpu_model = gpu_from_description(net::json_str(*t, "gpu_description"));
    if (auto p = t->find("price_cents_per_hour"); p != t->end() && p->is_number_integer()) {
      m.price_per_hour = Money::from_cents(p->get<int64_t>());
    }
    if (auto s = t->find("specs"); s != t->end() && s->is_object()) {
      if (auto g = s->find("gpus"); g != s->end() && g->is_number_integer())
        m.gpu_count = g->get<int>();
    }
  }
  if (auto tags = j.find("tags"); tags != j.end() && tags->is_array()) {
    for (const auto& t : *tags) {
      if (!t.is_object()) continue;
      std::string k = net::json_str(t, "key"), v = net::json_str(t, "value");
      if (k == kTagPool) m.tags[std::string(kTagPoolUid)] = v;
      if (k == kTagName) {
        m.tags[std::string(kTagInstance)] = v;
        m.name = v;
      }
      if (k == kTagManaged) m.tags[std::string(kTagManagedBy)] = v;
      if (k == kTagPort) m.tags[std::string(container::kTagContainerPort)] = v;
    }
  }
  m.public_port = container::vm_public_port_from_tags(m);
  return m;
}

}  // namespace

std::string gpu_from_description(std::string_view d) {
  auto paren = d.find(" (");
  std::string_view head = d.substr(0, paren);
  while (!head.empty() && head.back() == ' ')
    head.remove_suffix(1);
  return std::string(head);
}

ProviderError map_lambda_error(int status, std::string_view body, net::Millis retry_after) {
  const net::CodedError e = net::read_coded_error(status, body, "code", "message", "error");
  const std::string& code = e.code;
  const std::string& m = e.described;
  if (code == "instance-operations/launch/insufficient-capacity")
    return provider_error(ProviderErrorKind::NoCapacity, m);
  if (code == "global/quota-exceeded") return provider_error(ProviderErrorKind::QuotaExceeded, m);
  if (code == "global/invalid-api-key" || code == "global/account-inactive") {
    return provider_error(ProviderErrorKind::Unauthorized, m);
  }
  if (code == "global/object-does-not-exist" || code == "global/not-found") {
    return provider_error(ProviderErrorKind::NotFound, m);
  }
  if (code.starts_with("provider/")) return provider_error(ProviderErrorKind::Transient, m);
  if (code == "global/invalid-parameters")
    return provider_error(ProviderErrorKind::InvalidRequest, m);
  return net::status_failure(status, e.text, retry_after);
}

namespace {

jsonapi::AdapterSpec lambda_spec(const LambdaConfig& config) {
  net::ClientOptions o = config.http;
  if (o.rate_per_second <= 0) {
    o.rate_per_second = config.requests_per_second;
    o.burst = 1;
  }
  return {.provider_name = config.provider_name,
          .type = "lambda",
          .http = std::move(o),
          .api = {"Lambda", config.endpoint,
                  net::bearer_auth(config.api_key, "Lambda API key is missing"), map_lambda_error},
          .get_live_only = false,
          .require_managed_tag = true,
          .machine_noun = "Lambda instance"};
}

}  // namespace

LambdaProvider::LambdaProvider(LambdaConfig config, net::HttpTransport& transport,
                               const Clock& clock, net::Sleeper& sleeper)
    : JsonApiProvider(lambda_spec(config), transport, clock, sleeper),
      config_(std::move(config)),
      sleeper_(sleeper) {}

ProviderResult<std::vector<Offer>> LambdaProvider::offers(const OfferQuery& query) {
  auto body = call("instance types", "GET", "/api/v1/instance-types", "", true);
  if (!body.ok()) return fail(body.error());
  std::vector<Offer> out;
  try {
    json j = json::parse(*body);
    for (const auto& [key, entry] : j.at("data").items()) {
      const json& t = entry.at("instance_type");
      std::string model = gpu_from_description(t.at("gpu_description").get<std::string>());
      int gpus = t.at("specs").at("gpus").get<int>();
      for (const auto& region : entry.at("regions_with_capacity_available")) {
        std::string r = region.at("name").get<std::string>();
        add_offer(out, query,
                  {.id = t.at("name").get<std::string>(),
                   .region = r,
                   .gpu_model = model,
                   .gpu_count = gpus,
                   .price_per_hour = Money::from_cents(t.at("price_cents_per_hour").get<int64_t>()),
                   .billing = config_.billing,
                   .tier = ReliabilityTier::Datacenter});
      }
    }
  } catch (const std::exception& e) {
    return fail(net::unreadable_answer("instance types", e));
  }
  return out;
}

ProviderResult<std::vector<Machine>> LambdaProvider::list_all(std::string_view /*pool_uid*/,
                                                              std::string_view /*name*/) {
  std::vector<Machine> out;
  auto read = read_pages("list instances", "/api/v1/instances", 1,
                         [&](const json& page, const net::Response& /*answer*/) {
                           for (const auto& i : page.at("data"))
                             out.push_back(parse_instance(i));
                           return std::string();  // one page
                         });
  if (!read.ok()) return fail(read.error());
  return out;
}

ProviderResult<Machine> LambdaProvider::create(const InstanceIntent& intent) {
  auto user_data = container::vm_user_data(intent, "launch");
  if (!user_data.ok()) return fail(user_data.error());
  if (intent.name.empty() || intent.pool_uid.empty() || intent.name.size() > 128 ||
      intent.pool_uid.size() > 128) {
    return fail(provider_error(ProviderErrorKind::InvalidRequest,
                               "launch: intent needs a name and a pool uid (<= 128)"));
  }
  if (config_.ssh_key_name.empty()) {
    return fail(
        provider_error(ProviderErrorKind::InvalidRequest, "launch: no SSH key name configured"));
  }
  if (intent.offer.id.empty() || intent.offer.region.empty()) {
    return fail(provider_error(ProviderErrorKind::InvalidRequest,
                               "launch: the offer needs an instance type and region"));
  }
  auto existing = this->existing(intent);
  if (!existing.ok()) return fail(existing.error());
  if (*existing) return **existing;
  std::string key = intent.pool_uid + "/" + intent.name;
  json body = {{"region_name", intent.offer.region},
               {"instance_type_name", intent.offer.id},
               {"ssh_key_names", {config_.ssh_key_name}},
               {"name", "gp-" + net::sha256_hex(intent.pool_uid).substr(0, 10) + "-" +
                            net::sha256_hex(key).substr(0, 10)},
               {"tags",
                {{{"key", kTagManaged}, {"value", std::string(kTagManagedByValue)}},
                 {{"key", kTagPool}, {"value", intent.pool_uid}},
                 {{"key", kTagName}, {"value", intent.name}}}}};
  if (!intent.container.image.empty()) {
    body["tags"].push_back({{"key", kTagPort}, {"value", std::to_string(intent.container.port)}});
  }
  if (!user_data->empty()) body["user_data"] = *user_data;
  // Lambda allows one launch per 12 seconds: wait for it on the injected
  // sleeper (the general one request per second is the HTTP client's bucket).
  ProviderResult<std::string> ans = std::string();
  {
    MutexLock lock(launch_mu_);
    if (last_launch_ && config_.launch_interval.count() > 0) {
      const SteadyTime next = *last_launch_ + config_.launch_interval;
      const SteadyTime now = clock().steady_now();
      if (now < next) sleeper_.sleep_for(std::chrono::ceil<net::Millis>(next - now));
    }
    ans = call("launch", "POST", "/api/v1/instance-operations/launch", net::json_text(body), false);
    last_launch_ = clock().steady_now();
  }
  if (!ans.ok() && ans.error().kind == ProviderErrorKind::NotFound) {
    // A 404 on launch names a missing SSH key, type or file system: the
    // request is wrong; no machine is missing.
    ProviderError e = ans.error();
    e.kind = ProviderErrorKind::InvalidRequest;
    return fail(e);
  }
  return settle(intent, std::move(ans), [&](const std::string& answer) -> ProviderResult<Machine> {
    std::string id;
    try {
      const json j = json::parse(answer);
      const json& ids = j.at("data").at("instance_ids");
      if (!ids.is_array() || ids.empty()) throw std::runtime_error("no instance ids");
      id = ids[0].get<std::string>();
    } catch (const std::exception& e) {
      return fail(net::unreadable_answer("launch", e));
    }
    return jsonapi::bought_machine(intent, std::move(id), "booting", clock().now());
  });
}

ProviderStatus LambdaProvider::terminate(std::string_view provider_id) {
  if (provider_id.empty())
    return fail(provider_error(ProviderErrorKind::InvalidRequest, "terminate: empty instance id"));
  json body = {{"instance_ids", {std::string(provider_id)}}};
  auto ans = call("terminate", "POST", "/api/v1/instance-operations/terminate",
                  net::json_text(body), true);
  if (!ans.ok()) return fail(ans.error());
  try {
    json j = json::parse(*ans);
    for (const auto& i : j.at("data").at("terminated_instances")) {
      if (net::json_str(i, "id") == provider_id && net::json_str(i, "status") == "terminated") {
        return fail(provider_error(ProviderErrorKind::NotFound,
                                   std::string(provider_id) + " is already terminated"));
      }
    }
  } catch (const std::exception& e) {
    return fail(net::unreadable_answer("terminate", e));
  }
  return ProviderStatus::success();
}

}  // namespace gpupool::lambda
