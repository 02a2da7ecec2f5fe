//! Loadable kernel modules: a module runs with full kernel privileges, so
//! hardened hosts stop loading after boot (`kernel.modules_disabled`) or
//! accept only signed modules (`module.sig_enforce`).

use crate::read::{read_int, read_switch, read_text};
use crate::{flag, Collected, Family, Host, Reason};

pub(crate) fn collect(host: &Host) -> Collected {
    // Without procfs none of this can be known.
    if !host.path("/proc/sys/kernel").is_dir() {
        return Collected::down(Vec::new(), Reason::NotFound);
    }
    let modules = read_text(host, "/proc/modules");
    // /proc/modules exists whenever the kernel supports modules at all.
    let supported = modules.is_ok() || host.path("/proc/sys/kernel/modules_disabled").exists();
    let loaded = modules
        .as_ref()
        .map(|t| t.lines().filter(|l| !l.trim().is_empty()).count())
        .unwrap_or(0);
    // A kernel without module support cannot load any: as good as disabled.
    let disabled =
        read_int(host, "/proc/sys/kernel/modules_disabled").map_or(!supported, |v| v == 1);
    let sig_enforce =
        read_switch(host, "/sys/module/module/parameters/sig_enforce").unwrap_or(false);
    Collected::up(vec![
        Family::gauge(
            "security_posture_modules_supported",
            "1 when the kernel supports loadable modules (/proc/modules exists).",
        )
        .with(&[], flag(supported)),
        Family::gauge(
            "security_posture_modules_loaded",
            "Modules currently loaded (lines of /proc/modules).",
        )
        .with(&[], loaded as f64),
        Family::gauge(
            "security_posture_modules_loading_disabled",
            "1 when no more modules can be loaded (kernel.modules_disabled=1, or no module support).",
        )
        .with(&[], flag(disabled)),
        Family::gauge(
            "security_posture_modules_signature_enforced",
            "1 when only signed modules load (module.sig_enforce=Y); 0 when not, or the kernel has no such switch.",
        )
        .with(&[], flag(sig_enforce)),
    ])
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testutil::{value, Fixture};

    fn v(f: &[Family], n: &str) -> Option<f64> {
        value(f, &format!("security_posture_modules_{n}"), &[])
    }

    #[test]
    fn loaded_disabled_and_signed() {
        let fx = Fixture::new();
        fx.file(
            "proc/modules",
            "nft_ct 24576 2 - Live 0x0000000000000000\nnf_tables 307200 10 nft_ct, Live 0x0000000000000000\n",
        )
        .file("proc/sys/kernel/modules_disabled", "1\n")
        .file("sys/module/module/parameters/sig_enforce", "Y\n");
        let c = collect(&fx.host);
        assert!(c.status.is_ok());
        assert_eq!(v(&c.families, "loaded"), Some(2.0));
        assert_eq!(v(&c.families, "loading_disabled"), Some(1.0));
        assert_eq!(v(&c.families, "signature_enforced"), Some(1.0));
        assert_eq!(v(&c.families, "supported"), Some(1.0));
    }

    #[test]
    fn kernel_without_modules() {
        let fx = Fixture::new();
        fx.mkdir("proc/sys/kernel");
        let c = collect(&fx.host);
        assert!(c.status.is_ok());
        assert_eq!(v(&c.families, "supported"), Some(0.0));
        assert_eq!(v(&c.families, "loaded"), Some(0.0));
        assert_eq!(v(&c.families, "loading_disabled"), Some(1.0));
        assert_eq!(v(&c.families, "signature_enforced"), Some(0.0));
    }

    #[test]
    fn modular_kernel_allowing_loads() {
        let fx = Fixture::new();
        fx.file("proc/modules", "")
            .file("proc/sys/kernel/modules_disabled", "0\n");
        let f = collect(&fx.host).families;
        assert_eq!(v(&f, "loading_disabled"), Some(0.0));
        assert_eq!(v(&f, "supported"), Some(1.0));
    }
}
