//! Fetching Debian packages (kernels, busybox-static, ...) for any architecture
//! without touching the host's apt state.
//!
//! Every (distribution, architecture) pair gets its own apt state under
//! `<cache>/apt/<dist>-<arch>/`, driven by a generated `apt.conf` that apt
//! reads instead of anything in `/etc/apt`. Keeping the pairs apart means a
//! mirror that is mid-sync for one architecture cannot spoil the indexes of
//! another, and it lets the architecture be "native" so package names need no
//! `:arch` qualifier. To inspect a state by hand:
//! `APT_CONFIG=~/.cache/vigil/apt/trixie-arm64/apt.conf apt-cache policy busybox-static`.
//!
//! Proxies are taken from the usual `http_proxy` environment variable, since
//! the host's apt configuration is deliberately not read.

use std::cmp::Ordering;
use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

/// Keyring that verifies every suite we use. Version 2023.3+deb12u2 (the
/// one in bookworm) or newer is needed, as that is the first to carry the
/// trixie archive and security keys.
pub const KEYRING: &str = "/usr/share/keyrings/debian-archive-keyring.gpg";

/// Host sources consulted only to reuse its mirror (or local proxy) URIs.
const HOST_SOURCES: &str = "/etc/apt/sources.list.d/debian.sources";
const DEFAULT_ARCHIVE: &str = "http://deb.debian.org/debian";
const DEFAULT_SECURITY: &str = "http://deb.debian.org/debian-security";

/// Indexes older than this are refreshed before resolving package names.
const MAX_INDEX_AGE: Duration = Duration::from_secs(24 * 60 * 60);

/// A kernel series the project tests against, resolved to its newest build
/// at run time so nobody has to chase Debian's ABI bumps by hand.
#[derive(Clone, Copy, Debug)]
pub struct KernelSlot {
    /// Debian architecture, e.g. `amd64`.
    pub arch: &'static str,
    /// Upstream series, e.g. `6.12`.
    pub series: &'static str,
    /// Debian codename; both `<dist>` and `<dist>-security` are searched.
    pub dist: &'static str,
    /// Extended regex matched against package names by `apt-cache search`.
    pub package: &'static str,
}

pub const AMD64_5_10: KernelSlot = KernelSlot {
    arch: "amd64",
    series: "5.10",
    dist: "bullseye",
    package: r"^linux-image-5\.10\.0-[0-9]+-cloud-amd64$",
};
pub const AMD64_6_1: KernelSlot = KernelSlot {
    arch: "amd64",
    series: "6.1",
    dist: "bookworm",
    package: r"^linux-image-6\.1\.0-[0-9]+-cloud-amd64$",
};
pub const AMD64_6_12: KernelSlot = KernelSlot {
    arch: "amd64",
    series: "6.12",
    dist: "trixie",
    package: r"^linux-image-6\.12\.[0-9]+\+deb13[^-]*-cloud-amd64$",
};
pub const ARM64_6_1: KernelSlot = KernelSlot {
    arch: "arm64",
    series: "6.1",
    dist: "bookworm",
    package: r"^linux-image-6\.1\.0-[0-9]+-cloud-arm64$",
};
pub const ARM64_6_12: KernelSlot = KernelSlot {
    arch: "arm64",
    series: "6.12",
    dist: "trixie",
    package: r"^linux-image-6\.12\.[0-9]+\+deb13[^-]*-cloud-arm64$",
};

/// The kernels the VM test matrix boots. Backports are deliberately absent:
/// each slot is the kernel a stock installation of that release runs.
pub const KERNEL_SLOTS: &[KernelSlot] = &[AMD64_5_10, AMD64_6_1, AMD64_6_12, ARM64_6_1, ARM64_6_12];

/// A concrete binary package version available from the mirror.
#[derive(Clone, Debug)]
pub struct Package {
    pub name: String,
    pub version: String,
    pub arch: String,
    pub dist: String,
}

/// A downloaded package file whose SHA-256 matched the signed index.
#[derive(Clone, Debug)]
pub struct Deb {
    pub path: PathBuf,
    pub sha256: String,
}

