//! JSON string escaping into the output buffer.

/// For each byte: 0 = copy as is, otherwise the character after the backslash
/// (`u` means a `\u00XX` escape).
static ESCAPE: [u8; 256] = {
    let mut table = [0u8; 256];
    let mut i = 0;
    while i < 0x20 {
        table[i] = b'u';
        i += 1;
    }
    table[b'\n' as usize] = b'n';
    table[b'\r' as usize] = b'r';
    table[b'\t' as usize] = b't';
    table[0x08] = b'b';
    table[0x0c] = b'f';
    table[b'"' as usize] = b'"';
    table[b'\\' as usize] = b'\\';
    table
};

const HEX: &[u8; 16] = b"0123456789abcdef";

/// Append `s` (valid UTF-8) to `out` as a quoted JSON string.
#[inline]
pub fn write_str(out: &mut Vec<u8>, s: &[u8]) {
    out.reserve(s.len() + 2);
    out.push(b'"');
    write_escaped(out, s);
    out.push(b'"');
}

/// Append the escaped body of a JSON string (no quotes). Runs of plain bytes are copied in one
/// go; eight bytes at a time are checked for anything needing an escape.
#[inline]
pub fn write_escaped(out: &mut Vec<u8>, s: &[u8]) {
    let mut start = 0;
    let mut i = 0;
    while i < s.len() {
        // Skip whole 8-byte words with nothing to escape.
        while i + 8 <= s.len() {
            let word = u64::from_le_bytes(s[i..i + 8].try_into().expect("8 bytes"));
            if needs_escape(word) {
                break;
            }
            i += 8;
        }
        if i >= s.len() {
            break;
        }
        let b = s[i];
        let esc = ESCAPE[b as usize];
        if esc != 0 {
            out.extend_from_slice(&s[start..i]);
            if esc == b'u' {
                out.extend_from_slice(b"\\u00");
                out.push(HEX[(b >> 4) as usize]);
                out.push(HEX[(b & 0xf) as usize]);
            } else {
                out.push(b'\\');
                out.push(esc);
            }
            start = i + 1;
        }
        i += 1;
    }
    out.extend_from_slice(&s[start..]);
}

/// Whether any byte of `w` is a control character (< 0x20), `"` or `\\`.
#[inline]
fn needs_escape(w: u64) -> bool {
    const ONES: u64 = 0x0101_0101_0101_0101;
    const HIGH: u64 = 0x8080_8080_8080_8080;
    // A byte below 0x20: (b - 0x20) borrows into the high bit, unless the byte had it set.
    let below = w.wrapping_sub(ONES * 0x20) & !w;
    let quote = (w ^ (ONES * b'"' as u64)).wrapping_sub(ONES) & !(w ^ (ONES * b'"' as u64));
    let slash = (w ^ (ONES * b'\\' as u64)).wrapping_sub(ONES) & !(w ^ (ONES * b'\\' as u64));
    (below | quote | slash) & HIGH != 0
}

/// The longest prefix of `s` no longer than `max` bytes that ends on a UTF-8 character boundary.
pub fn utf8_prefix(s: &[u8], max: usize) -> &[u8] {
    if s.len() <= max {
        return s;
    }
    let mut end = max;
    // Continuation bytes are 0b10xx_xxxx; back up to the start of the character that straddles.
    while end > 0 && (s[end] & 0xC0) == 0x80 {
        end -= 1;
    }
    &s[..end]
}

/// Replace UTF-8-encoded lone surrogates (as written by Python's `surrogatepass`: ED A0..BF xx)
/// with U+FFFD, yielding valid UTF-8.
pub fn replace_surrogates(bytes: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == 0xED && i + 2 < bytes.len() && (0xA0..=0xBF).contains(&bytes[i + 1]) {
            out.extend_from_slice("\u{FFFD}".as_bytes());
            i += 3;
        } else {
            out.push(bytes[i]);
            i += 1;
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escapes_controls_quotes_and_backslashes() {
        let mut out = Vec::new();
        write_str(&mut out, b"a\"b\\c\nd\x01");
        assert_eq!(out, b"\"a\\\"b\\\\c\\nd\\u0001\"");
    }

    #[test]
    fn word_scan_agrees_with_the_table() {
        for b in 0u8..=255 {
            for pos in 0..8 {
                let mut word = *b"abcdefgh";
                word[pos] = b;
                let expected = word.iter().any(|c| ESCAPE[*c as usize] != 0);
                assert_eq!(
                    needs_escape(u64::from_le_bytes(word)),
                    expected,
                    "byte {b} at {pos}"
                );
            }
        }
        let mut out = Vec::new();
        write_str(&mut out, b"0123456789abcdef\"0123456789\n");
        assert_eq!(out, b"\"0123456789abcdef\\\"0123456789\\n\"");
    }

    #[test]
    fn prefix_ends_on_char_boundary() {
        let s = "aé".as_bytes();
        assert_eq!(utf8_prefix(s, 2), b"a");
        assert_eq!(utf8_prefix(s, 3), s);
    }

    #[test]
    fn surrogates_become_replacement_characters() {
        assert_eq!(
            replace_surrogates(b"a\xED\xA0\x80b"),
            "a\u{FFFD}b".as_bytes()
        );
    }
}
