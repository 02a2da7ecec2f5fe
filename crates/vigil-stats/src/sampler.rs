//! Adaptive sampling of routine security events (exec, exit, connects).
//!
//! The kernel counts every signal exactly; only the event stream that
//! feeds the top-N and the routine log is sampled. Every window, the rate
//! of events the kernel would emit at 1-in-N is compared with the target:
//! above twice the target N doubles, below half of it N halves, within
//! [min, max]. N stays a power of two so the kernel tests it with a mask.
//! Alerts never pass through the sampler.

/// The sampler's state.
#[derive(Clone, Debug)]
pub struct AdaptiveSampler {
    target_per_sec: f64,
    min: u32,
    max: u32,
    rate: u32,
}

impl AdaptiveSampler {
    /// `min` and `max` are rounded to powers of two.
    pub fn new(target_per_sec: f64, min: u32, max: u32) -> Self {
        let min = min.max(1).next_power_of_two();
        let max = max.max(min).next_power_of_two();
        Self {
            target_per_sec,
            min,
            max,
            rate: min,
        }
    }

    /// The current 1-in-N.
    pub fn rate(&self) -> u32 {
        self.rate
    }

    /// The mask the kernel applies: an event passes when `rand & mask == 0`.
    pub fn mask(&self) -> u32 {
        self.rate - 1
    }

    /// One evaluation window: `routine` signals happened (exact count, all
    /// of them, sampled or not) in `secs`. Returns whether the rate changed.
    pub fn observe(&mut self, routine: u64, secs: f64) -> bool {
        if secs <= 0.0 {
            return false;
        }
        let emitted = routine as f64 / secs / f64::from(self.rate);
        let before = self.rate;
        if emitted > 2.0 * self.target_per_sec && self.rate < self.max {
            self.rate *= 2;
        } else if emitted < self.target_per_sec / 2.0 && self.rate > self.min {
            // Halving at most doubles the emitted rate: still under the target.
            self.rate /= 2;
        }
        self.rate != before
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn doubles_under_load_and_recovers_when_quiet() {
        let mut s = AdaptiveSampler::new(5000.0, 1, 10_000);
        assert_eq!(s.rate(), 1);
        // 100k events/s: doubles each window until the emitted rate fits.
        for _ in 0..10 {
            s.observe(1_000_000, 10.0);
        }
        assert_eq!(
            s.rate(),
            16,
            "100k/s at 1-in-16 emits 6250/s, within 2x of 5000"
        );
        assert_eq!(s.mask(), 15);
        // Quiet again: halves back to 1.
        for _ in 0..10 {
            s.observe(1_000, 10.0);
        }
        assert_eq!(s.rate(), 1);
    }

    #[test]
    fn stays_within_bounds() {
        let mut s = AdaptiveSampler::new(10.0, 1, 10_000);
        for _ in 0..64 {
            s.observe(u64::MAX / 4, 1.0);
        }
        assert_eq!(s.rate(), 16_384, "max rounds up to a power of two");
        let mut s = AdaptiveSampler::new(10.0, 4, 8);
        assert_eq!(s.rate(), 4);
        s.observe(0, 1.0);
        assert_eq!(s.rate(), 4, "never below min");
    }
}
