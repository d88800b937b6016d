#include "operator/controllers/timezone.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <string>
#include <thread>
#include <vector>

namespace gpupool::controllers {
namespace {

using namespace std::chrono;
using ::testing::HasSubstr;
namespace fs = std::filesystem;

Time utc(int y, unsigned mo, unsigned d, int h, int mi, int s = 0) {
  return sys_days{year{y} / month{mo} / day{d}} + hours{h} + minutes{mi} + seconds{s};
}

// ----- building TZif files (RFC 8536) -----

std::string be32(uint32_t v) {
  std::string s;
  for (int i = 3; i >= 0; --i)
    s += static_cast<char>((v >> (8 * i)) & 0xff);
  return s;
}
std::string be64(int64_t v) {
  std::string s;
  for (int i = 7; i >= 0; --i)
    s += static_cast<char>((static_cast<uint64_t>(v) >> (8 * i)) & 0xff);
  return s;
}

struct Tzif {
  std::vector<int64_t> times;
  std::vector<uint8_t> indices;
  std::vector<int32_t> offsets;  // local time types
  uint32_t leapcnt = 0;
  std::string footer;

  std::string header(char version, uint32_t timecnt, uint32_t typecnt, uint32_t charcnt,
                     uint32_t leaps) const {
    return "TZif" + std::string(1, version) + std::string(15, '\0') + be32(0) + be32(0) +
           be32(leaps) + be32(timecnt) + be32(typecnt) + be32(charcnt);
  }
  // Version 2: a version 1 section saying "UTC always" (so a reader that
  // stopped there would get every offset wrong), then the 64-bit data.
  std::string bytes() const {
    std::string s = header('2', 0, 1, 4, 0) + be32(0) + '\0' + '\0' + std::string("UTC\0", 4);
    s += header('2', static_cast<uint32_t>(times.size()), static_cast<uint32_t>(offsets.size()), 4,
                leapcnt);
    for (int64_t t : times)
      s += be64(t);
    for (uint8_t i : indices)
      s += static_cast<char>(i);
    for (int32_t o : offsets)
      s += be32(static_cast<uint32_t>(o)) + '\0' + '\0';
    s += std::string("XYZ\0", 4);
    for (uint32_t i = 0; i < leapcnt; ++i)
      s += be64(0) + be32(0);
    return s + "\n" + footer + "\n";
  }
};

int64_t unix_seconds(Time t) {
  return t.time_since_epoch().count();
}

class TempDir {
 public:
  TempDir() {
    std::string tmpl = (fs::temp_directory_path() / "tz-test-XXXXXX").string();
    path_ = ::mkdtemp(tmpl.data());
  }
  ~TempDir() {
    std::error_code ec;
    fs::remove_all(path_, ec);
  }
  const std::string& path() const { return path_; }
  void write(const std::string& name, const std::string& bytes) const {
    const fs::path p = fs::path(path_) / name;
    fs::create_directories(p.parent_path());
    std::ofstream(p, std::ios::binary) << bytes;
  }

