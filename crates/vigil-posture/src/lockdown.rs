//! Kernel lockdown: whether even root is kept from modifying the running
//! kernel (integrity) or also from reading its memory (confidentiality).

use crate::read::read_text;
use crate::{flag, Collected, Family, Host};

/// `none [integrity] confidentiality`: every mode, the selected one in
/// brackets.
fn parse(text: &str) -> Vec<(&str, bool)> {
    text.split_whitespace()
        .map(
            |t| match t.strip_prefix('[').and_then(|t| t.strip_suffix(']')) {
                Some(m) => (m, true),
                None => (t, false),
            },
        )
        .filter(|(m, _)| !m.is_empty())
        .collect()
}

pub(crate) fn collect(host: &Host) -> Collected {
    match read_text(host, "/sys/kernel/security/lockdown") {
        Ok(text) => {
            let mut fam = Family::gauge(
                "security_posture_lockdown_mode",
                "1 for the kernel lockdown mode in force, 0 for the other modes the kernel offers.",
            );
            for (mode, selected) in parse(&text) {
                fam.push(&[("mode", mode)], flag(selected));
            }
            Collected::up(vec![fam])
        }
        // No lockdown LSM, or securityfs not mounted.
        Err(reason) => Collected::down(Vec::new(), reason),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testutil::{value, Fixture};

    #[test]
    fn brackets_mark_the_selected_mode() {
        let fx = Fixture::new();
        fx.file(
            "sys/kernel/security/lockdown",
            "none [integrity] confidentiality\n",
        );
        let c = collect(&fx.host);
        assert!(c.status.is_ok());
        let m = |mode: &str| {
            value(
                &c.families,
                "security_posture_lockdown_mode",
                &[("mode", mode)],
            )
        };
        assert_eq!(m("none"), Some(0.0));
        assert_eq!(m("integrity"), Some(1.0));
        assert_eq!(m("confidentiality"), Some(0.0));
    }

    #[test]
    fn none_selected_and_missing() {
        assert_eq!(
            parse("[none] integrity confidentiality"),
            [
                ("none", true),
                ("integrity", false),
                ("confidentiality", false)
            ]
        );
        let fx = Fixture::new();
        let c = collect(&fx.host);
        assert_eq!(c.status, Err(crate::Reason::NotFound));
        assert!(c.families.is_empty());
    }
}
