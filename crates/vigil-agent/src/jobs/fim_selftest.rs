//! FIM's live self-test. A health check that says OK while no events
//! arrive is the worst failure a FIM agent can have, so the agent proves
//! delivery end to end: a thread of its own changes a canary file in a
//! directory watched for this alone (under the state directory, never a
//! user's tree), and the change must come back through the kernel hooks,
//! the ring buffer and the decoder with the agent's own pid, within
//! [`WITHIN`]. A failure is an alert event, `vigil_fim_selftest_up 0`,
//! and what `vigil doctor` reads from [`STATUS_FILE`].

use std::io::Write;
use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt};
use std::path::{Path, PathBuf};
use std::sync::mpsc;
use std::time::{Duration, Instant, SystemTime};

use serde::{Deserialize, Serialize};
use vigil_event::FimEvent;

/// How long the canary's change has to come back.
pub const WITHIN: Duration = Duration::from_secs(10);

/// Beside the baseline: the last result, for `vigil doctor`.
pub const STATUS_FILE: &str = "fim-selftest.json";

/// The canary's directory, beside the baseline.
pub const CANARY_DIR: &str = "fim-selftest";

/// What the last self-test found, as `vigil doctor` reads it.
#[derive(Clone, Debug, Default, Serialize, Deserialize, PartialEq)]
pub struct Status {
    /// The last result: true when it passed.
    pub up: bool,
    /// Unix time of that result.
    pub at: u64,
    /// Unix time of the last pass, if any.
    pub last_pass: Option<u64>,
    /// Why it failed.
    pub why: Option<String>,
    pub pid: u32,
}

/// What a tick found.
#[derive(Debug, PartialEq)]
pub enum Outcome {
    Passed,
    Failed(String),
}

pub struct SelfTest {
    dir: PathBuf,
    status_file: PathBuf,
    interval: Duration,
    /// The canary thread: asked to write, answers when written.
    ask: mpsc::Sender<u64>,
    written: mpsc::Receiver<Result<(), String>>,
    /// The canary thread's id, exempt from the agent's own filter.
    pub tid: u32,
    /// A test in flight: its number, and when it was asked (the canary is
    /// written after).
    pending: Option<(u64, Instant, SystemTime)>,
    round: u64,
    came_back: bool,
    next: Instant,
    pub status: Status,
}

