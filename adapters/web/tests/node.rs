//! `headway-web` under wasm-bindgen-test in Node: the shared conformance suite and the
//! runtime's timing.
#![cfg(target_arch = "wasm32")]

mod common;

use wasm_bindgen_test::wasm_bindgen_test;

#[wasm_bindgen_test]
fn conformance_suite_passes() {
    common::conformance();
}

#[wasm_bindgen_test]
async fn sleep_reaches_its_deadline() {
    common::sleep_reaches_its_deadline().await;
}

#[wasm_bindgen_test]
async fn limiter_paces() {
    common::limiter_paces().await;
}

#[wasm_bindgen_test]
async fn dropped_waiter_releases_its_place() {
    common::dropped_waiter_releases_its_place().await;
}

#[wasm_bindgen_test]
async fn dropped_send_aborts_its_fetch() {
    common::dropped_send_aborts_its_fetch().await;
}
