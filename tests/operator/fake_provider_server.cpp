// gpupool-fake-provider-server: a FakeProvider (providers/fake) behind HTTP,
// speaking the protocol of operator/controllers/remote_fake_provider.h, so
// its machines and its billed ledger outlive operator restarts (the SIGKILL
// chaos test). Runs on the system clock until SIGTERM/SIGINT.
//
//   gpupool-fake-provider-server --port-file PATH [--port 0]
//       [--boot-seconds 1] [--price 1.00] [--increment-seconds 3600]
//
// It sells one offer: L40S ×1, id "l40s-1", region "local".
// GET /ledger answers {"live":N,"totalBilled":"…","machines":[{"providerId",
// "name","poolUid","state","ended"}]} for the test's assertions.
#include <signal.h>

#include <fstream>
#include <iostream>
#include <string>

#include <nlohmann/json.hpp>

#include "operator/clock/clock.h"
#include "operator/controllers/remote_fake_provider.h"
#include "operator/httpserver/http_server.h"
#include "providers/fake/fake_provider.h"

using gpupool::controllers::decode_intent;
using gpupool::controllers::encode_error;
using gpupool::controllers::encode_machine;
using gpupool::controllers::encode_offer;
using nlohmann::json;

namespace {

json answer(gpupool::FakeProvider& fake, const json& req) {
  auto err = [](const gpupool::ProviderError& e) {
    return json{{"ok", false}, {"error", encode_error(e)}};
  };
  const std::string method = req.value("method", "");
  if (method == "offers") {
    gpupool::OfferQuery q;
    const json& jq = req.value("query", json::object());
    q.gpu_models = jq.value("gpuModels", std::vector<std::string>{});
    q.regions = jq.value("regions", std::vector<std::string>{});
    q.min_gpu_count = jq.value("minGpuCount", 1);
    q.max_gpu_count = jq.value("maxGpuCount", 0);
    q.include_spot = jq.value("includeSpot", false);
    q.include_community = jq.value("includeCommunity", true);
    auto r = fake.offers(q);
    if (!r.ok()) return err(r.error());
    json out = json::array();
    for (const auto& o : *r)
      out.push_back(encode_offer(o));
    return {{"ok", true}, {"result", out}};
  }
  if (method == "create") {
    auto intent = decode_intent(req.value("intent", json()));
    if (!intent) {
      return err(gpupool::provider_error(gpupool::ProviderErrorKind::InvalidRequest, "bad intent"));
    }
    auto r = fake.create(*intent);
    if (!r.ok()) return err(r.error());
    return {{"ok", true}, {"result", encode_machine(*r)}};
  }
  if (method == "get") {
    auto r = fake.get(req.value("poolUid", ""), req.value("name", ""));
    if (!r.ok()) return err(r.error());
    return {{"ok", true}, {"result", encode_machine(*r)}};
  }
  if (method == "list") {
    gpupool::MachineFilter f;
    f.pool_uid = req.value("poolUid", "");
    f.include_terminated = req.value("includeTerminated", false);
    auto r = fake.list(f);
    if (!r.ok()) return err(r.error());
    json out = json::array();
    for (const auto& m : *r)
      out.push_back(encode_machine(m));
    return {{"ok", true}, {"result", out}};
  }
  if (method == "terminate") {
    auto r = fake.terminate(req.value("providerId", ""));
    if (!r.ok()) return err(r.error());
    return {{"ok", true}, {"result", nullptr}};
  }
  return err(gpupool::provider_error(gpupool::ProviderErrorKind::InvalidRequest,
                                     "unknown method \"" + method + "\""));
}

}  // namespace

int main(int argc, char** argv) {
  std::string port_file, price = "1.00";
  int port = 0, boot = 1, increment = 3600;
  for (int i = 1; i + 1 < argc; i += 2) {
    const std::string a = argv[i], v = argv[i + 1];
    try {
      if (a == "--port-file")
        port_file = v;
      else if (a == "--port")
        port = std::stoi(v);
      else if (a == "--boot-seconds")
        boot = std::stoi(v);
      else if (a == "--increment-seconds")
        increment = std::stoi(v);
      else if (a == "--price")
        price = v;
      else {
        std::cerr << "unknown flag " << a << "\n";
        return 2;
      }
    } catch (...) {
      std::cerr << "bad value for " << a << "\n";
      return 2;
    }
  }
  auto money = gpupool::Money::parse(price);
  if (!money || increment < 1 || boot < 0 || port < 0 || port > 65535) {
    std::cerr << "bad --price, --increment-seconds, --boot-seconds or --port\n";
    return 2;
  }
  sigset_t set;
  sigemptyset(&set);
  sigaddset(&set, SIGTERM);
  sigaddset(&set, SIGINT);
  pthread_sigmask(SIG_BLOCK, &set, nullptr);

  gpupool::SystemClock clock;
  gpupool::FakeProviderOptions opts;
  opts.name = "remote";
  opts.boot_delay = gpupool::Duration{boot};
  gpupool::Offer o;
  o.provider = "remote";
  o.provider_type = "fake";
  o.id = "l40s-1";
  o.region = "local";
  o.gpu_model = "L40S";
  o.price_per_hour = *money;
  o.billing.increment = gpupool::Duration{increment};
  opts.offers.push_back({o, -1});
  gpupool::FakeProvider fake(opts, clock);

  gpupool::http::HttpServerOptions ho;
  ho.port = static_cast<uint16_t>(port);
  gpupool::http::HttpServer server(
      [&](const gpupool::http::HttpRequest& req, gpupool::http::ResponseWriter& w) {
        gpupool::http::Headers h{{"Content-Type", "application/json"}};
        if (req.method == "POST" && req.path == "/call") {
          json body = json::parse(req.body, nullptr, false);
          if (body.is_discarded()) {
            w.send(400, h, R"({"ok":false})");
            return;
          }
          w.send(200, h, answer(fake, body).dump());
        } else if (req.path == "/ledger") {
          json machines = json::array();
          for (const auto& e : fake.ledger()) {
            machines.push_back({{"providerId", e.machine.provider_id},
                                {"name", e.machine.name},
                                {"poolUid", e.pool_uid},
                                {"state", std::string(gpupool::to_string(e.machine.state))},
                                {"ended", e.ended.has_value()}});
          }
          w.send(200, h,
                 json{{"live", fake.live_count()},
                      {"totalBilled", fake.total_billed(clock.now()).to_string()},
                      {"machines", machines}}
                     .dump());
        } else {
          w.send(404, h, "{}");
        }
      },
      ho);
  if (auto s = server.start(); !s.ok()) {
    std::cerr << "cannot serve: " << s.error().message << "\n";
    return 1;
  }
  if (!port_file.empty()) {
    const std::string tmp = port_file + ".tmp";
    std::ofstream(tmp) << server.port() << "\n";
    std::rename(tmp.c_str(), port_file.c_str());
  }
  int sig = 0;
  sigwait(&set, &sig);
  server.stop();
  return 0;
}
