// Fuzz target: kubeconfig loading (operator/kube/client/config.h): YAML,
// client-go's merge of several files, contexts, base64 credential data and
// exec plugin settings.
//
// Input: "<kubeconfig>" or "<first file>\n===\n<second file>" (two files
// merged like KUBECONFIG="a:b"). The files are written into a private
// temporary directory; paths they name resolve against it. Exec plugins are
// only configured, never run.
// Invariants: loading never crashes or throws; a failure has a message; a
// loaded config has a server URL and a namespace, and its to_string() never
// shows the bearer token or the client key; base64 round-trips.
#include <unistd.h>

#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <fstream>
#include <string>

#include "fuzz/fuzz_check.h"
#include "operator/clock/clock.h"
#include "operator/kube/client/config.h"

using namespace gpupool;

namespace {

const std::string& work_dir() {
  static const std::string dir = [] {
    const char* tmp = std::getenv("TMPDIR");
    std::string tmpl = std::string(tmp != nullptr && *tmp != '\0' ? tmp : "/tmp") +
                       "/gpupool-fuzz-kubeconfig-XXXXXX";
    const char* made = ::mkdtemp(tmpl.data());
    FUZZ_CHECK(made != nullptr, "mkdtemp works");
    return tmpl;
  }();
  return dir;
}

std::string write(const std::string& name, std::string_view text) {
  const std::string path = work_dir() + "/" + name;
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  out.write(text.data(), static_cast<std::streamsize>(text.size()));
  return path;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const auto files = fuzz::split(fuzz::as_text(data, size), "\n===\n", 2);
  kube::KubeconfigOptions options;
  options.paths.push_back(write("config", files[0]));
  if (files.size() > 1) options.paths.push_back(write("config2", files[1]));

  auto cfg = kube::load_kubeconfig(options);
  if (!cfg) {
    FUZZ_CHECK(!cfg.error().message.empty(), "a failure says why");
  } else {
    FUZZ_CHECK(!cfg->server.empty(), "a loaded config has a server");
    const std::string shown = cfg->to_string();
    if (cfg->credentials && !cfg->credentials->refreshable()) {
      // A fixed source: get() only hands back what the kubeconfig held.
      FakeClock clock(Time{});
      auto creds = cfg->credentials->get(clock);
      FUZZ_CHECK(creds.ok(), "fixed credentials are always available");
      // Secrets long enough not to match by chance must not be shown.
      for (const std::string* secret : {&creds->token, &creds->client_key_pem}) {
        if (secret->size() >= 12 && cfg->server.find(*secret) == std::string::npos &&
            cfg->context.find(*secret) == std::string::npos &&
            cfg->namespace_.find(*secret) == std::string::npos &&
            cfg->tls_server_name.find(*secret) == std::string::npos) {
          FUZZ_CHECK(shown.find(*secret) == std::string::npos, "to_string hides credentials");
        }
      }
    }
  }

  // base64 as the kubeconfig's *-data fields use it.
  const std::string raw(files[0]);
  auto decoded = kube::base64_decode(kube::base64_encode(raw));
  FUZZ_CHECK(decoded.ok() && *decoded == raw, "base64_decode(base64_encode(x)) == x");
  (void)kube::base64_decode(raw);
  return 0;
}
