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
