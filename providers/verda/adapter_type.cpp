#include "providers/verda/verda_provider.h"

#include "providers/factory/adapter_table.h"

namespace gpupool::verda {

factory::AdapterType adapter_type() {
  factory::AdapterType t;
  t.type = "verda";
  t.credentials = {{"clientId", true}, {"clientSecret", true}};
  t.settings_block = "";
  t.construct = [](const factory::AdapterContext& ctx) -> std::unique_ptr<Provider> {
    VerdaConfig c;
    c.provider_name = ctx.provider.metadata.name;
    c.endpoint = ctx.endpoint(c.endpoint);
    c.client_id = ctx.credential("clientId");
    c.client_secret = ctx.credential("clientSecret");
    return std::make_unique<VerdaProvider>(std::move(c), ctx.transport, ctx.clock, ctx.sleeper);
  };
  return t;
}

}  // namespace gpupool::verda
