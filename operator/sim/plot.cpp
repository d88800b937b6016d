#include "operator/sim/plot.h"

#include <algorithm>
#include <cmath>
#include <cstdio>

namespace gpupool::sim {
namespace {

constexpr double kW = 1100, kH = 520;
constexpr double kLeft = 70, kRight = 90, kTop = 60, kBottom = 60;
constexpr const char* kColors[] = {"#4e79a7", "#f28e2b", "#59a14f", "#b07aa1", "#76b7b2",
                                   "#edc948", "#9c755f", "#ff9da7", "#e15759", "#bab0ac"};

std::string num(double v) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.1f", v);
  return buf;
}

std::string esc(const std::string& s) {
  std::string out;
  for (char c : s) {
    switch (c) {
      case '&':
        out += "&amp;";
        break;
      case '<':
        out += "&lt;";
        break;
      case '>':
        out += "&gt;";
        break;
      case '"':
        out += "&quot;";
        break;
      default:
        out += c;
    }
  }
  return out;
}

// A "nice" step for about `n` ticks over [0, max].
double nice_step(double max, int n) {
  if (max <= 0) return 1;
  const double raw = max / n;
  const double p = std::pow(10.0, std::floor(std::log10(raw)));
  for (double m : {1.0, 2.0, 2.5, 5.0, 10.0}) {
    if (raw <= m * p) return m * p;
  }
  return 10 * p;
}

}  // namespace

