//! `headway-web` under wasm-bindgen-test in Node: the shared conformance suite and the
//! runtime's timing.
#![cfg(target_arch = "wasm32")]

mod common;

web_suite!();
