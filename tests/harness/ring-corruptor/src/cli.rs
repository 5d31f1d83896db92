//! The command line of `ring-corruptor`, parsed without side effects (so that
//! it is tested on the host).
//!
//! ```text
//! ring-corruptor [--frame <mfn>] <domid> show
//! ring-corruptor [--frame <mfn>] <domid> set <field> <value>
//! ring-corruptor [--frame <mfn>] <domid> add <field> <delta>
//! ring-corruptor [--frame <mfn>] <domid> inject-rsp <hex bytes...>
//! ```
//! `<field>` is one of `req_cons req_prod rsp_cons rsp_prod server_features
//! connection error` (the names of `struct xenstore_domain_interface`).
//! Numbers are decimal or `0x` hexadecimal; a `<delta>` may be negative and
//! is added with u32 wrap-around, as the ring indices wrap. `<hex bytes>` are
//! one or more tokens of hex digit pairs (`10000000 00000000`), concatenated.

use core::mem::offset_of;

use xen_sys::xenstore_domain_interface as Interface;

/// The usage text printed on a command-line error.
pub const USAGE: &str = "usage: ring-corruptor [--frame <mfn>] <domid> <command>
commands:
  show                        print the ring's indices and flags on one line
  set <field> <value>         write <value> into <field>
  add <field> <delta>         add <delta> (may be negative; u32 wrap-around) to <field>
  inject-rsp <hex bytes...>   copy the bytes into the rsp ring at rsp_prod, then advance rsp_prod
fields: req_cons req_prod rsp_cons rsp_prod server_features connection error
The ring's frame is read with `xenstore-read /local/domain/<domid>/store/ring-ref`
unless --frame gives it. dom0 (domid 0) is refused.";

/// First domain id Xen reserves for special meanings (`DOMID_FIRST_RESERVED`
/// in xen/include/public/xen.h): `DOMID_SELF`, `DOMID_IO`, ... are above it.
pub const DOMID_FIRST_RESERVED: u32 = 0x7ff0;

/// The size of each of the two rings (`XENSTORE_RING_SIZE`).
pub const RING_SIZE: u32 = xen_sys::XENSTORE_RING_SIZE;

/// A 32-bit field of the shared page after the two rings.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Field {
    /// `req_cons`: how far the server (xenstored) has read requests.
    ReqCons,
    /// `req_prod`: how far the guest has written requests.
    ReqProd,
    /// `rsp_cons`: how far the guest has read replies.
    RspCons,
    /// `rsp_prod`: how far the server has written replies.
    RspProd,
    /// `server_features`: the server's feature bits.
    ServerFeatures,
    /// `connection`: the reconnection handshake's state.
    Connection,
    /// `error`: the server's error code for the connection.
    Error,
}

impl Field {
    /// Every field, in the page's order.
    pub const ALL: [Field; 7] = [
        Field::ReqCons,
        Field::ReqProd,
        Field::RspCons,
        Field::RspProd,
        Field::ServerFeatures,
        Field::Connection,
        Field::Error,
    ];

    /// The field's name in `struct xenstore_domain_interface`.
    pub fn name(self) -> &'static str {
        match self {
            Field::ReqCons => "req_cons",
            Field::ReqProd => "req_prod",
            Field::RspCons => "rsp_cons",
            Field::RspProd => "rsp_prod",
            Field::ServerFeatures => "server_features",
            Field::Connection => "connection",
            Field::Error => "error",
        }
    }

    /// The field's byte offset in the page, from the bindings of xs_wire.h.
    pub fn offset(self) -> usize {
        match self {
            Field::ReqCons => offset_of!(Interface, req_cons),
            Field::ReqProd => offset_of!(Interface, req_prod),
            Field::RspCons => offset_of!(Interface, rsp_cons),
            Field::RspProd => offset_of!(Interface, rsp_prod),
            Field::ServerFeatures => offset_of!(Interface, server_features),
            Field::Connection => offset_of!(Interface, connection),
            Field::Error => offset_of!(Interface, error),
        }
    }

    /// The field named `s`.
    pub fn parse(s: &str) -> Result<Field, String> {
        Field::ALL
            .into_iter()
            .find(|f| f.name() == s)
            .ok_or_else(|| format!("unknown field '{s}' (fields: {})", Field::ALL.map(Field::name).join(" ")))
    }
}

/// Byte offset of the rsp ring in the page.
pub fn rsp_ring_offset() -> usize {
    offset_of!(Interface, rsp)
}

/// What to do to the ring.
#[derive(Debug, PartialEq, Eq)]
pub enum Command {
    /// Print every field.
    Show,
    /// Write a value into a field.
    Set(Field, u32),
    /// Add a delta (already reduced modulo 2^32) to a field.
    Add(Field, u32),
    /// Copy bytes into the rsp ring at `rsp_prod` and advance `rsp_prod`.
    InjectRsp(Vec<u8>),
}

