//! Bounds-checked little-endian reads from byte slices. Every accessor returns
//! `None` instead of panicking when the requested bytes are not there.

/// `len` bytes at `off`, if they are all inside `b`.
pub(crate) fn bytes_at(b: &[u8], off: usize, len: usize) -> Option<&[u8]> {
    b.get(off..off.checked_add(len)?)
}

pub(crate) fn u8_at(b: &[u8], off: usize) -> Option<u8> {
    b.get(off).copied()
}

pub(crate) fn u16_at(b: &[u8], off: usize) -> Option<u16> {
    bytes_at(b, off, 2)?.try_into().ok().map(u16::from_le_bytes)
}

pub(crate) fn u32_at(b: &[u8], off: usize) -> Option<u32> {
    bytes_at(b, off, 4)?.try_into().ok().map(u32::from_le_bytes)
}

pub(crate) fn u64_at(b: &[u8], off: usize) -> Option<u64> {
    bytes_at(b, off, 8)?.try_into().ok().map(u64::from_le_bytes)
}

/// A file quantity as an index. On 64-bit hosts this never fails; on smaller
/// ones a huge value is simply "out of range".
pub(crate) fn to_usize(x: u64) -> Option<usize> {
    usize::try_from(x).ok()
}

/// The NUL-terminated string starting at `off` in `table`, without its NUL.
/// `None` if `off` is outside the table or no NUL follows inside it.
pub(crate) fn cstr_at(table: &[u8], off: usize) -> Option<&[u8]> {
    let rest = table.get(off..)?;
    let end = rest.iter().position(|&c| c == 0)?;
    rest.get(..end)
}
