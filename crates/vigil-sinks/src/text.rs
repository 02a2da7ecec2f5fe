//! Escaping for human-facing text.

/// UTF-8 text with each byte that is not valid UTF-8 written as `\xNN`.
pub fn escape_invalid_utf8(bytes: &[u8]) -> String {
    let mut out = String::with_capacity(bytes.len() + 8);
    for chunk in bytes.utf8_chunks() {
        out.push_str(chunk.valid());
        for b in chunk.invalid() {
            out.push_str(&format!("\\x{b:02x}"));
        }
    }
    out
}

/// For a terminal: also escapes control characters and backslashes, so a
/// file name can neither move the cursor nor be confused with an escape.
pub fn escape_for_terminal(bytes: &[u8]) -> String {
    let mut out = String::with_capacity(bytes.len() + 8);
    for chunk in bytes.utf8_chunks() {
        for c in chunk.valid().chars() {
            match c {
                '\\' => out.push_str("\\\\"),
                '\n' => out.push_str("\\n"),
                '\t' => out.push_str("\\t"),
                '\r' => out.push_str("\\r"),
                c if c.is_control() => out.push_str(&format!("\\x{:02x}", c as u32)),
                c => out.push(c),
            }
        }
        for b in chunk.invalid() {
            out.push_str(&format!("\\x{b:02x}"));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escapes_what_a_terminal_must_not_see() {
        assert_eq!(
            escape_for_terminal(b"a b\nc\x1b[2J\\\xff"),
            "a b\\nc\\x1b[2J\\\\\\xff"
        );
        assert_eq!(escape_invalid_utf8(b"ok\xc3"), "ok\\xc3");
    }
}