/// A parsed command line.
#[derive(Debug, PartialEq, Eq)]
pub struct Invocation {
    /// The guest whose ring is mapped; never 0.
    pub domid: u16,
    /// The ring's frame when given by `--frame`; otherwise read from xenstore.
    pub frame: Option<u64>,
    /// What to do.
    pub command: Command,
}

/// A number: decimal, or hexadecimal after `0x`.
pub fn parse_u64(s: &str) -> Result<u64, String> {
    let r = match s.strip_prefix("0x").or_else(|| s.strip_prefix("0X")) {
        Some(hex) => u64::from_str_radix(hex, 16),
        None => s.parse::<u64>(),
    };
    r.map_err(|_| format!("not a number: '{s}'"))
}

/// A 32-bit value (decimal or `0x` hex).
pub fn parse_u32(s: &str) -> Result<u32, String> {
    let v = parse_u64(s)?;
    u32::try_from(v).map_err(|_| format!("'{s}' does not fit in 32 bits"))
}

/// A delta for `add`: a 32-bit value, or its negation after `-`, as the u32
/// that adds it with wrap-around.
pub fn parse_delta(s: &str) -> Result<u32, String> {
    match s.strip_prefix('-') {
        Some(abs) => Ok(parse_u32(abs)?.wrapping_neg()),
        None => parse_u32(s.strip_prefix('+').unwrap_or(s)),
    }
}

/// A guest's domain id: a number below `DOMID_FIRST_RESERVED`, and not 0.
pub fn parse_domid(s: &str) -> Result<u16, String> {
    let v = parse_u64(s).map_err(|_| format!("not a domain id: '{s}'"))?;
    if v == 0 {
        return Err("refusing to touch dom0's own xenstore ring (domid 0)".into());
    }
    if v >= u64::from(DOMID_FIRST_RESERVED) {
        return Err(format!("{s} is not a guest's domain id (ids from {DOMID_FIRST_RESERVED:#x} are reserved)"));
    }
    u16::try_from(v).map_err(|_| format!("not a domain id: '{s}'"))
}

/// Hex digit pairs, possibly split over several tokens.
pub fn parse_hex_bytes(tokens: &[&str]) -> Result<Vec<u8>, String> {
    let digits: String = tokens.concat();
    if digits.is_empty() {
        return Err("inject-rsp needs at least one byte (hex digit pairs)".into());
    }
    if !digits.len().is_multiple_of(2) || !digits.bytes().all(|b| b.is_ascii_hexdigit()) {
        return Err(format!("not hex digit pairs: '{}'", tokens.join(" ")));
    }
    let bytes: Vec<u8> = digits
        .as_bytes()
        .chunks(2)
        .map(|pair| {
            let hi = (pair[0] as char).to_digit(16).unwrap_or(0);
            let lo = (pair[1] as char).to_digit(16).unwrap_or(0);
            (hi * 16 + lo) as u8
        })
        .collect();
    if bytes.len() > RING_SIZE as usize {
        return Err(format!("{} bytes do not fit in the {RING_SIZE}-byte rsp ring", bytes.len()));
    }
    Ok(bytes)
}

