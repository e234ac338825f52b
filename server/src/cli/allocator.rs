//! The binary's allocator (mimalloc), and the one setting a profile
//! changes in it.

use libmimalloc_sys::{mi_option_set, mi_option_t};

/// `mi_option_purge_delay` in mimalloc 3's `mi_option_e` (the Rust
/// bindings name only the stable options).
const PURGE_DELAY: mi_option_t = 15;

/// Gives pages back to the system as soon as they are free. mimalloc keeps
/// freed pages for a second (`purge_delay`) in case they are needed again:
/// quicker under load, but a burst of requests then holds its memory for
/// that second. On a small device the peak counts more (docs/benchmarks.md,
/// "A small device"); page queries take a few per cent longer.
#[allow(unsafe_code)]
pub fn return_freed_pages_at_once() {
    // SAFETY: writes one entry of mimalloc's option table, which it reads
    // when it purges; an aligned word, set once before the node starts.
    unsafe { mi_option_set(PURGE_DELAY, 0) }
}

#[cfg(test)]
mod tests {
    use super::*;
    use libmimalloc_sys::mi_option_get;

    /// The purge delay in effect, in milliseconds.
    #[allow(unsafe_code)]
    fn purge_delay() -> std::ffi::c_long {
        // SAFETY: reads one entry of mimalloc's option table.
        unsafe { mi_option_get(PURGE_DELAY) }
    }

    #[test]
    fn returning_freed_pages_sets_the_purge_delay_to_zero() {
        // mimalloc 3's default for purge_delay, and no other option's: the
        // index names the option meant (unless the environment sets it).
        if std::env::var_os("MIMALLOC_PURGE_DELAY").is_none() {
            assert_eq!(purge_delay(), 1000);
        }
        return_freed_pages_at_once();
        assert_eq!(purge_delay(), 0);
    }
}
