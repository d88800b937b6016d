#pragma once
// The skeleton every JSON-over-HTTP adapter shares, written once, so that an
// adapter holds only what differs between providers: its paths, field names,
// how one machine reads, its error mapper and its create()/terminate() steps.
//
// What the skeleton owns:
//   - construction: the HttpClient (options defaulted to the adapter type,
//     base_url from the endpoint) and the JsonApi (auth function, error
//     mapper; see providers/http/json_api.h) every request goes through;
//   - name(), type(), user_data_support() (from the adapter table);
//   - get() and list(), both answered from the adapter's one paged listing,
//     list_all(), in the same way for every adapter (owned_machines and
//     machine_named in provider.h);
//   - read_pages(): a paged listing, whatever the provider's paging;
//   - add_offer(): an offer read live now, kept when the query asks for it;
//   - create()'s idempotency: existing() before buying, settle() after it.
//
// Thread-safe when the adapter's own parts are.

#include <functional>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include <nlohmann/json.hpp>

#include "operator/clock/clock.h"
#include "providers/http/client.h"
#include "providers/http/json_api.h"
#include "providers/provider.h"

namespace gpupool::jsonapi {

// What an adapter tells the skeleton about itself.
struct AdapterSpec {
  std::string provider_name;  // the GpuProvider's name ("vultr-main")
  std::string type;           // the adapter type ("vultr"); the client's default provider label
  net::ClientOptions http;    // the adapter's client options (base_url is set here)
  net::ApiSpec api;           // label, endpoint, auth, error mapper
  // How get() and list() read list_all()'s machines: whether a gone machine
  // counts for get() (false: a live one first, else a gone one), and whether
  // a machine must carry kTagManagedBy to be the operator's.
  bool get_live_only = false;
  bool require_managed_tag = true;
  std::string machine_noun;  // "Vultr instance": for NotFound messages
};

class JsonApiProvider : public Provider {
 public:
  const std::string& name() const final { return spec_.provider_name; }
  std::string_view type() const final { return spec_.type; }
  UserDataSupport user_data_support() const final { return user_data_support_of_type(type()); }
  ProviderResult<Machine> get(std::string_view pool_uid, std::string_view name) final;
  ProviderResult<std::vector<Machine>> list(const MachineFilter& filter) final;

  int64_t requests_sent() const { return client_.requests_sent(); }

 protected:
  JsonApiProvider(AdapterSpec spec, net::HttpTransport& transport, const Clock& clock,
                  net::Sleeper& sleeper);

  // The adapter's listing of its machines: at least those of pool `pool_uid`
  // (every pool when empty) made for intent `name` (every intent when
  // empty). A superset is fine (get() and list() filter again); adapters
  // narrow it server-side where the provider can (tags, labels).
  virtual ProviderResult<std::vector<Machine>> list_all(std::string_view pool_uid,
                                                        std::string_view name) = 0;

  // One request through the adapter's JsonApi (see JsonApi::send, ::call).
  ProviderResult<net::Response> send(const std::string& what, const std::string& method,
                                     const std::string& path, const std::string& body,
                                     bool idempotent,
                                     const std::string& content_type = "application/json");
  ProviderResult<std::string> call(const std::string& what, const std::string& method,
                                   const std::string& path, const std::string& body,
                                   bool idempotent);

  // Reads a listing page by page with GETs, from `path` on: `read(page,
  // answer)` reads one page (the answer's body as JSON; the answer for its
  // headers), keeps what it finds and returns the path of the next page, ""
  // after the last; it may throw (nlohmann's at() on a missing field).
  // A failed request's error passes through; a page that does not parse or
  // that `read` cannot read is Transient (unreadable "<what>"); more than
  // `max_pages` pages is Transient "<what>: more than <max_pages> pages".
  using PageReader =
      std::function<std::string(const nlohmann::json& page, const net::Response& answer)>;
  ProviderStatus read_pages(const std::string& what, std::string path, int max_pages,
                            const PageReader& read);

  // Appends `o` to `out` when `query` asks for it (matches() in provider.h),
  // after setting what every live offer of this adapter carries: provider,
  // provider type, source "live" and as_of now.
  void add_offer(std::vector<Offer>& out, const OfferQuery& query, Offer o) const;

  // create() before it buys: the live machine already made for `intent`
  // (nullopt when there is none), or the lookup's failure.
  ProviderResult<std::optional<Machine>> existing(const InstanceIntent& intent);
  // create() after the buying request. A failure of `answer` other than
  // Transient passes through. A Transient one, or an answer `read` cannot
  // read (its error), leaves the outcome unknown: the machine is looked up
  // once more and returned when found; otherwise that failure.
  template <typename Answer, typename Read>
  ProviderResult<Machine> settle(const InstanceIntent& intent, ProviderResult<Answer> answer,
                                 Read read) {
    if (!answer.ok()) {
      if (answer.error().kind != ProviderErrorKind::Transient) return fail(answer.error());
      return found_or(intent, answer.error());
    }
    ProviderResult<Machine> m = read(*answer);
    if (!m.ok()) return found_or(intent, m.error());
    return m;
  }

  // The live machine made for `intent` (looked up once more), else `e`.
  ProviderResult<Machine> found_or(const InstanceIntent& intent, const ProviderError& e);

  const Clock& clock() const { return clock_; }
  net::HttpClient& client() { return client_; }

 private:
  AdapterSpec spec_;
  const Clock& clock_;
  net::HttpClient client_;
  net::JsonApi api_;  // after client_: uses it
};

// The machine create() just bought, as far as the intent tells: `provider_id`
// in `provider_state` (Pending), the offer's shape and price, launched now,
// carrying the operator's tags (and the container port in Endpoint mode).
// For providers whose buying answer is no more than an id.
Machine bought_machine(const InstanceIntent& intent, std::string provider_id,
                       std::string provider_state, Time now);

}  // namespace gpupool::jsonapi
