//! # headway-redis
//!
//! One quota across many processes and machines: each process's Headway client (or keyed
//! limiter) keeps a key's shared rate state in Redis (or Valkey).
//!
//! - Reservations, not polling: one round trip (a Lua script loaded once and called by its
//!   SHA) reserves the next slot of every tier of the key at once, all-or-nothing, with the
//!   arithmetic of `headway-core`'s tiers; the process then sleeps locally until its turn. A
//!   cancelled call gives its slot back while it is still the key's latest reservation.
//! - One clock: Redis's `TIME` by default, so processes whose clocks disagree still agree on
//!   the schedule ([`Clock`]).
//! - Shared feedback: a pause a server asks of one process (`Retry-After`, an exhausted
//!   window) is written to the key's state, and every reservation on the key waits it out;
//!   so is the key's safety margin (the largest any process's key machine asked for, which
//!   widens on a 429), which spaces every process's turns.
//! - Bounded memory: a key's state expires as soon as it carries no information; all of a
//!   key's state is one Redis hash under a `{...}` hash tag, so Redis Cluster works.
//! - A namespace, so that two applications sharing a Redis do not share quotas by accident.
//! - Faults are explicit: a Redis unreachable at start is a [`ConnectError`]; one lost
//!   mid-run fails each request with a typed error or, if chosen at construction
//!   ([`OnOutage::Local`]), lets each process go on at a declared share of the quota until
//!   Redis is back, when the shared state takes over again.
//!
//! ```no_run
//! # async fn demo() -> Result<(), Box<dyn std::error::Error>> {
//! use std::sync::Arc;
//! use headway_redis::RedisStore;
//!
//! let store = RedisStore::builder("redis://127.0.0.1:6379")
//!     .namespace("my-app")
//!     .connect()
//!     .await?;
//! // Every process built like this shares one 100-per-minute quota per origin.
//! let client = headway_tokio::Client::builder()
//!     .quota("100/min")
//!     .shared(Arc::new(store))
//!     .build()?;
//! let sent = client.get("https://api.example.com/items/1").await?;
//! # let _ = sent; Ok(()) }
//! ```
#![deny(missing_docs)]
#![forbid(unsafe_code)]

mod fallback;
mod keys;
mod limiter;
mod store;
pub mod testing;

pub use fallback::{OnOutage, OnOutageError, Share, ShareError};
pub use headway_engine::{SharedError, SharedRate, SharedSlot};
pub use limiter::{SharedAcquireError, SharedLimiter};
pub use store::{Clock, ConnectError, RedisStore, RedisStoreBuilder, Reservation};
