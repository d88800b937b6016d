#include "tests/emulators/lambda/lambda_emulator.h"

#include <algorithm>
#include <cstdio>

#include <nlohmann/json.hpp>

#include "tests/emulators/common/request_spec.h"

namespace gpupool::emulators {
namespace {

using nlohmann::json;

bool valid_tag_key(const std::string& k) {
  if (k.size() < 2 || k.size() > 55 || k[0] < 'a' || k[0] > 'z') return false;
  return std::all_of(k.begin(), k.end(), [](char c) {
    return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-' || c == ':';
  });
}

}  // namespace

LambdaEmulator::LambdaEmulator(LambdaEmulatorOptions options)
    : MachineTableEmulator(std::move(options)) {}
LambdaEmulator::~LambdaEmulator() {
  stop();
}

void LambdaEmulator::set_capacity(const std::string& type, const std::string& region, int n) {
  std::lock_guard<std::mutex> lock(mu_);
  set_region_capacity(options_.types, &LambdaType::name, type, region, n);
}

LambdaEmulator::Reply LambdaEmulator::error(int status, const std::string& code,
                                            const std::string& message) {
  return Reply{
      status,
      json{{"error",
            {{"code", code}, {"message", message}, {"suggestion", "See the API documentation."}}}}
          .dump(),
      {}};
}

void LambdaEmulator::advance_locked() {
  Time now = options_.clock->now();
  for (auto& i : machines_) {
    if (i.status == "booting" && now >= i.created + options_.boot_time) i.status = "active";
    if (i.status == "terminating" && now >= *i.terminate_requested + options_.shutdown_time)
      i.status = "terminated";
  }
}

int LambdaEmulator::used_locked(const std::string& type, const std::string& region) const {
  return static_cast<int>(
      std::count_if(machines_.begin(), machines_.end(), [&](const LambdaInstance& i) {
        return i.type == type && i.region == region &&
               (i.status == "booting" || i.status == "active");
      }));
}

std::string LambdaEmulator::instance_json_locked(const LambdaInstance& in) const {
  const LambdaType* t = nullptr;
  for (const auto& x : options_.types) {
    if (x.name == in.type) t = &x;
  }
  json tags = json::array();
  for (const auto& [k, v] : in.tags)
    tags.push_back({{"key", k}, {"value", v}});
  json j = {
      {"id", in.id},
      {"name", in.name},
      {"status", in.status},
      {"ssh_key_names", {"operator"}},
      {"file_system_names", json::array()},
      {"region", {{"name", in.region}, {"description", in.region}}},
      {"instance_type",
       {{"name", in.type},
        {"description", t ? t->gpu_description : ""},
        {"gpu_description", t ? t->gpu_description : ""},
        {"price_cents_per_hour", t ? t->price_cents_per_hour : 0},
        {"specs",
         {{"vcpus", 30}, {"memory_gib", 200}, {"storage_gib", 1400}, {"gpus", t ? t->gpus : 0}}}}},
      {"hostname", in.id.substr(0, 8) + ".cloud.lambda.ai"},
      {"tags", tags}};
  if (in.status == "active") {
    j["ip"] = "198.51.100." +
              std::to_string(std::stoi(in.id.substr(in.id.size() - 2), nullptr, 16) % 250);
    j["private_ip"] = "10.0.2.100";
  }
  return j.dump();
}

LambdaEmulator::Reply LambdaEmulator::launch_locked(const std::string& body) {
  const Time now = options_.clock->now();
  if (last_launch_ && now < *last_launch_ + options_.launch_interval)
    return error(429, "global/too-many-requests", "Too many requests.");
  last_launch_ = now;
  json j = json::parse(body, nullptr, false);
  if (j.is_discarded() || !j.is_object())
    return error(400, "global/invalid-parameters", "Body is not valid JSON.");
  // launchInstance: field names, types and required fields as published.
  if (std::string bad = check_request(j, request_spec(lambda_request_specs(), "launchInstance"));
      !bad.empty()) {
    return error(400, "global/invalid-parameters", "Invalid request: " + bad + ".");
  }
  if (!j.contains("ssh_key_names") || !j["ssh_key_names"].is_array() ||
      j["ssh_key_names"].size() != 1) {
    return error(400, "global/invalid-parameters", "Exactly one SSH key must be specified.");
  }
  const json& key = j["ssh_key_names"][0];
  if (!key.is_string() || std::find(options_.ssh_key_names.begin(), options_.ssh_key_names.end(),
                                    key.get<std::string>()) == options_.ssh_key_names.end()) {
    return error(404, "global/object-does-not-exist", "Specified SSH key(s) do not exist.");
  }
  std::vector<std::pair<std::string, std::string>> tags;
  if (j.contains("tags")) {
    if (!j["tags"].is_array())
      return error(400, "global/invalid-parameters", "tags must be an array.");
    for (const auto& t : j["tags"]) {
      if (!t.is_object() || !t.contains("key") || !t["key"].is_string() || !t.contains("value") ||
          !t["value"].is_string() || !valid_tag_key(t["key"].get<std::string>()) ||
          t["value"].get<std::string>().size() > 128) {
        return error(400, "global/invalid-parameters", "Invalid tag.");
      }
      tags.emplace_back(t["key"].get<std::string>(), t["value"].get<std::string>());
    }
  }
  std::string type = j["instance_type_name"].get<std::string>();
  std::string region = j["region_name"].get<std::string>();
  const LambdaType* t = nullptr;
  for (const auto& x : options_.types) {
    if (x.name == type) t = &x;
  }
  if (t == nullptr)
    return error(400, "global/invalid-parameters", "Invalid instance type " + type + ".");
  auto cap = t->capacity.find(region);
  if (cap == t->capacity.end() || (cap->second >= 0 && used_locked(type, region) >= cap->second)) {
    return error(400, "instance-operations/launch/insufficient-capacity",
                 "Not enough capacity to fulfill launch request.");
  }
  LambdaInstance in;
  char buf[40];
  std::snprintf(buf, sizeof(buf), "0920582c7ff041399e34823a0be6%04llx",
                static_cast<unsigned long long>(++next_));
  in.id = buf;
  in.name = j.value("name", "");
  in.type = type;
  in.region = region;
  in.status = "booting";
  in.tags = tags;
  in.user_data = j.value("user_data", "");
  in.created = options_.clock->now();
  machines_.push_back(in);
  return Reply{200, json{{"data", {{"instance_ids", {in.id}}}}}.dump()};
}

LambdaEmulator::Reply LambdaEmulator::terminate_locked(const std::string& body) {
  json j = json::parse(body, nullptr, false);
  // terminateInstance: {"instance_ids": [...]} and nothing else.
  if (j.is_discarded() ||
      !check_request(j, request_spec(lambda_request_specs(), "terminateInstance")).empty()) {
    return error(400, "global/invalid-parameters", "instance_ids is required.");
  }
  std::vector<LambdaInstance*> targets;
  for (const auto& id : j["instance_ids"]) {
    if (!id.is_string())
      return error(400, "global/invalid-parameters", "instance ids are strings.");
    auto it = std::find_if(machines_.begin(), machines_.end(),
                           [&](const LambdaInstance& i) { return i.id == id.get<std::string>(); });
    if (it == machines_.end()) {
      return error(404, "global/object-does-not-exist",
                   "Instance " + id.get<std::string>() + " does not exist.");
    }
    targets.push_back(&*it);
  }
  std::string out = "{\"data\":{\"terminated_instances\":[";
  for (size_t k = 0; k < targets.size(); ++k) {
    LambdaInstance* i = targets[k];
    if (i->status == "booting" || i->status == "active") {
      i->status = "terminating";
      i->terminate_requested = options_.clock->now();
    }
    out += (k ? "," : "") + instance_json_locked(*i);
  }
  return Reply{200, out + "]}}"};
}

LambdaEmulator::Reply LambdaEmulator::route(const std::string& op, const http::HttpRequest& req) {
  std::lock_guard<std::mutex> lock(mu_);
  advance_locked();
  if (op == "types") {
    json data = json::object();
    for (const auto& t : options_.types) {
      json regions = json::array();
      for (const auto& [r, cap] : t.capacity) {
        if (cap < 0 || used_locked(t.name, r) < cap)
          regions.push_back({{"name", r}, {"description", r}});
      }
      data[t.name] = {
          {"instance_type",
           {{"name", t.name},
            {"description", std::to_string(t.gpus) + "x " + t.gpu_description},
            {"gpu_description", t.gpu_description},
            {"price_cents_per_hour", t.price_cents_per_hour},
            {"specs",
             {{"vcpus", 30}, {"memory_gib", 200}, {"storage_gib", 1400}, {"gpus", t.gpus}}}}},
          {"regions_with_capacity_available", regions}};
    }
    return Reply{200, json{{"data", data}}.dump()};
  }
  if (op == "launch") return launch_locked(req.body);
  if (op == "terminate") return terminate_locked(req.body);
  std::string out = "{\"data\":[";
  for (size_t k = 0; k < machines_.size(); ++k)
    out += (k ? "," : "") + instance_json_locked(machines_[k]);
  return Reply{200, out + "]}"};
}

ProviderFaultReplies LambdaEmulator::fault_replies() {
  return {
      .no_capacity = error(400, "instance-operations/launch/insufficient-capacity",
                           "Not enough capacity to fulfill launch request."),
      .throttle = error(429, "global/too-many-requests", "Too many requests."),
      .server_error = error(500, "global/internal-error", "Internal error."),
      .auth_failure =
          error(401, "global/invalid-api-key", "API key was invalid, expired, or deleted."),
      .garbled = {200, "{\"data\": {\"instance_ids\": [\"09"},
  };
}

void LambdaEmulator::handle(const http::HttpRequest& req, http::ResponseWriter& w) {
  AdminHooks hooks;
  hooks.state_json = [this] { return table_state_json("instances"); };
  if (handle_admin(req, w, faults_, hooks)) return;
  const std::string op =
      operation_of(req, {{"GET", "/api/v1/instance-types", "types"},
                         {"POST", "/api/v1/instance-operations/launch", "launch"},
                         {"GET", "/api/v1/instances", "list"},
                         {"POST", "/api/v1/instance-operations/terminate", "terminate"}});
  count_request(op);
  auto send = [&](const Reply& r) { send_reply(w, r); };
  if (req.header("Authorization").value_or("") != "Bearer " + options_.api_key) {
    return send(fault_replies().auth_failure);
  }
  if (op.empty()) return send(error(404, "global/not-found", "No such route."));
  serve(
      op, w, send, [&] { return fault_replies(); }, [&] { return route(op, req); });
}

}  // namespace gpupool::emulators
