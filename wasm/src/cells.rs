//! The core's rate-limiting cells with the caller's clock: [`Gcra`] (one quota), [`Tiers`]
//! (several quotas all-or-nothing), their [`Reservation`]s, and [`parse_quota`].
//!
//! Times are JavaScript numbers of nanoseconds on the caller's timeline: exact below 2^53
//! (about 104 days); a larger number is a double and carries its rounding. A negative or NaN
//! time throws `RangeError`. A count of cells `n` is a weight, checked as the limiter checks
//! one ([`crate::args::weight`]).

use std::cell::RefCell;

use headway_core::{Quota, Refusal, TiersReservation};
use js_sys::{Array, Object};
use wasm_bindgen::prelude::*;
use wasm_bindgen::JsCast;

use crate::args::{named, to_u64, weight};
use crate::errors::{impossible_error, quota_error, set, tiers_error, type_error, Text};
use crate::options::quota;

/// `{ limit, periodNs, periodMs, burst, emissionIntervalNs, toleranceNs }`.
pub(crate) fn quota_parts(q: &Quota) -> Object {
    let o = Object::new();
    set(&o, "limit", q.limit() as f64);
    set(&o, "periodNs", q.period_ns() as f64);
    set(&o, "periodMs", q.period_ns() as f64 / 1e6);
    set(&o, "burst", q.burst() as f64);
    set(&o, "emissionIntervalNs", q.emission_interval_ns() as f64);
    set(&o, "toleranceNs", q.tolerance_ns() as f64);
    o
}

/// Parses a quota string such as `"100/min"`, `"10/s burst 5"`, `"5/250ms"` or
/// `"2/1h30m;burst=3"` into `{ limit, periodNs, periodMs, burst, emissionIntervalNs,
/// toleranceNs }`. Throws `RangeError` whose `kind` is `zero_limit`, `zero_period`,
/// `zero_burst`, `overflow` or `syntax`, and `TypeError` (kind `type`) for a non-string.
#[wasm_bindgen(js_name = parseQuota)]
pub fn parse_quota(input: JsValue) -> Result<Object, JsValue> {
    let Some(s) = input.as_string() else {
        return Err(type_error(
            named("quota").s(" must be a string, got ").value(&input),
        ));
    };
    s.parse::<Quota>()
        .map(|q| quota_parts(&q))
        .map_err(|e| quota_error(Text::new("quota"), e))
}

/// The wait of a check or peek: 0 when admitted, else nanoseconds; a weight over the burst
/// throws.
fn refusal(r: Result<(), Refusal>) -> Result<f64, JsValue> {
    match r {
        Ok(()) => Ok(0.0),
        Err(Refusal::Later(d)) => Ok(d.wait_ns() as f64),
        Err(Refusal::Never(i)) => Err(impossible_error(i)),
    }
}

/// A reservation made by [`Gcra::reserve_n`] or [`Tiers::reserve_n`]: the request may go at
/// `readyAt`; hand it to the same limiter's `refund` if it will not be sent. The object is
/// the reservation itself (not a copy): once a refund succeeds it is spent, and refunding it
/// again returns false.
#[wasm_bindgen]
#[derive(Debug)]
pub struct Reservation {
    held: RefCell<Held>,
}

#[derive(Debug)]
enum Held {
    Cell(headway_core::Reservation),
    Tiers(TiersReservation),
}

impl Reservation {
    fn cell(r: headway_core::Reservation) -> Reservation {
        Reservation {
            held: RefCell::new(Held::Cell(r)),
        }
    }

    fn tiers(r: TiersReservation) -> Reservation {
        Reservation {
            held: RefCell::new(Held::Tiers(r)),
        }
    }
}

#[wasm_bindgen]
impl Reservation {
    /// When the reserved request may be sent, in nanoseconds.
    #[wasm_bindgen(getter, js_name = readyAt)]
    pub fn ready_at(&self) -> f64 {
        (match &*self.held.borrow() {
            Held::Cell(r) => r.ready_at(),
            Held::Tiers(r) => r.ready_at(),
        }) as f64
    }

