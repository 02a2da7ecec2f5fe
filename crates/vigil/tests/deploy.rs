//! The deployment files in `deploy/`: the Prometheus alert rules (checked
//! and unit-tested by the real `promtool`), the example Prometheus and web
//! configurations, the Grafana dashboard, and the systemd unit.
//!
//! Every metric name used by an alert or a dashboard query must be listed
//! in `docs/metrics.md`, the metric catalog.
//!
//! Needs `promtool` (Debian: `apt-get install prometheus`) and `openssl`;
//! `systemd-analyze` (package `systemd`) is used when present.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use serde_json::Value;

fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../..")
        .canonicalize()
        .expect("repository root")
}

fn deploy(rel: &str) -> PathBuf {
    repo().join("deploy").join(rel)
}

fn read(path: &Path) -> String {
    std::fs::read_to_string(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

fn text(out: &Output) -> String {
    format!(
        "{}\n--- stdout ---\n{}--- stderr ---\n{}",
        out.status,
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

/// Runs `promtool ARGS` in `dir`; panics with its output unless it succeeds.
/// A missing promtool is a failure, not a skip.
fn promtool(dir: &Path, args: &[&str]) -> String {
    let out = Command::new("promtool")
        .args(args)
        .current_dir(dir)
        .output()
        .unwrap_or_else(|e| {
            panic!(
                "cannot run promtool ({e}): it is needed to check deploy/prometheus; \
                 install it with `apt-get install prometheus` (or `scripts/deps.sh test`)"
            )
        });
    let t = text(&out);
    assert!(out.status.success(), "promtool {}:\n{t}", args.join(" "));
    eprintln!("promtool {}:\n{t}", args.join(" "));
    t
}

// ---------------------------------------------------------------------------
// The metric catalog.

/// Metric families of `docs/metrics.md`: name -> type, from every table row
/// whose first cell holds a metric name in backticks.
fn catalog() -> BTreeMap<String, String> {
    let path = repo().join("docs/metrics.md");
    let mut out = BTreeMap::new();
    for line in read(&path).lines() {
        let line = line.trim();
        if !line.starts_with('|') {
            continue;
        }
        let cells: Vec<&str> = line.trim_matches('|').split('|').map(str::trim).collect();
        let Some(name) = cells[0].split('`').nth(1) else {
            continue;
        };
        if !is_metric_name(name) {
            continue;
        }
        let ty = cells
            .get(1)
            .map(|t| t.trim_matches('`').trim().to_ascii_lowercase())
            .unwrap_or_default();
        out.insert(name.to_string(), ty);
    }
    assert!(
        out.len() >= 20,
        "docs/metrics.md lists only {} metric families: {out:?}",
        out.len()
    );
    out
}

fn is_metric_name(s: &str) -> bool {
    let mut c = s.chars();
    matches!(c.next(), Some(ch) if ch.is_ascii_alphabetic() || ch == '_' || ch == ':')
        && c.all(|ch| ch.is_ascii_alphanumeric() || ch == '_' || ch == ':')
}

/// Series Prometheus records itself; the agent does not export them.
const PROMETHEUS_SERIES: &[&str] = &["up"];

/// Names in `used` (name -> where) that are neither in the catalog nor a
/// histogram's or summary's `_bucket`/`_sum`/`_count` series of one.
fn unknown_metrics(used: &BTreeMap<String, String>) -> Vec<String> {
    let known = catalog();
    used.iter()
        .filter(|(name, _)| {
            if known.contains_key(name.as_str()) || PROMETHEUS_SERIES.contains(&name.as_str()) {
                return false;
            }
            let family = ["_bucket", "_sum", "_count"]
                .iter()
                .find_map(|s| name.strip_suffix(s))
                .and_then(|base| known.get(base));
            !matches!(family.map(String::as_str), Some("histogram" | "summary"))
        })
        .map(|(name, at)| format!("{name} (in {at})"))
        .collect()
}

// ---------------------------------------------------------------------------
// PromQL: the metric names an expression selects.

const PROMQL_KEYWORDS: &[&str] = &[
    "and",
    "or",
    "unless",
    "bool",
    "offset",
    "by",
    "without",
    "on",
    "ignoring",
    "group_left",
    "group_right",
    "inf",
    "nan",
    "atan2",
];

/// Keywords followed by a parenthesised label list, not an expression.
const LABEL_LIST_KEYWORDS: &[&str] = &[
    "by",
    "without",
    "on",
    "ignoring",
    "group_left",
    "group_right",
];

/// The metric names selected by a PromQL expression (which may contain
/// Grafana variables such as `$instance` or `${datasource}`).
fn metric_names(expr: &str) -> BTreeSet<String> {
    let b = expr.as_bytes();
    let mut names = BTreeSet::new();
    let mut i = 0;
    let skip_string = |i: usize| -> usize {
        let q = b[i];
        let mut j = i + 1;
        while j < b.len() && b[j] != q {
            if b[j] == b'\\' {
                j += 1;
            }
            j += 1;
        }
        j + 1
    };
    // Skips a bracketed group starting at `i` (b[i] is the opener).
    let skip_group = |i: usize, open: u8, close: u8| -> usize {
        let mut depth = 0;
        let mut j = i;
        while j < b.len() {
            match b[j] {
                b'"' | b'\'' | b'`' => {
                    j = skip_string(j);
                    continue;
                }
                c if c == open => depth += 1,
                c if c == close => {
                    depth -= 1;
                    if depth == 0 {
                        return j + 1;
                    }
                }
                _ => {}
            }
            j += 1;
        }
        j
    };
    let ident = |c: u8| c.is_ascii_alphanumeric() || c == b'_' || c == b':';
    while i < b.len() {
        let c = b[i];
        match c {
            b'"' | b'\'' | b'`' => i = skip_string(i),
            b'{' => i = skip_group(i, b'{', b'}'),
            b'[' => i = skip_group(i, b'[', b']'),
            b'$' => {
                // A Grafana variable: $name or ${name}.
                i += 1;
                if i < b.len() && b[i] == b'{' {
                    i = skip_group(i, b'{', b'}');
                } else {
                    while i < b.len() && ident(b[i]) {
                        i += 1;
                    }
                }
            }
            c if c.is_ascii_digit() || c == b'.' => {
                while i < b.len() && (ident(b[i]) || b[i] == b'.') {
                    i += 1;
                }
            }
            c if c.is_ascii_alphabetic() || c == b'_' || c == b':' => {
                let start = i;
                while i < b.len() && ident(b[i]) {
                    i += 1;
                }
                let word = &expr[start..i];
                let mut j = i;
                while j < b.len() && b[j].is_ascii_whitespace() {
                    j += 1;
                }
                // `sum by (x) (...)`: an aggregation whose modifier comes first.
                let modifier = ["by", "without"].iter().any(|m| {
                    expr[j..].starts_with(m)
                        && !expr[j + m.len()..].starts_with(|c: char| {
                            c.is_ascii_alphanumeric() || c == '_' || c == ':'
                        })
                });
                let call = (j < b.len() && b[j] == b'(') || modifier;
                if LABEL_LIST_KEYWORDS.contains(&word) {
                    if j < b.len() && b[j] == b'(' {
                        i = skip_group(j, b'(', b')');
                    }
                } else if !call && !PROMQL_KEYWORDS.contains(&word) {
                    names.insert(word.to_string());
                }
            }
            _ => i += 1,
        }
    }
    names
}

#[test]
fn promql_metric_name_extraction() {
    let got = metric_names(
        r#"sum by (type, le) (rate(foo_total{a="b",c=~"x|y"}[5m] offset 1h)) / on (instance) group_left (version) bar:rate5m > 3 * (baz or up * 0) and topk(5, qux{x="{y}"})"#,
    );
    let want: BTreeSet<String> = ["foo_total", "bar:rate5m", "baz", "up", "qux"]
        .map(String::from)
        .into();
    assert_eq!(got, want);
    let got = metric_names(
        r#"histogram_quantile(0.95, sum(increase(h_bucket{instance=~"$instance"}[$__rate_interval])) by (le)) == bool 1e3"#,
    );
    assert_eq!(got, ["h_bucket".to_string()].into());
}

// ---------------------------------------------------------------------------
// A small reader for the rules file's shape of YAML (the test has no YAML
// crate): lists of maps, nested maps, plain/quoted/block scalars.

#[derive(Debug, Default)]
struct Rule {
    name: String,
    group: String,
    fields: BTreeMap<String, String>,
    labels: BTreeMap<String, String>,
    annotations: BTreeMap<String, String>,
}

fn indent(line: &str) -> usize {
    line.len() - line.trim_start().len()
}

fn is_blank(line: &str) -> bool {
    let t = line.trim();
    t.is_empty() || t.starts_with('#')
}

fn unquote(v: &str) -> String {
    let v = v.trim();
    if v.len() >= 2 && v.starts_with('"') && v.ends_with('"') {
        let mut out = String::new();
        let mut chars = v[1..v.len() - 1].chars();
        while let Some(c) = chars.next() {
            if c == '\\' {
                match chars.next() {
                    Some('n') => out.push('\n'),
                    Some('t') => out.push('\t'),
                    Some(o) => out.push(o),
                    None => {}
                }
            } else {
                out.push(c);
            }
        }
        out
    } else if v.len() >= 2 && v.starts_with('\'') && v.ends_with('\'') {
        v[1..v.len() - 1].replace("''", "'")
    } else {
        v.to_string()
    }
}

/// The scalar value of `key: value` at `lines[i]` (indent `ind`), reading
/// block scalars (`>-`, `|`, ...) from the following lines. Returns the value
/// and the index of the next line to read.
fn scalar(lines: &[&str], i: usize, ind: usize, value: &str) -> (String, usize) {
    let value = value.trim();
    if !value.starts_with(['>', '|']) {
        return (unquote(value), i + 1);
    }
    let folded = value.starts_with('>');
    let mut parts = Vec::new();
    let mut j = i + 1;
    while j < lines.len() && (lines[j].trim().is_empty() || indent(lines[j]) > ind) {
        parts.push(lines[j].trim());
        j += 1;
    }
    let sep = if folded { " " } else { "\n" };
    let joined = parts
        .iter()
        .filter(|p| !p.is_empty())
        .copied()
        .collect::<Vec<_>>()
        .join(sep);
    (joined, j)
}

fn split_key(line: &str) -> Option<(&str, &str)> {
    let t = line.trim();
    let (k, v) = t.split_once(':')?;
    if k.contains(' ') || k.contains('"') {
        return None;
    }
    Some((k, v))
}

/// Every `- alert:` and `- record:` rule of a rules file, with its group.
fn parse_rules(src: &str) -> Vec<Rule> {
    let lines: Vec<&str> = src.lines().collect();
    let mut rules = Vec::new();
    let mut group = String::new();
    let mut i = 0;
    while i < lines.len() {
        let line = lines[i];
        let t = line.trim_start();
        if let Some(g) = t.strip_prefix("- name:") {
            group = unquote(g);
            i += 1;
            continue;
        }
        if !(t.starts_with("- alert:") || t.starts_with("- record:")) {
            i += 1;
            continue;
        }
        let item = indent(line);
        let key_ind = item + 2;
        let mut rule = Rule {
            group: group.clone(),
            ..Rule::default()
        };
        // The first key is on the "- " line itself.
        let first = format!("{}{}", " ".repeat(key_ind), &t[2..]);
        let mut owned: Vec<String> = vec![first];
        let mut j = i + 1;
        while j < lines.len() && (is_blank(lines[j]) || indent(lines[j]) > item) {
            owned.push(lines[j].to_string());
            j += 1;
        }
        let body: Vec<&str> = owned.iter().map(String::as_str).collect();
        let mut k = 0;
        while k < body.len() {
            if is_blank(body[k]) || indent(body[k]) != key_ind {
                k += 1;
                continue;
            }
            let Some((key, value)) = split_key(body[k]) else {
                k += 1;
                continue;
            };
            if value.trim().is_empty() {
                // A nested map (labels, annotations).
                let mut map = BTreeMap::new();
                let mut m = k + 1;
                while m < body.len() && (is_blank(body[m]) || indent(body[m]) > key_ind) {
                    if is_blank(body[m]) {
                        m += 1;
                        continue;
                    }
                    let ind = indent(body[m]);
                    let (nk, nv) = split_key(body[m])
                        .unwrap_or_else(|| panic!("cannot read rules line: {}", body[m]));
                    let (v, next) = scalar(&body, m, ind, nv);
                    map.insert(nk.to_string(), v);
                    m = next;
                }
                match key {
                    "labels" => rule.labels = map,
                    "annotations" => rule.annotations = map,
                    other => panic!("unexpected map {other} in rule"),
                }
                k = m;
            } else {
                let (v, next) = scalar(&body, k, key_ind, value);
                rule.fields.insert(key.to_string(), v);
                k = next;
            }
        }
        rule.name = rule
            .fields
            .get("alert")
            .or_else(|| rule.fields.get("record"))
            .cloned()
            .unwrap_or_default();
        rules.push(rule);
        i = j;
    }
    rules
}

fn alert_rules() -> Vec<Rule> {
    let rules = parse_rules(&read(&deploy("prometheus/vigil-alerts.yml")));
    assert!(rules.len() >= 20, "only {} rules read", rules.len());
    rules
}

// ---------------------------------------------------------------------------
// Prometheus: rules, their unit tests, configs.

#[test]
fn alert_rules_pass_promtool_check() {
    let out = promtool(
        &deploy("prometheus"),
        &["check", "rules", "vigil-alerts.yml"],
    );
    assert!(out.contains("SUCCESS"), "{out}");
}

#[test]
fn alert_rule_unit_tests_pass() {
    let out = promtool(
        &deploy("prometheus"),
        &["test", "rules", "vigil-alerts.test.yml"],
    );
    assert!(out.contains("SUCCESS"), "{out}");
}

#[test]
fn prometheus_config_passes_promtool_check_with_the_rules() {
    // From deploy/prometheus: rule_files is relative to the config file.
    let out = promtool(
        &deploy("prometheus"),
        &["check", "config", "prometheus.yml"],
    );
    assert!(
        out.contains("1 rule files found") && out.contains("Checking vigil-alerts.yml"),
        "prometheus.yml does not load vigil-alerts.yml:\n{out}"
    );
    let cfg = read(&deploy("prometheus/prometheus.yml"));
    assert!(cfg.contains("job_name: vigil"), "{cfg}");
    assert!(cfg.contains(":9102"), "{cfg}");
}

#[test]
fn web_config_passes_promtool_check() {
    let example = read(&deploy("prometheus/web-config.example.yml"));
    // Every basic_auth_users entry is a bcrypt hash ($2a$/$2b$/$2y$, cost,
    // 53 characters of salt and hash).
    let mut users = 0;
    let mut in_users = false;
    for line in example.lines().filter(|l| !is_blank(l)) {
        if indent(line) == 0 {
            in_users = line.trim_end() == "basic_auth_users:";
            continue;
        }
        if in_users {
            let (user, hash) = split_key(line).expect("user: hash");
            let hash = unquote(hash);
            let parts: Vec<&str> = hash.split('$').collect();
            assert!(
                parts.len() == 4
                    && ["2a", "2b", "2y"].contains(&parts[1])
                    && parts[2].len() == 2
                    && parts[2].bytes().all(|c| c.is_ascii_digit())
                    && parts[3].len() == 53
                    && parts[3]
                        .bytes()
                        .all(|c| c.is_ascii_alphanumeric() || c == b'.' || c == b'/'),
                "basic_auth_users.{user} is not a bcrypt hash: {hash}"
            );
            users += 1;
        }
    }
    assert!(users > 0, "no basic_auth_users in the example");

    // promtool loads the certificate and key it names: point them at a
    // throwaway pair.
    let dir = tempfile::tempdir().unwrap();
    let (crt, key) = (dir.path().join("vigil.crt"), dir.path().join("vigil.key"));
    let out = Command::new("openssl")
        .args([
            "req",
            "-x509",
            "-newkey",
            "ec",
            "-pkeyopt",
            "ec_paramgen_curve:P-256",
            "-nodes",
            "-days",
            "1",
            "-subj",
            "/CN=vigil-test",
        ])
        .arg("-keyout")
        .arg(&key)
        .arg("-out")
        .arg(&crt)
        .output()
        .unwrap_or_else(|e| panic!("cannot run openssl ({e}): apt-get install openssl"));
    assert!(out.status.success(), "openssl:\n{}", text(&out));
    let (crt_line, key_line) = (
        "cert_file: /etc/vigil/tls/vigil.crt",
        "key_file: /etc/vigil/tls/vigil.key",
    );
    assert!(
        example.contains(crt_line) && example.contains(key_line),
        "the example no longer names /etc/vigil/tls/vigil.{{crt,key}}; update this test"
    );
    let cfg = example
        .replace(crt_line, &format!("cert_file: {}", crt.display()))
        .replace(key_line, &format!("key_file: {}", key.display()));
    std::fs::write(dir.path().join("web-config.yml"), cfg).unwrap();

    let help = Command::new("promtool")
        .args(["check", "--help"])
        .output()
        .unwrap_or_else(|e| panic!("cannot run promtool ({e}): apt-get install prometheus"));
    assert!(
        String::from_utf8_lossy(&help.stdout).contains("web-config")
            || String::from_utf8_lossy(&help.stderr).contains("web-config"),
        "this promtool has no `check web-config` (needs promtool >= 2.31; Debian 12 has 2.42): {}",
        text(&help)
    );
    let out = promtool(dir.path(), &["check", "web-config", "web-config.yml"]);
    assert!(out.contains("SUCCESS"), "{out}");
}

/// The alerts the deployment promises, with what their expressions must say.
const REQUIRED_ALERTS: &[(&str, &[&str])] = &[
    (
        "EbpfMonitoringDegraded",
        &[r#"security_ebpf_up{status="degraded"} == 1"#],
    ),
    (
        "SuspiciousProcessExecuted",
        &[r#"increase(security_ebpf_process_exec_total{type="suspicious"}[5m]) > 0"#],
    ),
    (
        "PrivilegeEscalationAttempts",
        &[
            r#"security_ebpf_privilege_escalation_total{result="failure"}[10m]"#,
            "> 5",
        ],
    ),
    (
        "KernelModuleLoaded",
        &[r#"security_ebpf_kernel_module_total{action=~"load|load_file",result="success"}"#],
    ),
    (
        "KernelModuleLoadFailed",
        &[r#"security_ebpf_kernel_module_total{action=~"load|load_file",result="failure"}"#],
    ),
    (
        "ProcessTracedByAnother",
        &[r#"security_ebpf_ptrace_total{request=~"attach|seize",result="success"}"#],
    ),
    (
        "BpfProgramLoaded",
        &[r#"security_ebpf_bpf_program_load_total{result="success"}"#],
    ),
    (
        "CriticalFileWritten",
        &[r#"security_ebpf_file_access_total{severity="critical",operation="write"}"#],
    ),
    (
        "CriticalFileReadRateHigh",
        &[r#"rate(security_ebpf_file_access_total{severity="critical",operation="read"}"#],
    ),
    ("ConnectErrorSpike", &["security_ebpf_connect_error_total"]),
    ("FimChangeDetected", &["vigil_fim_changes_total", "> 0"]),
    ("FimMassChange", &["vigil_fim_changes_total"]),
    (
        "VigilEventsDropped",
        &["increase(vigil_events_dropped_total[5m]) > 0"],
    ),
    ("VigilBpfProgramNotLoaded", &["vigil_bpf_program_up == 0"]),
    ("VigilLiveFimDegraded", &["vigil_fim_live_up == 0"]),
    ("VigilFimSelfTestFailing", &["vigil_fim_selftest_up == 0"]),
    ("VigilAgentDown", &[r#"up{job="vigil"} == 0"#]),
    ("VigilAgentAbsent", &[r#"absent(up{job="vigil"})"#]),
    (
        "PostureExtraUid0Account",
        &["security_posture_accounts_uid0 > 1"],
    ),
    (
        "PostureEmptyPasswordAccount",
        &["security_posture_accounts_empty_password > 0"],
    ),
    (
        "PostureSshdRootLoginPermitted",
        &["security_posture_sshd_permit_root_login"],
    ),
    (
        "PostureSysctlNotHardened",
        &["security_posture_sysctl_hardened == 0"],
    ),
    (
        "PostureKernelOutdated",
        &["security_posture_kernel_age_seconds > 365 * 86400"],
    ),
];

#[test]
fn alert_rules_are_complete_labelled_and_templated() {
    let rules = alert_rules();
    let mut seen = BTreeSet::new();
    for r in &rules {
        assert!(r.fields.contains_key("alert"), "not an alert: {r:?}");
        assert!(
            r.group.starts_with("vigil-"),
            "{}: group {:?}",
            r.name,
            r.group
        );
        assert!(
            seen.insert(r.name.clone()),
            "alert {} defined twice",
            r.name
        );
        let sev = r.labels.get("severity").map(String::as_str);
        assert!(
            matches!(sev, Some("critical" | "warning" | "info")),
            "{}: severity label {sev:?}",
            r.name
        );
        assert!(
            r.labels.contains_key("component"),
            "{}: no component label",
            r.name
        );
        let summary = r.annotations.get("summary").cloned().unwrap_or_default();
        let description = r
            .annotations
            .get("description")
            .cloned()
            .unwrap_or_default();
        assert!(
            !summary.is_empty() && !description.is_empty(),
            "{}: needs summary and description annotations: {:?}",
            r.name,
            r.annotations
        );
        assert!(
            description.contains("{{ $labels.") || description.contains("{{ $value"),
            "{}: the description uses no template value: {description}",
            r.name
        );
    }
    for (name, wants) in REQUIRED_ALERTS {
        let r = rules
            .iter()
            .find(|r| r.name == *name)
            .unwrap_or_else(|| panic!("alert {name} is missing"));
        let expr = &r.fields["expr"];
        for want in *wants {
            assert!(expr.contains(want), "{name}: expr {expr:?} lacks {want:?}");
        }
    }
    let info = &rules
        .iter()
        .find(|r| r.name == "PostureKernelOutdated")
        .unwrap();
    assert_eq!(info.labels["severity"], "info");
}

#[test]
fn alert_rules_use_only_cataloged_metrics() {
    let mut used = BTreeMap::new();
    for r in alert_rules() {
        for name in metric_names(&r.fields["expr"]) {
            used.entry(name)
                .or_insert_with(|| format!("alert {}", r.name));
        }
    }
    assert!(used.contains_key("security_ebpf_up"), "{used:?}");
    let unknown = unknown_metrics(&used);
    assert!(
        unknown.is_empty(),
        "metrics not in docs/metrics.md: {unknown:#?}"
    );
}

/// Every alert has a unit test in which it fires, and the quiet-host test
/// shows that none fires on normal activity.
#[test]
fn every_alert_has_a_firing_and_a_quiet_unit_test() {
    let tests = read(&deploy("prometheus/vigil-alerts.test.yml"));
    let lines: Vec<&str> = tests.lines().collect();
    let mut fires = BTreeSet::new();
    let mut quiet = BTreeSet::new();
    let mut group = String::new();
    for (i, line) in lines.iter().enumerate() {
        let t = line.trim_start().trim_start_matches("- ");
        if let Some(n) = t.strip_prefix("name:") {
            group = n.trim().to_string();
        }
        // `- { eval_time: .., alertname: X, exp_alerts: [] }` or the block form.
        let Some(pos) = t.find("alertname:") else {
            continue;
        };
        let name: String = t[pos + "alertname:".len()..]
            .trim()
            .chars()
            .take_while(|c| c.is_ascii_alphanumeric())
            .collect();
        let rest: String = std::iter::once(t.to_string())
            .chain(
                lines[i + 1..]
                    .iter()
                    .take_while(|l| {
                        !l.contains("alertname:") && !l.trim_start().starts_with("- name:")
                    })
                    .map(|l| l.to_string()),
            )
            .collect::<Vec<_>>()
            .join("\n");
        if rest.contains("exp_labels:") {
            fires.insert(name);
        } else if rest.contains("exp_alerts: []") && group == "quiet host fires nothing" {
            quiet.insert(name);
        }
    }
    for r in alert_rules() {
        assert!(
            fires.contains(&r.name),
            "no unit test shows {} firing",
            r.name
        );
        assert!(
            quiet.contains(&r.name),
            "the quiet-host unit test does not check that {} stays silent",
            r.name
        );
    }
}

// ---------------------------------------------------------------------------
// Grafana.

fn dashboard() -> Value {
    let path = deploy("grafana/vigil-dashboard.json");
    serde_json::from_str(&read(&path)).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

/// Every panel, including those inside collapsed rows.
fn all_panels(d: &Value) -> Vec<&Value> {
    let mut out = Vec::new();
    for p in d["panels"].as_array().expect("panels") {
        out.push(p);
        if let Some(inner) = p["panels"].as_array() {
            out.extend(inner.iter());
        }
    }
    out
}

fn datasource_is_the_variable(ds: &Value) -> bool {
    ds["type"] == "prometheus" && ds["uid"] == "${datasource}"
}

#[test]
fn dashboard_is_well_formed() {
    let d = dashboard();
    let schema = d["schemaVersion"].as_u64().expect("schemaVersion");
    assert!((36..=41).contains(&schema), "schemaVersion {schema}");
    assert!(d["uid"].as_str().is_some_and(|u| !u.is_empty()));
    assert!(d["title"].as_str().is_some_and(|t| !t.is_empty()));

    let vars = d["templating"]["list"].as_array().expect("templating.list");
    let var = |name: &str| {
        vars.iter()
            .find(|v| v["name"] == name)
            .unwrap_or_else(|| panic!("no ${name} variable"))
    };
    let ds = var("datasource");
    assert_eq!(ds["type"], "datasource");
    assert_eq!(ds["query"], "prometheus");
    let inst = var("instance");
    assert_eq!(inst["type"], "query");
    assert!(datasource_is_the_variable(&inst["datasource"]), "{inst}");
    let q = inst["query"]["query"].as_str().or(inst["query"].as_str());
    assert_eq!(q, Some("label_values(security_ebpf_up, instance)"));

    let panels = all_panels(&d);
    let mut ids = BTreeSet::new();
    let mut boxes = Vec::new();
    for p in &panels {
        let title = p["title"].as_str().unwrap_or("?");
        let id = p["id"]
            .as_u64()
            .unwrap_or_else(|| panic!("{title}: no numeric id"));
        assert!(ids.insert(id), "panel id {id} used twice ({title})");
        let g = &p["gridPos"];
        let n = |k: &str| {
            g[k].as_i64()
                .unwrap_or_else(|| panic!("{title}: gridPos.{k} missing: {g}"))
        };
        let (x, y, w, h) = (n("x"), n("y"), n("w"), n("h"));
        assert!(
            x >= 0 && y >= 0 && w >= 1 && h >= 1 && x + w <= 24,
            "{title}: bad gridPos {g}"
        );
        if p["type"] == "row" {
            assert!((w, h) == (24, 1), "{title}: a row is 24x1: {g}");
            assert!(p["targets"].is_null(), "{title}: a row has no queries");
            continue;
        }
        boxes.push((title, x, y, w, h));
        assert!(
            datasource_is_the_variable(&p["datasource"]),
            "{title}: panel datasource is not ${{datasource}}: {}",
            p["datasource"]
        );
        let targets = p["targets"]
            .as_array()
            .unwrap_or_else(|| panic!("{title}: no targets"));
        assert!(!targets.is_empty(), "{title}: no targets");
        let mut refs = BTreeSet::new();
        for t in targets {
            assert!(
                datasource_is_the_variable(&t["datasource"]),
                "{title}: target datasource is not ${{datasource}}: {t}"
            );
            assert!(refs.insert(t["refId"].to_string()), "{title}: refId twice");
            let expr = t["expr"].as_str().unwrap_or_default();
            assert!(
                expr.contains(r#"instance=~"$instance""#),
                "{title}: query ignores $instance: {expr}"
            );
        }
    }
    // Top-level panels do not overlap (collapsed rows' panels are laid out
    // when the row opens, so only the visible ones are compared).
    let top: Vec<_> = d["panels"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|p| p["type"] != "row")
        .map(|p| p["id"].as_u64().unwrap())
        .collect();
    let visible: Vec<_> = boxes
        .iter()
        .zip(panels.iter().filter(|p| p["type"] != "row"))
        .filter(|(_, p)| top.contains(&p["id"].as_u64().unwrap()))
        .map(|(b, _)| *b)
        .collect();
    for (i, a) in visible.iter().enumerate() {
        for b in &visible[i + 1..] {
            let overlap = a.1 < b.1 + b.3 && b.1 < a.1 + a.3 && a.2 < b.2 + b.4 && b.2 < a.2 + a.4;
            assert!(!overlap, "panels {:?} and {:?} overlap", a.0, b.0);
        }
    }
}

fn dashboard_exprs(d: &Value) -> Vec<(String, String)> {
    let mut out = Vec::new();
    for p in all_panels(d) {
        for t in p["targets"].as_array().into_iter().flatten() {
            if let Some(e) = t["expr"].as_str() {
                out.push((
                    p["title"].as_str().unwrap_or("?").to_string(),
                    e.to_string(),
                ));
            }
        }
    }
    out
}

#[test]
fn dashboard_uses_only_cataloged_metrics_and_shows_the_catalog() {
    let d = dashboard();
    let mut used = BTreeMap::new();
    for (title, expr) in dashboard_exprs(&d) {
        for name in metric_names(&expr) {
            used.entry(name)
                .or_insert_with(|| format!("panel {title:?}"));
        }
    }
    used.insert("security_ebpf_up".into(), "the $instance variable".into());
    let unknown = unknown_metrics(&used);
    assert!(
        unknown.is_empty(),
        "metrics not in docs/metrics.md: {unknown:#?}"
    );
    // What the dashboard must show.
    for want in [
        "security_ebpf_up",
        "security_ebpf_sample_rate",
        "security_ebpf_process_exec_total",
        "security_ebpf_process_active_count",
        "security_ebpf_connect_total",
        "security_ebpf_connect_active",
        "security_ebpf_connect_error_total",
        "security_ebpf_file_access_total",
        "security_ebpf_privilege_escalation_total",
        "security_ebpf_kernel_module_total",
        "vigil_top_executable_execs",
        "vigil_top_connect_destination_connects",
        "vigil_fim_changes_total",
        "vigil_fim_scan_duration_seconds_bucket",
        "vigil_fim_files",
        "vigil_events_dropped_total",
        "vigil_event_rate",
        "vigil_bpf_program_up",
        "security_posture_collector_up",
        "security_posture_sysctl_hardened",
        "security_posture_accounts_uid0",
        "security_posture_sshd_permit_root_login",
        "security_posture_mount_option",
        "security_posture_firewall_rules",
        "security_posture_kernel_age_seconds",
    ] {
        assert!(used.contains_key(want), "no dashboard panel shows {want}");
    }
}

/// Every dashboard query is valid PromQL: promtool parses each one as a
/// recording rule, with Grafana's variables replaced by values.
#[test]
fn dashboard_queries_are_valid_promql() {
    let d = dashboard();
    let exprs = dashboard_exprs(&d);
    assert!(exprs.len() >= 20, "only {} queries", exprs.len());
    let mut rules = String::from("groups:\n  - name: dashboard\n    rules:\n");
    for (i, (_, expr)) in exprs.iter().enumerate() {
        let e = expr
            .replace("$__rate_interval", "1m")
            .replace("$__interval", "1m")
            .replace("$__range", "6h");
        rules.push_str(&format!(
            "      - record: dashboard:query_{i}\n        expr: {}\n",
            serde_json::to_string(&e).unwrap()
        ));
    }
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("dashboard-rules.yml"), &rules).unwrap();
    let out = promtool(dir.path(), &["check", "rules", "dashboard-rules.yml"]);
    assert!(out.contains("SUCCESS"), "{out}\n{rules}");
}

// ---------------------------------------------------------------------------
// systemd.

type Unit = BTreeMap<(String, String), Vec<String>>;

/// `[Section] Key=Value` pairs of a unit file; repeated keys accumulate.
fn parse_unit(src: &str) -> Unit {
    let mut unit = Unit::new();
    let mut section = String::new();
    for line in src.lines() {
        let t = line.trim();
        if t.is_empty() || t.starts_with('#') || t.starts_with(';') {
            continue;
        }
        if let Some(s) = t.strip_prefix('[').and_then(|s| s.strip_suffix(']')) {
            section = s.to_string();
            continue;
        }
        let (k, v) = t
            .split_once('=')
            .unwrap_or_else(|| panic!("unit line: {t}"));
        unit.entry((section.clone(), k.trim().to_string()))
            .or_default()
            .push(v.trim().to_string());
    }
    unit
}

fn service<'a>(unit: &'a Unit, key: &str) -> Vec<&'a str> {
    unit.get(&("Service".to_string(), key.to_string()))
        .map(|v| v.iter().map(String::as_str).collect())
        .unwrap_or_default()
}

fn words<'a>(unit: &'a Unit, key: &str) -> BTreeSet<&'a str> {
    service(unit, key)
        .into_iter()
        .flat_map(str::split_whitespace)
        .collect()
}

#[test]
fn systemd_unit_has_the_least_privilege_settings() {
    let unit = parse_unit(&read(&deploy("systemd/vigil.service")));
    let one = |key: &str| -> &str {
        let v = service(&unit, key);
        assert_eq!(v.len(), 1, "[Service] {key}= set {} times: {v:?}", v.len());
        v[0]
    };

    let exec: Vec<&str> = one("ExecStart").split_whitespace().collect();
    assert!(
        exec[0].ends_with("/vigil") && exec.get(1) == Some(&"run"),
        "ExecStart must run `vigil run`: {exec:?}"
    );
    assert_eq!(
        exec,
        [
            "/usr/local/bin/vigil",
            "run",
            "--config",
            "/etc/vigil/vigil.toml"
        ]
    );

    let caps = words(&unit, "CapabilityBoundingSet");
    let want: BTreeSet<&str> = [
        "CAP_BPF",
        "CAP_PERFMON",
        "CAP_SYS_RESOURCE",
        "CAP_DAC_READ_SEARCH",
        "CAP_SYS_PTRACE",
    ]
    .into();
    assert_eq!(caps, want, "CapabilityBoundingSet");
    assert_eq!(
        words(&unit, "AmbientCapabilities"),
        want,
        "AmbientCapabilities"
    );

    for (key, value) in [
        ("NoNewPrivileges", "yes"),
        ("ProtectSystem", "strict"),
        ("StateDirectory", "vigil"),
        ("LogsDirectory", "vigil"),
        ("ProtectHome", "read-only"),
        ("PrivateTmp", "yes"),
        ("ProtectKernelTunables", "no"),
        ("SystemCallArchitectures", "native"),
        ("LimitMEMLOCK", "infinity"),
        ("Restart", "on-failure"),
    ] {
        assert_eq!(one(key), value, "[Service] {key}=");
    }
    assert_eq!(
        words(&unit, "RestrictAddressFamilies"),
        ["AF_UNIX", "AF_INET", "AF_INET6", "AF_NETLINK"].into(),
    );
    assert_eq!(
        words(&unit, "ReadWritePaths"),
        ["/var/lib/vigil", "/var/log/vigil"].into()
    );
    assert!(!one("MemoryMax").is_empty());

    // Not root: the user comes from the sysusers.d entry shipped with it.
    let user = one("User");
    assert_ne!(user, "root");
    let sysusers = read(&deploy("systemd/vigil.sysusers.conf"));
    assert!(
        sysusers
            .lines()
            .any(|l| l.split_whitespace().take(2).eq(["u", user])),
        "vigil.sysusers.conf does not create user {user}"
    );
}

fn systemd_analyze() -> Option<PathBuf> {
    ["/usr/bin/systemd-analyze", "/bin/systemd-analyze"]
        .iter()
        .map(PathBuf::from)
        .find(|p| p.exists())
}

/// `systemd-analyze verify` (it works without systemd as PID 1), with
/// ExecStart pointing at the binary this test built so that the command
/// exists. Warnings about the unit (e.g. an unknown key) count as failures.
#[test]
fn systemd_unit_passes_systemd_analyze_verify() {
    let sa = systemd_analyze().expect(
        "systemd-analyze not installed: apt-get install systemd (scripts/deps.sh test does)",
    );
    let src = read(&deploy("systemd/vigil.service"));
    let bin = env!("CARGO_BIN_EXE_vigil");
    assert!(src.contains("ExecStart=/usr/local/bin/vigil "));
    let dir = tempfile::tempdir().unwrap();
    let unit = dir.path().join("vigil.service");
    std::fs::write(
        &unit,
        src.replace(
            "ExecStart=/usr/local/bin/vigil ",
            &format!("ExecStart={bin} "),
        ),
    )
    .unwrap();

    let out = Command::new(&sa)
        .args(["verify", "--man=no"])
        .arg(&unit)
        .output()
        .unwrap();
    let t = text(&out);
    eprintln!("systemd-analyze verify:\n{t}");
    assert!(out.status.success(), "systemd-analyze verify:\n{t}");
    let stderr = String::from_utf8_lossy(&out.stderr);
    let complaints: Vec<&str> = stderr
        .lines()
        .filter(|l| l.contains("vigil.service"))
        .collect();
    assert!(
        complaints.is_empty(),
        "systemd-analyze verify complains:\n{}",
        complaints.join("\n")
    );

    // The sandbox stays tight: systemd's own exposure score (0 = locked
    // down, 10 = unprotected) must stay "OK". `--offline` is systemd 250+.
    let out = Command::new(&sa)
        .args(["security", "--offline=true", "--no-pager"])
        .arg(&unit)
        .output()
        .unwrap();
    let t = text(&out);
    let score = t
        .lines()
        .find_map(|l| l.split_once("Overall exposure level for vigil.service:"))
        .and_then(|(_, rest)| rest.split_whitespace().next())
        .and_then(|s| s.parse::<f64>().ok())
        .unwrap_or_else(|| panic!("no exposure level in:\n{t}"));
    eprintln!("systemd-analyze security: exposure {score}");
    assert!(score <= 4.0, "exposure {score} > 4.0:\n{t}");
}
