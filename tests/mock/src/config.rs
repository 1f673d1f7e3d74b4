//! The mock server's configuration: routes, their policies, header styles and faults.
//!
//! The same serde format is read by the `headway-mock` binary (`--config`), by `POST /__config`
//! and by [`MockConfig::from_json`]. Unknown fields are rejected, so a typo is an error rather than
//! a silently ignored setting.

use std::collections::BTreeMap;
use std::fmt;
use std::time::Duration;

use serde::{Deserialize, Serialize};

use crate::faults::Faults;

/// The whole behaviour of a mock server: a default route plus routes chosen by path prefix.
///
/// A request goes to the route with the longest matching prefix (see [`MockConfig::route_for`]);
/// when none matches it goes to [`MockConfig::default_route`].
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MockConfig {
    /// Signed offset in milliseconds added to the server's `Date` clock (negative = slow clock).
    #[serde(default)]
    pub date_skew_ms: i64,
    /// Routes keyed by path prefix (each must start with `/`).
    #[serde(default)]
    pub routes: BTreeMap<String, Route>,
    /// The route used when no prefix matches. Unlimited with no headers unless set.
    #[serde(default, rename = "default")]
    pub default_route: Route,
}

/// Settings of one route: how it admits, what it advertises and which faults it injects.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Route {
    /// The admission policy.
    #[serde(default)]
    pub policy: Policy,
    /// Which rate-limit headers every response of this route carries.
    #[serde(default)]
    pub headers: HeaderStyle,
    /// How `Retry-After` is written on 429 responses.
    #[serde(default)]
    pub retry_after: RetryAfterStyle,
    /// Injected faults.
    #[serde(default)]
    pub faults: Faults,
}

/// An admission policy.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Policy {
    /// Everything is admitted; no rate-limit headers are sent.
    #[default]
    Unlimited,
    /// Server-side GCRA (strict spacing when `burst` is 1).
    Gcra(Gcra),
    /// At most `limit` admissions per window; windows start at server start (or the last reset).
    FixedWindow(Window),
    /// Sliding log: at most `limit` admissions in any `window_ms` span.
    SlidingWindow(Window),
    /// Several GCRA tiers; a request is admitted only if every tier admits it.
    Tiered(Vec<Gcra>),
}

/// A GCRA quota: `limit` requests per `period_ms`, with bursts of up to `burst`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Gcra {
    /// Requests per period (at least 1).
    pub limit: u64,
    /// Period in milliseconds (at least 1).
    pub period_ms: u64,
    /// Burst size (at least 1; 1 means strictly one request per `period_ms / limit`).
    #[serde(default = "one")]
    pub burst: u64,
    /// Policy name used by the IETF -08 headers. Defaults to `"default"` for a single policy and
    /// `"tier0"`, `"tier1"`, ... for tiers.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
}

/// A counting window: `limit` admissions per `window_ms`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Window {
    /// Admissions per window (at least 1).
    pub limit: u64,
    /// Window length in milliseconds (at least 1).
    pub window_ms: u64,
}

/// Which rate-limit headers a route advertises on every response, admitted or rejected.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum HeaderStyle {
    /// No rate-limit headers.
    #[default]
    None,
    /// `X-RateLimit-Limit`, `X-RateLimit-Remaining`, `X-RateLimit-Reset` (unix epoch seconds).
    XRatelimitEpoch,
    /// `X-RateLimit-Limit`, `X-RateLimit-Remaining`, `X-RateLimit-Reset` (delta seconds).
    XRatelimitDelta,
    /// IETF draft -06: `RateLimit-Limit`, `RateLimit-Remaining`, `RateLimit-Reset` (delta seconds).
    Ietf06,
    /// IETF draft -07: `RateLimit: limit=L, remaining=R, reset=S` and `RateLimit-Policy: L;w=W`.
    Ietf07,
    /// IETF draft -08: `RateLimit-Policy: "name";q=L;w=W` and `RateLimit: "name";r=R;t=S`.
    Ietf08,
}

/// How `Retry-After` is written on 429 responses.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RetryAfterStyle {
    /// Delay in whole seconds, rounded up.
    #[default]
    Seconds,
    /// IMF-fixdate from the server's `Date` clock, rounded up to the next whole second.
    HttpDate,
    /// No `Retry-After` header.
    None,
}

/// A configuration that cannot be used, with the reason.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ConfigError(pub String);

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "invalid mock config: {}", self.0)
    }
}

impl std::error::Error for ConfigError {}

fn one() -> u64 {
    1
}

fn millis(d: Duration) -> u64 {
    u64::try_from(d.as_millis()).unwrap_or(u64::MAX)
}

