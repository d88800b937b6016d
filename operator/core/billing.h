#pragma once
// Billing arithmetic for one machine: given its BillingRule (offer.h), its
// price per hour and its launch time, what it has cost, what ending it would
// cost, and until when it is paid. Pure functions of their arguments; no
// clock is read (time comes in as `t`).
//
// The model (every rule in the catalog fits it):
//
//  * Increments. Billing counts whole increments. With Launch alignment they
//    run from the launch time (L, L+inc, L+2·inc, ...). With WallClock
//    alignment they are fixed UTC slots: multiples of `increment` since the
//    Unix epoch, so an hourly rule has slots 15:00-16:00, 16:00-17:00, ...
//    (increments that divide a day give day-aligned slots). A slot the
//    machine touches is billed in full, so a machine launched at 15:40 on an
//    hourly wall-clock rule pays 15:40-16:00 as a whole hour.
//
//  * Started increments are billed. Launching starts the first increment, so
//    a machine that ends at the very instant it launched still pays one
//    increment (one second on per-second rules). Ending exactly on a
//    boundary does not start the next increment: 3600 s on an hourly
//    launch-aligned rule is one hour, 3601 s is two.
//
//  * Minimum, Charge kind. The minimum is billed at launch even if the
//    machine ends earlier. With Launch alignment, increments continue from
//    the end of the minimum (L+min, L+min+inc, ...), i.e. "3 hours minimum,
//    then hourly". With WallClock alignment the billed duration is the larger
//    of the minimum and the slots touched.
//
//  * Minimum, Deposit kind. The minimum is a rolling prepayment, not a
//    charge: only started increments are billed and the unused part is
//    refunded on termination. The provider holds `minimum - increment` of
//    extra prepaid time while the machine runs (Fluence's documented rule:
//    3 hours taken at deploy, 1 charged for the current hour, 2 held as a
//    reserve that is topped up after every hourly charge). See deposit_held().
//
// Under this model what has been billed so far (accrued) and what ending now
// would cost in total (committed) are the same amount, because every started
// increment is billed when it starts; both names exist because callers mean
// different things by them (ledger vs. decision) and a future rule billed in
// arrears would separate them.
//
// Times before the launch are treated as the launch itself. Money results are
// exact: price × billed seconds / 3600, rounded to the micro-dollar (half away
// from zero), computed in 128 bits and saturating instead of overflowing.
//
// REQUIRES (all functions): rule.increment > 0, rule.minimum >= 0. Rules
// that break this are refused by api validation; here an increment <= 0 is
// treated as 1 second and a negative minimum as 0, so nothing divides by
// zero.
//
// Thread-safety: pure functions; safe to call concurrently.

#include <cstdint>
#include <optional>
#include <string>

#include "operator/clock/clock.h"
#include "operator/core/money.h"
#include "operator/core/offer.h"

namespace gpupool::billing {

// Billed duration if the machine launched at `launch` ends at `end`: the
// minimum (Charge) and increment rounding applied.
Duration billed_duration(const BillingRule& rule, Time launch, Time end);

// Cost of running from `launch` for `run` (a machine that ends at
// launch + run). For WallClock rules the launch time matters (the first slot
// is partial but billed in full).
Money cost_for_run(const BillingRule& rule, Money price_per_hour, Time launch, Duration run);

// What has been billed by time t (see the model above).
Money accrued(const BillingRule& rule, Money price_per_hour, Time launch, Time t);

// What ending the machine at t costs in total.
Money committed(const BillingRule& rule, Money price_per_hour, Time launch, Time t);

// End of the window already paid for at t: ending at any moment in
// [t, paid_through(t)] costs no more than ending at t. The later of
// launch + minimum (Charge rules) and the end of the increment containing t;
// equals t when t lies exactly on a boundary that is not the launch.
Time paid_through(const BillingRule& rule, Time launch, Time t);

// The first billing boundary strictly after t: the moment the next increment
// would start. Equals paid_through(t) unless t is exactly on a boundary, in
// which case it is one increment later.
Time next_boundary(const BillingRule& rule, Time launch, Time t);

// The first increment boundary strictly after t on the increment grid
// alone (multiples of the increment since the Unix epoch): for WallClock
// rules the next slot's start (15:40 on an hourly rule: 16:00; 16:00:
// 17:00). Minimums are ignored: this is where a machine bought at that
// moment starts paying without a partial slot.
Time next_slot_start(const BillingRule& rule, Time t);

// Cash the provider holds beyond what has been billed (the unused part of a
// prepaid Deposit minimum) while the machine runs: price × max(0, minimum −
// increment) for Deposit rules, zero for Charge rules.
Money deposit_held(const BillingRule& rule, Money price_per_hour, Time launch, Time t);

// Egress. A gigabyte is 10^9 bytes.
// Exact form: rule.egress_per_gb × bytes / 10^9, rounded to the micro-dollar.
// REQUIRES: bytes >= 0 (negative counts are treated as 0).
Money egress_cost_bytes(const BillingRule& rule, int64_t bytes);
// Estimate form, for planning where the volume is itself an estimate:
// egress_per_gb × gigabytes rounded to the micro-dollar. Negative, NaN or
// infinite volumes count as 0; results beyond the Money range saturate.
Money egress_cost(const BillingRule& rule, double gigabytes);

// Expected egress cost per hour of a machine with `gpus` GPUs when each GPU
// sends `gb_per_gpu_hour` GB an hour (a pool's spec.egress): the one place the
// volume becomes money. The planner, the pool decision and spend all use it,
// so burn, projections and accrued spend count egress the same way.
// Negative, NaN or infinite volumes count as 0.
Money egress_per_hour(const BillingRule& rule, double gb_per_gpu_hour, int gpus);

// What a machine still costs between `now` and `until` if it keeps running:
// the increments that start in [now, until) (committed(until) −
// committed(now)) plus egress for that time. A machine not launched yet
// (`launch` unset) is priced as if launched at `now`, minimum included.
// Zero when until <= now.
Money cost_between(const BillingRule& rule, Money price_per_hour, Money egress_per_hour,
                   std::optional<Time> launch, Time now, Time until);

// Everything above at one instant, for reconcilers that need it all.
struct State {
  Money accrued;
  Money committed;
  Money deposit_held;
  Time paid_through{};
  Time next_boundary{};
};
State state_at(const BillingRule& rule, Money price_per_hour, Time launch, Time t);

// Short description for people (fits in 30 columns): "per-second, 60s min",
// "hourly, 3h min", "UTC-hourly, 3h deposit" (WallClock), "per-minute",
// "10min increments".
std::string describe(const BillingRule& rule);

}  // namespace gpupool::billing