/// Root of the project's download cache: `$VIGIL_CACHE_DIR`, else
/// `$XDG_CACHE_HOME/vigil` or `~/.cache/vigil`, so every clone on a machine
/// (CI's fresh ones included) shares the kernels it downloaded. Always
/// absolute, as apt runs in other directories.
pub fn cache_dir() -> PathBuf {
    let var = |k: &str| std::env::var_os(k).filter(|v| !v.is_empty());
    if let Some(dir) = var("VIGIL_CACHE_DIR") {
        return std::path::absolute(&dir).unwrap_or_else(|_| dir.into());
    }
    match (var("XDG_CACHE_HOME"), var("HOME")) {
        (Some(x), _) => PathBuf::from(x).join("vigil"),
        (None, Some(h)) => PathBuf::from(h).join(".cache/vigil"),
        _ => crate::repo_root().join(".cache"),
    }
}

/// Private apt states plus a shared pool of downloaded and unpacked `.deb`s.
pub struct AptCache {
    root: PathBuf,
    archive: String,
    security: String,
}

impl AptCache {
    /// A cache at `<cache_dir>/apt` using the host's Debian mirror.
    pub fn new() -> Self {
        let (archive, security) = host_mirrors();
        AptCache {
            root: cache_dir().join("apt"),
            archive,
            security,
        }
    }

    /// Refreshes the indexes of `<dist>` and `<dist>-security` for `arch`
    /// unless they are under a day old and were fetched with the same sources.
    ///
    /// If only some indexes fail (typically a mirror mid-sync for one suite),
    /// this warns and carries on with what did download, leaving the state
    /// stale so the next run retries.
    pub fn update(&self, dist: &str, arch: &str) -> Result<(), String> {
        let state = self.state(dist, arch)?;
        let stamp = state.join("updated");
        let sources = fs::read_to_string(state.join("debian.sources")).map_err(io_err(&state))?;
        let fresh = fs::read_to_string(&stamp).is_ok_and(|s| s == sources)
            && fs::metadata(&stamp)
                .and_then(|m| m.modified())
                .is_ok_and(|t| t.elapsed().is_ok_and(|age| age < MAX_INDEX_AGE));
        if fresh {
            return Ok(());
        }
        eprintln!("apt: updating {dist} indexes for {arch}");
        match apt(&state, "apt-get", &["update"], None) {
            Ok(_) => fs::write(&stamp, sources).map_err(io_err(&stamp)),
            Err(e) if has_package_index(&state.join("lists")) => {
                eprintln!(
                    "apt: warning: using {dist} indexes for {arch} without those that failed:"
                );
                for line in e.lines().filter(|l| l.starts_with("E: Failed to fetch")) {
                    eprintln!("  {line}");
                }
                Ok(())
            }
            Err(e) => Err(e),
        }
    }

    /// Newest version of any package whose name matches the extended regex
    /// `pattern` in `<dist>` or `<dist>-security`, e.g. the current
    /// `linux-image-6.12.*-cloud-arm64` without naming its ABI number.
    /// Updates the indexes first if they are stale.
    pub fn resolve_newest(&self, dist: &str, arch: &str, pattern: &str) -> Result<Package, String> {
        self.update(dist, arch)?;
        let state = self.state(dist, arch)?;
        let found = apt(
            &state,
            "apt-cache",
            &["search", "--names-only", pattern],
            None,
        )?;
        let names: Vec<&str> = found
            .lines()
            .filter_map(|l| l.split(" - ").next())
            .collect();
        let not_found =
            || format!("no {arch} package matching {pattern:?} in {dist} or {dist}-security");
        if names.is_empty() {
            return Err(not_found());
        }
        let mut args = vec!["madison"];
        args.extend(&names);
        let madison = apt(&state, "apt-cache", &args, None)?;
        // Lines look like `name | version | uri suite/component arch Packages`.
        let (name, version) = madison
            .lines()
            .filter_map(|line| {
                let mut fields = line.split('|').map(str::trim);
                Some((fields.next()?, fields.next()?))
            })
            .max_by(|a, b| cmp_version(a.1, b.1))
            .ok_or_else(not_found)?;
        Ok(Package {
            name: name.to_owned(),
            version: version.to_owned(),
            arch: arch.to_owned(),
            dist: dist.to_owned(),
        })
    }

