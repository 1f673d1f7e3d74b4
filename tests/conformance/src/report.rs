//! What a run of one suite found.

use serde::de::DeserializeOwned;

/// The outcome of one suite: how many cases ran and which failed, with reasons.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Report {
    /// The suite's name (the JSON file's stem).
    pub suite: String,
    /// Cases run.
    pub cases: usize,
    /// `(case name, what differed)` for each failed case.
    pub failures: Vec<(String, String)>,
}

/// A suite a target can run: its name and its JSON text.
pub type Suite = (&'static str, &'static str);

impl Report {
    /// An empty report for `suite`.
    pub fn new(suite: &str) -> Report {
        Report {
            suite: suite.to_string(),
            cases: 0,
            failures: Vec::new(),
        }
    }

    /// Records one case that passed.
    pub fn pass(&mut self) {
        self.cases += 1;
    }

    /// Records one case that failed, and why.
    pub fn fail(&mut self, case: &str, why: impl Into<String>) {
        self.cases += 1;
        self.failures.push((case.to_string(), why.into()));
    }

    /// Reads the suite's JSON text, or records it as one failed case named after the file
    /// (`<suite>.json`) and returns `None`.
    pub(crate) fn read<T: DeserializeOwned>(&mut self, json: &str) -> Option<T> {
        match serde_json::from_str(json) {
            Ok(file) => Some(file),
            Err(e) => {
                let file = format!("{}.json", self.suite);
                self.fail(&file, format!("unreadable: {e}"));
                None
            }
        }
    }

    /// Records a case: passed when `why` is `None`.
    pub fn record(&mut self, case: &str, why: Option<String>) {
        match why {
            None => self.pass(),
            Some(why) => self.fail(case, why),
        }
    }
}