impl MockConfig {
    /// An empty configuration: every path is unlimited and sends no rate-limit headers.
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds (or replaces) the route for a path prefix such as `"/a"`; `"/"` matches every path.
    pub fn route(mut self, prefix: impl Into<String>, route: Route) -> Self {
        self.routes.insert(prefix.into(), route);
        self
    }

    /// Sets the route used when no prefix matches.
    pub fn default_route(mut self, route: Route) -> Self {
        self.default_route = route;
        self
    }

    /// Sets the signed skew of the `Date` clock in milliseconds.
    pub fn date_skew_ms(mut self, skew_ms: i64) -> Self {
        self.date_skew_ms = skew_ms;
        self
    }

    /// Parses a JSON configuration and validates it.
    pub fn from_json(text: &str) -> Result<Self, ConfigError> {
        let config: MockConfig =
            serde_json::from_str(text).map_err(|e| ConfigError(e.to_string()))?;
        config.validate()?;
        Ok(config)
    }

    /// Serializes this configuration to JSON (the format [`MockConfig::from_json`] reads).
    pub fn to_json(&self) -> String {
        serde_json::to_string_pretty(self).unwrap_or_else(|_| "{}".to_owned())
    }

    /// Checks every route: prefixes start with `/`, limits, periods and bursts are at least 1,
    /// fault counts are sensible.
    pub fn validate(&self) -> Result<(), ConfigError> {
        for (prefix, route) in &self.routes {
            if !prefix.starts_with('/') {
                return Err(ConfigError(format!(
                    "route prefix {prefix:?} must start with '/'"
                )));
            }
            if prefix.starts_with("/__") || prefix == "/static" || prefix.starts_with("/static/") {
                return Err(ConfigError(format!(
                    "route prefix {prefix:?} is reserved for control endpoints or static files"
                )));
            }
            route
                .validate()
                .map_err(|e| ConfigError(format!("route {prefix:?}: {}", e.0)))?;
        }
        self.default_route
            .validate()
            .map_err(|e| ConfigError(format!("default route: {}", e.0)))
    }

    /// The prefix of the route a path belongs to, or `None` for the default route.
    ///
    /// A prefix matches a path equal to it, or a path continuing it with `/` (so `/a` matches
    /// `/a` and `/a/x` but not `/ab`); a prefix ending in `/` matches every path it begins.
    /// The longest matching prefix wins.
    pub fn route_for(&self, path: &str) -> Option<&str> {
        self.routes
            .keys()
            .filter(|prefix| prefix_matches(prefix, path))
            .max_by_key(|prefix| prefix.len())
            .map(String::as_str)
    }
}

fn prefix_matches(prefix: &str, path: &str) -> bool {
    match path.strip_prefix(prefix) {
        None => false,
        Some(rest) => rest.is_empty() || prefix.ends_with('/') || rest.starts_with('/'),
    }
}

impl Route {
    /// A route with the given policy, no rate-limit headers and `Retry-After` in seconds.
    pub fn new(policy: Policy) -> Self {
        Route {
            policy,
            ..Route::default()
        }
    }

    /// An unlimited route.
    pub fn unlimited() -> Self {
        Self::new(Policy::Unlimited)
    }

    /// A GCRA route: `limit` per `period`, bursts of `burst` (1 = strict spacing).
    /// The period is taken in whole milliseconds.
    pub fn gcra(limit: u64, period: Duration, burst: u64) -> Self {
        Self::new(Policy::Gcra(Gcra::new(limit, period, burst)))
    }

    /// A fixed-window route: `limit` per `window`.
    pub fn fixed_window(limit: u64, window: Duration) -> Self {
        Self::new(Policy::FixedWindow(Window {
            limit,
            window_ms: millis(window),
        }))
    }

    /// A sliding-log route: at most `limit` in any span of `window`.
    pub fn sliding_window(limit: u64, window: Duration) -> Self {
        Self::new(Policy::SlidingWindow(Window {
            limit,
            window_ms: millis(window),
        }))
    }

    /// A tiered route: every GCRA tier must admit.
    pub fn tiered(tiers: Vec<Gcra>) -> Self {
        Self::new(Policy::Tiered(tiers))
    }

    /// Sets the header style.
    pub fn headers(mut self, style: HeaderStyle) -> Self {
        self.headers = style;
        self
    }

    /// Sets the `Retry-After` style.
    pub fn retry_after(mut self, style: RetryAfterStyle) -> Self {
        self.retry_after = style;
        self
    }

    /// Sets the injected faults.
    pub fn faults(mut self, faults: Faults) -> Self {
        self.faults = faults;
        self
    }

