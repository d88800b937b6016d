#include "tests/emulators/vultr/vultr_emulator.h"

#include <algorithm>
#include <cstdio>

#include <nlohmann/json.hpp>

#include "providers/http/url.h"

namespace gpupool::emulators {
namespace {

using nlohmann::json;

}  // namespace

VultrEmulator::VultrEmulator(VultrEmulatorOptions options)
    : MachineTableEmulator(std::move(options)) {}
VultrEmulator::~VultrEmulator() {
  stop();
}

void VultrEmulator::set_capacity(const std::string& plan, const std::string& region, int n) {
  std::lock_guard<std::mutex> lock(mu_);
  set_region_capacity(options_.plans, &VultrPlan::id, plan, region, n);
}

VultrEmulator::Reply VultrEmulator::error(int status, const std::string& message) {
  return Reply{status, json{{"error", message}, {"status", status}}.dump()};
}

void VultrEmulator::advance_locked() {
  const Time now = options_.clock->now();
  for (auto& i : machines_) {
    if (i.status == "pending" && now >= i.created + options_.boot_time) i.status = "active";
  }
}

int VultrEmulator::used_locked(const std::string& plan, const std::string& region) const {
  return static_cast<int>(
      std::count_if(machines_.begin(), machines_.end(),
                    [&](const VultrInstance& i) { return i.plan == plan && i.region == region; }));
}

std::string VultrEmulator::instance_json_locked(const VultrInstance& in) const {
  const bool up = in.status == "active";
  json j = {{"id", in.id},
            {"os", "Ubuntu 22.04 LTS x64"},
            {"ram", 184320},
            {"disk", 1200},
            {"main_ip", up ? "45.76.0." + std::to_string(in.label.size() + 10) : "0.0.0.0"},
            {"vcpu_count", 16},
            {"region", in.region},
            {"plan", in.plan},
            {"date_created", format_rfc3339(in.created)},
            {"status", in.status},
            {"power_status", up ? "running" : "stopped"},
            {"server_status", up ? "ok" : "installingbooting"},
            {"label", in.label},
            {"hostname", in.label},
            {"os_id", 1743},
            {"tags", in.tags}};
  return j.dump();
}

std::string VultrEmulator::add_key_locked(const std::string& public_key) {
  char buf[48];
  std::snprintf(buf, sizeof(buf), "3b8066a7-b438-455a-9688-%012llx",
                static_cast<unsigned long long>(++next_));
  ssh_keys_.emplace_back(buf, public_key);
  return buf;
}

std::string VultrEmulator::add_ssh_key(const std::string& public_key) {
  std::lock_guard<std::mutex> lock(mu_);
  return add_key_locked(public_key);
}

VultrEmulator::Reply VultrEmulator::create_locked(const std::string& body) {
  json j = json::parse(body, nullptr, false);
  if (j.is_discarded() || !j.is_object()) return error(400, "Invalid JSON body");
  for (const char* f : {"region", "plan"}) {
    if (!j.contains(f) || !j[f].is_string() || j[f].get<std::string>().empty())
      return error(400, std::string("Missing required field: ") + f);
  }
  // One image choice: os_id or snapshot_id (the emulator knows no ISOs,
  // apps or marketplace images).
  const bool has_os = j.contains("os_id");
  const bool has_snapshot = j.contains("snapshot_id");
  if (has_os == has_snapshot)
    return error(400, "Please provide exactly one of os_id or snapshot_id");
  if (has_os && (!j["os_id"].is_number_integer() || j["os_id"].get<int64_t>() < 1))
    return error(400, "Invalid os_id");
  if (has_snapshot &&
      (!j["snapshot_id"].is_string() || j["snapshot_id"].get<std::string>().size() != 36))
    return error(400, "Invalid snapshot_id");
  std::vector<std::string> tags;
  if (j.contains("tags")) {
    if (!j["tags"].is_array()) return error(400, "tags must be an array");
    for (const auto& t : j["tags"]) {
      if (!t.is_string()) return error(400, "tags must be strings");
      tags.push_back(t.get<std::string>());
    }
  }
  std::string user_data;
  if (j.contains("user_data")) {
    auto decoded = j["user_data"].is_string()
                       ? net::base64_decode(j["user_data"].get<std::string>())
                       : std::nullopt;
    if (!decoded) return error(400, "user_data must be base64 encoded");
    user_data = *decoded;
  }
  std::vector<std::string> keys;
  if (j.contains("sshkey_id")) {
    if (!j["sshkey_id"].is_array()) return error(400, "sshkey_id must be an array");
    for (const auto& k : j["sshkey_id"]) {
      auto it = std::find_if(ssh_keys_.begin(), ssh_keys_.end(), [&](const auto& e) {
        return k.is_string() && e.first == k.get<std::string>();
      });
      if (it == ssh_keys_.end()) return error(400, "Invalid SSH key");
      keys.push_back(it->second);
    }
  }
  const std::string plan = j["plan"].get<std::string>();
  const std::string region = j["region"].get<std::string>();
  const VultrPlan* p = nullptr;
  for (const auto& x : options_.plans) {
    if (x.id == plan) p = &x;
  }
  if (p == nullptr) return error(400, "Invalid plan");
  auto cap = p->capacity.find(region);
  if (cap == p->capacity.end() || (cap->second >= 0 && used_locked(plan, region) >= cap->second))
    return error(400, "Plan is not available in the selected region");
  VultrInstance in;
  char buf[48];
  std::snprintf(buf, sizeof(buf), "cb676a46-66fd-4dfb-b839-%012llx",
                static_cast<unsigned long long>(++next_));
  in.id = buf;
  in.label = j.value("label", "");
  in.plan = plan;
  in.region = region;
  in.status = "pending";
  if (has_os) in.os_id = j["os_id"].get<int>();
  if (has_snapshot) in.snapshot_id = j["snapshot_id"].get<std::string>();
  in.tags = tags;
  in.user_data = user_data;
  in.ssh_keys = keys;
  in.created = options_.clock->now();
  machines_.push_back(in);
  return Reply{202, "{\"instance\":" + instance_json_locked(in) + "}"};
}

VultrEmulator::Reply VultrEmulator::list_locked(const http::HttpRequest& req) {
  const std::string tag = req.query_param("tag").value_or("");
  const std::string label = req.query_param("label").value_or("");
  const int per_page =
      std::clamp(to_int(req.query_param("per_page").value_or(""), 100), 1, options_.max_per_page);
  const std::string cursor = req.query_param("cursor").value_or("");
  size_t first = 0;
  if (!cursor.empty()) {
    auto decoded = net::base64_decode(cursor);
    if (!decoded || !decoded->starts_with("next__")) return error(400, "Invalid cursor");
    first = static_cast<size_t>(to_int(decoded->substr(6), 0));
  }
  std::vector<const VultrInstance*> match;
  for (const auto& i : machines_) {
    if (!tag.empty() && std::find(i.tags.begin(), i.tags.end(), tag) == i.tags.end()) continue;
    if (!label.empty() && i.label != label) continue;
    match.push_back(&i);
  }
  std::string out = "{\"instances\":[";
  const size_t end = std::min(match.size(), first + static_cast<size_t>(per_page));
  for (size_t k = first; k < end; ++k)
    out += (k > first ? "," : "") + instance_json_locked(*match[k]);
  const std::string next =
      end < match.size() ? net::base64_encode("next__" + std::to_string(end)) : std::string();
  out += "],\"meta\":{\"total\":" + std::to_string(match.size()) + ",\"links\":{\"next\":\"" +
         next + "\",\"prev\":\"\"}}}";
  return Reply{200, out};
}

VultrEmulator::Reply VultrEmulator::route(const std::string& op, const http::HttpRequest& req) {
  std::lock_guard<std::mutex> lock(mu_);
  advance_locked();
  if (op == "plans") {
    json plans = json::array();
    for (const auto& p : options_.plans) {
      json locations = json::array();
      for (const auto& [r, cap] : p.capacity) {
        if (cap < 0 || used_locked(p.id, r) < cap) locations.push_back(r);
      }
      plans.push_back({{"id", p.id},
                       {"vcpu_count", 16},
                       {"ram", 184320},
                       {"disk", 1200},
                       {"disk_count", 1},
                       {"bandwidth", 10240},
                       {"monthly_cost", p.hourly_cost * 730},
                       {"hourly_cost", p.hourly_cost},
                       {"type", "vcg"},
                       {"locations", locations},
                       {"gpu_vram_gb", p.gpu_vram_gb},
                       {"gpu_type", p.gpu_type}});
    }
    return Reply{200,
                 json{{"plans", plans},
                      {"meta", {{"total", plans.size()}, {"links", {{"next", ""}, {"prev", ""}}}}}}
                     .dump(),
                 {}};
  }
  if (op == "keys") {
    json keys = json::array();
    for (const auto& [id, key] : ssh_keys_) {
      keys.push_back({{"id", id},
                      {"date_created", format_rfc3339(options_.clock->now())},
                      {"name", "key-" + id.substr(0, 8)},
                      {"ssh_key", key}});
    }
    return Reply{200,
                 json{{"ssh_keys", keys},
                      {"meta", {{"total", keys.size()}, {"links", {{"next", ""}, {"prev", ""}}}}}}
                     .dump(),
                 {}};
  }
  if (op == "add_key") {
    json j = json::parse(req.body, nullptr, false);
    if (j.is_discarded() || !j.is_object() || !j.contains("name") || !j["name"].is_string() ||
        !j.contains("ssh_key") || !j["ssh_key"].is_string()) {
      return error(400, "name and ssh_key are required");
    }
    const std::string id = add_key_locked(j["ssh_key"].get<std::string>());
    json key = {{"id", id},
                {"date_created", format_rfc3339(options_.clock->now())},
                {"name", j["name"]},
                {"ssh_key", j["ssh_key"]}};
    return Reply{201, json{{"ssh_key", key}}.dump()};
  }
  if (op == "create") return create_locked(req.body);
  if (op == "list") return list_locked(req);
  const std::string id = req.path.substr(std::string("/v2/instances/").size());
  auto it = std::find_if(machines_.begin(), machines_.end(),
                         [&](const VultrInstance& i) { return i.id == id; });
  if (it == machines_.end()) return error(404, "instance not found");
  machines_.erase(it);
  return Reply{204, ""};
}

ProviderFaultReplies VultrEmulator::fault_replies(const std::string& op) {
  return {
      .no_capacity = error(400, "Plan is not available in the selected region"),
      .throttle = error(429, "Rate limit exceeded"),
      .server_error = error(500, "Internal server error"),
      .auth_failure = error(401, "Invalid API token."),
      .garbled = {op == "create" ? 202 : 200, "{\"instance\": {\"id\": \"cb67"},
  };
}

void VultrEmulator::handle(const http::HttpRequest& req, http::ResponseWriter& w) {
  AdminHooks hooks;
  hooks.state_json = [this] { return table_state_json("instances"); };
  if (handle_admin(req, w, faults_, hooks)) return;
  const std::string op = operation_of(req, {{"GET", "/v2/plans", "plans"},
                                            {"GET", "/v2/ssh-keys", "keys"},
                                            {"POST", "/v2/ssh-keys", "add_key"},
                                            {"POST", "/v2/instances", "create"},
                                            {"GET", "/v2/instances", "list"},
                                            {"DELETE", "/v2/instances/", "delete", kUnder}});
  count_request(op);
  auto send = [&](const Reply& r) { send_reply(w, r); };
  if (req.header("Authorization").value_or("") != "Bearer " + options_.api_key) {
    return send(fault_replies(op).auth_failure);
  }
  if (op.empty()) return send(error(404, "Invalid API call"));
  serve(
      op, w, send, [&] { return fault_replies(op); }, [&] { return route(op, req); });
}

}  // namespace gpupool::emulators
