#pragma once
// Scheduled minimum replicas (issue 9): windows given by two cron
// expressions in a time zone, as pure functions of the windows and `now`.
// No I/O; operator/controllers/timezone.h loads zones from tzdata, and the
// pool reconciler requeues the pool at next_change().
//
// Cron (5 fields: minute hour day-of-month month day-of-week):
//   *            every value
//   n            one value
//   a-b          a range, a <= b
//   a,b,c-d      a list of any of these
//   */n, a-b/n   every n-th value of the field / of the range (n >= 1)
//   a/n          every n-th value from a to the field's maximum
//   Month names JAN-DEC and day names SUN-SAT, case-insensitive, wherever a
//   number may stand. Day-of-week 0 and 7 are both Sunday; a day range may
//   end on Sunday ("FRI-SUN", "5-7", "5-0").
//   Day rule (cron's): when both day-of-month and day-of-week are restricted
//   a day matches if either matches; otherwise both must. A field is
//   unrestricted when it is "*" or "*/1" ("*/2" restricts, as in robfig/cron,
//   which KEDA's cron scaler uses).
//   Ranges: minute 0-59, hour 0-23, day-of-month 1-31, month 1-12,
//   day-of-week 0-7. "0 0 31 2 *" parses and never matches.
//
// Matching happens in local civil time of the window's zone, at whole local
// minutes (hh:mm:00 on the local wall clock). Around offset changes:
//   * a local minute that does not exist (skipped by a forward change, e.g.
//     02:30 on the last Sunday of March in Europe/Berlin) never matches;
//   * a local minute shown twice (a backward change, 02:30 on the last
//     Sunday of October) matches only at its first occurrence.
// Only the change just before an instant is consulted for the second rule,
// which is exact for every zone whose offset changes are more than their
// size apart (all of tzdata since 1900).
//
// Window (KEDA's cron scaler semantics): active at `now` when the most recent
// instant at or before `now` matching `start` is later than the most recent
// one matching `end`, both searched back at most kSearchDays. No start match
// in that span: inactive. No end match but a start match: active. Start and
// end matching the same instant: inactive (the window closes as it opens).
//
// Cost: matching walks local days, skipping days that do not match the
// day-of-month / month / day-of-week fields in O(1) each, and scans the hour
// and minute sets only on days that match; a year-long search is at most
// ~367 day checks per offset period.
//
// Thread-safety: values and pure functions; safe concurrently.

#include <bitset>
#include <chrono>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "operator/base/result.h"
#include "operator/clock/clock.h"

namespace gpupool::schedule {

// How far back active() and forward next_change() look.
inline constexpr int kSearchDays = 366;

struct Cron {
  // Parses a 5-field expression (fields separated by spaces or tabs).
  // Errors name the field and the token: "day-of-week: 'FRY' is not a day
  // name", "minute: '60' is out of range 0-59", "hour: step '0' must be at
  // least 1", "expected 5 fields (minute hour day-of-month month
  // day-of-week), got 4".
  static Result<Cron, std::string> parse(std::string_view text);

  // Whether the local civil day matches the day-of-month, month and
  // day-of-week fields (with the day rule above).
  bool matches_day(std::chrono::year_month_day day) const;
  // Whether the local civil minute `t` (seconds are ignored) matches.
  bool matches(std::chrono::local_seconds t) const;

  bool operator==(const Cron&) const = default;

  // The parsed expression. A default Cron has no bits set and never matches.
  std::string text;  // as given, for people
  // Bit i set when value i matches. Day-of-month bits 1-31, month bits 1-12,
  // day-of-week bits 0-6 (0 Sunday).
  std::bitset<60> minutes;
  std::bitset<24> hours;
  std::bitset<32> days_of_month;
  std::bitset<13> months;
  std::bitset<7> days_of_week;
  bool dom_restricted = false;
  bool dow_restricted = false;
};

// A time zone as a value: an IANA name, the UTC offset before the first
// transition, and the transitions (instant, offset in seconds east of UTC
// from that instant on).
class TimeZone {
 public:
  struct Transition {
    Time at{};
    int32_t offset = 0;
    bool operator==(const Transition&) const = default;
  };

  // UTC.
  TimeZone() = default;
  // REQUIRES: transitions strictly increasing in `at`.
  TimeZone(std::string name, int32_t initial_offset, std::vector<Transition> transitions);
  static TimeZone utc() { return TimeZone(); }

  const std::string& name() const { return name_; }
  int32_t initial_offset() const { return initial_offset_; }
  const std::vector<Transition>& transitions() const { return transitions_; }

  // Seconds east of UTC in effect at `t`.
  int32_t offset_at(Time t) const;
  // The local civil time (wall clock) at `t`.
  std::chrono::local_seconds to_local(Time t) const;
  // The first instant at which the wall clock shows `local`, or nullopt when
  // it never does (skipped by a forward change).
  std::optional<Time> first_instant(std::chrono::local_seconds local) const;

  bool operator==(const TimeZone&) const = default;

 private:
  std::string name_ = "UTC";
  int32_t initial_offset_ = 0;
  std::vector<Transition> transitions_;
};

struct Window {
  Cron start;
  Cron end;
  TimeZone tz;
  int min_replicas = 0;
  bool operator==(const Window&) const = default;
};

// The most recent instant in [now - kSearchDays days, now] at which the wall
// clock of `tz` shows a minute matching `cron` (DST rules above), or nullopt.
std::optional<Time> last_match(const Cron& cron, const TimeZone& tz, Time now);
// The earliest such instant in (now, now + kSearchDays days], or nullopt.
std::optional<Time> next_match(const Cron& cron, const TimeZone& tz, Time now);

// Whether the window is active at `now` (see the header).
bool active(const Window& w, Time now);
// The largest min_replicas of the windows active at `now`; 0 when none is.
int min_replicas(const std::vector<Window>& windows, Time now);
// The earliest instant after `now` at which any window's start or end
// matches (when min_replicas() may change; for the reconciler's requeue),
// or nullopt when none does within kSearchDays days.
std::optional<Time> next_change(const std::vector<Window>& windows, Time now);

}  // namespace gpupool::schedule
