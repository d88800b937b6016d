#include "operator/controllers/remote_fake_provider.h"

#include "operator/core/api_codec.h"
#include "providers/http/curl_transport.h"

namespace gpupool::controllers {
namespace {

using nlohmann::json;

constexpr ProviderErrorKind kKinds[] = {
    ProviderErrorKind::NoCapacity,     ProviderErrorKind::QuotaExceeded,
    ProviderErrorKind::RateLimited,    ProviderErrorKind::Unauthorized,
    ProviderErrorKind::InvalidRequest, ProviderErrorKind::Transient,
    ProviderErrorKind::NotFound,
};
constexpr MachineState kStates[] = {MachineState::Pending,     MachineState::Running,
                                    MachineState::Terminating, MachineState::Terminated,
                                    MachineState::Failed,      MachineState::Unknown};

std::optional<Money> money(const json& j, const char* key) {
  if (!j.contains(key) || !j[key].is_string()) return std::nullopt;
  return Money::parse(j[key].get<std::string>());
}

json encode_rule(const BillingRule& r) {
  return {{"minimum", r.minimum.count()},
          {"increment", r.increment.count()},
          {"alignment", std::string(api::to_string(r.alignment))},
          {"minimumKind", std::string(api::to_string(r.minimum_kind))},
          {"egressPerGb", r.egress_per_gb.to_string()}};
}

std::optional<BillingRule> decode_rule(const json& j) {
  if (!j.is_object()) return std::nullopt;
  BillingRule r;
  r.minimum = Duration{j.value("minimum", int64_t{0})};
  r.increment = Duration{j.value("increment", int64_t{1})};
  auto a = api::parse_billing_alignment(j.value("alignment", "Launch"));
  auto k = api::parse_minimum_kind(j.value("minimumKind", "Charge"));
  auto e = money(j, "egressPerGb");
  if (!a || !k || !e) return std::nullopt;
  r.alignment = *a;
  r.minimum_kind = *k;
  r.egress_per_gb = *e;
  return r;
}

}  // namespace

std::optional<ProviderErrorKind> parse_provider_error_kind(std::string_view s) {
  for (auto k : kKinds) {
    if (to_string(k) == s) return k;
  }
  return std::nullopt;
}

json encode_offer(const Offer& o) {
  return {{"provider", o.provider},
          {"providerType", o.provider_type},
          {"id", o.id},
          {"region", o.region},
          {"gpuModel", o.gpu_model},
          {"gpuCount", o.gpu_count},
          {"pricePerHour", o.price_per_hour.to_string()},
          {"billing", encode_rule(o.billing)},
          {"tier", std::string(api::to_string(o.tier))},
          {"spot", o.spot},
          {"capacityHint", o.capacity_hint}};
}

std::optional<Offer> decode_offer(const json& j) {
  try {
    Offer o;
    o.provider = j.at("provider").get<std::string>();
    o.provider_type = j.at("providerType").get<std::string>();
    o.id = j.at("id").get<std::string>();
    o.region = j.at("region").get<std::string>();
    o.gpu_model = j.at("gpuModel").get<std::string>();
    o.gpu_count = j.at("gpuCount").get<int>();
    auto p = money(j, "pricePerHour");
    auto b = decode_rule(j.at("billing"));
    auto t = api::parse_reliability_tier(j.at("tier").get<std::string>());
    if (!p || !b || !t) return std::nullopt;
    o.price_per_hour = *p;
    o.billing = *b;
    o.tier = *t;
    o.spot = j.at("spot").get<bool>();
    o.capacity_hint = j.at("capacityHint").get<int>();
    return o;
  } catch (const json::exception&) {
    return std::nullopt;
  }
}

json encode_machine(const Machine& m) {
  json j = {{"providerId", m.provider_id},
            {"name", m.name},
            {"state", std::string(to_string(m.state))},
            {"region", m.region},
            {"offerId", m.offer_id},
            {"gpuModel", m.gpu_model},
            {"gpuCount", m.gpu_count},
            {"pricePerHour", m.price_per_hour.to_string()},
            {"tags", m.tags}};
  if (m.launch_time) j["launchTime"] = m.launch_time->time_since_epoch().count();
  if (!m.public_address.empty()) j["publicAddress"] = m.public_address;
  if (m.public_port != 0) j["publicPort"] = m.public_port;
  return j;
}

std::optional<Machine> decode_machine(const json& j) {
  try {
    Machine m;
    m.provider_id = j.at("providerId").get<std::string>();
    m.name = j.at("name").get<std::string>();
    const std::string state = j.at("state").get<std::string>();
    m.state = MachineState::Unknown;
    for (auto s : kStates) {
      if (to_string(s) == state) m.state = s;
    }
    m.region = j.at("region").get<std::string>();
    m.offer_id = j.at("offerId").get<std::string>();
    m.gpu_model = j.at("gpuModel").get<std::string>();
    m.gpu_count = j.at("gpuCount").get<int>();
    auto p = money(j, "pricePerHour");
    if (!p) return std::nullopt;
    m.price_per_hour = *p;
    m.tags = j.at("tags").get<std::map<std::string, std::string>>();
    m.public_address = j.value("publicAddress", "");
    m.public_port = j.value("publicPort", 0);
    if (j.contains("launchTime")) m.launch_time = Time{Duration{j["launchTime"].get<int64_t>()}};
    return m;
  } catch (const json::exception&) {
    return std::nullopt;
  }
}

json encode_intent(const InstanceIntent& i) {
  return {{"name", i.name},
          {"poolUid", i.pool_uid},
          {"poolNamespace", i.pool_namespace},
          {"poolName", i.pool_name},
          {"offer", encode_offer(i.offer)},
          {"userData", i.user_data},
          {"image", i.image},
          {"container",
           {{"image", i.container.image},
            {"port", i.container.port},
            {"args", i.container.args},
            {"env", i.container.env},
            {"diskGb", i.container.disk_gb}}},
          {"labels", i.labels}};
}

std::optional<InstanceIntent> decode_intent(const json& j) {
  try {
    InstanceIntent i;
    i.name = j.at("name").get<std::string>();
    i.pool_uid = j.at("poolUid").get<std::string>();
    i.pool_namespace = j.at("poolNamespace").get<std::string>();
    i.pool_name = j.at("poolName").get<std::string>();
    auto o = decode_offer(j.at("offer"));
    if (!o) return std::nullopt;
    i.offer = *o;
    i.user_data = j.value("userData", "");
    i.image = j.value("image", "");
    if (const auto c = j.find("container"); c != j.end()) {
      i.container.image = c->value("image", "");
      i.container.port = c->value("port", 0);
      i.container.args = c->value("args", std::vector<std::string>{});
      i.container.env = c->value("env", std::map<std::string, std::string>{});
      i.container.disk_gb = c->value("diskGb", 0);
    }
    i.labels = j.value("labels", std::map<std::string, std::string>{});
    return i;
  } catch (const json::exception&) {
    return std::nullopt;
  }
}

json encode_error(const ProviderError& e) {
  return {{"kind", std::string(to_string(e.kind))},
          {"message", e.message},
          {"retryAfterMs", e.retry_after.count()}};
}

ProviderError decode_error(const json& j) {
  ProviderError e;
  if (!j.is_object()) return provider_error(ProviderErrorKind::Transient, "unreadable error");
  auto k = parse_provider_error_kind(j.value("kind", ""));
  e.kind = k.value_or(ProviderErrorKind::Transient);
  e.message = j.value("message", "");
  e.retry_after = std::chrono::milliseconds(j.value("retryAfterMs", int64_t{0}));
  return e;
}

struct RemoteFakeProvider::Transport {
  net::CurlTransport curl;
};

RemoteFakeProvider::RemoteFakeProvider(std::string name, std::string endpoint)
    : name_(std::move(name)),
      endpoint_(std::move(endpoint)),
      transport_(std::make_unique<Transport>()) {
  while (!endpoint_.empty() && endpoint_.back() == '/')
    endpoint_.pop_back();
}

RemoteFakeProvider::~RemoteFakeProvider() = default;

ProviderResult<json> RemoteFakeProvider::call(const json& request) {
  net::Request req;
  req.method = "POST";
  req.url = endpoint_ + "/call";
  req.headers.push_back({"Content-Type", "application/json"});
  req.body = request.dump();
  req.idempotent = false;
  auto r = transport_->curl.send(req);
  if (!r.ok()) {
    return fail(provider_error(ProviderErrorKind::Transient,
                               "fake provider at " + endpoint_ + ": " + r.error().message));
  }
  if (r->status != 200) {
    return fail(provider_error(ProviderErrorKind::Transient,
                               "fake provider answered HTTP " + std::to_string(r->status)));
  }
  json doc = json::parse(r->body, nullptr, false);
  if (doc.is_discarded() || !doc.is_object()) {
    return fail(provider_error(ProviderErrorKind::Transient, "fake provider: unreadable answer"));
  }
  if (!doc.value("ok", false)) return fail(decode_error(doc.value("error", json())));
  return doc.value("result", json());
}

ProviderResult<std::vector<Offer>> RemoteFakeProvider::offers(const OfferQuery& q) {
  auto r = call({{"method", "offers"},
                 {"query",
                  {{"gpuModels", q.gpu_models},
                   {"regions", q.regions},
                   {"minGpuCount", q.min_gpu_count},
                   {"maxGpuCount", q.max_gpu_count},
                   {"includeSpot", q.include_spot},
                   {"includeCommunity", q.include_community}}}});
  if (!r.ok()) return fail(r.error());
  std::vector<Offer> out;
  if (!r->is_array())
    return fail(provider_error(ProviderErrorKind::InvalidRequest, "offers: not a list"));
  for (const auto& o : *r) {
    auto d = decode_offer(o);
    if (!d) return fail(provider_error(ProviderErrorKind::InvalidRequest, "offers: bad offer"));
    d->provider = name_;
    out.push_back(std::move(*d));
  }
  return out;
}

ProviderResult<Machine> RemoteFakeProvider::create(const InstanceIntent& intent) {
  auto r = call({{"method", "create"}, {"intent", encode_intent(intent)}});
  if (!r.ok()) return fail(r.error());
  auto m = decode_machine(*r);
  if (!m) return fail(provider_error(ProviderErrorKind::Transient, "create: bad machine"));
  return *m;
}

ProviderResult<Machine> RemoteFakeProvider::get(std::string_view pool_uid, std::string_view name) {
  auto r = call({{"method", "get"}, {"poolUid", pool_uid}, {"name", name}});
  if (!r.ok()) return fail(r.error());
  auto m = decode_machine(*r);
  if (!m) return fail(provider_error(ProviderErrorKind::Transient, "get: bad machine"));
  return *m;
}

ProviderResult<std::vector<Machine>> RemoteFakeProvider::list(const MachineFilter& filter) {
  auto r = call({{"method", "list"},
                 {"poolUid", filter.pool_uid},
                 {"includeTerminated", filter.include_terminated}});
  if (!r.ok()) return fail(r.error());
  std::vector<Machine> out;
  if (!r->is_array()) return fail(provider_error(ProviderErrorKind::Transient, "list: not a list"));
  for (const auto& j : *r) {
    auto m = decode_machine(j);
    if (!m) return fail(provider_error(ProviderErrorKind::Transient, "list: bad machine"));
    out.push_back(std::move(*m));
  }
  return out;
}

ProviderStatus RemoteFakeProvider::terminate(std::string_view provider_id) {
  auto r = call({{"method", "terminate"}, {"providerId", provider_id}});
  if (!r.ok()) return fail(r.error());
  return {};
}

}  // namespace gpupool::controllers