    /// Downloads `pkg` into `<cache>/apt/archives`, reusing a previous
    /// download whose hash still matches the index.
    pub fn download(&self, pkg: &Package) -> Result<Deb, String> {
        let state = self.state(&pkg.dist, &pkg.arch)?;
        let spec = format!("{}={}", pkg.name, pkg.version);
        let uris = apt(
            &state,
            "apt-get",
            &["download", "--print-uris", &spec],
            None,
        )?;
        // `'URI' FILENAME SIZE SHA256:HEX`
        let parsed = uris.lines().find(|l| l.starts_with('\'')).and_then(|line| {
            let fields: Vec<&str> = line.split_whitespace().collect();
            Some((*fields.get(1)?, fields.get(3)?.strip_prefix("SHA256:")?))
        });
        let Some((file, sha256)) = parsed else {
            return Err(format!(
                "apt-get download --print-uris {spec}: unexpected output:\n{uris}"
            ));
        };
        let archives = self.root.join("archives");
        let path = archives.join(file);
        let deb = Deb {
            path,
            sha256: sha256.to_owned(),
        };
        if deb.path.is_file() && sha256sum(&deb.path)? == deb.sha256 {
            return Ok(deb);
        }
        eprintln!("apt: downloading {spec} ({})", pkg.arch);
        fs::create_dir_all(&archives).map_err(io_err(&archives))?;
        apt(&state, "apt-get", &["download", &spec], Some(&archives))?;
        let got = sha256sum(&deb.path)?;
        if got != deb.sha256 {
            return Err(format!(
                "{}: sha256 {got}, index says {}",
                deb.path.display(),
                deb.sha256
            ));
        }
        Ok(deb)
    }

    /// Unpacks `deb` with `dpkg-deb -x` into `<cache>/apt/unpacked/<name>/`
    /// and returns that directory; an existing complete unpack is reused.
    pub fn extract(&self, deb: &Path) -> Result<PathBuf, String> {
        let stem = deb
            .file_stem()
            .ok_or_else(|| format!("{}: not a package file", deb.display()))?;
        let unpacked = self.root.join("unpacked");
        let dest = unpacked.join(stem);
        if dest.is_dir() {
            return Ok(dest);
        }
        // Unpack beside the destination and rename, so an interrupted run
        // never leaves a half-filled tree that looks complete.
        let tmp = unpacked.join(format!("{}.partial", stem.to_string_lossy()));
        if tmp.exists() {
            fs::remove_dir_all(&tmp).map_err(io_err(&tmp))?;
        }
        fs::create_dir_all(&tmp).map_err(io_err(&tmp))?;
        run(Command::new("dpkg-deb").arg("-x").arg(deb).arg(&tmp))?;
        fs::rename(&tmp, &dest).map_err(io_err(&dest))?;
        Ok(dest)
    }

    /// Creates (or refreshes) the apt state for one distribution and
    /// architecture and returns its directory.
    fn state(&self, dist: &str, arch: &str) -> Result<PathBuf, String> {
        if !Path::new(KEYRING).is_file() {
            return Err(format!(
                "{KEYRING} is missing; install debian-archive-keyring"
            ));
        }
        let state = self.root.join(format!("{dist}-{arch}"));
        for dir in [
            state.join("lists/partial"),
            state.join("cache"),
            self.root.join("archives/partial"),
        ] {
            fs::create_dir_all(&dir).map_err(io_err(&dir))?;
        }
        let sources = format!(
            "Types: deb\nURIs: {}\nSuites: {dist}\nComponents: main\nArchitectures: {arch}\n\
             Targets: Packages\nSigned-By: {KEYRING}\n\n\
             Types: deb\nURIs: {}\nSuites: {dist}-security\nComponents: main\nArchitectures: {arch}\n\
             Targets: Packages\nSigned-By: {KEYRING}\n",
            self.archive, self.security
        );
        let s = state.display();
        let archives = self.root.join("archives");
        let conf = format!(
            "// Generated by xtask; the host's /etc/apt is not read.\n\
             Dir::Etc::main \"/dev/null\";\n\
             Dir::Etc::parts \"/dev/null\";\n\
             Dir::Etc::sourcelist \"{s}/debian.sources\";\n\
             Dir::Etc::sourceparts \"/dev/null\";\n\
             Dir::Etc::preferences \"/dev/null\";\n\
             Dir::Etc::preferencesparts \"/dev/null\";\n\
             Dir::Etc::trusted \"/dev/null\";\n\
             Dir::Etc::trustedparts \"/dev/null\";\n\
             Dir::State \"{s}\";\n\
             Dir::State::Lists \"{s}/lists\";\n\
             Dir::State::status \"{s}/status\";\n\
             Dir::Cache \"{s}/cache\";\n\
             Dir::Cache::srcpkgcache \"\";\n\
             Dir::Cache::Archives \"{archives}\";\n\
             APT::Architecture \"{arch}\";\n\
             APT::Architectures {{ \"{arch}\"; }};\n\
             Acquire::GzipIndexes \"true\";\n\
             // When run as root, download as root: _apt may not be able to write here.\n\
             APT::Sandbox::User \"root\";\n",
            archives = archives.display(),
        );
        write_if_changed(&state.join("debian.sources"), &sources)?;
        write_if_changed(&state.join("apt.conf"), &conf)?;
        write_if_changed(&state.join("status"), "")?;
        Ok(state)
    }
}

