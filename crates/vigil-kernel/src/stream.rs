//! The one consumer loop: a ring buffer's records, decoded and handed on
//! as events of the stream's kind. A record of another kind, or one that
//! does not decode, is counted and reported, never passed on; every
//! feature (the tracer, FIM, the security signals) reads its ring buffer
//! through this.

use std::cell::{Cell, RefCell};
use std::rc::Rc;
use std::time::Duration;

use vigil_event::counts::StreamCounts;
use vigil_event::{Event, FimEvent, OpenEvent, SecurityEvent};

use crate::clock::MonotonicClock;
use crate::decode::Decoder;
use crate::loader::LoadedObject;
use crate::ringbuf::{Consumer, BATCH_FULL, CONTINUE};

/// Events handed on per poll at most: a flood is taken in bounded bites,
/// each followed at once by the next.
const BATCH: usize = 4096;

/// An event kind a stream can carry.
pub trait StreamEvent: Sized + 'static {
    /// What the kind is called in messages.
    const KIND: &'static str;
    /// The event, if of this kind; else the kind it is.
    fn from_event(ev: Event) -> Result<Self, &'static str>;
}

impl StreamEvent for OpenEvent {
    const KIND: &'static str = "open";
    fn from_event(ev: Event) -> Result<Self, &'static str> {
        match ev {
            Event::Open(e) => Ok(e),
            other => Err(kind_of(&other)),
        }
    }
}

impl StreamEvent for FimEvent {
    const KIND: &'static str = "fim";
    fn from_event(ev: Event) -> Result<Self, &'static str> {
        match ev {
            Event::Fim(e) => Ok(e),
            other => Err(kind_of(&other)),
        }
    }
}

impl StreamEvent for SecurityEvent {
    const KIND: &'static str = "security";
    fn from_event(ev: Event) -> Result<Self, &'static str> {
        match ev {
            Event::Security(e) => Ok(e),
            other => Err(kind_of(&other)),
        }
    }
}

fn kind_of(ev: &Event) -> &'static str {
    match ev {
        Event::Open(_) => OpenEvent::KIND,
        Event::Fim(_) => FimEvent::KIND,
        Event::Security(_) => SecurityEvent::KIND,
    }
}

/// A ring buffer read as a stream of `T`.
pub struct EventStream<T> {
    consumer: Consumer<'static>,
    inbox: Rc<RefCell<Vec<T>>>,
    counts: Rc<Cell<StreamCounts>>,
    /// The last round stopped at a full batch: go on without waiting.
    more: Rc<Cell<bool>>,
}

/// Logs an unusable record: the first, then at each power of ten, so a
/// flood of them cannot flood the log.
fn report_unusable(source: &str, n: u64, why: &str) {
    if n == 10u64.pow(n.ilog10()) {
        tracing::warn!("{source}: {n} ring-buffer records unusable so far (latest: {why})");
    }
}

impl<T: StreamEvent> EventStream<T> {
    /// Reads `obj`'s ring buffer; `source` names it in messages.
    pub fn new(obj: &LoadedObject, source: &'static str) -> Result<Self, String> {
        let inbox: Rc<RefCell<Vec<T>>> = Rc::default();
        let counts: Rc<Cell<StreamCounts>> = Rc::default();
        let more: Rc<Cell<bool>> = Rc::default();
        let decoder = Decoder::new(MonotonicClock::new());
        let (inbox2, counts2, more2) = (inbox.clone(), counts.clone(), more.clone());
        let consumer = Consumer::new(obj, move |rec| {
            let mut c = counts2.get();
            c.received += 1;
            let unusable = match decoder.decode(rec) {
                Ok(ev) => match T::from_event(ev) {
                    Ok(t) => {
                        inbox2.borrow_mut().push(t);
                        None
                    }
                    Err(other) => Some(format!(
                        "a {other} record where {} records are expected",
                        T::KIND
                    )),
                },
                Err(e) => Some(e.to_string()),
            };
            if let Some(why) = unusable {
                c.undecodable += 1;
                report_unusable(source, c.undecodable, &why);
            }
            c.who_incomplete = decoder.who_misses();
            counts2.set(c);
            if inbox2.borrow().len() >= BATCH {
                more2.set(true);
                return BATCH_FULL;
            }
            CONTINUE
        })?;
        Ok(Self {
            consumer,
            inbox,
            counts,
            more,
        })
    }

    /// Waits up to `wait` (not at all when events are known to be pending)
    /// and takes the events that are ready.
    pub fn poll(&self, wait: Duration) -> Result<Vec<T>, String> {
        if self.more.replace(false) {
            self.consumer.drain()?;
        } else {
            self.consumer.poll(wait)?;
        }
        Ok(std::mem::take(&mut *self.inbox.borrow_mut()))
    }

    /// Takes the events that are ready, without waiting.
    pub fn drain(&self) -> Result<Vec<T>, String> {
        self.more.set(false);
        self.consumer.drain()?;
        Ok(std::mem::take(&mut *self.inbox.borrow_mut()))
    }

    /// Whether a poll stopped at a full batch, with more left in the ring.
    pub fn pending(&self) -> bool {
        self.more.get()
    }

    /// What the loop has received, and what it could not use.
    pub fn counts(&self) -> StreamCounts {
        self.counts.get()
    }
}
