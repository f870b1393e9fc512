//! The process allocator's settings. The binaries use mimalloc (allocation and free were a quarter
//! of the tracker's CPU profile under glibc's allocator); this tunes it for a long-running service.

use libmimalloc_sys::{mi_option_get, mi_option_set, mi_option_t};

/// `mi_option_purge_delay` in mimalloc 3's `mimalloc.h`; the Rust bindings have no constant for it.
const MI_OPTION_PURGE_DELAY: mi_option_t = 15;
/// See [`return_freed_memory_promptly`].
const PURGE_DELAY_MS: std::ffi::c_long = 100;

/// Returns freed memory to the operating system 100 ms after it is freed instead of after
/// mimalloc's default of one second. Under sustained load memory is freed continuously, so with
/// one second the process held far more than it used (peak RSS +12 %); returning it at once
/// (0 ms) made the kernel zero the same pages again and again when they were reused (about a
/// tenth of the CPU profile). 100 ms keeps the peak of 0 ms at less CPU per record
/// (docs/BENCHMARKS.md, "The allocator's purge delay"). Call it first in `main`.
/// mimalloc's own `MIMALLOC_PURGE_DELAY` (milliseconds), when set, is left to rule: a pod that
/// would trade memory for CPU or back can say so without a rebuild.
pub fn return_freed_memory_promptly() {
    if std::env::var_os("MIMALLOC_PURGE_DELAY").is_some() {
        return;
    }
    // SAFETY: mimalloc's options are plain values that may be set at any time, from any thread.
    unsafe { mi_option_set(MI_OPTION_PURGE_DELAY, PURGE_DELAY_MS) }
}

/// The current purge delay in milliseconds (for the test below and for diagnostics).
pub fn purge_delay_ms() -> std::ffi::c_long {
    // SAFETY: reading an option has no preconditions.
    unsafe { mi_option_get(MI_OPTION_PURGE_DELAY) }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Guards the option's index: a wrong one would silently change another setting.
    #[test]
    fn the_purge_delay_option_is_the_one_with_mimallocs_one_second_default() {
        if std::env::var_os("MIMALLOC_PURGE_DELAY").is_none() {
            assert_eq!(purge_delay_ms(), 1000, "mimalloc 3 purges after 1000 ms by default");
        }
        return_freed_memory_promptly();
        let expected =
            std::env::var("MIMALLOC_PURGE_DELAY").ok().and_then(|ms| ms.parse().ok()).unwrap_or(PURGE_DELAY_MS);
        assert_eq!(purge_delay_ms(), expected);
    }
}
