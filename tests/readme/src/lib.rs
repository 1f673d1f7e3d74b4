//! The Rust snippets of `README.md` and `docs/coming-from.md`, run as tests.
//!
//! `build.rs` extracts them from the Markdown into `OUT_DIR`, and `tests/snippets.rs`
//! compiles and runs them against the mock API (`headway-mock`, in the same runtime): the
//! README's quick start (the block under "Rust: a throttled client") and the "after" half of
//! each Rust block in coming-from.md. Nothing is copied by hand: editing a snippet changes
//! what is tested. The only rewrite is the example origin, `https://api.example.com`, which
//! becomes the mock's URL (see `build.rs`).
//!
//! This library is empty; the crate exists for its build script and its test.
