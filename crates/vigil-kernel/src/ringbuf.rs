//! The ring-buffer consumer and the in-kernel loss counters.
//!
//! The kernel counts, per CPU and per program slot, every record it emitted
//! and every record it had to drop (ring buffer full, in-flight state map
//! full). User space counts what it received and what it could not decode.
//! Together they say exactly how much was lost, and where.

use std::time::Duration;

use libbpf_rs::{MapCore, MapFlags, RingBuffer, RingBufferBuilder};
use vigil_abi::Counters;
use vigil_event::counts::KernelCounts;

use crate::loader::LoadedObject;

/// Name of the ring-buffer map in every object (bpf/include/vigil/emit.h).
pub const EVENTS_MAP: &str = "vigil_events";
/// Name of the per-CPU counters map.
pub const COUNTERS_MAP: &str = "vigil_counters";

/// Reads the counters of `slot` from a loaded object.
pub fn read_counters(obj: &LoadedObject, slot: u32) -> Result<KernelCounts, String> {
    let map = obj.map(COUNTERS_MAP).ok_or("object has no counters map")?;
    let per_cpu = map
        .lookup_percpu(&slot.to_ne_bytes(), MapFlags::ANY)
        .map_err(|e| format!("read counters: {e}"))?
        .ok_or("counters slot missing")?;
    let mut out = KernelCounts::default();
    for raw in per_cpu {
        let c: Counters = vigil_abi::from_bytes(&raw).ok_or("counters value too short")?;
        out.emitted += c.emitted;
        out.ringbuf_drops += c.ringbuf_drops;
        out.state_drops += c.state_drops;
        out.truncated += c.truncated;
        out.unreadable += c.unreadable;
        out.ringbuf_drops_per_cpu.push(c.ringbuf_drops);
    }
    Ok(out)
}

/// What a record callback asks of the consumer.
pub const CONTINUE: i32 = 0;
/// Stop this round: the caller's batch is full; the next round goes on
/// without waiting.
pub const BATCH_FULL: i32 = -libc::EAGAIN;

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
            Err(e) if e.kind() == libbpf_rs::ErrorKind::WouldBlock => return Ok(()),
            Err(e) => return Err(format!("ring buffer poll: {e}")),
        }
        self.drain()
    }

    /// Consumes whatever is left without waiting (until a callback says
    /// its batch is full).
    pub fn drain(&self) -> Result<(), String> {
        match self.rb.consume() {
            Err(e) if e.kind() != libbpf_rs::ErrorKind::WouldBlock => {
                Err(format!("ring buffer consume: {e}"))
            }
            _ => Ok(()),
        }
    }
}