std::string render_svg(const Outcome& o, const ReportInfo& info) {
  const double pw = kW - kLeft - kRight;
  const double ph = kH - kTop - kBottom;
  const double dur = std::max<double>(1.0, static_cast<double>(o.duration_s));
  double ymax = 1;
  for (const auto& p : o.timeline) {
    double stack = p.parked;
    for (double r : p.ready)
      stack += r;
    ymax = std::max({ymax, p.demand, stack});
  }
  const double gstep = nice_step(ymax * 1.05, 6);
  ymax = std::ceil(ymax * 1.05 / gstep) * gstep;
  double smax = 1;
  for (const auto& s : o.spend_curve)
    smax = std::max(smax, s.usd);
  const double sstep = nice_step(smax * 1.05, 6);
  smax = std::ceil(smax * 1.05 / sstep) * sstep;

  auto X = [&](double t) { return kLeft + pw * t / dur; };
  auto Y = [&](double g) { return kTop + ph * (1 - g / ymax); };
  auto YS = [&](double usd) { return kTop + ph * (1 - usd / smax); };

  std::string s;
  s += "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"" + num(kW) + "\" height=\"" + num(kH) +
       "\" viewBox=\"0 0 " + num(kW) + " " + num(kH) +
       "\" font-family=\"Helvetica, Arial, sans-serif\" font-size=\"12\">\n";
  s += "<rect width=\"100%\" height=\"100%\" fill=\"white\"/>\n";
  // Title.
  const double served =
      o.demanded_gpu_hours > 0 ? 100.0 * o.served_gpu_hours / o.demanded_gpu_hours : 100.0;
  char title[512];
  std::snprintf(title, sizeof title,
                "%s, policy %s: spend $%s, served %.2f%%, lower bound $%s (%.2fx)",
                info.pool.c_str(), o.policy.c_str(), o.spend.to_string_fixed(2).c_str(), served,
                o.bound.total.to_string_fixed(2).c_str(),
                o.bound.total.is_zero() ? 0.0 : o.spend.to_double() / o.bound.total.to_double());
  s += "<text x=\"" + num(kLeft) + "\" y=\"24\" font-size=\"15\" font-weight=\"bold\">" +
       esc(title) + "</text>\n";

  // Grid and axes.
  s += "<g stroke=\"#e0e0e0\" stroke-width=\"1\">\n";
  for (double g = 0; g <= ymax + 1e-9; g += gstep) {
    s += "<line x1=\"" + num(kLeft) + "\" x2=\"" + num(kLeft + pw) + "\" y1=\"" + num(Y(g)) +
         "\" y2=\"" + num(Y(g)) + "\"/>\n";
  }
  s += "</g>\n";
  const double hours = dur / 3600.0;
  const double tstep = nice_step(hours, 12) < 1 ? nice_step(hours, 12)
                                                : std::max(1.0, std::round(nice_step(hours, 12)));
  const double tick = hours > 48 && tstep < 24 ? std::ceil(tstep / 12) * 12 : tstep;

  // Stacked Ready areas (one path per provider), then parked.
  const size_t np = o.providers.size();
  std::vector<std::vector<std::pair<double, double>>> lower(np + 1), upper(np + 1);
  for (size_t i = 0; i < o.timeline.size(); ++i) {
    const auto& p = o.timeline[i];
    const double t0 = static_cast<double>(p.t);
    const double t1 = i + 1 < o.timeline.size() ? static_cast<double>(o.timeline[i + 1].t) : dur;
    double base = 0;
    for (size_t k = 0; k <= np; ++k) {
      const double h = k < np ? (k < p.ready.size() ? p.ready[k] : 0) : p.parked;
      lower[k].push_back({t0, base});
      lower[k].push_back({t1, base});
      upper[k].push_back({t0, base + h});
      upper[k].push_back({t1, base + h});
      base += h;
    }
  }
  for (size_t k = 0; k <= np; ++k) {
    if (upper[k].empty()) continue;
    std::string d = "M";
    for (const auto& [t, g] : upper[k])
      d += num(X(t)) + "," + num(Y(g)) + " ";
    for (auto it = lower[k].rbegin(); it != lower[k].rend(); ++it)
      d += "L" + num(X(it->first)) + "," + num(Y(it->second)) + " ";
    d += "Z";
    const std::string fill = k < np ? kColors[k % 10] : "#c8c8c8";
    s += "<path d=\"" + d + "\" fill=\"" + fill + "\" fill-opacity=\"" + (k < np ? "0.75" : "0.8") +
         "\" stroke=\"none\"/>\n";
  }
  // Demand.
  if (!o.timeline.empty()) {
    std::string d = "M" + num(X(0)) + "," + num(Y(o.timeline.front().demand));
    for (size_t i = 0; i < o.timeline.size(); ++i) {
      const auto& p = o.timeline[i];
      d += " L" + num(X(static_cast<double>(p.t))) + "," + num(Y(p.demand));
      const double t1 = i + 1 < o.timeline.size() ? static_cast<double>(o.timeline[i + 1].t) : dur;
      d += " L" + num(X(t1)) + "," + num(Y(p.demand));
    }
    s += "<path d=\"" + d + "\" fill=\"none\" stroke=\"black\" stroke-width=\"1.6\"/>\n";
  }
  // Cumulative spend.
  if (!o.spend_curve.empty()) {
    std::string d;
    for (const auto& p : o.spend_curve) {
      d += (d.empty() ? "M" : " L") + num(X(static_cast<double>(p.t))) + "," + num(YS(p.usd));
    }
    s += "<path d=\"" + d +
         "\" fill=\"none\" stroke=\"#d62728\" stroke-width=\"2\" stroke-dasharray=\"6,3\"/>\n";
  }
  // Axes and labels.
  s += "<g stroke=\"#444\" stroke-width=\"1\">\n";
  s += "<line x1=\"" + num(kLeft) + "\" x2=\"" + num(kLeft) + "\" y1=\"" + num(kTop) + "\" y2=\"" +
       num(kTop + ph) + "\"/>\n";
  s += "<line x1=\"" + num(kLeft) + "\" x2=\"" + num(kLeft + pw) + "\" y1=\"" + num(kTop + ph) +
       "\" y2=\"" + num(kTop + ph) + "\"/>\n";
  s += "<line x1=\"" + num(kLeft + pw) + "\" x2=\"" + num(kLeft + pw) + "\" y1=\"" + num(kTop) +
       "\" y2=\"" + num(kTop + ph) + "\" stroke=\"#d62728\"/>\n";
  s += "</g>\n";
  for (double g = 0; g <= ymax + 1e-9; g += gstep) {
    s += "<text x=\"" + num(kLeft - 8) + "\" y=\"" + num(Y(g) + 4) + "\" text-anchor=\"end\">" +
         (gstep < 1 ? num(g) : std::to_string(static_cast<long>(std::lround(g)))) + "</text>\n";
  }
  for (double u = 0; u <= smax + 1e-9; u += sstep) {
    s += "<text x=\"" + num(kLeft + pw + 8) + "\" y=\"" + num(YS(u) + 4) + "\" fill=\"#d62728\">$" +
         std::to_string(static_cast<long>(std::lround(u))) + "</text>\n";
  }
  for (double h = 0; h <= hours + 1e-9; h += tick) {
    s += "<text x=\"" + num(X(h * 3600)) + "\" y=\"" + num(kTop + ph + 18) +
         "\" text-anchor=\"middle\">" + std::to_string(static_cast<long>(std::lround(h))) +
         "</text>\n";
  }
  s += "<text x=\"" + num(kLeft + pw / 2) + "\" y=\"" + num(kTop + ph + 40) +
       "\" text-anchor=\"middle\">hours since start</text>\n";
  s += "<text transform=\"translate(18," + num(kTop + ph / 2) +
       ") rotate(-90)\" text-anchor=\"middle\">GPUs (L40S-equivalent)</text>\n";
  s += "<text transform=\"translate(" + num(kW - 16) + "," + num(kTop + ph / 2) +
       ") rotate(90)\" text-anchor=\"middle\" fill=\"#d62728\">cumulative spend (USD)</text>\n";
  // Legend.
  double lx = kLeft;
  const double ly = 42;
  auto legend = [&](const std::string& swatch, const std::string& label) {
    s += swatch;
    s += "<text x=\"" + num(lx + 22) + "\" y=\"" + num(ly + 4) + "\">" + esc(label) + "</text>\n";
    lx += 34 + 7.0 * static_cast<double>(label.size());
  };
  legend("<line x1=\"" + num(lx) + "\" x2=\"" + num(lx + 16) + "\" y1=\"" + num(ly) + "\" y2=\"" +
             num(ly) + "\" stroke=\"black\" stroke-width=\"2\"/>",
         "demand");
  for (size_t k = 0; k < np; ++k) {
    legend("<rect x=\"" + num(lx) + "\" y=\"" + num(ly - 6) +
               "\" width=\"16\" height=\"12\" fill=\"" + kColors[k % 10] +
               "\" fill-opacity=\"0.75\"/>",
           "Ready: " + o.providers[k]);
  }
  legend("<rect x=\"" + num(lx) + "\" y=\"" + num(ly - 6) +
             "\" width=\"16\" height=\"12\" fill=\"#c8c8c8\"/>",
         "parked");
  legend("<line x1=\"" + num(lx) + "\" x2=\"" + num(lx + 16) + "\" y1=\"" + num(ly) + "\" y2=\"" +
             num(ly) + "\" stroke=\"#d62728\" stroke-width=\"2\" stroke-dasharray=\"6,3\"/>",
         "spend");
  s += "</svg>\n";
  return s;
}

}  // namespace gpupool::sim
