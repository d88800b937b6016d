#include "operator/sim/trace.h"

#include <algorithm>
#include <charconv>
#include <cmath>
#include <iterator>

namespace gpupool::sim {
namespace {

std::string_view trim(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t'))
    s.remove_prefix(1);
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t' || s.back() == '\r'))
    s.remove_suffix(1);
  return s;
}

bool parse_number(std::string_view s, double& out) {
  if (s.empty()) return false;
  if (s.front() == '+') s.remove_prefix(1);
  const char* end = s.data() + s.size();
  auto [ptr, ec] = std::from_chars(s.data(), end, out);
  return ec == std::errc() && ptr == end && std::isfinite(out);
}

std::string show(double v) {
  char buf[32];
  auto [ptr, ec] = std::to_chars(buf, buf + sizeof buf, v);
  return ec == std::errc() ? std::string(buf, ptr) : std::string("?");
}

}  // namespace

double Trace::at(int64_t t) const {
  if (steps.empty() || t < steps.front().time_s || t >= steps.back().time_s) return 0;
  auto it = std::upper_bound(steps.begin(), steps.end(), t,
                             [](int64_t v, const TraceStep& s) { return v < s.time_s; });
  return std::prev(it)->gpus;
}

int64_t Trace::next_change_after(int64_t t) const {
  auto it = std::upper_bound(steps.begin(), steps.end(), t,
                             [](int64_t v, const TraceStep& s) { return v < s.time_s; });
  return it == steps.end() ? end_s() : it->time_s;
}

double Trace::demanded_gpu_hours() const {
  double total = 0;
  for (size_t i = 0; i + 1 < steps.size(); ++i) {
    total += steps[i].gpus * static_cast<double>(steps[i + 1].time_s - steps[i].time_s);
  }
  return total / 3600.0;
}

double Trace::peak() const {
  double p = 0;
  for (size_t i = 0; i + 1 < steps.size(); ++i)
    p = std::max(p, steps[i].gpus);
  return p;
}

std::string TraceError::to_string(std::string_view file) const {
  std::string out(file);
  if (line > 0) out += ":" + std::to_string(line);
  return out + ": " + message;
}

Result<Trace, TraceError> parse_trace(std::string_view text) {
  if (text.substr(0, 3) == "\xEF\xBB\xBF") text.remove_prefix(3);
  Trace trace;
  bool header = false;
  int line_no = 0;
  int last_line = 0;
  while (!text.empty()) {
    const size_t nl = text.find('\n');
    std::string_view line = trim(text.substr(0, nl));
    text = nl == std::string_view::npos ? std::string_view{} : text.substr(nl + 1);
    ++line_no;
    if (line.empty() || line.front() == '#') continue;
    const size_t comma = line.find(',');
    if (!header) {
      if (comma == std::string_view::npos || trim(line.substr(0, comma)) != "time_s" ||
          trim(line.substr(comma + 1)) != "gpus") {
        return fail(TraceError{
            line_no, "the header must be \"time_s,gpus\", got \"" + std::string(line) + "\""});
      }
      header = true;
      continue;
    }
    if (comma == std::string_view::npos || line.find(',', comma + 1) != std::string_view::npos) {
      return fail(TraceError{
          line_no, "expected two fields \"time_s,gpus\", got \"" + std::string(line) + "\""});
    }
    const std::string_view ts = trim(line.substr(0, comma));
    const std::string_view gs = trim(line.substr(comma + 1));
    double t = 0;
    double g = 0;
    if (!parse_number(ts, t)) {
      return fail(TraceError{line_no, "time_s \"" + std::string(ts) + "\" is not a number"});
    }
    if (!parse_number(gs, g)) {
      return fail(TraceError{line_no, "gpus \"" + std::string(gs) + "\" is not a number"});
    }
    if (t < 0 || t > 1e9) {
      return fail(TraceError{line_no, "time_s " + show(t) + " is out of range [0, 1e9]"});
    }
    if (g < 0) return fail(TraceError{line_no, "demand " + show(g) + " is negative"});
    if (g > 1e6) return fail(TraceError{line_no, "demand " + show(g) + " is above 1e6 GPUs"});
    const auto secs = static_cast<int64_t>(std::llround(t));
    if (trace.steps.empty() && secs != 0) {
      return fail(TraceError{line_no, "the first row's time must be 0, got " + show(t)});
    }
    if (!trace.steps.empty() && secs <= trace.steps.back().time_s) {
      return fail(TraceError{line_no, "time " + show(t) + " is not after the previous row's time " +
                                          std::to_string(trace.steps.back().time_s) +
                                          " (times must increase, in whole seconds)"});
    }
    trace.steps.push_back(TraceStep{secs, g});
    last_line = line_no;
  }
  if (!header) return fail(TraceError{0, "empty trace: expected the header \"time_s,gpus\""});
  if (trace.steps.size() < 2) {
    return fail(TraceError{last_line,
                           "a trace needs at least two rows: the last row's time "
                           "ends the run"});
  }
  return trace;
}

}  // namespace gpupool::sim
