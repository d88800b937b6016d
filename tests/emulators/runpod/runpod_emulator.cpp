#include "tests/emulators/runpod/runpod_emulator.h"

#include <algorithm>
#include <charconv>
#include <functional>
#include <optional>

#include <nlohmann/json.hpp>

#include "tests/emulators/common/request_spec.h"

namespace gpupool::emulators {
namespace {

using nlohmann::json;

constexpr const char* kNoCapacity =
    "There are no longer any instances available with the requested specifications. Please refresh "
    "and try again.";

}  // namespace

RunpodEmulator::RunpodEmulator(RunpodEmulatorOptions options)
    : EmulatorBase(options.port), options_(std::move(options)) {}
RunpodEmulator::~RunpodEmulator() {
  stop();
}

void RunpodEmulator::set_capacity(const std::string& gpu_id, const std::string& cloud, int gpus) {
  std::lock_guard<std::mutex> lock(mu_);
  for (auto& g : options_.gpu_types) {
    if (g.id != gpu_id) continue;
    (cloud == "SECURE" ? g.secure_capacity : g.community_capacity) = gpus;
  }
}

std::vector<RunpodPod> RunpodEmulator::pods() const {
  std::lock_guard<std::mutex> lock(mu_);
  const_cast<RunpodEmulator*>(this)->advance_locked();
  return pods_;
}

int RunpodEmulator::alive() const {
  std::lock_guard<std::mutex> lock(mu_);
  return static_cast<int>(std::count_if(
      pods_.begin(), pods_.end(), [](const RunpodPod& p) { return p.status != "TERMINATED"; }));
}

int64_t RunpodEmulator::billed_seconds(const std::string& id) const {
  std::lock_guard<std::mutex> lock(mu_);
  for (const auto& p : pods_) {
    if (p.id == id) return (p.terminated.value_or(options_.clock->now()) - p.created).count();
  }
  return -1;
}

RunpodEmulator::Reply RunpodEmulator::problem(int status, const std::string& title,
                                              const std::string& detail) {
  return Reply{status,
               json{{"title", title}, {"status", status}, {"detail", detail}}.dump(),
               "application/problem+json",
               {}};
}

void RunpodEmulator::advance_locked() {
  Time now = options_.clock->now();
  for (auto& p : pods_) {
    if (p.status == "PROVISIONING" && now >= p.created + options_.boot_time) p.status = "RUNNING";
  }
}

namespace {

// "8000/tcp" -> {8000, "tcp"}; nullopt unless "<1..65535>/<http|tcp>".
std::optional<std::pair<int, std::string>> parse_port(const std::string& s) {
  auto slash = s.find('/');
  if (slash == std::string::npos) return std::nullopt;
  int port = 0;
  auto [p, ec] = std::from_chars(s.data(), s.data() + slash, port);
  if (ec != std::errc() || p != s.data() + slash || port < 1 || port > 65535) return std::nullopt;
  std::string proto = s.substr(slash + 1);
  if (proto != "tcp" && proto != "http") return std::nullopt;
  return std::make_pair(port, proto);
}

}  // namespace

int RunpodEmulator::public_port_of(const RunpodPod& pod, int private_port) {
  if (pod.status != "RUNNING") return 0;
  for (size_t i = 0; i < pod.ports.size(); ++i) {
    auto p = parse_port(pod.ports[i]);
    if (p && p->first == private_port && p->second == "tcp") {
      // Deterministic per pod and port, in the range Runpod hands out.
      return 10000 + static_cast<int>((std::hash<std::string>{}(pod.id) + i * 7919) % 50000);
    }
  }
  return 0;
}

std::string RunpodEmulator::pod_json_locked(const RunpodPod& p) const {
  bool running = p.status == "RUNNING";
  int ssh_port = public_port_of(p, 22);
  json ssh = {{"proxy",
               {{"host", "ssh.runpod.io"},
                {"port", 22},
                {"username", p.id + "-64411eb2"},
                {"command", "ssh"}}},
              {"direct", ssh_port != 0 ? json{{"host", p.public_ip},
                                              {"port", ssh_port},
                                              {"username", "root"},
                                              {"command", "ssh root@" + p.public_ip + " -p " +
                                                              std::to_string(ssh_port)}}
                                       : json(nullptr)}};
  json runtime = nullptr;
  if (running) {
    json ports = json::array();
    for (const auto& s : p.ports) {
      auto port = parse_port(s);
      if (!port) continue;
      int pub = public_port_of(p, port->first);
      ports.push_back({{"private", port->first},
                       {"public", pub != 0 ? json(pub) : json(nullptr)},
                       {"type", port->second},
                       {"ip", pub != 0 ? json(p.public_ip) : json(nullptr)}});
    }
    runtime = {{"uptime", (options_.clock->now() - p.created).count()}, {"ports", ports}};
  }
  json j = {{"id", p.id},
            {"name", p.name},
            {"status", p.status},
            {"actions", json::array({"stop", "terminate"})},
            {"image", p.image},
            {"args", p.args},
            {"disk", p.disk},
            {"mounts", json::object()},
            {"ports", p.ports},
            {"env", p.env},
            {"registry", nullptr},
            {"gpu", {{"id", p.gpu_id}, {"count", p.gpu_count}}},
            {"cloud", p.cloud},
            {"dataCenterId", p.data_center},
            {"cudaVersion", "12.8"},
            {"ssh", ssh},
            {"template", nullptr},
            {"cost", p.status == "TERMINATED" ? 0.0 : p.cost_per_hour.to_double()},
            {"locked", false},
            {"globalNetworking", {{"enabled", false}}},
            {"runtime", runtime},
            {"createdAt", format_rfc3339(p.created)},
            {"startedAt",
             running ? json(format_rfc3339(p.created + options_.boot_time)) : json(nullptr)}};
  return j.dump();
}

RunpodEmulator::Reply RunpodEmulator::prices_locked(const std::string& body) const {
  json req = json::parse(body, nullptr, false);
  if (req.is_discarded() || !req.is_object() || !req.contains("query") ||
      !req["query"].is_string()) {
    return Reply{400, json{{"errors", {{{"message", "Must provide query string."}}}}}.dump()};
  }
  std::string q = req["query"].get<std::string>();
  if (q.find("gpuTypes") == std::string::npos) {
    return Reply{200,
                 json{{"errors", {{{"message", "Cannot query field on type \"Query\"."}}}}}.dump()};
  }
  int count = 1;
  auto at = q.find("gpuCount:");
  if (at != std::string::npos) {
    size_t p = at + 9;
    while (p < q.size() && q[p] == ' ')
      ++p;
    std::from_chars(q.data() + p, q.data() + q.size(), count);
  }
  json types = json::array();
  for (const auto& g : options_.gpu_types) {
    int used = 0;
    for (const auto& p : pods_) {
      if (p.gpu_id == g.id && p.cloud == "SECURE" && p.status != "TERMINATED") used += p.gpu_count;
    }
    bool stock = g.secure_capacity < 0 || g.secure_capacity - used >= count;
    types.push_back({{"id", g.id},
                     {"displayName", g.display_name},
                     {"memoryInGb", g.memory_gb},
                     {"secureCloud", !g.secure_price.is_zero()},
                     {"communityCloud", !g.community_price.is_zero()},
                     {"securePrice", g.secure_price.to_double()},
                     {"communityPrice", g.community_price.to_double()},
                     {"lowestPrice",
                      {{"stockStatus", stock ? json("High") : json(nullptr)},
                       {"uninterruptablePrice", g.secure_price.to_double()},
                       {"minimumBidPrice", nullptr}}}});
  }
  return Reply{200, json{{"data", {{"gpuTypes", types}}}}.dump()};
}

RunpodEmulator::Reply RunpodEmulator::create_locked(const std::string& body) {
  json j = json::parse(body, nullptr, false);
  if (j.is_discarded() || !j.is_object())
    return problem(422, "Unprocessable Entity", "request body is not valid JSON");
  // createPod: every field must be one the published body schema has, of
  // its type; name is required.
  if (std::string bad = check_request(j, request_spec(runpod_request_specs(), "createPod"));
      !bad.empty()) {
    return problem(422, "Unprocessable Entity", "Request validation failed: " + bad);
  }
  json errors = json::array();
  if (!j.contains("name") || !j["name"].is_string() || j["name"].get<std::string>().empty()) {
    errors.push_back({{"location", "body.name"}, {"message", "name is required"}});
  }
  if (!j.contains("image") || !j["image"].is_string())
    errors.push_back({{"location", "body.image"}, {"message", "image is required"}});
  if (j.contains("ports")) {
    for (size_t i = 0; i < j["ports"].size(); ++i) {
      if (!parse_port(j["ports"][i].get<std::string>())) {
        errors.push_back({{"location", "body.ports[" + std::to_string(i) + "]"},
                          {"message", "must be formatted as port/protocol (http or tcp)"}});
      }
    }
  }
  std::string cloud =
      j.contains("cloud") && j["cloud"].is_string() ? j["cloud"].get<std::string>() : "SECURE";
  if (cloud != "SECURE" && cloud != "COMMUNITY") {
    errors.push_back(
        {{"location", "body.cloud"}, {"message", "value must be one of SECURE, COMMUNITY"}});
  }
  std::vector<std::string> data_centers;
  if (j.contains("dataCenterIds")) {
    for (size_t i = 0; i < j["dataCenterIds"].size(); ++i) {
      const json& dc = j["dataCenterIds"][i];
      if (dc.is_string()) {
        data_centers.push_back(dc.get<std::string>());
      } else {
        errors.push_back({{"location", "body.dataCenterIds[" + std::to_string(i) + "]"},
                          {"message", "must be a string"}});
      }
    }
  }
  std::string min_cuda;
  if (j.contains("gpu") && j["gpu"].is_object() && j["gpu"].contains("minCudaVersion")) {
    // CreateGpuConfig.minCudaVersion: pattern ^\d+\.\d+$.
    const json& v = j["gpu"]["minCudaVersion"];
    const std::string s = v.is_string() ? v.get<std::string>() : "";
    const size_t dot = s.find('.');
    auto digits = [](const std::string& d) {
      return !d.empty() &&
             std::all_of(d.begin(), d.end(), [](char c) { return c >= '0' && c <= '9'; });
    };
    if (dot == std::string::npos || !digits(s.substr(0, dot)) || !digits(s.substr(dot + 1))) {
      errors.push_back({{"location", "body.gpu.minCudaVersion"},
                        {"message", "must match pattern ^\\d+\\.\\d+$"}});
    } else {
      min_cuda = s;
    }
  }
  const RunpodGpuType* type = nullptr;
  int count = 1;
  if (j.contains("gpu") && j["gpu"].is_object()) {
    std::string id = j["gpu"].value("id", "");
    for (const auto& g : options_.gpu_types) {
      if (g.id == id) type = &g;
    }
    if (type == nullptr)
      errors.push_back({{"location", "body.gpu.id"}, {"message", "unknown GPU type '" + id + "'"}});
    if (j["gpu"].contains("count")) {
      if (!j["gpu"]["count"].is_number_integer() || j["gpu"]["count"].get<int>() < 1) {
        errors.push_back({{"location", "body.gpu.count"}, {"message", "must be >= 1"}});
      } else {
        count = j["gpu"]["count"].get<int>();
      }
    }
  }
  if (!errors.empty()) {
    return Reply{422,
                 json{{"title", "Unprocessable Entity"},
                      {"status", 422},
                      {"detail", "validation failed"},
                      {"errors", errors}}
                     .dump(),
                 "application/problem+json",
                 {}};
  }
  if (type == nullptr) return problem(400, "Bad Request", "exactly one of gpu or cpu must be set");
  if (type->forbidden) return problem(403, "Forbidden", "access denied");
  if (type->refused) return problem(400, "Bad Request", "request could not be processed");
  Money per_gpu = cloud == "SECURE" ? type->secure_price : type->community_price;
  int capacity = cloud == "SECURE" ? type->secure_capacity : type->community_capacity;
  if (per_gpu.is_zero()) return problem(400, "Bad Request", kNoCapacity);
  int used = 0;
  for (const auto& p : pods_) {
    if (p.gpu_id == type->id && p.cloud == cloud && p.status != "TERMINATED") used += p.gpu_count;
  }
  if (capacity >= 0 && used + count > capacity) return problem(400, "Bad Request", kNoCapacity);
  RunpodPod pod;
  ++next_;
  pod.id = "pod" + std::to_string(1000 + next_);
  pod.name = j["name"].get<std::string>();
  pod.gpu_id = type->id;
  pod.gpu_count = count;
  pod.cloud = cloud;
  pod.status = "PROVISIONING";
  pod.image = j["image"].get<std::string>();
  pod.args = j.value("args", "");
  pod.disk = j.value("disk", 50);
  if (!data_centers.empty()) pod.data_center = data_centers.front();
  pod.min_cuda_version = min_cuda;
  if (j.contains("ports")) pod.ports = j["ports"].get<std::vector<std::string>>();
  pod.public_ip = "194.68.245." + std::to_string(10 + next_ % 200);
  if (j.contains("env") && j["env"].is_object()) {
    for (auto it = j["env"].begin(); it != j["env"].end(); ++it) {
      if (it.value().is_string()) pod.env[it.key()] = it.value().get<std::string>();
    }
  }
  pod.cost_per_hour = per_gpu * count;
  pod.created = options_.clock->now();
  pods_.push_back(pod);
  return Reply{201, pod_json_locked(pod)};
}

RunpodEmulator::Reply RunpodEmulator::route(const std::string& op, const http::HttpRequest& req) {
  std::lock_guard<std::mutex> lock(mu_);
  advance_locked();
  if (op == "prices") return prices_locked(req.body);
  if (op == "create") return create_locked(req.body);
  if (op == "list") {
    std::string out = "{\"pods\":[";
    bool first = true;
    for (const auto& p : pods_) {
      if (p.status == "TERMINATED") continue;
      out += (first ? "" : ",") + pod_json_locked(p);
      first = false;
    }
    return Reply{200, out + "]}"};
  }
  std::string id = req.path.substr(std::string("/v2/pods/").size());
  auto it = std::find_if(pods_.begin(), pods_.end(), [&](const RunpodPod& p) {
    return p.id == id && p.status != "TERMINATED";
  });
  if (it == pods_.end()) return problem(404, "Not Found", "pod not found");
  it->status = "TERMINATED";
  it->terminated = options_.clock->now();
  return Reply{204, ""};
}

void RunpodEmulator::handle(const http::HttpRequest& req, http::ResponseWriter& w) {
  AdminHooks hooks;
  hooks.set_capacity = [this](const std::string& id, int n) {
    auto slash = id.find('/');
    if (slash == std::string::npos) return std::string("id must be <SECURE|COMMUNITY>/<gpu type>");
    set_capacity(id.substr(slash + 1), id.substr(0, slash), n);
    return std::string();
  };
  hooks.state_json = [this] {
    return "{\"alive\":" + std::to_string(alive()) + ",\"pods\":" + std::to_string(pods().size()) +
           ",\"requests\":" + std::to_string(requests()) + "}";
  };
  if (handle_admin(req, w, faults_, hooks)) return;
  std::string op;
  if (req.method == "POST" && req.path == "/graphql") {
    op = "prices";
  } else if (req.method == "GET" && req.path == "/v2/pods") {
    op = "list";
  } else if (req.method == "POST" && req.path == "/v2/pods") {
    op = "create";
  } else if (req.method == "DELETE" && req.path.starts_with("/v2/pods/")) {
    op = "delete";
  }
  count_request(op);
  auto send = [&](const Reply& r) {
    http::Headers h{{"Content-Type", r.content_type}};
    for (const auto& [k, v] : r.headers)
      h.add(k, v);
    w.send(r.status, h, r.body);
  };
  if (req.header("Authorization").value_or("") != "Bearer " + options_.api_key) {
    return send(problem(401, "Unauthorized", "missing or invalid API key"));
  }
  if (op.empty()) return send(problem(404, "Not Found", "no such route"));
  bool lose = false;
  if (auto fault = faults_.take(op)) {
    switch (fault->kind) {
      case FaultKind::NoCapacity:
        return send(problem(400, "Bad Request", kNoCapacity));
      case FaultKind::Throttle: {
        Reply r = problem(429, "Too Many Requests", "rate limit exceeded for the minute window");
        if (fault->retry_after.count() > 0)
          r.headers.emplace_back("Retry-After", std::to_string(fault->retry_after.count()));
        return send(r);
      }
      case FaultKind::ServerError:
        return send(problem(500, "Internal Server Error", "upstream failure"));
      case FaultKind::AuthFailure:
        return send(problem(401, "Unauthorized", "missing or invalid API key"));
      case FaultKind::Garbled:
        return send(Reply{op == "create" ? 201 : 200,
                          "{\"pods\": [{\"id\": \"pod1\", \"na",
                          "application/json",
                          {}});
      case FaultKind::GarbledError:
        return send(
            Reply{502, "<html><body><h1>502 Bad Gateway</h1></body></html>", "text/html", {}});
      case FaultKind::Slow:
        w.wait_closed(fault->delay);
        break;
      case FaultKind::LoseAnswer:
        lose = true;
        break;
    }
  }
  Reply r = route(op, req);
  if (lose) w.wait_closed(std::chrono::milliseconds(30'000));
  send(r);
}

}  // namespace gpupool::emulators
