#pragma once
// RemoteFakeProvider: the Provider interface over HTTP to a fake-provider
// server (tests/operator/fake_provider_server), so a FakeProvider's machines
// and ledger outlive operator restarts (the SIGKILL chaos test). A
// GpuProvider of type "fake" with spec.endpoint set uses it.
//
// Protocol (JSON, one endpoint): POST <endpoint>/call with
//   {"method":"offers"|"create"|"get"|"list"|"terminate", ...arguments}
// answered 200 with {"ok":true,"result":...} or
//   {"ok":false,"error":{"kind":"NoCapacity","message":"..."}}.
// Arguments: offers {"query":{...}}; create {"intent":{...}};
// get {"poolUid","name"}; list {"poolUid","includeTerminated"};
// terminate {"providerId"}. The codecs below are shared by client and
// server. A transport failure or a non-200 answer is Transient.
//
// Thread-safety: safe to call concurrently (libcurl handles are pooled).

#include <memory>
#include <string>

#include <nlohmann/json.hpp>

#include "providers/provider.h"

namespace gpupool::controllers {

nlohmann::json encode_offer(const Offer& o);
std::optional<Offer> decode_offer(const nlohmann::json& j);
nlohmann::json encode_machine(const Machine& m);
std::optional<Machine> decode_machine(const nlohmann::json& j);
nlohmann::json encode_intent(const InstanceIntent& i);
std::optional<InstanceIntent> decode_intent(const nlohmann::json& j);
nlohmann::json encode_error(const ProviderError& e);
ProviderError decode_error(const nlohmann::json& j);
std::optional<ProviderErrorKind> parse_provider_error_kind(std::string_view s);

class RemoteFakeProvider final : public Provider {
 public:
  RemoteFakeProvider(std::string name, std::string endpoint);
  ~RemoteFakeProvider() override;

  const std::string& name() const override { return name_; }
  std::string_view type() const override { return "fake"; }
  // The server keeps each create's userData, as a cloud-init provider would.
  UserDataSupport user_data_support() const override { return UserDataSupport::CloudInit; }
  ProviderResult<std::vector<Offer>> offers(const OfferQuery& query) override;
  ProviderResult<Machine> create(const InstanceIntent& intent) override;
  ProviderResult<Machine> get(std::string_view pool_uid, std::string_view name) override;
  ProviderResult<std::vector<Machine>> list(const MachineFilter& filter) override;
  ProviderStatus terminate(std::string_view provider_id) override;

 private:
  ProviderResult<nlohmann::json> call(const nlohmann::json& request);

  std::string name_;
  std::string endpoint_;
  struct Transport;
  std::unique_ptr<Transport> transport_;
};

}  // namespace gpupool::controllers
