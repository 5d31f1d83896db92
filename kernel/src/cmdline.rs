//! The kernel command line (`extra=` in the xl config): space-separated
//! words, `key=value` or bare flags. Unknown words are ignored (and listed at
//! boot), so a typo never stops the kernel.

/// Iterates over the `(key, value)` pairs of `cmdline`; a bare word has value "".
pub fn words(cmdline: &str) -> impl Iterator<Item = (&str, &str)> {
    cmdline.split_ascii_whitespace().map(|w| match w.split_once('=') {
        Some((k, v)) => (k, v),
        None => (w, ""),
    })
}

/// The value of the last `key=` on the command line.
pub fn get<'a>(cmdline: &'a str, key: &str) -> Option<&'a str> {
    words(cmdline).filter(|(k, _)| *k == key).map(|(_, v)| v).last()
}

#[cfg_attr(not(feature = "programs"), allow(dead_code))]
/// Everything after the word `key=` (which must start a word), to the end
/// of the command line: for values with blanks, such as a command list.
pub fn rest_after<'a>(cmdline: &'a str, key: &str) -> Option<&'a str> {
    let pat_len = key.len() + 1;
    let mut start = 0;
    while let Some(i) = cmdline.get(start..)?.find(key) {
        let at = start + i;
        let word_start = at == 0 || cmdline.as_bytes().get(at - 1).is_some_and(|b| b.is_ascii_whitespace());
        if word_start && cmdline.as_bytes().get(at + key.len()) == Some(&b'=') {
            return cmdline.get(at + pat_len..);
        }
        start = at + 1;
    }
    None
}
