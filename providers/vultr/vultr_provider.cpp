#include "providers/vultr/vultr_provider.h"
#include "providers/http/json_fields.h"

#include <algorithm>
#include <cctype>

#include <nlohmann/json.hpp>

#include "providers/container/container_start_script.h"
#include "providers/http/provider_errors.h"
#include "providers/http/strings.h"
#include "providers/http/url.h"

namespace gpupool::vultr {
namespace {

using nlohmann::json;

MachineState state_of(const json& j) {
  const std::string status = net::json_str(j, "status");
  if (status == "pending") return MachineState::Pending;
  if (status == "suspended") return MachineState::Failed;
  if (status == "active") {
    return net::json_str(j, "power_status") == "running" &&
                   net::json_str(j, "server_status") == "ok"
               ? MachineState::Running
               : MachineState::Pending;
  }
  return MachineState::Unknown;
}

Machine parse_instance(const json& j) {
  Machine m;
  m.provider_id = net::json_str(j, "id");
  m.name = net::json_str(j, "label");
  m.provider_state = net::json_str(j, "status") + "/" + net::json_str(j, "power_status") + "/" +
                     net::json_str(j, "server_status");
  m.state = state_of(j);
  m.region = net::json_str(j, "region");
  m.offer_id = net::json_str(j, "plan");
  if (m.offer_id.starts_with("vcg-")) {  // "vcg-l40s-16c-..." -> L40S (the plan names the GPU)
    std::string model = m.offer_id.substr(4, m.offer_id.find('-', 4) - 4);
    for (char& c : model)
      c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
    m.gpu_model = model;
    auto vram = vram_from_plan(m.offer_id);
    m.gpu_count = vram ? gpu_count_from_vram(model, *vram).value_or(1) : 1;
  }
  const std::string ip = net::json_str(j, "main_ip");
  if (ip != "0.0.0.0") m.public_address = ip;
  if (auto c = j.find("date_created"); c != j.end() && c->is_string()) {
    Time t;
    if (parse_rfc3339(c->get<std::string>(), t)) m.launch_time = t;
  }
  container::read_vm_string_tags(net::json_strings(j, "tags"), m);
  return m;
}

// The path of the page after `j` of the listing that starts at `first`
// (Vultr's meta.links.next cursor); "" after the last.
std::string next_page(const std::string& first, const json& j) {
  const std::string cursor = j.at("meta").at("links").value("next", "");
  return cursor.empty() ? std::string() : first + "&cursor=" + net::percent_encode(cursor);
}

}  // namespace

std::string gpu_from_type(std::string_view gpu_type) {
  std::string t(gpu_type);
  for (std::string_view prefix : {"NVIDIA_", "nvidia_", "AMD_", "amd_"}) {
    if (t.starts_with(prefix)) t = t.substr(prefix.size());
  }
  for (char& c : t)
    c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
  return t;
}

int gpu_memory_gb(std::string_view model) {
  const std::string m = net::lower(model);
  if (m == "l40s" || m == "l40" || m == "a40" || m == "a6000") return 48;
  if (m == "a100" || m == "h100") return 80;
  if (m == "a16") return 16;
  return 0;
}

std::optional<int> gpu_count_from_vram(std::string_view model, int gpu_vram_gb) {
  const int per_gpu = gpu_memory_gb(model);
  if (per_gpu == 0 || gpu_vram_gb < per_gpu) return std::nullopt;  // unknown, or a slice
  return gpu_vram_gb / per_gpu;
}

std::optional<int> vram_from_plan(std::string_view plan_id) {
  // "vcg-l40s-32c-375g-96vram" -> 96
  constexpr std::string_view kSuffix = "vram";
  if (!plan_id.ends_with(kSuffix)) return std::nullopt;
  plan_id.remove_suffix(kSuffix.size());
  size_t dash = plan_id.rfind('-');
  std::string_view digits = plan_id.substr(dash == std::string_view::npos ? 0 : dash + 1);
  if (digits.empty() || digits.size() > 5 || !std::all_of(digits.begin(), digits.end(), [](char c) {
        return std::isdigit(static_cast<unsigned char>(c)) != 0;
      })) {
    return std::nullopt;
  }
  return std::stoi(std::string(digits));
}

ProviderError map_vultr_error(int status, std::string_view body, net::Millis retry_after) {
  const net::CodedError e = net::read_coded_error(status, body, nullptr, "error");
  const std::string& m = e.described;
  const std::string l = net::lower(e.message);
  if (status == 400 || status == 412) {
    if (l.find("not available") != std::string::npos || l.find("capacity") != std::string::npos ||
        l.find("resources") != std::string::npos) {
      return provider_error(ProviderErrorKind::NoCapacity, m);
    }
    if (l.find("limit") != std::string::npos)
      return provider_error(ProviderErrorKind::QuotaExceeded, m);
  }
  return net::status_failure(status, e.message, retry_after);
}

VultrProvider::VultrProvider(VultrConfig config, net::HttpTransport& transport, const Clock& clock,
                             net::Sleeper& sleeper)
    : JsonApiProvider({.provider_name = config.provider_name,
                       .type = "vultr",
                       .http = config.http,
                       .api = {.label = "Vultr",
                               .endpoint = config.endpoint,
                               .auth = net::bearer_auth(config.api_key, "Vultr API key is missing"),
                               .map_error = map_vultr_error},
                       .get_live_only = true,
                       .require_managed_tag = true,
                       .machine_noun = "Vultr instance"},
                      transport, clock, sleeper),
      config_(std::move(config)) {}

ProviderResult<std::vector<Offer>> VultrProvider::offers(const OfferQuery& query) {
  std::vector<Offer> out;
  const std::string first = "/v2/plans?type=vcg&per_page=" + std::to_string(config_.page_size);
  auto read =
      read_pages("plans", first, config_.max_pages, [&](const json& j, const net::Response&) {
        for (const auto& p : j.at("plans")) {
          const std::string model = gpu_from_type(net::json_str(p, "gpu_type"));
          if (model.empty() || !net::any_or_has(query.gpu_models, model)) continue;
          const std::string id = p.at("id").get<std::string>();
          auto v = p.find("gpu_vram_gb");
          if (v == p.end() || !v->is_number_integer()) continue;
          // The plan has no GPU count: its GPU memory over one GPU's (48 GB
          // per L40S), as gpuhunt derives it. Less than one GPU: a slice.
          auto counted = gpu_count_from_vram(model, v->get<int>());
          if (!counted) continue;
          auto price = net::price_from_double(p.at("hourly_cost").get<double>());
          if (!price) continue;
          for (const auto& r : p.at("locations")) {
            add_offer(out, query,
                      {.id = id,
                       .region = r.get<std::string>(),
                       .gpu_model = model,
                       .gpu_count = *counted,
                       .price_per_hour = *price,
                       .billing = config_.billing});
          }
        }
        return next_page(first, j);
      });
  if (!read.ok()) return fail(read.error());
  return out;
}

ProviderResult<std::vector<Machine>> VultrProvider::list_all(std::string_view pool_uid,
                                                             std::string_view /*name*/) {
  const std::string tag = pool_uid.empty()
                              ? std::string(container::kVmTagManaged)
                              : std::string(container::kVmTagPoolPrefix) + std::string(pool_uid);
  const std::string first = "/v2/instances?per_page=" + std::to_string(config_.page_size) +
                            "&tag=" + net::percent_encode(tag);
  std::vector<Machine> out;
  auto read = read_pages("list instances", first, config_.max_pages,
                         [&](const json& j, const net::Response&) {
                           for (const auto& i : j.at("instances"))
                             out.push_back(parse_instance(i));
                           return next_page(first, j);
                         });
  if (!read.ok()) return fail(read.error());
  return out;
}

ProviderResult<Machine> VultrProvider::create(const InstanceIntent& intent) {
  auto user_data = container::vm_user_data(intent, "create instance");
  if (!user_data.ok()) return fail(user_data.error());
  auto ok_char = [](char c) {
    return std::isalnum(static_cast<unsigned char>(c)) != 0 || c == '-' || c == '.' || c == '_';
  };
  if (intent.name.empty() || intent.name.size() > 63 || intent.pool_uid.empty() ||
      intent.pool_uid.size() > 128 ||
      !std::all_of(intent.name.begin(), intent.name.end(), ok_char) ||
      !std::all_of(intent.pool_uid.begin(), intent.pool_uid.end(), ok_char)) {
    return fail(provider_error(ProviderErrorKind::InvalidRequest,
                               "create: intent needs a name (<= 63) and a pool uid"));
  }
  if (intent.offer.id.empty() || intent.offer.region.empty()) {
    return fail(provider_error(ProviderErrorKind::InvalidRequest,
                               "create: the offer needs a plan and region"));
  }
  auto existing = this->existing(intent);
  if (!existing.ok()) return fail(existing.error());
  if (*existing) return **existing;
  json body = {{"region", intent.offer.region},
               {"plan", intent.offer.id},
               {"label", intent.name},
               {"hostname", intent.name},
               {"tags", container::vm_string_tags(intent)}};
  if (config_.snapshot_id.empty()) {
    body["os_id"] = config_.os_id;
  } else {
    body["snapshot_id"] = config_.snapshot_id;
  }
  std::vector<std::string> key_ids = config_.ssh_key_ids;
  if (!intent.ssh_public_key.empty()) {
    // Vultr takes keys by id (sshkey_id): add the intent's key once.
    auto id = ssh_keys_.id_for(
        intent.ssh_public_key,
        {"/v2/ssh-keys?per_page=500", "ssh_keys", "ssh_key", "/v2/ssh-keys", "ssh_key"},
        [this](const std::string& what, const std::string& method, const std::string& path,
               const std::string& body,
               bool idempotent) { return call(what, method, path, body, idempotent); });
    if (!id.ok()) return fail(id.error());
    if (std::find(key_ids.begin(), key_ids.end(), *id) == key_ids.end()) key_ids.push_back(*id);
  }
  if (!key_ids.empty()) body["sshkey_id"] = key_ids;
  if (!user_data->empty()) body["user_data"] = net::base64_encode(*user_data);
  auto ans = call("create instance", "POST", "/v2/instances", net::json_text(body), false);
  return settle(intent, std::move(ans), [&](const std::string& answer) -> ProviderResult<Machine> {
    try {
      Machine m = parse_instance(json::parse(answer).at("instance"));
      if (m.provider_id.empty()) throw std::runtime_error("instance without an id");
      m.gpu_model = intent.offer.gpu_model;
      m.gpu_count = intent.offer.gpu_count;
      m.price_per_hour = intent.offer.price_per_hour;
      if (!m.launch_time) m.launch_time = clock().now();
      return m;
    } catch (const std::exception& e) {
      return fail(net::unreadable_answer("create instance", e));
    }
  });
}

ProviderStatus VultrProvider::terminate(std::string_view provider_id) {
  if (provider_id.empty() || provider_id.size() > 64 ||
      !std::all_of(provider_id.begin(), provider_id.end(), [](char c) {
        return std::isalnum(static_cast<unsigned char>(c)) != 0 || c == '-';
      })) {
    return fail(
        provider_error(ProviderErrorKind::InvalidRequest,
                       "terminate: invalid instance id '" + std::string(provider_id) + "'"));
  }
  auto ans =
      call("delete instance", "DELETE", "/v2/instances/" + std::string(provider_id), "", true);
  if (!ans.ok()) return fail(ans.error());
  return ProviderStatus::success();
}

}  // namespace gpupool::vultr
