//! Bot-file documents read exactly: a small tree of JSON or TOML values
//! whose numbers keep the text they were written with.
//!
//! `serde_json` and `toml` turn every non-integer number into an `f64`
//! before a `Decimal` sees it, so `100.12345678901234567891` would become
//! `100.12345678901234`. Here the JSON text is parsed by a small strict
//! parser (RFC 8259) and the TOML text by `toml_edit`, which keeps each
//! value's source text; numbers stay text until [`exact_number`] turns them
//! into the decimal written, or refuses them with a [`NumberError`].
//!
//! Limits: nesting deeper than [`MAX_DEPTH`] is refused (no stack overflow
//! on hostile input); a number is exact when it fits a `Decimal` (at most 28
//! digits after the point, magnitude below about 7.9 * 10^28), otherwise it
//! is refused, never rounded.

use std::fmt;

use rust_decimal::Decimal;

/// Deepest nesting of arrays and objects accepted.
pub(crate) const MAX_DEPTH: usize = 64;

/// A parsed value; numbers keep their source text.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Node {
    /// JSON `null`.
    Null,
    /// `true` / `false`.
    Bool(bool),
    /// A number as written (TOML integers in plain decimal, underscores removed).
    Num(String),
    /// A string (escapes resolved).
    Str(String),
    /// An array.
    Seq(Vec<Node>),
    /// An object / table, keys in document order.
    Map(Vec<(String, Node)>),
}

impl Node {
    /// What kind of value this is, for messages ("found an array").
    pub(crate) fn describe(&self) -> String {
        match self {
            Node::Null => "null".into(),
            Node::Bool(b) => format!("the boolean {b}"),
            Node::Num(n) => format!("the number {n}"),
            Node::Str(s) => format!("the string {s:?}"),
            Node::Seq(_) => "an array".into(),
            Node::Map(_) => "a table".into(),
        }
    }
}

/// A syntax error with its 1-based position.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Syntax {
    pub line: usize,
    pub column: usize,
    pub message: String,
}

/// Line and column (1-based, in characters) of byte `pos` of `text`.
fn position(text: &str, pos: usize) -> (usize, usize) {
    let before = text.get(..pos.min(text.len())).unwrap_or(text);
    let line = before.matches('\n').count() + 1;
    let column = before.rsplit('\n').next().map_or(0, |l| l.chars().count()) + 1;
    (line, column)
}

/// Parses one JSON value (the whole text, surrounding whitespace allowed).
pub(crate) fn parse_json(text: &str) -> Result<Node, Syntax> {
    let mut p = Json { text, bytes: text.as_bytes(), pos: 0 };
    p.ws();
    let node = p.value(0)?;
    p.ws();
    if p.pos < p.bytes.len() {
        return Err(p.error("unexpected text after the document"));
    }
    Ok(node)
}

struct Json<'a> {
    text: &'a str,
    bytes: &'a [u8],
    pos: usize,
}

