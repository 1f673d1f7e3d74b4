//! [`ConfigError`]: every way a limiter's or a client's settings can be inconsistent, caught
//! when it is built, never later.
//!
//! ```
//! use headway_core::key::KeyError;
//! use headway_core::ConfigError;
//!
//! let e = ConfigError::from(KeyError::ZeroInFlight);
//! assert_eq!(e, ConfigError::ZeroConcurrency);
//! assert_eq!(e.to_string(), "concurrency must be at least 1");
//! ```

use core::fmt;

use crate::backoff::BackoffError;
use crate::breaker::BreakerError;
use crate::budget::BudgetError;
use crate::key::KeyError;
use crate::tiers::TiersError;

/// A configuration refused at construction.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ConfigError {
    /// A tier list was empty or longer than [`crate::MAX_TIERS`].
    Tiers(TiersError),
    /// An in-flight cap of zero would never admit anything.
    ZeroConcurrency,
    /// The backoff settings are inconsistent.
    Backoff(BackoffError),
    /// The retry budget settings are inconsistent.
    Budget(BudgetError),
    /// The circuit breaker settings are inconsistent.
    Breaker(BreakerError),
    /// The margin settings are inconsistent (see [`crate::key::MarginPolicy`]).
    Margin,
}

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ConfigError::Tiers(e) => e.fmt(f),
            ConfigError::ZeroConcurrency => f.write_str("concurrency must be at least 1"),
            ConfigError::Backoff(e) => write!(f, "backoff: {e}"),
            ConfigError::Budget(e) => write!(f, "retry budget: {e}"),
            ConfigError::Breaker(e) => write!(f, "circuit breaker: {e}"),
            ConfigError::Margin => KeyError::Margin.fmt(f),
        }
    }
}

impl core::error::Error for ConfigError {}

impl From<KeyError> for ConfigError {
    fn from(e: KeyError) -> ConfigError {
        match e {
            KeyError::Tiers(e) => ConfigError::Tiers(e),
            KeyError::ZeroInFlight => ConfigError::ZeroConcurrency,
            KeyError::Breaker(e) => ConfigError::Breaker(e),
            KeyError::Margin => ConfigError::Margin,
        }
    }
}
