//! Writing JSON (and the JavaScript netdata's Google formats use) for the API, by hand.
//!
//! One job: numbers as netdata prints them (`42`, `123.4`, `49.9985`, up to 7 decimals with
//! trailing zeros dropped) and strings escaped so that any name stays valid JSON or JavaScript.
//! Pure, no allocation of its own.

use crate::export::format::sanitize::write_json_str;

/// Appends `v` as netdata 1.37 prints a value: the integer part, then up to 7 decimals rounded
/// half to even with trailing zeros dropped (`42`, `123.4`, `-7`, `0.0000001`); `null` for NaN
/// and the infinities. A negative value that rounds to zero prints `-0`, as netdata does.
pub fn write_number(out: &mut Vec<u8>, v: f64) {
    if !v.is_finite() {
        out.extend_from_slice(b"null");
        return;
    }
    let mut v = v;
    if v < 0.0 {
        out.push(b'-');
        v = -v;
    }
    if v >= 1e18 {
        // Beyond an integer's reach (netdata's own printer breaks here): plain decimal.
        out.extend_from_slice(format!("{v:.0}").as_bytes());
        return;
    }
    let integral = v.trunc();
    let mut int_part = integral as u64;
    let mut frac = ((v - integral) * 1e7).round_ties_even() as u64;
    if frac >= 10_000_000 {
        int_part += 1;
        frac -= 10_000_000;
    }
    out.extend_from_slice(itoa::Buffer::new().format(int_part).as_bytes());
    if frac != 0 {
        let mut digits = [b'0'; 7];
        let mut f = frac;
        for d in digits.iter_mut().rev() {
            *d = b'0' + (f % 10) as u8;
            f /= 10;
        }
        let len = 7 - digits.iter().rev().take_while(|&&d| d == b'0').count();
        out.push(b'.');
        out.extend_from_slice(&digits[..len]);
    }
}

/// Appends an integer.
pub fn write_int(out: &mut Vec<u8>, v: i64) {
    out.extend_from_slice(itoa::Buffer::new().format(v).as_bytes());
}

/// The quote a string is written in: `"` for JSON, `'` for the JavaScript of netdata's
/// `google_json` option.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Quote {
    /// JSON: `"…"`.
    Double,
    /// JavaScript: `'…'`.
    Single,
}

impl Quote {
    /// The quote character.
    pub fn char(self) -> u8 {
        match self {
            Quote::Double => b'"',
            Quote::Single => b'\'',
        }
    }
}

/// Appends `s` quoted and escaped: valid JSON (or, with [`Quote::Single`], a valid JavaScript
/// string literal) whatever `s` holds.
pub fn write_str(out: &mut Vec<u8>, s: &str, quote: Quote) {
    out.push(quote.char());
    write_str_inner(out, s, quote);
    out.push(quote.char());
}

/// [`write_str`] without the quotes.
pub fn write_str_inner(out: &mut Vec<u8>, s: &str, quote: Quote) {
    match quote {
        Quote::Double => write_json_str(out, s),
        Quote::Single => {
            for (i, part) in s.split('\'').enumerate() {
                if i > 0 {
                    out.extend_from_slice(b"\\'");
                }
                write_json_str(out, part);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn num(v: f64) -> String {
        let mut out = Vec::new();
        write_number(&mut out, v);
        String::from_utf8(out).unwrap()
    }

    /// The numbers netdata 1.37 printed for probe.const and probe.gaps.
    #[test]
    fn numbers_print_as_netdata_prints_them() {
        assert_eq!(num(42.0), "42");
        assert_eq!(num(123.4), "123.4");
        assert_eq!(num(-7.0), "-7");
        assert_eq!(num(49.78506), "49.78506");
        assert_eq!(num(57.28125), "57.28125");
        assert_eq!(num(49.8195345), "49.8195345");
        assert_eq!(num(0.0), "0");
        assert_eq!(num(1796657041.0), "1796657041");
        assert_eq!(num(0.00000004), "0");
        assert_eq!(num(0.00000006), "0.0000001");
        assert_eq!(num(0.99999999), "1");
        assert_eq!(num(-0.000000001), "-0");
        assert_eq!(num(f64::NAN), "null");
        assert_eq!(num(f64::INFINITY), "null");
        assert_eq!(num(2e18), "2000000000000000000");
    }

    #[test]
    fn strings_stay_valid_json_and_javascript() {
        let mut out = Vec::new();
        write_str(&mut out, "we\"ird\\ 'id'\n", Quote::Double);
        assert_eq!(String::from_utf8_lossy(&out), r#""we\"ird\\ 'id'\n""#);
        let mut out = Vec::new();
        write_str(&mut out, "we\"ird 'id'", Quote::Single);
        assert_eq!(String::from_utf8_lossy(&out), r#"'we\"ird \'id\''"#);
    }
}
