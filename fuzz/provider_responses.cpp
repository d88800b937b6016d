// Fuzz target: one provider adapter's response parsing, driven through its
// real code path: the adapter (providers/<name>/) on the shared HttpClient
// (retries, Retry-After, provider hooks, redacted logging) over a scripted
// transport that answers every request from the fuzz input. This file is the
// same for every adapter and compiled once; provider_adapter.cpp, compiled
// once per adapter (GPUPOOL_FUZZ_ADAPTER_<NAME>), makes the adapter, and each
// binary links only its adapter.
//
// Input (text, so seeds are real answers pasted in):
//   <operation>[ <offer id>]\n      offers | create | get | list | terminate
//   <status>\n<body>                  the answer to the 1st request
//   \n%%\n<status>\n<body>            the answer to the 2nd request, ...
// The last answer repeats for later requests. A status line that is not a
// number in 100..599 means 200 and belongs to the body.
//
// Invariants: no crash, no exception escapes, no endless paging (a call makes
// at most kMaxRequests requests); offers match the query; list() keeps to its
// filter; failures say why; the API
// credential never appears in a log line, a result or an error message
// unless the input itself contains it.
#include <nlohmann/json.hpp>

#include <cstddef>
#include <cstdint>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "fuzz/fuzz_check.h"
#include "fuzz/provider_adapter.h"
#include "operator/base/utf8.h"
#include "operator/clock/clock.h"
#include "providers/http/client.h"
#include "providers/http/transport.h"
#include "providers/provider.h"

using namespace gpupool;

namespace {

constexpr std::string_view kSecret = "FUZZ-SECRET-7c1f0e9a2b";
constexpr size_t kMaxRequests = 400;

// Answers request i with answer min(i, last); counts requests.
class ScriptedTransport final : public net::HttpTransport {
 public:
  explicit ScriptedTransport(std::vector<net::Response> answers) : answers_(std::move(answers)) {}
  net::TransportResult send(const net::Request& request) override {
    std::lock_guard lock(mu_);
    FUZZ_CHECK(!request.url.empty(), "requests have a URL");
    ++count_;
    FUZZ_CHECK(count_ <= kMaxRequests, "one call makes a bounded number of requests");
    if (answers_.empty())
      return fail(net::TransportError{net::TransportErrorKind::Connect, "none"});
    return answers_[std::min(count_ - 1, answers_.size() - 1)];
  }
  void reset() {
    std::lock_guard lock(mu_);
    count_ = 0;
  }

