#include "providers/vultr/vultr_provider.h"

#include "providers/factory/adapter_table.h"

namespace gpupool::vultr {

factory::AdapterType adapter_type() {
  return factory::adapter<VultrProvider, VultrConfig>(
      "vultr", {{"apiKey", true}}, "", [](const factory::AdapterContext& ctx, VultrConfig& c) {
        c.api_key = ctx.credential("apiKey");
        if (const auto& vultr = ctx.provider.spec.vultr) {
          if (vultr->os_id) c.os_id = *vultr->os_id;
          c.snapshot_id = vultr->snapshot_id;
          c.ssh_key_ids = vultr->ssh_key_ids;
        }
      });
}

}  // namespace gpupool::vultr
