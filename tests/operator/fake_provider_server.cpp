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
// GET /calls answers the call ledger, for bench/scale: {"counts":{"<method>":N},
// "creates":[{"t":<unix ms at arrival>,"poolUid","name","offerId","ok",
// "error":"<kind>"}]}; DELETE /calls clears it.
// POST /refuse-creates {"times":N,"kind":"NoCapacity"} makes the next N
// creates fail with that error kind while the offer still advertises
// capacity (a create that loses a race for the last machine).
// POST /delay {"ms":N} (0..600000) makes every later /call wait N ms before
// it is answered, like a provider API that answers slowly; GET /calls then
// also says how many calls are waiting ("inFlight"). Stopping the server
// cuts the waits short.
// POST /machines {"intents":[<intent as a create sends it>, ...]} buys a
// machine for each intent as a create would (same id scheme, tags, offer,
// launch time now; idempotent on the intent's name), but as machines
// bought before the test began: not counted in /calls. Answers
// {"machines":[<machine as a create answers it>, ...]} in order. The scale
// benchmark's --preload seeds a converged cluster with it.
#include <signal.h>

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <fstream>
#include <iostream>
#include <map>
#include <mutex>
#include <string>
#include <vector>

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

// Every call by method, and every create with its arrival time (wall clock,
// so another process on the machine can compare it with its own).
class CallLedger {
 public:
  void count(const std::string& method) {
    std::lock_guard<std::mutex> lock(mu_);
    ++counts_[method];
  }
  void create(const json& req, const std::string& error_kind, int64_t arrived_ms) {
    auto field = [](const json& j, const char* key) {
      return j.is_object() && j.contains(key) && j[key].is_object() ? j[key] : json::object();
    };
    auto text = [](const json& j, const char* key) {
      return j.contains(key) && j[key].is_string() ? j[key].get<std::string>() : "";
    };
    const json intent = field(req, "intent");
    const json offer = field(intent, "offer");
    json e{{"t", arrived_ms},
           {"poolUid", text(intent, "poolUid")},
           {"name", text(intent, "name")},
           {"offerId", text(offer, "id")},
           {"ok", error_kind.empty()}};
    if (!error_kind.empty()) e["error"] = error_kind;
    std::lock_guard<std::mutex> lock(mu_);
    creates_.push_back(std::move(e));
  }
  json to_json() const {
    std::lock_guard<std::mutex> lock(mu_);
    return {{"counts", counts_}, {"creates", creates_}};
  }
  void clear() {
    std::lock_guard<std::mutex> lock(mu_);
    counts_.clear();
    creates_.clear();
  }

 private:
  mutable std::mutex mu_;
  std::map<std::string, int64_t> counts_;  // guarded by mu_
  std::vector<json> creates_;              // guarded by mu_
};

int64_t unix_ms_now() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

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

// The wait every /call makes before its answer (POST /delay).
class CallDelay {
 public:
  void set(std::chrono::milliseconds d) {
    std::lock_guard<std::mutex> lock(mu_);
    delay_ = d;
  }
  // Waits the delay set now, or until stop().
  void wait() {
    std::unique_lock<std::mutex> lock(mu_);
    const auto d = delay_;
    if (d.count() > 0) cv_.wait_for(lock, d, [this] { return stopping_; });
  }
  void stop() {
    std::lock_guard<std::mutex> lock(mu_);
    stopping_ = true;
    cv_.notify_all();
  }

 private:
  std::mutex mu_;
  std::condition_variable cv_;
  std::chrono::milliseconds delay_{0};  // guarded by mu_
  bool stopping_ = false;               // guarded by mu_
};

