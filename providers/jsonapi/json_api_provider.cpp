#include "providers/jsonapi/json_api_provider.h"

#include "providers/container/container_start_script.h"
#include "providers/http/provider_errors.h"

namespace gpupool::jsonapi {

JsonApiProvider::JsonApiProvider(AdapterSpec spec, net::HttpTransport& transport,
                                 const Clock& clock, net::Sleeper& sleeper)
    : spec_(std::move(spec)),
      clock_(clock),
      client_(transport, clock, sleeper,
              net::api_client_options(spec_.http, spec_.type, spec_.api.endpoint)),
      api_(client_, spec_.api) {}

ProviderResult<Machine> JsonApiProvider::get(std::string_view pool_uid, std::string_view name) {
  return machine_named(list_all(pool_uid, name), pool_uid, name, spec_.get_live_only,
                       spec_.machine_noun);
}

ProviderResult<std::vector<Machine>> JsonApiProvider::list(const MachineFilter& filter) {
  return owned_machines(list_all(filter.pool_uid, ""), filter, spec_.require_managed_tag);
}

ProviderResult<net::Response> JsonApiProvider::send(const std::string& what,
                                                    const std::string& method,
                                                    const std::string& path,
                                                    const std::string& body, bool idempotent,
                                                    const std::string& content_type) {
  return api_.send(what, method, path, body, idempotent, content_type);
}

ProviderResult<std::string> JsonApiProvider::call(const std::string& what,
                                                  const std::string& method,
                                                  const std::string& path, const std::string& body,
                                                  bool idempotent) {
  return api_.call(what, method, path, body, idempotent);
}

ProviderStatus JsonApiProvider::read_pages(const std::string& what, std::string path, int max_pages,
                                           const PageReader& read) {
  for (int page = 0; page < max_pages; ++page) {
    auto ans = send(what, "GET", path, "", true);
    if (!ans.ok()) return fail(ans.error());
    try {
      path = read(nlohmann::json::parse(ans->body), *ans);
    } catch (const std::exception& e) {
      return fail(net::unreadable_answer(what, e));
    }
    if (path.empty()) return ProviderStatus::success();
  }
  return fail(provider_error(ProviderErrorKind::Transient,
                             what + ": more than " + std::to_string(max_pages) + " pages"));
}

void JsonApiProvider::add_offer(std::vector<Offer>& out, const OfferQuery& query, Offer o) const {
  o.provider = spec_.provider_name;
  o.provider_type = spec_.type;
  o.source = "live";
  o.as_of = clock_.now();
  if (matches(o, query)) out.push_back(std::move(o));
}

ProviderResult<std::optional<Machine>> JsonApiProvider::existing(const InstanceIntent& intent) {
  auto m = get(intent.pool_uid, intent.name);
  if (m.ok()) {
    if (is_gone(m->state)) return std::optional<Machine>();
    return std::optional<Machine>(std::move(*m));
  }
  if (m.error().kind == ProviderErrorKind::NotFound) return std::optional<Machine>();
  return fail(m.error());
}

ProviderResult<Machine> JsonApiProvider::found_or(const InstanceIntent& intent,
                                                  const ProviderError& e) {
  auto again = existing(intent);
  if (again.ok() && *again) return std::move(**again);
  return fail(e);
}

Machine bought_machine(const InstanceIntent& intent, std::string provider_id,
                       std::string provider_state, Time now) {
  Machine m;
  m.provider_id = std::move(provider_id);
  m.name = intent.name;
  m.state = MachineState::Pending;
  m.provider_state = std::move(provider_state);
  m.offer_id = intent.offer.id;
  m.region = intent.offer.region;
  m.gpu_model = intent.offer.gpu_model;
  m.gpu_count = intent.offer.gpu_count;
  m.price_per_hour = intent.offer.price_per_hour;
  m.launch_time = now;
  m.tags = {{std::string(kTagPoolUid), intent.pool_uid},
            {std::string(kTagInstance), intent.name},
            {std::string(kTagManagedBy), std::string(kTagManagedByValue)}};
  if (!intent.container.image.empty())
    m.tags[std::string(container::kTagContainerPort)] = std::to_string(intent.container.port);
  return m;
}

}  // namespace gpupool::jsonapi
