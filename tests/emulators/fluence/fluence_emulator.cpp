#include "tests/emulators/fluence/fluence_emulator.h"

#include <algorithm>
#include <cstdio>

#include <nlohmann/json.hpp>

namespace gpupool::emulators {
namespace {

using nlohmann::json;

bool valid_name(const std::string& n) {
  if (n.empty() || n.size() > 25 || n.front() == '-' || n.back() == '-') return false;
  return std::all_of(n.begin(), n.end(), [](char c) {
    return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-';
  });
}

json missing(const char* field) {
  return {{"type", "missing"},
          {"loc", {"body", field}},
          {"msg", "Field required"},
          {"input", json::object()}};
}

}  // namespace

FluenceEmulator::FluenceEmulator(FluenceEmulatorOptions options)
    : MachineTableEmulator(std::move(options)) {}
FluenceEmulator::~FluenceEmulator() {
  stop();
}

void FluenceEmulator::set_capacity(const std::string& plan_id, int capacity) {
  std::lock_guard<std::mutex> lock(mu_);
  for (auto& p : options_.plans) {
    if (p.id == plan_id) p.capacity = capacity;
  }
}

void FluenceEmulator::fail_next_boots(int n) {
  std::lock_guard<std::mutex> lock(mu_);
  fail_boots_ = n;
}

int FluenceEmulator::alive() const {
  std::lock_guard<std::mutex> lock(mu_);
  const_cast<FluenceEmulator*>(this)->advance_locked();
  return static_cast<int>(std::count_if(machines_.begin(), machines_.end(), [](const FluenceVm& v) {
    return v.status == "INITIALIZED" || v.status == "ACTIVE";
  }));
}

int64_t FluenceEmulator::charged_hours(const std::string& id) const {
  std::lock_guard<std::mutex> lock(mu_);
  for (const auto& v : machines_) {
    if (v.id != id) continue;
    if (v.status == "FAILED") return 0;  // refunded
    Time end = v.ended.value_or(options_.clock->now());
    auto hour = [](Time t) { return t.time_since_epoch().count() / 3600; };
    int64_t last = end > v.created ? hour(end - Duration(1)) : hour(v.created);
    return last - hour(v.created) + 1;
  }
  return -1;
}

FluenceEmulator::Reply FluenceEmulator::detail(int status, const std::string& message) {
  return Reply{status, json{{"detail", message}}.dump()};
}

void FluenceEmulator::advance_locked() {
  Time now = options_.clock->now();
  for (auto& v : machines_) {
    if (v.status != "INITIALIZED" || now < v.created + options_.boot_time) continue;
    if (std::find(failing_.begin(), failing_.end(), v.id) != failing_.end()) {
      v.status = "FAILED";
      v.ended = now;
    } else {
      v.status = "ACTIVE";
    }
  }
}

std::string FluenceEmulator::vm_json_locked(const FluenceVm& vm, bool details) const {
  const FluencePlan* plan = nullptr;
  for (const auto& p : options_.plans) {
    if (p.id == vm.plan_id) plan = &p;
  }
  json j = {{"id", vm.id},
            {"name", vm.name},
            {"status", vm.status},
            {"resources",
             {{"supply",
               {{"vcpu", {{"count", 14}}},
                {"memory", {{"count", 119}, {"units", "Gi"}}},
                {"storage", {{"count", 582}, {"units", "Gi"}}},
                {"gpu_count", plan ? plan->gpu_count : 1}}},
              {"gpu_model",
               {{"vendor", "nvidia"},
                {"model", plan ? plan->model : "unknown"},
                {"vram", "48Gi"},
                {"interface", "pcie"}}}}},
            {"domain", vm.status == "ACTIVE" ? json(vm.domain) : json(nullptr)},
            {"location", plan ? plan->location : ""},
            {"created_at", format_rfc3339(vm.created)},
            {"updated_at", format_rfc3339(vm.ended.value_or(vm.created))}};
  if (details) {
    j["availability"] = "vm";
    j["os_image"] = vm.os_image;
    j["ssh_connection"] = vm.status == "ACTIVE" ? json("ssh ubuntu@" + vm.domain) : json(nullptr);
    j["network"] = {{"domain", vm.domain}, {"forwarded_ports", json::array()}, {"uri", nullptr}};
    j["ssh_key"] = vm.ssh_key;
    double price = plan ? plan->price_per_hour.to_double() : 0.0;
    j["billing"] = {{"hourly_usage", price},
                    {"total_spendings", price},
                    {"reserved_amount", price * 2},
                    {"next_billing_period", nullptr}};
  }
  return j.dump();
}

FluenceEmulator::Reply FluenceEmulator::plans_locked() const {
  // gpu model -> gpu count -> options
  std::map<std::string, std::map<int, std::vector<const FluencePlan*>>> grouped;
  for (const auto& p : options_.plans) {
    int used =
        static_cast<int>(std::count_if(machines_.begin(), machines_.end(), [&](const FluenceVm& v) {
          return v.plan_id == p.id && (v.status == "INITIALIZED" || v.status == "ACTIVE");
        }));
    if (p.capacity >= 0 && used >= p.capacity) continue;
    grouped[p.model][p.gpu_count].push_back(&p);
  }
  json data = json::array();
  for (const auto& [model, by_count] : grouped) {
    json counts = json::array();
    double model_min = 1e18;
    for (const auto& [count, plans] : by_count) {
      json options = json::array();
      double min_price = 1e18;
      std::vector<std::string> locations;
      for (const FluencePlan* p : plans) {
        double price = p->price_per_hour.to_double();
        min_price = std::min(min_price, price);
        locations.push_back(p->location);
        options.push_back(
            {{"id", p->id},
             {"location", p->location},
             {"provider", p->provider},
             {"vcpu", {{"count", 14}}},
             {"memory", {{"count", 93}, {"units", "Gi"}}},
             {"storage", {{"count", 582}, {"units", "Gi"}}},
             {"deployment_type", "VM"},
             {"pricing", {{"hour", price}, {"upfront_hours", 3}, {"currency", "USDC"}}},
             {"nvlink", false},
             {"os_options", p->os_options}});
      }
      model_min = std::min(model_min, min_price);
      counts.push_back({{"gpu_count", count},
                        {"minimum_price", min_price},
                        {"options_available_total", options.size()},
                        {"providers_available_total", 1},
                        {"data_center_available_total", locations.size()},
                        {"locations", locations},
                        {"providers", {"massed-compute"}},
                        {"options", options}});
    }
    data.push_back(
        {{"gpu_model",
          {{"vendor", "nvidia"}, {"model", model}, {"vram", "48Gi"}, {"interface", "pcie"}}},
         {"minimum_price", model_min},
         {"availability_by_number", counts}});
  }
  return Reply{200, json{{"data", data}}.dump()};
}

FluenceEmulator::Reply FluenceEmulator::create_locked(const std::string& body) {
  json j = json::parse(body, nullptr, false);
  if (j.is_discarded() || !j.is_object()) {
    return Reply{
        422,
        json{{"detail",
              {{{"type", "json_invalid"}, {"loc", {"body", 0}}, {"msg", "JSON decode error"}}}}}
            .dump()};
  }
  json errors = json::array();
  for (const char* f : {"plan_id", "name", "ssh_key", "os_image"}) {
    if (!j.contains(f) || !j[f].is_string()) errors.push_back(missing(f));
  }
  if (!errors.empty()) return Reply{422, json{{"detail", errors}}.dump()};
  std::string name = j["name"].get<std::string>();
  if (!valid_name(name)) {
    return Reply{
        422, json{{"detail",
                   {{{"type", "string_pattern_mismatch"},
                     {"loc", {"body", "name"}},
                     {"msg", "String should match pattern '^[a-z0-9]([a-z0-9-]{0,23}[a-z0-9])?$'"},
                     {"input", name}}}}}
                 .dump()};
  }
  std::string plan_id = j["plan_id"].get<std::string>();
  const FluencePlan* plan = nullptr;
  for (const auto& p : options_.plans) {
    if (p.id == plan_id) plan = &p;
  }
  if (plan == nullptr) return detail(400, "Plan is no longer available");
  int used =
      static_cast<int>(std::count_if(machines_.begin(), machines_.end(), [&](const FluenceVm& v) {
        return v.plan_id == plan_id && (v.status == "INITIALIZED" || v.status == "ACTIVE");
      }));
  if (plan->capacity >= 0 && used >= plan->capacity)
    return detail(400, "Plan is no longer available");
  std::string os = j["os_image"].get<std::string>();
  if (std::find(plan->os_options.begin(), plan->os_options.end(), os) == plan->os_options.end()) {
    std::string avail;
    for (const auto& o : plan->os_options)
      avail += (avail.empty() ? "" : ", ") + o;
    return detail(400,
                  "Provided OS image " + os +
                      " is not supported for the selected offer. Available OS images: " + avail);
  }
  FluenceVm vm;
  char buf[64];
  ++next_;
  std::snprintf(buf, sizeof(buf), "05cdd5fc-d384-4fbc-8861-%012llx",
                static_cast<unsigned long long>(next_));
  vm.id = buf;
  vm.name = name;
  vm.plan_id = plan_id;
  vm.status = "INITIALIZED";
  vm.ssh_key = j["ssh_key"].get<std::string>();
  vm.os_image = os;
  vm.created = options_.clock->now();
  vm.domain = "198.51.100." + std::to_string(next_ % 250 + 1);
  if (fail_boots_ > 0) {
    --fail_boots_;
    failing_.push_back(vm.id);
  }
  machines_.push_back(vm);
  return Reply{200, json{{"instance_id", vm.id}}.dump()};
}

FluenceEmulator::Reply FluenceEmulator::route(const std::string& op, const http::HttpRequest& req) {
  std::lock_guard<std::mutex> lock(mu_);
  advance_locked();
  if (op == "plans") return plans_locked();
  if (op == "create") return create_locked(req.body);
  if (op == "list") {
    std::string out = "[";
    for (const auto& v : machines_)
      out += (out.size() > 1 ? "," : "") + vm_json_locked(v, false);
    return Reply{200, out + "]"};
  }
  std::string id = req.path.substr(std::string("/gpu/instances/vms/").size());
  auto it = std::find_if(machines_.begin(), machines_.end(),
                         [&](const FluenceVm& v) { return v.id == id; });
  if (it == machines_.end()) return detail(404, "Instance not found");
  if (op == "get") return Reply{200, vm_json_locked(*it, true)};
  // delete
  if (it->status != "ACTIVE")
    return detail(400, "Only instances with ACTIVE status can be terminated");
  it->status = "ENDED";
  it->ended = options_.clock->now();
  return Reply{204, ""};
}

ProviderFaultReplies FluenceEmulator::fault_replies(const std::string& op) {
  return {
      .no_capacity = detail(400, "Plan is no longer available"),
      .throttle = detail(429, "Too Many Requests"),
      .server_error = detail(500, "Internal Server Error"),
      .auth_failure = detail(403, "Invalid API key"),
      .garbled = {200, op == "list" ? "[{\"id\": \"05cdd5fc\", \"status\": \"ACT"
                                    : "{\"data\": [{\"gpu_mod"},
  };
}

void FluenceEmulator::handle(const http::HttpRequest& req, http::ResponseWriter& w) {
  AdminHooks hooks;
  hooks.set_capacity = [this](const std::string& id, int n) {
    std::lock_guard<std::mutex> lock(mu_);
    for (auto& p : options_.plans) {
      if (p.id == id) {
        p.capacity = n;
        return std::string();
      }
    }
    return "no plan " + id;
  };
  hooks.state_json = [this] { return table_state_json("vms", alive()); };
  if (handle_admin(req, w, faults_, hooks)) return;
  const std::string op = operation_of(req, {{"GET", "/gpu/plans/vms", "plans"},
                                            {"POST", "/gpu/instances/vms", "create"},
                                            {"GET", "/gpu/instances/vms", "list"},
                                            {"GET", "/gpu/instances/vms/", "get", kUnder},
                                            {"DELETE", "/gpu/instances/vms/", "delete", kUnder}});
  count_request(op);
  auto send = [&](const Reply& r) { send_reply(w, r); };
  if (req.header("X-API-KEY").value_or("") != options_.api_key)
    return send(fault_replies(op).auth_failure);
  if (op.empty()) return send(detail(404, "Not Found"));
  serve(
      op, w, send, [&] { return fault_replies(op); }, [&] { return route(op, req); });
}

}  // namespace gpupool::emulators
