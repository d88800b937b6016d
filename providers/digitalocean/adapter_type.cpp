#include "providers/digitalocean/digitalocean_provider.h"

#include "providers/factory/adapter_table.h"

namespace gpupool::digitalocean {

factory::AdapterType adapter_type() {
  return factory::adapter<DoProvider, DoConfig>(
      "digitalocean", {{"apiToken", true}}, "",
      [](const factory::AdapterContext& ctx, DoConfig& c) {
        c.api_token = ctx.credential("apiToken");
      });
}

}  // namespace gpupool::digitalocean
