#include "providers/aws/ec2_provider.h"

#include "providers/catalog/catalog.h"
#include "providers/factory/adapter_table.h"

namespace gpupool::aws {

factory::AdapterType adapter_type() {
  return factory::adapter<Ec2Provider, Ec2Config>(
      "aws", {{"accessKeyId", true}, {"secretAccessKey", true}, {"sessionToken", false}}, "aws",
      [](const factory::AdapterContext& ctx, Ec2Config& c) {
        const api::GpuProviderSpec& spec = ctx.provider.spec;
        if (!spec.regions.empty()) c.region = spec.regions.front();
        c.credentials.access_key_id = ctx.credential("accessKeyId");
        c.credentials.secret_access_key = ctx.credential("secretAccessKey");
        c.credentials.session_token = ctx.credential("sessionToken");
        if (spec.aws) {
          c.image_id = spec.aws->image_id;
          c.subnet_id = spec.aws->subnet_id;
          c.security_group_ids = spec.aws->security_group_ids;
          c.key_name = spec.aws->key_name;
        }
        // EC2 has no price API: instance-type prices come from the catalog.
        for (const Offer& o : catalog::offers_for(ctx.provider, catalog::planning_options()))
          c.prices.emplace(o.id, o.price_per_hour);
      });
}

}  // namespace gpupool::aws
