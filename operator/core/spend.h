#pragma once
// Spend: the one place in the operator where what machines cost is computed.
// Status, budget checks, the planner's budget base, `plan`, metrics and the
// simulator all call these functions; nothing else adds money up. Pure
// functions; time comes in as `now`. docs/billing.md states the model.
//
// Per instance (it counts once its status has a launch time, a price and a
// billing rule; before that it has cost nothing). Egress is an estimate: the
// instance's spec.egressUsdPerHour (billing::egress_per_hour of the pool's
// expected volume, frozen at creation) for every second it has existed.
//   end        = status.endedAt when set (termination requested), else now;
//   accrued    = billing::accrued(rule, price, launch, min(end, now))
//                + egress × (min(end, now) − launch);
//   committed  = what ending it now costs in total (equal to accrued under
//                the current billing model, see billing.h);
//   burn       = (price + egress) per hour while it buys new time: not ended
//                and not parked (a parked machine ends before its next
//                increment, so it buys none);
//   paid_through = billing::paid_through(rule, launch, min(end, now));
//   month part = committed − what had been billed by 00:00 UTC on the first
//                day of `now`'s month (zero before launch). Every increment is
//                billed when it starts, so an increment that straddles the
//                month boundary counts in the month it started in; a minimum
//                charge counts in the month of the launch. Egress is split by
//                time.
//   rest of month = billing::cost_between(now, month end) for an instance
//                that will keep buying time (active: not ended, not parked,
//                not being deleted); zero otherwise.
//
// Pool totals (SpendStatus), over the instances not yet folded into the
// ledger (an instance whose final spend is in the ledger is skipped even while
// its object still exists, so nothing is counted twice):
//   accrued       = ledger.total + Σ instance accrued (everything the pool has
//                   ever been billed; compares with the provider's own bill);
//   committed     = ledger.total + Σ instance committed;
//   hourly_burn   = Σ burn;
//   month_to_date = ledger.months[month of now] + Σ instance month parts;
//   projected_month = month_to_date + Σ rest of month: the month's total if
//                   nothing is bought, parked or ended from now on. Prepaid
//                   time is in month_to_date already, so only increments
//                   that start after now are added (issue 8, defect 1);
//   month         = "YYYY-MM" of now.
//
// The ledger (SpendLedger) holds the final spend of instances whose
// GpuInstance objects were deleted. It lives in the pool's annotation
// kLedgerAnnotation as JSON, written with the pool's resourceVersion as a
// precondition, so folding one instance and recording that it was folded is
// one atomic write: fold() is idempotent per instance name (instance names
// are never reused). The list of folded names keeps the newest
// kLedgerFoldedNames entries: enough as long as fewer instances than that end
// between a fold and the removal of the folded instance's finalizer. A ledger
// that cannot be parsed is never replaced by an empty one (that would reset
// month-to-date and bypass the monthly cap): callers refuse to buy and to
// fold until a person repairs it.
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
  Money burn;           // (price + egress) per hour while buying new time
  Money month;          // part billed in the month of `now`
  Money rest_of_month;  // what it will still cost until the month end if active
  std::optional<Time> paid_through;
  bool billed = false;  // launch, price and billing rule known
};

// The per-instance figures above. `egress_per_hour` is the instance's
// spec.egressUsdPerHour.
InstanceSpend instance_spend(const api::GpuInstanceStatus& status, Money egress_per_hour, Time now);
InstanceSpend instance_spend(const api::GpuInstance& instance, Time now);

// Burn and rest of month of the instance if it is (or becomes again) active:
// what un-parking it would add. instance_spend uses the same two functions.
Money active_burn(const api::GpuInstance& instance);
Money active_rest_of_month(const api::GpuInstance& instance, Time now);

// Whether the instance buys new time from now on: not ended, not parked, not
// being deleted. Pending instances (not launched) count: they are about to.
bool buys_time(const api::GpuInstance& instance);

struct SpendLedger {
  Money total;
  std::map<std::string, Money> months;  // "2026-11" -> final spend billed in that month
  std::vector<std::string> folded;      // instance names already folded, oldest first
  // The same final spend split by the GpuProvider (object name) that billed
  // it: fold() uses instance.spec.offer.provider, fold_amount() its
  // `provider` argument ("" = unattributed). Ledgers written before the split
  // have none: total − Σ providers is spend no provider is known for.
  // Serialized as "providers" only when non-empty; a missing key is empty.
  std::map<std::string, Money> providers;

  bool operator==(const SpendLedger&) const = default;
};

struct LedgerError {
  enum class Kind { Invalid };
  Kind kind = Kind::Invalid;
  std::string message;
};

// Empty text is an empty ledger. Errors: Invalid (not the JSON below).
// {"total":"1.5","months":{"2026-11":"1.5"},"folded":["a-1"],
//  "providers":{"fluence-eu":"1.5"}}   ("providers" optional)
Result<SpendLedger, LedgerError> parse_ledger(std::string_view text);
std::string format_ledger(const SpendLedger& ledger);

bool was_folded(const SpendLedger& ledger, std::string_view instance);
// Adds the instance's final spend (its status with endedAt set, or `now`
// when not) split by calendar month, and records its name. Returns false and
// leaves the ledger unchanged when the name was already folded. Keeps the
// newest kLedgerMonths months and kLedgerFoldedNames names.
bool fold(SpendLedger& ledger, const api::GpuInstance& instance, Time now);
// Folds spend that belongs to no GpuInstance (an orphan machine ended by
// garbage collection) under `key`, split by month like an instance's and
// attributed to `provider` ("" = unattributed).
bool fold_amount(SpendLedger& ledger, std::string_view key,
                 const std::map<std::string, Money>& by_month, std::string_view provider = "");

// Final (or current) spend of an instance split by the UTC month it was
// billed in: {"2026-10": ..., "2026-11": ...}.
std::map<std::string, Money> spend_by_month(const api::GpuInstanceStatus& status,
                                            Money egress_per_hour, Time now);

// "2026-11": the UTC calendar month of t.
std::string month_of(Time t);
// 00:00:00 UTC on the first day of t's month.
Time month_start(Time t);
// 00:00:00 UTC on the first day of the month after t's.
Time month_end(Time t);

// The pool totals described above. last_updated is left unset. Instances
// already folded into `ledger` are skipped.
api::SpendStatus pool_spend(const std::vector<api::GpuInstance>& instances,
                            const SpendLedger& ledger, Time now);

}  // namespace gpupool::spend
