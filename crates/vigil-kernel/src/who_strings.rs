//! The exe and cwd strings FIM events leave out while a process's stay
//! the same (`VIGIL_WHO_CACHED`): each process's recent strings, by the
//! sequence the kernel gave them.

use std::collections::HashMap;

/// Strings kept per process: threads on several CPUs can emit fresh
/// strings in an order other than the kernel's cache saw them.
const PER_PROCESS: usize = 4;
/// Processes kept before the dead ones are forgotten.
const PROCESSES: usize = 16384;

/// (sequence, exe, cwd), newest first.
type Recent = Vec<(u32, Vec<u8>, Vec<u8>)>;

#[derive(Default)]
pub struct WhoStrings {
    by_tgid: HashMap<u32, Recent>,
    /// Events that referred to strings no longer known: their exe and cwd
    /// are reported empty.
    pub misses: u64,
}

impl WhoStrings {
    /// The (exe, cwd) of an event of `tgid` with `who_seq`, whose record
    /// carried `exe` and `cwd` (empty when cached).
    pub fn resolve(
        &mut self,
        tgid: u32,
        who_seq: u32,
        exe: &[u8],
        cwd: &[u8],
    ) -> (Vec<u8>, Vec<u8>) {
        let seq = who_seq & vigil_abi::WHO_SEQ_MASK;
        if who_seq & vigil_abi::WHO_CACHED != 0 {
            let known = self
                .by_tgid
                .get(&tgid)
                .and_then(|v| v.iter().find(|(s, _, _)| *s == seq));
            return match known {
                Some((_, e, c)) => (e.clone(), c.clone()),
                None => {
                    self.misses += 1;
                    (Vec::new(), Vec::new())
                }
            };
        }
        if seq != 0 {
            if self.by_tgid.len() >= PROCESSES && !self.by_tgid.contains_key(&tgid) {
                // A process that is gone sends no more events.
                self.by_tgid
                    .retain(|t, _| std::path::Path::new(&format!("/proc/{t}")).exists());
            }
            let v = self.by_tgid.entry(tgid).or_default();
            v.insert(0, (seq, exe.to_vec(), cwd.to_vec()));
            v.truncate(PER_PROCESS);
        }
        (exe.to_vec(), cwd.to_vec())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use vigil_abi::WHO_CACHED;

    #[test]
    fn cached_events_get_the_strings_of_their_sequence() {
        let mut w = WhoStrings::default();
        assert_eq!(
            w.resolve(7, 1, b"/bin/a", b"/x"),
            (b"/bin/a".to_vec(), b"/x".to_vec())
        );
        assert_eq!(
            w.resolve(7, 2, b"/bin/a", b"/y"),
            (b"/bin/a".to_vec(), b"/y".to_vec())
        );
        // Both sequences are still known, whatever order they come in.
        assert_eq!(w.resolve(7, 1 | WHO_CACHED, b"", b"").1, b"/x");
        assert_eq!(w.resolve(7, 2 | WHO_CACHED, b"", b"").1, b"/y");
        assert_eq!(w.misses, 0);
        // Another process, or a sequence never seen: empty, and counted.
        assert_eq!(
            w.resolve(8, 1 | WHO_CACHED, b"", b""),
            (Vec::new(), Vec::new())
        );
        assert_eq!(w.resolve(7, 9 | WHO_CACHED, b"", b"").0, b"");
        assert_eq!(w.misses, 2);
    }

    #[test]
    fn old_sequences_age_out() {
        let mut w = WhoStrings::default();
        for s in 1..=(PER_PROCESS as u32 + 1) {
            w.resolve(1, s, b"e", s.to_string().as_bytes());
        }
        assert_eq!(w.resolve(1, 1 | WHO_CACHED, b"", b"").1, b"");
        assert_eq!(w.resolve(1, 2 | WHO_CACHED, b"", b"").1, b"2");
    }
}
