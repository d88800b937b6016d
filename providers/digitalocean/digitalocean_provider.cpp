#include "providers/digitalocean/digitalocean_provider.h"
#include "providers/http/json_fields.h"

#include <algorithm>
#include <cctype>
#include <charconv>

#include <nlohmann/json.hpp>

#include "providers/container/container_start_script.h"
#include "providers/http/provider_errors.h"
#include "providers/http/strings.h"
#include "providers/http/url.h"

namespace gpupool::digitalocean {
namespace {

using nlohmann::json;

// DigitalOcean takes image and SSH key ids as JSON numbers and slugs /
// fingerprints as strings: "512189" -> 512189, "gpu-h100x1-base" stays.
json id_or_string(const std::string& v) {
  int64_t numeric = 0;
  auto [end, ec] = std::from_chars(v.data(), v.data() + v.size(), numeric);
  if (!v.empty() && ec == std::errc() && end == v.data() + v.size()) return numeric;
  return v;
}

constexpr std::string_view kTagManaged = "gpupool-managed";
constexpr std::string_view kTagPoolPrefix = "gpupool-pool:";
// Endpoint mode: the container port, so get()/list() know public_port.
constexpr std::string_view kTagPortPrefix = "gpupool-port:";

MachineState state_from(std::string_view s) {
  if (s == "new") return MachineState::Pending;
  if (s == "active") return MachineState::Running;
  if (s == "archive") return MachineState::Terminated;
  return MachineState::Unknown;
}

// The GPU of a size or droplet-size object.
std::optional<SlugGpu> gpu_of(const json& size, std::string_view slug) {
  if (auto g = size.find("gpu_info"); g != size.end() && g->is_object()) {
    std::string model = gpu_from_model(net::json_str(*g, "model"));
    auto c = g->find("count");
    if (!model.empty() && c != g->end() && c->is_number_integer() && c->get<int>() > 0)
      return SlugGpu{model, c->get<int>()};
  }
  return gpu_from_slug(slug);
}

Machine parse_droplet(const json& j) {
  Machine m;
  if (auto id = j.find("id"); id != j.end() && id->is_number_integer())
    m.provider_id = std::to_string(id->get<int64_t>());
  m.name = net::json_str(j, "name");
  m.provider_state = net::json_str(j, "status");
  m.state = state_from(m.provider_state);
  m.offer_id = net::json_str(j, "size_slug");
  if (auto r = j.find("region"); r != j.end() && r->is_object())
    m.region = net::json_str(*r, "slug");
  if (auto s = j.find("size"); s != j.end() && s->is_object()) {
    if (auto g = gpu_of(*s, m.offer_id)) {
      m.gpu_model = g->model;
      m.gpu_count = g->count;
    }
    if (auto p = s->find("price_hourly"); p != s->end() && p->is_number())
      m.price_per_hour = net::price_from_double(p->get<double>()).value_or(Money());
  }
  if (auto c = j.find("created_at"); c != j.end() && c->is_string()) {
    Time t;
    if (parse_rfc3339(c->get<std::string>(), t)) m.launch_time = t;
  }
  if (auto n = j.find("networks"); n != j.end() && n->is_object()) {
    if (auto v4 = n->find("v4"); v4 != n->end() && v4->is_array()) {
      for (const auto& a : *v4) {
        if (a.is_object() && net::json_str(a, "type") == "public")
          m.public_address = net::json_str(a, "ip_address");
      }
    }
  }
  bool managed = false;
  if (auto tags = j.find("tags"); tags != j.end() && tags->is_array()) {
    for (const auto& t : *tags) {
      if (!t.is_string()) continue;
      std::string tag = t.get<std::string>();
      if (tag == kTagManaged) managed = true;
      if (tag.starts_with(kTagPoolPrefix))
        m.tags[std::string(kTagPoolUid)] = tag.substr(kTagPoolPrefix.size());
      if (tag.starts_with(kTagPortPrefix))
        m.tags[std::string(container::kTagContainerPort)] = tag.substr(kTagPortPrefix.size());
    }
  }
  if (managed) {
    m.tags[std::string(kTagManagedBy)] = std::string(kTagManagedByValue);
    m.tags[std::string(kTagInstance)] = m.name;
  }
  m.public_port = container::vm_public_port_from_tags(m);
  return m;
}

// The path-and-query of an absolute "next" link on our own endpoint; empty
// when the link points elsewhere (never follow a link off the endpoint).
std::string own_link(const std::string& base, const std::string& link) {
  if (!link.starts_with(base + "/")) return {};
  return link.substr(base.size());
}

// The path of the page after `j` (its links.pages.next on the endpoint
// `base`); "" after the last.
std::string next_page(const std::string& base, const json& j) {
  if (auto l = j.find("links"); l != j.end() && l->is_object()) {
    if (auto p = l->find("pages"); p != l->end() && p->is_object())
      return own_link(base, net::json_str(*p, "next"));
  }
  return {};
}

}  // namespace

std::string gpu_from_model(std::string_view model) {
  std::string m = net::lower(model);
  if (m.starts_with("nvidia_")) m = m.substr(7);
  if (m.starts_with("amd_")) m = m.substr(4);
  for (char& c : m)
    c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
  return m;
}

std::optional<SlugGpu> gpu_from_slug(std::string_view slug) {
  if (!slug.starts_with("gpu-")) return std::nullopt;
  std::string_view rest = slug.substr(4);
  size_t dash = rest.find('-');
  std::string_view head = rest.substr(0, dash);  // "l40sx1"
  size_t x = head.rfind('x');
  if (x == std::string_view::npos || x == 0 || x + 1 >= head.size()) return std::nullopt;
  int count = 0;
  auto digits = head.substr(x + 1);
  auto [p, ec] = std::from_chars(digits.data(), digits.data() + digits.size(), count);
  if (ec != std::errc() || p != digits.data() + digits.size() || count < 1) return std::nullopt;
  std::string model(head.substr(0, x));
  for (char& c : model)
    c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
  return SlugGpu{model, count};
}

std::optional<net::Millis> wait_until_reset(std::string_view reset, Time now) {
  int64_t epoch = 0;
  auto [p, ec] = std::from_chars(reset.data(), reset.data() + reset.size(), epoch);
  if (reset.empty() || ec != std::errc() || p != reset.data() + reset.size()) return std::nullopt;
  const int64_t delta = epoch - now.time_since_epoch().count();
  if (delta > int64_t{24} * 3600) return std::nullopt;  // not a plausible reset time
  return net::Millis(std::max<int64_t>(0, delta) * 1000);
}

ProviderError map_do_error(int status, std::string_view body, net::Millis retry_after) {
  const net::CodedError e = net::read_coded_error(status, body, "id", "message");
  const std::string& m = e.described;
  const std::string l = net::lower(e.message);
  const std::string lid = net::lower(e.code);
  if (status == 401 || lid == "unauthorized" || lid == "forbidden")
    return provider_error(ProviderErrorKind::Unauthorized, m);
  if (lid == "not_found") return provider_error(ProviderErrorKind::NotFound, m);
  if (status == 422 || lid == "unprocessable_entity") {
    if (l.find("not available") != std::string::npos || l.find("capacity") != std::string::npos) {
      return provider_error(ProviderErrorKind::NoCapacity, m);
    }
    if (l.find("limit") != std::string::npos)
      return provider_error(ProviderErrorKind::QuotaExceeded, m);
    return provider_error(ProviderErrorKind::InvalidRequest, m);
  }
  if (lid == "too_many_requests") return rate_limited(m, retry_after);
  return net::status_failure(status, e.text, retry_after);
}

namespace {

jsonapi::AdapterSpec do_spec(const DoConfig& config, const Clock& clock) {
  net::ClientOptions o = config.http;
  o.hook = [c = &clock](const net::Response& r) {
    if (r.status != 429 || !net::find_header(r.headers, "retry-after").empty())
      return net::RetryAdvice{};
    auto wait = wait_until_reset(net::find_header(r.headers, "ratelimit-reset"), c->now());
    if (!wait) return net::RetryAdvice{};
    return net::RetryAdvice{net::RetryAdvice::Action::Retry, *wait};
  };
  return {.provider_name = config.provider_name,
          .type = "digitalocean",
          .http = std::move(o),
          .api = {.label = "DigitalOcean",
                  .endpoint = config.endpoint,
                  .auth = net::bearer_auth(config.api_token, "DigitalOcean token is missing"),
                  .map_error = map_do_error},
          .get_live_only = true,
          .require_managed_tag = true,
          .machine_noun = "DigitalOcean droplet"};
}

}  // namespace

DoProvider::DoProvider(DoConfig config, net::HttpTransport& transport, const Clock& clock,
                       net::Sleeper& sleeper)
    : JsonApiProvider(do_spec(config, clock), transport, clock, sleeper),
      config_(std::move(config)) {}

ProviderResult<std::vector<Offer>> DoProvider::offers(const OfferQuery& query) {
  std::vector<Offer> out;
  const std::string base = client().options().base_url;
  auto read = read_pages(
      "sizes", "/v2/sizes?per_page=" + std::to_string(config_.page_size), config_.max_pages,
      [&](const json& j, const net::Response&) {
        for (const auto& s : j.at("sizes")) {
          const std::string slug = s.at("slug").get<std::string>();
          auto gpu = gpu_of(s, slug);
          if (!gpu) continue;  // CPU sizes
          if (auto a = s.find("available"); a != s.end() && a->is_boolean() && !a->get<bool>())
            continue;
          auto price = net::price_from_double(s.at("price_hourly").get<double>());
          if (!price) continue;
          for (const auto& r : s.at("regions")) {
            add_offer(out, query,
                      {.id = slug,
                       .region = r.get<std::string>(),
                       .gpu_model = gpu->model,
                       .gpu_count = gpu->count,
                       .price_per_hour = *price,
                       .billing = config_.billing});
          }
        }
        return next_page(base, j);
      });
  if (!read.ok()) return fail(read.error());
  return out;
}

ProviderResult<std::vector<Machine>> DoProvider::list_all(std::string_view pool_uid,
                                                          std::string_view /*name*/) {
  const std::string tag = pool_uid.empty() ? std::string(kTagManaged)
                                           : std::string(kTagPoolPrefix) + std::string(pool_uid);
  const std::string base = client().options().base_url;
  std::vector<Machine> out;
  auto read = read_pages("list droplets",
                         "/v2/droplets?per_page=" + std::to_string(config_.page_size) +
                             "&tag_name=" + net::percent_encode(tag),
                         config_.max_pages, [&](const json& j, const net::Response&) {
                           for (const auto& d : j.at("droplets"))
                             out.push_back(parse_droplet(d));
                           return next_page(base, j);
                         });
  if (!read.ok()) return fail(read.error());
  return out;
}

ProviderResult<Machine> DoProvider::create(const InstanceIntent& intent) {
  auto user_data = container::vm_user_data(intent, "create droplet");
  if (!user_data.ok()) return fail(user_data.error());
  auto name_ok = std::all_of(intent.name.begin(), intent.name.end(), [](char c) {
    return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-' || c == '.';
  });
  auto uid_ok = std::all_of(intent.pool_uid.begin(), intent.pool_uid.end(), [](char c) {
    return std::isalnum(static_cast<unsigned char>(c)) != 0 || c == '-' || c == '_';
  });
  if (intent.name.empty() || intent.name.size() > 253 || !name_ok || intent.pool_uid.empty() ||
      intent.pool_uid.size() > 200 || !uid_ok) {
    return fail(provider_error(ProviderErrorKind::InvalidRequest,
                               "create: intent needs a hostname-safe name and a pool uid"));
  }
  if (intent.offer.id.empty() || intent.offer.region.empty()) {
    return fail(provider_error(ProviderErrorKind::InvalidRequest,
                               "create: the offer needs a size slug and region"));
  }
  auto existing = this->existing(intent);
  if (!existing.ok()) return fail(existing.error());
  if (*existing) return **existing;
  json keys = json::array();
  for (const auto& k : config_.ssh_keys)
    keys.push_back(id_or_string(k));
  if (!intent.ssh_public_key.empty()) {
    // Droplets take account keys by id or fingerprint: add the intent's key
    // to the account once (GET / POST /v2/account/keys) and send its id.
    auto id = ssh_keys_.id_for(
        intent.ssh_public_key,
        {"/v2/account/keys?per_page=200", "ssh_keys", "public_key", "/v2/account/keys", "ssh_key"},
        [this](const std::string& what, const std::string& method, const std::string& path,
               const std::string& body,
               bool idempotent) { return call(what, method, path, body, idempotent); });
    if (!id.ok()) return fail(id.error());
    json key = id_or_string(*id);  // an account key id, or a fingerprint
    if (std::find(keys.begin(), keys.end(), key) == keys.end()) keys.push_back(key);
  }
  json body = {{"name", intent.name},
               {"region", intent.offer.region},
               {"size", intent.offer.id},
               {"image", id_or_string(intent.image.empty() ? config_.image : intent.image)},
               {"ssh_keys", keys},
               {"tags", {std::string(kTagManaged), std::string(kTagPoolPrefix) + intent.pool_uid}}};
  if (!intent.container.image.empty())
    body["tags"].push_back(std::string(kTagPortPrefix) + std::to_string(intent.container.port));
  if (!user_data->empty()) body["user_data"] = *user_data;
  auto ans = call("create droplet", "POST", "/v2/droplets", net::json_text(body), false);
  return settle(intent, std::move(ans), [&](const std::string& answer) -> ProviderResult<Machine> {
    try {
      Machine m = parse_droplet(json::parse(answer).at("droplet"));
      if (m.provider_id.empty()) throw std::runtime_error("droplet without an id");
      if (m.pool_uid() != intent.pool_uid) m.tags[std::string(kTagPoolUid)] = intent.pool_uid;
      if (!m.launch_time) m.launch_time = clock().now();
      if (m.price_per_hour.is_zero()) m.price_per_hour = intent.offer.price_per_hour;
      return m;
    } catch (const std::exception& e) {
      return fail(net::unreadable_answer("create droplet", e));
    }
  });
}

ProviderStatus DoProvider::terminate(std::string_view provider_id) {
  if (provider_id.empty() || provider_id.size() > 20 ||
      !std::all_of(provider_id.begin(), provider_id.end(),
                   [](char c) { return c >= '0' && c <= '9'; })) {
    return fail(provider_error(ProviderErrorKind::InvalidRequest,
                               "terminate: invalid droplet id '" + std::string(provider_id) + "'"));
  }
  auto ans = call("delete droplet", "DELETE", "/v2/droplets/" + std::string(provider_id), "", true);
  if (!ans.ok()) return fail(ans.error());
  return ProviderStatus::success();
}

}  // namespace gpupool::digitalocean
