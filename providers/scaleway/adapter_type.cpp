#include "providers/scaleway/scaleway_provider.h"

#include "providers/factory/adapter_table.h"

namespace gpupool::scaleway {

factory::AdapterType adapter_type() {
  factory::AdapterType t;
  t.type = "scaleway";
  t.credentials = {{"secretKey", true}};
  t.settings_block = "scaleway";
  t.construct = [](const factory::AdapterContext& ctx) -> std::unique_ptr<Provider> {
    ScwConfig c;
    c.provider_name = ctx.provider.metadata.name;
    c.endpoint = ctx.endpoint(c.endpoint);
    const api::GpuProviderSpec& spec = ctx.provider.spec;
    c.secret_key = ctx.credential("secretKey");
    if (spec.scaleway) c.project_id = spec.scaleway->project_id;
    if (!spec.regions.empty()) c.zones = spec.regions;
    return std::make_unique<ScwProvider>(std::move(c), ctx.transport, ctx.clock, ctx.sleeper);
  };
  return t;
}

}  // namespace gpupool::scaleway
