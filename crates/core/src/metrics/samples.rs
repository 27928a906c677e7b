//! Reading a scrape back as numbers, so `/api/stats`, the console and the page summarise
//! exactly what `/metrics` shows.

/// One sample line of a scrape: `name{labels} value`.
#[derive(Debug, Clone, PartialEq)]
pub struct Sample {
    /// The sample's name (with `_total`, `_bucket`, `_sum` or `_count` where it has one).
    pub name: String,
    /// Its labels, in order.
    pub labels: Vec<(String, String)>,
    /// Its value.
    pub value: f64,
}

impl Sample {
    /// The value of label `key`, if the sample has it.
    pub fn label(&self, key: &str) -> Option<&str> {
        self.labels
            .iter()
            .find(|(k, _)| k == key)
            .map(|(_, v)| v.as_str())
    }
}

/// Every sample of an OpenMetrics or Prometheus text scrape; lines that are not samples
/// (comments, malformed lines) are skipped.
pub fn parse(text: &str) -> Vec<Sample> {
    text.lines()
        .filter(|line| !line.is_empty() && !line.starts_with('#'))
        .filter_map(parse_line)
        .collect()
}

fn parse_line(line: &str) -> Option<Sample> {
    let name_end = line.find(['{', ' '])?;
    let name = line[..name_end].to_owned();
    let (labels, rest) = if line[name_end..].starts_with('{') {
        parse_labels(&line[name_end + 1..])?
    } else {
        (Vec::new(), &line[name_end..])
    };
    // The value, then optionally a timestamp or an exemplar.
    let value = rest.split_whitespace().next()?;
    let value = number(value)?;
    Some(Sample {
        name,
        labels,
        value,
    })
}

/// A sample value or bucket bound as the exposition writes it: `+Inf`, `-Inf`, `NaN`, or a
/// decimal with an optional fraction and exponent.
///
/// Our own parser instead of `str::parse::<f64>`: that one links core's correctly rounded
/// decimal conversion and its 10 KB table of powers of five into the page's wasm, which
/// reads its metrics before `joined`. A summary needs no last-ulp rounding: integers below
/// 2^53 come out exact, other values within a few ulps (values within a few ulps of
/// `f64::MAX` may read as infinity, subnormals lose digits).
pub fn number(text: &str) -> Option<f64> {
    match text {
        "+Inf" | "Inf" => return Some(f64::INFINITY),
        "-Inf" => return Some(f64::NEG_INFINITY),
        "NaN" => return Some(f64::NAN),
        _ => {}
    }
    let (negative, text) = match text.as_bytes().first()? {
        b'-' => (true, &text[1..]),
        b'+' => (false, &text[1..]),
        _ => (false, text),
    };
    let (decimal, exponent) = match text.find(['e', 'E']) {
        Some(at) => (
            &text[..at],
            text[at + 1..].parse::<i32>().ok()?.clamp(-9999, 9999),
        ),
        None => (text, 0),
    };
    let (whole, fraction) = decimal.split_once('.').unwrap_or((decimal, ""));
    if whole.is_empty() && fraction.is_empty() {
        return None;
    }
    let mut mantissa = 0u64;
    let mut scale = exponent;
    for (i, digit) in whole.bytes().chain(fraction.bytes()).enumerate() {
        let digit = digit.checked_sub(b'0').filter(|d| *d <= 9)?;
        if mantissa < 1_000_000_000_000_000_000 {
            mantissa = mantissa * 10 + u64::from(digit);
            scale = scale.saturating_sub(i32::from(i >= whole.len()));
        } else {
            // Beyond 19 digits the rest only moves the decimal point.
            scale = scale.saturating_add(i32::from(i < whole.len()));
        }
    }
    let magnitude = mantissa as f64;
    let value = match scale {
        0.. => magnitude * 10f64.powi(scale),
        // Two steps, so that 10^-scale does not overflow before the tiny result is formed.
        ..-300 => magnitude / 1e300 / 10f64.powi(-scale - 300),
        _ => magnitude / 10f64.powi(-scale),
    };
    Some(if negative { -value } else { value })
}

/// Parses `k="v",k2="v2"}` and returns the labels and what follows the `}`.
fn parse_labels(mut s: &str) -> Option<(Vec<(String, String)>, &str)> {
    let mut labels = Vec::new();
    loop {
        s = s.trim_start_matches(',');
        if let Some(rest) = s.strip_prefix('}') {
            return Some((labels, rest));
        }
        let (key, rest) = s.split_once("=\"")?;
        let mut value = String::new();
        let mut chars = rest.char_indices();
        let end = loop {
            match chars.next()? {
                (i, '"') => break i,
                (_, '\\') => match chars.next()?.1 {
                    'n' => value.push('\n'),
                    other => value.push(other),
                },
                (_, c) => value.push(c),
            }
        };
        labels.push((key.to_owned(), value));
        s = &rest[end + 1..];
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_names_labels_and_values() {
        let text = "# TYPE x counter\nx_total{a=\"1\",b=\"q\\\"uo\\\\te\"} 3\ny 2.5\n\
                    h_bucket{le=\"+Inf\"} 7\nbroken{a=\"1\" 3\n# EOF\n";
        let samples = parse(text);
        assert_eq!(samples.len(), 3);
        assert_eq!(samples[0].name, "x_total");
        assert_eq!(samples[0].label("b"), Some("q\"uo\\te"));
        assert_eq!(samples[0].value, 3.0);
        assert_eq!(samples[1].value, 2.5);
        assert_eq!(samples[2].label("le"), Some("+Inf"));
    }

    #[test]
    fn numbers_read_like_the_standard_parser() {
        let cases = [
            "0",
            "7",
            "-3",
            "+4",
            "2.5",
            ".5",
            "5.",
            "0.005",
            "1e-3",
            "2.5E+4",
            "-1.25e-7",
            "123456789012345678901234",
            "0.000000000000000000000123",
            "9007199254740993",
            "18446744073709551615",
            "1.5e300",
            "2.2250738585072014e-308",
        ];
        for case in cases {
            let ours = number(case).expect(case);
            let std: f64 = case.parse().expect(case);
            let close = ours == std || ((ours - std) / std).abs() < 1e-14;
            assert!(close, "{case}: {ours} vs {std}");
        }
        assert_eq!(number("9007199254740992"), Some(9_007_199_254_740_992.0));
        assert_eq!(number("+Inf"), Some(f64::INFINITY));
        assert!(number("NaN").is_some_and(f64::is_nan));
        assert_eq!(number("1.5e-2147483648"), Some(0.0));
        assert_eq!(number("1e2147483647"), Some(f64::INFINITY));
        for bad in [
            "",
            "-",
            ".",
            "1.2.3",
            "1e",
            "e5",
            "12a",
            "--1",
            "1e99999999999",
        ] {
            assert_eq!(number(bad), None, "{bad:?}");
        }
    }
}
