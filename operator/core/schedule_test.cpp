#include "operator/core/schedule.h"

#include <gtest/gtest.h>

#include <chrono>
#include <string>

namespace gpupool::schedule {
namespace {

using namespace std::chrono;
using namespace std::chrono_literals;

Time utc(int y, unsigned mo, unsigned d, int h, int mi, int s = 0) {
  return sys_days{year{y} / month{mo} / day{d}} + hours{h} + minutes{mi} + seconds{s};
}
local_seconds local(int y, unsigned mo, unsigned d, int h, int mi) {
  return local_days{year{y} / month{mo} / day{d}} + hours{h} + minutes{mi};
}

Cron cron(const std::string& text) {
  auto c = Cron::parse(text);
  EXPECT_TRUE(c.ok()) << text << ": " << (c.ok() ? "" : c.error());
  return c.ok() ? *c : Cron{};
}

std::string parse_error(const std::string& text) {
  auto c = Cron::parse(text);
  return c.ok() ? "parsed" : c.error();
}

// Europe/Berlin with its real transitions from 2025 to 2027 (CET +1 / CEST
// +2, changing at 01:00 UTC on the last Sundays of March and October), built
// by hand so these tests do not depend on tzdata.
TimeZone berlin() {
  return TimeZone("Europe/Berlin", 3600,
                  {{utc(2025, 3, 30, 1, 0), 7200},
                   {utc(2025, 10, 26, 1, 0), 3600},
                   {utc(2026, 3, 29, 1, 0), 7200},
                   {utc(2026, 10, 25, 1, 0), 3600},
                   {utc(2027, 3, 28, 1, 0), 7200}});
}

Window window(const std::string& start, const std::string& end, int min,
              TimeZone tz = TimeZone::utc()) {
  return Window{cron(start), cron(end), std::move(tz), min};
}

// --- parsing ---

TEST(CronParse, StarsMatchEveryValueAndLeaveTheDayFieldsUnrestricted) {
  const Cron c = cron("* * * * *");
  EXPECT_EQ(c.minutes.count(), 60u);
  EXPECT_EQ(c.hours.count(), 24u);
  EXPECT_EQ(c.days_of_month.count(), 31u);
  EXPECT_FALSE(c.days_of_month[0]);
  EXPECT_EQ(c.months.count(), 12u);
  EXPECT_FALSE(c.months[0]);
  EXPECT_EQ(c.days_of_week.count(), 7u);
  EXPECT_FALSE(c.dom_restricted);
  EXPECT_FALSE(c.dow_restricted);
  EXPECT_EQ(c.text, "* * * * *");
}

TEST(CronParse, NumbersSetOneValueEach) {
  const Cron c = cron("5 4 3 2 1");
  EXPECT_EQ(c.minutes.to_ullong(), 1ull << 5);
  EXPECT_EQ(c.hours.to_ullong(), 1ull << 4);
  EXPECT_EQ(c.days_of_month.to_ullong(), 1ull << 3);
  EXPECT_EQ(c.months.to_ullong(), 1ull << 2);
  EXPECT_EQ(c.days_of_week.to_ullong(), 1ull << 1);
  EXPECT_TRUE(c.dom_restricted);
  EXPECT_TRUE(c.dow_restricted);
}

TEST(CronParse, RangesListsAndSteps) {
  EXPECT_EQ(cron("10-12 * * * *").minutes.to_ullong(), 0b111ull << 10);
  EXPECT_EQ(cron("1,5,7-9 * * * *").minutes.to_ullong(),
            (1ull << 1) | (1ull << 5) | (1ull << 7) | (1ull << 8) | (1ull << 9));
  EXPECT_EQ(cron("*/15 * * * *").minutes.to_ullong(),
            (1ull << 0) | (1ull << 15) | (1ull << 30) | (1ull << 45));
  EXPECT_EQ(cron("10-30/10 * * * *").minutes.to_ullong(),
            (1ull << 10) | (1ull << 20) | (1ull << 30));
  EXPECT_EQ(cron("5/20 * * * *").minutes.to_ullong(), (1ull << 5) | (1ull << 25) | (1ull << 45));
  EXPECT_EQ(cron("0 */6 * * *").hours.to_ullong(),
            (1ull << 0) | (1ull << 6) | (1ull << 12) | (1ull << 18));
  EXPECT_EQ(cron("0 0 1-31/10 * *").days_of_month.to_ullong(),
            (1ull << 1) | (1ull << 11) | (1ull << 21) | (1ull << 31));
  // Whitespace between fields may be several spaces or tabs.
  EXPECT_EQ(cron(" 0\t 8  *  * * ").hours.to_ullong(), 1ull << 8);
}

TEST(CronParse, MonthAndDayNamesAreCaseInsensitive) {
  EXPECT_EQ(cron("0 0 * JAN-MAR *").months.to_ullong(), 0b1110ull);
  EXPECT_EQ(cron("0 0 * jan,Jul,dec *").months.to_ullong(),
            (1ull << 1) | (1ull << 7) | (1ull << 12));
  EXPECT_EQ(cron("0 0 * * MON-FRI").days_of_week.to_ullong(), 0b0111110ull);
  EXPECT_EQ(cron("0 0 * * sun,Sat").days_of_week.to_ullong(), 0b1000001ull);
  EXPECT_EQ(cron("0 0 * * mon-fri/2").days_of_week.to_ullong(),
            (1ull << 1) | (1ull << 3) | (1ull << 5));
}

TEST(CronParse, ZeroAndSevenAreBothSundayAndRangesMayEndOnSunday) {
  EXPECT_EQ(cron("0 0 * * 0").days_of_week.to_ullong(), 1ull);
  EXPECT_EQ(cron("0 0 * * 7").days_of_week.to_ullong(), 1ull);
  const uint64_t fri_to_sun = (1ull << 5) | (1ull << 6) | 1ull;
  EXPECT_EQ(cron("0 0 * * 5-7").days_of_week.to_ullong(), fri_to_sun);
  EXPECT_EQ(cron("0 0 * * FRI-SUN").days_of_week.to_ullong(), fri_to_sun);
  EXPECT_EQ(cron("0 0 * * 5-0").days_of_week.to_ullong(), fri_to_sun);
  // "*/2" and "a/n" over days stop at Saturday: Sunday is not counted twice.
  EXPECT_EQ(cron("0 0 * * */2").days_of_week.to_ullong(), 0b1010101ull);
  EXPECT_EQ(cron("0 0 * * 1/2").days_of_week.to_ullong(), (1ull << 1) | (1ull << 3) | (1ull << 5));
}

TEST(CronParse, OnlyStarAndStarSlashOneLeaveADayFieldUnrestricted) {
  EXPECT_FALSE(cron("0 0 */1 * */1").dom_restricted);
  EXPECT_FALSE(cron("0 0 */1 * */1").dow_restricted);
  EXPECT_TRUE(cron("0 0 */2 * *").dom_restricted);
  EXPECT_TRUE(cron("0 0 * * */2").dow_restricted);
  EXPECT_TRUE(cron("0 0 1-31 * *").dom_restricted);
}

TEST(CronParse, ErrorsNameTheFieldAndTheToken) {
  EXPECT_EQ(parse_error("* * * *"),
            "expected 5 fields (minute hour day-of-month month day-of-week), got 4");
  EXPECT_EQ(parse_error("* * * * * *"),
            "expected 5 fields (minute hour day-of-month month day-of-week), got 6");
  EXPECT_EQ(parse_error(""),
            "expected 5 fields (minute hour day-of-month month day-of-week), got 0");
  EXPECT_EQ(parse_error("0 8 * * MON-FRY"), "day-of-week: 'FRY' is not a day name");
  EXPECT_EQ(parse_error("0 8 * JANUARY *"), "month: 'JANUARY' is not a month name");
  EXPECT_EQ(parse_error("0 8 * MON *"), "month: 'MON' is not a month name");
  EXPECT_EQ(parse_error("0 8 * * JAN"), "day-of-week: 'JAN' is not a day name");
  EXPECT_EQ(parse_error("60 * * * *"), "minute: '60' is out of range 0-59");
  EXPECT_EQ(parse_error("0 24 * * *"), "hour: '24' is out of range 0-23");
  EXPECT_EQ(parse_error("0 0 0 * *"), "day-of-month: '0' is out of range 1-31");
  EXPECT_EQ(parse_error("0 0 32 * *"), "day-of-month: '32' is out of range 1-31");
  EXPECT_EQ(parse_error("0 0 * 13 *"), "month: '13' is out of range 1-12");
  EXPECT_EQ(parse_error("0 0 * * 8"), "day-of-week: '8' is out of range 0-7");
  EXPECT_EQ(parse_error("x * * * *"), "minute: 'x' is not a number");
  EXPECT_EQ(parse_error("0 MON * * *"), "hour: 'MON' is not a number");
  EXPECT_EQ(parse_error("1.5 * * * *"), "minute: '1.5' is not a number");
  EXPECT_EQ(parse_error("*/0 * * * *"), "minute: step '0' must be at least 1");
  EXPECT_EQ(parse_error("*/x * * * *"), "minute: step 'x' is not a number");
  EXPECT_EQ(parse_error("*/ * * * *"), "minute: step '' is not a number");
  EXPECT_EQ(parse_error("1/2/3 * * * *"), "minute: '1/2/3' has more than one step");
  EXPECT_EQ(parse_error("0 5-3 * * *"), "hour: range '5-3' ends before it starts");
  EXPECT_EQ(parse_error("0 0 * * SAT-MON"), "day-of-week: range 'SAT-MON' ends before it starts");
  EXPECT_EQ(parse_error("-5 * * * *"), "minute: '-5' is not a range");
  EXPECT_EQ(parse_error("5- * * * *"), "minute: '5-' is not a range");
  EXPECT_EQ(parse_error("1,,2 * * * *"), "minute: empty element in list '1,,2'");
  EXPECT_EQ(parse_error("1, * * * *"), "minute: empty element in list '1,'");
}

// --- matching ---

TEST(CronMatch, DayOfMonthAndDayOfWeekAreOredOnlyWhenBothAreRestricted) {
  const auto ymd = [](unsigned m, unsigned d) {
    return year_month_day{year{2026}, month{m}, day{d}};
  };
  // 2026-06-01 and 2026-06-08 are Mondays, 2026-06-02 a Tuesday, 2026-07-01 a Wednesday.
  const Cron either = cron("0 0 1 * MON");
  EXPECT_TRUE(either.matches_day(ymd(6, 1)));
  EXPECT_TRUE(either.matches_day(ymd(6, 8)));   // Monday, not the 1st
  EXPECT_TRUE(either.matches_day(ymd(7, 1)));   // the 1st, not a Monday
  EXPECT_FALSE(either.matches_day(ymd(6, 2)));  // neither
  const Cron dom_only = cron("0 0 1 * *");
  EXPECT_TRUE(dom_only.matches_day(ymd(7, 1)));
  EXPECT_FALSE(dom_only.matches_day(ymd(6, 8)));
  const Cron dow_only = cron("0 0 * * MON");
  EXPECT_TRUE(dow_only.matches_day(ymd(6, 8)));
  EXPECT_FALSE(dow_only.matches_day(ymd(7, 1)));
  // A step over a day field restricts it, so the rule ORs.
  EXPECT_TRUE(cron("0 0 */2 * MON").matches_day(ymd(6, 8)));  // 8 is even: no dom match
  // The month always has to match.
  EXPECT_FALSE(cron("0 0 1 JAN MON").matches_day(ymd(6, 8)));
}

TEST(CronMatch, MatchesWholeLocalMinutes) {
  const Cron c = cron("30 8-9 * * *");
  EXPECT_TRUE(c.matches(local(2026, 6, 1, 8, 30)));
  EXPECT_TRUE(c.matches(local(2026, 6, 1, 9, 30)));
  EXPECT_FALSE(c.matches(local(2026, 6, 1, 10, 30)));
  EXPECT_FALSE(c.matches(local(2026, 6, 1, 8, 31)));
}

// --- time zones ---

TEST(TimeZone, OffsetsChangeAtTheTransitionInstants) {
  const TimeZone tz = berlin();
  EXPECT_EQ(tz.offset_at(utc(2024, 12, 1, 0, 0)), 3600);  // before the first transition
  EXPECT_EQ(tz.offset_at(utc(2026, 3, 29, 0, 59, 59)), 3600);
  EXPECT_EQ(tz.offset_at(utc(2026, 3, 29, 1, 0)), 7200);
  EXPECT_EQ(tz.offset_at(utc(2026, 10, 25, 0, 59, 59)), 7200);
  EXPECT_EQ(tz.offset_at(utc(2026, 10, 25, 1, 0)), 3600);
  EXPECT_EQ(tz.to_local(utc(2026, 6, 1, 6, 0)), local(2026, 6, 1, 8, 0));
  const TimeZone u = TimeZone::utc();
  EXPECT_EQ(u.name(), "UTC");
  EXPECT_EQ(u.offset_at(utc(2026, 6, 1, 6, 0)), 0);
}

TEST(TimeZone, ASkippedLocalMinuteNeverOccursAndARepeatedOneFirstOccursBeforeTheChange) {
  const TimeZone tz = berlin();
  EXPECT_EQ(tz.first_instant(local(2026, 3, 29, 2, 30)), std::nullopt);
  EXPECT_EQ(tz.first_instant(local(2026, 3, 29, 3, 0)), utc(2026, 3, 29, 1, 0));
  EXPECT_EQ(tz.first_instant(local(2026, 10, 25, 2, 30)), utc(2026, 10, 25, 0, 30));
  EXPECT_EQ(tz.first_instant(local(2026, 10, 25, 3, 0)), utc(2026, 10, 25, 2, 0));
}

TEST(Match, ASkippedLocalMinuteNeverMatches) {
  const Cron c = cron("30 2 * * *");
  // 02:30 did not exist on 2026-03-29: the last match is the day before, at +1.
  EXPECT_EQ(last_match(c, berlin(), utc(2026, 3, 29, 3, 0)), utc(2026, 3, 28, 1, 30));
  // ... and the next one after 03:00Z on the 28th is on the 30th, at +2.
  EXPECT_EQ(next_match(c, berlin(), utc(2026, 3, 28, 3, 0)), utc(2026, 3, 30, 0, 30));
  // An expression for that minute only waits a year, to 2027-03-29 (+2 since the 28th).
  EXPECT_EQ(next_match(cron("30 2 29 3 *"), berlin(), utc(2026, 3, 28, 12, 0)),
            utc(2027, 3, 29, 0, 30));
}

TEST(Match, ARepeatedLocalMinuteMatchesAtItsFirstOccurrence) {
  const Cron c = cron("30 2 * * *");
  // 02:30 was shown at 00:30Z (+2) and again at 01:30Z (+1) on 2026-10-25.
  EXPECT_EQ(last_match(c, berlin(), utc(2026, 10, 25, 1, 45)), utc(2026, 10, 25, 0, 30));
  EXPECT_EQ(next_match(c, berlin(), utc(2026, 10, 25, 0, 30)), utc(2026, 10, 26, 1, 30));
  // A window from 02:30 to 02:45 local is open once, not twice.
  const Window w = window("30 2 * * *", "45 2 * * *", 1, berlin());
  EXPECT_TRUE(active(w, utc(2026, 10, 25, 0, 35)));
  EXPECT_FALSE(active(w, utc(2026, 10, 25, 0, 45)));
  EXPECT_FALSE(active(w, utc(2026, 10, 25, 1, 35)));  // 02:35 again, second time
}

TEST(Match, SearchesBackAtMostAYearAndADay) {
  const Cron new_year = cron("0 0 1 1 *");
  EXPECT_EQ(last_match(new_year, TimeZone::utc(), utc(2026, 12, 31, 23, 0)), utc(2026, 1, 1, 0, 0));
  EXPECT_EQ(last_match(new_year, TimeZone::utc(), utc(2026, 1, 1, 0, 0)), utc(2026, 1, 1, 0, 0));
  const Cron leap_day = cron("0 0 29 2 *");
  EXPECT_EQ(last_match(leap_day, TimeZone::utc(), utc(2028, 3, 1, 0, 0)), utc(2028, 2, 29, 0, 0));
  EXPECT_EQ(last_match(leap_day, TimeZone::utc(), utc(2027, 6, 1, 0, 0)), std::nullopt);  // 2024
  EXPECT_EQ(next_match(leap_day, TimeZone::utc(), utc(2026, 6, 1, 0, 0)), std::nullopt);  // 2028
  EXPECT_EQ(next_match(leap_day, TimeZone::utc(), utc(2027, 6, 1, 0, 0)), utc(2028, 2, 29, 0, 0));
}

TEST(Match, ANeverMatchingExpressionIsSearchedByDaysNotMinutes) {
  // 31 February: every search walks a whole year each way. Minute by minute
  // (527,000 steps a search) this would run for minutes under the sanitizers.
  const Window never = window("0 0 31 2 *", "0 0 31 2 *", 3, berlin());
  for (int i = 0; i < 2000; ++i) {
    const Time now = utc(2026, 6, 1, 0, 0) + hours{i};
    ASSERT_FALSE(active(never, now));
    ASSERT_EQ(next_change({never}, now), std::nullopt);
  }
}

// --- windows ---

TEST(Window, BusinessHoursInBerlinFollowTheClockAcrossTheSpringChange) {
  const Window w = window("0 8 * * MON-FRI", "0 20 * * MON-FRI", 2, berlin());
  // Friday 2026-03-27, CET (+1).
  EXPECT_FALSE(active(w, utc(2026, 3, 27, 6, 59, 59)));
  EXPECT_TRUE(active(w, utc(2026, 3, 27, 7, 0)));
  EXPECT_TRUE(active(w, utc(2026, 3, 27, 18, 59, 59)));
  EXPECT_FALSE(active(w, utc(2026, 3, 27, 19, 0)));
  // The weekend, across the change on Sunday.
  EXPECT_FALSE(active(w, utc(2026, 3, 28, 10, 0)));
  EXPECT_FALSE(active(w, utc(2026, 3, 29, 10, 0)));
  // Monday 2026-03-30, CEST (+2): 08:00 local is 06:00Z.
  EXPECT_FALSE(active(w, utc(2026, 3, 30, 5, 59, 59)));
  EXPECT_TRUE(active(w, utc(2026, 3, 30, 6, 0)));
  EXPECT_TRUE(active(w, utc(2026, 3, 30, 17, 59, 59)));
  EXPECT_FALSE(active(w, utc(2026, 3, 30, 18, 0)));
  EXPECT_EQ(min_replicas({w}, utc(2026, 3, 30, 6, 0)), 2);
  EXPECT_EQ(min_replicas({w}, utc(2026, 3, 30, 5, 59)), 0);
}

TEST(Window, BusinessHoursInBerlinFollowTheClockAcrossTheAutumnChange) {
  const Window w = window("0 8 * * MON-FRI", "0 20 * * MON-FRI", 2, berlin());
  // Friday 2026-10-23, CEST (+2).
  EXPECT_FALSE(active(w, utc(2026, 10, 23, 5, 59)));
  EXPECT_TRUE(active(w, utc(2026, 10, 23, 6, 0)));
  // Monday 2026-10-26, CET (+1): 08:00 local is 07:00Z.
  EXPECT_FALSE(active(w, utc(2026, 10, 26, 6, 59, 59)));
  EXPECT_TRUE(active(w, utc(2026, 10, 26, 7, 0)));
  EXPECT_FALSE(active(w, utc(2026, 10, 26, 19, 0)));
}

TEST(Window, AWindowOverMidnightStaysOpenUntilItsEnd) {
  const Window night = window("0 22 * * *", "0 6 * * *", 4);
  EXPECT_FALSE(active(night, utc(2026, 6, 1, 21, 59)));
  EXPECT_TRUE(active(night, utc(2026, 6, 1, 22, 0)));
  EXPECT_TRUE(active(night, utc(2026, 6, 1, 23, 30)));
  EXPECT_TRUE(active(night, utc(2026, 6, 2, 3, 0)));
  EXPECT_TRUE(active(night, utc(2026, 6, 2, 5, 59, 59)));
  EXPECT_FALSE(active(night, utc(2026, 6, 2, 6, 0)));
  EXPECT_FALSE(active(night, utc(2026, 6, 2, 12, 0)));
}

TEST(Window, AStartWithoutAnEndKeepsTheWindowOpenForAYearAndADay) {
  const Window w = window("0 0 29 2 *", "0 0 31 2 *", 1);  // leap days; never ends
  EXPECT_FALSE(active(w, utc(2028, 2, 28, 23, 59)));       // 2024's is too long ago
  EXPECT_TRUE(active(w, utc(2028, 2, 29, 0, 0)));
  EXPECT_TRUE(active(w, utc(2029, 3, 1, 0, 0)));  // 366 days later
  EXPECT_FALSE(active(w, utc(2029, 3, 1, 0, 1)));
  // Start and end at the same minute: closed as soon as it opens.
  EXPECT_FALSE(active(window("0 8 * * *", "0 8 * * *", 1), utc(2026, 6, 1, 8, 0)));
}

TEST(Window, OverlappingWindowsTakeTheLargestMinimum) {
  const Window day = window("0 8 * * *", "0 20 * * *", 2);
  const Window peak = window("0 12 * * *", "0 14 * * *", 5);
  const Window small = window("0 9 * * *", "0 18 * * *", 1);
  for (const auto& ws :
       {std::vector<Window>{day, peak, small}, std::vector<Window>{peak, small, day}}) {
    EXPECT_EQ(min_replicas(ws, utc(2026, 6, 1, 7, 0)), 0);
    EXPECT_EQ(min_replicas(ws, utc(2026, 6, 1, 8, 30)), 2);
    EXPECT_EQ(min_replicas(ws, utc(2026, 6, 1, 13, 0)), 5);
    EXPECT_EQ(min_replicas(ws, utc(2026, 6, 1, 15, 0)), 2);
    EXPECT_EQ(min_replicas(ws, utc(2026, 6, 1, 21, 0)), 0);
  }
  EXPECT_EQ(min_replicas({}, utc(2026, 6, 1, 13, 0)), 0);
}

TEST(Window, NextChangeIsTheNextStartOrEndOfAnyWindow) {
  const Window business = window("0 8 * * MON-FRI", "0 20 * * MON-FRI", 2, berlin());
  // Friday 2026-03-27 19:30 local (+1): the window ends at 20:00 local.
  EXPECT_EQ(next_change({business}, utc(2026, 3, 27, 18, 30)), utc(2026, 3, 27, 19, 0));
  // Strictly after now.
  EXPECT_EQ(next_change({business}, utc(2026, 3, 27, 19, 0)), utc(2026, 3, 30, 6, 0));
  // Friday 20:30 local: next is Monday 08:00 local, after the change to +2.
  EXPECT_EQ(next_change({business}, utc(2026, 3, 27, 19, 30)), utc(2026, 3, 30, 6, 0));
  // The earliest over all windows, in their own zones.
  const Window utc_noon = window("0 12 * * SAT", "0 13 * * SAT", 1);
  EXPECT_EQ(next_change({business, utc_noon}, utc(2026, 3, 27, 19, 30)), utc(2026, 3, 28, 12, 0));
  EXPECT_EQ(next_change({}, utc(2026, 3, 27, 19, 30)), std::nullopt);
}

}  // namespace
}  // namespace gpupool::schedule