// POST /machines: machines bought before the test began (see the top).
void seed_machines(gpupool::FakeProvider& fake, const std::string& body,
                   gpupool::http::ResponseWriter& w) {
  gpupool::http::Headers h{{"Content-Type", "application/json"}};
  json b = json::parse(body, nullptr, false);
  if (!b.is_object() || !b.contains("intents") || !b["intents"].is_array()) {
    w.send(400, h, R"({"ok":false,"message":"want {intents: [intent, ...]}"})");
    return;
  }
  json out = json::array();
  for (const auto& j : b["intents"]) {
    auto intent = decode_intent(j);
    if (!intent) {
      w.send(400, h, json{{"ok", false}, {"message", "bad intent: " + j.dump()}}.dump());
      return;
    }
    // plant_orphan: a create that is not one of the operator's calls.
    if (fake.plant_orphan(*intent).empty()) {
      w.send(400, h, json{{"ok", false}, {"message", "cannot create " + intent->name}}.dump());
      return;
    }
    auto m = fake.get(intent->pool_uid, intent->name);
    if (!m.ok()) {
      w.send(500, h, json{{"ok", false}, {"message", m.error().message}}.dump());
      return;
    }
    out.push_back(encode_machine(*m));
  }
  w.send(200, h, json{{"machines", out}}.dump());
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
  CallLedger calls;
  CallDelay delay;
  std::atomic<int> in_flight{0};

  gpupool::http::HttpServerOptions ho;
  ho.port = static_cast<uint16_t>(port);
  gpupool::http::HttpServer server(
      [&](const gpupool::http::HttpRequest& req, gpupool::http::ResponseWriter& w) {
        gpupool::http::Headers h{{"Content-Type", "application/json"}};
        if (req.method == "POST" && req.path == "/call") {
          const int64_t arrived = unix_ms_now();
          json body = json::parse(req.body, nullptr, false);
          if (body.is_discarded()) {
            w.send(400, h, R"({"ok":false})");
            return;
          }
          const std::string method =
              body.is_object() && body.contains("method") && body["method"].is_string()
                  ? body["method"].get<std::string>()
                  : "";
          calls.count(method);
          ++in_flight;
          delay.wait();
          json out = answer(fake, body);
          --in_flight;
          if (method == "create") {
            calls.create(body,
                         out.value("ok", false)
                             ? ""
                             : out.value("error", json::object()).value("kind", "unknown"),
                         arrived);
          }
          w.send(200, h, out.dump());
        } else if (req.path == "/calls") {
          if (req.method == "DELETE") calls.clear();
          json all = calls.to_json();
          all["inFlight"] = in_flight.load();
          w.send(200, h, req.method == "DELETE" ? R"({"ok":true})" : all.dump());
        } else if (req.method == "POST" && req.path == "/machines") {
          seed_machines(fake, req.body, w);
        } else if (req.method == "POST" && req.path == "/delay") {
          json b = json::parse(req.body, nullptr, false);
          if (!b.is_object() || !b.contains("ms") || !b["ms"].is_number_integer() ||
              b["ms"].get<int64_t>() < 0 || b["ms"].get<int64_t>() > 600'000) {
            w.send(400, h, R"({"ok":false,"message":"want {ms: 0..600000}"})");
            return;
          }
          delay.set(std::chrono::milliseconds(b["ms"].get<int64_t>()));
          w.send(200, h, R"({"ok":true})");
        } else if (req.method == "POST" && req.path == "/refuse-creates") {
          json b = json::parse(req.body, nullptr, false);
          const auto kind =
              b.is_object() && b.contains("kind") && b["kind"].is_string()
                  ? gpupool::controllers::parse_provider_error_kind(b["kind"].get<std::string>())
                  : std::optional<gpupool::ProviderErrorKind>(
                        gpupool::ProviderErrorKind::NoCapacity);
          if (!kind || !b.contains("times") || !b["times"].is_number_integer() ||
              b["times"].get<int64_t>() < 1 || b["times"].get<int64_t>() > 1'000'000'000) {
            w.send(400, h, R"({"ok":false,"message":"want {times: 1.., kind: an error kind}"})");
            return;
          }
          fake.fail_next(gpupool::FakeMethod::Create,
                         gpupool::provider_error(*kind, "refused by the test"),
                         static_cast<int>(b["times"].get<int64_t>()));
          w.send(200, h, R"({"ok":true})");
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
  delay.stop();
  server.stop();
  return 0;
}