/// Runs an apt tool against the private state in `state`, returning stdout.
fn apt(state: &Path, tool: &str, args: &[&str], cwd: Option<&Path>) -> Result<String, String> {
    let mut cmd = Command::new(tool);
    cmd.arg("-q")
        .args(args)
        .env("APT_CONFIG", state.join("apt.conf"))
        .env("LC_ALL", "C");
    if let Some(dir) = cwd {
        cmd.current_dir(dir);
    }
    let out = run(&mut cmd)?;
    String::from_utf8(out).map_err(|e| format!("{tool}: non-UTF-8 output: {e}"))
}

/// Runs `cmd` to completion, returning its stdout, or an error naming the
/// command and carrying its stderr.
pub fn run(cmd: &mut Command) -> Result<Vec<u8>, String> {
    let shown = describe(cmd);
    let out = cmd.output().map_err(|e| format!("`{shown}`: {e}"))?;
    if out.status.success() {
        Ok(out.stdout)
    } else {
        let stderr = String::from_utf8_lossy(&out.stderr);
        Err(format!(
            "`{shown}` failed ({}):\n{}",
            out.status,
            stderr.trim_end()
        ))
    }
}

/// The command line as a copy-pasteable string, with environment overrides.
fn describe(cmd: &Command) -> String {
    let env = cmd
        .get_envs()
        .filter_map(|(k, v)| Some(format!("{}={}", k.to_string_lossy(), v?.to_string_lossy())));
    let argv = std::iter::once(cmd.get_program())
        .chain(cmd.get_args())
        .map(|a| a.to_string_lossy().into_owned());
    env.chain(argv).collect::<Vec<_>>().join(" ")
}

fn io_err(path: &Path) -> impl Fn(std::io::Error) -> String + '_ {
    move |e| format!("{}: {e}", path.display())
}

/// Writes `contents` unless the file already holds exactly that, so
/// timestamps only move when something really changed.
fn write_if_changed(path: &Path, contents: &str) -> Result<(), String> {
    if fs::read_to_string(path).is_ok_and(|old| old == contents) {
        return Ok(());
    }
    fs::write(path, contents).map_err(io_err(path))
}

fn has_package_index(lists: &Path) -> bool {
    fs::read_dir(lists).is_ok_and(|entries| {
        entries
            .flatten()
            .any(|e| e.file_name().to_string_lossy().contains("_Packages"))
    })
}

fn sha256sum(path: &Path) -> Result<String, String> {
    let out = run(Command::new("sha256sum").arg(path))?;
    let out = String::from_utf8_lossy(&out);
    out.split_whitespace()
        .next()
        .map(str::to_owned)
        .ok_or_else(|| format!("sha256sum {}: no output", path.display()))
}

