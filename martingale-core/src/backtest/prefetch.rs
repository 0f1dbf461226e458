//! A cache hint: asks the CPU to start loading a value's cache line without
//! waiting for it.
//!
//! A plain load of a line that is not cached holds its instruction until
//! the data arrives, and a loop that reads ahead that way stalls once its
//! reorder buffer fills; a prefetch retires at once. It changes no value:
//! results are the same with or without it (on targets other than x86-64
//! it does nothing).

/// Starts loading the cache line holding `x` into every cache level.
#[inline(always)]
pub(crate) fn prefetch<T>(x: &T) {
    #[cfg(target_arch = "x86_64")]
    safe_arch::prefetch_t0(x);
    #[cfg(not(target_arch = "x86_64"))]
    let _ = x;
}
