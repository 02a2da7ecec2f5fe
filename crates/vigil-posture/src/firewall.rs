//! Packet filter: how many rules are loaded and whether traffic no rule
//! accepts is dropped. On the running host the ruleset comes from
//! `nft list ruleset`, or `iptables-save`/`ip6tables-save` when nftables is
//! absent or empty; on any other root (a fixture, a mounted image) only
//! files are read (`/etc/nftables.conf`, `/etc/iptables/rules.v4|v6`), so
//! the result never depends on the machine the collector runs on.

use crate::read::read_text;
use crate::{flag, Collected, Family, Host, Reason};
use std::collections::BTreeMap;
use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

/// A wedged netlink call must not stall the scrape.
const COMMAND_TIMEOUT: Duration = Duration::from_secs(3);
const MAX_OUTPUT_BYTES: u64 = 64 * 1024 * 1024;
const TOOL_DIRS: &[&str] = &["/usr/sbin", "/sbin", "/usr/bin", "/bin", "/usr/local/sbin"];
/// The hooks whose default policy decides what reaches or leaves the host.
const HOOKS: &[&str] = &["input", "forward", "output"];

/// One ruleset, from whichever backend: rules, and per hook whether IPv4
/// and IPv6 packets no rule accepted are dropped.
#[derive(Debug, Default, PartialEq)]
struct Ruleset {
    rules: usize,
    /// hook → (IPv4 dropped, IPv6 dropped).
    drop: BTreeMap<String, (bool, bool)>,
}

impl Ruleset {
    fn policy_drop(&self, hook: &str) -> bool {
        self.drop.get(hook).is_some_and(|(v4, v6)| *v4 && *v6)
    }
}

#[derive(Debug, PartialEq)]
enum Block {
    Table(String),
    Chain {
        family: String,
        kind: Option<String>,
        hook: Option<String>,
        drop: bool,
    },
    /// Sets, maps, flowtables and anything else with braces.
    Other,
}

/// Parses nftables syntax (`nft list ruleset` output or an `nft -f` file):
/// statements end at a newline or `;`, braces after `table`/`chain`/`set`
/// headers open blocks, braces inside a rule (anonymous sets, verdict maps)
/// belong to the rule.
fn parse_nft(text: &str) -> Ruleset {
    let mut rs = Ruleset::default();
    let mut stack: Vec<Block> = Vec::new();
    let mut stmt = String::new();
    let mut inline = 0usize; // braces open inside the current rule
    let mut quoted = false;
    let mut comment = false;

    fn finish(stmt: &mut String, stack: &mut [Block], rs: &mut Ruleset) {
        let s = std::mem::take(stmt);
        let s = s.trim();
        if s.is_empty() {
            return;
        }
        let Some(Block::Chain {
            kind, hook, drop, ..
        }) = stack.last_mut()
        else {
            return;
        };
        let words: Vec<&str> = s.split_whitespace().collect();
        let after = |w: &str| {
            words
                .iter()
                .position(|x| *x == w)
                .and_then(|i| words.get(i + 1))
                .map(|x| x.to_string())
        };
        match words.first().copied() {
            Some("type") => {
                *kind = words.get(1).map(|x| x.to_string());
                *hook = after("hook");
            }
            Some("policy") => *drop = words.get(1) == Some(&"drop"),
            Some("comment" | "devices" | "device") => {}
            _ => rs.rules += 1,
        }
    }

    for c in text.chars() {
        if comment {
            if c == '\n' {
                comment = false;
            } else {
                continue;
            }
        }
        if quoted {
            stmt.push(c);
            quoted = c != '"';
            continue;
        }
        let in_chain = matches!(stack.last(), Some(Block::Chain { .. }));
        match c {
            '"' => {
                quoted = true;
                stmt.push(c);
            }
            '#' => comment = true,
            '{' if in_chain || inline > 0 => {
                inline += 1;
                stmt.push(c);
            }
            '}' if inline > 0 => {
                inline -= 1;
                stmt.push(c);
            }
            '{' => {
                let header = std::mem::take(&mut stmt);
                let words: Vec<&str> = header.split_whitespace().collect();
                let block = match (stack.last(), words.first().copied()) {
                    (None, Some("table")) => {
                        // `table NAME` is the ip family.
                        let family = if words.len() >= 3 { words[1] } else { "ip" };
                        Block::Table(family.to_string())
                    }
                    (Some(Block::Table(family)), Some("chain")) => Block::Chain {
                        family: family.clone(),
                        kind: None,
                        hook: None,
                        drop: false,
                    },
                    _ => Block::Other,
                };
                stack.push(block);
            }
            '}' => {
                finish(&mut stmt, &mut stack, &mut rs);
                if let Some(Block::Chain {
                    family,
                    kind,
                    hook: Some(hook),
                    drop,
                }) = stack.pop()
                {
                    if kind.as_deref() == Some("filter") && HOOKS.contains(&hook.as_str()) {
                        let (v4, v6) = rs.drop.entry(hook).or_default();
                        let (for4, for6) = match family.as_str() {
                            "ip" => (true, false),
                            "ip6" => (false, true),
                            "inet" => (true, true),
                            _ => (false, false),
                        };
                        // Any base chain on the hook dropping is enough:
                        // every base chain must accept a packet.
                        *v4 |= for4 && drop;
                        *v6 |= for6 && drop;
                    }
                }
            }
            '\n' | ';' if inline == 0 => finish(&mut stmt, &mut stack, &mut rs),
            '\n' => stmt.push(' '),
            _ => stmt.push(c),
        }
    }
    rs
}