/// Parses the arguments after the program name.
pub fn parse(args: &[&str]) -> Result<Invocation, String> {
    let mut rest = args;
    let mut frame = None;
    if let [flag, value, tail @ ..] = rest {
        if *flag == "--frame" {
            frame = Some(parse_u64(value)?);
            rest = tail;
        }
    }
    let (domid, cmd) = match rest {
        [domid, cmd @ ..] if !cmd.is_empty() => (parse_domid(domid)?, cmd),
        _ => return Err("expected <domid> <command>".into()),
    };
    let command = match cmd {
        ["show"] => Command::Show,
        ["set", field, value] => Command::Set(Field::parse(field)?, parse_u32(value)?),
        ["add", field, delta] => Command::Add(Field::parse(field)?, parse_delta(delta)?),
        ["inject-rsp", bytes @ ..] => Command::InjectRsp(parse_hex_bytes(bytes)?),
        [_, ..] => return Err(format!("bad command '{}' (show, set, add, inject-rsp)", cmd.join(" "))),
        [] => return Err("expected a command".into()),
    };
    Ok(Invocation { domid, frame, command })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn offsets_are_those_of_xs_wire_h() {
        // Two 1024-byte rings, then seven u32s.
        let offs: Vec<usize> = Field::ALL.iter().map(|f| f.offset()).collect();
        assert_eq!(offs, vec![2048, 2052, 2056, 2060, 2064, 2068, 2072]);
        assert_eq!(rsp_ring_offset(), 1024);
    }

    #[test]
    fn fields_by_name() {
        for f in Field::ALL {
            assert_eq!(Field::parse(f.name()), Ok(f));
        }
        assert_eq!(
            Field::parse("rsp_prd"),
            Err("unknown field 'rsp_prd' (fields: req_cons req_prod rsp_cons rsp_prod server_features connection \
                 error)"
                .into())
        );
    }

    #[test]
    fn numbers() {
        assert_eq!(parse_u32("5000"), Ok(5000));
        assert_eq!(parse_u32("0x10000"), Ok(65536));
        assert_eq!(parse_u32("4294967295"), Ok(u32::MAX));
        assert_eq!(parse_u32("4294967296"), Err("'4294967296' does not fit in 32 bits".into()));
        assert_eq!(parse_u32("-1"), Err("not a number: '-1'".into()));
        assert_eq!(parse_u32(""), Err("not a number: ''".into()));
    }

    #[test]
    fn deltas_wrap() {
        assert_eq!(parse_delta("65536"), Ok(65536));
        assert_eq!(parse_delta("+7"), Ok(7));
        assert_eq!(parse_delta("-1"), Ok(u32::MAX));
        assert_eq!(parse_delta("-5000"), Ok(5000u32.wrapping_neg()));
        assert_eq!(10u32.wrapping_add(parse_delta("-5000").unwrap()), 10u32.wrapping_sub(5000));
        assert_eq!(parse_delta("-0x100000000"), Err("'0x100000000' does not fit in 32 bits".into()));
    }

    #[test]
    fn domids() {
        assert_eq!(parse_domid("7"), Ok(7));
        assert_eq!(parse_domid("0"), Err("refusing to touch dom0's own xenstore ring (domid 0)".into()));
        assert_eq!(parse_domid("0x0"), Err("refusing to touch dom0's own xenstore ring (domid 0)".into()));
        assert_eq!(parse_domid("32752"), Err("32752 is not a guest's domain id (ids from 0x7ff0 are reserved)".into()));
        assert_eq!(parse_domid("32751"), Ok(0x7fef));
        assert_eq!(parse_domid("dom1"), Err("not a domain id: 'dom1'".into()));
    }

    #[test]
    fn hex_bytes() {
        assert_eq!(parse_hex_bytes(&["01ff", "A0"]), Ok(vec![0x01, 0xff, 0xa0]));
        assert_eq!(parse_hex_bytes(&["0", "1"]), Ok(vec![0x01]));
        assert_eq!(parse_hex_bytes(&["abc"]), Err("not hex digit pairs: 'abc'".into()));
        assert_eq!(parse_hex_bytes(&["zz"]), Err("not hex digit pairs: 'zz'".into()));
        assert_eq!(parse_hex_bytes(&[]), Err("inject-rsp needs at least one byte (hex digit pairs)".into()));
        let big = "00".repeat(1025);
        assert_eq!(parse_hex_bytes(&[&big]), Err("1025 bytes do not fit in the 1024-byte rsp ring".into()));
        assert_eq!(parse_hex_bytes(&[&"00".repeat(1024)]).map(|b| b.len()), Ok(1024));
    }

    #[test]
    fn command_lines() {
        assert_eq!(parse(&["3", "show"]), Ok(Invocation { domid: 3, frame: None, command: Command::Show }));
        assert_eq!(
            parse(&["--frame", "0x1234", "3", "set", "rsp_prod", "65536"]),
            Ok(Invocation { domid: 3, frame: Some(0x1234), command: Command::Set(Field::RspProd, 65536) })
        );
        assert_eq!(
            parse(&["3", "add", "req_cons", "5000"]),
            Ok(Invocation { domid: 3, frame: None, command: Command::Add(Field::ReqCons, 5000) })
        );
        // A header with type 0, req_id 0, tx_id 0, len 5000 (0x1388, little-endian).
        assert_eq!(
            parse(&["3", "inject-rsp", "00000000", "00000000", "00000000", "88130000"]),
            Ok(Invocation {
                domid: 3,
                frame: None,
                command: Command::InjectRsp(vec![0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0x88, 0x13, 0, 0])
            })
        );
        assert_eq!(parse(&["0", "show"]), Err("refusing to touch dom0's own xenstore ring (domid 0)".into()));
        assert_eq!(parse(&["3"]), Err("expected <domid> <command>".into()));
        assert_eq!(parse(&[]), Err("expected <domid> <command>".into()));
        assert_eq!(parse(&["3", "show", "more"]), Err("bad command 'show more' (show, set, add, inject-rsp)".into()));
        assert_eq!(
            parse(&["3", "set", "rsp_prod"]),
            Err("bad command 'set rsp_prod' (show, set, add, inject-rsp)".into())
        );
        assert_eq!(parse(&["--frame", "x", "3", "show"]), Err("not a number: 'x'".into()));
    }
}
