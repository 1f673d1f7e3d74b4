//! `headway-web` under wasm-bindgen-test in a headless browser: the shared conformance suite and the
//! runtime's timing.
#![cfg(target_arch = "wasm32")]

mod common;

wasm_bindgen_test::wasm_bindgen_test_configure!(run_in_browser);

web_suite!();
