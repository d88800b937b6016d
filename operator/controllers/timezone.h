#pragma once
// Loads IANA time zones ("Europe/Berlin") from the TZif files of tzdata
// (RFC 8536) into schedule::TimeZone values, for scheduled minimum replicas
// (operator/core/schedule.h). The only file I/O of schedules.
//
// Names: "UTC" and "Etc/UTC" are built in and need no files. Other names
// must be relative paths of [A-Za-z0-9_+-] components separated by single
// '/': no "..", no leading '/', no empty component; anything else is
// InvalidName without touching the disk.
//
// Files: the version 2+ 64-bit section is read (a version 1 file's 32-bit
// data otherwise). Local time before the first transition is time type 0's.
// After the last transition the footer's POSIX TZ string holds ("CET-1CEST,
// M3.5.0,M10.5.0/3"): its rule is expanded into transitions up to the end of
// kLastExpandedYear, so "slim" files (which stop listing transitions once
// the rule covers them) give the same offsets as "fat" ones. Files with leap
// seconds ("right/" zones) are refused.
//
// Errors (TimeZoneError::kind):
//   InvalidName  "invalid time zone name '../x': ..." (a spec error);
//   Unknown      "unknown time zone 'Europe/Berlinn'" (no such file, or a
//                directory such as "Europe");
//   Unreadable   "cannot read /usr/share/zoneinfo/X: not a TZif file"
//                (also: truncated, malformed, bad TZ string, leap seconds,
//                larger than 1 MiB, cannot open).
// None of them is worth retrying quickly: the spec or the machine is wrong.
//
// Thread-safety: load() is safe concurrently. Zones loaded successfully are
// cached for the loader's lifetime (tzdata changes need a restart); errors
// are not cached.

#include <cstdint>
#include <map>
#include <string>
#include <string_view>

#include "operator/base/result.h"
#include "operator/base/thread_annotations.h"
#include "operator/core/schedule.h"

namespace gpupool::controllers {

inline constexpr const char* kZoneInfoDir = "/usr/share/zoneinfo";
// The footer's rule is expanded into transitions up to the end of this year;
// the offset in effect then holds afterwards.
inline constexpr int kLastExpandedYear = 2100;

struct TimeZoneError {
  enum class Kind { InvalidName, Unknown, Unreadable };
  Kind kind = Kind::Unreadable;
  std::string message;
};

// Parses the contents of a TZif file for zone `name`. `path` names the file
// in error messages ("cannot read <path>: truncated").
Result<schedule::TimeZone, TimeZoneError> parse_tzif(const std::string& name,
                                                     std::string_view bytes,
                                                     const std::string& path);

class TimeZoneLoader {
 public:
  // `dir`: the tzdata directory; tests pass a temporary one.
  explicit TimeZoneLoader(std::string dir = kZoneInfoDir);

  Result<schedule::TimeZone, TimeZoneError> load(const std::string& name) const EXCLUDES(mu_);

 private:
  std::string dir_;
  mutable Mutex mu_;
  mutable std::map<std::string, schedule::TimeZone> cache_ GUARDED_BY(mu_);
};

}  // namespace gpupool::controllers
