#include "operator/manager/leader_fence.h"

namespace gpupool::manager {

using kube::ApiResult;
using kube::Json;

std::optional<kube::ApiError> LeaderFencedApi::refuse(const char* verb, const kube::Resource& r,
                                                      const std::string& name) {
  if (may_write_()) return std::nullopt;
  refused_.fetch_add(1);
  return kube::make_error(kube::ErrorKind::Unavailable,
                          std::string("not sent: this replica does not hold the leader lease (") +
                              verb + " " + r.resource + " \"" + name + "\")");
}

ApiResult<Json> LeaderFencedApi::get(const kube::Resource& r, const std::string& ns,
                                     const std::string& name, const kube::GetOptions& opts) {
  return inner_.get(r, ns, name, opts);
}

ApiResult<kube::ObjectList> LeaderFencedApi::list(const kube::Resource& r, const std::string& ns,
                                                  const kube::ListOptions& opts) {
  return inner_.list(r, ns, opts);
}

ApiResult<Json> LeaderFencedApi::create(const kube::Resource& r, const std::string& ns,
                                        const Json& obj, const kube::CreateOptions& opts) {
  const std::string name =
      obj.contains("metadata") && obj["metadata"].is_object()
          ? obj["metadata"].value("name", obj["metadata"].value("generateName", ""))
          : "";
  if (auto e = refuse("create", r, name)) return fail(std::move(*e));
  return inner_.create(r, ns, obj, opts);
}

ApiResult<Json> LeaderFencedApi::update(const kube::Resource& r, const Json& obj,
                                        const kube::UpdateOptions& opts) {
  const std::string name = obj.contains("metadata") && obj["metadata"].is_object()
                               ? obj["metadata"].value("name", "")
                               : "";
  if (auto e = refuse("update", r, name)) return fail(std::move(*e));
  return inner_.update(r, obj, opts);
}

ApiResult<Json> LeaderFencedApi::patch(const kube::Resource& r, const std::string& ns,
                                       const std::string& name, kube::PatchType type,
                                       const Json& patch, const kube::PatchOptions& opts) {
  if (auto e = refuse("patch", r, name)) return fail(std::move(*e));
  return inner_.patch(r, ns, name, type, patch, opts);
}

ApiResult<kube::DeleteResult> LeaderFencedApi::remove(const kube::Resource& r,
                                                      const std::string& ns,
                                                      const std::string& name,
                                                      const kube::DeleteOptions& opts) {
  if (auto e = refuse("delete", r, name)) return fail(std::move(*e));
  return inner_.remove(r, ns, name, opts);
}

ApiResult<std::unique_ptr<kube::WatchStream>> LeaderFencedApi::watch(
    const kube::Resource& r, const std::string& ns, const kube::WatchOptions& opts) {
  return inner_.watch(r, ns, opts);
}

ProviderError LeaderFencedProvider::refused(std::string_view verb, std::string_view what) const {
  return provider_error(ProviderErrorKind::Transient,
                        "not sent: this replica does not hold the leader lease (" +
                            std::string(verb) + " " + std::string(what) + " at " + inner_->name() +
                            ")");
}

ProviderResult<Machine> LeaderFencedProvider::create(const InstanceIntent& intent) {
  if (!may_write_()) return fail(refused("create", intent.name));
  return inner_->create(intent);
}

ProviderStatus LeaderFencedProvider::terminate(std::string_view provider_id) {
  if (!may_write_()) return fail(refused("terminate", provider_id));
  return inner_->terminate(provider_id);
}

}  // namespace gpupool::manager
