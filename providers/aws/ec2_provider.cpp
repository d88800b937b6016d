#include "providers/aws/ec2_provider.h"

#include <algorithm>
#include <cstdlib>
#include <set>

#include "providers/container/container_start_script.h"
#include "providers/http/provider_errors.h"

namespace gpupool::aws {
namespace {

using net::Params;

const std::set<std::string, std::less<>>& capacity_codes() {
  static const std::set<std::string, std::less<>> k = {"InsufficientInstanceCapacity",
                                                       "InsufficientCapacity",
                                                       "InsufficientHostCapacity",
                                                       "InsufficientReservedInstanceCapacity",
                                                       "Unsupported",
                                                       "InsufficientFreeAddressesInSubnet"};
  return k;
}
const std::set<std::string, std::less<>>& throttle_codes() {
  static const std::set<std::string, std::less<>> k = {
      "RequestLimitExceeded", "EC2ThrottledException", "Throttling", "ThrottlingException"};
  return k;
}
const std::set<std::string, std::less<>>& auth_codes() {
  static const std::set<std::string, std::less<>> k = {
      "AuthFailure",           "UnauthorizedOperation",
      "SignatureDoesNotMatch", "InvalidClientTokenId",
      "OptInRequired",         "Blocked",
      "PendingVerification",   "MissingAuthenticationToken",
      "IncompleteSignature",   "InvalidAccessKeyId",
      "ExpiredToken",          "RequestExpired"};
  return k;
}
const std::set<std::string, std::less<>>& quota_codes() {
  static const std::set<std::string, std::less<>> k = {"InstanceLimitExceeded", "VcpuLimitExceeded",
                                                       "MaxSpotInstanceCountExceeded",
                                                       "ResourceLimitExceeded"};
  return k;
}

// The <Code> of an EC2 error body found by a textual scan (for the retry
// hook, which must not fail on garbled bodies).
std::string scan_code(std::string_view body) {
  auto start = body.find("<Code>");
  if (start == std::string_view::npos) return {};
  start += 6;
  auto end = body.find("</Code>", start);
  if (end == std::string_view::npos || end - start > 128) return {};
  return std::string(body.substr(start, end - start));
}

MachineState state_from(std::string_view name) {
  if (name == "pending") return MachineState::Pending;
  if (name == "running") return MachineState::Running;
  if (name == "shutting-down") return MachineState::Terminating;
  if (name == "terminated") return MachineState::Terminated;
  if (name == "stopping" || name == "stopped") return MachineState::Failed;  // not serving; replace
  return MachineState::Unknown;
}

void add_tag(Params& p, int& n, std::string_view key, std::string_view value) {
  if (key.empty() || key.starts_with("aws:") || key.size() > 127) return;
  std::string prefix = "TagSpecification.1.Tag." + std::to_string(++n);
  p.emplace_back(prefix + ".Key", std::string(key));
  p.emplace_back(prefix + ".Value", std::string(value.substr(0, 256)));
}

// EC2 pages with nextToken until it is empty. A token that comes back again
// (a broken gateway, a replayed answer) would loop forever: it ends the
// listing with a Transient error, as does a listing beyond kMaxPages.
constexpr size_t kMaxPages = 1000;
ProviderStatus check_page_token(const std::string& next, std::set<std::string>& seen,
                                const char* action) {
  if (next.empty()) return {};
  if (!seen.insert(next).second) {
    return fail(provider_error(ProviderErrorKind::Transient,
                               std::string(action) + ": EC2 sent the same nextToken twice"));
  }
  if (seen.size() >= kMaxPages) {
    return fail(provider_error(
        ProviderErrorKind::Transient,
        std::string(action) + ": more than " + std::to_string(kMaxPages) + " pages"));
  }
  return {};
}

}  // namespace

namespace {

// GPUs per g6e size (NVIDIA L40S).
constexpr std::pair<std::string_view, int> kG6eGpus[] = {
    {"g6e.xlarge", 1},   {"g6e.2xlarge", 1},  {"g6e.4xlarge", 1},  {"g6e.8xlarge", 1},
    {"g6e.16xlarge", 1}, {"g6e.12xlarge", 4}, {"g6e.24xlarge", 4}, {"g6e.48xlarge", 8}};

}  // namespace

int g6e_gpu_count(std::string_view t) {
  for (const auto& [type, gpus] : kG6eGpus) {
    if (type == t) return gpus;
  }
  return 0;
}

std::string client_token(std::string_view pool_uid, std::string_view name,
                         std::string_view instance_type) {
  std::string key(pool_uid);
  key.push_back('/');
  key.append(name);
  key.push_back('/');
  key.append(instance_type);
  return "gpupool-" + sha256_hex(key).substr(0, 40);
}

ProviderError map_ec2_error(int status, const std::string& code, const std::string& message,
                            net::Millis retry_after) {
  std::string m = code + (message.empty() ? "" : ": " + message);
  if (capacity_codes().count(code) > 0) return provider_error(ProviderErrorKind::NoCapacity, m);
  if (throttle_codes().count(code) > 0) {
    return rate_limited(m, retry_after.count() > 0 ? retry_after : net::Millis(1000));
  }
  if (auth_codes().count(code) > 0) return provider_error(ProviderErrorKind::Unauthorized, m);
  if (quota_codes().count(code) > 0) return provider_error(ProviderErrorKind::QuotaExceeded, m);
  if (code == "InvalidInstanceID.NotFound") return provider_error(ProviderErrorKind::NotFound, m);
  if (code == "InternalError" || code == "InternalFailure" || code == "ServiceUnavailable" ||
      code == "Unavailable") {
    return provider_error(ProviderErrorKind::Transient, m);
  }
  if (code.starts_with("Invalid") || code.starts_with("Missing") ||
      code == "IdempotentParameterMismatch" || code == "UnknownParameter" ||
      code == "ValidationError" || code == "DryRunOperation") {
    return provider_error(ProviderErrorKind::InvalidRequest, m);
  }
  return net::status_failure(status, m, retry_after);
}

Machine parse_instance(const XmlNode& item) {
  Machine m;
  m.provider_id = item.child_text("instanceId");
  m.provider_state = item.find_text({"instanceState", "name"});
  m.state = state_from(m.provider_state);
  m.offer_id = item.child_text("instanceType");
  m.gpu_count = g6e_gpu_count(m.offer_id);
  if (m.gpu_count > 0) m.gpu_model = "L40S";
  std::string zone = item.find_text({"placement", "availabilityZone"});
  if (!zone.empty()) m.region = zone.substr(0, zone.size() - 1);
  Time launch{};
  if (parse_rfc3339(item.child_text("launchTime"), launch)) m.launch_time = launch;
  m.public_address = item.child_text("ipAddress");
  if (m.public_address.empty()) m.public_address = item.child_text("dnsName");
  if (const XmlNode* tags = item.child("tagSet")) {
    for (const XmlNode* t : tags->children_named("item"))
      m.tags[t->child_text("key")] = t->child_text("value");
  }
  auto it = m.tags.find(std::string(kTagInstance));
  if (it != m.tags.end()) m.name = it->second;
  m.public_port = container::vm_public_port_from_tags(m);
  return m;
}

Ec2Provider::Ec2Provider(Ec2Config config, net::HttpTransport& transport, const Clock& clock,
                         net::Sleeper& sleeper)
    : config_(std::move(config)), clock_(clock), client_(transport, clock, sleeper, [&] {
        net::ClientOptions o = config_.http;
        if (o.provider.empty()) o.provider = "aws";
        o.hook = [](const net::Response& r) {
          std::string code = scan_code(r.body);
          if (code.empty()) return net::RetryAdvice{};
          if (throttle_codes().count(code) > 0)
            return net::RetryAdvice{net::RetryAdvice::Action::Retry, {}};
          if (code == "InternalError" || code == "InternalFailure" ||
              code == "ServiceUnavailable" || code == "Unavailable") {
            return net::RetryAdvice{};
          }
          return net::RetryAdvice{net::RetryAdvice::Action::DontRetry, {}};  // a definite answer
        };
        return o;
      }()) {
  std::string ep = config_.endpoint.empty() ? "https://ec2." + config_.region + ".amazonaws.com/"
                                            : config_.endpoint;
  if (auto u = net::parse_url(ep)) endpoint_ = *u;
}

ProviderResult<XmlNode> Ec2Provider::call(const std::string& action, Params params) {
  if (endpoint_.host.empty()) {
    return fail(provider_error(ProviderErrorKind::InvalidRequest,
                               "invalid EC2 endpoint '" + config_.endpoint + "'"));
  }
  if (config_.credentials.access_key_id.empty() || config_.credentials.secret_access_key.empty()) {
    return fail(provider_error(ProviderErrorKind::Unauthorized,
                               "AWS credentials are missing (access key / secret)"));
  }
  params.insert(params.begin(), {{"Action", action}, {"Version", std::string(kEc2ApiVersion)}});
  SignableRequest s;
  s.method = "POST";
  s.path = endpoint_.path;
  s.headers = {{"Host", endpoint_.host_header()},
               {"Content-Type", "application/x-www-form-urlencoded; charset=utf-8"}};
  s.body = net::encode_query(params);
  SigningParams sp;
  sp.region = config_.region;
  sp.service = "ec2";
  sp.time = clock_.now();
  SigningResult signed_req = sign_with_headers(s, config_.credentials, sp);

  net::Request req;
  req.method = "POST";
  req.url = endpoint_.origin() + endpoint_.path;
  req.headers = s.headers;
  for (auto& h : signed_req.added_headers)
    req.headers.push_back(std::move(h));
  req.body = std::move(s.body);
  req.idempotent = true;  // reads, TerminateInstances, and RunInstances with a ClientToken
  net::Outcome out = client_.send(std::move(req));
  if (!out.ok()) return fail(net::transport_failure(*out.error, action));
  const net::Response& resp = *out.response;
  auto doc = parse_xml(resp.body);
  if (resp.status >= 200 && resp.status < 300) {
    if (!doc.ok()) {
      return fail(
          provider_error(ProviderErrorKind::Transient,
                         action + ": unreadable answer from EC2 (" + doc.error().message + ")"));
    }
    return std::move(doc).value();
  }
  if (doc.ok()) {
    const XmlNode* err = doc->find({"Errors", "Error"});
    if (err == nullptr && doc->name == "Error") err = &doc.value();
    if (err != nullptr && !err->child_text("Code").empty()) {
      return fail(map_ec2_error(resp.status, err->child_text("Code"), err->child_text("Message"),
                                out.retry_after));
    }
  }
  return fail(net::status_failure(
      resp.status, action + ": unreadable error answer: " + net::body_excerpt(resp.body),
      out.retry_after));
}

ProviderResult<std::vector<Offer>> Ec2Provider::offers(const OfferQuery& query) {
  std::vector<Offer> out;
  if (!query.gpu_models.empty() && std::find(query.gpu_models.begin(), query.gpu_models.end(),
                                             "L40S") == query.gpu_models.end()) {
    return out;  // EC2 has L40S (g6e) only
  }
  if (!query.regions.empty() && std::find(query.regions.begin(), query.regions.end(),
                                          config_.region) == query.regions.end()) {
    return out;
  }
  Params p = {{"LocationType", "region"}, {"Filter.1.Name", "instance-type"}};
  int n = 0;
  for (const auto& [type, price] : config_.prices)
    p.emplace_back("Filter.1.Value." + std::to_string(++n), type);
  if (n == 0) return out;
  std::set<std::string> offered;
  std::string next;
  std::set<std::string> seen;
  do {
    Params page = p;
    if (!next.empty()) page.emplace_back("NextToken", next);
    auto doc = call("DescribeInstanceTypeOfferings", page);
    if (!doc.ok()) return fail(doc.error());
    if (const XmlNode* set = doc->child("instanceTypeOfferingSet")) {
      for (const XmlNode* item : set->children_named("item")) {
        if (item->child_text("location") == config_.region ||
            item->child_text("location").empty()) {
          offered.insert(item->child_text("instanceType"));
        }
      }
    }
    next = doc->child_text("nextToken");
    if (auto s = check_page_token(next, seen, "DescribeInstanceTypeOfferings"); !s) {
      return fail(s.error());
    }
  } while (!next.empty());
  auto facts = gpu_facts(offered);
  if (!facts.ok()) return fail(facts.error());
  for (const auto& type : offered) {
    auto price = config_.prices.find(type);
    auto fact = facts->find(type);
    if (price == config_.prices.end() || fact == facts->end() || fact->second.count == 0) continue;
    int gpus = fact->second.count;
    if (!query.gpu_models.empty() && std::find(query.gpu_models.begin(), query.gpu_models.end(),
                                               fact->second.model) == query.gpu_models.end()) {
      continue;
    }
    if (gpus < query.min_gpu_count || (query.max_gpu_count > 0 && gpus > query.max_gpu_count))
      continue;
    Offer o;
    o.provider = config_.provider_name;
    o.provider_type = "aws";
    o.id = type;
    o.region = config_.region;
    o.gpu_model = fact->second.model;
    o.gpu_count = gpus;
    o.price_per_hour = price->second;
    o.billing = config_.billing;
    o.tier = ReliabilityTier::Datacenter;
    o.source = "live";
    o.as_of = clock_.now();
    out.push_back(std::move(o));
  }
  return out;
}

ProviderResult<std::map<std::string, Ec2Provider::GpuFacts>> Ec2Provider::gpu_facts(
    const std::set<std::string>& types) {
  std::map<std::string, GpuFacts> out;
  Params p;
  {
    MutexLock lock(facts_mu_);
    for (const auto& t : types) {
      auto it = facts_.find(t);
      if (it != facts_.end()) {
        out[t] = it->second;
      } else {
        p.emplace_back("InstanceType." + std::to_string(p.size() + 1), t);
      }
    }
  }
  if (p.empty()) return out;
  auto doc = call("DescribeInstanceTypes", p);
  if (!doc.ok()) {
    if (doc.error().kind != ProviderErrorKind::InvalidRequest) return fail(doc.error());
    for (const auto& [k, t] : p) {  // not available here: the built-in table
      int n = g6e_gpu_count(t);
      if (n > 0) out[t] = GpuFacts{"L40S", n};
    }
    return out;
  }
  MutexLock lock(facts_mu_);
  if (const XmlNode* set = doc->child("instanceTypeSet")) {
    for (const XmlNode* item : set->children_named("item")) {
      GpuFacts f;
      if (const XmlNode* gpus = item->find({"gpuInfo", "gpus"})) {
        for (const XmlNode* g : gpus->children_named("item")) {
          std::string name = g->child_text("name");
          if (name.starts_with("NVIDIA ")) name = name.substr(7);
          if (f.model.empty()) f.model = name;
          f.count += std::atoi(g->child_text("count").c_str());
        }
      }
      std::string type = item->child_text("instanceType");
      if (type.empty()) continue;
      facts_[type] = f;
      out[type] = f;
    }
  }
  return out;
}

ProviderResult<Machine> Ec2Provider::create(const InstanceIntent& intent) {
  if (intent.name.empty() || intent.pool_uid.empty()) {
    return fail(provider_error(ProviderErrorKind::InvalidRequest,
                               "RunInstances: intent needs a name and a pool uid"));
  }
  std::string image = intent.image.empty() ? config_.image_id : intent.image;
  if (image.empty()) {
    return fail(provider_error(ProviderErrorKind::InvalidRequest,
                               "RunInstances: no AMI configured (image_id)"));
  }
  if (intent.offer.id.empty()) {
    return fail(provider_error(ProviderErrorKind::InvalidRequest,
                               "RunInstances: the offer has no instance type"));
  }
  auto user_data = container::vm_user_data(intent, "RunInstances");
  if (!user_data.ok()) return fail(user_data.error());
  Params p = {{"ImageId", image},
              {"InstanceType", intent.offer.id},
              {"MinCount", "1"},
              {"MaxCount", "1"},
              {"ClientToken", client_token(intent.pool_uid, intent.name, intent.offer.id)}};
  if (!user_data->empty()) p.emplace_back("UserData", net::base64_encode(*user_data));
  if (!config_.key_name.empty()) p.emplace_back("KeyName", config_.key_name);
  if (!config_.subnet_id.empty()) p.emplace_back("SubnetId", config_.subnet_id);
  for (size_t i = 0; i < config_.security_group_ids.size(); ++i) {
    p.emplace_back("SecurityGroupId." + std::to_string(i + 1), config_.security_group_ids[i]);
  }
  p.emplace_back("TagSpecification.1.ResourceType", "instance");
  int n = 0;
  add_tag(p, n, kTagManagedBy, kTagManagedByValue);
  add_tag(p, n, kTagPoolUid, intent.pool_uid);
  add_tag(p, n, kTagPool, intent.pool_namespace + "/" + intent.pool_name);
  add_tag(p, n, kTagInstance, intent.name);
  add_tag(p, n, "Name", intent.name);
  if (!intent.container.image.empty())
    add_tag(p, n, container::kTagContainerPort, std::to_string(intent.container.port));
  for (const auto& [k, v] : intent.labels)
    add_tag(p, n, k, v);
  auto doc = call("RunInstances", std::move(p));
  if (!doc.ok()) return fail(doc.error());
  const XmlNode* item = doc->find({"instancesSet", "item"});
  if (item == nullptr || item->child_text("instanceId").empty()) {
    return fail(
        provider_error(ProviderErrorKind::Transient, "RunInstances: answer has no instance"));
  }
  Machine m = parse_instance(*item);
  if (m.region.empty()) m.region = config_.region;
  if (m.name.empty()) m.name = intent.name;
  auto price = config_.prices.find(m.offer_id);
  m.price_per_hour = price != config_.prices.end() ? price->second : intent.offer.price_per_hour;
  return m;
}

ProviderResult<std::vector<Machine>> Ec2Provider::describe(const Params& filters) {
  std::vector<Machine> out;
  std::string next;
  std::set<std::string> seen;
  do {
    Params page = filters;
    page.emplace_back("MaxResults",
                      std::to_string(std::clamp(config_.describe_page_size, 5, 1000)));
    if (!next.empty()) page.emplace_back("NextToken", next);
    auto doc = call("DescribeInstances", page);
    if (!doc.ok()) return fail(doc.error());
    if (const XmlNode* rs = doc->child("reservationSet")) {
      for (const XmlNode* r : rs->children_named("item")) {
        const XmlNode* is = r->child("instancesSet");
        if (is == nullptr) continue;
        for (const XmlNode* item : is->children_named("item")) {
          Machine m = parse_instance(*item);
          if (m.provider_id.empty()) continue;
          if (m.region.empty()) m.region = config_.region;
          auto price = config_.prices.find(m.offer_id);
          if (price != config_.prices.end()) m.price_per_hour = price->second;
          out.push_back(std::move(m));
        }
      }
    }
    next = doc->child_text("nextToken");
    if (auto s = check_page_token(next, seen, "DescribeInstances"); !s) return fail(s.error());
  } while (!next.empty());
  return out;
}

ProviderResult<Machine> Ec2Provider::get(std::string_view pool_uid, std::string_view name) {
  Params f = {{"Filter.1.Name", "tag:" + std::string(kTagPoolUid)},
              {"Filter.1.Value.1", std::string(pool_uid)},
              {"Filter.2.Name", "tag:" + std::string(kTagInstance)},
              {"Filter.2.Value.1", std::string(name)}};
  auto found = describe(f);
  if (!found.ok()) return fail(found.error());
  if (found->empty()) {
    // Tags are applied atomically with the launch, but look the idempotency
    // token up too in case tags are not visible yet (eventual consistency).
    // The token names the instance type too (a create moved to another
    // type after NoCapacity has its own): ask for every type this adapter
    // may have bought the intent as.
    std::set<std::string> types;
    for (const auto& [type, price] : config_.prices)
      types.insert(type);
    for (const auto& [type, gpus] : kG6eGpus)
      types.emplace(type);
    Params t = {{"Filter.1.Name", "client-token"}};
    int n = 0;
    for (const auto& type : types) {
      t.emplace_back("Filter.1.Value." + std::to_string(++n), client_token(pool_uid, name, type));
    }
    found = describe(t);
    if (!found.ok()) return fail(found.error());
  }
  if (found->empty()) {
    return fail(
        provider_error(ProviderErrorKind::NotFound, "no EC2 instance for " + std::string(name)));
  }
  auto live = std::find_if(found->begin(), found->end(), [](const Machine& m) {
    return m.state != MachineState::Terminated && m.state != MachineState::Failed;
  });
  return live != found->end() ? *live : found->front();
}

ProviderResult<std::vector<Machine>> Ec2Provider::list(const MachineFilter& filter) {
  Params f = {{"Filter.1.Name", "tag:" + std::string(kTagManagedBy)},
              {"Filter.1.Value.1", std::string(kTagManagedByValue)}};
  int n = 1;
  if (!filter.pool_uid.empty()) {
    ++n;
    f.emplace_back("Filter." + std::to_string(n) + ".Name", "tag:" + std::string(kTagPoolUid));
    f.emplace_back("Filter." + std::to_string(n) + ".Value.1", filter.pool_uid);
  }
  if (!filter.include_terminated) {
    ++n;
    std::string prefix = "Filter." + std::to_string(n);
    f.emplace_back(prefix + ".Name", "instance-state-name");
    int v = 0;
    for (const char* s : {"pending", "running", "shutting-down", "stopping", "stopped"}) {
      f.emplace_back(prefix + ".Value." + std::to_string(++v), s);
    }
  }
  // The filters above are EC2's; the contract is ours. Check the answer too,
  // so a machine without our tags (a filter EC2 ignored, a tag removed by
  // hand) is never reported as this pool's and adopted or ended by mistake.
  auto all = describe(f);
  if (!all.ok()) return all;
  return owned_machines(std::move(all).value(), filter, /*require_managed_tag=*/true);
}

ProviderStatus Ec2Provider::terminate(std::string_view provider_id) {
  if (provider_id.empty()) {
    return fail(
        provider_error(ProviderErrorKind::InvalidRequest, "TerminateInstances: empty instance id"));
  }
  auto doc = call("TerminateInstances", {{"InstanceId.1", std::string(provider_id)}});
  if (!doc.ok()) return fail(doc.error());
  const XmlNode* item = doc->find({"instancesSet", "item"});
  if (item == nullptr) {
    return fail(
        provider_error(ProviderErrorKind::Transient, "TerminateInstances: answer has no instance"));
  }
  if (item->find_text({"previousState", "name"}) == "terminated") {
    return fail(provider_error(ProviderErrorKind::NotFound,
                               std::string(provider_id) + " is already terminated"));
  }
  return ProviderStatus::success();
}

}  // namespace gpupool::aws
