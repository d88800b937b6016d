#pragma once
// LeaderFencedApi: the KubeApi the controllers write through when leader
// election is on. Reads and watches pass straight through; create, update,
// patch and remove first ask `may_write` (the elector's holds_lease()) and,
// when it says no, fail with Unavailable without sending anything, so a
// replica that has lost (or can no longer prove) the lease changes nothing in
// the cluster from that instant, even while its workers are still finishing
// a reconcile. The reconcilers treat Unavailable as transient and back off;
// the process is on its way out by then (run_cmd exits on lost leadership).
//
// The informers, the Secret watches and the elector itself use the inner
// API directly: they must keep working regardless of leadership.
//
// LeaderFencedProvider does the same for a provider adapter: create() and
// terminate() fail with Transient ("not sent") when `may_write` says no;
// offers, get and list pass. The manager hands the ProviderRegistry a
// wrapper that fences every adapter it builds, of every type ("fake" ones
// included), so no provider mutation leaves a replica that is not leading.
// The manager also gates the reconcile functions (see manager.cpp), so a
// fenced replica does not even start the work.
//
// Thread-safety: as the inner KubeApi / Provider; `may_write` is called from
// any thread.

#include <atomic>
#include <functional>
#include <memory>
#include <optional>
#include <string>

#include "operator/kube/api/api.h"
#include "providers/provider.h"

namespace gpupool::manager {

class LeaderFencedApi final : public kube::KubeApi {
 public:
  LeaderFencedApi(kube::KubeApi& inner, std::function<bool()> may_write)
      : inner_(inner), may_write_(std::move(may_write)) {}

  kube::ApiResult<kube::Json> get(const kube::Resource& r, const std::string& ns,
                                  const std::string& name,
                                  const kube::GetOptions& opts = {}) override;
  kube::ApiResult<kube::ObjectList> list(const kube::Resource& r, const std::string& ns,
                                         const kube::ListOptions& opts = {}) override;
  kube::ApiResult<kube::Json> create(const kube::Resource& r, const std::string& ns,
                                     const kube::Json& obj,
                                     const kube::CreateOptions& opts = {}) override;
  kube::ApiResult<kube::Json> update(const kube::Resource& r, const kube::Json& obj,
                                     const kube::UpdateOptions& opts = {}) override;
  kube::ApiResult<kube::Json> patch(const kube::Resource& r, const std::string& ns,
                                    const std::string& name, kube::PatchType type,
                                    const kube::Json& patch,
                                    const kube::PatchOptions& opts = {}) override;
  kube::ApiResult<kube::DeleteResult> remove(const kube::Resource& r, const std::string& ns,
                                             const std::string& name,
                                             const kube::DeleteOptions& opts = {}) override;
  kube::ApiResult<std::unique_ptr<kube::WatchStream>> watch(
      const kube::Resource& r, const std::string& ns, const kube::WatchOptions& opts = {}) override;

  // Writes refused so far (tests and the log).
  uint64_t refused_total() const { return refused_.load(); }

 private:
  // nullopt when the write may go ahead; else the error to return.
  std::optional<kube::ApiError> refuse(const char* verb, const kube::Resource& r,
                                       const std::string& name);

  kube::KubeApi& inner_;
  const std::function<bool()> may_write_;
  std::atomic<uint64_t> refused_{0};
};

class LeaderFencedProvider final : public Provider {
 public:
  LeaderFencedProvider(std::unique_ptr<Provider> inner, std::function<bool()> may_write)
      : inner_(std::move(inner)), may_write_(std::move(may_write)) {}

  const std::string& name() const override { return inner_->name(); }
  std::string_view type() const override { return inner_->type(); }
  UserDataSupport user_data_support() const override { return inner_->user_data_support(); }
  ProviderResult<std::vector<Offer>> offers(const OfferQuery& query) override {
    return inner_->offers(query);
  }
  ProviderResult<Machine> create(const InstanceIntent& intent) override;
  ProviderResult<Machine> get(std::string_view pool_uid, std::string_view name) override {
    return inner_->get(pool_uid, name);
  }
  ProviderResult<std::vector<Machine>> list(const MachineFilter& filter) override {
    return inner_->list(filter);
  }
  ProviderStatus terminate(std::string_view provider_id) override;

 private:
  ProviderError refused(std::string_view verb, std::string_view what) const;

  const std::unique_ptr<Provider> inner_;
  const std::function<bool()> may_write_;
};

}  // namespace gpupool::manager
