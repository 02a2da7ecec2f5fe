use super::*;

#[test]
fn embedded_default_parses_with_every_key() {
    let c = parse(DEFAULT, "default").unwrap();
    assert!(c.fim.enabled && c.security.enabled && c.metrics.enabled);
    assert!(!c.opens.enabled);
    let paths: Vec<String> = c
        .fim
        .trees
        .iter()
        .map(|t| t.path.to_str().unwrap().to_string())
        .collect();
    for want in [
        "/etc",
        "/bin",
        "/sbin",
        "/usr/bin",
        "/usr/sbin",
        "/usr/local/bin",
        "/boot",
        "/root/.ssh",
    ] {
        assert!(paths.iter().any(|p| p == want), "{want} missing");
    }
    assert_eq!(c.fim.scan_interval, Some(Duration::from_secs(12 * 3600)));
    assert_eq!(c.fim.write_dedupe, Duration::from_millis(200));
    assert!(c
        .security
        .patterns
        .iter()
        .any(|p| p.pattern == "/etc/shadow" && p.severity == 0));
    assert_eq!(c.metrics.listen, "0.0.0.0:9102");
}

#[test]
fn a_file_sets_what_it_says_and_keeps_the_default_for_the_rest() {
    // An empty file runs nothing, with every other value the default's.
    let empty = parse("", "empty.toml").unwrap();
    let default = parse(DEFAULT, "default").unwrap();
    assert!(!empty.fim.enabled && !empty.security.enabled && !empty.metrics.enabled);
    assert_eq!(empty.fim.baseline, default.fim.baseline);
    assert_eq!(empty.fim.trees.len(), default.fim.trees.len());
    assert_eq!(empty.security.interpreters, default.security.interpreters);
    assert_eq!(empty.security.top_n, 20);

    let c = parse(
        "[fim]\nenabled = true\nscan_interval = \"1h\"\n[fim.defaults]\nhash = [\"blake3\"]\n\
         [[fim.tree]]\npath = \"/srv\"\n[security]\ntop_n = 5\n\
         [security.sensitive_files]\ncritical = [\"/srv/key\"]\n",
        "f.toml",
    )
    .unwrap();
    assert!(c.fim.enabled && !c.security.enabled);
    assert_eq!(c.fim.scan_interval, Some(Duration::from_secs(3600)));
    // A list it sets replaces the default's; options come through defaults.
    assert_eq!(c.fim.trees.len(), 1);
    assert!(c.fim.trees[0].hashes.blake3 && !c.fim.trees[0].hashes.sha256);
    assert_eq!(c.security.top_n, 5);
    assert_eq!(c.security.top_n_capacity, 200);
    let critical: Vec<&str> = c
        .security
        .patterns
        .iter()
        .filter(|p| p.severity == 0)
        .map(|p| p.pattern.as_str())
        .collect();
    assert_eq!(critical, ["/srv/key"]);
    // The tiers it leaves out are the default's.
    assert!(c
        .security
        .patterns
        .iter()
        .any(|p| p.pattern == "/etc/hosts" && p.severity == 2));
}

#[test]
fn errors_name_key_and_line() {
    let err = |text: &str| parse(text, "f.toml").err().unwrap();
    let e = err("[output]\nformat = \"json\"\n\n[trace.opens]\nbogus = 1\n");
    assert!(
        e.contains("f.toml") && e.contains("line 5") && e.contains("bogus"),
        "{e}"
    );
    let e = err("[trace.opens]\nenabled = true\nringbuf_mib = 3\n");
    assert!(
        e.contains("trace.opens.ringbuf_mib") && e.contains("line 3"),
        "{e}"
    );
    let e = err("[trace.opens]\npaths = [\"/etc\",\n \"rel\"]\n");
    assert!(
        e.contains("trace.opens.paths") && e.contains("line 3") && e.contains("rel"),
        "{e}"
    );
    let e = err("[output]\nformat = \"xml\"\n");
    assert!(e.contains("line 2") && e.contains("xml"), "{e}");
    let e = err("[fim]\nscan_interval = \"soon\"\n");
    assert!(
        e.contains("fim.scan_interval") && e.contains("line 2"),
        "{e}"
    );
    let e = err("[fim]\n[[fim.tree]]\npath = \"/etc\"\nhash = [\"md5\"]\n");
    assert!(
        e.contains("fim.tree") && e.contains("line 3") && e.contains("md5"),
        "{e}"
    );
    let e = err("[[fim.tree]]\npath = \"etc\"\n");
    assert!(
        e.contains("must be absolute") && e.contains("line 2"),
        "{e}"
    );
    let e = err("[output]\nsyslog = \"ftp:x\"\n");
    assert!(
        e.contains("output.syslog") && e.contains("line 2") && e.contains("ftp:x"),
        "{e}"
    );
    let e = err("[metrics]\nlisten = \"localhost\"\n");
    assert!(e.contains("metrics.listen") && e.contains("line 2"), "{e}");
    let e = err("[security.sensitive_files]\ncritical = [\"etc/shadow\"]\n");
    assert!(
        e.contains("security.sensitive_files.critical") && e.contains("etc/shadow"),
        "{e}"
    );
    let e = err("[security.interpreters]\nsh = \"-c\"\n");
    assert!(e.contains("security.interpreters.sh"), "{e}");
    let e = err("[fim]\nbackend = \"kprobe\"\n");
    assert!(e.contains("fim.backend") && e.contains("kprobe"), "{e}");
    let e = err("[fim]\nwrite_dedupe = \"fast\"\n");
    assert!(
        e.contains("fim.write_dedupe") && e.contains("line 2"),
        "{e}"
    );
    let e = err("\n[fim.defaults]\nhash = [\"crc32\"]\n");
    assert!(
        e.contains("fim.defaults.hash") && e.contains("line 3") && e.contains("crc32"),
        "{e}"
    );
    let e = err("[fim.defaults]\nmax_hash_size = \"big\"\n");
    assert!(
        e.contains("fim.defaults.max_hash_size") && e.contains("line 2") && e.contains("big"),
        "{e}"
    );
    let e = err("[fim.defaults]\n\nscan_hash_rate = \"50MiB\"\n");
    assert!(
        e.contains("fim.defaults.scan_hash_rate")
            && e.contains("line 3")
            && e.contains("per second"),
        "{e}"
    );
    let e = err("[[fim.tree]]\npath = \"/srv\"\nlive_hash_cpu = \"half\"\n");
    assert!(
        e.contains("fim.tree") && e.contains("live_hash_cpu") && e.contains("half"),
        "{e}"
    );
}

#[test]
fn hash_limits_come_from_the_defaults_and_each_tree_can_override_them() {
    let c = parse(
        "[fim.defaults]\nscan_hash_rate = \"50MiB/s\"\n\
         [[fim.tree]]\npath = \"/var/log\"\nmax_hash_size = \"unlimited\"\nlive_hash_cpu = \"20%\"\n\
         [[fim.tree]]\npath = \"/etc\"\n",
        "f.toml",
    )
    .unwrap();
    let (log, etc) = (&c.fim.trees[0].limits, &c.fim.trees[1].limits);
    assert_eq!(
        (log.max_size, log.scan_rate, log.live_cpu),
        (None, Some(50 << 20), Some(0.2))
    );
    assert_eq!(
        (etc.max_size, etc.scan_rate, etc.live_cpu),
        (Some(1 << 30), Some(50 << 20), Some(0.5))
    );
}
