// The adapter half of the provider_<name> fuzz targets: CMake compiles this
// file once per adapter (GPUPOOL_FUZZ_ADAPTER_<NAME>); the rest of the
// target, provider_responses.cpp, is the same for every adapter and is
// compiled once.
#include "fuzz/provider_adapter.h"

#include <memory>
#include <string>

#if defined(GPUPOOL_FUZZ_ADAPTER_AWS)
#include "providers/aws/ec2_provider.h"
using namespace gpupool::aws;  // NOLINT(google-build-using-namespace)
#elif defined(GPUPOOL_FUZZ_ADAPTER_DIGITALOCEAN)
#include "providers/digitalocean/digitalocean_provider.h"
using namespace gpupool::digitalocean;  // NOLINT(google-build-using-namespace)
#elif defined(GPUPOOL_FUZZ_ADAPTER_FLUENCE)
#include "providers/fluence/fluence_provider.h"
using namespace gpupool::fluence;  // NOLINT(google-build-using-namespace)
#elif defined(GPUPOOL_FUZZ_ADAPTER_LAMBDA)
#include "providers/lambda/lambda_provider.h"
using namespace gpupool::lambda;  // NOLINT(google-build-using-namespace)
#elif defined(GPUPOOL_FUZZ_ADAPTER_RUNPOD)
#include "providers/runpod/runpod_provider.h"
using namespace gpupool::runpod;  // NOLINT(google-build-using-namespace)
#elif defined(GPUPOOL_FUZZ_ADAPTER_SCALEWAY)
#include "providers/scaleway/scaleway_provider.h"
using namespace gpupool::scaleway;  // NOLINT(google-build-using-namespace)
#elif defined(GPUPOOL_FUZZ_ADAPTER_VASTAI)
#include "providers/vastai/vastai_provider.h"
using namespace gpupool::vastai;  // NOLINT(google-build-using-namespace)
#elif defined(GPUPOOL_FUZZ_ADAPTER_VERDA)
#include "providers/verda/verda_provider.h"
using namespace gpupool::verda;  // NOLINT(google-build-using-namespace)
#elif defined(GPUPOOL_FUZZ_ADAPTER_VULTR)
#include "providers/vultr/vultr_provider.h"
using namespace gpupool::vultr;  // NOLINT(google-build-using-namespace)
#else
#error "define one GPUPOOL_FUZZ_ADAPTER_<NAME>"
#endif

namespace gpupool::fuzz {
namespace {

template <typename Config>
void common(Config& c, const net::LogSink& log) {
  c.provider_name = "fuzz";
  c.http.max_attempts = 3;
  c.http.jitter_seed = 1;
  c.http.log = log;
}

}  // namespace

std::unique_ptr<Provider> make_provider(net::HttpTransport& t, const Clock& clock,
                                        net::Sleeper& sleeper, const net::LogSink& log,
                                        std::string_view key) {
  const std::string secret(key);
#if defined(GPUPOOL_FUZZ_ADAPTER_AWS)
  Ec2Config c;
  common(c, log);
  c.endpoint = "https://ec2.fuzz.invalid";
  c.credentials = {"AKIDFUZZ", secret, ""};
  c.image_id = "ami-0123456789abcdef0";
  c.prices = {{"g6e.xlarge", Money::from_micros(1'861'000)},
              {"g6e.12xlarge", Money::from_micros(10'493'000)}};
  return std::make_unique<Ec2Provider>(c, t, clock, sleeper);
#elif defined(GPUPOOL_FUZZ_ADAPTER_DIGITALOCEAN)
  DoConfig c;
  common(c, log);
  c.endpoint = "https://do.fuzz.invalid";
  c.api_token = secret;
  return std::make_unique<DoProvider>(c, t, clock, sleeper);
#elif defined(GPUPOOL_FUZZ_ADAPTER_FLUENCE)
  FluenceConfig c;
  common(c, log);
  c.endpoint = "https://fluence.fuzz.invalid";
  c.api_key = secret;
  return std::make_unique<FluenceProvider>(c, t, clock, sleeper);
#elif defined(GPUPOOL_FUZZ_ADAPTER_LAMBDA)
  LambdaConfig c;
  common(c, log);
  c.endpoint = "https://lambda.fuzz.invalid";
  c.api_key = secret;
  c.ssh_key_name = "fuzz-key";
  return std::make_unique<LambdaProvider>(c, t, clock, sleeper);
#elif defined(GPUPOOL_FUZZ_ADAPTER_RUNPOD)
  RunpodConfig c;
  common(c, log);
  c.endpoint = "https://runpod.fuzz.invalid";
  c.api_key = secret;
  return std::make_unique<RunpodProvider>(c, t, clock, sleeper);
#elif defined(GPUPOOL_FUZZ_ADAPTER_SCALEWAY)
  ScwConfig c;
  common(c, log);
  c.endpoint = "https://scw.fuzz.invalid";
  c.secret_key = secret;
  c.project_id = "11111111-2222-3333-4444-555555555555";
  return std::make_unique<ScwProvider>(c, t, clock, sleeper);
#elif defined(GPUPOOL_FUZZ_ADAPTER_VASTAI)
  VastConfig c;
  common(c, log);
  c.endpoint = "https://vast.fuzz.invalid";
  c.api_key = secret;
  return std::make_unique<VastProvider>(c, t, clock, sleeper);
#elif defined(GPUPOOL_FUZZ_ADAPTER_VERDA)
  VerdaConfig c;
  common(c, log);
  c.endpoint = "https://verda.fuzz.invalid/v1";
  c.client_id = "fuzz-client";
  c.client_secret = secret;
  return std::make_unique<VerdaProvider>(c, t, clock, sleeper);
#elif defined(GPUPOOL_FUZZ_ADAPTER_VULTR)
  VultrConfig c;
  common(c, log);
  c.endpoint = "https://vultr.fuzz.invalid";
  c.api_key = secret;
  return std::make_unique<VultrProvider>(c, t, clock, sleeper);
#endif
}

}  // namespace gpupool::fuzz