/// The `(archive, security)` mirror URIs configured on the host, so a local
/// mirror or caching proxy is reused; deb.debian.org otherwise.
fn host_mirrors() -> (String, String) {
    let text = fs::read_to_string(HOST_SOURCES).unwrap_or_default();
    let mut archive = None;
    let mut security = None;
    for stanza in text.split("\n\n") {
        let field = |name: &str| {
            stanza.lines().find_map(|line| {
                let (key, value) = line.split_once(':')?;
                key.trim().eq_ignore_ascii_case(name).then(|| value.trim())
            })
        };
        if field("Types").is_some_and(|t| !t.split_whitespace().any(|t| t == "deb")) {
            continue;
        }
        let (Some(uris), Some(suites)) = (field("URIs"), field("Suites")) else {
            continue;
        };
        let Some(uri) = uris.split_whitespace().next() else {
            continue;
        };
        let slot = if suites.split_whitespace().any(|s| s.ends_with("-security")) {
            &mut security
        } else {
            &mut archive
        };
        slot.get_or_insert_with(|| uri.trim_end_matches('/').to_owned());
    }
    (
        archive.unwrap_or_else(|| DEFAULT_ARCHIVE.to_owned()),
        security.unwrap_or_else(|| DEFAULT_SECURITY.to_owned()),
    )
}

/// Debian version ordering as in deb-version(7): epoch numerically, then
/// upstream version and revision by alternating non-digit runs (where `~`
/// sorts before everything, even the end) and numeric runs.
fn cmp_version(a: &str, b: &str) -> Ordering {
    fn split(v: &str) -> (u64, &str, &str) {
        let (epoch, rest) = match v.split_once(':') {
            Some((e, rest)) => (e.parse().unwrap_or(0), rest),
            None => (0, v),
        };
        let (upstream, revision) = rest.rsplit_once('-').unwrap_or((rest, ""));
        (epoch, upstream, revision)
    }
    let (ea, ua, ra) = split(a);
    let (eb, ub, rb) = split(b);
    ea.cmp(&eb)
        .then_with(|| cmp_fragment(ua, ub))
        .then_with(|| cmp_fragment(ra, rb))
}

fn cmp_fragment(a: &str, b: &str) -> Ordering {
    fn weight(c: Option<&u8>) -> i32 {
        match c {
            Some(b'~') => -1,
            None => 0,
            Some(c) if c.is_ascii_alphabetic() => i32::from(*c),
            Some(c) => i32::from(*c) + 256,
        }
    }
    fn take(s: &[u8], digits: bool) -> (&[u8], &[u8]) {
        let n = s
            .iter()
            .take_while(|c| c.is_ascii_digit() == digits)
            .count();
        s.split_at(n)
    }
    let (mut a, mut b) = (a.as_bytes(), b.as_bytes());
    while !a.is_empty() || !b.is_empty() {
        let (text_a, rest_a) = take(a, false);
        let (text_b, rest_b) = take(b, false);
        for i in 0..text_a.len().max(text_b.len()) {
            match weight(text_a.get(i)).cmp(&weight(text_b.get(i))) {
                Ordering::Equal => {}
                other => return other,
            }
        }
        let (num_a, rest_a) = take(rest_a, true);
        let (num_b, rest_b) = take(rest_b, true);
        let num_a = &num_a[num_a.iter().take_while(|&&c| c == b'0').count()..];
        let num_b = &num_b[num_b.iter().take_while(|&&c| c == b'0').count()..];
        match num_a.len().cmp(&num_b.len()).then_with(|| num_a.cmp(num_b)) {
            Ordering::Equal => {}
            other => return other,
        }
        (a, b) = (rest_a, rest_b);
    }
    Ordering::Equal
}

#[cfg(test)]
mod tests {
    use super::cmp_version;
    use std::cmp::Ordering::{Equal, Greater, Less};

    #[test]
    fn debian_version_order() {
        for (a, b, want) in [
            ("6.12.117-1", "6.12.96-1", Greater),
            ("6.12.115-2", "6.12.115-1", Greater),
            ("1:1.0-1", "2.0-1", Greater),
            ("1.0~rc1-1", "1.0-1", Less),
            ("1.0-1", "1.0-1+b1", Less),
            ("1.0a-1", "1.0+-1", Less),
            ("01.2-3", "1.2-3", Equal),
            ("1.37.0-6+b9", "1.37.0-6", Greater),
        ] {
            assert_eq!(cmp_version(a, b), want, "{a} vs {b}");
        }
    }
}
