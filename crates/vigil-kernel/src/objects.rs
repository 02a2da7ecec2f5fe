//! The BPF objects, built ahead of time by `cargo xtask build-bpf` and
//! embedded for the architecture this binary targets. Building the agent
//! needs no clang.

/// libelf reads the ELF headers in place: keep the bytes 8-aligned.
#[repr(C, align(8))]
struct Aligned<B: ?Sized>(B);

macro_rules! embed {
    ($arch:literal, $file:literal) => {{
        static OBJ: &Aligned<[u8]> = &Aligned(*include_bytes!(concat!(
            "../../../bpf/obj/",
            $arch,
            "/",
            $file
        )));
        &OBJ.0
    }};
}

#[cfg(target_arch = "x86_64")]
macro_rules! object {
    ($file:literal) => {
        embed!("x86_64", $file)
    };
}
#[cfg(target_arch = "aarch64")]
macro_rules! object {
    ($file:literal) => {
        embed!("aarch64", $file)
    };
}
#[cfg(not(any(target_arch = "x86_64", target_arch = "aarch64")))]
compile_error!("no embedded BPF objects for this target architecture yet");

/// An embedded object: its name (for messages) and its bytes.
#[derive(Clone, Copy)]
pub struct BpfObject {
    pub name: &'static str,
    pub bytes: &'static [u8],
}

/// The open tracer (`bpf/opens.bpf.c`).
pub const OPENS: BpfObject = BpfObject {
    name: "opens",
    bytes: object!("opens.bpf.o"),
};

/// File-integrity monitoring (`bpf/fim.bpf.c`).
pub const FIM: BpfObject = BpfObject {
    name: "fim",
    bytes: object!("fim.bpf.o"),
};

/// Security signals (`bpf/security.bpf.c`).
pub const SECURITY: BpfObject = BpfObject {
    name: "security",
    bytes: object!("security.bpf.o"),
};

/// The capability probes (`bpf/probe.bpf.c`).
pub const PROBE: BpfObject = BpfObject {
    name: "probe",
    bytes: object!("probe.bpf.o"),
};

/// The architecture whose objects are embedded.
pub const ARCH: &str = std::env::consts::ARCH;
