#include "operator/controllers/context.h"

#include "operator/core/api_codec.h"
#include "operator/core/api_validation.h"

namespace gpupool::controllers {

kube::IndexFn index_by_provider_gpus() {
  return [](const kube::Json& obj) -> std::vector<std::string> {
    const auto& meta = obj.value("metadata", kube::Json::object());
    if (meta.contains("deletionTimestamp") && !meta["deletionTimestamp"].is_null()) return {};
    const auto spec = obj.find("spec");
    if (spec == obj.end() || !spec->is_object()) return {};
    const auto offer = spec->find("offer");
    if (offer == spec->end() || !offer->is_object()) return {};
    const auto provider = offer->find("provider");
    const auto gpus = offer->find("gpuCount");
    if (provider == offer->end() || !provider->is_string() || gpus == offer->end() ||
        !gpus->is_number_integer()) {
      return {};
    }
    return {provider->get<std::string>() + "/" + std::to_string(gpus->get<int64_t>())};
  };
}

// NOLINTBEGIN(cert-err58-cpp): a failed allocation at start-up ends the process either way.
const kube::Resource kGpuPools{"gpupool.io", "v1alpha1", "gpupools", "GpuPool", true};
const kube::Resource kGpuInstances{"gpupool.io", "v1alpha1", "gpuinstances", "GpuInstance", true};
const kube::Resource kGpuProviders{"gpupool.io", "v1alpha1", "gpuproviders", "GpuProvider", false};
// NOLINTEND(cert-err58-cpp)

std::optional<api::GpuPool> to_pool(const kube::Json& obj) {
  auto r = api::decode_gpu_pool(obj, api::DecodeMode::Lenient);
  if (!r.ok()) return std::nullopt;
  api::apply_defaults(*r);
  return std::move(r).value();
}

std::optional<api::GpuInstance> to_instance(const kube::Json& obj) {
  auto r = api::decode_gpu_instance(obj, api::DecodeMode::Lenient);
  if (!r.ok()) return std::nullopt;
  api::apply_defaults(*r);
  return std::move(r).value();
}

DecodedObjects::DecodedObjects(std::size_t pool_entries, std::size_t instance_entries)
    : pools(&to_pool, pool_entries), instances(&to_instance, instance_entries) {}

std::optional<api::GpuProvider> to_provider(const kube::Json& obj) {
  auto r = api::decode_gpu_provider(obj, api::DecodeMode::Lenient);
  if (!r.ok()) return std::nullopt;
  api::apply_defaults(*r);
  return std::move(r).value();
}

kube::ApiStatus refresh_store(kube::KubeApi& api, const kube::Resource& r, kube::Store& store) {
  auto list = api.list(r, "");
  if (!list.ok()) return fail(list.error());
  std::vector<kube::ObjectPtr> objs;
  for (auto& item : list->items)
    objs.push_back(std::make_shared<const kube::Json>(std::move(item)));
  (void)store.replace(std::move(objs));
  return {};
}

void record_event(Context& ctx, const kube::Json& obj, const std::string& type,
                  const std::string& reason, const std::string& message) {
  (void)ctx.events.record(obj, type, reason, message);
}

}  // namespace gpupool::controllers
