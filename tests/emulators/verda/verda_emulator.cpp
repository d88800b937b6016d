#include "tests/emulators/verda/verda_emulator.h"

#include <algorithm>
#include <cstdio>

#include <nlohmann/json.hpp>

namespace gpupool::emulators {
namespace {

using nlohmann::json;

// Verda sends prices as decimal strings ("5.00"), not JSON numbers.
std::string price_text(double dollars) {
  char buf[32];
  std::snprintf(buf, sizeof(buf), "%.2f", dollars);
  return buf;
}

std::string make_id(const char* prefix, int64_t n) {
  char buf[64];
  std::snprintf(buf, sizeof(buf), "%s-4d2b-4c1e-9f00-%012llx", prefix,
                static_cast<unsigned long long>(n));
  return buf;
}

}  // namespace

VerdaEmulator::VerdaEmulator(VerdaEmulatorOptions options)
    : MachineTableEmulator(std::move(options)) {
  ssh_keys_[kVerdaSeedKeyId] = "ssh-ed25519 AAAAC3NzaKEY1 admin@laptop";
}
VerdaEmulator::~VerdaEmulator() {
  stop();
}

void VerdaEmulator::set_capacity(const std::string& type, const std::string& location, int n) {
  std::lock_guard<std::mutex> lock(mu_);
  set_region_capacity(options_.types, &VerdaType::name, type, location, n);
}

void VerdaEmulator::revoke_tokens() {
  std::lock_guard<std::mutex> lock(mu_);
  tokens_.clear();
}

VerdaEmulator::Reply VerdaEmulator::error(int status, const std::string& code,
                                          const std::string& message) {
  return Reply{status, json{{"code", code}, {"message", message}}.dump()};
}

void VerdaEmulator::advance_locked() {
  const Time now = options_.clock->now();
  for (auto& i : machines_) {
    if ((i.status == "ordered" || i.status == "provisioning") &&
        now >= i.created + options_.boot_time) {
      i.status = "running";
    } else if (i.status == "ordered" && now > i.created) {
      i.status = "provisioning";
    }
  }
  std::erase_if(machines_, [&](const VerdaInstance& i) {
    return i.status == "deleting" && now >= *i.delete_requested + options_.shutdown_time;
  });
}

int VerdaEmulator::used_locked(const std::string& type, const std::string& location) const {
  return static_cast<int>(
      std::count_if(machines_.begin(), machines_.end(), [&](const VerdaInstance& i) {
        return i.type == type && i.location == location && i.status != "deleting";
      }));
}

bool VerdaEmulator::authorized_locked(const http::HttpRequest& req) const {
  const std::string h = req.header("Authorization").value_or("");
  if (!h.starts_with("Bearer ")) return false;
  auto it = tokens_.find(h.substr(7));
  return it != tokens_.end() && options_.clock->now() < it->second;
}

std::string VerdaEmulator::instance_json_locked(const VerdaInstance& in) const {
  const VerdaType* t = nullptr;
  for (const auto& x : options_.types) {
    if (x.name == in.type) t = &x;
  }
  json j = {
      {"id", in.id},
      {"instance_type", in.type},
      {"image", "ubuntu-24.04"},
      {"price_per_hour", price_text(t ? t->price_per_hour : 0.0)},
      {"hostname", in.hostname},
      {"description", in.description},
      {"status", in.status},
      {"created_at", format_rfc3339(in.created)},
      {"ssh_key_ids", json::array()},
      {"cpu", {{"description", "20 CPU"}, {"number_of_cores", 20}}},
      {"gpu", {{"description", t ? t->gpu_description : ""}, {"number_of_gpus", t ? t->gpus : 0}}},
      {"location", in.location},
      {"is_spot", false}};
  if (in.status == "running") j["ip"] = "203.0.113." + std::to_string(next_ % 200 + 10);
  return j.dump();
}

VerdaEmulator::Reply VerdaEmulator::token_locked(const std::string& body) {
  json j = json::parse(body, nullptr, false);
  if (j.is_discarded() || !j.is_object() || !j.contains("grant_type") ||
      !j["grant_type"].is_string()) {
    return error(400, "invalid_request", "grant_type is required");
  }
  const std::string grant = j["grant_type"].get<std::string>();
  if (grant == "client_credentials") {
    if (j.value("client_id", "") != options_.client_id ||
        j.value("client_secret", "") != options_.client_secret) {
      return error(401, "unauthorized_request", "Invalid client credentials");
    }
  } else if (grant == "refresh_token") {
    if (!refresh_tokens_.contains(j.value("refresh_token", ""))) {
      return error(401, "unauthorized_request", "Invalid refresh token");
    }
  } else {
    return error(400, "invalid_request", "unsupported grant_type");
  }
  ++next_;
  const std::string access = "vat-" + std::to_string(next_) + "-x9q";
  const std::string refresh = "vrt-" + std::to_string(next_) + "-k2w";
  tokens_[access] = options_.clock->now() + options_.token_lifetime;
  refresh_tokens_[refresh] = true;
  return Reply{200, json{{"access_token", access},
                         {"refresh_token", refresh},
                         {"scope", "cloud-api-v1"},
                         {"token_type", "Bearer"},
                         {"expires_in", options_.token_lifetime.count()}}
                        .dump()};
}

VerdaEmulator::Reply VerdaEmulator::create_locked(const std::string& body) {
  json j = json::parse(body, nullptr, false);
  if (j.is_discarded() || !j.is_object()) return error(400, "invalid_request", "invalid JSON");
  for (const char* f : {"instance_type", "image", "hostname", "description", "location_code"}) {
    if (!j.contains(f) || !j[f].is_string() || j[f].get<std::string>().empty()) {
      return error(400, "invalid_request", std::string(f) + " is required");
    }
  }
  if (!j.contains("ssh_key_ids") || !j["ssh_key_ids"].is_array()) {
    return error(400, "invalid_request", "ssh_key_ids must be an array");
  }
  std::vector<std::string> keys;
  for (const auto& k : j["ssh_key_ids"]) {
    auto it = k.is_string() ? ssh_keys_.find(k.get<std::string>()) : ssh_keys_.end();
    if (it == ssh_keys_.end()) return error(400, "invalid_request", "Invalid ssh key id");
    keys.push_back(it->second);
  }
  const std::string hostname = j["hostname"].get<std::string>();
  if (hostname.size() > 60) return error(400, "invalid_request", "hostname is too long");
  const std::string type = j["instance_type"].get<std::string>();
  const std::string location = j["location_code"].get<std::string>();
  const VerdaType* t = nullptr;
  for (const auto& x : options_.types) {
    if (x.name == type) t = &x;
  }
  if (t == nullptr) return error(400, "invalid_request", "Invalid instance type " + type);
  auto cap = t->capacity.find(location);
  if (cap == t->capacity.end() ||
      (cap->second >= 0 && used_locked(type, location) >= cap->second)) {
    return error(400, "invalid_request", "Not enough capacity for " + type + " in " + location);
  }
  VerdaInstance in;
  in.id = make_id("7c1f0e2a", ++next_);
  in.type = type;
  in.location = location;
  in.hostname = hostname;
  in.description = j["description"].get<std::string>();
  in.status = "ordered";
  in.image = j["image"].get<std::string>();
  in.ssh_keys = keys;
  if (auto s = j.find("startup_script_id"); s != j.end() && s->is_string()) {
    auto script = scripts_.find(s->get<std::string>());
    if (script == scripts_.end()) return error(404, "not_found", "startup script not found");
    in.startup_script = script->second;
  }
  in.created = options_.clock->now();
  machines_.push_back(in);
  return Reply{.status = 202, .body = in.id, .content_type = "text/plain"};
}

VerdaEmulator::Reply VerdaEmulator::action_locked(const std::string& body) {
  json j = json::parse(body, nullptr, false);
  if (j.is_discarded() || !j.is_object() || !j.contains("action") || !j["action"].is_string()) {
    return error(400, "invalid_request", "action is required");
  }
  std::vector<std::string> ids;
  if (auto id = j.find("id"); id != j.end() && id->is_string()) {
    ids.push_back(id->get<std::string>());
  } else if (id != j.end() && id->is_array()) {
    for (const auto& x : *id) {
      if (!x.is_string()) return error(400, "invalid_request", "id must be strings");
      ids.push_back(x.get<std::string>());
    }
  }
  if (ids.empty()) return error(400, "invalid_request", "id is required");
  if (j["action"] != "delete") return error(400, "invalid_request", "unsupported action");
  for (const auto& id : ids) {
    auto it = std::find_if(machines_.begin(), machines_.end(),
                           [&](const VerdaInstance& i) { return i.id == id; });
    if (it == machines_.end()) return error(404, "not_found", "Instance " + id + " not found");
  }
  for (auto& i : machines_) {
    if (std::find(ids.begin(), ids.end(), i.id) != ids.end() && i.status != "deleting") {
      i.status = "deleting";
      i.delete_requested = options_.clock->now();
    }
  }
  return Reply{.status = 202, .content_type = "text/plain"};
}

VerdaEmulator::Reply VerdaEmulator::route(const std::string& op, const http::HttpRequest& req) {
  std::lock_guard<std::mutex> lock(mu_);
  advance_locked();
  if (op == "token") return token_locked(req.body);
  if (!authorized_locked(req)) {
    return error(401, "unauthorized_request", "Access token is missing, invalid or expired");
  }
  if (op == "types") {
    json out = json::array();
    int n = 0;
    for (const auto& t : options_.types) {
      out.push_back({{"id", make_id("0a11c0de", ++n)},
                     {"instance_type", t.name},
                     {"price_per_hour", price_text(t.price_per_hour)},
                     {"spot_price", price_text(t.price_per_hour / 3)},
                     {"description", t.gpu_description},
                     {"cpu", {{"description", "20 CPU"}, {"number_of_cores", 20}}},
                     {"gpu", {{"description", t.gpu_description}, {"number_of_gpus", t.gpus}}},
                     {"memory", {{"description", "60GB RAM"}, {"size_in_gigabytes", 60}}},
                     {"gpu_memory", {{"description", "48GB"}, {"size_in_gigabytes", 48}}},
                     {"storage", {{"description", "dynamic"}}}});
    }
    return Reply{200, out.dump()};
  }
  if (op == "availability") {
    std::map<std::string, json> by_location;
    for (const auto& t : options_.types) {
      for (const auto& [loc, cap] : t.capacity) {
        if (!by_location.contains(loc)) by_location[loc] = json::array();
        if (cap < 0 || used_locked(t.name, loc) < cap) by_location[loc].push_back(t.name);
      }
    }
    json out = json::array();
    for (auto& [loc, types] : by_location) {
      out.push_back({{"location_code", loc}, {"availabilities", types}});
    }
    return Reply{200, out.dump()};
  }
  if (op == "script") {
    json j = json::parse(req.body, nullptr, false);
    if (j.is_discarded() || !j.is_object() || !j.contains("script") || !j["script"].is_string()) {
      return error(400, "invalid_request", "script is required");
    }
    const std::string id = make_id("5c417p70", ++next_);
    scripts_[id] = j["script"].get<std::string>();
    return Reply{.status = 200, .body = id, .content_type = "text/plain"};
  }
  if (op == "keys") {
    json out = json::array();
    for (const auto& [id, key] : ssh_keys_)
      out.push_back({{"id", id}, {"name", "key " + id}, {"key", key}});
    return Reply{200, out.dump()};
  }
  if (op == "add_key") {
    json j = json::parse(req.body, nullptr, false);
    if (j.is_discarded() || !j.is_object() || !j.contains("name") || !j["name"].is_string() ||
        !j.contains("key") || !j["key"].is_string() || j["key"].get<std::string>().empty()) {
      return error(400, "invalid_request", "name and key are required");
    }
    const std::string id = make_id("55h0c0de", ++next_);
    ssh_keys_[id] = j["key"].get<std::string>();
    return Reply{.status = 201, .body = id, .content_type = "text/plain"};
  }
  if (op == "create") return create_locked(req.body);
  if (op == "action") return action_locked(req.body);
  std::string out = "[";
  for (size_t k = 0; k < machines_.size(); ++k) {
    out += (k ? "," : "") + instance_json_locked(machines_[k]);
  }
  return Reply{200, out + "]"};
}

ProviderFaultReplies VerdaEmulator::fault_replies() {
  return {
      .no_capacity = error(400, "invalid_request", "Not enough capacity for this instance type"),
      .throttle = error(429, "too_many_requests", "Too many requests"),
      .server_error = error(500, "server_error", "Internal server error"),
      .auth_failure = error(401, "unauthorized_request", "Invalid access token"),
      .garbled = {200, "[{\"id\": \"7c1f"},
  };
}

void VerdaEmulator::handle(const http::HttpRequest& req, http::ResponseWriter& w) {
  AdminHooks hooks;
  hooks.state_json = [this] { return table_state_json("instances"); };
  if (handle_admin(req, w, faults_, hooks)) return;
  const std::string op = operation_of(req, {{"POST", "/v1/oauth2/token", "token"},
                                            {"GET", "/v1/instance-types", "types"},
                                            {"GET", "/v1/instance-availability", "availability"},
                                            {"GET", "/v1/sshkeys", "keys"},
                                            {"POST", "/v1/sshkeys", "add_key"},
                                            {"POST", "/v1/scripts", "script"},
                                            {"POST", "/v1/instances", "create"},
                                            {"GET", "/v1/instances", "list"},
                                            {"PUT", "/v1/instances", "action"}});
  count_request(op);
  auto send = [&](const Reply& r) { send_reply(w, r); };
  if (op.empty()) return send(error(404, "not_found", "No such route"));
  serve(
      op, w, send, [&] { return fault_replies(); }, [&] { return route(op, req); });
}

}  // namespace gpupool::emulators
