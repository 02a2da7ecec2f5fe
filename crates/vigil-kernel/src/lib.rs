//! Vigil's kernel side, in data-flow order:
//!
//! 1. [`probe`]: what the running kernel can do (BTF, BPF LSM, trampolines,
//!    `bpf_loop`, ring buffer, `bpf_d_path` per hook), by asking it.
//! 2. [`select`]: from the probes alone, which backend each feature uses.
//! 3. [`objects`] and [`loader`]: the embedded BPF objects, loaded with
//!    per-program fallback so one program that cannot load disables only its
//!    own feature, and the kernel's reason is kept. Each feature's kernel
//!    half configures and attaches its object: [`fim_source`], [`opens`],
//!    [`security`].
//! 4. [`ringbuf`]: the ring buffer and the per-CPU loss counters.
//! 5. [`stream`]: the one consumer loop, which [`decode`]s records into
//!    the typed events of `vigil-event`.
//!
//! Where no BPF program can load, [`fim_source::fanotify`] is FIM's
//! degraded source: the same events, with who-data read from /proc.
//!
//! [`sysfs`] and [`privileges`] cover the preconditions: the pseudo
//! filesystems BPF needs, and the capabilities to load programs.

pub mod clock;
pub mod decode;
pub mod fim_source;
pub mod libbpf_log;
pub mod loader;
pub mod objects;
pub mod opens;
pub mod privileges;
pub mod probe;
pub mod ringbuf;
pub mod security;
pub mod select;
pub mod sensitive;
pub mod stream;
pub mod sysfs;
pub mod who_strings;
