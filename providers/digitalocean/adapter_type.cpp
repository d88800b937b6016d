#include "providers/digitalocean/digitalocean_provider.h"

#include "providers/factory/adapter_table.h"

namespace gpupool::digitalocean {

factory::AdapterType adapter_type() {
  return factory::adapter<DoProvider, DoConfig>(
      "digitalocean", {{"apiToken", true}}, "",
      [](const factory::AdapterContext& ctx, DoConfig& c) {
        c.api_token = ctx.credential("apiToken");
        if (const auto& digitalocean = ctx.provider.spec.digitalocean) {
          if (!digitalocean->image.empty()) c.image = digitalocean->image;
          c.ssh_keys = digitalocean->ssh_keys;
        }
      });
}

}  // namespace gpupool::digitalocean