/// Parses `iptables-save` output: `-A` lines are rules, `:CHAIN POLICY`
/// lines in `*filter` are the built-in chains' policies.
fn parse_iptables_save(text: &str) -> (usize, BTreeMap<String, bool>) {
    let mut rules = 0;
    let mut drop = BTreeMap::new();
    let mut table = "";
    for line in text.lines().map(str::trim) {
        if let Some(t) = line.strip_prefix('*') {
            table = t;
        } else if line.starts_with("-A ") {
            rules += 1;
        } else if let Some(decl) = line.strip_prefix(':') {
            let mut it = decl.split_whitespace();
            if let (Some(chain), Some(policy)) = (it.next(), it.next()) {
                let hook = chain.to_ascii_lowercase();
                if table == "filter" && HOOKS.contains(&hook.as_str()) {
                    drop.insert(hook, policy == "DROP");
                }
            }
        }
    }
    (rules, drop)
}

fn iptables_ruleset(v4: &str, v6: Option<&str>) -> Ruleset {
    let (r4, d4) = parse_iptables_save(v4);
    let (r6, d6) = v6.map(parse_iptables_save).unwrap_or_default();
    let mut rs = Ruleset {
        rules: r4 + r6,
        drop: BTreeMap::new(),
    };
    for (hook, drop4) in d4 {
        // Without an IPv6 ruleset to read, judge by IPv4 alone.
        let drop6 = if v6.is_some() {
            d6.get(&hook).copied().unwrap_or(false)
        } else {
            drop4
        };
        rs.drop.insert(hook, (drop4, drop6));
    }
    rs
}

#[derive(Debug, PartialEq)]
enum RunError {
    Failed,
    Timeout,
}

impl From<RunError> for Reason {
    fn from(e: RunError) -> Reason {
        match e {
            RunError::Failed => Reason::CommandFailed,
            RunError::Timeout => Reason::Timeout,
        }
    }
}

/// Runs a command and returns its stdout, killing it at `timeout`.
fn run(program: &Path, args: &[&str], timeout: Duration) -> Result<String, RunError> {
    let mut child = Command::new(program)
        .args(args)
        .env("LC_ALL", "C")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .map_err(|_| RunError::Failed)?;
    let Some(stdout) = child.stdout.take() else {
        let _ = child.kill();
        let _ = child.wait();
        return Err(RunError::Failed);
    };
    // Drain stdout on a thread so a large ruleset cannot fill the pipe and
    // block the child while we wait for it.
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        let mut buf = Vec::new();
        let res = stdout.take(MAX_OUTPUT_BYTES).read_to_end(&mut buf);
        let _ = tx.send(res.map(|_| buf));
    });
    let deadline = Instant::now() + timeout;
    loop {
        match child.try_wait() {
            Ok(Some(status)) => {
                let left = deadline.saturating_duration_since(Instant::now());
                let out = rx
                    .recv_timeout(left.max(Duration::from_millis(100)))
                    .map_err(|_| RunError::Timeout)?
                    .map_err(|_| RunError::Failed)?;
                if !status.success() {
                    return Err(RunError::Failed);
                }
                return Ok(String::from_utf8_lossy(&out).into_owned());
            }
            Ok(None) if Instant::now() < deadline => {
                std::thread::sleep(Duration::from_millis(10));
            }
            Ok(None) => {
                let _ = child.kill();
                let _ = child.wait();
                return Err(RunError::Timeout);
            }
            Err(_) => {
                let _ = child.kill();
                let _ = child.wait();
                return Err(RunError::Failed);
            }
        }
    }
}

