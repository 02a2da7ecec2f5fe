//! Runs every collector on the machine the tests run on: real files, real
//! /proc, real tools.

use std::collections::BTreeSet;
use std::io::Write;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};
use vigil_posture::{categories, collect_all, Family, Host, Kind};

mod fixture;
use fixture::full_fixture;

fn valid_metric_name(n: &str) -> bool {
    let mut chars = n.chars();
    chars
        .next()
        .is_some_and(|c| c.is_ascii_alphabetic() || c == '_' || c == ':')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_' || c == ':')
}

fn valid_label_name(n: &str) -> bool {
    let mut chars = n.chars();
    !n.starts_with("__")
        && chars
            .next()
            .is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_')
}

fn print(fams: &[Family]) {
    for f in fams {
        println!("# {} {}", f.name, f.help);
        for s in &f.samples {
            let labels: Vec<String> = s.labels.iter().map(|(k, v)| format!("{k}={v:?}")).collect();
            println!("{}{{{}}} {}", f.name, labels.join(","), s.value);
        }
    }
}

#[test]
fn collects_the_real_host() {
    let started = Instant::now();
    let fams = collect_all(&Host { root: "/".into() });
    let elapsed = started.elapsed();
    print(&fams);
    assert!(
        elapsed < Duration::from_secs(30),
        "collection took {elapsed:?}"
    );

    let up = fams
        .iter()
        .find(|f| f.name == "security_posture_collector_up")
        .expect("collector_up family");
    let with_up: BTreeSet<&str> = up
        .samples
        .iter()
        .filter_map(|s| {
            s.labels
                .iter()
                .find(|(k, _)| k == "category")
                .map(|(_, v)| v.as_str())
        })
        .collect();
    assert!(
        with_up.len() >= 16,
        "categories with collector_up: {with_up:?}"
    );
    assert_eq!(with_up.len(), categories().len());

    let mut names = BTreeSet::new();
    for f in &fams {
        assert!(f.name.starts_with("security_posture_"), "{}", f.name);
        assert!(valid_metric_name(&f.name), "{}", f.name);
        assert!(names.insert(f.name.as_str()), "duplicate family {}", f.name);
        assert!(!f.help.is_empty(), "{} has no help", f.name);
        assert!(!f.samples.is_empty(), "{} has no samples", f.name);
        let mut label_sets = BTreeSet::new();
        for s in &f.samples {
            assert!(!s.value.is_nan(), "{} {:?} is NaN", f.name, s.labels);
            for (k, v) in &s.labels {
                assert!(valid_label_name(k), "{}: label {k}", f.name);
                assert!(!v.is_empty(), "{}: label {k} is empty", f.name);
            }
            assert!(
                label_sets.insert(format!("{:?}", s.labels)),
                "{}: duplicate series {:?}",
                f.name,
                s.labels
            );
        }
    }

    let uname = std::process::Command::new("uname")
        .arg("-r")
        .output()
        .expect("run uname -r");
    assert!(uname.status.success());
    let release = String::from_utf8_lossy(&uname.stdout).trim().to_string();
    let info = fams
        .iter()
        .find(|f| f.name == "security_posture_kernel_info")
        .expect("kernel_info family");
    assert_eq!(info.samples.len(), 1);
    let label = info.samples[0]
        .labels
        .iter()
        .find(|(k, _)| k == "release")
        .map(|(_, v)| v.as_str());
    assert_eq!(label, Some(release.as_str()));
}

/// A label value or help text in the text format: `\\`, newline and (in
/// label values) `"` escaped.
fn escape(s: &str, quote: bool) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '"' if quote => out.push_str("\\\""),
            c => out.push(c),
        }
    }
    out
}

/// A sample value as the text format writes it.
fn format_value(v: f64) -> String {
    if v.is_nan() {
        "NaN".to_string()
    } else if v.is_infinite() {
        if v > 0.0 { "+Inf" } else { "-Inf" }.to_string()
    } else {
        format!("{v}")
    }
}

/// The families in the Prometheus text exposition format 0.0.4.
fn render(fams: &[Family]) -> String {
    let mut out = String::new();
    for f in fams {
        let kind = match f.kind {
            Kind::Gauge => "gauge",
            Kind::Counter => "counter",
            Kind::Histogram(_) => unreachable!("posture has no histograms"),
        };
        out.push_str(&format!("# HELP {} {}\n", f.name, escape(&f.help, false)));
        out.push_str(&format!("# TYPE {} {kind}\n", f.name));
        for s in &f.samples {
            out.push_str(&f.name);
            if !s.labels.is_empty() {
                let labels: Vec<String> = s
                    .labels
                    .iter()
                    .map(|(k, v)| format!("{k}=\"{}\"", escape(v, true)))
                    .collect();
                out.push_str(&format!("{{{}}}", labels.join(",")));
            }
            out.push_str(&format!(" {}\n", format_value(s.value)));
        }
    }
    out
}

#[test]
fn render_escapes_and_promtool_parses_it() {
    let fams = [Family {
        name: "security_posture_test".into(),
        help: "a \\ b\nc".into(),
        kind: Kind::Gauge,
        samples: vec![vigil_posture::Sample {
            labels: vec![("k".into(), "\\ \" \n".into())],
            value: f64::INFINITY,
        }],
    }];
    assert_eq!(
        render(&fams),
        "# HELP security_posture_test a \\\\ b\\nc\n\
         # TYPE security_posture_test gauge\n\
         security_posture_test{k=\"\\\\ \\\" \\n\"} +Inf\n"
    );
    // And promtool parses it back.
    let (status, said) = promtool_check(&render(&fams));
    assert!(status.success() && said.is_empty(), "{status}: {said}");
}

/// Runs `promtool check metrics` on `text`: its exit status and output.
fn promtool_check(text: &str) -> (std::process::ExitStatus, String) {
    let mut child = match Command::new("promtool")
        .args(["check", "metrics"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
    {
        Ok(c) => c,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            panic!("promtool not found: apt-get install prometheus")
        }
        Err(e) => panic!("run promtool: {e}"),
    };
    let mut stdin = child.stdin.take().expect("promtool stdin");
    let input = text.to_string();
    // Written from a thread so a promtool that reports early cannot
    // deadlock against a full pipe.
    let writer = std::thread::spawn(move || stdin.write_all(input.as_bytes()));
    let out = child.wait_with_output().expect("wait for promtool");
    writer
        .join()
        .expect("writer thread")
        .expect("write to promtool");
    let mut said = String::from_utf8_lossy(&out.stdout).into_owned();
    said.push_str(&String::from_utf8_lossy(&out.stderr));
    (out.status, said)
}

#[test]
fn promtool_accepts_every_family() {
    let fixture = tempfile::tempdir().expect("tempdir");
    full_fixture(fixture.path());
    let mut failures = Vec::new();
    for (what, root) in [
        ("this host", Path::new("/")),
        ("the fixture", fixture.path()),
    ] {
        let fams = collect_all(&Host {
            root: root.to_path_buf(),
        });
        let text = render(&fams);
        let (status, said) = promtool_check(&text);
        if !status.success() || !said.is_empty() {
            failures.push(format!(
                "promtool check metrics on {what}: {status}\n{said}--- input ---\n{text}"
            ));
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}
