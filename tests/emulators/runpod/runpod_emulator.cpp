#include "tests/emulators/runpod/runpod_emulator.h"

#include <algorithm>
#include <cctype>
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
    : MachineTableEmulator(std::move(options)) {}
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

int RunpodEmulator::alive() const {
  std::lock_guard<std::mutex> lock(mu_);
  return static_cast<int>(std::count_if(machines_.begin(), machines_.end(), [](const RunpodPod& p) {
    return p.status != "TERMINATED";
  }));
}

int64_t RunpodEmulator::billed_seconds(const std::string& id) const {
  std::lock_guard<std::mutex> lock(mu_);
  for (const auto& p : machines_) {
    if (p.id == id) return (p.terminated.value_or(options_.clock->now()) - p.created).count();
  }
  return -1;
}

RunpodEmulator::Reply RunpodEmulator::problem(int status, const std::string& title,
                                              const std::string& detail) {
  return Reply{.status = status,
               .body = json{{"title", title}, {"status", status}, {"detail", detail}}.dump(),
               .content_type = "application/problem+json"};
}

void RunpodEmulator::advance_locked() {
  Time now = options_.clock->now();
  for (auto& p : machines_) {
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

namespace {

// GPUs of `type` on `cloud` still free in data center `dc`; -1: unlimited.
int free_gpus(const std::vector<RunpodPod>& pods, const RunpodGpuType& type,
              const std::string& cloud, const std::string& dc) {
  const int capacity = cloud == "SECURE" ? type.secure_capacity : type.community_capacity;
  if (capacity < 0) return -1;
  int used = 0;
  for (const auto& p : pods) {
    if (p.gpu_id == type.id && p.cloud == cloud && p.data_center == dc && p.status != "TERMINATED")
      used += p.gpu_count;
  }
  return std::max(0, capacity - used);
}

// AvailabilityLevel of a data center with `free` GPUs (-1: unlimited) for a
// pod of `count`.
std::string availability_level(int free, int count) {
  if (free < 0 || free >= 4 * count) return "HIGH";
  if (free >= 2 * count) return "MEDIUM";
  if (free >= count) return "LOW";
  return "NONE";
}

int level_rank(const std::string& level) {
  if (level == "HIGH") return 3;
  if (level == "MEDIUM") return 2;
  return level == "LOW" ? 1 : 0;
}

// The ISO country of a data center id: "US-TX-3" -> US, "EU-RO-1" -> RO,
// "EUR-IS-1" -> IS (the first two-letter part that is not the EU prefix).
std::string country_of(const std::string& dc) {
  size_t pos = 0;
  while (pos < dc.size()) {
    const size_t dash = dc.find('-', pos);
    std::string part = dc.substr(pos, dash == std::string::npos ? dash : dash - pos);
    if (part.size() == 2 && part != "EU" && std::isalpha(static_cast<unsigned char>(part[0])))
      return part;
    if (dash == std::string::npos) break;
    pos = dash + 1;
  }
  return "";
}

std::string data_center_name(const std::string& dc) {
  static const std::map<std::string, std::string> names = {
      {"US-TX-3", "US Texas 3"},        {"US-KS-2", "US Kansas 2"},
      {"US-CA-2", "US California 2"},   {"EU-RO-1", "EU Romania 1"},
      {"EUR-IS-1", "Europe Iceland 1"}, {"CA-MTL-1", "Canada Montreal 1"},
      {"EU-SE-1", "EU Sweden 1"},       {"EU-CZ-1", "EU Czech Republic 1"}};
  auto it = names.find(dc);
  return it != names.end() ? it->second : dc;
}

std::vector<std::string> split_commas(const std::string& s) {
  std::vector<std::string> out;
  size_t pos = 0;
  while (pos <= s.size()) {
    const size_t comma = s.find(',', pos);
    out.push_back(s.substr(pos, comma == std::string::npos ? comma : comma - pos));
    if (comma == std::string::npos) break;
    pos = comma + 1;
  }
  return out;
}

bool all_digits(const std::string& d) {
  return !d.empty() && std::all_of(d.begin(), d.end(), [](char c) { return c >= '0' && c <= '9'; });
}

// "12.8" -> {12, 8}; "12" -> {12, 0} when `bare_major`; nullopt otherwise.
std::optional<std::pair<int, int>> cuda_version(const std::string& s, bool bare_major) {
  const size_t dot = s.find('.');
  if (dot == std::string::npos) {
    if (!bare_major || !all_digits(s)) return std::nullopt;
    return std::make_pair(std::stoi(s), 0);
  }
  if (!all_digits(s.substr(0, dot)) || !all_digits(s.substr(dot + 1))) return std::nullopt;
  return std::make_pair(std::stoi(s.substr(0, dot)), std::stoi(s.substr(dot + 1)));
}

// The CUDA version of every emulated host.
constexpr std::pair<int, int> kHostCuda{12, 8};

// listGpuTypes' filters, read and checked.
struct CatalogQuery {
  bool availability = false;
  int count = 1;
  std::string cloud = "SECURE";
  std::vector<std::string> countries;  // empty: any
  bool cuda_ok = true;                 // the hosts' CUDA passes cudaVersions / minCudaVersion
};

// Checks listGpuTypes' query against the published parameter rules; the
// error answer's status and detail when it breaks one.
std::optional<std::pair<int, std::string>> read_catalog_query(const http::HttpRequest& req,
                                                              CatalogQuery& q) {
  const auto params = req.query_params();
  if (std::string bad = check_query(params, *query_spec(runpod_query_specs(), "listGpuTypes"));
      !bad.empty()) {
    return std::make_pair(400, "query parameter: " + bad);
  }
  std::map<std::string, std::string> v(params.begin(), params.end());
  const bool include = v.count("include") > 0;
  if (include) {
    for (const auto& i : split_commas(v["include"])) {
      if (i != "AVAILABILITY") return std::make_pair(422, "include: unknown value '" + i + "'");
    }
  }
  if (include != (v.count("product") > 0)) {
    return std::make_pair(400, include ? "product is required with include=AVAILABILITY"
                                       : "product is valid only with include=AVAILABILITY");
  }
  for (const char* only : {"count", "cloud", "countryCodes", "cudaVersions", "minCudaVersion"}) {
    if (!include && v.count(only) > 0)
      return std::make_pair(400, std::string(only) + " is valid only with include=AVAILABILITY");
  }
  if (!include) return std::nullopt;
  q.availability = true;
  for (const auto& p : split_commas(v["product"])) {
    if (p != "POD" && p != "CLUSTER" && p != "SERVERLESS")
      return std::make_pair(422, "product: unknown value '" + p + "'");
  }
  if (v.count("count") > 0) {
    if (!all_digits(v["count"]) || v["count"].size() > 3 || std::stoi(v["count"]) < 1)
      return std::make_pair(422, "count: must be an integer >= 1");
    q.count = std::stoi(v["count"]);
  }
  if (v.count("cloud") > 0) {
    if (v["cloud"] != "SECURE" && v["cloud"] != "COMMUNITY")
      return std::make_pair(422, "cloud: value must be one of SECURE, COMMUNITY");
    q.cloud = v["cloud"];
  }
  if (v.count("countryCodes") > 0) {
    for (const auto& c : split_commas(v["countryCodes"])) {
      if (c.size() != 2 || !std::isupper(static_cast<unsigned char>(c[0])) ||
          !std::isupper(static_cast<unsigned char>(c[1]))) {
        return std::make_pair(422, "countryCodes: '" + c + "' must match ^[A-Z]{2}$");
      }
      q.countries.push_back(c);
    }
  }
  if (v.count("cudaVersions") > 0 && v.count("minCudaVersion") > 0)
    return std::make_pair(400, "cudaVersions and minCudaVersion are mutually exclusive");
  if (v.count("cudaVersions") > 0) {
    q.cuda_ok = false;
    for (const auto& c : split_commas(v["cudaVersions"])) {
      auto ver = cuda_version(c, false);
      if (!ver) return std::make_pair(422, "cudaVersions: '" + c + "' must match ^\\d+\\.\\d+$");
      q.cuda_ok = q.cuda_ok || *ver == kHostCuda;
    }
  }
  if (v.count("minCudaVersion") > 0) {
    auto ver = cuda_version(v["minCudaVersion"], true);
    if (!ver) return std::make_pair(422, "minCudaVersion: must match ^\\d+(\\.\\d+)?$");
    q.cuda_ok = *ver <= kHostCuda;
  }
  return std::nullopt;
}

// One GpuType of listGpuTypes' answer.
json gpu_type_json(const RunpodGpuType& g, const std::vector<RunpodPod>& pods,
                   const CatalogQuery& q) {
  const bool secure = !g.secure_price.is_zero();
  const bool community = !g.community_price.is_zero();
  json j = {
      {"id", g.id},
      {"name", g.display_name},
      {"pool", nullptr},
      {"manufacturer", "NVIDIA"},
      {"memory", g.memory_gb},
      {"secure", secure},
      {"community", community},
      {"price",
       {{"secure", g.secure_price.to_double()}, {"community", g.community_price.to_double()}}},
      {"maxCount",
       {{"secure", secure ? g.max_count : 0}, {"community", community ? g.max_count : 0}}}};
  if (!q.availability) return j;
  const bool sells =
      (q.cloud == "SECURE" ? secure : community) && q.count <= g.max_count && q.cuda_ok;
  json dcs = json::array();
  std::string overall = "NONE";
  for (const auto& dc : g.data_centers) {
    if (!sells) break;
    if (!q.countries.empty() &&
        std::find(q.countries.begin(), q.countries.end(), country_of(dc)) == q.countries.end()) {
      continue;
    }
    const std::string level = availability_level(free_gpus(pods, g, q.cloud, dc), q.count);
    if (level_rank(level) > level_rank(overall)) overall = level;
    dcs.push_back({{"id", dc}, {"name", data_center_name(dc)}, {"availability", level}});
  }
  j["availability"] = overall;
  if (!dcs.empty()) {
    j["dataCenters"] = dcs;
    j["cudaVersions"] = json::array(
        {{{"version", std::to_string(kHostCuda.first) + "." + std::to_string(kHostCuda.second)},
          {"available", overall != "NONE"}}});
  }
  return j;
}

}  // namespace

RunpodEmulator::Reply RunpodEmulator::catalog_locked(const http::HttpRequest& req) const {
  CatalogQuery q;
  if (auto bad = read_catalog_query(req, q)) {
    return problem(bad->first, bad->first == 422 ? "Unprocessable Entity" : "Bad Request",
                   bad->second);
  }
  json gpus = json::array();
  for (const auto& g : options_.gpu_types) {
    json j = gpu_type_json(g, machines_, q);
    // With countryCodes, a type with no data center in those countries
    // drops out of the list.
    if (!q.countries.empty() && !j.contains("dataCenters")) continue;
    gpus.push_back(std::move(j));
  }
  return Reply{200, json{{"gpus", gpus}}.dump()};
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
    return Reply{.status = 422,
                 .body = json{{"title", "Unprocessable Entity"},
                              {"status", 422},
                              {"detail", "validation failed"},
                              {"errors", errors}}
                             .dump(),
                 .content_type = "application/problem+json"};
  }
  if (type == nullptr) return problem(400, "Bad Request", "exactly one of gpu or cpu must be set");
  if (type->forbidden) return problem(403, "Forbidden", "access denied");
  if (type->refused) return problem(400, "Bad Request", "request could not be processed");
  Money per_gpu = cloud == "SECURE" ? type->secure_price : type->community_price;
  if (per_gpu.is_zero()) return problem(400, "Bad Request", kNoCapacity);
  if (count > type->max_count) {
    return problem(400, "Bad Request",
                   "gpu.count " + std::to_string(count) + " is more than the " +
                       std::to_string(type->max_count) + " GPUs of the largest " + type->id +
                       " machine");
  }
  // The first asked data center (or, none asked, the first of the type's)
  // that runs the type and has room.
  std::string placed;
  for (const auto& dc : data_centers.empty() ? type->data_centers : data_centers) {
    const bool runs = std::find(type->data_centers.begin(), type->data_centers.end(), dc) !=
                      type->data_centers.end();
    const int free = runs ? free_gpus(machines_, *type, cloud, dc) : 0;
    if (runs && (free < 0 || free >= count)) {
      placed = dc;
      break;
    }
  }
  if (placed.empty()) return problem(400, "Bad Request", kNoCapacity);
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
  pod.data_center = placed;
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
  machines_.push_back(pod);
  return Reply{201, pod_json_locked(pod)};
}

RunpodEmulator::Reply RunpodEmulator::route(const std::string& op, const http::HttpRequest& req) {
  std::lock_guard<std::mutex> lock(mu_);
  advance_locked();
  if (op == "prices") return catalog_locked(req);
  if (op == "create") return create_locked(req.body);
  if (op == "list") {
    std::string out = "{\"pods\":[";
    bool first = true;
    for (const auto& p : machines_) {
      if (p.status == "TERMINATED") continue;
      out += (first ? "" : ",") + pod_json_locked(p);
      first = false;
    }
    return Reply{200, out + "]}"};
  }
  std::string id = req.path.substr(std::string("/v2/pods/").size());
  auto it = std::find_if(machines_.begin(), machines_.end(), [&](const RunpodPod& p) {
    return p.id == id && p.status != "TERMINATED";
  });
  if (it == machines_.end()) return problem(404, "Not Found", "pod not found");
  it->status = "TERMINATED";
  it->terminated = options_.clock->now();
  return Reply{204, ""};
}

ProviderFaultReplies RunpodEmulator::fault_replies(const std::string& op) {
  return {
      .no_capacity = problem(400, "Bad Request", kNoCapacity),
      .throttle = problem(429, "Too Many Requests", "rate limit exceeded for the minute window"),
      .server_error = problem(500, "Internal Server Error", "upstream failure"),
      .auth_failure = problem(401, "Unauthorized", "missing or invalid API key"),
      .garbled = {op == "create" ? 201 : 200, "{\"pods\": [{\"id\": \"pod1\", \"na"},
  };
}

void RunpodEmulator::handle(const http::HttpRequest& req, http::ResponseWriter& w) {
  AdminHooks hooks;
  hooks.set_capacity = [this](const std::string& id, int n) {
    auto slash = id.find('/');
    if (slash == std::string::npos) return std::string("id must be <SECURE|COMMUNITY>/<gpu type>");
    set_capacity(id.substr(slash + 1), id.substr(0, slash), n);
    return std::string();
  };
  hooks.state_json = [this] { return table_state_json("pods", alive()); };
  if (handle_admin(req, w, faults_, hooks)) return;
  const std::string op = operation_of(req, {{"GET", "/v2/catalog/gpus", "prices"},
                                            {"GET", "/v2/pods", "list"},
                                            {"POST", "/v2/pods", "create"},
                                            {"DELETE", "/v2/pods/", "delete", kUnder}});
  count_request(op);
  auto send = [&](const Reply& r) { send_reply(w, r); };
  if (req.header("Authorization").value_or("") != "Bearer " + options_.api_key) {
    return send(fault_replies(op).auth_failure);
  }
  if (op.empty()) return send(problem(404, "Not Found", "no such route"));
  serve(
      op, w, send, [&] { return fault_replies(op); }, [&] { return route(op, req); });
}

}  // namespace gpupool::emulators
