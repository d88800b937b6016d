#include "providers/vultr/vultr_provider.h"

#include "providers/factory/adapter_table.h"

namespace gpupool::vultr {

factory::AdapterType adapter_type() {
  factory::AdapterType t;
  t.type = "vultr";
  t.credentials = {{"apiKey", true}};
  t.settings_block = "";
  t.construct = [](const factory::AdapterContext& ctx) -> std::unique_ptr<Provider> {
    VultrConfig c;
    c.provider_name = ctx.provider.metadata.name;
    c.endpoint = ctx.endpoint(c.endpoint);
    c.api_key = ctx.credential("apiKey");
    return std::make_unique<VultrProvider>(std::move(c), ctx.transport, ctx.clock, ctx.sleeper);
  };
  return t;
}

}  // namespace gpupool::vultr
