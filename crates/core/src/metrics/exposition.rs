//! The two text formats a scrape can ask for.
//!
//! prometheus-client writes OpenMetrics 1.0, which Prometheus scrapes when it asks for it
//! (`Accept: application/openmetrics-text`). Tools that read the classic Prometheus text
//! format 0.0.4 (`promtool check metrics`, plain `curl` into a linter, older scrapers) do not
//! understand its two differences for our families: a counter's `# HELP`/`# TYPE` name the
//! family without the `_total` its samples carry, and `# UNIT`/`# EOF` lines. Go's client
//! answers each with its own format; [`to_prometheus_text`] does the same rewrite of the
//! metadata lines, leaving every sample line as prometheus-client wrote it.

/// The content type of OpenMetrics text.
pub const OPENMETRICS_CONTENT_TYPE: &str =
    "application/openmetrics-text; version=1.0.0; charset=utf-8";
/// The content type of the classic Prometheus text format.
pub const PROMETHEUS_CONTENT_TYPE: &str = "text/plain; version=0.0.4; charset=utf-8";

/// Rewrites OpenMetrics text into the Prometheus text format 0.0.4.
pub fn to_prometheus_text(openmetrics: &str) -> String {
    let mut out = String::with_capacity(openmetrics.len());
    // A family's HELP line waits for its TYPE line, which decides the family's name.
    let mut help: Option<(&str, &str)> = None;
    for line in openmetrics.lines() {
        if let Some(rest) = line.strip_prefix("# HELP ") {
            flush_help(&mut out, help.take(), None);
            help = Some(rest.split_once(' ').unwrap_or((rest, "")));
        } else if let Some(rest) = line.strip_prefix("# TYPE ") {
            let (name, kind) = rest.split_once(' ').unwrap_or((rest, "untyped"));
            let (name, kind) = match kind {
                "counter" => (format!("{name}_total"), "counter"),
                "info" => (format!("{name}_info"), "gauge"),
                "gauge" | "histogram" | "summary" => (name.to_owned(), kind),
                _ => (name.to_owned(), "untyped"),
            };
            flush_help(&mut out, help.take(), Some(&name));
            out.push_str(&format!("# TYPE {name} {kind}\n"));
        } else if line.starts_with("# UNIT ") || line == "# EOF" {
            // No counterpart in the classic format: the unit is already in the name.
        } else {
            flush_help(&mut out, help.take(), None);
            out.push_str(line);
            out.push('\n');
        }
    }
    flush_help(&mut out, help, None);
    out
}

/// Writes a pending HELP line under `name` (the TYPE line's name) or its own name.
fn flush_help(out: &mut String, help: Option<(&str, &str)>, name: Option<&str>) {
    if let Some((own, text)) = help {
        let name = name.unwrap_or(own);
        // OpenMetrics escapes `"` in HELP; the classic format escapes only `\` and newlines.
        let text = text.replace("\\\"", "\"");
        out.push_str(&format!("# HELP {name} {text}\n"));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counters_are_named_after_their_samples() {
        let om = "# HELP a_bytes Bytes \\\"seen\\\".\n# TYPE a_bytes counter\n# UNIT a_bytes bytes\n\
                  a_bytes_total{x=\"1\"} 3\n# HELP g A gauge.\n# TYPE g gauge\ng 1\n# EOF\n";
        assert_eq!(
            to_prometheus_text(om),
            "# HELP a_bytes_total Bytes \"seen\".\n# TYPE a_bytes_total counter\n\
             a_bytes_total{x=\"1\"} 3\n# HELP g A gauge.\n# TYPE g gauge\ng 1\n"
        );
    }

    #[test]
    fn info_and_unknown_become_gauge_and_untyped() {
        let om = "# HELP v Version.\n# TYPE v info\nv_info{version=\"1\"} 1\n\
                  # HELP u Something.\n# TYPE u unknown\nu 2\n# EOF\n";
        let text = to_prometheus_text(om);
        assert!(text.contains("# HELP v_info Version.\n# TYPE v_info gauge\nv_info{"));
        assert!(text.contains("# TYPE u untyped\nu 2\n"));
    }
}
