#include "tests/emulators/digitalocean/digitalocean_emulator.h"

#include <algorithm>

#include <nlohmann/json.hpp>

namespace gpupool::emulators {
namespace {

using nlohmann::json;

bool valid_tag(const std::string& t) {
  if (t.empty() || t.size() > 255) return false;
  return std::all_of(t.begin(), t.end(), [](char c) {
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == ':' ||
           c == '-' || c == '_';
  });
}

bool valid_name(const std::string& n) {
  if (n.empty() || n.size() > 255) return false;
  return std::all_of(n.begin(), n.end(), [](char c) {
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '.' ||
           c == '-';
  });
}

}  // namespace

DoEmulator::DoEmulator(DoEmulatorOptions options) : MachineTableEmulator(std::move(options)) {}
DoEmulator::~DoEmulator() {
  stop();
}

void DoEmulator::set_capacity(const std::string& size, const std::string& region, int n) {
  std::lock_guard<std::mutex> lock(mu_);
  set_region_capacity(options_.sizes, &DoSize::slug, size, region, n);
}

DoEmulator::Reply DoEmulator::error(int status, const std::string& id, const std::string& message) {
  return Reply{
      status,
      json{{"id", id}, {"message", message}, {"request_id", "4d9d8375-3c56-4925-a3e7-eb137fed17e9"}}
          .dump(),
      {}};
}

void DoEmulator::advance_locked() {
  const Time now = options_.clock->now();
  for (auto& d : machines_) {
    if (d.status == "new" && now >= d.created + options_.boot_time) d.status = "active";
  }
}

int DoEmulator::used_locked(const std::string& size, const std::string& region) const {
  return static_cast<int>(
      std::count_if(machines_.begin(), machines_.end(),
                    [&](const DoDroplet& d) { return d.size == size && d.region == region; }));
}

std::string DoEmulator::droplet_json_locked(const DoDroplet& d) const {
  const DoSize* s = nullptr;
  for (const auto& x : options_.sizes) {
    if (x.slug == d.size) s = &x;
  }
  json v4 = json::array();
  if (d.status == "active") {
    v4.push_back({{"ip_address", "192.0.2." + std::to_string(d.id % 200 + 20)},
                  {"netmask", "255.255.240.0"},
                  {"gateway", "192.0.2.1"},
                  {"type", "public"}});
  }
  json j = {
      {"id", d.id},
      {"name", d.name},
      {"memory", 245760},
      {"vcpus", 8},
      {"disk", 500},
      {"locked", false},
      {"status", d.status},
      {"created_at", format_rfc3339(d.created)},
      {"size_slug", d.size},
      {"size",
       {{"slug", d.size},
        {"price_hourly", s ? s->price_hourly : 0.0},
        {"gpu_info", {{"count", s ? s->gpus : 0}, {"model", s ? s->gpu_model : std::string()}}}}},
      {"region", {{"slug", d.region}, {"name", d.region}}},
      {"networks", {{"v4", v4}, {"v6", json::array()}}},
      {"tags", d.tags}};
  return j.dump();
}

const DoEmulator::Key& DoEmulator::add_key_locked(const std::string& public_key,
                                                  const std::string& name) {
  Key k;
  k.id = 512189 + static_cast<int64_t>(keys_.size());
  char fp[64];
  std::snprintf(fp, sizeof(fp), "3b:16:bf:e4:8b:00:8b:b8:59:8c:a9:d3:f0:19:%02x:%02x",
                static_cast<unsigned>(keys_.size() / 256),
                static_cast<unsigned>(keys_.size() % 256));
  k.fingerprint = fp;
  k.public_key = public_key;
  k.name = name;
  keys_.push_back(k);
  return keys_.back();
}

std::pair<int64_t, std::string> DoEmulator::add_ssh_key(const std::string& public_key,
                                                        const std::string& name) {
  std::lock_guard<std::mutex> lock(mu_);
  const Key& k = add_key_locked(public_key, name);
  return {k.id, k.fingerprint};
}

DoEmulator::Reply DoEmulator::create_locked(const std::string& body) {
  json j = json::parse(body, nullptr, false);
  if (j.is_discarded() || !j.is_object())
    return error(400, "bad_request", "unexpected end of JSON input");
  for (const char* f : {"name", "region", "size"}) {
    if (!j.contains(f) || !j[f].is_string() || j[f].get<std::string>().empty())
      return error(422, "unprocessable_entity", std::string(f) + " is required");
  }
  // image: "string or integer" (a public image slug or an image id).
  std::string image;
  if (auto im = j.find("image"); im != j.end() && im->is_number_integer()) {
    image = std::to_string(im->get<int64_t>());
  } else if (im != j.end() && im->is_string() && !im->get<std::string>().empty()) {
    image = im->get<std::string>();
  } else {
    return error(422, "unprocessable_entity", "image is required");
  }
  const std::string name = j["name"].get<std::string>();
  if (!valid_name(name))
    return error(422, "unprocessable_entity", "Only valid hostname characters are allowed.");
  std::vector<std::string> tags;
  if (j.contains("tags")) {
    if (!j["tags"].is_array()) return error(422, "unprocessable_entity", "tags must be an array");
    for (const auto& t : j["tags"]) {
      if (!t.is_string() || !valid_tag(t.get<std::string>())) {
        return error(422, "unprocessable_entity",
                     "Tag names may only contain letters, numbers, colons, dashes, and "
                     "underscores.");
      }
      tags.push_back(t.get<std::string>());
    }
  }
  std::vector<std::string> keys;
  if (j.contains("ssh_keys")) {
    if (!j["ssh_keys"].is_array())
      return error(422, "unprocessable_entity", "ssh_keys must be an array");
    for (const auto& k : j["ssh_keys"]) {
      auto it = std::find_if(keys_.begin(), keys_.end(), [&](const Key& e) {
        return (k.is_number_integer() && k.get<int64_t>() == e.id) ||
               (k.is_string() && k.get<std::string>() == e.fingerprint);
      });
      if (it == keys_.end()) return error(422, "unprocessable_entity", "ssh_keys are invalid");
      keys.push_back(it->public_key);
    }
  }
  const std::string size = j["size"].get<std::string>();
  const std::string region = j["region"].get<std::string>();
  const DoSize* s = nullptr;
  for (const auto& x : options_.sizes) {
    if (x.slug == size) s = &x;
  }
  if (s == nullptr) return error(422, "unprocessable_entity", "You specified an invalid size.");
  auto cap = s->capacity.find(region);
  if (cap == s->capacity.end() || (cap->second >= 0 && used_locked(size, region) >= cap->second)) {
    return error(422, "unprocessable_entity",
                 "Size " + size + " is not available in " + region + ".");
  }
  DoDroplet d;
  d.id = ++next_id_;
  d.name = name;
  d.size = size;
  d.region = region;
  d.status = "new";
  d.image = image;
  d.tags = tags;
  d.user_data = j.value("user_data", "");
  d.ssh_keys = keys;
  d.created = options_.clock->now();
  machines_.push_back(d);
  const int64_t action = ++next_action_;
  std::string out = "{\"droplet\":" + droplet_json_locked(d) +
                    ",\"links\":{\"actions\":[{\"id\":" + std::to_string(action) +
                    ",\"rel\":\"create\",\"href\":\"" + base_url() + "/v2/actions/" +
                    std::to_string(action) + "\"}]}}";
  return Reply{202, out};
}

DoEmulator::Reply DoEmulator::list_locked(const http::HttpRequest& req) {
  const std::string tag = req.query_param("tag_name").value_or("");
  const int per_page =
      std::clamp(to_int(req.query_param("per_page").value_or(""), 20), 1, options_.max_per_page);
  const int page = std::max(1, to_int(req.query_param("page").value_or(""), 1));
  std::vector<const DoDroplet*> match;
  for (const auto& d : machines_) {
    if (tag.empty() || std::find(d.tags.begin(), d.tags.end(), tag) != d.tags.end())
      match.push_back(&d);
  }
  std::string out = "{\"droplets\":[";
  const size_t first = static_cast<size_t>(page - 1) * static_cast<size_t>(per_page);
  for (size_t k = first; k < match.size() && k < first + static_cast<size_t>(per_page); ++k)
    out += (k > first ? "," : "") + droplet_json_locked(*match[k]);
  json pages = json::object();
  if (first + static_cast<size_t>(per_page) < match.size()) {
    std::string next = base_url() + "/v2/droplets?page=" + std::to_string(page + 1) +
                       "&per_page=" + std::to_string(per_page);
    if (!tag.empty()) next += "&tag_name=" + http::percent_encode(tag);
    pages["next"] = next;
  }
  out += "],\"links\":{\"pages\":" + pages.dump() +
         "},\"meta\":{\"total\":" + std::to_string(match.size()) + "}}";
  return Reply{200, out};
}

DoEmulator::Reply DoEmulator::route(const std::string& op, const http::HttpRequest& req) {
  std::lock_guard<std::mutex> lock(mu_);
  advance_locked();
  if (op == "sizes") {
    json sizes = json::array();
    for (const auto& s : options_.sizes) {
      json regions = json::array();
      for (const auto& [r, cap] : s.capacity) {
        if (cap < 0 || used_locked(s.slug, r) < cap) regions.push_back(r);
      }
      json size = {{"slug", s.slug},
                   {"memory", 245760},
                   {"vcpus", 8},
                   {"disk", 500},
                   {"transfer", 15.0},
                   {"price_monthly", s.price_hourly * 672},
                   {"price_hourly", s.price_hourly},
                   {"regions", regions},
                   {"available", !regions.empty()},
                   {"description", s.gpus > 0 ? "GPU Droplet" : "Basic"}};
      if (s.gpus > 0) {
        size["gpu_info"] = {
            {"count", s.gpus}, {"vram", {{"amount", 48}, {"unit", "gib"}}}, {"model", s.gpu_model}};
      }
      sizes.push_back(size);
    }
    return Reply{
        200,
        json{{"sizes", sizes}, {"links", json::object()}, {"meta", {{"total", sizes.size()}}}}
            .dump(),
        {}};
  }
  auto key_json = [](const Key& k) {
    return json{{"id", k.id},
                {"fingerprint", k.fingerprint},
                {"public_key", k.public_key},
                {"name", k.name}};
  };
  if (op == "keys") {
    json keys = json::array();
    for (const auto& k : keys_)
      keys.push_back(key_json(k));
    return Reply{
        200,
        json{{"ssh_keys", keys}, {"links", json::object()}, {"meta", {{"total", keys.size()}}}}
            .dump(),
        {}};
  }
  if (op == "add_key") {
    json j = json::parse(req.body, nullptr, false);
    if (j.is_discarded() || !j.is_object() || !j.contains("name") || !j["name"].is_string() ||
        !j.contains("public_key") || !j["public_key"].is_string()) {
      return error(422, "unprocessable_entity", "name and public_key are required");
    }
    const std::string pk = j["public_key"].get<std::string>();
    if (std::any_of(keys_.begin(), keys_.end(), [&](const Key& k) { return k.public_key == pk; }))
      return error(422, "unprocessable_entity", "SSH Key is already in use on your account");
    const Key& k = add_key_locked(pk, j["name"].get<std::string>());
    return Reply{201, json{{"ssh_key", key_json(k)}}.dump()};
  }
  if (op == "create") return create_locked(req.body);
  if (op == "list") return list_locked(req);
  // delete
  const std::string id = req.path.substr(std::string("/v2/droplets/").size());
  auto it = std::find_if(machines_.begin(), machines_.end(),
                         [&](const DoDroplet& d) { return std::to_string(d.id) == id; });
  if (it == machines_.end()) {
    return error(404, "not_found", "The resource you were accessing could not be found.");
  }
  machines_.erase(it);
  return Reply{204, ""};
}

ProviderFaultReplies DoEmulator::fault_replies(const std::string& op, int64_t now) {
  return {
      .no_capacity = error(422, "unprocessable_entity", "Size is not available in this region."),
      .throttle = error(429, "too_many_requests", "API Rate limit exceeded."),
      .server_error = error(500, "server_error", "Unexpected server-side error"),
      .auth_failure = error(401, "Unauthorized", "Unable to authenticate you"),
      .garbled = {op == "create" ? 202 : 200, "{\"droplet\": {\"id\": 31"},
      // DigitalOcean's rate-limit headers: the budget spent, reset at the
      // retry time (epoch seconds).
      .throttle_headers =
          [now](std::chrono::seconds retry_after) {
            return std::vector<std::pair<std::string, std::string>>{
                {"ratelimit-limit", "250"},
                {"ratelimit-remaining", "0"},
                {"ratelimit-reset", std::to_string(now + retry_after.count())}};
          },
  };
}

void DoEmulator::handle(const http::HttpRequest& req, http::ResponseWriter& w) {
  AdminHooks hooks;
  hooks.state_json = [this] { return table_state_json("droplets"); };
  if (handle_admin(req, w, faults_, hooks)) return;
  const std::string op = operation_of(req, {{"GET", "/v2/sizes", "sizes"},
                                            {"GET", "/v2/account/keys", "keys"},
                                            {"POST", "/v2/account/keys", "add_key"},
                                            {"POST", "/v2/droplets", "create"},
                                            {"GET", "/v2/droplets", "list"},
                                            {"DELETE", "/v2/droplets/", "delete", kUnder}});
  count_request(op);
  const int64_t remaining = std::max<int64_t>(0, 250 - requests());
  const int64_t now = options_.clock->now().time_since_epoch().count();
  auto send = [&](Reply r) {
    const bool has_limit = std::any_of(r.headers.begin(), r.headers.end(),
                                       [](const auto& h) { return h.first == "ratelimit-reset"; });
    if (!has_limit) {
      r.headers.emplace_back("ratelimit-limit", "250");
      r.headers.emplace_back("ratelimit-remaining", std::to_string(remaining));
      r.headers.emplace_back("ratelimit-reset", std::to_string(now + 60));
    }
    send_reply(w, r);
  };
  if (req.header("Authorization").value_or("") != "Bearer " + options_.token) {
    return send(fault_replies(op, now).auth_failure);
  }
  if (op.empty())
    return send(error(404, "not_found", "The resource you were accessing could not be found."));
  serve(
      op, w, send, [&] { return fault_replies(op, now); }, [&] { return route(op, req); });
}

}  // namespace gpupool::emulators
