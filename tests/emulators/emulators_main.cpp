// gpupool-provider-emulators: serves the provider emulators on loopback for
// tests that run the operator as a separate process. Test-only.
//
//   gpupool-provider-emulators [--aws=PORT] [--fluence=PORT] [--runpod=PORT]
//                              [--vastai=PORT] [--boot-seconds=N]
//                              [--aws-access-key=K] [--aws-secret-key=S]
//                              [--fluence-key=K] [--runpod-key=K] [--vastai-key=K]
//
// Each named emulator starts (PORT 0: ephemeral) and one line
// "<name>=<base url>" per emulator is printed on stdout, then "ready". The
// process runs until SIGTERM or SIGINT. Faults and capacity are steered over
// each emulator's /__emulator/ admin endpoints (tests/emulators/common).
#include <pthread.h>

#include <algorithm>
#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <iostream>
#include <map>
#include <memory>
#include <optional>
#include <string>

#include "operator/clock/clock.h"
#include "tests/emulators/aws/ec2_emulator.h"
#include "tests/emulators/fluence/fluence_emulator.h"
#include "tests/emulators/runpod/runpod_emulator.h"
#include "tests/emulators/vastai/vastai_emulator.h"

namespace {

using gpupool::Money;

Money usd(const char* s) {
  return Money::parse(s).value();
}

std::optional<uint16_t> port_of(const std::string& v) {
  char* end = nullptr;
  long p = std::strtol(v.c_str(), &end, 10);
  if (v.empty() || *end != '\0' || p < 0 || p > 65535) return std::nullopt;
  return static_cast<uint16_t>(p);
}

int usage(const std::string& why) {
  std::cerr << "gpupool-provider-emulators: " << why
            << "\nusage: gpupool-provider-emulators [--aws=PORT] [--fluence=PORT] [--runpod=PORT] "
               "[--vastai=PORT]"
               " [--boot-seconds=N] [--aws-access-key=K] [--aws-secret-key=S] [--fluence-key=K] "
               "[--runpod-key=K]"
               " [--vastai-key=K]\n";
  return 2;
}

}  // namespace