impl Json<'_> {
    fn error(&self, message: impl Into<String>) -> Syntax {
        let (line, column) = position(self.text, self.pos);
        Syntax { line, column, message: message.into() }
    }

    fn peek(&self) -> Option<u8> {
        self.bytes.get(self.pos).copied()
    }

    fn ws(&mut self) {
        while matches!(self.peek(), Some(b' ' | b'\t' | b'\n' | b'\r')) {
            self.pos += 1;
        }
    }

    fn found(&self) -> String {
        match self.text.get(self.pos..).and_then(|s| s.chars().next()) {
            Some(c) => format!("found `{c}`"),
            None => "found the end of the text".into(),
        }
    }

    fn expect(&mut self, byte: u8, what: &str) -> Result<(), Syntax> {
        if self.peek() == Some(byte) {
            self.pos += 1;
            Ok(())
        } else {
            Err(self.error(format!("expected {what}, {}", self.found())))
        }
    }

    fn value(&mut self, depth: usize) -> Result<Node, Syntax> {
        match self.peek() {
            Some(b'{') => self.object(depth + 1),
            Some(b'[') => self.array(depth + 1),
            Some(b'"') => Ok(Node::Str(self.string()?)),
            // Not JSON, but what Python's `json.dumps` writes for float
            // nan / inf: read as a number so the field's error says "not a
            // finite number" instead of a syntax error (never accepted).
            Some(b'N') => self.literal("NaN", Node::Num("NaN".into())),
            Some(b'I') => self.literal("Infinity", Node::Num("Infinity".into())),
            Some(b'-') if self.bytes.get(self.pos + 1) == Some(&b'I') => {
                self.literal("-Infinity", Node::Num("-Infinity".into()))
            }
            Some(b'-' | b'0'..=b'9') => self.number(),
            Some(b't') => self.literal("true", Node::Bool(true)),
            Some(b'f') => self.literal("false", Node::Bool(false)),
            Some(b'n') => self.literal("null", Node::Null),
            _ => Err(self.error(format!("expected a value, {}", self.found()))),
        }
    }

    fn literal(&mut self, word: &str, node: Node) -> Result<Node, Syntax> {
        if self.bytes.get(self.pos..self.pos + word.len()) == Some(word.as_bytes()) {
            self.pos += word.len();
            Ok(node)
        } else {
            Err(self.error(format!("expected a value, {}", self.found())))
        }
    }

    fn digits(&mut self) -> usize {
        let start = self.pos;
        while matches!(self.peek(), Some(b'0'..=b'9')) {
            self.pos += 1;
        }
        self.pos - start
    }

    fn number(&mut self) -> Result<Node, Syntax> {
        let start = self.pos;
        if self.peek() == Some(b'-') {
            self.pos += 1;
        }
        let int_start = self.pos;
        let n = self.digits();
        if n == 0 {
            return Err(self.error(format!("expected a digit, {}", self.found())));
        }
        if n > 1 && self.bytes.get(int_start) == Some(&b'0') {
            self.pos = int_start;
            return Err(self.error("a number cannot start with 0 (write 0.5, or 5)"));
        }
        if self.peek() == Some(b'.') {
            self.pos += 1;
            if self.digits() == 0 {
                return Err(self.error(format!("expected a digit after the decimal point, {}", self.found())));
            }
        }
        if matches!(self.peek(), Some(b'e' | b'E')) {
            self.pos += 1;
            if matches!(self.peek(), Some(b'+' | b'-')) {
                self.pos += 1;
            }
            if self.digits() == 0 {
                return Err(self.error(format!("expected a digit in the exponent, {}", self.found())));
            }
        }
        Ok(Node::Num(self.text.get(start..self.pos).unwrap_or_default().to_string()))
    }

    fn hex4(&mut self) -> Result<u32, Syntax> {
        let s = self.text.get(self.pos..self.pos + 4).filter(|s| s.bytes().all(|b| b.is_ascii_hexdigit()));
        let v = s
            .and_then(|s| u32::from_str_radix(s, 16).ok())
            .ok_or_else(|| self.error("expected 4 hex digits after \\u"))?;
        self.pos += 4;
        Ok(v)
    }

    fn string(&mut self) -> Result<String, Syntax> {
        self.expect(b'"', "`\"`")?;
        let mut out = String::new();
        loop {
            // Copy the run up to the next quote, backslash or control character.
            let start = self.pos;
            while matches!(self.peek(), Some(b) if b != b'"' && b != b'\\' && b >= 0x20) {
                self.pos += 1;
            }
            out.push_str(self.text.get(start..self.pos).unwrap_or_default());
            match self.peek() {
                Some(b'"') => {
                    self.pos += 1;
                    return Ok(out);
                }
                Some(b'\\') => {
                    self.pos += 1;
                    let c = match self.peek() {
                        Some(b'"') => '"',
                        Some(b'\\') => '\\',
                        Some(b'/') => '/',
                        Some(b'b') => '\u{8}',
                        Some(b'f') => '\u{c}',
                        Some(b'n') => '\n',
                        Some(b'r') => '\r',
                        Some(b't') => '\t',
                        Some(b'u') => {
                            self.pos += 1;
                            let c = self.unicode_escape()?;
                            out.push(c);
                            continue;
                        }
                        _ => return Err(self.error(format!("invalid escape in a string, {}", self.found()))),
                    };
                    self.pos += 1;
                    out.push(c);
                }
                Some(_) => return Err(self.error("control character inside a string (escape it)")),
                None => return Err(self.error("the text ends inside a string (missing `\"`)")),
            }
        }
    }

    fn unicode_escape(&mut self) -> Result<char, Syntax> {
        let hi = self.hex4()?;
        let code = if (0xD800..0xDC00).contains(&hi) {
            if self.bytes.get(self.pos..self.pos + 2) != Some(b"\\u".as_slice()) {
                return Err(self.error("a high surrogate \\u escape must be followed by a low one"));
            }
            self.pos += 2;
            let lo = self.hex4()?;
            if !(0xDC00..0xE000).contains(&lo) {
                return Err(self.error("invalid low surrogate in a \\u escape"));
            }
            0x10000 + ((hi - 0xD800) << 10) + (lo - 0xDC00)
        } else {
            hi
        };
        char::from_u32(code).ok_or_else(|| self.error("invalid \\u escape (lone surrogate)"))
    }

    fn too_deep(&self, depth: usize) -> Result<(), Syntax> {
        if depth > MAX_DEPTH {
            return Err(self.error(format!("nesting deeper than {MAX_DEPTH} levels")));
        }
        Ok(())
    }

    fn array(&mut self, depth: usize) -> Result<Node, Syntax> {
        self.too_deep(depth)?;
        self.expect(b'[', "`[`")?;
        let mut items = Vec::new();
        self.ws();
        if self.peek() == Some(b']') {
            self.pos += 1;
            return Ok(Node::Seq(items));
        }
        loop {
            self.ws();
            items.push(self.value(depth)?);
            self.ws();
            match self.peek() {
                Some(b',') => self.pos += 1,
                Some(b']') => {
                    self.pos += 1;
                    return Ok(Node::Seq(items));
                }
                _ => return Err(self.error(format!("expected `,` or `]`, {}", self.found()))),
            }
        }
    }

    fn object(&mut self, depth: usize) -> Result<Node, Syntax> {
        self.too_deep(depth)?;
        self.expect(b'{', "`{`")?;
        let mut entries = Vec::new();
        self.ws();
        if self.peek() == Some(b'}') {
            self.pos += 1;
            return Ok(Node::Map(entries));
        }
        loop {
            self.ws();
            if self.peek() != Some(b'"') {
                return Err(self.error(format!("expected a field name in double quotes, {}", self.found())));
            }
            let key = self.string()?;
            self.ws();
            self.expect(b':', "`:` after the field name")?;
            self.ws();
            let value = self.value(depth)?;
            entries.push((key, value));
            self.ws();
            match self.peek() {
                Some(b',') => self.pos += 1,
                Some(b'}') => {
                    self.pos += 1;
                    return Ok(Node::Map(entries));
                }
                _ => return Err(self.error(format!("expected `,` or `}}`, {}", self.found()))),
            }
        }
    }
}

