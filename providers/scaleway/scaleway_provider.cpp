#include "providers/scaleway/scaleway_provider.h"
#include "providers/http/json_fields.h"

#include <algorithm>
#include <cctype>
#include <charconv>

#include <nlohmann/json.hpp>

#include "providers/container/container_start_script.h"
#include "providers/http/provider_errors.h"
#include "providers/http/strings.h"
#include "providers/http/url.h"

namespace gpupool::scaleway {
namespace {

using nlohmann::json;

bool safe_token(std::string_view s, bool allow_dot) {
  return !s.empty() && s.size() <= 128 && std::all_of(s.begin(), s.end(), [&](char c) {
    return std::isalnum(static_cast<unsigned char>(c)) != 0 || c == '-' || c == '_' ||
           (allow_dot && c == '.');
  });
}

MachineState state_from(std::string_view s) {
  if (s == "stopped" || s == "starting") return MachineState::Pending;
  if (s == "running") return MachineState::Running;
  if (s == "stopping") return MachineState::Terminating;
  if (s == "locked") return MachineState::Failed;
  return MachineState::Unknown;
}

Machine parse_server(const json& j, const std::string& zone) {
  Machine m;
  m.provider_id = zone + "/" + net::json_str(j, "id");
  m.name = net::json_str(j, "name");
  m.region = zone;
  m.provider_state = net::json_str(j, "state");
  m.state = state_from(m.provider_state);
  m.offer_id = net::json_str(j, "commercial_type");
  if (auto g = gpu_from_type(m.offer_id)) {
    m.gpu_model = g->model;
    m.gpu_count = g->count;
  }
  if (auto c = j.find("creation_date"); c != j.end() && c->is_string()) {
    Time t;
    if (parse_rfc3339(c->get<std::string>(), t)) m.launch_time = t;
  }
  if (auto ip = j.find("public_ip"); ip != j.end() && ip->is_object())
    m.public_address = net::json_str(*ip, "address");
  container::read_vm_string_tags(net::json_strings(j, "tags"), m);
  return m;
}

}  // namespace

std::optional<TypeGpu> gpu_from_type(std::string_view t) {
  size_t d1 = t.find('-');
  if (d1 == std::string_view::npos || d1 == 0) return std::nullopt;
  size_t d2 = t.find('-', d1 + 1);
  std::string_view digits = t.substr(d1 + 1, d2 == std::string_view::npos ? d2 : d2 - d1 - 1);
  int count = 0;
  auto [p, ec] = std::from_chars(digits.data(), digits.data() + digits.size(), count);
  if (digits.empty() || ec != std::errc() || p != digits.data() + digits.size() || count < 1 ||
      count > 64) {
    return std::nullopt;
  }
  return TypeGpu{std::string(t.substr(0, d1)), count};
}

ProviderError map_scw_error(int status, std::string_view body, net::Millis retry_after) {
  const net::CodedError e = net::read_coded_error(status, body, "type", "message");
  const std::string& type = e.code;
  const std::string& m = e.described;
  if (type == "denied_authentication" || type == "authentication_error" ||
      type == "permissions_denied") {
    return provider_error(ProviderErrorKind::Unauthorized, m);
  }
  if (type == "unknown_resource") return provider_error(ProviderErrorKind::NotFound, m);
  // 409 transient_state: the server is starting or stopping; call again.
  if (type == "transient_state") return provider_error(ProviderErrorKind::Transient, m);
  if (type == "out_of_stock" || net::lower(e.message).find("out of stock") != std::string::npos)
    return provider_error(ProviderErrorKind::NoCapacity, m);
  if (type == "quotas_exceeded") return provider_error(ProviderErrorKind::QuotaExceeded, m);
  if (type == "invalid_arguments" || type == "invalid_request_error")
    return provider_error(ProviderErrorKind::InvalidRequest, m);
  return net::status_failure(status, e.text, retry_after);
}

ScwProvider::ScwProvider(ScwConfig config, net::HttpTransport& transport, const Clock& clock,
                         net::Sleeper& sleeper)
    : JsonApiProvider({.provider_name = config.provider_name,
                       .type = "scaleway",
                       .http = config.http,
                       .api = {.label = "Scaleway",
                               .endpoint = config.endpoint,
                               .auth = net::header_auth("X-Auth-Token", "", config.secret_key,
                                                        "Scaleway secret key is missing"),
                               .map_error = map_scw_error},
                       .get_live_only = true,
                       .require_managed_tag = true,
                       .machine_noun = "Scaleway server"},
                      transport, clock, sleeper),
      config_(std::move(config)) {}

ProviderResult<std::vector<Offer>> ScwProvider::offers(const OfferQuery& query) {
  std::vector<Offer> out;
  for (const std::string& zone : config_.zones) {
    if (!net::any_or_has(query.regions, zone)) continue;
    const std::string base = "/instance/v1/zones/" + zone + "/products/servers";
    auto products = send("server types", "GET", base + "?per_page=100", "", true);
    if (!products.ok()) return fail(products.error());
    auto avail = send("server availability", "GET", base + "/availability?per_page=100", "", true);
    if (!avail.ok()) return fail(avail.error());
    try {
      const json a = json::parse(avail->body).at("servers");
      const json all = json::parse(products->body);
      for (const auto& [type, t] : all.at("servers").items()) {
        std::optional<TypeGpu> gpu;
        if (auto gi = t.find("gpu_info"); gi != t.end() && gi->is_object()) {
          std::string model = net::json_str(*gi, "gpu_name");
          auto n = t.find("gpu");
          if (!model.empty() && n != t.end() && n->is_number_integer() && n->get<int>() > 0)
            gpu = TypeGpu{model, n->get<int>()};
        }
        if (!gpu) {
          auto n = t.find("gpu");
          if (n == t.end() || !n->is_number_integer() || n->get<int>() < 1) continue;
          gpu = gpu_from_type(type);
        }
        if (!gpu || !net::any_or_has(query.gpu_models, gpu->model)) continue;
        if (auto s = a.find(type);
            s != a.end() && s->is_object() && net::json_str(*s, "availability") == "shortage") {
          continue;
        }
        auto price = net::price_from_double(t.at("hourly_price").get<double>());
        if (!price) continue;
        add_offer(out, query,
                  {.id = type,
                   .region = zone,
                   .gpu_model = gpu->model,
                   .gpu_count = gpu->count,
                   .price_per_hour = *price,
                   .billing = config_.billing});
      }
    } catch (const std::exception& e) {
      return fail(net::unreadable_answer("server types", e));
    }
  }
  return out;
}

ProviderResult<std::vector<Machine>> ScwProvider::list_all(std::string_view pool_uid,
                                                           std::string_view /*name*/) {
  const std::string tag = pool_uid.empty()
                              ? std::string(container::kVmTagManaged)
                              : std::string(container::kVmTagPoolPrefix) + std::string(pool_uid);
  std::vector<Machine> out;
  for (const std::string& zone : config_.zones) {
    const std::string first = "/instance/v1/zones/" + zone +
                              "/servers?tags=" + net::percent_encode(tag) +
                              "&per_page=" + std::to_string(config_.page_size) + "&page=";
    size_t read = 0;
    int page = 1;
    auto listed =
        read_pages("list servers", first + "1", config_.max_pages,
                   [&](const json& j, const net::Response& answer) {
                     size_t got = 0;
                     for (const auto& s : j.at("servers")) {
                       out.push_back(parse_server(s, zone));
                       ++got;
                     }
                     const std::string t(net::find_header(answer.headers, "x-total-count"));
                     const size_t total = t.empty() ? 0 : std::stoul(t);
                     read += got;
                     if (got == 0 || read >= total) return std::string();
                     return first + std::to_string(++page);
                   });
    if (!listed.ok()) return fail(listed.error());
  }
  return out;
}

ProviderResult<Machine> ScwProvider::finish(Machine m, const InstanceIntent& intent) {
  if (m.provider_state != "stopped") return m;
  const std::string zone = m.region;
  const std::string id = m.provider_id.substr(zone.size() + 1);
  const std::string server = "/instance/v1/zones/" + zone + "/servers/" + id;
  auto user_data = container::vm_user_data(intent, "set user data");
  if (!user_data.ok()) return fail(user_data.error());
  if (!user_data->empty()) {
    auto ud = send("set user data", "PATCH", server + "/user_data/cloud-init", *user_data, true,
                   "text/plain");
    if (!ud.ok()) return fail(ud.error());
  }
  auto on = send("power on", "POST", server + "/action",
                 net::json_text(json{{"action", "poweron"}}), false);
  if (!on.ok()) return fail(on.error());
  m.state = MachineState::Pending;
  m.provider_state = "starting";
  return m;
}

ProviderResult<Machine> ScwProvider::create(const InstanceIntent& intent) {
  auto user_data = container::vm_user_data(intent, "create");
  if (!user_data.ok()) return fail(user_data.error());
  if (!safe_token(intent.name, true) || !safe_token(intent.pool_uid, false)) {
    return fail(provider_error(ProviderErrorKind::InvalidRequest,
                               "create: intent needs a name and a pool uid ([A-Za-z0-9._-])"));
  }
  if (intent.offer.id.empty() || !safe_token(intent.offer.region, false)) {
    return fail(provider_error(ProviderErrorKind::InvalidRequest,
                               "create: the offer needs a commercial type and a zone"));
  }
  if (config_.project_id.empty()) {
    return fail(provider_error(ProviderErrorKind::InvalidRequest,
                               "create: no Scaleway project id configured"));
  }
  auto existing = this->existing(intent);
  if (!existing.ok()) return fail(existing.error());
  if (*existing) return finish(std::move(**existing), intent);
  json body = {{"name", intent.name},
               {"commercial_type", intent.offer.id},
               {"image", intent.image.empty() ? config_.image : intent.image},
               {"project", config_.project_id},
               {"dynamic_ip_required", true},
               {"tags", container::vm_string_tags(intent)}};
  auto ans = send("create server", "POST", "/instance/v1/zones/" + intent.offer.region + "/servers",
                  net::json_text(body), false);
  auto bought =
      settle(intent, std::move(ans), [&](const net::Response& answer) -> ProviderResult<Machine> {
        Machine m;
        try {
          m = parse_server(json::parse(answer.body).at("server"), intent.offer.region);
          if (m.provider_id.size() <= intent.offer.region.size() + 1)
            throw std::runtime_error("server without an id");
        } catch (const std::exception& e) {
          return fail(net::unreadable_answer("create server", e));
        }
        m.name = intent.name;
        m.tags[std::string(kTagInstance)] = intent.name;
        m.tags[std::string(kTagPoolUid)] = intent.pool_uid;
        if (m.price_per_hour.is_zero()) m.price_per_hour = intent.offer.price_per_hour;
        if (!m.launch_time) m.launch_time = clock().now();
        return m;
      });
  if (!bought.ok()) return bought;
  return finish(std::move(*bought), intent);
}

ProviderStatus ScwProvider::terminate(std::string_view provider_id) {
  const size_t slash = provider_id.find('/');
  if (slash == std::string_view::npos || !safe_token(provider_id.substr(0, slash), false) ||
      !safe_token(provider_id.substr(slash + 1), false)) {
    return fail(provider_error(
        ProviderErrorKind::InvalidRequest,
        "terminate: invalid server id '" + std::string(provider_id) + "' (want <zone>/<id>)"));
  }
  const std::string zone(provider_id.substr(0, slash));
  const std::string server =
      "/instance/v1/zones/" + zone + "/servers/" + std::string(provider_id.substr(slash + 1));
  auto got = send("get server", "GET", server, "", true);
  if (!got.ok()) return fail(got.error());
  std::string state;
  std::vector<std::string> volumes;
  try {
    const json j = json::parse(got->body).at("server");
    state = j.at("state").get<std::string>();
    if (auto v = j.find("volumes"); v != j.end() && v->is_object()) {
      for (const auto& [slot, vol] : v->items()) {
        const std::string vid = net::json_str(vol, "id");
        if (!vid.empty()) volumes.push_back(vid);
      }
    }
  } catch (const std::exception& e) {
    return fail(net::unreadable_answer("get server", e));
  }
  if (state == "stopping") return ProviderStatus::success();  // under way
  if (state != "stopped") {
    // "terminate" stops the server and deletes it with its volumes. A
    // server still starting answers transient_state (Transient: call again).
    auto ans = send("terminate", "POST", server + "/action",
                    net::json_text(json{{"action", "terminate"}}), true);
    if (!ans.ok()) return fail(ans.error());
    return ProviderStatus::success();
  }
  // A stopped server (create crashed before power-on) cannot be terminated:
  // delete it, then the volumes it leaves behind.
  auto del = send("delete server", "DELETE", server, "", true);
  if (!del.ok() && del.error().kind != ProviderErrorKind::NotFound) return fail(del.error());
  for (const auto& v : volumes) {
    std::string volume = "/instance/v1/zones/" + zone;
    volume.append("/volumes/").append(v);
    auto dv = send("delete volume", "DELETE", volume, "", true);
    if (!dv.ok() && dv.error().kind != ProviderErrorKind::NotFound) return fail(dv.error());
  }
  return ProviderStatus::success();
}

}  // namespace gpupool::scaleway
