//! Test helper: deterministic pseudo-random strings over a small alphabet, for "never panics"
//! checks of the parsers.

/// `count` strings of up to `max_len` characters drawn from `alphabet` (xorshift, fixed seed).
pub(crate) fn strings(alphabet: &str, count: usize, max_len: usize) -> Vec<String> {
    let chars: Vec<char> = alphabet.chars().collect();
    let mut state: u64 = 0x9e37_79b9_7f4a_7c15;
    let mut next = move || {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        state
    };
    (0..count)
        .map(|_| {
            let len = (next() % (max_len as u64 + 1)) as usize;
            (0..len).map(|_| chars[(next() % chars.len() as u64) as usize]).collect()
        })
        .collect()
}
