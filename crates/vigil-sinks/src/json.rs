//! A small, allocation-light JSON writer for hot event paths.

use base64::Engine;

/// Appends JSON to a byte buffer. Keys are trusted literals; values are
/// escaped.
#[derive(Default)]
pub struct JsonWriter {
    pub buf: Vec<u8>,
    /// Whether the next member needs a leading comma, per open object.
    need_comma: Vec<bool>,
}

impl JsonWriter {
    pub fn new() -> Self {
        Self::default()
    }

    pub fn clear(&mut self) {
        self.buf.clear();
        self.need_comma.clear();
    }

    fn sep(&mut self) {
        if let Some(c) = self.need_comma.last_mut() {
            if *c {
                self.buf.push(b',');
            }
            *c = true;
        }
    }

    fn key(&mut self, key: &str) {
        self.sep();
        self.buf.push(b'"');
        self.buf.extend_from_slice(key.as_bytes());
        self.buf.extend_from_slice(b"\":");
    }

    pub fn begin(&mut self) {
        self.buf.push(b'{');
        self.need_comma.push(false);
    }

    pub fn begin_obj(&mut self, key: &str) {
        self.key(key);
        self.begin();
    }

    pub fn end(&mut self) {
        self.buf.push(b'}');
        self.need_comma.pop();
    }

    pub fn str(&mut self, key: &str, value: &str) {
        self.key(key);
        escape_str(&mut self.buf, value);
    }

    /// A byte string: plain JSON string when it is UTF-8; otherwise a
    /// readable form with `\xNN` for the invalid bytes, plus
    /// `<key>_base64` holding the exact bytes.
    pub fn bytes(&mut self, key: &str, value: &[u8]) {
        match std::str::from_utf8(value) {
            Ok(s) => self.str(key, s),
            Err(_) => {
                self.str(key, &crate::text::escape_invalid_utf8(value));
                self.key(&format!("{key}_base64"));
                self.buf.push(b'"');
                let enc = base64::engine::general_purpose::STANDARD.encode(value);
                self.buf.extend_from_slice(enc.as_bytes());
                self.buf.push(b'"');
            }
        }
    }

    pub fn num(&mut self, key: &str, value: impl itoa_like::Num) {
        self.key(key);
        value.write(&mut self.buf);
    }

    pub fn bool(&mut self, key: &str, value: bool) {
        self.key(key);
        self.buf
            .extend_from_slice(if value { b"true" } else { b"false" });
    }

    pub fn str_array<S: AsRef<str>>(&mut self, key: &str, values: &[S]) {
        self.key(key);
        self.buf.push(b'[');
        for (i, v) in values.iter().enumerate() {
            if i > 0 {
                self.buf.push(b',');
            }
            escape_str(&mut self.buf, v.as_ref());
        }
        self.buf.push(b']');
    }
}

/// Writes `s` as a JSON string literal.
pub fn escape_str(out: &mut Vec<u8>, s: &str) {
    out.push(b'"');
    let bytes = s.as_bytes();
    let mut start = 0;
    for (i, &b) in bytes.iter().enumerate() {
        let esc: Option<&[u8]> = match b {
            b'"' => Some(b"\\\""),
            b'\\' => Some(b"\\\\"),
            b'\n' => Some(b"\\n"),
            b'\r' => Some(b"\\r"),
            b'\t' => Some(b"\\t"),
            0..=0x1f | 0x7f => None,
            _ => continue,
        };
        out.extend_from_slice(&bytes[start..i]);
        match esc {
            Some(e) => out.extend_from_slice(e),
            None => out.extend_from_slice(format!("\\u{b:04x}").as_bytes()),
        }
        start = i + 1;
    }
    out.extend_from_slice(&bytes[start..]);
    out.push(b'"');
}

/// Integer formatting without going through `fmt` on the hot path.
pub mod itoa_like {
    pub trait Num {
        fn write(self, out: &mut Vec<u8>);
    }

    macro_rules! impl_num {
        ($($t:ty),*) => {$(
            impl Num for $t {
                fn write(self, out: &mut Vec<u8>) {
                    let mut tmp = [0u8; 24];
                    let mut n = (self as i128).unsigned_abs();
                    let mut i = tmp.len();
                    loop {
                        i -= 1;
                        tmp[i] = b'0' + (n % 10) as u8;
                        n /= 10;
                        if n == 0 {
                            break;
                        }
                    }
                    #[allow(unused_comparisons)]
                    if self < 0 {
                        out.push(b'-');
                    }
                    out.extend_from_slice(&tmp[i..]);
                }
            }
        )*};
    }
    impl_num!(u16, u32, u64, i32, i64, usize);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips_awkward_strings_through_a_real_parser() {
        let mut w = JsonWriter::new();
        w.begin();
        w.str("a", "sp ace\nnew\"line\\\u{1}\u{7f}é");
        w.bytes("b", b"bad\xff\xfename");
        w.num("n", -42i64);
        w.num("u", u64::MAX);
        w.end();
        let v: serde_json::Value = serde_json::from_slice(&w.buf).unwrap();
        assert_eq!(v["a"], "sp ace\nnew\"line\\\u{1}\u{7f}é");
        assert_eq!(v["b"], "bad\\xff\\xfename");
        assert_eq!(v["b_base64"], "YmFk//5uYW1l");
        assert_eq!(v["n"], -42);
        assert_eq!(v["u"], u64::MAX);
    }
}