    /// Checks the policy and faults of this route.
    pub fn validate(&self) -> Result<(), ConfigError> {
        match &self.policy {
            Policy::Unlimited => {}
            Policy::Gcra(g) => g.validate()?,
            Policy::FixedWindow(w) | Policy::SlidingWindow(w) => w.validate()?,
            Policy::Tiered(tiers) => {
                if tiers.is_empty() {
                    return Err(ConfigError("tiered policy needs at least one tier".into()));
                }
                for tier in tiers {
                    tier.validate()?;
                }
            }
        }
        self.faults.validate()
    }
}

impl Gcra {
    /// A GCRA quota of `limit` per `period` (whole milliseconds) with bursts of `burst`.
    pub fn new(limit: u64, period: Duration, burst: u64) -> Self {
        Gcra {
            limit,
            period_ms: millis(period),
            burst,
            name: None,
        }
    }

    /// Names this quota in the IETF -08 headers.
    pub fn named(mut self, name: impl Into<String>) -> Self {
        self.name = Some(name.into());
        self
    }

    fn validate(&self) -> Result<(), ConfigError> {
        if self.limit == 0 || self.period_ms == 0 || self.burst == 0 {
            return Err(ConfigError(
                "gcra needs limit, period_ms and burst of at least 1".into(),
            ));
        }
        if let Some(name) = &self.name {
            let ok = !name.is_empty()
                && name
                    .chars()
                    .all(|c| c.is_ascii_graphic() && c != '"' && c != '\\');
            if !ok {
                return Err(ConfigError(format!(
                    "policy name {name:?} must be printable ASCII without quotes or backslashes"
                )));
            }
        }
        Ok(())
    }
}

impl Window {
    fn validate(&self) -> Result<(), ConfigError> {
        if self.limit == 0 || self.window_ms == 0 {
            return Err(ConfigError(
                "window policies need limit and window_ms of at least 1".into(),
            ));
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn longest_segment_prefix_wins() {
        let c = MockConfig::new()
            .route("/", Route::unlimited())
            .route("/a", Route::unlimited())
            .route("/a/b", Route::unlimited());
        assert_eq!(c.route_for("/a"), Some("/a"));
        assert_eq!(c.route_for("/a/x"), Some("/a"));
        assert_eq!(c.route_for("/a/b/c"), Some("/a/b"));
        assert_eq!(c.route_for("/ab"), Some("/"));
        let c = MockConfig::new().route("/a", Route::unlimited());
        assert_eq!(c.route_for("/b"), None);
    }

    #[test]
    fn bad_configs_are_errors() {
        assert!(MockConfig::from_json("{").is_err());
        assert!(MockConfig::from_json(r#"{"nope": 1}"#).is_err());
        assert!(MockConfig::from_json(
            r#"{"default": {"policy": {"gcra": {"limit": 0, "period_ms": 1}}}}"#
        )
        .is_err());
        assert!(MockConfig::from_json(r#"{"routes": {"a": {}}}"#).is_err());
        assert!(MockConfig::from_json(r#"{"routes": {"/__stats": {}}}"#).is_err());
        assert!(MockConfig::from_json(r#"{"default": {"policy": {"tiered": []}}}"#).is_err());
    }

    #[test]
    fn json_round_trip() {
        let text = r#"{
            "date_skew_ms": -3600000,
            "routes": {
                "/a": {"policy": {"gcra": {"limit": 100, "period_ms": 1000, "burst": 1}},
                       "headers": "ietf08", "retry_after": "http_date"},
                "/b": {"policy": {"tiered": [{"limit": 10, "period_ms": 1000, "burst": 10},
                                             {"limit": 300, "period_ms": 60000, "burst": 300}]},
                       "faults": {"fail_every": {"every": 5, "count": 1, "status": 503},
                                  "delay_ms": 10}}
            },
            "default": {"policy": "unlimited"}
        }"#;
        let c = MockConfig::from_json(text).unwrap();
        assert_eq!(c.date_skew_ms, -3_600_000);
        assert_eq!(c.routes["/a"].headers, HeaderStyle::Ietf08);
        assert_eq!(MockConfig::from_json(&c.to_json()).unwrap(), c);
    }

    #[test]
    fn readme_example_is_valid() {
        let readme = include_str!("../README.md");
        let start = readme.find("```json\n").map(|i| i + 8).unwrap_or(0);
        let len = readme[start..].find("```").unwrap_or(0);
        let c = MockConfig::from_json(&readme[start..start + len]).unwrap();
        assert_eq!(c.routes.len(), 4);
        assert_eq!(c.routes["/c"].faults.reset_every, Some(7));
    }
}
