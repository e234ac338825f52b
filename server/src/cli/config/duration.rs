//! Durations in the configuration: `0`, a number of seconds, a number with a
//! unit (`90s`, `30m`, `12h`, `7d`), or `never`.

use std::time::Duration;

/// `None` for `never`.
pub fn parse(text: &str) -> Result<Option<Duration>, String> {
    let t = text.trim();
    if t.eq_ignore_ascii_case("never") {
        return Ok(None);
    }
    let (number, unit) = match t.find(|c: char| !c.is_ascii_digit()) {
        Some(i) => t.split_at(i),
        None => (t, "s"),
    };
    let seconds = match unit {
        "s" => 1,
        "m" => 60,
        "h" => 3600,
        "d" => 86_400,
        _ => {
            return Err(format!(
                "`{text}`: a duration is seconds, a number with s, m, h or d, or `never`"
            ))
        }
    };
    let n: u64 = number
        .parse()
        .map_err(|_| format!("`{text}`: a duration starts with a whole number"))?;
    n.checked_mul(seconds)
        .map(|s| Some(Duration::from_secs(s)))
        .ok_or_else(|| format!("`{text}`: too long"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_parse() {
        let s = |n| Ok(Some(Duration::from_secs(n)));
        assert_eq!(parse("0"), s(0));
        assert_eq!(parse("3600"), s(3600));
        assert_eq!(parse("90s"), s(90));
        assert_eq!(parse("30m"), s(1800));
        assert_eq!(parse("12h"), s(43_200));
        assert_eq!(parse("7d"), s(604_800));
        assert_eq!(parse("never"), Ok(None));
        for bad in ["", "d", "7w", "-1", "1.5h", "7 d", "99999999999999999999d"] {
            assert!(parse(bad).is_err(), "{bad}");
        }
    }
}
