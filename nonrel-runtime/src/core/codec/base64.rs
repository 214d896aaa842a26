//! Base64 (RFC 4648) in the two forms the crate writes: the standard alphabet with padding
//! (binary values in extended JSON, §4) and the URL alphabet without padding (page cursors,
//! §5). One encoder and one decoder serve both; the alphabet and the padding are parameters.

/// A base64 form: its 64 digits and whether the text is padded with `=` to a multiple of 4.
pub(crate) struct Base64 {
    alphabet: &'static [u8; 64],
    /// Each byte's digit value, or 0xFF for a byte that is no digit.
    digits: [u8; 256],
    padded: bool,
}

/// The standard alphabet, padded: `Zg==` for `f`.
pub(crate) const STANDARD: Base64 =
    Base64::new(b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/", true);

/// The URL alphabet (`-` and `_` for `+` and `/`), unpadded: safe in a URL as it is.
pub(crate) const URL: Base64 = Base64::new(b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_", false);

impl Base64 {
    const fn new(alphabet: &'static [u8; 64], padded: bool) -> Self {
        let mut digits = [0xFF; 256];
        let mut i = 0;
        while i < 64 {
            digits[alphabet[i] as usize] = i as u8;
            i += 1;
        }
        Base64 { alphabet, digits, padded }
    }

    /// Appends the text of `bytes` to `out`.
    pub(crate) fn encode_into(&self, bytes: &[u8], out: &mut String) {
        out.reserve(bytes.len().div_ceil(3) * 4);
        for chunk in bytes.chunks(3) {
            let n = chunk.iter().enumerate().fold(0u32, |n, (i, &b)| n | u32::from(b) << (16 - 8 * i));
            for i in 0..=chunk.len() {
                out.push(self.alphabet[(n >> (18 - 6 * i) & 63) as usize] as char);
            }
            if self.padded {
                for _ in chunk.len()..3 {
                    out.push('=');
                }
            }
        }
    }

    /// The text of `bytes`.
    pub(crate) fn encode(&self, bytes: &[u8]) -> String {
        let mut out = String::new();
        self.encode_into(bytes, &mut out);
        out
    }

    /// The bytes of a text, or `None` when it is not one this form writes: a character that
    /// is no digit, a length no encoding has, padding missing (padded form), misplaced or
    /// present (unpadded form).
    pub(crate) fn decode(&self, text: &str) -> Option<Vec<u8>> {
        let mut data = text.as_bytes();
        if self.padded {
            if !data.len().is_multiple_of(4) {
                return None;
            }
            // Padding ends the last group only; a `=` elsewhere is no digit.
            let pad = data.iter().rev().take_while(|&&c| c == b'=').count();
            if pad > 2 {
                return None;
            }
            data = &data[..data.len() - pad];
        }
        if data.len() % 4 == 1 {
            return None;
        }
        let mut out = Vec::with_capacity(data.len() * 3 / 4);
        for chunk in data.chunks(4) {
            let mut n = 0u32;
            for (i, &c) in chunk.iter().enumerate() {
                let d = self.digits[c as usize];
                if d == 0xFF {
                    return None;
                }
                n |= u32::from(d) << (18 - 6 * i);
            }
            for i in 0..chunk.len() - 1 {
                out.push((n >> (16 - 8 * i)) as u8);
            }
        }
        Some(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const RFC_VECTORS: [(&[u8], &str); 7] = [
        (b"", ""),
        (b"f", "Zg=="),
        (b"fo", "Zm8="),
        (b"foo", "Zm9v"),
        (b"foob", "Zm9vYg=="),
        (b"fooba", "Zm9vYmE="),
        (b"foobar", "Zm9vYmFy"),
    ];

    #[test]
    fn the_standard_form_writes_and_reads_the_rfc_vectors() {
        for (raw, text) in RFC_VECTORS {
            assert_eq!(STANDARD.encode(raw), text);
            assert_eq!(STANDARD.decode(text).as_deref(), Some(raw));
        }
        assert_eq!(STANDARD.encode(b"\xff\xfe"), "//4=");
    }

    #[test]
    fn the_url_form_drops_the_padding_and_swaps_two_digits() {
        for (raw, text) in RFC_VECTORS {
            let unpadded = text.trim_end_matches('=');
            assert_eq!(URL.encode(raw), unpadded);
            assert_eq!(URL.decode(unpadded).as_deref(), Some(raw));
        }
        assert_eq!(URL.encode(b"\xff\xfe"), "__4");
        assert_eq!(URL.decode("__4").as_deref(), Some(&b"\xff\xfe"[..]));
    }

    #[test]
    fn each_form_refuses_the_other_forms_text() {
        assert_eq!(STANDARD.decode("Zg"), None, "padding missing");
        assert_eq!(STANDARD.decode("Zg="), None, "padding short");
        assert_eq!(STANDARD.decode("Z==="), None, "three pads");
        assert_eq!(STANDARD.decode("Zg==Zg=="), None, "padding inside");
        assert_eq!(STANDARD.decode("__4="), None, "URL digits");
        assert_eq!(URL.decode("Zg=="), None, "padding");
        assert_eq!(URL.decode("//4"), None, "standard digits");
        assert_eq!(URL.decode("Zm9vY"), None, "a length no encoding has");
    }

    /// Random texts (digits, padding, other bytes) never panic the decoder, and what it
    /// accepts is a text of the right length; `NONREL_FUZZ_CASES` runs more.
    #[test]
    fn arbitrary_text_never_panics() {
        let cases = std::env::var("NONREL_FUZZ_CASES").ok().and_then(|n| n.parse().ok()).unwrap_or(10_000);
        let mut state = 0x9E37_79B9_7F4A_7C15u64;
        for case in 0..cases {
            let mut text = String::new();
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            let mut s = state;
            for _ in 0..(s % 23) {
                s = s.rotate_left(7).wrapping_mul(0x2545_F491_4F6C_DD1D);
                text.push(
                    *[b'A', b'z', b'0', b'+', b'/', b'-', b'_', b'=', b' ', 0xC3].get((s % 10) as usize).unwrap()
                        as char,
                );
            }
            for form in [&STANDARD, &URL] {
                if let Some(bytes) = form.decode(&text) {
                    assert_eq!(form.encode(&bytes).len(), text.len(), "case {case} of seed {state}: {text:?}");
                }
            }
        }
    }

    #[test]
    fn every_length_round_trips_in_both_forms() {
        for n in 0..40u8 {
            let bytes: Vec<u8> = (0..n).map(|i| i.wrapping_mul(37)).collect();
            for form in [&STANDARD, &URL] {
                assert_eq!(form.decode(&form.encode(&bytes)), Some(bytes.clone()));
            }
        }
    }
}