    /// Nanoseconds from `now` until `readyAt` (0 when it has passed).
    #[wasm_bindgen(js_name = waitNs)]
    pub fn wait_ns(&self, now: f64) -> Result<f64, JsValue> {
        let now = to_u64(now, "now")?;
        Ok((self.ready_at() as u64).saturating_sub(now) as f64)
    }
}

fn wrong_reservation() -> JsValue {
    type_error("\"reservation\" must come from the same kind of limiter")
}

/// A GCRA cell (one quota) whose clock is the caller's: every method takes `now` in
/// nanoseconds.
#[wasm_bindgen]
#[derive(Debug)]
pub struct Gcra {
    cell: headway_core::Gcra,
}

// The checks of `n` cells behind `checkN`/`check`, `peekN`/`peek` and `reserveN`/`reserve`.
impl Gcra {
    fn checked(&self, n: u32, now: f64) -> Result<f64, JsValue> {
        refusal(self.cell.check_n(n, to_u64(now, "now")?))
    }

    fn peeked(&self, n: u32, now: f64) -> Result<f64, JsValue> {
        refusal(self.cell.peek_n(n, to_u64(now, "now")?))
    }

    fn reserved(&self, n: u32, now: f64) -> Result<Reservation, JsValue> {
        let r = self.cell.reserve_n(n, to_u64(now, "now")?);
        r.map(Reservation::cell).map_err(impossible_error)
    }
}

#[wasm_bindgen]
impl Gcra {
    /// A cell for `quota`: a string such as `"10/s"` or `"100/min burst 5"`, or
    /// `{ limit, per, burst }` / `{ limit, periodNs, burst }`.
    #[wasm_bindgen(constructor)]
    pub fn new(quota_spec: JsValue) -> Result<Gcra, JsValue> {
        Ok(Gcra {
            cell: headway_core::Gcra::new(quota(&quota_spec, &Text::new("quota"))?),
        })
    }

    /// The quota in force, as [`parse_quota`] describes it.
    #[wasm_bindgen(getter)]
    pub fn quota(&self) -> Object {
        quota_parts(&self.cell.quota())
    }

    /// Replaces the quota, keeping the state (requests already admitted still count).
    #[wasm_bindgen(js_name = setQuota)]
    pub fn set_quota(&self, quota_spec: JsValue) -> Result<(), JsValue> {
        self.cell
            .set_quota(quota(&quota_spec, &Text::new("quota"))?);
        Ok(())
    }

    /// Checks and consumes `n` cells at `now`: 0 when admitted, otherwise the nanoseconds to
    /// wait (nothing consumed). Throws `RangeError` (kind `impossible`) when `n` is 0 or
    /// exceeds the burst.
    #[wasm_bindgen(js_name = checkN)]
    pub fn check_n(&self, n: &JsValue, now: f64) -> Result<f64, JsValue> {
        self.checked(weight(n)?, now)
    }

    /// [`Gcra::check_n`] for one cell.
    pub fn check(&self, now: f64) -> Result<f64, JsValue> {
        self.checked(1, now)
    }

    /// Like `checkN` but consumes nothing.
    #[wasm_bindgen(js_name = peekN)]
    pub fn peek_n(&self, n: &JsValue, now: f64) -> Result<f64, JsValue> {
        self.peeked(weight(n)?, now)
    }

    /// [`Gcra::peek_n`] for one cell.
    pub fn peek(&self, now: f64) -> Result<f64, JsValue> {
        self.peeked(1, now)
    }

    /// Reserves `n` cells (always commits): the reservation says when the request may go.
    /// Throws `RangeError` (kind `impossible`) when `n` is 0 or exceeds the burst.
    #[wasm_bindgen(js_name = reserveN)]
    pub fn reserve_n(&self, n: &JsValue, now: f64) -> Result<Reservation, JsValue> {
        self.reserved(weight(n)?, now)
    }