/// Parses a TOML document into a [`Node::Map`], keeping each number's text.
pub(crate) fn parse_toml(text: &str) -> Result<Node, Syntax> {
    let doc = toml_edit::ImDocument::parse(text).map_err(|e| {
        let (line, column) = position(text, e.span().map_or(0, |s| s.start));
        Syntax { line, column, message: e.message().trim().to_string() }
    })?;
    Ok(Toml { text }.table(doc.as_table()))
}

/// Converts a parsed TOML document; `text` is its source, which the
/// document's spans point into.
struct Toml<'a> {
    text: &'a str,
}

impl Toml<'_> {
    fn table(&self, t: &toml_edit::Table) -> Node {
        Node::Map(t.iter().filter_map(|(k, item)| self.item(item).map(|n| (k.to_string(), n))).collect())
    }

    fn item(&self, item: &toml_edit::Item) -> Option<Node> {
        use toml_edit::Item;
        match item {
            Item::None => None,
            Item::Value(v) => Some(self.value(v)),
            Item::Table(t) => Some(self.table(t)),
            Item::ArrayOfTables(a) => Some(Node::Seq(a.iter().map(|t| self.table(t)).collect())),
        }
    }

    fn value(&self, v: &toml_edit::Value) -> Node {
        use toml_edit::Value;
        match v {
            Value::String(s) => Node::Str(s.value().clone()),
            // TOML integers are 64-bit and exact; hex, octal and binary
            // spellings become plain decimal text.
            Value::Integer(i) => Node::Num(i.value().to_string()),
            Value::Float(f) => {
                // The source text, underscores removed; `inf` and `nan`
                // stay as written and are refused as numbers.
                let raw = f
                    .as_repr()
                    .map(|r| r.as_raw())
                    .and_then(|r| r.as_str().or_else(|| r.span().and_then(|span| self.text.get(span))));
                Node::Num(raw.map_or_else(|| f.value().to_string(), |s| s.trim().replace('_', "")))
            }
            Value::Boolean(b) => Node::Bool(*b.value()),
            Value::Datetime(d) => Node::Str(d.value().to_string()),
            Value::Array(a) => Node::Seq(a.iter().map(|v| self.value(v)).collect()),
            Value::InlineTable(t) => Node::Map(t.iter().map(|(k, v)| (k.to_string(), self.value(v))).collect()),
        }
    }
}

