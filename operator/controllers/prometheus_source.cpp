#include "operator/controllers/prometheus_source.h"

#include <nlohmann/json.hpp>

#include <charconv>
#include <cmath>
#include <cstdio>

#include "providers/http/url.h"

namespace gpupool::controllers {
namespace {

using nlohmann::json;

autoscale::Signal failed(std::string why) {
  return autoscale::Signal{std::nullopt, std::move(why)};
}

// A sample is [<unix seconds>, "<value>"]: the value is a string.
autoscale::Signal sample_value(const json& sample) {
  if (!sample.is_array() || sample.size() != 2 || !sample[1].is_string()) {
    return failed("unreadable answer: a sample must be [time, \"value\"]");
  }
  const std::string text = sample[1].get<std::string>();
  double v = 0;
  const char* end = text.data() + text.size();
  auto [ptr, ec] = std::from_chars(text.data(), end, v);
  if (ec != std::errc() || ptr != end) {
    if (text == "NaN" || text == "+Inf" || text == "-Inf") {
      return failed("the query's value is " + text);
    }
    return failed("unreadable answer: value \"" + text + "\" is not a number");
  }
  if (!std::isfinite(v)) return failed("the query's value is " + text);
  if (v < 0) return failed("the query's value " + text + " is negative");
  return autoscale::Signal{v, ""};
}

}  // namespace

PrometheusSource::PrometheusSource(net::HttpTransport& transport, std::string base_url)
    : transport_(transport), base_url_(std::move(base_url)) {
  while (!base_url_.empty() && base_url_.back() == '/')
    base_url_.pop_back();
}

autoscale::Signal PrometheusSource::query(const std::string& promql, Time now) const {
  char when[32];
  std::snprintf(when, sizeof when, "%lld", static_cast<long long>(now.time_since_epoch().count()));
  net::Request req;
  req.method = "GET";
  req.url = base_url_ + "/api/v1/query?query=" + net::percent_encode(promql) + "&time=" + when;
  auto r = transport_.send(req);
  const std::string where = "Prometheus at " + base_url_ + ": ";
  if (!r.ok()) {
    return failed(where + std::string(net::to_string(r.error().kind)) + ": " + r.error().message);
  }
  const json doc = json::parse(r->body, nullptr, false);
  if (doc.is_discarded() || !doc.is_object()) {
    return failed(where + "unreadable answer (HTTP " + std::to_string(r->status) + ")");
  }
  if (r->status != 200 || doc.value("status", "") != "success") {
    return failed(where + "query failed (HTTP " + std::to_string(r->status) +
                  "): " + doc.value("errorType", "error") + ": " + doc.value("error", "no detail"));
  }
  const json& data = doc.contains("data") ? doc["data"] : json();
  if (!data.is_object() || !data.contains("resultType") || !data.contains("result")) {
    return failed(where + "unreadable answer: no data.resultType / data.result");
  }
  const std::string type =
      data["resultType"].is_string() ? data["resultType"].get<std::string>() : std::string();
  const json& result = data["result"];
  if (type == "scalar") {
    auto s = sample_value(result);
    if (!s.value) s.error = where + s.error;
    return s;
  }
  if (type != "vector" || !result.is_array()) {
    return failed(where + "the query returned a " + (type.empty() ? "malformed" : type) +
                  " result; it must return one scalar or a one-element vector");
  }
  if (result.empty()) return failed(where + "the query returned no series");
  if (result.size() > 1) {
    return failed(where + "the query returned " + std::to_string(result.size()) +
                  " series; aggregate it to one (sum, avg, max)");
  }
  if (!result[0].is_object() || !result[0].contains("value")) {
    return failed(where + "unreadable answer: a vector element has no value");
  }
  auto s = sample_value(result[0]["value"]);
  if (!s.value) s.error = where + s.error;
  return s;
}

}  // namespace gpupool::controllers
