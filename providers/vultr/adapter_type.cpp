#include "providers/vultr/vultr_provider.h"

#include "providers/factory/adapter_table.h"

namespace gpupool::vultr {

factory::AdapterType adapter_type() {
  return factory::adapter<VultrProvider, VultrConfig>(
      "vultr", {{"apiKey", true}}, "", [](const factory::AdapterContext& ctx, VultrConfig& c) {
        c.api_key = ctx.credential("apiKey");
      });
}

}  // namespace gpupool::vultr
