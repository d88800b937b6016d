#include "providers/scaleway/scaleway_provider.h"

#include "providers/factory/adapter_table.h"

namespace gpupool::scaleway {

factory::AdapterType adapter_type() {
  return factory::adapter<ScwProvider, ScwConfig>(
      "scaleway", {{"secretKey", true}}, "scaleway",
      [](const factory::AdapterContext& ctx, ScwConfig& c) {
        const api::GpuProviderSpec& spec = ctx.provider.spec;
        c.secret_key = ctx.credential("secretKey");
        if (spec.scaleway) c.project_id = spec.scaleway->project_id;
        if (!spec.regions.empty()) c.zones = spec.regions;
      });
}

}  // namespace gpupool::scaleway
