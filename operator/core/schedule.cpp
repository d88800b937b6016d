#include "operator/core/schedule.h"

#include <algorithm>
#include <array>
#include <cassert>
#include <cctype>
#include <cstdint>

namespace gpupool::schedule {
namespace {

using namespace std::chrono;

enum class Names { None, Month, Day };

struct Field {
  const char* name;
  int min;
  int max;
  Names names;
};

constexpr std::array<Field, 5> kFields{{
    {"minute", 0, 59, Names::None},
    {"hour", 0, 23, Names::None},
    {"day-of-month", 1, 31, Names::None},
    {"month", 1, 12, Names::Month},
    {"day-of-week", 0, 7, Names::Day},
}};

constexpr std::array<const char*, 12> kMonthNames{"JAN", "FEB", "MAR", "APR", "MAY", "JUN",
                                                  "JUL", "AUG", "SEP", "OCT", "NOV", "DEC"};
constexpr std::array<const char*, 7> kDayNames{"SUN", "MON", "TUE", "WED", "THU", "FRI", "SAT"};

std::string quoted(std::string_view s) {
  return "'" + std::string(s) + "'";
}

std::vector<std::string_view> split(std::string_view s, char sep) {
  std::vector<std::string_view> out;
  size_t from = 0;
  for (;;) {
    const size_t at = s.find(sep, from);
    out.push_back(
        s.substr(from, at == std::string_view::npos ? std::string_view::npos : at - from));
    if (at == std::string_view::npos) return out;
    from = at + 1;
  }
}

// A decimal number of at most 4 digits (no sign), or nullopt.
std::optional<int> small_number(std::string_view s) {
  if (s.empty() || s.size() > 4) return std::nullopt;
  int v = 0;
  for (char c : s) {
    if (c < '0' || c > '9') return std::nullopt;
    v = v * 10 + (c - '0');
  }
  return v;
}

// One value of a field: a number in range, or a name where the field takes
// names. On error, returns the message (without the field prefix).
Result<int, std::string> value(const Field& f, std::string_view token) {
  if (f.names != Names::None && !token.empty() &&
      std::isalpha(static_cast<unsigned char>(token[0]))) {
    std::string upper(token);
    for (char& c : upper)
      c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
    if (f.names == Names::Month) {
      for (size_t i = 0; i < kMonthNames.size(); ++i) {
        if (upper == kMonthNames[i]) return static_cast<int>(i) + 1;
      }
      return fail(quoted(token) + " is not a month name");
    }
    for (size_t i = 0; i < kDayNames.size(); ++i) {
      if (upper == kDayNames[i]) return static_cast<int>(i);
    }
    return fail(quoted(token) + " is not a day name");
  }
  const std::optional<int> n = small_number(token);
  if (!n) return fail(quoted(token) + " is not a number");
  if (*n < f.min || *n > f.max) {
    return fail(quoted(token) + " is out of range " + std::to_string(f.min) + "-" +
                std::to_string(f.max));
  }
  return *n;
}

// Sets the bits of one field; on error, "<field>: <what>".
Result<uint64_t, std::string> parse_field(const Field& f, std::string_view text) {
  const auto err = [&](const std::string& what) { return fail(std::string(f.name) + ": " + what); };
  uint64_t bits = 0;
  for (std::string_view element : split(text, ',')) {
    if (element.empty()) return err("empty element in list " + quoted(text));
    const std::vector<std::string_view> parts = split(element, '/');
    if (parts.size() > 2) return err(quoted(element) + " has more than one step");
    int step = 1;
    if (parts.size() == 2) {
      const std::optional<int> n = small_number(parts[1]);
      if (!n) return err("step " + quoted(parts[1]) + " is not a number");
      if (*n < 1) return err("step " + quoted(parts[1]) + " must be at least 1");
      step = *n;
    }
    const std::string_view range = parts[0];
    const int top = f.names == Names::Day ? 6 : f.max;  // "*" and "a/n": every day once
    int lo = f.min;
    int hi = top;
    if (range != "*") {
      const size_t dash = range.find('-');
      if (dash == std::string_view::npos) {
        auto v = value(f, range);
        if (!v) return err(v.error());
        lo = *v;
        hi = parts.size() == 2 ? std::max(lo, top) : lo;  // "a/n": a to the maximum
      } else {
        const std::string_view a = range.substr(0, dash);
        const std::string_view b = range.substr(dash + 1);
        if (a.empty() || b.empty()) return err(quoted(range) + " is not a range");
        auto va = value(f, a);
        if (!va) return err(va.error());
        auto vb = value(f, b);
        if (!vb) return err(vb.error());
        lo = *va;
        hi = *vb;
        if (f.names == Names::Day && hi == 0 && lo > 0) hi = 7;  // "FRI-SUN"
        if (hi < lo) return err("range " + quoted(range) + " ends before it starts");
      }
    }
    for (int v = lo; v <= hi; v += step) {
      bits |= uint64_t{1} << (f.names == Names::Day ? v % 7 : v);
    }
  }
  return bits;
}

template <size_t N>
std::bitset<N> to_bitset(uint64_t bits) {
  return std::bitset<N>(bits);
}

local_seconds to_local(Time t, int32_t offset) {
  return local_seconds{t.time_since_epoch() + seconds{offset}};
}
Time to_utc(local_seconds l, int32_t offset) {
  return Time{l.time_since_epoch() - seconds{offset}};
}

// The latest whole local minute in [lo, hi] that `cron` matches.
std::optional<local_seconds> latest_local(const Cron& cron, local_seconds lo, local_seconds hi) {
  const local_seconds hi_m = floor<minutes>(hi);
  const local_seconds lo_m = ceil<minutes>(lo);
  if (hi_m < lo_m) return std::nullopt;
  const local_days d_hi = floor<days>(hi_m);
  const local_days d_lo = floor<days>(lo_m);
  for (local_days d = d_hi; d >= d_lo; d -= days{1}) {
    if (!cron.matches_day(year_month_day{d})) continue;
    const int upper = d == d_hi ? static_cast<int>(duration_cast<minutes>(hi_m - d).count()) : 1439;
    const int lower = d == d_lo ? static_cast<int>(duration_cast<minutes>(lo_m - d).count()) : 0;
    for (int m = upper; m >= lower;) {
      const int h = m / 60;
      if (!cron.hours[static_cast<size_t>(h)]) {
        m = h * 60 - 1;  // last minute of the hour before
        continue;
      }
      if (cron.minutes[static_cast<size_t>(m % 60)]) return local_seconds{d} + minutes{m};
      --m;
    }
  }
  return std::nullopt;
}

// The earliest whole local minute in [lo, hi] that `cron` matches.
std::optional<local_seconds> earliest_local(const Cron& cron, local_seconds lo, local_seconds hi) {
  const local_seconds hi_m = floor<minutes>(hi);
  const local_seconds lo_m = ceil<minutes>(lo);
  if (hi_m < lo_m) return std::nullopt;
  const local_days d_hi = floor<days>(hi_m);
  const local_days d_lo = floor<days>(lo_m);
  for (local_days d = d_lo; d <= d_hi; d += days{1}) {
    if (!cron.matches_day(year_month_day{d})) continue;
    const int upper = d == d_hi ? static_cast<int>(duration_cast<minutes>(hi_m - d).count()) : 1439;
    const int lower = d == d_lo ? static_cast<int>(duration_cast<minutes>(lo_m - d).count()) : 0;
    for (int m = lower; m <= upper;) {
      const int h = m / 60;
      if (!cron.hours[static_cast<size_t>(h)]) {
        m = (h + 1) * 60;  // first minute of the next hour
        continue;
      }
      if (cron.minutes[static_cast<size_t>(m % 60)]) return local_seconds{d} + minutes{m};
      ++m;
    }
  }
  return std::nullopt;
}

// One stretch of constant offset: [begin, end) in UTC (unbounded when
// nullopt), its offset, and the offset before it (when there is one).
struct Period {
  std::optional<Time> begin;
  std::optional<Time> end;
  int32_t offset = 0;
  std::optional<int32_t> offset_before;
};

// Period k of tz: -1 is the one before the first transition.
Period period(const TimeZone& tz, ptrdiff_t k) {
  const auto& tr = tz.transitions();
  Period p;
  if (k >= 0) {
    p.begin = tr[static_cast<size_t>(k)].at;
    p.offset = tr[static_cast<size_t>(k)].offset;
    p.offset_before = k > 0 ? tr[static_cast<size_t>(k - 1)].offset : tz.initial_offset();
  } else {
    p.offset = tz.initial_offset();
  }
  if (k + 1 < static_cast<ptrdiff_t>(tr.size())) p.end = tr[static_cast<size_t>(k + 1)].at;
  return p;
}

// The index of the period containing t.
ptrdiff_t period_index(const TimeZone& tz, Time t) {
  const auto& tr = tz.transitions();
  const auto it = std::upper_bound(tr.begin(), tr.end(), t,
                                   [](Time v, const TimeZone::Transition& x) { return v < x.at; });
  return (it - tr.begin()) - 1;
}

// The wall-clock span of period p between the instants [from, to] (both
// inside p), without the minutes the clock already showed before p began
// (a backward change): matching there would be a second occurrence.
std::pair<local_seconds, local_seconds> local_span(const Period& p, Time from, Time to) {
  local_seconds lo = to_local(from, p.offset);
  if (p.begin && p.offset_before) lo = std::max(lo, to_local(*p.begin, *p.offset_before));
  return {lo, to_local(to, p.offset)};
}

}  // namespace

Result<Cron, std::string> Cron::parse(std::string_view text) {
  std::vector<std::string_view> fields;
  size_t i = 0;
  while (i < text.size()) {
    if (text[i] == ' ' || text[i] == '\t') {
      ++i;
      continue;
    }
    const size_t from = i;
    while (i < text.size() && text[i] != ' ' && text[i] != '\t')
      ++i;
    fields.push_back(text.substr(from, i - from));
  }
  if (fields.size() != kFields.size()) {
    return fail("expected 5 fields (minute hour day-of-month month day-of-week), got " +
                std::to_string(fields.size()));
  }
  std::array<uint64_t, 5> bits{};
  for (size_t f = 0; f < kFields.size(); ++f) {
    auto b = parse_field(kFields[f], fields[f]);
    if (!b) return fail(b.error());
    bits[f] = *b;
  }
  Cron c;
  c.text = std::string(text);
  c.minutes = to_bitset<60>(bits[0]);
  c.hours = to_bitset<24>(bits[1]);
  c.days_of_month = to_bitset<32>(bits[2]);
  c.months = to_bitset<13>(bits[3]);
  c.days_of_week = to_bitset<7>(bits[4]);
  const auto star = [](std::string_view f) { return f == "*" || f == "*/1"; };
  c.dom_restricted = !star(fields[2]);
  c.dow_restricted = !star(fields[4]);
  return c;
}

bool Cron::matches_day(year_month_day day) const {
  if (!months[static_cast<unsigned>(day.month())]) return false;
  const bool dom = days_of_month[static_cast<unsigned>(day.day())];
  const bool dow = days_of_week[weekday{sys_days{day}}.c_encoding()];
  if (dom_restricted && dow_restricted) return dom || dow;
  return dom && dow;
}

bool Cron::matches(local_seconds t) const {
  const local_days d = floor<days>(t);
  if (!matches_day(year_month_day{d})) return false;
  // (`minutes` here is the member.)
  const auto m = duration_cast<std::chrono::minutes>(t - d).count();
  return hours[static_cast<size_t>(m / 60)] && minutes[static_cast<size_t>(m % 60)];
}

TimeZone::TimeZone(std::string name, int32_t initial_offset, std::vector<Transition> transitions)
    : name_(std::move(name)),
      initial_offset_(initial_offset),
      transitions_(std::move(transitions)) {
  assert(std::adjacent_find(transitions_.begin(), transitions_.end(),
                            [](const Transition& a, const Transition& b) {
                              return a.at >= b.at;
                            }) == transitions_.end());
}

int32_t TimeZone::offset_at(Time t) const {
  return period(*this, period_index(*this, t)).offset;
}

local_seconds TimeZone::to_local(Time t) const {
  return schedule::to_local(t, offset_at(t));
}

std::optional<Time> TimeZone::first_instant(local_seconds local) const {
  for (ptrdiff_t k = -1; k < static_cast<ptrdiff_t>(transitions_.size()); ++k) {
    const Period p = period(*this, k);
    const Time t = to_utc(local, p.offset);
    if ((!p.begin || t >= *p.begin) && (!p.end || t < *p.end)) return t;
  }
  return std::nullopt;
}

std::optional<Time> last_match(const Cron& cron, const TimeZone& tz, Time now) {
  const Time limit = now - days{kSearchDays};
  for (ptrdiff_t k = period_index(tz, now);; --k) {
    const Period p = period(tz, k);
    const Time from = p.begin ? std::max(*p.begin, limit) : limit;
    const Time to = p.end ? std::min(now, *p.end - seconds{1}) : now;
    if (from <= to) {
      const auto [lo, hi] = local_span(p, from, to);
      if (auto l = latest_local(cron, lo, hi)) return to_utc(*l, p.offset);
    }
    if (!p.begin || *p.begin <= limit) return std::nullopt;
  }
}

std::optional<Time> next_match(const Cron& cron, const TimeZone& tz, Time now) {
  const Time start = now + seconds{1};
  const Time limit = now + days{kSearchDays};
  for (ptrdiff_t k = period_index(tz, start);; ++k) {
    const Period p = period(tz, k);
    const Time from = p.begin ? std::max(*p.begin, start) : start;
    const Time to = p.end ? std::min(limit, *p.end - seconds{1}) : limit;
    if (from <= to) {
      const auto [lo, hi] = local_span(p, from, to);
      if (auto l = earliest_local(cron, lo, hi)) return to_utc(*l, p.offset);
    }
    if (!p.end || *p.end > limit) return std::nullopt;
  }
}

bool active(const Window& w, Time now) {
  const std::optional<Time> start = last_match(w.start, w.tz, now);
  if (!start) return false;
  const std::optional<Time> end = last_match(w.end, w.tz, now);
  return !end || *start > *end;
}

int min_replicas(const std::vector<Window>& windows, Time now) {
  int best = 0;
  for (const Window& w : windows) {
    if (w.min_replicas > best && active(w, now)) best = w.min_replicas;
  }
  return best;
}

std::optional<Time> next_change(const std::vector<Window>& windows, Time now) {
  std::optional<Time> best;
  for (const Window& w : windows) {
    for (const Cron* c : {&w.start, &w.end}) {
      const std::optional<Time> t = next_match(*c, w.tz, now);
      if (t && (!best || *t < *best)) best = t;
    }
  }
  return best;
}

}  // namespace gpupool::schedule
