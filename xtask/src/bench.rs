//! `cargo xtask bench KIND ...`: each benchmark pairs Vigil with its peer
//! in the same run and reports ratios (this machine is noisy: only
//! ratios within one run mean anything).

pub fn run(args: &[String]) -> Result<(), String> {
    match args.first().map(String::as_str) {
        Some("opens") => crate::bench_opens::run(&args[1..]),
        Some("scan") => crate::bench_scan::run(&args[1..]),
        Some("hashing") => crate::bench_hashing::run(&args[1..]),
        Some("churn") => crate::bench_churn::run(&args[1..]),
        Some("burst") => crate::bench_burst::run(&args[1..]),
        Some("churn-guest") => crate::bench_churn_guest::run(&args[1..]),
        Some(k @ ("exec" | "connect" | "scrape")) => crate::bench_security::run(k, &args[1..]),
        _ => Err(
            "usage: cargo xtask bench opens|scan|hashing|churn|burst|churn-guest|exec|connect|scrape ... (cargo xtask help)"
                .into(),
        ),
    }
}