/// Why a number cannot be read exactly.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum NumberError {
    /// Not a number at all (for strings that looked like one).
    Malformed,
    /// `inf` or `nan`.
    NotFinite,
    /// More digits after the point than a decimal holds (28).
    TooManyDigits,
    /// Above a decimal's magnitude (about 7.9 * 10^28).
    TooLarge,
}

impl fmt::Display for NumberError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            NumberError::Malformed => "is not a decimal number",
            NumberError::NotFinite => "is not a finite number",
            NumberError::TooManyDigits => {
                "has more digits than a decimal holds exactly (at most 28 after the point and 28 significant digits): write fewer digits"
            }
            NumberError::TooLarge => "is too large for a decimal (at most about 7.9e28)",
        })
    }
}

/// The decimal written in `raw` (optional sign, digits, optional fraction
/// and exponent), exactly, with the scale as written when there is no
/// exponent (`1.50` keeps two places). Never rounds.
pub(crate) fn exact_number(raw: &str) -> Result<Decimal, NumberError> {
    exact_text(raw).and_then(|plain| exact_plain(&plain))
}

/// Plain text for `raw` that `Decimal` reads exactly (checked), or why not.
pub(crate) fn exact_number_text(raw: &str) -> Result<String, NumberError> {
    let plain = exact_text(raw)?;
    exact_plain(&plain)?;
    Ok(plain)
}

fn exact_plain(plain: &str) -> Result<Decimal, NumberError> {
    Decimal::from_str_exact(plain).map_err(|e| match e {
        rust_decimal::Error::Underflow => NumberError::TooManyDigits,
        rust_decimal::Error::ExceedsMaximumPossibleValue | rust_decimal::Error::LessThanMinimumPossibleValue => {
            NumberError::TooLarge
        }
        // Anything else: the digits do not fit the 96-bit mantissa,
        // too large if the integer part alone does not.
        _ => {
            let int = plain.trim_start_matches('-').split('.').next().unwrap_or("");
            if int.trim_start_matches('0').len() >= 29 {
                NumberError::TooLarge
            } else {
                NumberError::TooManyDigits
            }
        }
    })
}

