#include "tests/emulators/common/fault_plan.h"

#include <nlohmann/json.hpp>

namespace gpupool::emulators {

void FaultPlan::add(std::string operation, Fault fault, int times) {
  std::lock_guard<std::mutex> lock(mu_);
  auto& q = queues_[std::move(operation)];
  for (int i = 0; i < times; ++i)
    q.push_back(fault);
}

std::optional<Fault> FaultPlan::take(std::string_view operation) {
  std::lock_guard<std::mutex> lock(mu_);
  for (std::string_view key : {operation, std::string_view()}) {
    auto it = queues_.find(key);
    if (it != queues_.end() && !it->second.empty()) {
      Fault f = it->second.front();
      it->second.pop_front();
      return f;
    }
  }
  return std::nullopt;
}

void FaultPlan::clear() {
  std::lock_guard<std::mutex> lock(mu_);
  queues_.clear();
}

size_t FaultPlan::pending() const {
  std::lock_guard<std::mutex> lock(mu_);
  size_t n = 0;
  for (const auto& [k, q] : queues_)
    n += q.size();
  return n;
}

std::string parse_fault_json(std::string_view body, std::string& operation, Fault& fault,
                             int& times) {
  using nlohmann::json;
  json j = json::parse(body, nullptr, false);
  if (j.is_discarded() || !j.is_object()) return "body must be a JSON object";
  static const std::map<std::string, FaultKind> kKinds = {
      {"NoCapacity", FaultKind::NoCapacity},     {"Throttle", FaultKind::Throttle},
      {"ServerError", FaultKind::ServerError},   {"Slow", FaultKind::Slow},
      {"LoseAnswer", FaultKind::LoseAnswer},     {"Garbled", FaultKind::Garbled},
      {"GarbledError", FaultKind::GarbledError}, {"AuthFailure", FaultKind::AuthFailure}};
  auto kind = j.find("kind");
  if (kind == j.end() || !kind->is_string() || kKinds.count(kind->get<std::string>()) == 0) {
    return "kind must be one of NoCapacity, Throttle, ServerError, Slow, LoseAnswer, Garbled, "
           "GarbledError, "
           "AuthFailure";
  }
  fault = Fault{};
  fault.kind = kKinds.at(kind->get<std::string>());
  auto op = j.find("operation");
  operation = op != j.end() && op->is_string() ? op->get<std::string>() : std::string();
  auto num = [&](const char* key, int64_t def, int64_t lo, int64_t hi, int64_t& out) -> bool {
    auto it = j.find(key);
    if (it == j.end()) {
      out = def;
      return true;
    }
    if (!it->is_number_integer()) return false;
    out = it->get<int64_t>();
    return out >= lo && out <= hi;
  };
  int64_t t = 0, delay = 0, retry = 0;
  if (!num("times", 1, 1, 100000, t)) return "times must be an integer in 1..100000";
  if (!num("delayMs", 0, 0, 600000, delay)) return "delayMs must be an integer in 0..600000";
  if (!num("retryAfterSeconds", 0, 0, 86400, retry))
    return "retryAfterSeconds must be an integer in 0..86400";
  times = static_cast<int>(t);
  fault.delay = std::chrono::milliseconds(delay);
  fault.retry_after = std::chrono::seconds(retry);
  return "";
}

bool handle_admin(const http::HttpRequest& req, http::ResponseWriter& w, FaultPlan& faults,
                  const AdminHooks& hooks) {
  using nlohmann::json;
  if (!req.path.starts_with("/__emulator/")) return false;
  http::Headers h{{"Content-Type", "application/json"}};
  auto answer = [&](int status, const json& body) { w.send(status, h, body.dump()); };
  if (req.path == "/__emulator/faults" && req.method == "POST") {
    std::string op;
    Fault f;
    int times = 1;
    std::string err = parse_fault_json(req.body, op, f, times);
    if (!err.empty()) {
      answer(400, json{{"error", err}});
    } else {
      faults.add(op, f, times);
      answer(200, json{{"queued", times}, {"pending", faults.pending()}});
    }
  } else if (req.path == "/__emulator/faults" && req.method == "DELETE") {
    faults.clear();
    answer(200, json{{"pending", 0}});
  } else if (req.path == "/__emulator/capacity" && req.method == "POST") {
    json j = json::parse(req.body, nullptr, false);
    if (j.is_discarded() || !j.is_object() || !j.contains("id") || !j["id"].is_string() ||
        !j.contains("capacity") || !j["capacity"].is_number_integer()) {
      answer(400, json{{"error", "body must be {\"id\": string, \"capacity\": integer}"}});
    } else {
      std::string err = hooks.set_capacity ? hooks.set_capacity(j["id"].get<std::string>(),
                                                                j["capacity"].get<int>())
                                           : std::string("capacity is not adjustable here");
      if (err.empty()) {
        answer(200, json{{"ok", true}});
      } else {
        answer(400, json{{"error", err}});
      }
    }
  } else if (req.path == "/__emulator/state" && req.method == "GET") {
    std::string state = hooks.state_json ? hooks.state_json() : "{}";
    w.send(200, h, state);
  } else {
    answer(404, json{{"error", "unknown admin endpoint"}});
  }
  return true;
}

}  // namespace gpupool::emulators