 private:
  std::mutex mu_;
  std::vector<net::Response> answers_;
  size_t count_ = 0;
};

std::vector<net::Response> parse_answers(std::string_view text) {
  std::vector<net::Response> out;
  for (std::string_view part : fuzz::split(text, "\n%%\n", 64)) {
    net::Response r;
    r.status = 200;
    const auto nl = part.find('\n');
    const std::string_view first = part.substr(0, nl);
    int status = 0;
    bool digits = !first.empty() && first.size() <= 3;
    for (char c : first) {
      digits = digits && c >= '0' && c <= '9';
      if (digits) status = status * 10 + (c - '0');
    }
    if (digits && status >= 100 && status <= 599) {
      r.status = status;
      part = nl == std::string_view::npos ? std::string_view() : part.substr(nl + 1);
    }
    r.body = std::string(part);
    r.headers = {{"Content-Type", "application/json"}};
    out.push_back(std::move(r));
  }
  return out;
}

// Strings the operator will write into GpuInstance status or log: they must be
// UTF-8, or encoding the object for the API server throws.
bool utf8(const std::string& s) {
  try {
    (void)nlohmann::json(s).dump();
    return true;
  } catch (const nlohmann::json::exception&) {
    return false;
  }
}

void check_machine(const Machine& m) {
  for (const std::string* s : {&m.provider_id, &m.name, &m.region, &m.offer_id, &m.gpu_model,
                               &m.public_address, &m.provider_state})
    FUZZ_CHECK(utf8(*s), "machine fields are UTF-8");
  for (const auto& [k, v] : m.tags)
    FUZZ_CHECK(utf8(k) && utf8(v), "machine tags are UTF-8");
  FUZZ_CHECK(m.gpu_count >= 0, "GPU counts are not negative");
}

bool mentions_secret(const Machine& m) {
  if (m.provider_id.find(kSecret) != std::string::npos) return true;
  if (m.name.find(kSecret) != std::string::npos) return true;
  if (m.public_address.find(kSecret) != std::string::npos) return true;
  if (m.provider_state.find(kSecret) != std::string::npos) return true;
  for (const auto& [k, v] : m.tags)
    if (k.find(kSecret) != std::string::npos || v.find(kSecret) != std::string::npos) return true;
  return false;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const auto text = fuzz::as_text(data, size);
  const auto nl = text.find('\n');
  const std::string_view head = text.substr(0, nl);
  const auto answers_text = nl == std::string_view::npos ? std::string_view() : text.substr(nl + 1);
  const bool input_has_secret = text.find(kSecret) != std::string_view::npos;

  const auto space = head.find(' ');
  const std::string_view op = head.substr(0, space);
  // The id comes from the operator's own objects, which went through JSON:
  // always UTF-8.
  const std::string offer_id =
      to_valid_utf8(space == std::string_view::npos ? "g6e.xlarge" : head.substr(space + 1));

  ScriptedTransport transport(parse_answers(answers_text));
  FakeClock clock(Time{} + std::chrono::hours(24 * 365 * 56));
  net::FakeSleeper sleeper(&clock);
  std::mutex log_mu;
  net::LogSink log = [&](std::string_view line) {
    std::lock_guard lock(log_mu);
    if (!input_has_secret)
      FUZZ_CHECK(line.find(kSecret) == std::string_view::npos, "logs hide the key");
  };
  auto provider = fuzz::make_provider(transport, clock, sleeper, log, kSecret);

  auto check_error = [&](const ProviderError& e) {
    FUZZ_CHECK(!e.message.empty(), "a failure says why");
    FUZZ_CHECK(utf8(e.message), "error messages are UTF-8 (they become conditions)");
    if (!input_has_secret)
      FUZZ_CHECK(e.message.find(kSecret) == std::string::npos, "errors hide the key");
  };

  const std::string pool_uid = "3f0c5a52-8d1e-4f7a-9c1b-2a7e5d9f0b11";
  const std::string name = "train-l40s-7x2kq";
  if (op == "offers") {
    OfferQuery q;
    q.gpu_models = {"L40S", "L40"};
    q.include_spot = true;
    auto offers = provider->offers(q);
    if (!offers) {
      check_error(offers.error());
    } else {
      for (const Offer& o : *offers) {
        FUZZ_CHECK(matches(o, q), "offers match the query");
        FUZZ_CHECK(o.gpu_count >= 1, "an offer has GPUs");
        FUZZ_CHECK(o.price_per_hour.micros() >= 0, "prices are not negative");
        FUZZ_CHECK(utf8(o.id) && utf8(o.region) && utf8(o.gpu_model), "offer fields are UTF-8");
      }
    }
  } else if (op == "create") {
    InstanceIntent intent;
    intent.name = name;
    intent.pool_uid = pool_uid;
    intent.pool_namespace = "ml";
    intent.pool_name = "train";
    intent.offer.provider = "fuzz";
    intent.offer.id = offer_id;
    intent.offer.region = "us-east-1";
    intent.offer.gpu_model = "L40S";
    intent.offer.gpu_count = 1;
    intent.offer.price_per_hour = Money::from_micros(1'000'000);
    intent.user_data = "#!/bin/sh\necho join\n";
    intent.ssh_public_key = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIFuzzFuzzFuzz fuzz@gpupool";
    auto m = provider->create(intent);
    if (!m) {
      check_error(m.error());
    } else {
      check_machine(*m);
      if (!input_has_secret) FUZZ_CHECK(!mentions_secret(*m), "machines hide the key");
    }
  } else if (op == "get") {
    auto m = provider->get(pool_uid, name);
    if (!m) {
      check_error(m.error());
    } else {
      check_machine(*m);
      if (!input_has_secret) FUZZ_CHECK(!mentions_secret(*m), "machines hide the key");
    }
  } else if (op == "list") {
    MachineFilter f;
    f.pool_uid = pool_uid;
    auto ms = provider->list(f);
    if (!ms) {
      check_error(ms.error());
    } else {
      for (const Machine& m : *ms) {
        check_machine(m);
        FUZZ_CHECK(m.pool_uid() == pool_uid, "list keeps to the pool");
        FUZZ_CHECK(!is_gone(m.state), "list leaves out ended machines");
      }
    }
  } else if (op == "terminate") {
    auto s = provider->terminate(offer_id);
    if (!s) check_error(s.error());
  }
  return 0;
}
