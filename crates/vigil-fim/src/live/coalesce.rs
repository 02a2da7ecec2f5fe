//! Hints coalesced per path: a burst (a file written 1000 times in a
//! second) becomes one pending change, carrying the last actor's who-data
//! and the number of hints merged.

use std::collections::{BTreeSet, HashMap, HashSet};
use std::time::{Duration, Instant, SystemTime};

/// One kernel hint about a path, with whatever who-data `W` the caller
/// carries through.
pub struct Hint<W> {
    /// The path under its watched tree (symlinked roots resolved).
    pub path: Vec<u8>,
    /// What the hint's operation was ("write", "chmod", ...).
    pub op: &'static str,
    /// Merged hints it stands for (in-kernel dedupe included).
    pub count: u64,
    pub who: W,
    /// For the target of a rename: where it came from.
    pub renamed_from: Option<Vec<u8>>,
    /// The operation left the file's old bytes as they were (an append,
    /// an attribute change, an open without O_TRUNC).
    pub keeps_old_bytes: bool,
    /// Where it may have written.
    pub touched: Touched,
    /// When the kernel saw it.
    pub time: SystemTime,
}

/// Where an operation may have written in a file.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Touched {
    /// Nowhere (an attribute change, an open without O_TRUNC).
    Nothing,
    /// These leaves (first, last; last `None`: to the end).
    Leaves(u32, Option<u32>),
    /// Anywhere.
    Unknown,
}

/// Spans of leaves followed per pending change; past it, "anywhere".
const MAX_SPANS: usize = 64;

/// Hints gathered for one path.
pub struct Pending<W> {
    first: Instant,
    last: Instant,
    pub count: u64,
    pub ops: BTreeSet<&'static str>,
    /// The last one's who-data.
    pub who: W,
    pub renamed_from: Option<Vec<u8>>,
    /// Every hint merged kept the old bytes: the file's saved hash state
    /// may be resumed from.
    pub appended: bool,
    /// The leaves the merged hints may have written; `None`: anywhere.
    pub leaves: Option<Vec<(u32, Option<u32>)>>,
    /// The kernel's times of the first and the last hint merged.
    pub first_time: SystemTime,
    pub last_time: SystemTime,
    /// The names a renamed file passed through between `renamed_from` and
    /// this path, in order.
    pub intermediate: Vec<Vec<u8>>,
}

fn touch(leaves: &mut Option<Vec<(u32, Option<u32>)>>, t: Touched) {
    match t {
        Touched::Nothing => {}
        Touched::Unknown => *leaves = None,
        Touched::Leaves(lo, hi) => {
            if let Some(v) = leaves {
                if !v.contains(&(lo, hi)) {
                    v.push((lo, hi));
                }
                if v.len() > MAX_SPANS {
                    *leaves = None;
                }
            }
        }
    }
}

pub struct Coalescer<W> {
    pending: HashMap<Vec<u8>, Pending<W>>,
    /// Flush once a path has been quiet this long...
    quiet: Duration,
    /// ...or has been pending this long, whichever comes first.
    max_delay: Duration,
}

impl<W> Coalescer<W> {
    pub fn new(quiet: Duration, max_delay: Duration) -> Self {
        Self {
            pending: HashMap::new(),
            quiet,
            max_delay,
        }
    }

    pub fn add(&mut self, h: Hint<W>, now: Instant) {
        self.merge(h, now, true);
    }

    /// Like `add`, for a hint whose actor only finished another's work (a
    /// kernel thread running a deferred close): its who-data stands only
    /// when nothing is pending for the path yet.
    pub fn add_deferred(&mut self, h: Hint<W>, now: Instant) {
        self.merge(h, now, false);
    }

