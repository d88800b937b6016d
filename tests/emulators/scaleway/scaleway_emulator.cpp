#include "tests/emulators/scaleway/scaleway_emulator.h"

#include <algorithm>
#include <cstdio>

#include <nlohmann/json.hpp>

namespace gpupool::emulators {
namespace {

using nlohmann::json;

std::vector<std::string> split(const std::string& s, char sep) {
  std::vector<std::string> out;
  size_t start = 0;
  while (start <= s.size()) {
    size_t end = s.find(sep, start);
    if (end == std::string::npos) end = s.size();
    if (end > start) out.push_back(s.substr(start, end - start));
    start = end + 1;
  }
  return out;
}

}  // namespace

ScwEmulator::ScwEmulator(ScwEmulatorOptions options) : MachineTableEmulator(std::move(options)) {}
ScwEmulator::~ScwEmulator() {
  stop();
}

void ScwEmulator::set_capacity(const std::string& type, const std::string& zone, int n) {
  std::lock_guard<std::mutex> lock(mu_);
  set_region_capacity(options_.types, &ScwType::commercial_type, type, zone, n);
}

std::vector<std::string> ScwEmulator::volumes() const {
  std::lock_guard<std::mutex> lock(mu_);
  const_cast<ScwEmulator*>(this)->advance_locked();
  return volumes_;
}

ScwEmulator::Reply ScwEmulator::error(int status, const std::string& type,
                                      const std::string& message) {
  return Reply{status, json{{"type", type}, {"message", message}}.dump()};
}

void ScwEmulator::advance_locked() {
  const Time now = options_.clock->now();
  for (auto& s : machines_) {
    if (s.state == "starting" && now >= *s.started + options_.boot_time) s.state = "running";
  }
  std::erase_if(machines_, [&](const ScwServer& s) {
    const bool gone =
        s.state == "stopping" && now >= *s.terminate_requested + options_.shutdown_time;
    if (gone) std::erase(volumes_, s.volume_id);  // "terminate" deletes the volumes too
    return gone;
  });
}

int ScwEmulator::used_locked(const std::string& type, const std::string& zone) const {
  return static_cast<int>(
      std::count_if(machines_.begin(), machines_.end(), [&](const ScwServer& s) {
        return s.commercial_type == type && s.zone == zone && s.state != "stopping";
      }));
}

bool ScwEmulator::has_room_locked(const std::string& type, const std::string& zone) const {
  for (const auto& t : options_.types) {
    if (t.commercial_type != type) continue;
    auto cap = t.capacity.find(zone);
    return cap != t.capacity.end() && (cap->second < 0 || used_locked(type, zone) < cap->second);
  }
  return false;
}

ScwServer* ScwEmulator::find_locked(const std::string& zone, const std::string& id) {
  for (auto& s : machines_) {
    if (s.zone == zone && s.id == id) return &s;
  }
  return nullptr;
}

std::string ScwEmulator::server_json_locked(const ScwServer& s) const {
  json j = {{"id", s.id},
            {"name", s.name},
            {"organization", s.project},
            {"project", s.project},
            {"commercial_type", s.commercial_type},
            {"creation_date", format_rfc3339(s.created)},
            {"state", s.state},
            {"tags", s.tags},
            {"zone", s.zone},
            {"arch", "x86_64"},
            {"public_ip", nullptr},
            {"volumes",
             {{"0",
               {{"id", s.volume_id},
                {"name", s.name + "-root"},
                {"volume_type", "l_ssd"},
                {"size", 20000000000LL},
                {"state", "available"}}}}}};
  if (s.state == "running") {
    j["public_ip"] = {{"id", "ip-" + s.id}, {"address", "51.15.0." + std::to_string(s.id.size())}};
  }
  return j.dump();
}

ScwEmulator::Reply ScwEmulator::create_locked(const std::string& zone, const std::string& body) {
  json j = json::parse(body, nullptr, false);
  if (j.is_discarded() || !j.is_object())
    return error(400, "invalid_request_error", "body is not valid JSON");
  for (const char* f : {"name", "commercial_type", "image", "project"}) {
    if (!j.contains(f) || !j[f].is_string() || j[f].get<std::string>().empty()) {
      return error(400, "invalid_arguments", std::string(f) + " is required");
    }
  }
  std::vector<std::string> tags;
  if (j.contains("tags")) {
    if (!j["tags"].is_array()) return error(400, "invalid_arguments", "tags must be a list");
    for (const auto& t : j["tags"]) {
      if (!t.is_string()) return error(400, "invalid_arguments", "tags must be strings");
      tags.push_back(t.get<std::string>());
    }
  }
  const std::string type = j["commercial_type"].get<std::string>();
  bool known = std::any_of(options_.types.begin(), options_.types.end(),
                           [&](const ScwType& t) { return t.commercial_type == type; });
  if (!known) return error(400, "invalid_arguments", "unknown commercial_type " + type);
  if (!has_room_locked(type, zone)) {
    return error(412, "out_of_stock", "server type " + type + " is out of stock in " + zone);
  }
  ScwServer s;
  char buf[48];
  std::snprintf(buf, sizeof(buf), "5f1c2b7e-0d4a-4e8b-9c3d-%012llx",
                static_cast<unsigned long long>(++next_));
  s.id = buf;
  s.zone = zone;
  s.name = j["name"].get<std::string>();
  s.commercial_type = type;
  s.project = j["project"].get<std::string>();
  s.state = "stopped";
  s.tags = tags;
  std::snprintf(buf, sizeof(buf), "0b5e7d1a-6c2f-4a9e-8d3b-%012llx",
                static_cast<unsigned long long>(next_));
  s.volume_id = buf;
  volumes_.push_back(s.volume_id);
  s.created = options_.clock->now();
  machines_.push_back(s);
  return Reply{201, "{\"server\":" + server_json_locked(s) + "}"};
}

ScwEmulator::Reply ScwEmulator::action_locked(const std::string& zone, const std::string& id,
                                              const std::string& body) {
  ScwServer* s = find_locked(zone, id);
  if (s == nullptr) return error(404, "unknown_resource", "\"" + id + "\" not found");
  json j = json::parse(body, nullptr, false);
  if (j.is_discarded() || !j.is_object() || !j.contains("action") || !j["action"].is_string())
    return error(400, "invalid_arguments", "action is required");
  const std::string action = j["action"].get<std::string>();
  if (s->state == "starting" || s->state == "stopping") {
    return Reply{409,
                 json{{"type", "transient_state"},
                      {"message", "resource is in a transient state"},
                      {"resource", "instance_server"},
                      {"resource_id", id},
                      {"current_state", s->state}}
                     .dump(),
                 {}};
  }
  if (action == "poweron") {
    if (s->state != "stopped")
      return error(400, "invalid_request_error", "server should be stopped");
    s->state = "starting";
    s->started = options_.clock->now();
  } else if (action == "terminate") {
    if (s->state == "stopped")
      return error(400, "invalid_request_error", "server should be running");
    s->state = "stopping";
    s->terminate_requested = options_.clock->now();
  } else {
    return error(400, "invalid_arguments", "unsupported action " + action);
  }
  ++next_;
  return Reply{202,
               json{{"task",
                     {{"id", "task-" + std::to_string(next_)},
                      {"description", action},
                      {"status", "pending"},
                      {"href_from", "/servers/" + id + "/action"}}}}
                   .dump(),
               {}};
}

ScwEmulator::Reply ScwEmulator::list_locked(const std::string& zone, const http::HttpRequest& req) {
  const std::vector<std::string> want = split(req.query_param("tags").value_or(""), ',');
  const int per_page =
      std::clamp(to_int(req.query_param("per_page").value_or(""), 50), 1, options_.max_per_page);
  const int page = std::max(1, to_int(req.query_param("page").value_or(""), 1));
  std::vector<const ScwServer*> match;
  for (const auto& s : machines_) {
    if (s.zone != zone) continue;
    bool all = std::all_of(want.begin(), want.end(), [&](const std::string& t) {
      return std::find(s.tags.begin(), s.tags.end(), t) != s.tags.end();
    });
    if (all) match.push_back(&s);
  }
  std::string out = "{\"servers\":[";
  const size_t first = static_cast<size_t>(page - 1) * static_cast<size_t>(per_page);
  for (size_t k = first; k < match.size() && k < first + static_cast<size_t>(per_page); ++k)
    out += (k > first ? "," : "") + server_json_locked(*match[k]);
  return Reply{200, out + "]}", {{"X-Total-Count", std::to_string(match.size())}}};
}

ScwEmulator::Reply ScwEmulator::route(const std::string& op, const std::string& zone,
                                      const std::string& id, const http::HttpRequest& req) {
  std::lock_guard<std::mutex> lock(mu_);
  advance_locked();
  if (op == "products") {
    json servers = json::object();
    for (const auto& t : options_.types) {
      if (!t.capacity.contains(zone)) continue;
      json o = {{"hourly_price", t.hourly_price},
                {"monthly_price", t.hourly_price * 730},
                {"ncpus", 8},
                {"ram", 103079215104LL},
                {"arch", "x86_64"},
                {"gpu", t.gpus}};
      if (t.gpus > 0) {
        o["gpu_info"] = {{"gpu_manufacturer", "NVIDIA"},
                         {"gpu_name", t.gpu_name},
                         {"gpu_memory", 51539607552LL}};
      }
      servers[t.commercial_type] = o;
    }
    return Reply{200,
                 json{{"servers", servers}}.dump(),
                 {{"X-Total-Count", std::to_string(servers.size())}}};
  }
  if (op == "availability") {
    json servers = json::object();
    for (const auto& t : options_.types) {
      if (!t.capacity.contains(zone)) continue;
      servers[t.commercial_type] = {
          {"availability", has_room_locked(t.commercial_type, zone) ? "available" : "shortage"}};
    }
    return Reply{200, json{{"servers", servers}}.dump()};
  }
  if (op == "create") return create_locked(zone, req.body);
  if (op == "list") return list_locked(zone, req);
  if (op == "action") return action_locked(zone, id, req.body);
  if (op == "delete_volume") {
    if (std::any_of(machines_.begin(), machines_.end(),
                    [&](const ScwServer& x) { return x.zone == zone && x.volume_id == id; })) {
      return error(400, "invalid_request_error", "volume is attached to a server");
    }
    if (std::erase(volumes_, id) == 0)
      return error(404, "unknown_resource", "\"" + id + "\" not found");
    return Reply{204, ""};
  }
  ScwServer* found = find_locked(zone, id);
  if (op == "get") {
    if (found == nullptr) return error(404, "unknown_resource", "\"" + id + "\" not found");
    return Reply{200, "{\"server\":" + server_json_locked(*found) + "}"};
  }
  if (op == "delete") {
    if (found == nullptr) return error(404, "unknown_resource", "\"" + id + "\" not found");
    if (found->state != "stopped")
      return error(400, "invalid_request_error", "server should be stopped");
    std::erase_if(machines_, [&](const ScwServer& x) { return &x == found; });
    return Reply{204, ""};
  }
  // user_data
  ScwServer* s = find_locked(zone, id);
  if (s == nullptr) return error(404, "unknown_resource", "\"" + id + "\" not found");
  if (!req.header("Content-Type").value_or("").starts_with("text/plain"))
    return error(400, "invalid_request_error", "user data must be text/plain");
  s->cloud_init = req.body;
  return Reply{204, ""};
}

ProviderFaultReplies ScwEmulator::fault_replies(const std::string& op) {
  return {
      .no_capacity = error(412, "out_of_stock", "server type is out of stock"),
      .throttle = error(429, "too_many_requests", "rate limit exceeded"),
      .server_error = error(500, "internal_error", "internal error"),
      .auth_failure = error(401, "denied_authentication", "invalid secret key"),
      .garbled = {op == "create" ? 201 : 200, "{\"server\": {\"id\": \"5f1c"},
  };
}

void ScwEmulator::handle(const http::HttpRequest& req, http::ResponseWriter& w) {
  AdminHooks hooks;
  hooks.state_json = [this] { return table_state_json("servers"); };
  if (handle_admin(req, w, faults_, hooks)) return;
  // /instance/v1/zones/{zone}/<rest>
  std::string op, zone, id;
  constexpr std::string_view kPrefix = "/instance/v1/zones/";
  if (req.path.starts_with(kPrefix)) {
    std::vector<std::string> parts = split(req.path.substr(kPrefix.size()), '/');
    if (!parts.empty()) zone = parts[0];
    const size_t n = parts.size();
    if (req.method == "GET" && n == 3 && parts[1] == "products" && parts[2] == "servers") {
      op = "products";
    } else if (req.method == "GET" && n == 4 && parts[1] == "products" && parts[2] == "servers" &&
               parts[3] == "availability") {
      op = "availability";
    } else if (n == 2 && parts[1] == "servers") {
      op = req.method == "POST" ? "create" : req.method == "GET" ? "list" : "";
    } else if (n == 3 && parts[1] == "servers" && (req.method == "GET" || req.method == "DELETE")) {
      op = req.method == "GET" ? "get" : "delete";
      id = parts[2];
    } else if (req.method == "DELETE" && n == 3 && parts[1] == "volumes") {
      op = "delete_volume";
      id = parts[2];
    } else if (req.method == "POST" && n == 4 && parts[1] == "servers" && parts[3] == "action") {
      op = "action";
      id = parts[2];
    } else if (req.method == "PATCH" && n == 5 && parts[1] == "servers" &&
               parts[3] == "user_data" && parts[4] == "cloud-init") {
      op = "user_data";
      id = parts[2];
    }
  }
  count_request(op);
  auto send = [&](const Reply& r) { send_reply(w, r); };
  if (req.header("X-Auth-Token").value_or("") != options_.secret_key) {
    return send(fault_replies(op).auth_failure);
  }
  if (op.empty()) return send(error(404, "unknown_resource", "no such route"));
  serve(
      op, w, send, [&] { return fault_replies(op); }, [&] { return route(op, zone, id, req); });
}

}  // namespace gpupool::emulators