fn find_tool(host: &Host, name: &str) -> Option<PathBuf> {
    TOOL_DIRS
        .iter()
        .map(|d| host.path(d).join(name))
        .find(|p| p.is_file())
}

/// What the live host's tools say: backend name and ruleset, per backend
/// consulted, plus the first failure when a tool existed but failed.
fn live_rulesets(host: &Host) -> (Vec<(&'static str, Ruleset)>, Option<Reason>) {
    let mut out = Vec::new();
    let mut err = None;
    if let Some(nft) = find_tool(host, "nft") {
        match run(&nft, &["list", "ruleset"], COMMAND_TIMEOUT) {
            Ok(text) => out.push(("nftables", parse_nft(&text))),
            Err(e) => err = Some(e.into()),
        }
    }
    // Legacy iptables rules do not show in nft's ruleset.
    let nft_has_rules = out.iter().any(|(_, rs)| rs.rules > 0);
    if !nft_has_rules {
        if let Some(save) = find_tool(host, "iptables-save") {
            match run(&save, &[], COMMAND_TIMEOUT) {
                Ok(v4) => {
                    let v6 = find_tool(host, "ip6tables-save")
                        .and_then(|p| run(&p, &[], COMMAND_TIMEOUT).ok());
                    out.push(("iptables", iptables_ruleset(&v4, v6.as_deref())));
                }
                Err(e) => {
                    err.get_or_insert(e.into());
                }
            }
        }
    }
    (out, err)
}

/// What the configuration files under a non-live root say.
fn file_rulesets(host: &Host) -> Vec<(&'static str, Ruleset)> {
    if let Ok(text) = read_text(host, "/etc/nftables.conf") {
        return vec![("nftables", parse_nft(&text))];
    }
    let v4 = read_text(host, "/etc/iptables/rules.v4")
        .or_else(|_| read_text(host, "/etc/sysconfig/iptables"));
    if let Ok(v4) = v4 {
        let v6 = read_text(host, "/etc/iptables/rules.v6")
            .or_else(|_| read_text(host, "/etc/sysconfig/ip6tables"))
            .ok();
        return vec![("iptables", iptables_ruleset(&v4, v6.as_deref()))];
    }
    Vec::new()
}

pub(crate) fn collect(host: &Host) -> Collected {
    let (rulesets, err) = if host.is_live() {
        live_rulesets(host)
    } else {
        (file_rulesets(host), None)
    };
    let mut count = Family::gauge(
        "security_posture_firewall_rules",
        "Packet filter rules loaded, by backend (none when no backend could be read).",
    );
    let mut policy = Family::gauge(
        "security_posture_firewall_default_policy_drop",
        "1 when IPv4 and IPv6 packets no rule accepts are dropped on this hook (input, forward, output).",
    );
    for (backend, rs) in &rulesets {
        count.push(&[("backend", backend)], rs.rules as f64);
    }
    if let Some((_, rs)) = rulesets
        .iter()
        .find(|(_, rs)| rs.rules > 0)
        .or(rulesets.first())
    {
        for hook in HOOKS {
            policy.push(&[("chain", hook)], flag(rs.policy_drop(hook)));
        }
    } else {
        count.push(&[("backend", "none")], 0.0);
    }
    // Tables the kernel's legacy iptables has loaded (files exist while
    // ip_tables/ip6_tables are loaded).
    let mut tables = Family::gauge(
        "security_posture_firewall_kernel_tables",
        "Legacy iptables tables loaded in the kernel, from /proc/net/ip_tables_names and ip6_tables_names.",
    );
    for (family, file) in [
        ("ipv4", "/proc/net/ip_tables_names"),
        ("ipv6", "/proc/net/ip6_tables_names"),
    ] {
        if let Ok(t) = read_text(host, file) {
            tables.push(
                &[("family", family)],
                t.lines().filter(|l| !l.trim().is_empty()).count() as f64,
            );
        }
    }
    let families = vec![count, policy, tables];
    match err {
        // A tool was there but nothing could be read: the count is unknown.
        Some(reason) if rulesets.is_empty() => Collected::down(families, reason),
        _ => Collected::up(families),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testutil::{value, Fixture};

    const NFT_RULESET: &str = r#"table inet filter {
	set blocked {
		type ipv4_addr
		elements = { 10.0.0.1,
			     10.0.0.2 }
	}

	chain input {
		type filter hook input priority filter; policy drop;
		ct state established,related accept
		iif "lo" accept comment "loopback; always"
		tcp dport { 22,
			    443 } accept
		ip saddr @blocked drop
	}

	chain forward {
		type filter hook forward priority filter; policy drop;
	}

	chain output {
		type filter hook output priority filter; policy accept;
	}
}
table ip nat {
	chain postrouting {
		type nat hook postrouting priority srcnat; policy accept;
		oifname "eth0" masquerade
	}
}
"#;

    #[test]
    fn nft_rules_and_policies() {
        let rs = parse_nft(NFT_RULESET);
        assert_eq!(rs.rules, 5);
        assert!(rs.policy_drop("input"));
        assert!(rs.policy_drop("forward"));
        assert!(!rs.policy_drop("output"));
    }

    #[test]
    fn nft_one_line_chains_and_ipv4_only_drop() {
        let rs = parse_nft(
            "#!/usr/sbin/nft -f\nflush ruleset\n\
             table ip filter { chain input { type filter hook input priority 0; policy drop; tcp dport 22 accept; } }\n",
        );
        assert_eq!(rs.rules, 1);
        // Only IPv4 is dropped; IPv6 falls through to accept.
        assert!(!rs.policy_drop("input"));
        assert_eq!(rs.drop.get("input"), Some(&(true, false)));
    }

    #[test]
    fn iptables_save_format() {
        let v4 = "# Generated by iptables-save\n*nat\n:PREROUTING ACCEPT [0:0]\n-A POSTROUTING -o eth0 -j MASQUERADE\nCOMMIT\n\
                  *filter\n:INPUT DROP [0:0]\n:FORWARD DROP [0:0]\n:OUTPUT ACCEPT [0:0]\n\
                  -A INPUT -i lo -j ACCEPT\n-A INPUT -p tcp --dport 22 -j ACCEPT\nCOMMIT\n";
        let v6 = "*filter\n:INPUT DROP [0:0]\n:FORWARD ACCEPT [0:0]\n:OUTPUT ACCEPT [0:0]\n-A INPUT -i lo -j ACCEPT\nCOMMIT\n";
        let rs = iptables_ruleset(v4, Some(v6));
        assert_eq!(rs.rules, 4);
        assert!(rs.policy_drop("input"));
        assert!(!rs.policy_drop("forward"));
        assert!(!rs.policy_drop("output"));
        assert!(iptables_ruleset(v4, None).policy_drop("forward"));
    }

    #[test]
    fn fixture_reads_nftables_conf_only() {
        let fx = Fixture::new();
        fx.file("etc/nftables.conf", NFT_RULESET);
        let c = collect(&fx.host);
        assert!(c.status.is_ok());
        let f = &c.families;
        assert_eq!(
            value(
                f,
                "security_posture_firewall_rules",
                &[("backend", "nftables")]
            ),
            Some(5.0)
        );
        assert_eq!(
            value(
                f,
                "security_posture_firewall_default_policy_drop",
                &[("chain", "input")]
            ),
            Some(1.0)
        );
    }

    #[test]
    fn fixture_without_firewall_is_none() {
        let fx = Fixture::new();
        fx.file("proc/net/ip_tables_names", "filter\nnat\n");
        let c = collect(&fx.host);
        assert!(c.status.is_ok());
        let f = &c.families;
        assert_eq!(
            value(f, "security_posture_firewall_rules", &[("backend", "none")]),
            Some(0.0)
        );
        assert_eq!(
            value(
                f,
                "security_posture_firewall_kernel_tables",
                &[("family", "ipv4")]
            ),
            Some(2.0)
        );
        assert!(f[1].samples.is_empty(), "no policy without a ruleset");
    }

    #[test]
    fn commands_are_killed_at_the_timeout() {
        let sh = Path::new("/bin/sh");
        assert_eq!(
            run(sh, &["-c", "echo hi"], COMMAND_TIMEOUT),
            Ok("hi\n".to_string())
        );
        assert_eq!(
            run(sh, &["-c", "exit 3"], COMMAND_TIMEOUT),
            Err(RunError::Failed)
        );
        let started = Instant::now();
        assert_eq!(
            run(sh, &["-c", "exec sleep 30"], Duration::from_millis(200)),
            Err(RunError::Timeout)
        );
        assert!(started.elapsed() < Duration::from_secs(5));
        assert_eq!(
            run(Path::new("/nonexistent/nft"), &[], COMMAND_TIMEOUT),
            Err(RunError::Failed)
        );
    }
}