    /// [`Gcra::reserve_n`] for one cell.
    pub fn reserve(&self, now: f64) -> Result<Reservation, JsValue> {
        self.reserved(1, now)
    }

    /// Gives an unsent reservation back: true when the slot was returned, false when a later
    /// request was planned after it (nothing changes; it may succeed once those are given
    /// back) or when this reservation was already given back.
    pub fn refund(&self, reservation: &Reservation) -> Result<bool, JsValue> {
        match &mut *reservation.held.borrow_mut() {
            Held::Cell(r) => Ok(self.cell.refund(r)),
            Held::Tiers(_) => Err(wrong_reservation()),
        }
    }

    /// Nothing conforms before `t` (a server's pause); an earlier `t` never shortens it.
    #[wasm_bindgen(js_name = deferUntil)]
    pub fn defer_until(&self, t: f64) -> Result<(), JsValue> {
        self.cell.defer_until(to_u64(t, "t")?);
        Ok(())
    }

    /// The time before which nothing conforms (0 when never deferred).
    #[wasm_bindgen(getter, js_name = deferredUntil)]
    pub fn deferred_until(&self) -> f64 {
        self.cell.deferred_until() as f64
    }

    /// Cells that would be admitted back to back at `now`.
    pub fn remaining(&self, now: f64) -> Result<u32, JsValue> {
        Ok(self.cell.remaining(to_u64(now, "now")?))
    }

    /// Nanoseconds from `now` until the cell is as if fresh.
    #[wasm_bindgen(js_name = resetAfter)]
    pub fn reset_after(&self, now: f64) -> Result<f64, JsValue> {
        Ok(self.cell.reset_after(to_u64(now, "now")?) as f64)
    }

    /// True when the cell holds nothing at `now` (it may be dropped and made afresh).
    #[wasm_bindgen(js_name = isIdle)]
    pub fn is_idle(&self, now: f64) -> Result<bool, JsValue> {
        Ok(self.cell.is_idle(to_u64(now, "now")?))
    }
}

/// Several quotas (at most 8) enforced all-or-nothing with the caller's clock: a request
/// admitted at `t` conforms to every tier at `t` and is charged in every tier.
#[wasm_bindgen]
#[derive(Debug)]
pub struct Tiers {
    tiers: headway_core::Tiers,
}

/// An array of quotas (strings or objects as for [`Gcra`]), possibly empty.
pub(crate) fn tier_quotas(v: &JsValue) -> Result<Vec<Quota>, JsValue> {
    let arr: &Array = v
        .dyn_ref()
        .ok_or_else(|| type_error(named("quotas").s(" must be an array, got ").value(v)))?;
    arr.iter().map(|q| quota(&q, &Text::new("quota"))).collect()
}

// The checks of `n` cells behind `checkN`/`check`, `peekN`/`peek` and `reserveN`/`reserve`.
impl Tiers {
    fn checked(&self, n: u32, now: f64) -> Result<f64, JsValue> {
        refusal(self.tiers.check_n(n, to_u64(now, "now")?))
    }

    fn peeked(&self, n: u32, now: f64) -> Result<f64, JsValue> {
        refusal(self.tiers.peek_n(n, to_u64(now, "now")?))
    }

    fn reserved(&self, n: u32, now: f64) -> Result<Reservation, JsValue> {
        let r = self.tiers.reserve_n(n, to_u64(now, "now")?);
        r.map(Reservation::tiers).map_err(impossible_error)
    }
}

#[wasm_bindgen]
impl Tiers {
    /// A limiter enforcing every quota of `quotas` (strings or objects as for [`Gcra`]).
    /// Throws `RangeError` (kind `empty` or `too_many`) for none or more than 8.
    #[wasm_bindgen(constructor)]
    pub fn new(quotas: JsValue) -> Result<Tiers, JsValue> {
        headway_core::Tiers::new(&tier_quotas(&quotas)?)
            .map(|tiers| Tiers { tiers })
            .map_err(tiers_error)
    }

