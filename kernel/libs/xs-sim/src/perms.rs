//! Node permissions (`XS_GET_PERMS` / `XS_SET_PERMS`), as C xenstored 4.17
//! stores and checks them.
//!
//! A node's permission list is never empty. Its first entry names the
//! *owner* and the access of every domain not listed; the further entries
//! give listed domains their access. The owner and privileged connections
//! (dom0, the toolstack) may do anything (`perm_for_conn`).

use xs_wire::XsErrno;

/// No access (`XS_PERM_NONE`).
pub const NONE: u8 = 0x00;
/// Read access (`XS_PERM_READ`).
pub const READ: u8 = 0x01;
/// Write access (`XS_PERM_WRITE`).
pub const WRITE: u8 = 0x02;
/// Owner (`XS_PERM_OWNER`): only ever granted, never stored.
pub const OWNER: u8 = 0x08;

/// One entry of a permission list.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Perm {
    /// [`NONE`], [`READ`], [`WRITE`] or both.
    pub bits: u8,
    /// The domain.
    pub id: u32,
}

/// Who is asking: a domain, privileged (dom0, the toolstack) or not.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Who {
    /// The domain id.
    pub domid: u32,
    /// Privileged connections bypass permissions and quotas.
    pub privileged: bool,
}

impl Who {
    /// The toolstack (dom0, privileged).
    pub const TOOLSTACK: Who = Who { domid: 0, privileged: true };

    /// An unprivileged domain.
    pub fn domain(domid: u32) -> Who {
        Who { domid, privileged: false }
    }
}

/// The access `who` has to a node with permissions `perms`
/// (`perm_for_conn`): everything for privileged connections and the owner;
/// else the first entry naming the domain; else the owner entry's bits.
pub fn perm_for(who: Who, perms: &[Perm]) -> u8 {
    let Some(owner) = perms.first() else { return NONE };
    if who.privileged || owner.id == who.domid {
        return READ | WRITE | OWNER;
    }
    let entry = perms.iter().skip(1).find(|p| p.id == who.domid).unwrap_or(owner);
    entry.bits & (READ | WRITE | OWNER)
}

/// Parses permission strings (`xs_strings_to_perms`): a letter `n`, `r`, `w`
/// or `b` followed by a domain id in C `strtol(.., 0)` syntax (decimal,
/// `0x` hex, `0` octal, optional sign and leading white space). `EINVAL`
/// for anything else.
pub fn parse(strings: &[&[u8]]) -> Result<Vec<Perm>, XsErrno> {
    strings
        .iter()
        .map(|s| {
            let (&letter, id) = s.split_first().ok_or(XsErrno::EINVAL)?;
            let bits = match letter {
                b'n' => NONE,
                b'r' => READ,
                b'w' => WRITE,
                b'b' => READ | WRITE,
                _ => return Err(XsErrno::EINVAL),
            };
            let id = strtol0(id).ok_or(XsErrno::EINVAL)?;
            Ok(Perm { bits, id })
        })
        .collect()
}

/// Parses a space-separated list such as `"n0 r1"` (for the test controls).
pub fn parse_list(list: &str) -> Option<Vec<Perm>> {
    let words: Vec<&[u8]> = list.split_whitespace().map(str::as_bytes).collect();
    parse(&words).ok().filter(|p| !p.is_empty())
}

/// The `XS_GET_PERMS` payload: each entry as letter and id (printed as a
/// signed int, as `xs_perm_to_string` does), NUL-terminated.
pub fn format(perms: &[Perm]) -> Vec<u8> {
    let mut out = Vec::new();
    for p in perms {
        let letter = match p.bits & (READ | WRITE) {
            READ => 'r',
            WRITE => 'w',
            3 => 'b',
            _ => 'n',
        };
        out.extend_from_slice(format!("{letter}{}\0", p.id as i32).as_bytes());
    }
    out
}

/// `strtol(s, &end, 0)` with the check `*end == 0 && *s != 0`, the result
/// converted to `unsigned int` as C does (truncation).
fn strtol0(s: &[u8]) -> Option<u32> {
    if s.is_empty() {
        return None;
    }
    let mut i = s.iter().take_while(|c| matches!(c, b' ' | b'\t' | b'\n' | 0x0b | 0x0c | b'\r')).count();
    let neg = match s.get(i) {
        Some(b'-') => {
            i += 1;
            true
        }
        Some(b'+') => {
            i += 1;
            false
        }
        _ => false,
    };
    let rest = s.get(i..).unwrap_or(&[]);
    let (base, digits) = match rest {
        [b'0', b'x' | b'X', d, ..] if d.is_ascii_hexdigit() => (16, rest.get(2..).unwrap_or(&[])),
        [b'0', ..] => (8, rest),
        _ => (10, rest),
    };
    if digits.is_empty() {
        return None;
    }
    let mut v: i64 = 0;
    for &c in digits {
        let d = char::from(c).to_digit(base)?;
        v = if neg {
            v.saturating_mul(i64::from(base)).saturating_sub(i64::from(d))
        } else {
            v.saturating_mul(i64::from(base)).saturating_add(i64::from(d))
        };
    }
    Some(v as u32)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn p(bits: u8, id: u32) -> Perm {
        Perm { bits, id }
    }

    #[test]
    fn parsing_follows_strtol() {
        assert_eq!(parse(&[b"n0", b"r1", b"w2", b"b3"]), Ok(vec![p(NONE, 0), p(READ, 1), p(WRITE, 2), p(3, 3)]));
        assert_eq!(
            parse(&[b"r0x10", b"r010", b"r+7", b"r 9", b"r-1"]).unwrap().iter().map(|p| p.id).collect::<Vec<_>>(),
            [16, 8, 7, 9, u32::MAX]
        );
        for bad in [&b"r"[..], b"", b"x1", b"r1a", b"r0x", b"r08", b"R1"] {
            assert_eq!(parse(&[bad]), Err(XsErrno::EINVAL), "{:?}", String::from_utf8_lossy(bad));
        }
    }

    #[test]
    fn formatting_prints_signed_ids() {
        assert_eq!(format(&[p(NONE, 0), p(READ, 1), p(3, u32::MAX)]), b"n0\0r1\0b-1\0");
    }

    #[test]
    fn owner_and_privileged_get_everything_others_their_entry() {
        let perms = [p(NONE, 1), p(READ, 2), p(WRITE, 3)];
        assert_eq!(perm_for(Who::domain(1), &perms), READ | WRITE | OWNER);
        assert_eq!(perm_for(Who::TOOLSTACK, &perms), READ | WRITE | OWNER);
        assert_eq!(perm_for(Who::domain(2), &perms), READ);
        assert_eq!(perm_for(Who::domain(3), &perms), WRITE);
        assert_eq!(perm_for(Who::domain(4), &perms), NONE);
        assert_eq!(perm_for(Who::domain(4), &[p(READ, 0)]), READ);
    }
}
