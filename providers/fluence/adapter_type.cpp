#include "providers/fluence/fluence_provider.h"

#include "providers/factory/adapter_table.h"

namespace gpupool::fluence {

factory::AdapterType adapter_type() {
  factory::AdapterType t;
  t.type = "fluence";
  t.credentials = {{"apiKey", true}};
  t.settings_block = "fluence";
  t.construct = [](const factory::AdapterContext& ctx) -> std::unique_ptr<Provider> {
    FluenceConfig c;
    c.provider_name = ctx.provider.metadata.name;
    c.endpoint = ctx.endpoint(c.endpoint);
    const api::GpuProviderSpec& spec = ctx.provider.spec;
    c.api_key = ctx.credential("apiKey");
    if (spec.fluence) c.os_image = spec.fluence->os_image;
    return std::make_unique<FluenceProvider>(std::move(c), ctx.transport, ctx.clock, ctx.sleeper);
  };
  return t;
}

}  // namespace gpupool::fluence
