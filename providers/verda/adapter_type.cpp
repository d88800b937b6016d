#include "providers/verda/verda_provider.h"

#include "providers/factory/adapter_table.h"

namespace gpupool::verda {

factory::AdapterType adapter_type() {
  return factory::adapter<VerdaProvider, VerdaConfig>(
      "verda", {{"clientId", true}, {"clientSecret", true}}, "",
      [](const factory::AdapterContext& ctx, VerdaConfig& c) {
        c.client_id = ctx.credential("clientId");
        c.client_secret = ctx.credential("clientSecret");
        if (const auto& verda = ctx.provider.spec.verda) {
          if (!verda->image.empty()) c.image = verda->image;
          c.ssh_key_ids = verda->ssh_key_ids;
        }
      });
}

}  // namespace gpupool::verda
