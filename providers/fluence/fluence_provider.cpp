#include "providers/fluence/fluence_provider.h"
#include "providers/http/json_fields.h"

#include <algorithm>
#include <cctype>

#include <nlohmann/json.hpp>

#include "providers/container/container_start_script.h"
#include "providers/http/hash.h"
#include "providers/http/provider_errors.h"
#include "providers/http/strings.h"
#include "providers/http/url.h"

namespace gpupool::fluence {
namespace {

using nlohmann::json;

MachineState state_from(std::string_view s) {
  if (s == "INITIALIZED") return MachineState::Pending;
  if (s == "ACTIVE") return MachineState::Running;
  if (s == "ENDED") return MachineState::Terminated;
  if (s == "FAILED") return MachineState::Failed;
  return MachineState::Unknown;
}

// Parses one VM object. Throws nlohmann exceptions on wrong types; callers
// catch.
Machine parse_vm(const json& j) {
  Machine m;
  m.provider_id = net::json_str(j, "id");
  m.provider_state = net::json_str(j, "status");
  m.state = state_from(m.provider_state);
  m.region = net::json_str(j, "location");
  m.tags["fluence.dev/name"] = net::json_str(j, "name");
  if (auto r = j.find("resources"); r != j.end() && r->is_object()) {
    if (auto g = r->find("gpu_model"); g != r->end() && g->is_object())
      m.gpu_model = canonical_gpu_model(net::json_str(*g, "model"));
    if (auto s = r->find("supply"); s != r->end() && s->is_object()) {
      if (auto c = s->find("gpu_count"); c != s->end() && c->is_number_integer())
        m.gpu_count = c->get<int>();
    }
  }
  m.public_address = net::json_str(j, "domain");
  if (m.public_address.empty()) {
    if (auto n = j.find("network"); n != j.end() && n->is_object())
      m.public_address = net::json_str(*n, "domain");
  }
  Time t{};
  if (parse_rfc3339(net::json_str(j, "created_at"), t)) m.launch_time = t;
  if (auto b = j.find("billing"); b != j.end() && b->is_object()) {
    if (auto h = b->find("hourly_usage"); h != b->end() && h->is_number())
      m.price_per_hour = net::price_from_double(h->get<double>()).value_or(Money());
  }
  return m;
}

std::string detail_text(const json& j) {
  auto d = j.find("detail");
  if (d == j.end()) {
    auto e = j.find("error");
    return e != j.end() && e->is_string() ? e->get<std::string>() : std::string();
  }
  if (d->is_string()) return d->get<std::string>();
  if (d->is_array()) {
    std::string out;
    for (const auto& item : *d) {
      if (!item.is_object()) continue;
      std::string loc;
      if (auto l = item.find("loc"); l != item.end() && l->is_array()) {
        for (const auto& p : *l)
          loc +=
              (loc.empty() ? "" : ".") + (p.is_string() ? p.get<std::string>() : net::json_text(p));
      }
      out +=
          (out.empty() ? "" : "; ") + loc + (loc.empty() ? "" : ": ") + net::json_str(item, "msg");
    }
    return out;
  }
  return d->dump();
}

}  // namespace

std::string fluence_pool_prefix(std::string_view pool_uid) {
  return "gp-" + net::sha256_hex(pool_uid).substr(0, 10) + "-";
}

std::string fluence_vm_name(std::string_view pool_uid, std::string_view intent_name) {
  std::string key(pool_uid);
  key.push_back('/');
  key.append(intent_name);
  return fluence_pool_prefix(pool_uid) + net::sha256_hex(key).substr(0, 10);
}

std::string canonical_gpu_model(std::string_view model) {
  std::string out(model);
  std::transform(out.begin(), out.end(), out.begin(),
                 [](unsigned char c) { return static_cast<char>(std::toupper(c)); });
  return out;
}

ProviderError map_fluence_error(int status, std::string_view body, net::Millis retry_after) {
  std::string detail;
  json j = json::parse(body, nullptr, false);
  if (!j.is_discarded() && j.is_object()) {
    try {
      detail = detail_text(j);
    } catch (const std::exception&) {
      detail.clear();
    }
  }
  if (detail.empty()) detail = "unreadable error answer: " + net::body_excerpt(body);
  std::string m = "HTTP " + std::to_string(status) + ": " + detail;
  if (status == 400 || status == 409 || status == 422) {
    if (net::icontains(detail, "no longer available") || net::icontains(detail, "not available") ||
        net::icontains(detail, "sold out") || net::icontains(detail, "no suitable offer") ||
        net::icontains(detail, "not enough offers") || net::icontains(detail, "capacity")) {
      return provider_error(ProviderErrorKind::NoCapacity, m);
    }
    if (net::icontains(detail, "insufficient balance") || net::icontains(detail, "limit")) {
      return provider_error(ProviderErrorKind::QuotaExceeded, m);
    }
  }
  return net::status_failure(status, detail, retry_after);
}

FluenceProvider::FluenceProvider(FluenceConfig config, net::HttpTransport& transport,
                                 const Clock& clock, net::Sleeper& sleeper)
    : config_(std::move(config)),
      clock_(clock),
      client_(transport, clock, sleeper,
              [&] {
                net::ClientOptions o = config_.http;
                if (o.provider.empty()) o.provider = "fluence";
                return net::api_client_options(o, "", config_.endpoint);
              }()),
      api_(client_, net::ApiSpec{"Fluence", config_.endpoint,
                                 [this]() -> ProviderResult<net::Headers> {
                                   if (config_.api_key.empty()) {
                                     return fail(provider_error(ProviderErrorKind::Unauthorized,
                                                                "Fluence API key is missing"));
                                   }
                                   return net::Headers{{"X-API-KEY", config_.api_key}};
                                 },
                                 map_fluence_error}) {}

ProviderResult<FluenceProvider::Answer> FluenceProvider::call(const std::string& what,
                                                              const std::string& method,
                                                              const std::string& path,
                                                              const std::string& body,
                                                              bool idempotent) {
  auto r = api_.send(what, method, path, body, idempotent);
  if (!r.ok()) return fail(r.error());
  return Answer{r->status, std::move(r->body)};
}

ProviderResult<std::vector<Offer>> FluenceProvider::offers(const OfferQuery& query) {
  return read_plans(query);
}

ProviderResult<std::string> FluenceProvider::image_for(const InstanceIntent& intent) {
  std::vector<std::string> images;
  bool known = false;
  {
    MutexLock lock(mu_);
    auto it = os_options_.find(intent.offer.id);
    if (it != os_options_.end()) {
      images = it->second;
      known = true;
    }
  }
  if (!known) {
    auto plans = read_plans(OfferQuery{});
    if (!plans.ok()) return fail(plans.error());
    MutexLock lock(mu_);
    auto it = os_options_.find(intent.offer.id);
    if (it == os_options_.end()) {
      return fail(provider_error(ProviderErrorKind::NoCapacity,
                                 "deploy: plan " + intent.offer.id + " is no longer available"));
    }
    images = it->second;
  }
  auto listed = [&](const std::string& image) {
    return std::find(images.begin(), images.end(), image) != images.end();
  };
  if (!intent.image.empty()) {
    if (listed(intent.image)) return intent.image;
    std::string offered;
    for (const auto& i : images)
      offered += (offered.empty() ? "" : ", ") + i;
    return fail(provider_error(ProviderErrorKind::InvalidRequest,
                               "deploy: OS image '" + intent.image + "' is not supported by plan " +
                                   intent.offer.id + " (it offers: " + offered + ")"));
  }
  if (!config_.os_image.empty() && listed(config_.os_image)) return config_.os_image;
  for (const auto& i : images) {
    if (net::icontains(i, "cuda")) return i;
  }
  if (images.empty()) {
    return fail(provider_error(ProviderErrorKind::InvalidRequest,
                               "deploy: plan " + intent.offer.id + " lists no OS image"));
  }
  return images.front();
}

ProviderResult<std::vector<Offer>> FluenceProvider::read_plans(const OfferQuery& query) {
  auto ans = call("list plans", "GET", "/gpu/plans/vms", "", true);
  if (!ans.ok()) return fail(ans.error());
  std::vector<Offer> out;
  std::map<std::string, std::vector<std::string>> images;
  try {
    json j = json::parse(ans->body);
    for (const auto& model : j.at("data")) {
      std::string gpu = canonical_gpu_model(model.at("gpu_model").at("model").get<std::string>());
      for (const auto& by_count : model.at("availability_by_number")) {
        int count = by_count.at("gpu_count").get<int>();
        for (const auto& opt : by_count.at("options")) {
          if (auto os = opt.find("os_options"); os != opt.end() && os->is_array()) {
            auto& list = images[net::json_str(opt, "id")];
            for (const auto& i : *os) {
              if (i.is_string()) list.push_back(i.get<std::string>());
            }
          }
          std::string location = opt.at("location").get<std::string>();
          Offer o;
          o.provider = config_.provider_name;
          o.provider_type = "fluence";
          o.id = opt.at("id").get<std::string>();
          o.region = location;
          o.gpu_model = gpu;
          o.gpu_count = count;
          auto price = net::price_from_double(opt.at("pricing").at("hour").get<double>());
          if (!price) continue;  // unusable price: not an offer
          o.price_per_hour = *price;
          o.billing = config_.billing;
          o.tier = ReliabilityTier::Datacenter;
          o.source = "live";
          o.as_of = clock_.now();
          if (!matches(o, query)) continue;
          out.push_back(std::move(o));
        }
      }
    }
  } catch (const std::exception& e) {
    return fail(provider_error(
        ProviderErrorKind::Transient,
        std::string("list plans: unreadable answer from Fluence (") + e.what() + ")"));
  }
  MutexLock lock(mu_);
  for (auto& [id, list] : images)
    os_options_[id] = std::move(list);
  return out;
}

ProviderResult<std::vector<Machine>> FluenceProvider::all_vms() {
  auto ans = call("list VMs", "GET", "/gpu/instances/vms", "", true);
  if (!ans.ok()) return fail(ans.error());
  std::vector<Machine> out;
  try {
    json j = json::parse(ans->body);
    if (!j.is_array()) throw std::runtime_error("expected a JSON array");
    for (const auto& vm : j)
      out.push_back(parse_vm(vm));
  } catch (const std::exception& e) {
    return fail(
        provider_error(ProviderErrorKind::Transient,
                       std::string("list VMs: unreadable answer from Fluence (") + e.what() + ")"));
  }
  return out;
}

ProviderResult<Machine> FluenceProvider::find_by_vm_name(const std::string& vm_name) {
  return machine_tagged(all_vms(), "fluence.dev/name", vm_name, "Fluence VM");
}

ProviderResult<Machine> FluenceProvider::get(std::string_view pool_uid, std::string_view name) {
  auto m = find_by_vm_name(fluence_vm_name(pool_uid, name));
  if (!m.ok()) return m;
  m->name = std::string(name);
  m->tags[std::string(kTagPoolUid)] = std::string(pool_uid);
  m->tags[std::string(kTagInstance)] = std::string(name);
  return m;
}

ProviderResult<std::vector<Machine>> FluenceProvider::list(const MachineFilter& filter) {
  auto vms = all_vms();
  if (!vms.ok()) return fail(vms.error());
  std::string prefix =
      filter.pool_uid.empty() ? std::string("gp-") : fluence_pool_prefix(filter.pool_uid);
  std::vector<Machine> out;
  for (auto& m : *vms) {
    const std::string& n = m.tags.at("fluence.dev/name");
    if (!n.starts_with(prefix) || n.size() != 24) continue;
    if (!filter.include_terminated && is_gone(m.state)) continue;
    if (!filter.pool_uid.empty()) m.tags[std::string(kTagPoolUid)] = filter.pool_uid;
    out.push_back(std::move(m));
  }
  return out;
}

ProviderResult<Machine> FluenceProvider::create(const InstanceIntent& intent) {
  // No user data, so nothing could start an Endpoint container.
  if (auto s = container::refuse_container(intent, "fluence: deploy"); !s.ok())
    return fail(s.error());
  if (intent.name.empty() || intent.pool_uid.empty()) {
    return fail(provider_error(ProviderErrorKind::InvalidRequest,
                               "deploy: intent needs a name and a pool uid"));
  }
  if (intent.ssh_public_key.empty()) {
    return fail(provider_error(ProviderErrorKind::InvalidRequest,
                               "deploy: Fluence VMs need an SSH public key"));
  }
  if (intent.offer.id.empty()) {
    return fail(
        provider_error(ProviderErrorKind::InvalidRequest, "deploy: the offer has no plan id"));
  }
  std::string vm_name = fluence_vm_name(intent.pool_uid, intent.name);
  auto finish = [&](Machine m) {
    m.name = intent.name;
    m.tags[std::string(kTagPoolUid)] = intent.pool_uid;
    m.tags[std::string(kTagInstance)] = intent.name;
    m.tags["fluence.dev/name"] = vm_name;
    if (m.offer_id.empty()) m.offer_id = intent.offer.id;
    if (m.price_per_hour.is_zero()) m.price_per_hour = intent.offer.price_per_hour;
    if (m.region.empty()) m.region = intent.offer.region;
    if (m.gpu_model.empty()) m.gpu_model = intent.offer.gpu_model;
    if (m.gpu_count == 0) m.gpu_count = intent.offer.gpu_count;
    return m;
  };
  // No idempotency token at Fluence: a live VM with our name is the answer.
  auto existing = find_by_vm_name(vm_name);
  if (existing.ok() && !is_gone(existing->state)) return finish(*existing);
  if (!existing.ok() && existing.error().kind != ProviderErrorKind::NotFound)
    return fail(existing.error());

  auto image = image_for(intent);
  if (!image.ok()) return fail(image.error());
  json body = {{"plan_id", intent.offer.id},
               {"name", vm_name},
               {"ssh_key", intent.ssh_public_key},
               {"os_image", *image}};
  auto ans = call("deploy", "POST", "/gpu/instances/vms", net::json_text(body), false);
  if (!ans.ok()) {
    if (ans.error().kind != ProviderErrorKind::Transient) return fail(ans.error());
    // Ambiguous: the VM may exist. Look once more before giving up.
    auto again = find_by_vm_name(vm_name);
    if (again.ok() && !is_gone(again->state)) return finish(*again);
    return fail(ans.error());
  }
  Machine m;
  try {
    json j = json::parse(ans->body);
    m.provider_id = j.at("instance_id").get<std::string>();
  } catch (const std::exception& e) {
    auto again = find_by_vm_name(vm_name);
    if (again.ok() && !is_gone(again->state)) return finish(*again);
    return fail(
        provider_error(ProviderErrorKind::Transient,
                       std::string("deploy: unreadable answer from Fluence (") + e.what() + ")"));
  }
  m.state = MachineState::Pending;
  m.provider_state = "INITIALIZED";
  m.launch_time = clock_.now();
  return finish(std::move(m));
}

ProviderStatus FluenceProvider::terminate(std::string_view provider_id) {
  if (provider_id.empty() || provider_id.find('/') != std::string_view::npos) {
    return fail(provider_error(ProviderErrorKind::InvalidRequest, "terminate: invalid VM id"));
  }
  std::string path = "/gpu/instances/vms/" + net::percent_encode(provider_id);
  auto ans = call("get VM", "GET", path, "", true);
  if (!ans.ok()) return fail(ans.error());
  Machine m;
  try {
    m = parse_vm(json::parse(ans->body));
  } catch (const std::exception& e) {
    return fail(net::unreadable_answer("get VM", e));
  }
  if (is_gone(m.state)) {
    return fail(provider_error(ProviderErrorKind::NotFound,
                               "VM " + std::string(provider_id) + " is " + m.provider_state));
  }
  if (m.state != MachineState::Running) {
    return fail(provider_error(ProviderErrorKind::Transient,
                               "VM " + std::string(provider_id) + " is " + m.provider_state +
                                   "; Fluence deletes only ACTIVE VMs, call again"));
  }
  auto del = call("delete VM", "DELETE", path, "", true);
  if (!del.ok()) {
    if (del.error().kind == ProviderErrorKind::InvalidRequest) {
      // A 400 here means the state moved under us; the next call sorts it out.
      ProviderError e = del.error();
      e.kind = ProviderErrorKind::Transient;
      return fail(e);
    }
    return fail(del.error());
  }
  return ProviderStatus::success();
}

}  // namespace gpupool::fluence
