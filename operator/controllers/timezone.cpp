#include "operator/controllers/timezone.h"

#include <algorithm>
#include <chrono>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <optional>
#include <system_error>
#include <utility>
#include <vector>

namespace gpupool::controllers {
namespace {

using namespace std::chrono;
using schedule::TimeZone;

constexpr size_t kMaxFileBytes = size_t{1} << 20;

std::string in_quotes(std::string_view s) {
  return "'" + std::string(s) + "'";
}

Unexpected<TimeZoneError> unreadable(const std::string& path, const std::string& why) {
  return fail(TimeZoneError{TimeZoneError::Kind::Unreadable, "cannot read " + path + ": " + why});
}

// The reason a name is refused, or "" when it is acceptable.
std::string name_problem(std::string_view name) {
  if (name.empty()) return "empty";
  if (name.size() > 255) return "longer than 255 characters";
  if (name.front() == '/') return "must not be an absolute path";
  if (name.find("..") != std::string_view::npos) return "must not contain '..'";
  for (char c : name) {
    const bool ok = (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
                    c == '_' || c == '+' || c == '-' || c == '/';
    if (!ok) return "may contain only letters, digits, '_', '+', '-' and '/'";
  }
  if (name.back() == '/' || name.find("//") != std::string_view::npos) {
    return "must not have an empty component";
  }
  return "";
}

// ----- POSIX TZ strings (the TZif footer) -----

struct RuleDate {
  enum class Kind { Julian1, Julian0, MonthWeekDay };  // Jn, n, Mm.w.d
  Kind kind = Kind::MonthWeekDay;
  int a = 0, b = 0, c = 0;
};

struct PosixTz {
  int32_t std_offset = 0;  // seconds east of UTC
  std::optional<int32_t> dst_offset;
  RuleDate start{RuleDate::Kind::MonthWeekDay, 3, 2, 0};  // POSIX default: US rules
  RuleDate end{RuleDate::Kind::MonthWeekDay, 11, 1, 0};
  int32_t start_time = 7200;  // local (standard) time of day
  int32_t end_time = 7200;    // local (daylight) time of day
};

class PosixParser {
 public:
  explicit PosixParser(std::string_view s) : s_(s) {}

  std::optional<PosixTz> parse() {
    PosixTz tz;
    if (!name()) return std::nullopt;
    auto std_off = hms(24);
    if (!std_off) return std::nullopt;
    tz.std_offset = -*std_off;  // POSIX offsets are west of UTC
    if (done()) return tz;
    if (!name()) return std::nullopt;
    tz.dst_offset = tz.std_offset + 3600;
    if (!done() && peek() != ',') {
      auto dst_off = hms(24);
      if (!dst_off) return std::nullopt;
      tz.dst_offset = -*dst_off;
    }
    if (done()) return tz;
    if (!eat(',') || !date(tz.start)) return std::nullopt;
    if (eat('/')) {
      auto t = hms(167);
      if (!t) return std::nullopt;
      tz.start_time = *t;
    }
    if (!eat(',') || !date(tz.end)) return std::nullopt;
    if (eat('/')) {
      auto t = hms(167);
      if (!t) return std::nullopt;
      tz.end_time = *t;
    }
    if (!done()) return std::nullopt;
    return tz;
  }

 private:
  bool done() const { return i_ >= s_.size(); }
  char peek() const { return done() ? '\0' : s_[i_]; }
  bool eat(char c) {
    if (peek() != c) return false;
    ++i_;
    return true;
  }
  static bool alpha(char c) { return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z'); }
  static bool digit(char c) { return c >= '0' && c <= '9'; }

  bool name() {
    size_t n = 0;
    if (eat('<')) {
      while (!done() && peek() != '>') {
        const char c = peek();
        if (!alpha(c) && !digit(c) && c != '+' && c != '-') return false;
        ++i_;
        ++n;
      }
      return eat('>') && n >= 3;
    }
    while (alpha(peek())) {
      ++i_;
      ++n;
    }
    return n >= 3;
  }
  std::optional<int> number(int max_digits) {
    int v = 0, n = 0;
    while (digit(peek()) && n < max_digits) {
      v = v * 10 + (peek() - '0');
      ++i_;
      ++n;
    }
    if (n == 0) return std::nullopt;
    return v;
  }
  // [+-]hh[:mm[:ss]] in seconds.
  std::optional<int32_t> hms(int max_hours) {
    int sign = 1;
    if (eat('-')) {
      sign = -1;
    } else {
      eat('+');
    }
    auto h = number(3);
    if (!h || *h > max_hours) return std::nullopt;
    int m = 0, sec = 0;
    if (eat(':')) {
      auto v = number(2);
      if (!v || *v > 59) return std::nullopt;
      m = *v;
      if (eat(':')) {
        auto w = number(2);
        if (!w || *w > 59) return std::nullopt;
        sec = *w;
      }
    }
    return sign * (*h * 3600 + m * 60 + sec);
  }
  bool date(RuleDate& d) {
    if (eat('J')) {
      auto n = number(3);
      if (!n || *n < 1 || *n > 365) return false;
      d = {RuleDate::Kind::Julian1, *n, 0, 0};
      return true;
    }
    if (eat('M')) {
      auto m = number(2);
      if (!m || *m < 1 || *m > 12 || !eat('.')) return false;
      auto w = number(1);
      if (!w || *w < 1 || *w > 5 || !eat('.')) return false;
      auto wd = number(1);
      if (!wd || *wd > 6) return false;
      d = {RuleDate::Kind::MonthWeekDay, *m, *w, *wd};
      return true;
    }
    auto n = number(3);
    if (!n || *n > 365) return false;
    d = {RuleDate::Kind::Julian0, *n, 0, 0};
    return true;
  }

  std::string_view s_;
  size_t i_ = 0;
};

local_days rule_day(int y, const RuleDate& d) {
  const year yr{y};
  const local_days jan1{yr / January / 1};
  switch (d.kind) {
    case RuleDate::Kind::Julian1:  // 1..365, February 29 never counted
      return jan1 + days{d.a - 1 + (yr.is_leap() && d.a >= 60 ? 1 : 0)};
    case RuleDate::Kind::Julian0:  // 0..365, February 29 counted
      return jan1 + days{d.a};
    case RuleDate::Kind::MonthWeekDay: {
      const month m{static_cast<unsigned>(d.a)};
      const local_days first{yr / m / 1};
      const int wd = static_cast<int>(weekday{first}.c_encoding());
      int day_of_month = 1 + (d.c - wd + 7) % 7 + (d.b - 1) * 7;
      const auto month_end =
          static_cast<int>(static_cast<unsigned>((yr / m / std::chrono::last).day()));
      while (day_of_month > month_end)
        day_of_month -= 7;  // week 5 is "the last"
      return first + days{day_of_month - 1};
    }
  }
  return jan1;
}

// The rule's transitions for the years [from, kLastExpandedYear], in order;
// of two at the same instant the later-listed wins.
std::vector<TimeZone::Transition> expand(const PosixTz& tz, int from) {
  std::vector<TimeZone::Transition> out;
  if (!tz.dst_offset) return out;
  for (int y = from; y <= kLastExpandedYear; ++y) {
    const Time start = Time{(rule_day(y, tz.start) + seconds{tz.start_time}).time_since_epoch() -
                            seconds{tz.std_offset}};
    const Time end = Time{(rule_day(y, tz.end) + seconds{tz.end_time}).time_since_epoch() -
                          seconds{*tz.dst_offset}};
    out.push_back({start, *tz.dst_offset});
    out.push_back({end, tz.std_offset});
  }
  std::stable_sort(out.begin(), out.end(),
                   [](const auto& a, const auto& b) { return a.at < b.at; });
  return out;
}

// ----- TZif -----

class Reader {
 public:
  explicit Reader(std::string_view b) : b_(b) {}
  bool has(uint64_t n) const { return n <= b_.size() - pos_; }
  size_t pos() const { return pos_; }
  void skip(size_t n) { pos_ += n; }
  std::string_view bytes(size_t n) {
    const std::string_view v = b_.substr(pos_, n);
    pos_ += n;
    return v;
  }
  uint8_t u8() { return static_cast<uint8_t>(b_[pos_++]); }
  uint32_t u32() {
    uint32_t v = 0;
    for (int i = 0; i < 4; ++i)
      v = (v << 8) | u8();
    return v;
  }
  int64_t i64() {
    uint64_t v = 0;
    for (int i = 0; i < 8; ++i)
      v = (v << 8) | u8();
    return static_cast<int64_t>(v);
  }
  std::string_view rest() const { return b_.substr(pos_); }

 private:
  std::string_view b_;
  size_t pos_ = 0;
};

struct Header {
  char version = 0;
  uint32_t isutcnt = 0, isstdcnt = 0, leapcnt = 0, timecnt = 0, typecnt = 0, charcnt = 0;

  uint64_t data_size(uint64_t time_size) const {
    return uint64_t{timecnt} * time_size + timecnt + uint64_t{typecnt} * 6 + charcnt +
           uint64_t{leapcnt} * (time_size + 4) + isstdcnt + isutcnt;
  }
};

std::optional<Header> header(Reader& r) {
  if (!r.has(44) || r.bytes(4) != "TZif") return std::nullopt;
  Header h;
  h.version = static_cast<char>(r.u8());
  r.skip(15);
  h.isutcnt = r.u32();
  h.isstdcnt = r.u32();
  h.leapcnt = r.u32();
  h.timecnt = r.u32();
  h.typecnt = r.u32();
  h.charcnt = r.u32();
  return h;
}

}  // namespace

Result<TimeZone, TimeZoneError> parse_tzif(const std::string& name, std::string_view bytes,
                                           const std::string& path) {
  Reader r(bytes);
  std::optional<Header> h = header(r);
  if (!h) return unreadable(path, "not a TZif file");
  if (h->version != 0 && h->version < '2') return unreadable(path, "unknown TZif version");
  uint64_t time_size = 4;
  if (h->version >= '2') {
    // Skip the version 1 data; the 64-bit section follows with its own header.
    if (!r.has(h->data_size(4))) return unreadable(path, "truncated");
    r.skip(static_cast<size_t>(h->data_size(4)));
    h = header(r);
    if (!h) return unreadable(path, "truncated or malformed version 2 header");
    time_size = 8;
  }
  if (h->typecnt == 0 || h->typecnt > 256 || h->charcnt == 0 ||
      (h->isstdcnt != 0 && h->isstdcnt != h->typecnt) ||
      (h->isutcnt != 0 && h->isutcnt != h->typecnt)) {
    return unreadable(path, "malformed header counts");
  }
  if (h->leapcnt != 0) return unreadable(path, "uses leap seconds (\"right/\" zones are refused)");
  if (!r.has(h->data_size(time_size))) return unreadable(path, "truncated");

  std::vector<int64_t> times(h->timecnt);
  for (auto& t : times)
    t = time_size == 8 ? r.i64() : static_cast<int32_t>(r.u32());
  std::vector<uint8_t> indices(h->timecnt);
  for (auto& i : indices)
    i = r.u8();
  std::vector<int32_t> offsets(h->typecnt);
  for (auto& o : offsets) {
    o = static_cast<int32_t>(r.u32());
    r.skip(2);  // isdst, desigidx
    if (o == INT32_MIN) return unreadable(path, "malformed local time type");
  }
  r.skip(h->charcnt + h->isstdcnt + h->isutcnt);

  std::vector<TimeZone::Transition> transitions;
  int32_t current = offsets[0];
  for (size_t i = 0; i < times.size(); ++i) {
    if (indices[i] >= offsets.size()) return unreadable(path, "malformed transition type");
    if (i > 0 && times[i] <= times[i - 1]) return unreadable(path, "transitions out of order");
    const int32_t o = offsets[indices[i]];
    if (o != current) transitions.push_back({Time{seconds{times[i]}}, o});
    current = o;
  }

  if (h->version >= '2') {
    const std::string_view rest = r.rest();
    const size_t close = rest.size() >= 2 ? rest.find('\n', 1) : std::string_view::npos;
    if (rest.empty() || rest[0] != '\n' || close == std::string_view::npos) {
      return unreadable(path, "missing TZ string footer");
    }
    const std::string_view footer = rest.substr(1, close - 1);
    if (!footer.empty()) {
      const std::optional<PosixTz> rule = PosixParser(footer).parse();
      if (!rule) return unreadable(path, "bad TZ string " + in_quotes(footer));
      // From the year of the last transition (1970 when there is none),
      // clamped so that far-off instants ("big bang" markers) stay in range.
      const Time last = std::clamp(times.empty() ? Time{} : Time{seconds{times.back()}}, Time{},
                                   Time{sys_days{year{kLastExpandedYear} / January / 1}});
      const int from = static_cast<int>(year_month_day{floor<days>(last)}.year());
      for (const auto& t : expand(*rule, from)) {
        if (!times.empty() && t.at <= Time{seconds{times.back()}}) continue;
        if (!transitions.empty() && t.at == transitions.back().at) {
          transitions.pop_back();  // two at one instant: the later-listed wins
          current = transitions.empty() ? offsets[0] : transitions.back().offset;
        }
        if (t.offset != current) transitions.push_back(t);
        current = t.offset;
      }
    }
  }
  return TimeZone(name, offsets[0], std::move(transitions));
}

TimeZoneLoader::TimeZoneLoader(std::string dir) : dir_(std::move(dir)) {}

Result<TimeZone, TimeZoneError> TimeZoneLoader::load(const std::string& name) const {
  if (name == "UTC" || name == "Etc/UTC") return TimeZone(name, 0, {});
  if (const std::string why = name_problem(name); !why.empty()) {
    return fail(TimeZoneError{TimeZoneError::Kind::InvalidName,
                              "invalid time zone name " + in_quotes(name) + ": " + why});
  }
  {
    MutexLock lock(mu_);
    if (auto it = cache_.find(name); it != cache_.end()) return it->second;
  }
  const std::string path = dir_ + "/" + name;
  std::error_code ec;
  if (!std::filesystem::is_regular_file(path, ec)) {
    return fail(
        TimeZoneError{TimeZoneError::Kind::Unknown, "unknown time zone " + in_quotes(name)});
  }
  const auto size = std::filesystem::file_size(path, ec);
  if (ec) return unreadable(path, "cannot stat");
  if (size > kMaxFileBytes) return unreadable(path, "larger than 1 MiB");
  std::ifstream in(path, std::ios::binary);
  if (!in) return unreadable(path, "cannot open");
  const std::string bytes((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  if (in.bad()) return unreadable(path, "read error");
  auto tz = parse_tzif(name, bytes, path);
  if (!tz) return tz;
  MutexLock lock(mu_);
  cache_.emplace(name, *tz);
  return tz;
}

}  // namespace gpupool::controllers
