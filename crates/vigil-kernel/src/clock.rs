//! Converts the kernel's CLOCK_MONOTONIC event stamps to wall-clock time.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

fn now(clock: libc::clockid_t) -> u128 {
    let mut ts = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: valid pointer to a timespec.
    unsafe { libc::clock_gettime(clock, &mut ts) };
    ts.tv_sec as u128 * 1_000_000_000 + ts.tv_nsec as u128
}

/// The offset between CLOCK_REALTIME and CLOCK_MONOTONIC, taken once.
/// (Re-take it after a wall-clock step if exactness across steps matters.)
#[derive(Clone, Copy, Debug)]
pub struct MonotonicClock {
    offset_ns: u128,
}

impl MonotonicClock {
    pub fn new() -> Self {
        let mono = now(libc::CLOCK_MONOTONIC);
        let real = now(libc::CLOCK_REALTIME);
        Self {
            offset_ns: real.saturating_sub(mono),
        }
    }

    pub fn to_system_time(&self, mono_ns: u64) -> SystemTime {
        let ns = self.offset_ns + mono_ns as u128;
        UNIX_EPOCH + Duration::from_nanos(ns as u64)
    }
}

impl Default for MonotonicClock {
    fn default() -> Self {
        Self::new()
    }
}
