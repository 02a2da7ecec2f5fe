//! The event model: the typed events the decoder (and the fanotify
//! source) produce, and that every consumer reads. Every backend produces
//! this same model, whichever kernel hooks it used.
//!
//! - [`who`]: the task behind an event and its who-data;
//! - [`path`]: paths as bytes, with how exact they are;
//! - [`open`]: the open tracer's events;
//! - [`fim`]: file-integrity hints, and the [`fim::Backend`] that saw them;
//! - [`security`]: security signals, and their catalog;
//! - [`counts`]: what each source delivered and lost.

pub mod counts;
pub mod fim;
pub mod open;
pub mod path;
pub mod security;
pub mod who;

pub use fim::{Backend, FimEvent, FimOp, Via};
pub use open::{OpenEvent, OpenSyscall};
pub use path::{EventPath, PathSource};
pub use security::{SecurityEvent, Signal};
pub use who::{Task, Who};

/// Every event kind the kernel side produces.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Event {
    Open(OpenEvent),
    Fim(FimEvent),
    Security(SecurityEvent),
}