    /// The quotas in force, in order.
    #[wasm_bindgen(getter)]
    pub fn quotas(&self) -> Array {
        self.tiers.quotas().map(|q| quota_parts(&q)).collect()
    }

    /// Replaces the quotas: tier `i` keeps its state if it existed, new tiers start fresh,
    /// a pause stays.
    #[wasm_bindgen(js_name = setQuotas)]
    pub fn set_quotas(&mut self, quotas: JsValue) -> Result<(), JsValue> {
        self.tiers
            .set_quotas(&tier_quotas(&quotas)?)
            .map_err(tiers_error)
    }

    /// Checks and consumes `n` cells in every tier at `now`, or none: 0 when admitted,
    /// otherwise the nanoseconds to wait. Throws `RangeError` (kind `impossible`) when `n`
    /// can never fit.
    #[wasm_bindgen(js_name = checkN)]
    pub fn check_n(&self, n: &JsValue, now: f64) -> Result<f64, JsValue> {
        self.checked(weight(n)?, now)
    }

    /// [`Tiers::check_n`] for one cell.
    pub fn check(&self, now: f64) -> Result<f64, JsValue> {
        self.checked(1, now)
    }

    /// Like `checkN` but consumes nothing.
    #[wasm_bindgen(js_name = peekN)]
    pub fn peek_n(&self, n: &JsValue, now: f64) -> Result<f64, JsValue> {
        self.peeked(weight(n)?, now)
    }

    /// [`Tiers::peek_n`] for one cell.
    pub fn peek(&self, now: f64) -> Result<f64, JsValue> {
        self.peeked(1, now)
    }

    /// Reserves `n` cells in every tier at the earliest time all conform.
    #[wasm_bindgen(js_name = reserveN)]
    pub fn reserve_n(&self, n: &JsValue, now: f64) -> Result<Reservation, JsValue> {
        self.reserved(weight(n)?, now)
    }

    /// [`Tiers::reserve_n`] for one cell.
    pub fn reserve(&self, now: f64) -> Result<Reservation, JsValue> {
        self.reserved(1, now)
    }

    /// Gives an unsent reservation back, tier by tier: true when every tier took its slot
    /// back (false for a reservation already given back in full). Whatever the answer, the
    /// reservation must not be sent afterwards.
    pub fn refund(&self, reservation: &Reservation) -> Result<bool, JsValue> {
        match &mut *reservation.held.borrow_mut() {
            Held::Tiers(r) => Ok(self.tiers.refund(r)),
            Held::Cell(_) => Err(wrong_reservation()),
        }
    }

    /// Nothing conforms in any tier before `t`.
    #[wasm_bindgen(js_name = deferUntil)]
    pub fn defer_until(&self, t: f64) -> Result<(), JsValue> {
        self.tiers.defer_until(to_u64(t, "t")?);
        Ok(())
    }

    /// The time before which nothing conforms (0 when never deferred).
    #[wasm_bindgen(getter, js_name = deferredUntil)]
    pub fn deferred_until(&self) -> f64 {
        self.tiers.deferred_until() as f64
    }

    /// Single requests that would conform back to back at `now`: the least over the tiers
    /// (0 during a pause).
    pub fn remaining(&self, now: f64) -> Result<u32, JsValue> {
        Ok(self.tiers.remaining(to_u64(now, "now")?))
    }

    /// Nanoseconds from `now` until every tier is as if fresh, pause included.
    #[wasm_bindgen(js_name = resetAfter)]
    pub fn reset_after(&self, now: f64) -> Result<f64, JsValue> {
        Ok(self.tiers.reset_after(to_u64(now, "now")?) as f64)
    }

    /// True when the limiter holds nothing at `now`.
    #[wasm_bindgen(js_name = isIdle)]
    pub fn is_idle(&self, now: f64) -> Result<bool, JsValue> {
        Ok(self.tiers.is_idle(to_u64(now, "now")?))
    }
}
