//! What a source delivered and what it lost, by reason. Every feature
//! that can lose events keeps these, and the metrics export them.

/// The kernel's exact per-CPU counts for one program slot, summed, with
/// the per-CPU ring-buffer drops kept.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct KernelCounts {
    /// Records written to the ring buffer.
    pub emitted: u64,
    /// Records lost: the ring buffer was full.
    pub ringbuf_drops: u64,
    /// Records lost: the in-flight state map was full.
    pub state_drops: u64,
    /// Paths cut at PATH_MAX (reported, flagged; not lost).
    pub truncated: u64,
    /// Records lost: an argument was never readable (a 32-bit syscall's
    /// path not in memory at its entry, nor at the thread's next syscall).
    pub unreadable: u64,
    /// Ring-buffer drops, indexed by CPU.
    pub ringbuf_drops_per_cpu: Vec<u64>,
}

impl KernelCounts {
    pub fn dropped(&self) -> u64 {
        self.ringbuf_drops + self.state_drops + self.unreadable
    }
}

/// What the consumer loop made of the records it took off a ring buffer.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct StreamCounts {
    /// Records taken off the ring buffer.
    pub received: u64,
    /// Records that were not an event of the stream's kind: malformed, or
    /// of another kind. Counted and logged, never passed on.
    pub undecodable: u64,
    /// Events whose exe and cwd referred to strings the consumer no
    /// longer had (reported empty).
    pub who_incomplete: u64,
}

/// One source's row in the metrics: received, and lost by reason.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct SourceCounts {
    pub source: String,
    pub received: u64,
    pub ringbuf_full: u64,
    pub inflight_full: u64,
    /// An argument the kernel side could never read.
    pub unreadable: u64,
    pub undecodable: u64,
    /// fanotify's queue overflowed.
    pub queue_overflow: u64,
    /// fanotify events whose directory could not be named.
    pub unresolved: u64,
    /// Events reported without their exe and cwd.
    pub who_incomplete: u64,
}

impl SourceCounts {
    /// A BPF source's row, from the kernel's counts and the stream's.
    pub fn bpf(source: &str, kernel: &KernelCounts, stream: &StreamCounts) -> Self {
        Self {
            source: source.to_string(),
            received: stream.received,
            ringbuf_full: kernel.ringbuf_drops,
            inflight_full: kernel.state_drops,
            unreadable: kernel.unreadable,
            undecodable: stream.undecodable,
            who_incomplete: stream.who_incomplete,
            ..Default::default()
        }
    }

    /// Events lost for good (not merely incomplete).
    pub fn lost(&self) -> u64 {
        self.ringbuf_full
            + self.inflight_full
            + self.unreadable
            + self.undecodable
            + self.queue_overflow
            + self.unresolved
    }
}