    fn merge(&mut self, mut h: Hint<W>, now: Instant, takes_who: bool) {
        // A rename of a file that was itself renamed here in the window:
        // one move from where it first was, through the names between. Not
        // a move back to where it came from (a swap, as fanotify reports
        // RENAME_EXCHANGE): both names stay, each a change of its own.
        let mut chained: Option<Pending<W>> = None;
        if let Some(from) = &h.renamed_from {
            if self.pending.get(from).is_some_and(|p| {
                p.renamed_from
                    .as_ref()
                    .is_some_and(|origin| *origin != h.path)
            }) {
                chained = self.pending.remove(from).map(|mut p| {
                    p.intermediate.push(from.clone());
                    p
                });
                h.renamed_from = chained.as_ref().and_then(|p| p.renamed_from.clone());
            }
        }
        let p = match self.pending.get_mut(&h.path) {
            Some(p) => {
                p.last = now;
                p.count += h.count;
                p.ops.insert(h.op);
                if takes_who {
                    p.who = h.who;
                }
                if h.renamed_from.is_some() {
                    p.renamed_from = h.renamed_from;
                }
                p.appended &= h.keeps_old_bytes;
                touch(&mut p.leaves, h.touched);
                p.first_time = p.first_time.min(h.time);
                p.last_time = p.last_time.max(h.time);
                p
            }
            None => self.pending.entry(h.path).or_insert(Pending {
                first: now,
                last: now,
                count: h.count,
                ops: BTreeSet::from([h.op]),
                who: h.who,
                appended: h.keeps_old_bytes && h.renamed_from.is_none(),
                leaves: {
                    let mut l = h.renamed_from.is_none().then(Vec::new);
                    touch(&mut l, h.touched);
                    l
                },
                renamed_from: h.renamed_from,
                first_time: h.time,
                last_time: h.time,
                intermediate: Vec::new(),
            }),
        };
        if let Some(c) = chained {
            p.count += c.count;
            p.ops.extend(c.ops);
            p.first = p.first.min(c.first);
            p.first_time = p.first_time.min(c.first_time);
            p.appended = false;
            p.leaves = None;
            let mut names = c.intermediate;
            names.append(&mut p.intermediate);
            p.intermediate = names;
        }
    }

    /// Whether any path is due (any at all with `all`).
    pub fn any_due(&self, now: Instant, all: bool) -> bool {
        self.pending.values().any(|p| self.is_due(p, now, all))
    }

    fn is_due(&self, p: &Pending<W>, now: Instant, all: bool) -> bool {
        all || now - p.last >= self.quiet || now - p.first >= self.max_delay
    }

    /// Takes every path that is due (all of them with `all`). A rename's
    /// source waits for its target: renamed again later (a chain), the
    /// target is touched later than the source.
    pub fn due(&mut self, now: Instant, all: bool) -> Vec<(Vec<u8>, Pending<W>)> {
        let waiting: HashSet<&Vec<u8>> = self
            .pending
            .values()
            .filter(|p| !self.is_due(p, now, all))
            .filter_map(|p| p.renamed_from.as_ref())
            .collect();
        let due: Vec<Vec<u8>> = self
            .pending
            .iter()
            .filter(|(k, p)| self.is_due(p, now, all) && !waiting.contains(k))
            .map(|(k, _)| k.clone())
            .collect();
        let mut out: Vec<(Vec<u8>, Pending<W>)> = due
            .into_iter()
            .filter_map(|k| self.pending.remove_entry(&k))
            .collect();
        out.sort_by(|a, b| a.0.cmp(&b.0));
        out
    }

    /// Something may have been missed: no pending change is trusted to
    /// have kept its old bytes.
    pub fn distrust_appends(&mut self) {
        for p in self.pending.values_mut() {
            p.appended = false;
            p.leaves = None;
        }
    }

    /// Drops what is pending below `prefix` (a moved directory's old or
    /// new name followed by '/'): the move tells it.
    pub fn drop_below(&mut self, prefix: &[u8]) {
        self.pending.retain(|k, _| !k.starts_with(prefix));
    }

