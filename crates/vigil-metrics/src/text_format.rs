//! The classic Prometheus text format (0.0.4), from prometheus-client's
//! OpenMetrics output, for clients that do not ask for OpenMetrics
//! (`curl`, `promtool check metrics`, older scrapers).
//!
//! The two differ only in framing: OpenMetrics names a counter family
//! without `_total` and an info family without `_info`, has `# UNIT` and
//! `# EOF` lines, and writes `name{}` for an empty label set.

pub const CONTENT_TYPE: &str = "text/plain; version=0.0.4; charset=utf-8";

pub fn from_openmetrics(om: &str) -> String {
    let mut out = String::with_capacity(om.len());
    let mut help: Option<(&str, &str)> = None;
    for line in om.lines() {
        if let Some(rest) = line.strip_prefix("# HELP ") {
            help = Some(rest.split_once(' ').unwrap_or((rest, "")));
            continue;
        }
        if let Some(rest) = line.strip_prefix("# TYPE ") {
            let (name, kind) = rest.split_once(' ').unwrap_or((rest, "untyped"));
            let (name, kind) = match kind {
                "counter" => (format!("{name}_total"), "counter"),
                "info" => (format!("{name}_info"), "gauge"),
                "gaugehistogram" | "stateset" | "unknown" => (name.to_string(), "untyped"),
                k => (name.to_string(), k),
            };
            if let Some((_, text)) = help.take() {
                out.push_str(&format!("# HELP {name} {text}\n"));
            }
            out.push_str(&format!("# TYPE {name} {kind}\n"));
            continue;
        }
        if line.starts_with("# UNIT ") || line == "# EOF" {
            continue;
        }
        match line.split_once("{} ") {
            Some((name, value)) if !name.contains([' ', '{']) => {
                out.push_str(name);
                out.push(' ');
                out.push_str(value);
            }
            _ => out.push_str(line),
        }
        out.push('\n');
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn renames_counters_and_drops_openmetrics_framing() {
        let om = "# HELP x_exec Execs.\n# TYPE x_exec counter\nx_exec_total{type=\"a\"} 1\n\
                  # HELP up Up.\n# TYPE up gauge\nup{} 1.0\n# HELP b Build.\n# TYPE b info\nb_info{v=\"1\"} 1\n# EOF\n";
        assert_eq!(
            from_openmetrics(om),
            "# HELP x_exec_total Execs.\n# TYPE x_exec_total counter\nx_exec_total{type=\"a\"} 1\n\
             # HELP up Up.\n# TYPE up gauge\nup 1.0\n# HELP b_info Build.\n# TYPE b_info gauge\nb_info{v=\"1\"} 1\n"
        );
    }
}
