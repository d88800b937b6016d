// gpupool-operator: the command-line front. Keeps to dispatch; every command
// lives in operator/cmd/.
#include <iostream>
#include <string>
#include <vector>

#include "operator/clock/clock.h"
#include "operator/cmd/plan_cmd.h"
#include "operator/cmd/run_cmd.h"
#include "operator/cmd/simulate_cmd.h"
#include "providers/aws/ec2_provider.h"
#include "providers/digitalocean/digitalocean_provider.h"
#include "providers/factory/adapter_table.h"
#include "providers/fluence/fluence_provider.h"
#include "providers/lambda/lambda_provider.h"
#include "providers/runpod/runpod_provider.h"
#include "providers/scaleway/scaleway_provider.h"
#include "providers/vastai/vastai_provider.h"
#include "providers/verda/verda_provider.h"
#include "providers/vultr/vultr_provider.h"

#ifndef GPUPOOL_VERSION
#define GPUPOOL_VERSION "0.0.0-dev"
#endif

namespace {

constexpr const char* kUsage =
    R"(gpupool-operator: keeps pools of L40S / L40 GPU machines across providers

Usage: gpupool-operator COMMAND [options]

Commands:
  plan      rank the offers for a GpuPool and show what would be bought
            (gpupool-operator plan --help)
  run       run the operator (gpupool-operator run --help)
  simulate  run the operator's controllers on a demand trace, on a virtual clock,
            and report spend and served demand (gpupool-operator simulate --help)

Options:
  -h, --help     this help
  --version      print the version
)";

// The provider adapters the operator can build: one line per provider type
// (providers/factory/adapter_table.h). The only place that names them.
gpupool::factory::AdapterTable adapter_table() {
  using namespace gpupool;
  return factory::AdapterTable({
      aws::adapter_type(),
      fluence::adapter_type(),
      runpod::adapter_type(),
      vastai::adapter_type(),
      lambda::adapter_type(),
      verda::adapter_type(),
      digitalocean::adapter_type(),
      scaleway::adapter_type(),
      vultr::adapter_type(),
  });
}

}  // namespace

int main(int argc, char** argv) {
  std::vector<std::string> args(argv + 1, argv + argc);
  if (args.empty()) {
    std::cerr << kUsage;
    return gpupool::cmd::kExitUsage;
  }
  const std::string command = args.front();
  args.erase(args.begin());
  if (command == "-h" || command == "--help" || command == "help") {
    std::cout << kUsage;
    return gpupool::cmd::kExitOk;
  }
  if (command == "--version" || command == "version") {
    std::cout << "gpupool-operator " << GPUPOOL_VERSION << '\n';
    return gpupool::cmd::kExitOk;
  }
  if (command == "plan") {
    gpupool::SystemClock clock;
    return gpupool::cmd::run_plan(args, clock, std::cout, std::cerr);
  }
  if (command == "simulate") {
    gpupool::SystemClock clock;
    return gpupool::cmd::run_simulate(args, clock, std::cout, std::cerr);
  }
  if (command == "run") {
    return gpupool::cmd::run_operator(args, adapter_table(), std::cout, std::cerr);
  }
  std::cerr << "error: unknown command '" << command << "'\n\n" << kUsage;
  return gpupool::cmd::kExitUsage;
}