fn unix(t: SystemTime) -> u64 {
    t.duration_since(SystemTime::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

/// The status file beside `baseline`.
pub fn status_path(baseline: &Path) -> PathBuf {
    baseline.with_file_name(STATUS_FILE)
}

/// The last self-test result recorded beside `baseline`, if any.
pub fn read_status(baseline: &Path) -> Option<Status> {
    let text = std::fs::read_to_string(status_path(baseline)).ok()?;
    serde_json::from_str(&text).ok()
}

impl SelfTest {
    /// Makes the canary directory beside `baseline` and starts the canary
    /// thread; the first test runs at the first tick.
    pub fn start(baseline: &Path, interval: Duration) -> Result<Self, String> {
        // Absolute: the hooks report absolute paths, and the canary's
        // must be told apart from the trees' (`--baseline b.sqlite`).
        let dir = std::path::absolute(baseline.with_file_name(CANARY_DIR))
            .map_err(|e| format!("FIM self-test directory beside {}: {e}", baseline.display()))?;
        std::fs::DirBuilder::new()
            .recursive(true)
            .mode(0o700)
            .create(&dir)
            .map_err(|e| format!("FIM self-test directory {}: {e}", dir.display()))?;
        let (ask, asked) = mpsc::channel::<u64>();
        let (done, written) = mpsc::channel();
        let (tid_tx, tid_rx) = mpsc::channel();
        let canary = dir.join("canary");
        std::thread::Builder::new()
            .name("fim-selftest".into())
            .spawn(move || {
                // SAFETY: gettid(2) has no preconditions.
                let _ = tid_tx.send(unsafe { libc::gettid() } as u32);
                for round in asked {
                    let _ = done.send(write_canary(&canary, round));
                }
            })
            .map_err(|e| format!("FIM self-test thread: {e}"))?;
        let tid = tid_rx
            .recv()
            .map_err(|_| "FIM self-test thread ended at once".to_string())?;
        Ok(Self {
            status_file: status_path(baseline),
            dir,
            interval,
            ask,
            written,
            tid,
            pending: None,
            round: 0,
            came_back: false,
            next: Instant::now(),
            status: Status::default(),
        })
    }

    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// Whether `ev` is about the canary: it is then the self-test's, not a
    /// change to report. Only the agent's own change counts as its return.
    pub fn claims(&mut self, ev: &FimEvent) -> bool {
        let ours = |p: &[u8]| {
            p.strip_prefix(self.dir.as_os_str().as_encoded_bytes())
                .is_some_and(|rest| rest.is_empty() || rest[0] == b'/')
        };
        let about = ours(&ev.path.bytes) || ev.path2.as_ref().is_some_and(|p| ours(&p.bytes));
        if !about {
            return false;
        }
        if ev.who.task.pid == std::process::id() {
            if let Some((_, _, asked)) = self.pending {
                // A change made after this round was asked (to the
                // millisecond: the kernel's clock is converted): an earlier
                // round's late event cannot pass for this one's.
                if ev.time + Duration::from_millis(1) >= asked {
                    self.came_back = true;
                }
            }
        }
        true
    }

    /// Starts a test when one is due, and says how the one in flight
    /// ended, if it did.
    pub fn tick(&mut self, now: Instant) -> Option<Outcome> {
        while let Ok(r) = self.written.try_recv() {
            if let Err(e) = r {
                self.pending = None;
                return Some(self.record(Outcome::Failed(e)));
            }
        }
        match self.pending {
            Some(_) if self.came_back => {
                self.pending = None;
                self.came_back = false;
                Some(self.record(Outcome::Passed))
            }
            Some((_, asked, _)) if now.duration_since(asked) > WITHIN => {
                self.pending = None;
                Some(self.record(Outcome::Failed(format!(
                    "the agent changed its canary in {} and the change did not come back through the kernel hooks within {}s",
                    self.dir.display(),
                    WITHIN.as_secs()
                ))))
            }
            Some(_) => None,
            None if now >= self.next => {
                self.round += 1;
                self.came_back = false;
                self.pending = Some((self.round, now, SystemTime::now()));
                self.next = now + self.interval;
                if self.ask.send(self.round).is_err() {
                    self.pending = None;
                    return Some(
                        self.record(Outcome::Failed("the self-test thread is gone".into())),
                    );
                }
                None
            }
            None => None,
        }
    }

    /// Keeps `o` as the status (and in the status file).
    fn record(&mut self, o: Outcome) -> Outcome {
        let now = unix(SystemTime::now());
        self.status = Status {
            up: o == Outcome::Passed,
            at: now,
            last_pass: if o == Outcome::Passed {
                Some(now)
            } else {
                self.status.last_pass
            },
            why: match &o {
                Outcome::Failed(why) => Some(why.clone()),
                Outcome::Passed => None,
            },
            pid: std::process::id(),
        };
        if let Err(e) = write_status(&self.status_file, &self.status) {
            tracing::warn!("FIM self-test: {e}");
        }
        o
    }
}

/// The canary: opened, truncated and written, like any file an intruder
/// would change.
fn write_canary(path: &Path, round: u64) -> Result<(), String> {
    let mut f = std::fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(0o600)
        .open(path)
        .map_err(|e| format!("FIM self-test canary {}: {e}", path.display()))?;
    writeln!(f, "vigil FIM self-test {round}")
        .map_err(|e| format!("FIM self-test canary {}: {e}", path.display()))
}

/// Replaces the status file whole (written, then renamed over).
pub fn write_status(path: &Path, s: &Status) -> Result<(), String> {
    let tmp = path.with_extension("json.tmp");
    let text = serde_json::to_string(s).map_err(|e| e.to_string())?;
    std::fs::write(&tmp, text)
        .and_then(|()| std::fs::rename(&tmp, path))
        .map_err(|e| format!("status file {}: {e}", path.display()))
}
