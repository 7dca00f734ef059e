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
    if any_escape(s) {
        write_escaped(out, s);
    } else {
        // The common case: nothing to escape, one copy.
        push_bytes(out, s);
    }
    out.push(b'"');
}

/// Whether any byte of `s` needs an escape, eight bytes at a time.
#[inline]
pub fn any_escape(s: &[u8]) -> bool {
    let n = s.len();
    if n < 8 {
        return s.iter().any(|&b| ESCAPE[b as usize] != 0);
    }
    let word = |i: usize| u64::from_le_bytes(s[i..i + 8].try_into().expect("8 bytes"));
    let mut i = 0;
    while i + 8 <= n {
        if needs_escape(word(i)) {
            return true;
        }
        i += 8;
    }
    // The tail: one more word ending at the end, overlapping bytes already checked.
    i < n && needs_escape(word(n - 8))
}

/// Append a short slice without a call into `memcpy` (most keys and values are short).
#[inline(always)]
pub fn push_bytes(out: &mut Vec<u8>, s: &[u8]) {
    let n = s.len();
    if n > 16 {
        out.extend_from_slice(s);
        return;
    }
    out.reserve(16);
    let len = out.len();
    // SAFETY: `reserve(16)` guarantees 16 writable bytes after `len`; every store below
    // stays within `len..len + n` (n <= 16), every load within `s`, and the final length
    // covers exactly the bytes written.
    unsafe {
        let dst = out.as_mut_ptr().add(len);
        let src = s.as_ptr();
        if n >= 8 {
            let head = src.cast::<u64>().read_unaligned();
            let tail = src.add(n - 8).cast::<u64>().read_unaligned();
            dst.cast::<u64>().write_unaligned(head);
            dst.add(n - 8).cast::<u64>().write_unaligned(tail);
        } else if n >= 4 {
            let head = src.cast::<u32>().read_unaligned();
            let tail = src.add(n - 4).cast::<u32>().read_unaligned();
            dst.cast::<u32>().write_unaligned(head);
            dst.add(n - 4).cast::<u32>().write_unaligned(tail);
        } else {
            for i in 0..n {
                *dst.add(i) = *src.add(i);
            }
        }
        out.set_len(len + n);
    }
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

/// How many bytes `write_escaped(s)` writes.
pub fn escaped_len(s: &[u8]) -> usize {
    s.iter()
        .map(|&b| match ESCAPE[b as usize] {
            0 => 1,
            b'u' => 6,
            _ => 2,
        })
        .sum()
}

/// Append the escaped body of `s` (valid UTF-8), at most `max` bytes of it: stops before the
/// first character, or escape, that would not fit. Returns whether all of `s` was written.
pub fn write_escaped_capped(out: &mut Vec<u8>, s: &[u8], max: usize) -> bool {
    let end = out.len() + max;
    let mut i = 0;
    while i < s.len() {
        let b = s[i];
        let esc = ESCAPE[b as usize];
        let (width, step) = match esc {
            0 => {
                let n = utf8_width(b);
                (n, n)
            }
            b'u' => (6, 1),
            _ => (2, 1),
        };
        if out.len() + width > end {
            return false;
        }
        match esc {
            0 => out.extend_from_slice(&s[i..i + step]),
            b'u' => {
                out.extend_from_slice(b"\\u00");
                out.push(HEX[(b >> 4) as usize]);
                out.push(HEX[(b & 0xf) as usize]);
            }
            _ => {
                out.push(b'\\');
                out.push(esc);
            }
        }
        i += step;
    }
    true
}

/// The length of the UTF-8 sequence that `lead` starts.
#[inline]
fn utf8_width(lead: u8) -> usize {
    match lead {
        0x00..=0x7F => 1,
        0xC0..=0xDF => 2,
        0xE0..=0xEF => 3,
        _ => 4,
    }
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
    fn push_bytes_copies_every_length() {
        for n in 0..40 {
            let src: Vec<u8> = (0..n as u8).collect();
            let mut out = b"xy".to_vec();
            push_bytes(&mut out, &src);
            assert_eq!(&out[2..], &src[..]);
            assert!(any_escape(&src) == src.iter().any(|c| ESCAPE[*c as usize] != 0));
        }
    }

    #[test]
    fn capped_escaping_never_exceeds_its_budget_and_ends_on_whole_characters() {
        let s = "a\"\\\u{1}é😀\n".as_bytes();
        let mut full = Vec::new();
        write_escaped(&mut full, s);
        assert_eq!(escaped_len(s), full.len());
        for max in 0..=full.len() + 2 {
            let mut out = Vec::new();
            let all = write_escaped_capped(&mut out, s, max);
            assert!(out.len() <= max, "{max}");
            assert!(full.starts_with(&out), "{max}");
            assert_eq!(all, out.len() == full.len(), "{max}");
            // A cut never splits an escape or a character: the rest continues the same output.
            let mut json = b"\"".to_vec();
            json.extend_from_slice(&out);
            json.push(b'"');
            assert!(std::str::from_utf8(&json).is_ok(), "{max}");
        }
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
