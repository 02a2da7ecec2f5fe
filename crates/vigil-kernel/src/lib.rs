//! Vigil's kernel side, in data-flow order:
//!
//! 1. [`probe`]: what the running kernel can do (BTF, BPF LSM, trampolines,
//!    `bpf_loop`, ring buffer, `bpf_d_path` per hook), by asking it.
//! 2. [`objects`] and [`loader`]: the embedded BPF objects, loaded with
//!    per-program fallback so one program that cannot load disables only its
//!    own feature, and the kernel's reason is kept.
//! 3. [`ringbuf`]: the ring-buffer consumer and the per-CPU loss counters.
//! 4. [`decode`]: raw records into the typed events of [`event`].
//!
//! Where no BPF program can load, [`fanotify`] is FIM's degraded source:
//! the same events, with who-data read from /proc ([`proc_who`]).
//!
//! [`sysfs`] and [`privileges`] cover the preconditions: the pseudo
//! filesystems BPF needs, and the capabilities to load programs.

pub mod clock;
pub mod decode;
pub mod event;
pub mod fanotify;
pub mod fim;
pub mod libbpf_log;
pub mod loader;
pub mod objects;
pub mod opens;
pub mod privileges;
pub mod probe;
pub mod proc_who;
pub mod ringbuf;
pub mod security;
pub mod security_event;
pub mod sensitive;
pub mod sysfs;
pub mod who_strings;
