// gpupool-test-apiserver: the test API server as a process, for kubectl and
// for tests that want a separate server. Runs until SIGINT/SIGTERM.
//
//   gpupool-test-apiserver [--host 127.0.0.1] [--port 0] [--token T]
//       [--kubeconfig-out PATH] [--namespace default] [--load FILE]...
//       [--history-size N] [--bookmark-interval-ms MS]
//
// Prints "listening on http://HOST:PORT" on stdout once ready.

#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <iostream>
#include <sstream>

#include "tests/apiserver/api_server.h"

namespace {

int usage(const std::string& why) {
  std::cerr << "gpupool-test-apiserver: " << why << "\n"
            << "usage: gpupool-test-apiserver [--host H] [--port P] [--token T]"
               " [--kubeconfig-out PATH] [--namespace NS] [--load FILE]..."
               " [--history-size N] [--bookmark-interval-ms MS]\n";
  return 2;
}

bool parse_number(const std::string& s, long long max, long long& out) {
  if (s.empty() || s.size() > 12) return false;
  long long v = 0;
  for (char c : s) {
    if (c < '0' || c > '9') return false;
    v = v * 10 + (c - '0');
  }
  if (v > max) return false;
  out = v;
  return true;
}

}  // namespace

int main(int argc, char** argv) {
  // Block the stop signals in every thread; the main thread waits for them.
  sigset_t stop_signals;
  sigemptyset(&stop_signals);
  sigaddset(&stop_signals, SIGINT);
  sigaddset(&stop_signals, SIGTERM);
  pthread_sigmask(SIG_BLOCK, &stop_signals, nullptr);

  gpupool::apiserver::ApiServerOptions opts;
  gpupool::kube::MemoryStoreOptions store_opts;
  std::string kubeconfig_out;
  std::string ns = "default";
  std::vector<std::string> loads;
  for (int i = 1; i < argc; ++i) {
    std::string a = argv[i];
    auto value = [&](std::string& out) {
      if (i + 1 >= argc) return false;
      out = argv[++i];
      return true;
    };
    std::string v;
    long long n = 0;
    if (a == "--host") {
      if (!value(opts.host)) return usage("--host needs a value");
    } else if (a == "--port") {
      if (!value(v) || !parse_number(v, 65535, n)) return usage("--port needs 0..65535");
      opts.port = static_cast<uint16_t>(n);
    } else if (a == "--token") {
      if (!value(opts.token)) return usage("--token needs a value");
    } else if (a == "--kubeconfig-out") {
      if (!value(kubeconfig_out)) return usage("--kubeconfig-out needs a path");
    } else if (a == "--namespace") {
      if (!value(ns)) return usage("--namespace needs a value");
    } else if (a == "--load") {
      if (!value(v)) return usage("--load needs a file");
      loads.push_back(v);
      while (i + 1 < argc && std::string(argv[i + 1]).rfind("--", 0) != 0)
        loads.emplace_back(argv[++i]);
    } else if (a == "--history-size") {
      if (!value(v) || !parse_number(v, 10'000'000, n) || n == 0) {
        return usage("--history-size needs a positive number");
      }
      store_opts.history_size = static_cast<size_t>(n);
    } else if (a == "--bookmark-interval-ms") {
      if (!value(v) || !parse_number(v, 86'400'000, n))
        return usage("--bookmark-interval-ms needs a number");
      opts.bookmark_interval = std::chrono::milliseconds(n);
    } else if (a == "--help" || a == "-h") {
      usage("help");
      return 0;
    } else {
      return usage("unknown flag " + a);
    }
  }

  gpupool::SystemClock clock;
  gpupool::apiserver::TestApiServer server(clock, opts, store_opts);
  for (const auto& file : loads) {
    std::ifstream in(file);
    if (!in) {
      std::cerr << "gpupool-test-apiserver: cannot read " << file << "\n";
      return 1;
    }
    std::stringstream ss;
    ss << in.rdbuf();
    auto st = server.load_manifests(ss.str());
    if (!st.ok()) {
      std::cerr << "gpupool-test-apiserver: " << file << ": " << st.error().message << "\n";
      return 1;
    }
  }
  auto st = server.start();
  if (!st.ok()) {
    std::cerr << "gpupool-test-apiserver: " << st.error().message << "\n";
    return 1;
  }
  if (!kubeconfig_out.empty()) {
    auto kc = server.write_kubeconfig(kubeconfig_out, ns);
    if (!kc.ok()) {
      std::cerr << "gpupool-test-apiserver: " << kc.error().message << "\n";
      return 1;
    }
  }
  std::cout << "listening on " << server.base_url() << std::endl;
  int sig = 0;
  sigwait(&stop_signals, &sig);
  server.stop();
  return 0;
}
