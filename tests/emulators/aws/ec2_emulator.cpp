#include "tests/emulators/aws/ec2_emulator.h"

#include "tests/emulators/common/emulator_base.h"
#include "tests/emulators/common/request_spec.h"

#include <algorithm>
#include <cctype>
#include <charconv>
#include <cstdio>
#include <set>

#include "providers/aws/sigv4.h"
#include "providers/aws/xml.h"
#include "providers/http/url.h"

namespace gpupool::emulators {
namespace {

using Params = std::vector<std::pair<std::string, std::string>>;
using aws::xml_escape;

constexpr std::string_view kNs = "http://ec2.amazonaws.com/doc/2016-11-15/";

std::optional<std::string> param(const Params& p, std::string_view key) {
  for (const auto& [k, v] : p) {
    if (k == key) return v;
  }
  return std::nullopt;
}

// "Prefix.N.rest" -> (N, rest); nullopt when the key does not match.
std::optional<std::pair<int, std::string>> indexed(std::string_view key, std::string_view prefix) {
  if (!key.starts_with(prefix)) return std::nullopt;
  key.remove_prefix(prefix.size());
  if (key.empty() || key.front() != '.') return std::nullopt;
  key.remove_prefix(1);
  size_t dot = key.find('.');
  std::string_view num = key.substr(0, dot);
  int n = 0;
  auto [ptr, ec] = std::from_chars(num.data(), num.data() + num.size(), n);
  if (ec != std::errc() || ptr != num.data() + num.size() || n < 1) return std::nullopt;
  return std::make_pair(
      n, dot == std::string_view::npos ? std::string() : std::string(key.substr(dot + 1)));
}

int state_code(const std::string& s) {
  if (s == "pending") return 0;
  if (s == "running") return 16;
  if (s == "shutting-down") return 32;
  if (s == "terminated") return 48;
  return 80;
}

std::string aws_time(Time t) {
  std::string s = format_rfc3339(t);  // ...Z
  s.insert(s.size() - 1, ".000");
  return s;
}

std::string state_xml(const std::string& tag, const std::string& state) {
  return "<" + tag + "><code>" + std::to_string(state_code(state)) + "</code><name>" + state +
         "</name></" + tag + ">";
}

struct Filter {
  std::string name;
  std::vector<std::string> values;
};

}  // namespace

Ec2Emulator::Ec2Emulator(Ec2EmulatorOptions options) : options_(std::move(options)) {}

Ec2Emulator::~Ec2Emulator() {
  stop();
}

bool Ec2Emulator::start() {
  http::HttpServerOptions so;
  so.port = options_.port;
  server_ = std::make_unique<http::HttpServer>(
      [this](const http::HttpRequest& req, http::ResponseWriter& w) { handle(req, w); }, so);
  return server_->start().ok();
}

void Ec2Emulator::stop() {
  if (server_) server_->stop();
}

std::string Ec2Emulator::base_url() const {
  return server_ ? server_->base_url() + "/" : std::string();
}

void Ec2Emulator::set_capacity(const std::string& type, int n) {
  std::lock_guard<std::mutex> lock(mu_);
  options_.capacity[type] = n;
}

void Ec2Emulator::set_instance_limit(int n) {
  std::lock_guard<std::mutex> lock(mu_);
  options_.instance_limit = n;
}

std::vector<EmulatedInstance> Ec2Emulator::instances() const {
  std::lock_guard<std::mutex> lock(mu_);
  const_cast<Ec2Emulator*>(this)->advance_locked();
  return instances_;
}

int Ec2Emulator::alive(const std::string& type) const {
  std::lock_guard<std::mutex> lock(mu_);
  const_cast<Ec2Emulator*>(this)->advance_locked();
  return static_cast<int>(
      std::count_if(instances_.begin(), instances_.end(), [&](const EmulatedInstance& i) {
        return (type.empty() || i.type == type) && (i.state == "pending" || i.state == "running");
      }));
}

int Ec2Emulator::requests(const std::string& action) const {
  std::lock_guard<std::mutex> lock(mu_);
  if (!action.empty()) {
    auto it = requests_.find(action);
    return it == requests_.end() ? 0 : it->second;
  }
  int n = 0;
  for (const auto& [k, v] : requests_)
    n += v;
  return n;
}

int64_t Ec2Emulator::billed_seconds(const std::string& id) const {
  std::lock_guard<std::mutex> lock(mu_);
  for (const auto& i : instances_) {
    if (i.id != id) continue;
    Time end = i.terminate_time.value_or(options_.clock->now());
    return std::max<int64_t>(60, (end - i.launch_time).count());
  }
  return -1;
}

std::string Ec2Emulator::next_request_id() {
  char buf[64];
  std::snprintf(buf, sizeof(buf), "5ec2e000-0000-4000-8000-%012llx",
                static_cast<unsigned long long>(++counter_));
  return buf;
}

Ec2Emulator::Reply Ec2Emulator::error(int status, const std::string& code,
                                      const std::string& message) {
  return Reply{status,
               "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<Response><Errors><Error><Code>" +
                   xml_escape(code) + "</Code><Message>" + xml_escape(message) +
                   "</Message></Error></Errors><RequestID>" + next_request_id() +
                   "</RequestID></Response>"};
}

std::optional<Ec2Emulator::Reply> Ec2Emulator::check_signature(const http::HttpRequest& req) {
  const std::string bad_credentials =
      "AWS was not able to validate the provided access credentials";
  auto auth = req.header("Authorization");
  if (!auth) return error(401, "AuthFailure", bad_credentials);
  auto parsed = aws::parse_authorization(*auth);
  if (!parsed) return error(401, "AuthFailure", "Authorization header is malformed");
  if (parsed->access_key_id != options_.access_key_id)
    return error(401, "AuthFailure", bad_credentials);
  if (parsed->region != options_.region || parsed->service != "ec2") {
    return error(401, "AuthFailure", "Credential should be scoped to a valid region and service");
  }
  auto date_header = req.header("X-Amz-Date");
  std::optional<Time> date = date_header ? aws::parse_amz_date(*date_header) : std::nullopt;
  if (!date || aws::amz_day(*date) != parsed->day)
    return error(401, "AuthFailure", "X-Amz-Date is missing or invalid");
  Time now = options_.clock->now();
  Duration skew = *date > now ? *date - now : now - *date;
  if (skew > options_.max_clock_skew)
    return error(401, "AuthFailure", "Signature expired: request time is too skewed");
  std::set<std::string> names(parsed->signed_headers.begin(), parsed->signed_headers.end());
  if (names.count("host") == 0 || names.count("x-amz-date") == 0) {
    return error(401, "AuthFailure", "host and x-amz-date must be signed");
  }
  net::Headers signed_headers;
  for (const auto& [k, v] : req.headers.all()) {
    std::string lower = k;
    std::transform(lower.begin(), lower.end(), lower.begin(),
                   [](unsigned char c) { return std::tolower(c); });
    if (names.count(lower) > 0) signed_headers.emplace_back(lower, v);
  }
  std::string raw_path = req.target.substr(0, req.target.find('?'));
  aws::CanonicalHeaders ch = aws::canonical_headers(signed_headers);
  std::string listed;
  for (const auto& n : parsed->signed_headers)
    listed += (listed.empty() ? "" : ";") + n;
  if (ch.signed_list != listed)
    return error(401, "AuthFailure", "a signed header is missing from the request");
  std::string creq =
      aws::canonical_request(req.method, aws::canonical_uri(raw_path, true),
                             aws::canonical_query(req.query), ch, aws::sha256_hex(req.body));
  std::string sts = aws::string_to_sign(
      *date_header, aws::credential_scope(parsed->day, parsed->region, parsed->service), creq);
  std::string expected =
      aws::signature(options_.secret_access_key, parsed->day, parsed->region, "ec2", sts);
  if (expected != parsed->signature) {
    return error(401, "AuthFailure",
                 "The request signature we calculated does not match the signature you provided");
  }
  return std::nullopt;
}

ProviderFaultReplies Ec2Emulator::fault_replies(const std::string& action, const Params& params) {
  const std::string type = param(params, "InstanceType").value_or("g6e.xlarge");
  const std::string zone = options_.region + "a";
  return {
      .no_capacity = error(500, "InsufficientInstanceCapacity",
                           "We currently do not have sufficient " + type +
                               " capacity in the Availability Zone you requested (" + zone +
                               "). Our system will be working on provisioning additional "
                               "capacity."),
      // EC2 throttles with 503 RequestLimitExceeded and no Retry-After.
      .throttle = error(503, "RequestLimitExceeded", "Request limit exceeded."),
      .server_error = error(500, "InternalError", "An internal error has occurred"),
      .auth_failure =
          error(401, "AuthFailure", "AWS was not able to validate the provided access credentials"),
      .garbled = {200, "<?xml version=\"1.0\"?><" + action + "Response xmlns=\"" +
                           std::string(kNs) +
                           "\"><requestId>abc</requestId><instancesSet><item><instanceId>i-0"},
      .throttle_headers = nullptr,
  };
}

void Ec2Emulator::handle(const http::HttpRequest& req, http::ResponseWriter& w) {
  AdminHooks hooks;
  hooks.set_capacity = [this](const std::string& id, int n) {
    set_capacity(id, n);
    return std::string();
  };
  hooks.state_json = [this] {
    return "{\"alive\":" + std::to_string(alive()) +
           ",\"instances\":" + std::to_string(instances().size()) +
           ",\"requests\":" + std::to_string(requests()) + "}";
  };
  if (handle_admin(req, w, faults_, hooks)) return;
  Params params = net::parse_query(req.method == "POST" ? std::string_view(req.body)
                                                        : std::string_view(req.query));
  std::string action = param(params, "Action").value_or("");
  {
    std::lock_guard<std::mutex> lock(mu_);
    ++requests_[action];
  }
  http::Headers xml_headers{{"Content-Type", "text/xml;charset=UTF-8"}};
  auto send = [&](const Reply& r) { w.send(r.status, xml_headers, r.body); };
  if (auto bad = check_signature(req)) return send(*bad);
  if (param(params, "Version").value_or("") != "2016-11-15") {
    return send(error(400, "InvalidParameterValue", "Version must be 2016-11-15"));
  }
  serve_with_faults(
      faults_, action, w, send, [&] { return fault_replies(action, params); },
      [&] { return dispatch(action, params); });
}

Ec2Emulator::Reply Ec2Emulator::dispatch(const std::string& action, const Params& params) {
  // Every parameter must be one the published input shape has; the
  // required ones must be there (EC2's MissingParameter / UnknownParameter).
  if (const QuerySpec* spec = query_spec(ec2_query_specs(), action)) {
    if (std::string bad = check_query(params, *spec); !bad.empty()) {
      if (bad.starts_with("missing "))
        return error(400, "MissingParameter",
                     "The request must contain the parameter " + bad.substr(8));
      return error(400, "UnknownParameter",
                   "The parameter " + bad.substr(8) + " is not recognized");
    }
  }
  if (action == "RunInstances") return run_instances(params);
  if (action == "DescribeInstances") return describe_instances(params);
  if (action == "TerminateInstances") return terminate_instances(params);
  if (action == "DescribeInstanceTypeOfferings") return describe_offerings(params);
  if (action == "DescribeInstanceTypes") return describe_types(params);
  return error(400, "InvalidAction",
               "The action " + action + " is not valid for this web service.");
}

void Ec2Emulator::advance_locked() {
  Time now = options_.clock->now();
  for (auto& i : instances_) {
    if (i.state == "pending" && now >= i.launch_time + options_.boot_time) {
      i.state = "running";
    }
    if (i.state == "shutting-down" && i.terminate_time &&
        now >= *i.terminate_time + options_.shutdown_time) {
      i.state = "terminated";
      i.public_ip.clear();
    }
  }
}

std::string Ec2Emulator::instance_xml_locked(const EmulatedInstance& in) const {
  std::string x = "<item><instanceId>" + in.id + "</instanceId><imageId>" +
                  xml_escape(in.image_id) + "</imageId>" + state_xml("instanceState", in.state) +
                  "<privateDnsName>ip-10-0-0-1.ec2.internal</privateDnsName>" +
                  "<dnsName/><instanceType>" + xml_escape(in.type) + "</instanceType><launchTime>" +
                  aws_time(in.launch_time) + "</launchTime><placement><availabilityZone>" +
                  in.zone + "</availabilityZone><tenancy>default</tenancy></placement>";
  if (in.state == "running") x += "<ipAddress>" + in.public_ip + "</ipAddress>";
  x += "<clientToken>" + xml_escape(in.client_token) + "</clientToken><tagSet>";
  for (const auto& [k, v] : in.tags) {
    x += "<item><key>" + xml_escape(k) + "</key><value>" + xml_escape(v) + "</value></item>";
  }
  x += "</tagSet></item>";
  return x;
}

Ec2Emulator::Reply Ec2Emulator::run_instances(const Params& params) {
  auto image = param(params, "ImageId");
  auto type = param(params, "InstanceType");
  auto min_count = param(params, "MinCount");
  auto max_count = param(params, "MaxCount");
  if (!image || image->empty())
    return error(400, "MissingParameter", "The request must contain the parameter ImageId");
  if (!min_count || !max_count)
    return error(400, "MissingParameter", "MinCount and MaxCount are required");
  int count = 0, max_n = 0;
  if (std::from_chars(min_count->data(), min_count->data() + min_count->size(), count).ec !=
          std::errc() ||
      std::from_chars(max_count->data(), max_count->data() + max_count->size(), max_n).ec !=
          std::errc() ||
      count < 1 || max_n < count) {
    return error(400, "InvalidParameterValue",
                 "MinCount and MaxCount must be positive and MinCount <= MaxCount");
  }
  std::string token = param(params, "ClientToken").value_or("");
  if (token.size() > 64)
    return error(400, "InvalidParameterValue", "ClientToken is longer than 64 characters");
  std::string user_data;
  if (auto ud = param(params, "UserData")) {
    auto decoded = net::base64_decode(*ud);
    if (!decoded)
      return error(400, "InvalidParameterValue", "Invalid BASE64 encoding of user data.");
    user_data = *decoded;
  }
  std::map<std::string, std::string> tags;
  std::map<int, std::string> resource_types;
  std::map<int, std::map<int, std::pair<std::string, std::string>>> spec_tags;
  for (const auto& [k, v] : params) {
    auto spec = indexed(k, "TagSpecification");
    if (!spec) continue;
    if (spec->second == "ResourceType") {
      resource_types[spec->first] = v;
      continue;
    }
    auto tag = indexed(spec->second, "Tag");
    if (!tag) return error(400, "InvalidParameterValue", "Unknown parameter " + k);
    if (tag->second == "Key") spec_tags[spec->first][tag->first].first = v;
    if (tag->second == "Value") spec_tags[spec->first][tag->first].second = v;
  }
  for (const auto& [n, rt] : resource_types) {
    if (rt != "instance" && rt != "volume" && rt != "network-interface") {
      return error(400, "InvalidParameterValue",
                   "'" + rt + "' is not a valid taggable resource type");
    }
    if (rt != "instance") continue;
    for (const auto& [m, kv] : spec_tags[n]) {
      if (kv.first.empty() || kv.first.size() > 127 || kv.second.size() > 256 ||
          kv.first.starts_with("aws:")) {
        return error(400, "InvalidParameterValue", "Invalid tag key or value");
      }
      tags[kv.first] = kv.second;
    }
  }
  // Everything that must match for a repeated ClientToken.
  std::string fingerprint;
  for (const auto& [k, v] : params) {
    if (k != "ClientToken") fingerprint.append(k).append("=").append(v).append("&");
  }

  std::lock_guard<std::mutex> lock(mu_);
  advance_locked();
  std::string reservation;
  if (!token.empty()) {
    auto known = token_fingerprints_.find(token);
    if (known != token_fingerprints_.end()) {
      if (known->second != fingerprint) {
        return error(
            400, "IdempotentParameterMismatch",
            "The client token you have provided is associated with a request that had different "
            "parameters.");
      }
      for (const auto& i : instances_) {
        if (i.client_token == token) reservation = i.reservation_id;
      }
    }
  }
  if (reservation.empty()) {
    auto cap = type ? options_.capacity.find(*type) : options_.capacity.end();
    if (cap == options_.capacity.end()) {
      return error(400, "InvalidParameterValue",
                   "Invalid value '" + type.value_or("") + "' for InstanceType.");
    }
    int alive_type = 0, alive_all = 0;
    for (const auto& i : instances_) {
      if (i.state != "pending" && i.state != "running") continue;
      ++alive_all;
      if (i.type == *type) ++alive_type;
    }
    if (options_.instance_limit >= 0 && alive_all + count > options_.instance_limit) {
      return error(400, "InstanceLimitExceeded",
                   "You have requested more instances (" + std::to_string(alive_all + count) +
                       ") than your current instance limit of " +
                       std::to_string(options_.instance_limit) +
                       " allows for the specified instance type.");
    }
    if (cap->second >= 0 && alive_type + count > cap->second) {
      return error(500, "InsufficientInstanceCapacity",
                   "We currently do not have sufficient " + *type +
                       " capacity in the Availability Zone you requested (" + options_.region +
                       "a). Our system will be working on provisioning additional capacity.");
    }
    char buf[32];
    std::snprintf(buf, sizeof(buf), "r-%017llx",
                  static_cast<unsigned long long>(next_instance_) + 0x5e0000ULL);
    reservation = buf;
    for (int n = 0; n < count; ++n) {
      EmulatedInstance in;
      ++next_instance_;
      std::snprintf(buf, sizeof(buf), "i-%017llx",
                    static_cast<unsigned long long>(next_instance_) + 0xabc000ULL);
      in.id = buf;
      in.reservation_id = reservation;
      in.type = *type;
      in.image_id = *image;
      in.state = "pending";
      in.launch_time = options_.clock->now();
      in.client_token = token;
      in.tags = tags;
      in.user_data = user_data;
      in.zone = options_.region + "a";
      in.public_ip = "203.0.113." + std::to_string(next_instance_ % 250 + 1);
      instances_.push_back(std::move(in));
    }
    if (!token.empty()) token_fingerprints_[token] = fingerprint;
  }
  std::string body = "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<RunInstancesResponse xmlns=\"" +
                     std::string(kNs) + "\"><requestId>" + next_request_id() +
                     "</requestId><reservationId>" + reservation +
                     "</reservationId><ownerId>123456789012</ownerId><groupSet/><instancesSet>";
  for (const auto& i : instances_) {
    if (i.reservation_id == reservation) body += instance_xml_locked(i);
  }
  body += "</instancesSet></RunInstancesResponse>";
  return Reply{200, body};
}

Ec2Emulator::Reply Ec2Emulator::describe_instances(const Params& params) {
  std::map<int, Filter> filters;
  std::vector<std::string> ids;
  int max_results = -1;
  size_t offset = 0;
  for (const auto& [k, v] : params) {
    if (auto f = indexed(k, "Filter")) {
      if (f->second == "Name") {
        filters[f->first].name = v;
      } else if (indexed(f->second, "Value")) {
        filters[f->first].values.push_back(v);
      } else {
        return error(400, "InvalidParameterValue", "Unknown parameter " + k);
      }
    } else if (indexed(k, "InstanceId")) {
      ids.push_back(v);
    } else if (k == "MaxResults") {
      if (std::from_chars(v.data(), v.data() + v.size(), max_results).ec != std::errc() ||
          max_results < 5 || max_results > 1000) {
        return error(400, "InvalidParameterValue", "MaxResults must be between 5 and 1000");
      }
    } else if (k == "NextToken") {
      if (!v.starts_with("tok-") ||
          std::from_chars(v.data() + 4, v.data() + v.size(), offset).ec != std::errc()) {
        return error(400, "InvalidParameterValue", "Invalid NextToken");
      }
    }
  }
  if (max_results > 0 && !ids.empty()) {
    return error(400, "InvalidParameterCombination",
                 "The parameter instancesSet cannot be used with MaxResults");
  }
  for (const auto& [n, f] : filters) {
    bool known = f.name.starts_with("tag:") || f.name == "tag-key" ||
                 f.name == "instance-state-name" || f.name == "instance-type" ||
                 f.name == "client-token" || f.name == "instance-id";
    if (!known)
      return error(400, "InvalidParameterValue", "The filter '" + f.name + "' is invalid");
  }
  std::lock_guard<std::mutex> lock(mu_);
  advance_locked();
  for (const auto& id : ids) {
    bool found = std::any_of(instances_.begin(), instances_.end(),
                             [&](const EmulatedInstance& i) { return i.id == id; });
    if (!found)
      return error(400, "InvalidInstanceID.NotFound",
                   "The instance ID '" + id + "' does not exist");
  }
  auto matches = [&](const EmulatedInstance& i) {
    if (!ids.empty() && std::find(ids.begin(), ids.end(), i.id) == ids.end()) return false;
    for (const auto& entry : filters) {
      const auto& f = entry.second;  // a plain reference: the lambda captures it (clang < 16)
      auto any = [&](const std::string& actual) {
        return std::find(f.values.begin(), f.values.end(), actual) != f.values.end();
      };
      bool ok = false;
      if (f.name.starts_with("tag:")) {
        auto t = i.tags.find(f.name.substr(4));
        ok = t != i.tags.end() && any(t->second);
      } else if (f.name == "tag-key") {
        ok = std::any_of(f.values.begin(), f.values.end(),
                         [&](const std::string& key) { return i.tags.count(key) > 0; });
      } else if (f.name == "instance-state-name") {
        ok = any(i.state);
      } else if (f.name == "instance-type") {
        ok = any(i.type);
      } else if (f.name == "client-token") {
        ok = any(i.client_token);
      } else if (f.name == "instance-id") {
        ok = any(i.id);
      }
      if (!ok) return false;
    }
    return true;
  };
  std::vector<const EmulatedInstance*> hits;
  for (const auto& i : instances_) {
    if (matches(i)) hits.push_back(&i);
  }
  size_t end = hits.size();
  std::string next;
  if (max_results > 0 && offset + static_cast<size_t>(max_results) < hits.size()) {
    end = offset + static_cast<size_t>(max_results);
    next = "tok-" + std::to_string(end);
  }
  std::string body =
      "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<DescribeInstancesResponse xmlns=\"" +
      std::string(kNs) + "\"><requestId>" + next_request_id() + "</requestId><reservationSet>";
  std::string open_reservation;
  for (size_t k = std::min(offset, hits.size()); k < end; ++k) {
    const EmulatedInstance& i = *hits[k];
    if (i.reservation_id != open_reservation) {
      if (!open_reservation.empty()) body += "</instancesSet></item>";
      open_reservation = i.reservation_id;
      body += "<item><reservationId>" + i.reservation_id +
              "</reservationId><ownerId>123456789012</ownerId><groupSet/><instancesSet>";
    }
    body += instance_xml_locked(i);
  }
  if (!open_reservation.empty()) body += "</instancesSet></item>";
  body += "</reservationSet>";
  if (!next.empty()) body += "<nextToken>" + next + "</nextToken>";
  body += "</DescribeInstancesResponse>";
  return Reply{200, body};
}

Ec2Emulator::Reply Ec2Emulator::terminate_instances(const Params& params) {
  std::vector<std::string> ids;
  for (const auto& [k, v] : params) {
    if (indexed(k, "InstanceId")) ids.push_back(v);
  }
  if (ids.empty())
    return error(400, "MissingParameter", "The request must contain the parameter InstanceId");
  std::lock_guard<std::mutex> lock(mu_);
  advance_locked();
  std::vector<EmulatedInstance*> targets;
  for (const auto& id : ids) {
    auto it = std::find_if(instances_.begin(), instances_.end(),
                           [&](const EmulatedInstance& i) { return i.id == id; });
    if (it == instances_.end()) {
      if (!id.starts_with("i-"))
        return error(400, "InvalidInstanceID.Malformed", "Invalid id: \"" + id + "\"");
      return error(400, "InvalidInstanceID.NotFound",
                   "The instance ID '" + id + "' does not exist");
    }
    targets.push_back(&*it);
  }
  std::string body =
      "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<TerminateInstancesResponse xmlns=\"" +
      std::string(kNs) + "\"><requestId>" + next_request_id() + "</requestId><instancesSet>";
  for (EmulatedInstance* i : targets) {
    std::string previous = i->state;
    if (i->state == "pending" || i->state == "running") {
      i->state = "shutting-down";
      i->terminate_time = options_.clock->now();
    }
    body += "<item><instanceId>" + i->id + "</instanceId>" + state_xml("currentState", i->state) +
            state_xml("previousState", previous) + "</item>";
  }
  body += "</instancesSet></TerminateInstancesResponse>";
  return Reply{200, body};
}

Ec2Emulator::Reply Ec2Emulator::describe_types(const Params& params) {
  static const std::map<std::string, int> gpus_by_type = {
      {"g6e.xlarge", 1},   {"g6e.2xlarge", 1},  {"g6e.4xlarge", 1},  {"g6e.8xlarge", 1},
      {"g6e.16xlarge", 1}, {"g6e.12xlarge", 4}, {"g6e.24xlarge", 4}, {"g6e.48xlarge", 8}};
  std::vector<std::string> types;
  for (const auto& [k, v] : params) {
    if (indexed(k, "InstanceType")) types.push_back(v);
  }
  std::string body =
      "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<DescribeInstanceTypesResponse xmlns=\"" +
      std::string(kNs) + "\"><requestId>" + next_request_id() + "</requestId><instanceTypeSet>";
  for (const auto& t : types) {
    auto g = gpus_by_type.find(t);
    if (g == gpus_by_type.end()) {
      return error(400, "InvalidInstanceType",
                   "The following supplied instance types do not exist: [" + t + "]");
    }
    body += "<item><instanceType>" + t +
            "</instanceType><currentGeneration>true</currentGeneration><gpuInfo><gpus>" +
            "<item><name>L40S</name><manufacturer>NVIDIA</manufacturer><count>" +
            std::to_string(g->second) +
            "</count><memoryInfo><sizeInMiB>45776</sizeInMiB></memoryInfo></item></"
            "gpus><totalGpuMemoryInMiB>" +
            std::to_string(45776 * g->second) + "</totalGpuMemoryInMiB></gpuInfo></item>";
  }
  body += "</instanceTypeSet></DescribeInstanceTypesResponse>";
  return Reply{200, body};
}

Ec2Emulator::Reply Ec2Emulator::describe_offerings(const Params& params) {
  std::string location_type = param(params, "LocationType").value_or("region");
  if (location_type != "region" && location_type != "availability-zone") {
    return error(400, "InvalidParameterValue", "Invalid LocationType " + location_type);
  }
  std::map<int, Filter> filters;
  for (const auto& [k, v] : params) {
    if (auto f = indexed(k, "Filter")) {
      if (f->second == "Name") filters[f->first].name = v;
      if (indexed(f->second, "Value")) filters[f->first].values.push_back(v);
    }
  }
  std::string location = location_type == "region" ? options_.region : options_.region + "a";
  std::lock_guard<std::mutex> lock(mu_);
  std::string body =
      "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<DescribeInstanceTypeOfferingsResponse "
      "xmlns=\"" +
      std::string(kNs) + "\"><requestId>" + next_request_id() +
      "</requestId><instanceTypeOfferingSet>";
  for (const auto& [type, cap] : options_.capacity) {
    bool ok = true;
    for (const auto& [n, f] : filters) {
      const std::string& actual = f.name == "instance-type" ? type : location;
      if (f.name != "instance-type" && f.name != "location") {
        return error(400, "InvalidParameterValue", "The filter '" + f.name + "' is invalid");
      }
      if (std::find(f.values.begin(), f.values.end(), actual) == f.values.end()) ok = false;
    }
    if (!ok) continue;
    body.append("<item><instanceType>")
        .append(type)
        .append("</instanceType><locationType>")
        .append(location_type)
        .append("</locationType><location>")
        .append(location)
        .append("</location></item>");
  }
  body += "</instanceTypeOfferingSet></DescribeInstanceTypeOfferingsResponse>";
  return Reply{200, body};
}

}  // namespace gpupool::emulators