/// `raw` as plain decimal text without exponent or `+`, which
/// `Decimal::from_str_exact` reads exactly when the value fits.
pub(crate) fn exact_text(raw: &str) -> Result<String, NumberError> {
    let body = raw.trim_start_matches(['+', '-']);
    if ["inf", "nan", "infinity"].iter().any(|w| body.eq_ignore_ascii_case(w)) {
        return Err(NumberError::NotFinite);
    }
    let (neg, rest) = match raw.as_bytes().first() {
        Some(b'-') => (true, &raw[1..]),
        Some(b'+') => (false, &raw[1..]),
        _ => (false, raw),
    };
    let (mantissa, exp) = match rest.find(['e', 'E']) {
        Some(i) => (&rest[..i], Some(&rest[i + 1..])),
        None => (rest, None),
    };
    let (int, frac) = match mantissa.split_once('.') {
        Some((i, f)) => (i, Some(f)),
        None => (mantissa, None),
    };
    let all_digits = |s: &str| !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit());
    if !all_digits(int) || frac.is_some_and(|f| !all_digits(f)) {
        return Err(NumberError::Malformed);
    }
    let sign = if neg { "-" } else { "" };
    let Some(exp) = exp else {
        return Ok(trim_fraction(format!("{sign}{mantissa}")));
    };
    let exp_digits = exp.trim_start_matches(['+', '-']);
    if !all_digits(exp_digits) || exp.len() - exp_digits.len() > 1 {
        return Err(NumberError::Malformed);
    }
    let digits: String = [int, frac.unwrap_or("")].concat();
    let significant = digits.trim_start_matches('0');
    if significant.is_empty() {
        return Ok("0".into());
    }
    // Position of the decimal point within `significant`.
    let leading = i64::try_from(digits.len() - significant.len()).map_err(|_| NumberError::TooLarge)?;
    let e: i64 = match exp_digits.trim_start_matches('0').len() {
        0 => 0,
        1..=6 => exp_digits.parse::<i64>().map_err(|_| NumberError::Malformed)?,
        _ if exp.starts_with('-') => return Err(NumberError::TooManyDigits),
        _ => return Err(NumberError::TooLarge),
    };
    let e = if exp.starts_with('-') { -e } else { e };
    let point = i64::try_from(int.len()).map_err(|_| NumberError::TooLarge)? - leading + e;
    let len = i64::try_from(significant.len()).map_err(|_| NumberError::TooLarge)?;
    if point > 40 {
        return Err(NumberError::TooLarge);
    }
    if point < -40 {
        return Err(NumberError::TooManyDigits);
    }
    let plain = if point <= 0 {
        format!("{sign}0.{}{significant}", "0".repeat(usize::try_from(-point).unwrap_or(0)))
    } else if point >= len {
        format!("{sign}{significant}{}", "0".repeat(usize::try_from(point - len).unwrap_or(0)))
    } else {
        let (a, b) = significant.split_at(usize::try_from(point).unwrap_or(0));
        format!("{sign}{a}.{b}")
    };
    Ok(trim_fraction(plain))
}

/// Drops trailing fractional zeros beyond the 28 places a decimal holds
/// (they do not change the value).
fn trim_fraction(mut s: String) -> String {
    if let Some(dot) = s.find('.') {
        while s.len() - dot - 1 > 28 && s.ends_with('0') {
            s.pop();
        }
        if s.ends_with('.') {
            s.pop();
        }
    }
    s
}

/// True when a string is meant as a number (digits, sign, point, exponent,
/// underscores), so that it must be read exactly too.
pub(crate) fn looks_numeric(s: &str) -> bool {
    s.bytes().any(|b| b.is_ascii_digit())
        && s.bytes().all(|b| b.is_ascii_digit() || matches!(b, b'+' | b'-' | b'.' | b'e' | b'E' | b'_'))
}

#[cfg(test)]
mod tests {
    use super::*;
    use rstest::rstest;
    use rust_decimal_macros::dec;