int main(int argc, char** argv) {
  std::map<std::string, std::string> flags;
  for (int i = 1; i < argc; ++i) {
    std::string a = argv[i];
    auto eq = a.find('=');
    if (!a.starts_with("--") || eq == std::string::npos) return usage("bad argument '" + a + "'");
    flags[a.substr(2, eq - 2)] = a.substr(eq + 1);
  }
  static const char* kKnown[] = {"aws",          "fluence",        "runpod",         "vastai",
                                 "boot-seconds", "aws-access-key", "aws-secret-key", "fluence-key",
                                 "runpod-key",   "vastai-key"};
  for (const auto& [k, v] : flags) {
    if (std::find(std::begin(kKnown), std::end(kKnown), k) == std::end(kKnown))
      return usage("unknown flag --" + k);
  }
  int boot = 30;
  if (flags.count("boot-seconds") > 0) {
    auto b = port_of(flags["boot-seconds"]);
    if (!b) return usage("--boot-seconds must be a small non-negative integer");
    boot = *b;
  }
  // Block the stop signals before any server thread starts, then wait for one.
  sigset_t stop;
  sigemptyset(&stop);
  sigaddset(&stop, SIGTERM);
  sigaddset(&stop, SIGINT);
  pthread_sigmask(SIG_BLOCK, &stop, nullptr);

  gpupool::SystemClock clock;
  std::unique_ptr<gpupool::emulators::Ec2Emulator> aws;
  std::unique_ptr<gpupool::emulators::FluenceEmulator> fluence;
  std::unique_ptr<gpupool::emulators::RunpodEmulator> runpod;
  std::unique_ptr<gpupool::emulators::VastEmulator> vast;

  if (flags.count("aws") > 0) {
    auto port = port_of(flags["aws"]);
    if (!port) return usage("--aws needs a port");
    gpupool::emulators::Ec2EmulatorOptions o;
    o.clock = &clock;
    o.port = *port;
    o.boot_time = gpupool::Duration(boot);
    if (flags.count("aws-access-key") > 0) o.access_key_id = flags["aws-access-key"];
    if (flags.count("aws-secret-key") > 0) o.secret_access_key = flags["aws-secret-key"];
    aws = std::make_unique<gpupool::emulators::Ec2Emulator>(o);
    if (!aws->start()) return usage("cannot start the AWS emulator on port " + flags["aws"]);
    std::cout << "aws=" << aws->base_url() << "\n";
  }
  if (flags.count("fluence") > 0) {
    auto port = port_of(flags["fluence"]);
    if (!port) return usage("--fluence needs a port");
    gpupool::emulators::FluenceEmulatorOptions o;
    o.clock = &clock;
    o.port = *port;
    o.boot_time = gpupool::Duration(boot);
    if (flags.count("fluence-key") > 0) o.api_key = flags["fluence-key"];
    o.plans = {{"fl-l40s-1-usc3", "l40s", 1, "us-central-3", "massed-compute", usd("1.07"), -1},
               {"fl-l40s-2-usc3", "l40s", 2, "us-central-3", "massed-compute", usd("2.10"), -1},
               {"fl-l40-1-culpeper", "l40", 1, "culpeper-usa-1", "sesterce", usd("0.89"), -1}};
    fluence = std::make_unique<gpupool::emulators::FluenceEmulator>(o);
    if (!fluence->start())
      return usage("cannot start the Fluence emulator on port " + flags["fluence"]);
    std::cout << "fluence=" << fluence->base_url() << "\n";
  }
  if (flags.count("runpod") > 0) {
    auto port = port_of(flags["runpod"]);
    if (!port) return usage("--runpod needs a port");
    gpupool::emulators::RunpodEmulatorOptions o;
    o.clock = &clock;
    o.port = *port;
    o.boot_time = gpupool::Duration(boot);
    if (flags.count("runpod-key") > 0) o.api_key = flags["runpod-key"];
    o.gpu_types = {{"NVIDIA L40S", "L40S", 48, usd("0.86"), usd("0.79"), -1, -1},
                   {"NVIDIA L40", "L40", 48, usd("0.69"), Money(), -1, -1}};
    runpod = std::make_unique<gpupool::emulators::RunpodEmulator>(o);
    if (!runpod->start())
      return usage("cannot start the Runpod emulator on port " + flags["runpod"]);
    std::cout << "runpod=" << runpod->base_url() << "\n";
  }
  if (flags.count("vastai") > 0) {
    auto port = port_of(flags["vastai"]);
    if (!port) return usage("--vastai needs a port");
    gpupool::emulators::VastEmulatorOptions o;
    o.clock = &clock;
    o.port = *port;
    o.boot_time = gpupool::Duration(boot);
    if (flags.count("vastai-key") > 0) o.api_key = flags["vastai-key"];
    for (int i = 0; i < 16; ++i) {
      o.asks.push_back({7000 + i, i % 4 == 3 ? "L40" : "L40S", 1,
                        i % 4 == 3 ? usd("0.48") : usd("0.62"), usd("0.01"), "Texas, US", 0.99,
                        true});
    }
    vast = std::make_unique<gpupool::emulators::VastEmulator>(o);
    if (!vast->start())
      return usage("cannot start the Vast.ai emulator on port " + flags["vastai"]);
    std::cout << "vastai=" << vast->base_url() << "\n";
  }
  if (!aws && !fluence && !runpod && !vast) return usage("name at least one emulator");
  std::cout << "ready" << std::endl;
  int sig = 0;
  sigwait(&stop, &sig);
  if (vast) vast->stop();
  if (runpod) runpod->stop();
  if (fluence) fluence->stop();
  if (aws) aws->stop();
  return 0;
}
