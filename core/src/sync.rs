//! The atomics the core is built on: `portable-atomic` normally (so targets without native
//! 64-bit atomics still build), `loom`'s model-checked atomics under `--cfg loom`.

#[cfg(loom)]
pub(crate) use loom::sync::atomic::{fence, AtomicU64, Ordering};
#[cfg(not(loom))]
pub(crate) use portable_atomic::{fence, AtomicU64, Ordering};

/// Backs off inside a retry loop: a CPU hint normally, a scheduling point under loom so the
/// model checker can run the thread being waited for.
#[inline]
pub(crate) fn spin() {
    #[cfg(loom)]
    loom::thread::yield_now();
    #[cfg(not(loom))]
    core::hint::spin_loop();
}
