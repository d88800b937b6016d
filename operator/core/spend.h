#pragma once
// Spend of a pool: what its machines have cost and are costing, computed by
// the billing core (billing.h) from the GpuInstance statuses and the pool's
// ledger of instances already gone. Pure functions; time comes in as `now`.
//
// Per instance (an instance counts once it has a launch time, a price and a
// billing rule in its status; before that it has cost nothing):
//   end        = status.endedAt when set (termination requested), else now;
//   accrued    = billing::accrued(rule, price, launch, min(end, now));
//   committed  = billing::committed(rule, price, launch, end): what ending it
//                now costs in total (equal to accrued under the current
//                billing model, see billing.h);
//   burn       = price per hour while not ended (parked machines still burn);
//   month part = committed − what had been billed by 00:00 UTC on the first
//                day of `now`'s month (zero before launch). Every increment is
//                billed when it starts, so an increment that straddles the
//                month boundary counts in the month it started in; a minimum
//                charge counts in the month of the launch.
//
// Pool totals (SpendStatus):
//   accrued       = ledger.total + Σ instance accrued (everything the pool has
//                   ever been billed; compares with the provider's own bill);
//   committed     = ledger.total + Σ instance committed;
//   hourly_burn   = Σ burn;
//   month_to_date = ledger.months[month of now] + Σ instance month parts;
//   month         = "YYYY-MM" of now.
//
// The ledger (SpendLedger) holds the final spend of instances whose
// GpuInstance objects were deleted. It lives in the pool's annotation
// kLedgerAnnotation as JSON, written with the pool's resourceVersion as a
// precondition, so folding one instance and recording that it was folded is
// one atomic write: fold() is idempotent per instance name (instance names
// are never reused). The list of folded names keeps the newest
// kLedgerFoldedNames entries: enough as long as fewer instances than that end
// between a fold and the removal of the folded instance's finalizer.
//
// Thread-safety: pure functions; safe concurrently.

#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "operator/base/result.h"
#include "operator/clock/clock.h"
#include "operator/core/api_types.h"
#include "operator/core/money.h"

namespace gpupool::spend {

inline constexpr const char* kLedgerAnnotation = "gpupool.io/spend-ledger";
inline constexpr size_t kLedgerFoldedNames = 512;
inline constexpr size_t kLedgerMonths = 13;

struct InstanceSpend {
  Money accrued;
  Money committed;
  Money burn;
  Money month;          // part billed in the month of `now`
  bool billed = false;  // launch, price and billing rule known
};

InstanceSpend instance_spend(const api::GpuInstanceStatus& status, Time now);

struct SpendLedger {
  Money total;
  std::map<std::string, Money> months;  // "2026-11" -> final spend billed in that month
  std::vector<std::string> folded;      // instance names already folded, oldest first

  bool operator==(const SpendLedger&) const = default;
};

struct LedgerError {
  enum class Kind { Invalid };
  Kind kind = Kind::Invalid;
  std::string message;
};

// Empty text is an empty ledger. Errors: Invalid (not the JSON below).
// {"total":"1.5","months":{"2026-11":"1.5"},"folded":["a-1"]}
Result<SpendLedger, LedgerError> parse_ledger(std::string_view text);
std::string format_ledger(const SpendLedger& ledger);

bool was_folded(const SpendLedger& ledger, std::string_view instance);
// Adds the instance's final spend (its status with endedAt set, or `now`
// when not) split by calendar month, and records its name. Returns false and
// leaves the ledger unchanged when the name was already folded. Keeps the
// newest kLedgerMonths months and kLedgerFoldedNames names.
bool fold(SpendLedger& ledger, std::string_view instance, const api::GpuInstanceStatus& status,
          Time now);

// "2026-11": the UTC calendar month of t.
std::string month_of(Time t);
// 00:00:00 UTC on the first day of t's month.
Time month_start(Time t);

// The pool totals described above. last_updated is left unset.
api::SpendStatus pool_spend(const std::vector<api::GpuInstance>& instances,
                            const SpendLedger& ledger, Time now);

}  // namespace gpupool::spend
