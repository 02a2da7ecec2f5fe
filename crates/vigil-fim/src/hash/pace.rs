//! What may stop or slow a hash while it reads: the agent stopping, a
//! scan's rate, live rehashing's CPU share. Each is checked between reads
//! (every 256 KiB), so none waits on a file's size.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::{Duration, Instant};

/// Why a file's content was not hashed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum HashSkip {
    /// Its apparent size is over the tree's `max_hash_size`.
    Size,
    /// Live rehashing used up the tree's `live_hash_cpu` share.
    CpuBudget,
    /// The agent was stopping.
    Stopping,
}

impl HashSkip {
    pub const ALL: [HashSkip; 3] = [Self::Size, Self::CpuBudget, Self::Stopping];

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Size => "size",
            Self::CpuBudget => "cpu_budget",
            Self::Stopping => "stopping",
        }
    }
}

/// The agent's stop request, seen by hashing: work already under way may
/// finish within `grace` (pending events go out with their hashes), then
/// every hash gives up.
pub struct Cancel {
    stop: Arc<AtomicBool>,
    grace: Duration,
    seen: OnceLock<Instant>,
}

impl Cancel {
    pub fn new(stop: Arc<AtomicBool>, grace: Duration) -> Self {
        Self {
            stop,
            grace,
            seen: OnceLock::new(),
        }
    }

    pub fn cancelled(&self) -> bool {
        if !self.stop.load(Ordering::Relaxed) {
            return false;
        }
        self.seen.get_or_init(Instant::now).elapsed() >= self.grace
    }
}

/// A scan's reading rate, shared by every thread hashing the tree.
pub struct Throttle {
    per_sec: u64,
    /// When the bytes reserved so far have been paid for.
    paid_until: Mutex<Instant>,
}

/// Reads run this far ahead of the rate before they wait.
const THROTTLE_SLACK: Duration = Duration::from_millis(100);

impl Throttle {
    pub fn new(per_sec: u64) -> Self {
        Self {
            per_sec: per_sec.max(1),
            paid_until: Mutex::new(Instant::now()),
        }
    }

    /// Reserves `bytes`; how long the reader must wait first.
    fn reserve(&self, bytes: u64) -> Duration {
        let now = Instant::now();
        let mut until = self.paid_until.lock().unwrap_or_else(|e| e.into_inner());
        *until = (*until).max(now) + Duration::from_secs_f64(bytes as f64 / self.per_sec as f64);
        (*until - now).saturating_sub(THROTTLE_SLACK)
    }
}

/// Live rehashing's CPU share: a bucket of CPU seconds that fills at
/// `share` per second up to `burst`. A hash starts only with some left and
/// gives up once it has overdrawn `burst`.
pub struct CpuBudget {
    share: f64,
    burst: f64,
    bucket: Mutex<(f64, Instant)>,
}

impl CpuBudget {
    pub fn new(share: f64) -> Self {
        // Two seconds' worth: a large file can be rehashed once at once.
        let burst = (2.0 * share).max(0.05);
        Self {
            share,
            burst,
            bucket: Mutex::new((burst, Instant::now())),
        }
    }

    fn level(&self, spend: f64) -> f64 {
        let mut b = self.bucket.lock().unwrap_or_else(|e| e.into_inner());
        let now = Instant::now();
        b.0 = (b.0 + (now - b.1).as_secs_f64() * self.share).min(self.burst) - spend;
        b.1 = now;
        b.0
    }
}

/// CPU time of the calling thread.
pub fn thread_cpu() -> Duration {
    let mut ts = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: a valid clock id and a timespec to fill.
    unsafe { libc::clock_gettime(libc::CLOCK_THREAD_CPUTIME_ID, &mut ts) };
    Duration::new(ts.tv_sec as u64, ts.tv_nsec as u32)
}

/// What one hash answers to.
#[derive(Clone, Copy, Default)]
pub struct Pace<'a> {
    pub cancel: Option<&'a Cancel>,
    pub throttle: Option<&'a Throttle>,
    pub budget: Option<&'a CpuBudget>,
}

impl Pace<'_> {
    /// Before reading: whether the hash may start. A stop does not keep
    /// it from starting: a file of one read (most) is still hashed, a
    /// larger one gives up after its first.
    pub fn start(&self) -> Result<(), HashSkip> {
        if self.budget.is_some_and(|b| b.level(0.0) <= 0.0) {
            return Err(HashSkip::CpuBudget);
        }
        Ok(())
    }

    /// After reading and hashing `bytes`, which cost `cpu`: waits out the
    /// rate, or says why the hash must give up.
    pub fn after(&self, bytes: u64, cpu: Duration) -> Result<(), HashSkip> {
        if let Some(b) = self.budget {
            if b.level(cpu.as_secs_f64()) < -b.burst {
                return Err(HashSkip::CpuBudget);
            }
        }
        if let Some(t) = self.throttle {
            let mut wait = t.reserve(bytes);
            // In steps, so a stop is not kept waiting.
            while !wait.is_zero() {
                if self.cancel.is_some_and(Cancel::cancelled) {
                    return Err(HashSkip::Stopping);
                }
                let step = wait.min(Duration::from_millis(50));
                std::thread::sleep(step);
                wait -= step;
            }
        }
        if self.cancel.is_some_and(Cancel::cancelled) {
            return Err(HashSkip::Stopping);
        }
        Ok(())
    }

    /// Whether anything here needs the thread's CPU time measured.
    pub fn measures_cpu(&self) -> bool {
        self.budget.is_some()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_stop_cancels_after_its_grace() {
        let stop = Arc::new(AtomicBool::new(false));
        let c = Cancel::new(Arc::clone(&stop), Duration::from_millis(100));
        assert!(!c.cancelled());
        stop.store(true, Ordering::Relaxed);
        assert!(!c.cancelled(), "within the grace");
        std::thread::sleep(Duration::from_millis(120));
        assert!(c.cancelled());
    }

    #[test]
    fn the_budget_refuses_once_overdrawn_and_refills_at_its_share() {
        let b = CpuBudget::new(0.5);
        let pace = Pace {
            budget: Some(&b),
            ..Default::default()
        };
        assert_eq!(pace.start(), Ok(()));
        assert_eq!(pace.after(0, Duration::from_millis(1500)), Ok(()));
        assert_eq!(
            pace.after(0, Duration::from_millis(1000)),
            Err(HashSkip::CpuBudget),
            "overdrawn past the burst"
        );
        assert_eq!(pace.start(), Err(HashSkip::CpuBudget));
    }

    #[test]
    fn the_throttle_holds_reads_to_its_rate() {
        let t = Throttle::new(10 << 20);
        let pace = Pace {
            throttle: Some(&t),
            ..Default::default()
        };
        let start = Instant::now();
        for _ in 0..12 {
            pace.after(256 << 10, Duration::ZERO).unwrap();
        }
        // 3 MiB at 10 MiB/s: 0.3 s, less the slack.
        let took = start.elapsed();
        assert!(took >= Duration::from_millis(180), "{took:?}");
    }
}
