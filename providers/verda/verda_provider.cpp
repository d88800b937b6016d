#include "providers/verda/verda_provider.h"
#include "providers/http/json_fields.h"

#include <algorithm>
#include <cctype>

#include <nlohmann/json.hpp>

#include "providers/container/container_start_script.h"
#include "providers/http/hash.h"
#include "providers/http/json_api.h"
#include "providers/http/provider_errors.h"
#include "providers/http/redact.h"
#include "providers/http/strings.h"
#include "providers/http/url.h"

namespace gpupool::verda {
namespace {

using nlohmann::json;

constexpr std::string_view kDescriptionPrefix = "gpupool-operator ";

MachineState state_from(std::string_view s) {
  if (s == "ordered" || s == "new" || s == "validating" || s == "provisioning")
    return MachineState::Pending;
  if (s == "running") return MachineState::Running;
  if (s == "deleting") return MachineState::Terminating;
  if (s == "discontinued" || s == "notfound") return MachineState::Terminated;
  if (s == "error" || s == "no_capacity" || s == "installation_failed") return MachineState::Failed;
  return MachineState::Unknown;
}

// An instance id as Verda returns it: a UUID-like token, nothing else.
bool plausible_id(std::string_view id) {
  if (id.size() < 8 || id.size() > 64) return false;
  return std::all_of(id.begin(), id.end(), [](char c) {
    return std::isalnum(static_cast<unsigned char>(c)) != 0 || c == '-';
  });
}

// "... pool-uid=<uid> instance=<name>", and " port=<port>" in Endpoint mode
// (so get()/list() know public_port).
std::string description_for(const InstanceIntent& intent) {
  std::string d =
      std::string(kDescriptionPrefix) + "pool-uid=" + intent.pool_uid + " instance=" + intent.name;
  if (!intent.container.image.empty()) d += " port=" + std::to_string(intent.container.port);
  return d;
}

// The port=<port> token of a description ("" when none).
std::string description_port(std::string_view d) {
  if (!d.starts_with(kDescriptionPrefix)) return "";
  auto at = d.find(" port=");
  if (at == std::string_view::npos) return "";
  d.remove_prefix(at + 6);
  return std::string(d.substr(0, d.find(' ')));
}

// Reads pool uid and instance name back from the description; false when the
// instance is not the operator's.
bool parse_description(std::string_view d, std::string& pool_uid, std::string& name) {
  if (!d.starts_with(kDescriptionPrefix)) return false;
  d.remove_prefix(kDescriptionPrefix.size());
  while (!d.empty()) {
    size_t sp = d.find(' ');
    std::string_view tok = d.substr(0, sp);
    if (tok.starts_with("pool-uid=")) pool_uid = tok.substr(9);
    if (tok.starts_with("instance=")) name = tok.substr(9);
    if (sp == std::string_view::npos) break;
    d.remove_prefix(sp + 1);
  }
  return !pool_uid.empty() && !name.empty();
}

Machine parse_instance(const json& j) {
  Machine m;
  m.provider_id = net::json_str(j, "id");
  m.provider_state = net::json_str(j, "status");
  m.state = state_from(m.provider_state);
  m.public_address = net::json_str(j, "ip");
  m.region = net::json_str(j, "location");
  m.offer_id = net::json_str(j, "instance_type");
  if (auto g = gpu_from_type(m.offer_id)) {
    m.gpu_model = g->model;
    m.gpu_count = g->count;
  }
  m.price_per_hour = net::json_price(j, "price_per_hour").value_or(Money());
  if (auto c = j.find("created_at"); c != j.end() && c->is_string()) {
    Time t;
    if (parse_rfc3339(c->get<std::string>(), t)) m.launch_time = t;
  }
  std::string uid, name;
  if (parse_description(net::json_str(j, "description"), uid, name)) {
    m.name = name;
    m.tags[std::string(kTagPoolUid)] = uid;
    m.tags[std::string(kTagInstance)] = name;
    m.tags[std::string(kTagManagedBy)] = std::string(kTagManagedByValue);
    if (std::string port = description_port(net::json_str(j, "description")); !port.empty())
      m.tags[std::string(container::kTagContainerPort)] = port;
  }
  m.public_port = container::vm_public_port_from_tags(m);
  return m;
}

}  // namespace

std::string redact_script_fields(std::string_view line) {
  constexpr std::string_view kField = "\"script\"";
  std::string out;
  size_t pos = 0;
  while (true) {
    size_t at = line.find(kField, pos);
    if (at == std::string_view::npos) break;
    size_t i = at + kField.size();
    while (i < line.size() && (line[i] == ' ' || line[i] == ':'))
      ++i;
    if (i >= line.size() || line[i] != '"') {
      out.append(line.substr(pos, i - pos));
      pos = i;
      continue;
    }
    size_t end = i + 1;
    while (end < line.size() && line[end] != '"')
      end += line[end] == '\\' ? size_t{2} : size_t{1};
    out.append(line.substr(pos, i + 1 - pos));
    out.append(net::kRedacted);
    pos = std::min(end, line.size());  // the closing quote (if any) is kept
  }
  out.append(line.substr(pos));
  return out;
}

std::optional<TypeGpu> gpu_from_type(std::string_view t) {
  size_t i = 0;
  int count = 0;
  while (i < t.size() && i < 3 && std::isdigit(static_cast<unsigned char>(t[i]))) {
    count = count * 10 + (t[i] - '0');
    ++i;
  }
  size_t dot = t.find('.', i);
  if (i == 0 || count < 1 || dot == std::string_view::npos || dot == i) return std::nullopt;
  return TypeGpu{std::string(t.substr(i, dot - i)), count};
}

ProviderError map_verda_error(int status, std::string_view body, net::Millis retry_after) {
  const net::CodedError e = net::read_coded_error(status, body, "code", "message");
  const std::string& code = e.code;
  const std::string& m = e.described;
  const std::string l = net::lower(e.message);
  if (code == "unauthorized_request") return provider_error(ProviderErrorKind::Unauthorized, m);
  if (code == "insufficient_funds") return provider_error(ProviderErrorKind::QuotaExceeded, m);
  if (code == "not_found") return provider_error(ProviderErrorKind::NotFound, m);
  if (code == "server_error" || code == "service_unavailable")
    return provider_error(ProviderErrorKind::Transient, m);
  if (status >= 400 && status < 500 && status != 429 &&
      (l.find("capacity") != std::string::npos || l.find("not available") != std::string::npos)) {
    return provider_error(ProviderErrorKind::NoCapacity, m);
  }
  if (code == "invalid_request" || code == "forbidden_action")
    return provider_error(ProviderErrorKind::InvalidRequest, m);
  return net::status_failure(status, e.text, retry_after);
}

namespace {

// The adapter's token(renew).
using TokenSource = std::function<ProviderResult<std::string>(bool renew)>;

jsonapi::AdapterSpec verda_spec(const VerdaConfig& config, const TokenSource& token) {
  net::ClientOptions o = config.http;
  if (o.log) {
    // The startup script (bootstrap secrets) travels in a field the
    // shared redaction does not know ("script").
    o.log = [sink = o.log](std::string_view line) { sink(redact_script_fields(line)); };
  }
  return {.provider_name = config.provider_name,
          .type = "verda",
          .http = std::move(o),
          .api = {.label = "Verda",
                  .endpoint = config.endpoint,
                  .auth = [token]() -> ProviderResult<net::Headers> {
                    auto tok = token(false);
                    if (!tok.ok()) return fail(tok.error());
                    return net::Headers{{"Authorization", "Bearer " + *tok}};
                  },
                  .map_error = map_verda_error,
                  // A cached token may have expired or been revoked: one new token.
                  .renew_auth = [token]() -> ProviderStatus {
                    auto fresh = token(true);
                    if (!fresh.ok()) return fail(fresh.error());
                    return ProviderStatus::success();
                  }},
          .get_live_only = false,
          .require_managed_tag = false,
          .machine_noun = "Verda instance"};
}

}  // namespace

VerdaProvider::VerdaProvider(VerdaConfig config, net::HttpTransport& transport, const Clock& clock,
                             net::Sleeper& sleeper)
    : JsonApiProvider(verda_spec(config, [this](bool renew) { return token(renew); }), transport,
                      clock, sleeper),
      config_(std::move(config)),
      token_api_(client(), net::ApiSpec{"Verda", config_.endpoint,
                                        [] { return ProviderResult<net::Headers>(net::Headers{}); },
                                        map_verda_error}) {}

ProviderResult<std::string> VerdaProvider::token(bool renew) {
  MutexLock lock(token_mu_);
  const Time now = clock().now();
  if (!renew && !access_token_.empty() && now + Duration(60) < token_expires_) return access_token_;
  if (config_.client_id.empty() || config_.client_secret.empty()) {
    return fail(provider_error(ProviderErrorKind::Unauthorized,
                               "Verda client id or client secret is missing"));
  }
  auto parse = [&](const std::string& body) REQUIRES(token_mu_) -> bool {
    json j = json::parse(body, nullptr, false);
    if (j.is_discarded() || !j.is_object() || net::json_str(j, "access_token").empty())
      return false;
    access_token_ = net::json_str(j, "access_token");
    refresh_token_ = net::json_str(j, "refresh_token");
    int64_t lifetime = 3600;
    if (auto e = j.find("expires_in"); e != j.end() && e->is_number_integer())
      lifetime = std::clamp<int64_t>(e->get<int64_t>(), 0, int64_t{30} * 86400);
    token_expires_ = now + Duration(lifetime);
    return true;
  };
  if (!refresh_token_.empty()) {
    json body = {{"grant_type", "refresh_token"}, {"refresh_token", refresh_token_}};
    auto ans =
        token_api_.call("token refresh", "POST", "/oauth2/token", net::json_text(body), true);
    if (ans.ok() && parse(*ans)) return access_token_;
    refresh_token_.clear();
  }
  json body = {{"grant_type", "client_credentials"},
               {"client_id", config_.client_id},
               {"client_secret", config_.client_secret}};
  auto ans = token_api_.call("token", "POST", "/oauth2/token", net::json_text(body), true);
  if (!ans.ok()) {
    access_token_.clear();
    return fail(ans.error());
  }
  if (!parse(*ans)) {
    access_token_.clear();
    return fail(provider_error(ProviderErrorKind::Transient, "token: unreadable answer"));
  }
  return access_token_;
}

ProviderResult<std::vector<Offer>> VerdaProvider::offers(const OfferQuery& query) {
  auto types = call("instance types", "GET", "/instance-types", "", true);
  if (!types.ok()) return fail(types.error());
  auto avail = call("instance availability", "GET", "/instance-availability", "", true);
  if (!avail.ok()) return fail(avail.error());
  std::vector<Offer> out;
  try {
    std::map<std::string, std::vector<std::string>> where;  // type -> locations
    for (const auto& loc : json::parse(*avail)) {
      const std::string code = loc.at("location_code").get<std::string>();
      for (const auto& t : loc.at("availabilities"))
        where[t.get<std::string>()].push_back(code);
    }
    for (const auto& t : json::parse(*types)) {
      const std::string name = t.at("instance_type").get<std::string>();
      auto gpu = gpu_from_type(name);
      if (!gpu) continue;  // CPU-only types
      if (auto g = t.find("gpu"); g != t.end() && g->is_object()) {
        if (auto n = g->find("number_of_gpus"); n != g->end() && n->is_number_integer())
          gpu->count = n->get<int>();
      }
      auto price = net::json_price(t, "price_per_hour");  // "5.00": a string on the wire
      if (!price) continue;
      for (const auto& location : where[name]) {
        add_offer(out, query,
                  {.id = name,
                   .region = location,
                   .gpu_model = gpu->model,
                   .gpu_count = gpu->count,
                   .price_per_hour = *price,
                   .billing = config_.billing});
      }
    }
  } catch (const std::exception& e) {
    return fail(net::unreadable_answer("instance types", e));
  }
  return out;
}

ProviderResult<std::vector<Machine>> VerdaProvider::list_all(std::string_view /*pool_uid*/,
                                                             std::string_view /*name*/) {
  std::vector<Machine> out;
  auto read = read_pages("list instances", "/instances", 1,
                         [&](const json& page, const net::Response& /*answer*/) {
                           for (const auto& i : page)
                             out.push_back(parse_instance(i));
                           return std::string();  // one page
                         });
  if (!read.ok()) return fail(read.error());
  return out;
}

ProviderResult<std::string> VerdaProvider::post_for_id(const std::string& what,
                                                       const std::string& path,
                                                       const std::string& body) {
  auto ans = call(what, "POST", path, body, false);
  if (!ans.ok()) return fail(ans.error());
  std::string id = net::trim(*ans);
  if (id.size() >= 2 && id.front() == '"' && id.back() == '"') id = id.substr(1, id.size() - 2);
  if (!plausible_id(id)) {
    return fail(provider_error(ProviderErrorKind::Transient,
                               what + ": unreadable answer: " + net::body_excerpt(*ans)));
  }
  return id;
}

ProviderResult<Machine> VerdaProvider::create(const InstanceIntent& intent) {
  auto user_data = container::vm_user_data(intent, "create");
  if (!user_data.ok()) return fail(user_data.error());
  auto token_char = [](char c) {
    return std::isalnum(static_cast<unsigned char>(c)) != 0 || c == '-' || c == '.' || c == '_';
  };
  if (intent.name.empty() || intent.pool_uid.empty() || intent.name.size() > 128 ||
      intent.pool_uid.size() > 128 ||
      !std::all_of(intent.name.begin(), intent.name.end(), token_char) ||
      !std::all_of(intent.pool_uid.begin(), intent.pool_uid.end(), token_char)) {
    return fail(
        provider_error(ProviderErrorKind::InvalidRequest,
                       "create: intent needs a name and a pool uid ([A-Za-z0-9._-], <= 128)"));
  }
  if (intent.offer.id.empty() || intent.offer.region.empty()) {
    return fail(provider_error(ProviderErrorKind::InvalidRequest,
                               "create: the offer needs an instance type and location"));
  }
  auto existing = this->existing(intent);
  if (!existing.ok()) return fail(existing.error());
  if (*existing) return **existing;
  const std::string hostname = "gp-" + net::sha256_hex(intent.pool_uid).substr(0, 10) + "-" +
                               net::sha256_hex(intent.pool_uid + "/" + intent.name).substr(0, 10);
  std::vector<std::string> key_ids = config_.ssh_key_ids;
  if (!intent.ssh_public_key.empty()) {
    auto id = ssh_keys_.id_for(
        intent.ssh_public_key,
        [&]() -> ProviderResult<std::vector<net::SshKeyEntry>> {
          auto body = call("list ssh keys", "GET", "/sshkeys", "", true);
          if (!body.ok()) return fail(body.error());
          return net::parse_ssh_key_list(*body, "", "id", "key");
        },
        [&](const std::string& name) -> ProviderResult<std::string> {
          json add = {{"name", name}, {"key", intent.ssh_public_key}};
          return post_for_id("add ssh key", "/sshkeys", net::json_text(add));
        });
    if (!id.ok()) return fail(id.error());
    if (std::find(key_ids.begin(), key_ids.end(), *id) == key_ids.end()) key_ids.push_back(*id);
  }
  json body = {{"instance_type", intent.offer.id},
               {"image", intent.image.empty() ? config_.image : intent.image},
               {"ssh_key_ids", key_ids},
               {"hostname", hostname},
               {"description", description_for(intent)},
               {"location_code", intent.offer.region},
               {"is_spot", false},
               {"contract", "PAY_AS_YOU_GO"},
               {"pricing", "FIXED_PRICE"}};
  if (!user_data->empty()) {
    json script = {{"name", hostname}, {"script", *user_data}};
    auto sid = post_for_id("startup script", "/scripts", net::json_text(script));
    if (!sid.ok()) return fail(sid.error());
    body["startup_script_id"] = *sid;
  }
  // The new id as plain text; an answer that is not one is treated as lost.
  auto ans = post_for_id("create", "/instances", net::json_text(body));
  return settle(intent, std::move(ans), [&](const std::string& id) -> ProviderResult<Machine> {
    return jsonapi::bought_machine(intent, id, "ordered", clock().now());
  });
}

ProviderStatus VerdaProvider::terminate(std::string_view provider_id) {
  if (!plausible_id(provider_id)) {
    return fail(
        provider_error(ProviderErrorKind::InvalidRequest,
                       "terminate: invalid instance id '" + std::string(provider_id) + "'"));
  }
  json body = {{"id", {std::string(provider_id)}}, {"action", "delete"}};
  auto ans = call("delete", "PUT", "/instances", net::json_text(body), true);
  if (!ans.ok()) return fail(ans.error());
  return ProviderStatus::success();
}

}  // namespace gpupool::verda
