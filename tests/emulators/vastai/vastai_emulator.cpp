#include "tests/emulators/vastai/vastai_emulator.h"

#include <algorithm>
#include <charconv>
#include <optional>

#include <nlohmann/json.hpp>

#include "tests/emulators/common/request_spec.h"

namespace gpupool::emulators {
namespace {

using nlohmann::json;

json error_body(const std::string& code, const std::string& msg) {
  return {{"success", false}, {"error", code}, {"msg", msg}};
}

// Evaluates one Vast.ai filter object ({"gte": 0.9, ...}) against a value.
bool matches(const json& actual, const json& ops) {
  if (!ops.is_object()) return actual == ops;
  for (auto it = ops.begin(); it != ops.end(); ++it) {
    const std::string& op = it.key();
    const json& v = it.value();
    bool ok = true;
    if (op == "eq") {
      ok = actual == v;
    } else if (op == "neq") {
      ok = actual != v;
    } else if (op == "gt") {
      ok = actual > v;
    } else if (op == "gte") {
      ok = actual >= v;
    } else if (op == "lt") {
      ok = actual < v;
    } else if (op == "lte") {
      ok = actual <= v;
    } else if (op == "in") {
      ok = v.is_array() && std::find(v.begin(), v.end(), actual) != v.end();
    } else if (op == "notin") {
      ok = !v.is_array() || std::find(v.begin(), v.end(), actual) == v.end();
    }
    if (!ok) return false;
  }
  return true;
}

std::optional<int64_t> parse_id(std::string_view s) {
  int64_t v = 0;
  auto [p, ec] = std::from_chars(s.data(), s.data() + s.size(), v);
  if (ec != std::errc() || p != s.data() + s.size()) return std::nullopt;
  return v;
}

}  // namespace

VastEmulator::VastEmulator(VastEmulatorOptions options)
    : MachineTableEmulator(std::move(options)) {}
VastEmulator::~VastEmulator() {
  stop();
}

int VastEmulator::alive() const {
  std::lock_guard<std::mutex> lock(mu_);
  return static_cast<int>(std::count_if(machines_.begin(), machines_.end(),
                                        [](const VastInstance& i) { return !i.destroyed; }));
}

int64_t VastEmulator::billed_seconds(int64_t id) const {
  std::lock_guard<std::mutex> lock(mu_);
  for (const auto& i : machines_) {
    if (i.id != id) continue;
    Time end = i.destroyed.value_or(options_.clock->now());
    Time start = i.created + options_.boot_time;  // not charged while loading
    return end > start ? (end - start).count() : 0;
  }
  return -1;
}

namespace {

// Words of a createInstance env string: split on spaces outside single or
// double quotes (the quotes stay in the word); nullopt for an open quote.
std::optional<std::vector<std::string>> env_words(const std::string& s) {
  std::vector<std::string> out;
  std::string cur;
  char quote = 0;
  for (char c : s) {
    if (quote != 0) {
      if (c == quote) quote = 0;
      cur.push_back(c);
    } else if (c == '\'' || c == '"') {
      quote = c;
      cur.push_back(c);
    } else if (c == ' ') {
      if (!cur.empty()) out.push_back(cur);
      cur.clear();
    } else {
      cur.push_back(c);
    }
  }
  if (quote != 0) return std::nullopt;
  if (!cur.empty()) out.push_back(cur);
  return out;
}

std::optional<int> port_number(const std::string& s) {
  int v = 0;
  auto [p, ec] = std::from_chars(s.data(), s.data() + s.size(), v);
  if (ec != std::errc() || p != s.data() + s.size() || v < 1 || v > 65535) return std::nullopt;
  return v;
}

// "-e K=V ... -p H:C ..." -> extra_env pairs and container ports; an error
// message for anything else.
std::string parse_env(const std::string& env, VastInstance& in) {
  auto words = env_words(env);
  if (!words) return "env has an unterminated quote";
  for (size_t i = 0; i < words->size(); ++i) {
    const std::string& flag = (*words)[i];
    if ((flag != "-e" && flag != "-p") || i + 1 == words->size())
      return "env: unexpected word '" + flag + "'";
    const std::string& arg = (*words)[++i];
    if (flag == "-e") {
      auto eq = arg.find('=');
      if (eq == std::string::npos || eq == 0) return "env: -e needs KEY=VALUE";
      std::string v = arg.substr(eq + 1);
      while (!v.empty() && (v.front() == '"' || v.front() == '\''))
        v.erase(0, 1);
      while (!v.empty() && (v.back() == '"' || v.back() == '\''))
        v.pop_back();
      in.extra_env.emplace_back(arg.substr(0, eq), v);
      continue;
    }
    auto colon = arg.find(':');
    auto host = port_number(arg.substr(0, colon));
    auto cport = colon == std::string::npos ? std::nullopt : port_number(arg.substr(colon + 1));
    if (!host || !cport) return "env: -p needs HOST:CONTAINER ports";
    in.extra_env.emplace_back("-p " + arg, "1");
    in.ports[*cport] = 0;
  }
  return "";
}

}  // namespace

std::string VastEmulator::public_ip_of(const VastInstance& in) {
  return "203.0.113." + std::to_string(in.id % 250);
}

bool VastEmulator::rented_locked(int64_t ask_id) const {
  return std::any_of(machines_.begin(), machines_.end(),
                     [&](const VastInstance& i) { return i.ask_id == ask_id && !i.destroyed; });
}

std::string VastEmulator::instance_json_locked(const VastInstance& in) const {
  const VastAsk* ask = nullptr;
  for (const auto& a : options_.asks) {
    if (a.id == in.ask_id) ask = &a;
  }
  Time now = options_.clock->now();
  json status = nullptr;
  if (now >= in.created + options_.boot_time) {
    status = "running";
  } else if (now > in.created) {
    status = "loading";
  }
  json j = {{"id", in.id},
            {"ask_contract_id", in.ask_id},
            {"label", in.label},
            {"actual_status", status},
            {"intended_status", "running"},
            {"cur_state", status.is_null() ? "stopped" : "running"},
            {"next_state", "running"},
            {"image_uuid", in.image},
            {"gpu_name", ask ? ask->gpu_name : ""},
            {"num_gpus", ask ? ask->num_gpus : 0},
            {"dph_total", ask ? ask->dph_total.to_double() : 0.0},
            {"geolocation", ask ? ask->geolocation : ""},
            {"public_ipaddr", status == "running" ? json(public_ip_of(in)) : json(nullptr)},
            {"image_runtype", in.runtype},
            {"image_args", in.args},
            {"extra_env", json::array()},
            {"onstart", in.onstart},
            {"disk_space", in.disk},
            {"direct_port_start", 41000},
            {"direct_port_end", 41999},
            {"start_date", static_cast<double>(in.created.time_since_epoch().count())}};
  for (const auto& [k, v] : in.extra_env)
    j["extra_env"].push_back(json::array({k, v}));
  // "Port mappings. Only present on running instances."
  if (status == "running") {
    json ports = json::object();
    for (const auto& [container, host] : in.ports)
      ports[std::to_string(container) + "/tcp"] =
          json::array({{{"HostIp", "0.0.0.0"}, {"HostPort", std::to_string(host)}}});
    j["ports"] = ports;
  }
  return j.dump();
}

VastEmulator::Reply VastEmulator::search_locked(const std::string& body) const {
  json q = json::parse(body, nullptr, false);
  if (q.is_discarded() || !q.is_object()) {
    return Reply{400, error_body("invalid_args", "error 400/3467: could not parse query").dump()};
  }
  if (std::string bad = check_request(q, request_spec(vastai_request_specs(), "searchOffers"));
      !bad.empty()) {
    return Reply{400, error_body("invalid_args", "error 400/3467: " + bad).dump()};
  }
  // searchOffers: "order" is an array of [field, "asc"|"desc"] pairs
  // (items: array of strings, minItems 2, maxItems 2).
  std::vector<std::pair<std::string, bool>> order;  // field, ascending
  if (auto o = q.find("order"); o != q.end()) {
    bool ok = o->is_array();
    for (const auto& e : ok ? *o : json::array()) {
      ok = ok && e.is_array() && e.size() == 2 && e[0].is_string() && e[1].is_string() &&
           (e[1] == "asc" || e[1] == "desc");
      if (ok) order.emplace_back(e[0].get<std::string>(), e[1] == "asc");
    }
    if (!ok) {
      return Reply{400, error_body("invalid_args",
                                   "error 400/3467: order must be a list of [field, asc|desc]")
                            .dump()};
    }
  }
  if (order.empty()) order.emplace_back("score", false);
  json offers = json::array();
  for (const auto& a : options_.asks) {
    if (rented_locked(a.id)) continue;
    json o = {{"id", a.id},
              {"ask_contract_id", a.id},
              {"machine_id", 50000 + a.id},
              {"gpu_name", a.gpu_name},
              {"num_gpus", a.num_gpus},
              {"gpu_ram", 46068},
              {"dph_total", a.dph_total.to_double()},
              {"dph_base", a.dph_total.to_double()},
              {"inet_up_cost", a.inet_up_cost.to_double()},
              {"inet_down_cost", 0.0},
              {"storage_cost", 0.1},
              {"geolocation", a.geolocation},
              {"reliability", a.reliability},
              {"verified", a.verified},
              {"verification", a.verified ? "verified" : "unverified"},
              {"rentable", true},
              {"rented", false},
              {"cuda_max_good", 12.8},
              {"score", a.reliability * 100}};
    bool ok = true;
    for (auto it = q.begin(); it != q.end() && ok; ++it) {
      if (it.key() == "order" || it.key() == "limit" || it.key() == "type") continue;
      if (!o.contains(it.key())) continue;
      ok = matches(o[it.key()], it.value());
    }
    if (ok) offers.push_back(o);
  }
  std::stable_sort(offers.begin(), offers.end(), [&](const json& a, const json& b) {
    for (const auto& [field, asc] : order) {
      const json& x = a.contains(field) ? a[field] : json(nullptr);
      const json& y = b.contains(field) ? b[field] : json(nullptr);
      if (x == y) continue;
      return asc ? x < y : y < x;
    }
    return false;
  });
  size_t limit =
      q.contains("limit") && q["limit"].is_number_unsigned() ? q["limit"].get<size_t>() : 64;
  if (offers.size() > limit)
    offers.erase(offers.begin() + static_cast<std::ptrdiff_t>(limit), offers.end());
  return Reply{200, json{{"offers", offers}}.dump()};
}

VastEmulator::Reply VastEmulator::rent_locked(int64_t ask_id, const std::string& body) {
  json j = json::parse(body, nullptr, false);
  if (j.is_discarded() || !j.is_object())
    return Reply{400, error_body("invalid_args", "error 400/3467: bad json").dump()};
  // createInstance: published field names and types; image is required.
  if (std::string bad = check_request(j, request_spec(vastai_request_specs(), "createInstance"));
      !bad.empty()) {
    return Reply{400, error_body("invalid_args", "error 400/3467: " + bad).dump()};
  }
  bool known = std::any_of(options_.asks.begin(), options_.asks.end(),
                           [&](const VastAsk& a) { return a.id == ask_id; });
  if (!known) {
    return Reply{404, json("error 404/3603: no_such_ask Instance type by id " +
                           std::to_string(ask_id) + " is not available.")
                          .dump()};
  }
  if (rented_locked(ask_id)) {
    return Reply{410,
                 error_body("no_such_ask", "error 410/3907: no_such_ask Instance type " +
                                               std::to_string(ask_id) + " is no longer available.")
                     .dump()};
  }
  VastInstance in;
  in.id = 9000000 + ++next_;
  in.ask_id = ask_id;
  in.label = j.value("label", "");
  in.image = j["image"].get<std::string>();
  in.env = j.value("env", "");
  in.onstart = j.value("onstart", "");
  in.runtype = j.value("runtype", "ssh");
  in.disk = j.value("disk", 0.0);
  static const std::vector<std::string> runtypes = {
      "ssh", "jupyter", "args", "ssh_proxy", "ssh_direct", "jupyter_proxy", "jupyter_direct"};
  if (std::find(runtypes.begin(), runtypes.end(), in.runtype) == runtypes.end())
    return Reply{400, error_body("invalid_args", "error 400/3467: unknown runtype").dump()};
  if (j.contains("args")) in.args = j["args"].get<std::vector<std::string>>();
  if (std::string bad = parse_env(in.env, in); !bad.empty())
    return Reply{400, error_body("invalid_args", "error 400/3467: " + bad).dump()};
  int next_host = 41000 + static_cast<int>(next_ % 100) * 10;
  for (auto& [container, host] : in.ports)
    host = next_host++;
  in.created = options_.clock->now();
  machines_.push_back(in);
  return Reply{200, json{{"success", true}, {"new_contract", in.id}}.dump()};
}

VastEmulator::Reply VastEmulator::list_locked(const http::HttpRequest& req) const {
  json filters = json::object();
  if (auto f = req.query_param("select_filters")) {
    filters = json::parse(*f, nullptr, false);
    if (filters.is_discarded() || !filters.is_object()) {
      return Reply{400, error_body("invalid_args", "select_filters is not a JSON object").dump()};
    }
  }
  size_t limit = 25;
  if (auto l = req.query_param("limit")) {
    auto n = parse_id(*l);
    if (!n || *n < 1 || *n > 25)
      return Reply{400, error_body("invalid_args", "limit must be 1..25").dump()};
    limit = static_cast<size_t>(*n);
  }
  int64_t after = 0;
  if (auto a = req.query_param("after_token")) {
    auto n = parse_id(*a);
    if (!n) return Reply{400, error_body("invalid_args", "bad after_token").dump()};
    after = *n;
  }
  json list = json::array();
  size_t found = 0;
  std::string next;
  for (const auto& in : machines_) {
    if (in.destroyed || in.id <= after) continue;
    json row = json::parse(instance_json_locked(in));
    bool ok = true;
    for (auto it = filters.begin(); it != filters.end() && ok; ++it) {
      ok = row.contains(it.key()) && matches(row[it.key()], it.value());
    }
    if (!ok) continue;
    ++found;
    if (list.size() == limit) {
      next = std::to_string(list.back()["id"].get<int64_t>());
      continue;
    }
    list.push_back(row);
  }
  json out = {{"success", true},
              {"instances_found", found},
              {"total_instances", machines_.size()},
              {"instances", list}};
  out["next_token"] = next.empty() ? json(nullptr) : json(next);
  return Reply{200, out.dump()};
}

VastEmulator::Reply VastEmulator::destroy_locked(int64_t id) {
  for (auto& in : machines_) {
    if (in.id == id && !in.destroyed) {
      in.destroyed = options_.clock->now();
      return Reply{
          200, json{{"success", true}, {"msg", "destroying instance " + std::to_string(id) + "."}}
                   .dump()};
    }
  }
  return Reply{
      404, error_body("not_found", "error 404/3603: instance " + std::to_string(id) + " not found")
               .dump()};
}

VastEmulator::Reply VastEmulator::attach_key_locked(int64_t id, const std::string& body) {
  // attachSshKey: {"ssh_key": string, minLength 1}.
  json j = json::parse(body, nullptr, false);
  if (j.is_discarded() ||
      !check_request(j, request_spec(vastai_request_specs(), "attachSshKey")).empty() ||
      !j.contains("ssh_key") || j["ssh_key"].get<std::string>().empty()) {
    return Reply{400, error_body("invalid_args", "ssh_key is required").dump()};
  }
  for (auto& in : machines_) {
    if (in.id == id && !in.destroyed) {
      in.ssh_keys.push_back(j["ssh_key"].get<std::string>());
      return Reply{200, json{{"success", true}, {"msg", "ssh key attached"}}.dump()};
    }
  }
  return Reply{404, error_body("not_found", "error 404/3603: instance not found").dump()};
}

VastEmulator::Reply VastEmulator::route(const std::string& op, const http::HttpRequest& req) {
  std::lock_guard<std::mutex> lock(mu_);
  if (op == "search") return search_locked(req.body);
  if (op == "list") return list_locked(req);
  std::string_view path = req.path;
  path.remove_suffix(path.ends_with('/') ? 1 : 0);
  if (op == "ssh") path.remove_suffix(4);  // ".../{id}/ssh"
  auto slash = path.rfind('/');
  auto id = parse_id(path.substr(slash + 1));
  if (!id) return Reply{400, error_body("invalid_args", "bad id").dump()};
  if (op == "create") return rent_locked(*id, req.body);
  if (op == "ssh") return attach_key_locked(*id, req.body);
  return destroy_locked(*id);
}

ProviderFaultReplies VastEmulator::fault_replies() {
  return {
      .no_capacity = {410, error_body("no_such_ask",
                                      "error 410/3907: no_such_ask Instance type is no longer "
                                      "available.")
                               .dump()},
      // Vast.ai's throttling answer is plain text and says nothing of when
      // to come back.
      .throttle = {.status = 429,
                   .body = "API requests too frequent endpoint threshold=4.5",
                   .content_type = "text/plain"},
      .server_error = {500, error_body("server_error", "internal error").dump()},
      .auth_failure = {401, error_body("auth_error", "Invalid user key").dump()},
      .garbled = {200, "{\"success\": true, \"new_con"},
      .throttle_headers = nullptr,
  };
}

void VastEmulator::handle(const http::HttpRequest& req, http::ResponseWriter& w) {
  AdminHooks hooks;
  hooks.state_json = [this] { return table_state_json("instances", alive()); };
  if (handle_admin(req, w, faults_, hooks)) return;
  std::string op;
  if (req.method == "POST" && req.path == "/api/v0/bundles/") {
    op = "search";
  } else if (req.method == "PUT" && req.path.starts_with("/api/v0/asks/")) {
    op = "create";
  } else if (req.method == "GET" && req.path == "/api/v1/instances/") {
    op = "list";
  } else if (req.method == "POST" && req.path.starts_with("/api/v0/instances/") &&
             (req.path.ends_with("/ssh/") || req.path.ends_with("/ssh"))) {
    op = "ssh";
  } else if (req.method == "DELETE" && req.path.starts_with("/api/v0/instances/")) {
    op = "destroy";
  }
  count_request(op);
  auto send = [&](const Reply& r) { send_reply(w, r); };
  if (req.header("Authorization").value_or("") != "Bearer " + options_.api_key) {
    // searchOffers documents its bad-key answer as 404 "Invalid user key";
    // the instance endpoints answer 401.
    return send(
        Reply{op == "search" ? 404 : 401, error_body("auth_error", "Invalid user key").dump()});
  }
  if (op.empty()) return send(Reply{404, error_body("not_found", "no such route").dump()});
  serve(
      op, w, send, [&] { return fault_replies(); }, [&] { return route(op, req); });
}

}  // namespace gpupool::emulators