    #[rstest]
    #[case("100.12345678901234567891", Ok(dec!(100.12345678901234567891)))]
    #[case("100", Ok(dec!(100)))]
    #[case("1.50", Ok(dec!(1.50)))]
    #[case("-0.1", Ok(dec!(-0.1)))]
    #[case("+2.5", Ok(dec!(2.5)))]
    #[case("0", Ok(dec!(0)))]
    #[case("1e3", Ok(dec!(1000)))]
    #[case("1.5E-3", Ok(dec!(0.0015)))]
    #[case("2.5e+2", Ok(dec!(250)))]
    #[case("0.000e5", Ok(dec!(0)))]
    #[case("123e-28", Ok(dec!(0.0000000000000000000000000123)))]
    #[case("123e-30", Err(NumberError::TooManyDigits))]
    #[case("79228162514264337593543950335", Ok(Decimal::MAX))]
    #[case("0.1000000000000000000000000000000000", Ok(dec!(0.1000000000000000000000000000)))]
    #[case("0.0000000000000000000000000001", Ok(Decimal::new(1, 28)))]
    #[case("0.00000000000000000000000000001", Err(NumberError::TooManyDigits))]
    #[case("1.2345678901234567890123456789012", Err(NumberError::TooManyDigits))]
    #[case("79228162514264337593543950336", Err(NumberError::TooLarge))]
    #[case("123456789012345678901234567890", Err(NumberError::TooLarge))]
    #[case("9999999999999.9999999999999999", Err(NumberError::TooManyDigits))]
    #[case("1e29", Err(NumberError::TooLarge))]
    #[case("1e999999999", Err(NumberError::TooLarge))]
    #[case("1e-999999999", Err(NumberError::TooManyDigits))]
    #[case("1e-29", Err(NumberError::TooManyDigits))]
    #[case("inf", Err(NumberError::NotFinite))]
    #[case("-inf", Err(NumberError::NotFinite))]
    #[case("nan", Err(NumberError::NotFinite))]
    #[case("1.", Err(NumberError::Malformed))]
    #[case("--1", Err(NumberError::Malformed))]
    #[case("1e", Err(NumberError::Malformed))]
    #[case("1e+-3", Err(NumberError::Malformed))]
    fn numbers_are_exact_or_refused(#[case] raw: &str, #[case] want: Result<Decimal, NumberError>) {
        let got = exact_number(raw);
        assert_eq!(got, want, "{raw}");
        if let (Ok(g), Ok(w)) = (got, want) {
            assert_eq!(g.scale(), w.scale(), "{raw}: scale");
        }
    }

    #[rstest]
    #[case(r#"{"a": [1, 2.50, -3e2], "b": {"c": "x\"\u00e9\ud83d\ude00"}, "d": null, "e": true}"#)]
    #[case("  {}  ")]
    fn json_parses(#[case] text: &str) {
        let node = parse_json(text).unwrap();
        assert!(matches!(node, Node::Map(_)));
        if text.contains("2.50") {
            let Node::Map(m) = node else { unreachable!() };
            assert_eq!(
                m[0].1,
                Node::Seq(vec![Node::Num("1".into()), Node::Num("2.50".into()), Node::Num("-3e2".into())])
            );
            assert_eq!(m[1].1, Node::Map(vec![("c".into(), Node::Str("x\"é😀".into()))]));
        }
    }

    #[rstest]
    #[case("{", 1, 2)]
    #[case("{\"a\": 01}", 1, 7)]
    #[case("{\"a\": 1,}", 1, 9)]
    #[case("{\n  \"a\": tru\n}", 2, 8)]
    #[case("{\"a\": \"\\x\"}", 1, 9)]
    #[case("{} x", 1, 4)]
    #[case("{'a': 1}", 1, 2)]
    #[case("{\"a\": 1.}", 1, 9)]
    #[case("{\"a\": \"\\ud800\"}", 1, 14)]
    fn json_syntax_errors_have_positions(#[case] text: &str, #[case] line: usize, #[case] column: usize) {
        let e = parse_json(text).unwrap_err();
        assert_eq!((e.line, e.column), (line, column), "{text}: {}", e.message);
    }

    #[test]
    fn deep_nesting_is_refused_not_a_stack_overflow() {
        let deep = "[".repeat(100_000);
        assert!(parse_json(&deep).unwrap_err().message.contains("nesting"));
        let ok = format!("{}{}", "[".repeat(MAX_DEPTH), "]".repeat(MAX_DEPTH));
        assert!(parse_json(&ok).is_ok());
    }

    #[test]
    fn toml_keeps_number_text() {
        let node = parse_toml("a = 100.12345678901234567891\nb = 1_000\nc = 0x10\n[t]\nd = 1_0.5e1\n").unwrap();
        let Node::Map(m) = node else { unreachable!() };
        assert_eq!(m[0].1, Node::Num("100.12345678901234567891".into()));
        assert_eq!(m[1].1, Node::Num("1000".into()));
        assert_eq!(m[2].1, Node::Num("16".into()));
        assert_eq!(m[3].1, Node::Map(vec![("d".into(), Node::Num("10.5e1".into()))]));
        let e = parse_toml("a = \n").unwrap_err();
        assert_eq!(e.line, 1);
    }
}
