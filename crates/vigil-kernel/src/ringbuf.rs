//! The ring-buffer consumer and the in-kernel loss counters.
//!
//! The kernel counts, per CPU and per program slot, every record it emitted
//! and every record it had to drop (ring buffer full, in-flight state map
//! full). User space counts what it received and what it could not decode.
//! Together they say exactly how much was lost, and where.

use std::time::Duration;

use libbpf_rs::{MapCore, MapFlags, RingBuffer, RingBufferBuilder};
use serde::Serialize;
use vigil_abi::Counters;

use crate::loader::LoadedObject;

/// Name of the ring-buffer map in every object (bpf/include/vigil/emit.h).
pub const EVENTS_MAP: &str = "vigil_events";
/// Name of the per-CPU counters map.
pub const COUNTERS_MAP: &str = "vigil_counters";

/// Sums of the kernel's per-CPU counters for one program slot, with the
/// per-CPU drop counts kept.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
pub struct SlotCounters {
    pub emitted: u64,
    pub ringbuf_drops: u64,
    pub state_drops: u64,
    pub truncated: u64,
    /// Ring-buffer drops, indexed by CPU.
    pub ringbuf_drops_per_cpu: Vec<u64>,
}

impl SlotCounters {
    pub fn dropped(&self) -> u64 {
        self.ringbuf_drops + self.state_drops
    }
}

/// Reads the counters of `slot` from a loaded object.
pub fn read_counters(obj: &LoadedObject, slot: u32) -> Result<SlotCounters, String> {
    let map = obj.map(COUNTERS_MAP).ok_or("object has no counters map")?;
    let per_cpu = map
        .lookup_percpu(&slot.to_ne_bytes(), MapFlags::ANY)
        .map_err(|e| format!("read counters: {e}"))?
        .ok_or("counters slot missing")?;
    let mut out = SlotCounters::default();
    for raw in per_cpu {
        let c: Counters = vigil_abi::from_bytes(&raw).ok_or("counters value too short")?;
        out.emitted += c.emitted;
        out.ringbuf_drops += c.ringbuf_drops;
        out.state_drops += c.state_drops;
        out.truncated += c.truncated;
        out.ringbuf_drops_per_cpu.push(c.ringbuf_drops);
    }
    Ok(out)
}

/// Polls the object's ring buffer, handing each record to `on_record`.
pub struct Consumer<'cb> {
    rb: RingBuffer<'cb>,
}

impl<'cb> Consumer<'cb> {
    pub fn new(
        obj: &LoadedObject,
        on_record: impl FnMut(&[u8]) -> i32 + 'cb,
    ) -> Result<Self, String> {
        let map = obj.map(EVENTS_MAP).ok_or("object has no ring buffer")?;
        let mut b = RingBufferBuilder::new();
        b.add(&map, on_record)
            .map_err(|e| format!("ring buffer: {e}"))?;
        Ok(Self {
            rb: b.build().map_err(|e| format!("ring buffer: {e}"))?,
        })
    }

    /// Waits up to `timeout` for records and consumes all that are ready.
    ///
    /// The programs write without waking the consumer until much is
    /// pending (emit.h), and epoll then never reports the ring: records
    /// are consumed after every wait, so the timeout bounds the latency.
    pub fn poll(&self, timeout: Duration) -> Result<(), String> {
        match self.rb.poll(timeout) {
            Ok(()) => {}
            // A signal (Ctrl-C) interrupting the wait is not an error.
            Err(e) if e.kind() == libbpf_rs::ErrorKind::Interrupted => {}
            Err(e) => return Err(format!("ring buffer poll: {e}")),
        }
        self.drain()
    }

    /// Consumes whatever is left without waiting.
    pub fn drain(&self) -> Result<(), String> {
        self.rb
            .consume()
            .map_err(|e| format!("ring buffer consume: {e}"))
    }
}
