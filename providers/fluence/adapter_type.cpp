#include "providers/fluence/fluence_provider.h"

#include "providers/factory/adapter_table.h"

namespace gpupool::fluence {

factory::AdapterType adapter_type() {
  return factory::adapter<FluenceProvider, FluenceConfig>(
      "fluence", {{"apiKey", true}}, "fluence",
      [](const factory::AdapterContext& ctx, FluenceConfig& c) {
        const api::GpuProviderSpec& spec = ctx.provider.spec;
        c.api_key = ctx.credential("apiKey");
        if (spec.fluence) c.os_image = spec.fluence->os_image;
      });
}

}  // namespace gpupool::fluence
