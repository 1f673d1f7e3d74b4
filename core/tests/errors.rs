//! Every error the core returns is a `core::error::Error`, so `?` carries it into a
//! `Box<dyn Error>` or an `anyhow::Error` and its message reads as a sentence.

use std::error::Error;

use headway_core::backoff::BackoffError;
use headway_core::breaker::{BreakerError, Open};
use headway_core::budget::BudgetError;
use headway_core::duration::DurationError;
use headway_core::key::{KeyError, Refused};
use headway_core::{ConfigError, Denied, Impossible, Quota, QuotaError, Refusal, TiersError};

/// Compiles only for an error that can cross threads inside a `Box<dyn Error>`.
fn is_error<E: Error + Send + Sync + 'static>() {}

#[test]
fn every_core_error_is_an_error() {
    is_error::<QuotaError>();
    is_error::<KeyError>();
    is_error::<ConfigError>();
    is_error::<Refused>();
    is_error::<DurationError>();
    is_error::<BackoffError>();
    is_error::<BudgetError>();
    is_error::<BreakerError>();
    is_error::<Open>();
    is_error::<TiersError>();
    is_error::<Denied>();
    is_error::<Impossible>();
    is_error::<Refusal>();
}

/// `?` on a quota string in a function that returns `Box<dyn Error>`.
fn parse(s: &str) -> Result<Quota, Box<dyn Error>> {
    Ok(s.parse::<Quota>()?)
}

#[test]
fn a_bad_quota_string_crosses_question_mark_as_its_own_type() {
    assert_eq!(parse("10/s").unwrap(), Quota::per_second(10).unwrap());
    let error = parse("ten a second").unwrap_err();
    assert_eq!(
        error.downcast_ref::<QuotaError>(),
        Some(&QuotaError::Syntax)
    );
    assert!(error.to_string().contains("\"100/min\""), "{error}");
    assert!(error.source().is_none());
}