    /// Removes and returns the pending entry of `path`, if any.
    pub fn take(&mut self, path: &[u8]) -> Option<Pending<W>> {
        self.pending.remove(path)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_deferred_actor_never_replaces_the_writer() {
        let mut c = Coalescer::new(Duration::from_millis(100), Duration::from_secs(5));
        let t0 = Instant::now();
        let hint = |op, who| Hint {
            path: b"/etc/x".to_vec(),
            op,
            count: 1,
            who,
            renamed_from: None,
            keeps_old_bytes: false,
            touched: Touched::Unknown,
            time: SystemTime::UNIX_EPOCH,
        };
        c.add(hint("modify", 42), t0);
        c.add_deferred(hint("close_write", 51), t0);
        // Alone, it is all there is to tell.
        c.add_deferred(
            Hint {
                path: b"/etc/y".to_vec(),
                ..hint("close_write", 51)
            },
            t0,
        );
        let due = c.due(t0 + Duration::from_millis(150), false);
        let who: Vec<(&[u8], u32, u64)> = due
            .iter()
            .map(|(k, p)| (k.as_slice(), p.who, p.count))
            .collect();
        assert_eq!(who, [(&b"/etc/x"[..], 42, 2), (&b"/etc/y"[..], 51, 1)]);
    }

    #[test]
    fn a_burst_becomes_one_pending_change_with_the_last_who() {
        let mut c = Coalescer::new(Duration::from_millis(100), Duration::from_secs(5));
        let t0 = Instant::now();
        for i in 0..1000u32 {
            c.add(
                Hint {
                    path: b"/etc/x".to_vec(),
                    op: "write",
                    count: 1,
                    who: i,
                    renamed_from: None,
                    keeps_old_bytes: false,
                    touched: Touched::Unknown,
                    time: SystemTime::UNIX_EPOCH,
                },
                t0,
            );
        }
        c.add(
            Hint {
                path: b"/etc/x".to_vec(),
                op: "chmod",
                count: 1,
                who: 7777,
                renamed_from: None,
                keeps_old_bytes: false,
                touched: Touched::Unknown,
                time: SystemTime::UNIX_EPOCH,
            },
            t0,
        );
        assert!(c.due(t0, false).is_empty(), "not quiet yet");
        let due = c.due(t0 + Duration::from_millis(150), false);
        assert_eq!(due.len(), 1);
        let p = &due[0].1;
        assert_eq!((p.count, p.who), (1001, 7777));
        assert_eq!(
            p.ops.iter().copied().collect::<Vec<_>>(),
            ["chmod", "write"]
        );
        // A path written continuously is still flushed after max_delay.
        let mut c = Coalescer::new(Duration::from_millis(100), Duration::from_millis(500));
        for ms in (0..600).step_by(50) {
            c.add(
                Hint {
                    path: b"/etc/y".to_vec(),
                    op: "write",
                    count: 1,
                    who: 0,
                    renamed_from: None,
                    keeps_old_bytes: false,
                    touched: Touched::Unknown,
                    time: SystemTime::UNIX_EPOCH,
                },
                t0 + Duration::from_millis(ms),
            );
        }
        assert_eq!(c.due(t0 + Duration::from_millis(560), false).len(), 1);
    }

    #[test]
    fn one_hint_that_may_touch_old_bytes_spoils_the_append() {
        let mut c = Coalescer::new(Duration::from_millis(100), Duration::from_secs(5));
        let t0 = Instant::now();
        let hint = |path: &[u8], op, keeps| Hint {
            path: path.to_vec(),
            op,
            count: 1,
            who: 0u32,
            renamed_from: None,
            keeps_old_bytes: keeps,
            touched: if keeps {
                Touched::Nothing
            } else {
                Touched::Unknown
            },
            time: SystemTime::UNIX_EPOCH,
        };
        c.add(hint(b"/log/a", "append", true), t0);
        c.add(hint(b"/log/a", "chmod", true), t0);
        c.add(hint(b"/log/b", "append", true), t0);
        c.add(hint(b"/log/b", "write", false), t0);
        c.add(hint(b"/log/b", "append", true), t0);
        c.add(hint(b"/log/c", "append", true), t0);
        c.distrust_appends();
        c.add(hint(b"/log/d", "append", true), t0);
        c.add(hint(b"/log/d", "chmod", true), t0);
        let due = c.due(t0, true);
        let appended: Vec<(&[u8], bool)> = due
            .iter()
            .map(|(k, p)| (k.as_slice(), p.appended))
            .collect();
        assert_eq!(
            appended,
            [
                (&b"/log/a"[..], false),
                (&b"/log/b"[..], false),
                (&b"/log/c"[..], false),
                (&b"/log/d"[..], true)
            ]
        );
    }

    #[test]
    fn a_rename_chain_hinted_over_time_is_one_move_from_the_first_name() {
        let mut c = Coalescer::new(Duration::from_millis(100), Duration::from_secs(5));
        let t0 = Instant::now();
        let hint = |path: &[u8], from: Option<&[u8]>| Hint {
            path: path.to_vec(),
            op: "rename",
            count: 1,
            who: 0u32,
            renamed_from: from.map(<[u8]>::to_vec),
            keeps_old_bytes: false,
            touched: Touched::Unknown,
            time: SystemTime::UNIX_EPOCH,
        };
        c.add(hint(b"/t/a", None), t0);
        c.add(hint(b"/t/b", Some(b"/t/a")), t0);
        // The second rename comes late: /t/a is quiet by now, but waits
        // for the move it starts.
        let t1 = t0 + Duration::from_millis(90);
        c.add(hint(b"/t/b", None), t1);
        c.add(hint(b"/t/c", Some(b"/t/b")), t1);
        assert!(c.due(t0 + Duration::from_millis(150), false).is_empty());
        let due = c.due(t1 + Duration::from_millis(150), false);
        let got: Vec<String> = due
            .iter()
            .map(|(k, p)| {
                format!(
                    "{} from {:?} via {}",
                    String::from_utf8_lossy(k),
                    p.renamed_from.as_deref().map(String::from_utf8_lossy),
                    p.intermediate.len()
                )
            })
            .collect();
        assert_eq!(
            got,
            ["/t/a from None via 0", "/t/c from Some(\"/t/a\") via 1"]
        );
    }
}