 private:
  std::string path_;
};

schedule::TimeZone must_load(const TimeZoneLoader& loader, const std::string& name) {
  auto tz = loader.load(name);
  EXPECT_TRUE(tz.ok()) << name << ": " << (tz.ok() ? "" : tz.error().message);
  return tz.ok() ? *tz : schedule::TimeZone();
}

// ----- the system's tzdata -----

TEST(TimeZoneLoader, LoadsEuropeBerlinFromTheSystemTzdata) {
  // Not a skip: CI must have tzdata (scripts/setup.sh installs it).
  ASSERT_TRUE(fs::is_directory(kZoneInfoDir))
      << kZoneInfoDir << " is missing: install tzdata (scripts/setup.sh)";
  const TimeZoneLoader loader;
  const schedule::TimeZone tz = must_load(loader, "Europe/Berlin");
  EXPECT_EQ(tz.name(), "Europe/Berlin");
  EXPECT_EQ(tz.offset_at(utc(2026, 3, 29, 0, 59, 59)), 3600);
  EXPECT_EQ(tz.offset_at(utc(2026, 3, 29, 1, 0, 0)), 7200);
  EXPECT_EQ(tz.offset_at(utc(2026, 10, 25, 0, 59, 59)), 7200);
  EXPECT_EQ(tz.offset_at(utc(2026, 10, 25, 1, 0, 0)), 3600);
  // Beyond 2037, where "fat" files stop listing transitions: the footer's rule.
  EXPECT_EQ(tz.offset_at(utc(2045, 3, 26, 0, 59, 59)), 3600);
  EXPECT_EQ(tz.offset_at(utc(2045, 3, 26, 1, 0, 0)), 7200);
  EXPECT_EQ(tz.offset_at(utc(2045, 12, 1, 0, 0)), 3600);
}

TEST(TimeZoneLoader, UnknownZonesAndDirectoriesAreUnknown) {
  const TimeZoneLoader loader;
  auto tz = loader.load("Europe/Berlinn");
  ASSERT_FALSE(tz.ok());
  EXPECT_EQ(tz.error().kind, TimeZoneError::Kind::Unknown);
  EXPECT_EQ(tz.error().message, "unknown time zone 'Europe/Berlinn'");
  tz = loader.load("Europe");
  ASSERT_FALSE(tz.ok());
  EXPECT_EQ(tz.error().kind, TimeZoneError::Kind::Unknown);
}

TEST(TimeZoneLoader, UtcIsBuiltIn) {
  const TimeZoneLoader loader("/nonexistent-zoneinfo");
  for (const char* name : {"UTC", "Etc/UTC"}) {
    const schedule::TimeZone tz = must_load(loader, name);
    EXPECT_EQ(tz.name(), name);
    EXPECT_EQ(tz.offset_at(utc(2026, 6, 1, 0, 0)), 0);
    EXPECT_TRUE(tz.transitions().empty());
  }
}

// ----- names -----

TEST(TimeZoneLoader, RefusesNamesThatAreNotPlainRelativePathsBeforeTouchingTheDisk) {
  TempDir dir;
  Tzif valid{{}, {}, {3600}, 0, ""};
  dir.write("zone.tab", valid.bytes());  // present, but the name has a '.'
  dir.write("a/b", valid.bytes());
  const TimeZoneLoader loader(dir.path() + "/a");
  for (const std::string& name : std::vector<std::string>{
           "", "/etc/passwd", "../etc/passwd", "../a/b", "b/../b", "Europe/Ber lin", "b\n", "b;ls",
           "b//c", "b/", "zone.tab", "../zone.tab", std::string(256, 'a')}) {
    auto tz = loader.load(name);
    ASSERT_FALSE(tz.ok()) << "name: [" << name << "]";
    EXPECT_EQ(tz.error().kind, TimeZoneError::Kind::InvalidName) << name;
  }
  auto tz = loader.load("../zone.tab");
  ASSERT_FALSE(tz.ok());
  EXPECT_EQ(tz.error().message, "invalid time zone name '../zone.tab': must not contain '..'");
  tz = loader.load("/etc/passwd");
  ASSERT_FALSE(tz.ok());
  EXPECT_EQ(tz.error().message,
            "invalid time zone name '/etc/passwd': must not be an absolute path");
  // Every allowed character.
  dir.write("a/Etc/GMT+5_x-Y9", valid.bytes());
  EXPECT_EQ(must_load(loader, "Etc/GMT+5_x-Y9").offset_at(utc(2026, 1, 1, 0, 0)), 3600);
}

// ----- file contents -----

TEST(TimeZoneLoader, AGarbageFileIsUnreadable) {
  TempDir dir;
  dir.write("Bad/Zone", "hello, this is not a time zone\n");
  const TimeZoneLoader loader(dir.path());
  auto tz = loader.load("Bad/Zone");
  ASSERT_FALSE(tz.ok());
  EXPECT_EQ(tz.error().kind, TimeZoneError::Kind::Unreadable);
  EXPECT_EQ(tz.error().message, "cannot read " + dir.path() + "/Bad/Zone: not a TZif file");
}

TEST(ParseTzif, TruncatedMalformedAndLeapSecondFilesAreUnreadable) {
  const Tzif berlin{{unix_seconds(utc(2026, 3, 29, 1, 0))}, {1}, {3600, 7200}, 0, ""};
  const std::string good = berlin.bytes();
  ASSERT_TRUE(parse_tzif("Z", good, "f").ok());
  for (size_t cut : {size_t{3}, size_t{44}, size_t{60}, good.size() - 20, good.size() - 1}) {
    auto tz = parse_tzif("Z", good.substr(0, cut), "f");
    ASSERT_FALSE(tz.ok()) << cut;
    EXPECT_EQ(tz.error().kind, TimeZoneError::Kind::Unreadable);
    EXPECT_THAT(tz.error().message, HasSubstr("cannot read f: ")) << cut;
  }
  EXPECT_EQ(parse_tzif("Z", good.substr(0, good.size() - 20), "f").error().message,
            "cannot read f: truncated");
  EXPECT_EQ(parse_tzif("Z", good.substr(0, good.size() - 1), "f").error().message,
            "cannot read f: missing TZ string footer");

  Tzif bad_type = berlin;
  bad_type.indices = {2};
  EXPECT_EQ(parse_tzif("Z", bad_type.bytes(), "f").error().message,
            "cannot read f: malformed transition type");
  Tzif unordered{{100, 50}, {1, 0}, {3600, 7200}, 0, ""};
  EXPECT_EQ(parse_tzif("Z", unordered.bytes(), "f").error().message,
            "cannot read f: transitions out of order");
  Tzif leaps = berlin;
  leaps.leapcnt = 1;
  EXPECT_THAT(parse_tzif("Z", leaps.bytes(), "f").error().message, HasSubstr("leap seconds"));
  Tzif bad_footer = berlin;
  bad_footer.footer = "CET-1CEST,M3.5.0";
  EXPECT_EQ(parse_tzif("Z", bad_footer.bytes(), "f").error().message,
            "cannot read f: bad TZ string 'CET-1CEST,M3.5.0'");
}

TEST(ParseTzif, ReadsTheSixtyFourBitSection) {
  const Tzif berlin{{unix_seconds(utc(2026, 3, 29, 1, 0)), unix_seconds(utc(2026, 10, 25, 1, 0))},
                    {1, 0},
                    {3600, 7200},
                    0,
                    ""};
  auto tz = parse_tzif("Europe/Berlin", berlin.bytes(), "f");
  ASSERT_TRUE(tz.ok()) << tz.error().message;
  EXPECT_EQ(tz->initial_offset(), 3600);  // time type 0
  EXPECT_EQ(tz->offset_at(utc(2026, 3, 29, 0, 59, 59)), 3600);
  EXPECT_EQ(tz->offset_at(utc(2026, 3, 29, 1, 0)), 7200);
  EXPECT_EQ(tz->offset_at(utc(2026, 10, 25, 1, 0)), 3600);
  // No footer: the last offset holds.
  EXPECT_EQ(tz->offset_at(utc(2030, 7, 1, 0, 0)), 3600);
}

TEST(ParseTzif, ASlimFileGetsItsFutureTransitionsFromTheFooter) {
  // No transitions at all: the footer's rule covers every year.
  const Tzif slim{{}, {}, {3600}, 0, "CET-1CEST,M3.5.0,M10.5.0/3"};
  auto tz = parse_tzif("Europe/Berlin", slim.bytes(), "f");
  ASSERT_TRUE(tz.ok()) << tz.error().message;
  EXPECT_EQ(tz->offset_at(utc(2026, 3, 29, 0, 59, 59)), 3600);
  EXPECT_EQ(tz->offset_at(utc(2026, 3, 29, 1, 0)), 7200);
  EXPECT_EQ(tz->offset_at(utc(2026, 10, 25, 0, 59, 59)), 7200);
  EXPECT_EQ(tz->offset_at(utc(2026, 10, 25, 1, 0)), 3600);
  // 2027's last Sunday of March is the 28th.
  EXPECT_EQ(tz->offset_at(utc(2027, 3, 28, 1, 0)), 7200);
  EXPECT_EQ(tz->offset_at(utc(2027, 3, 27, 12, 0)), 3600);
  EXPECT_EQ(tz->offset_at(utc(2099, 7, 1, 0, 0)), 7200);
}

TEST(ParseTzif, FooterRulesForTheSouthernHemisphereAndAfterTheLastTransition) {
  // Australia/Sydney: daylight time from the first Sunday of October 02:00
  // to the first Sunday of April 03:00 (daylight time).
  const Tzif sydney{{unix_seconds(utc(2008, 10, 4, 16, 0))},
                    {1},
                    {36000, 39600},
                    0,
                    "AEST-10AEDT,M10.1.0,M4.1.0/3"};
  auto tz = parse_tzif("Australia/Sydney", sydney.bytes(), "f");
  ASSERT_TRUE(tz.ok()) << tz.error().message;
  EXPECT_EQ(tz->offset_at(utc(2008, 10, 4, 15, 59)), 36000);  // listed
  EXPECT_EQ(tz->offset_at(utc(2008, 10, 4, 16, 0)), 39600);
  EXPECT_EQ(tz->offset_at(utc(2009, 4, 4, 15, 59, 59)), 39600);  // from the footer
  EXPECT_EQ(tz->offset_at(utc(2009, 4, 4, 16, 0)), 36000);
  EXPECT_EQ(tz->offset_at(utc(2026, 4, 4, 15, 59, 59)), 39600);
  EXPECT_EQ(tz->offset_at(utc(2026, 4, 4, 16, 0)), 36000);
  EXPECT_EQ(tz->offset_at(utc(2026, 10, 3, 15, 59, 59)), 36000);
  EXPECT_EQ(tz->offset_at(utc(2026, 10, 3, 16, 0)), 39600);
  // A zone without daylight time: "<+03>-3".
  const Tzif istanbul{{}, {}, {10800}, 0, "<+03>-3"};
  auto ist = parse_tzif("Europe/Istanbul", istanbul.bytes(), "f");
  ASSERT_TRUE(ist.ok()) << ist.error().message;
  EXPECT_TRUE(ist->transitions().empty());
  EXPECT_EQ(ist->offset_at(utc(2026, 7, 1, 0, 0)), 10800);
}

// ----- the cache -----

TEST(TimeZoneLoader, CachesZonesButNotErrors) {
  TempDir dir;
  const Tzif zone{{}, {}, {3600}, 0, "CET-1CEST,M3.5.0,M10.5.0/3"};
  const TimeZoneLoader loader(dir.path());
  auto missing = loader.load("My/Zone");
  ASSERT_FALSE(missing.ok());
  EXPECT_EQ(missing.error().kind, TimeZoneError::Kind::Unknown);
  dir.write("My/Zone", zone.bytes());
  const schedule::TimeZone first = must_load(loader, "My/Zone");  // the error was not cached
  fs::remove(fs::path(dir.path()) / "My/Zone");
  const schedule::TimeZone again = must_load(loader, "My/Zone");  // from the cache
  EXPECT_EQ(first, again);
  EXPECT_EQ(again.offset_at(utc(2026, 7, 1, 0, 0)), 7200);
}

TEST(TimeZoneLoader, ConcurrentLoadsAgree) {
  TempDir dir;
  dir.write("My/Zone", Tzif{{}, {}, {3600}, 0, "CET-1CEST,M3.5.0,M10.5.0/3"}.bytes());
  const TimeZoneLoader loader(dir.path());
  std::vector<std::thread> threads;
  std::vector<int> failures(4, 0);
  for (size_t i = 0; i < failures.size(); ++i) {
    threads.emplace_back([&, i] {
      for (int n = 0; n < 50; ++n) {
        auto tz = loader.load("My/Zone");
        if (!tz.ok() || tz->offset_at(utc(2026, 7, 1, 0, 0)) != 7200) ++failures[i];
      }
    });
  }
  for (auto& t : threads)
    t.join();
  EXPECT_EQ(failures, std::vector<int>(4, 0));
}

}  // namespace
}  // namespace gpupool::controllers
