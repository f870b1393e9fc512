//! The process allocator's settings. The binaries use mimalloc (allocation and free were a quarter
//! of the tracker's CPU profile under glibc's allocator); this tunes it for a long-running service.

use libmimalloc_sys::{mi_option_get, mi_option_set, mi_option_t};

/// `mi_option_purge_delay` in mimalloc 3's `mimalloc.h`; the Rust bindings have no constant for it.
const MI_OPTION_PURGE_DELAY: mi_option_t = 15;

/// Returns freed memory to the operating system at once instead of after mimalloc's default
/// delay of one second. Under sustained load memory is freed continuously, so with the delay the
/// process held far more than it used: peak RSS 524–568 MiB vs 455 MiB at 1,000,000 messages,
/// the same throughput and CPU (bench/compare.sh, docs/BENCHMARKS.md). Call it first in `main`.
pub fn return_freed_memory_promptly() {
    // SAFETY: mimalloc's options are plain values that may be set at any time, from any thread.
    unsafe { mi_option_set(MI_OPTION_PURGE_DELAY, 0) }
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
        assert_eq!(purge_delay_ms(), 0);
    }
}
