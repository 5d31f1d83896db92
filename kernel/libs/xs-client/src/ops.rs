//! Request builders and reply parsers for the typed xenstore operations.
//!
//! Protocol rules implemented here (xenstore.txt "Message types"; §1.1, 1.5
//! of the xenbus node spec):
//!
//! - Paths and other strings are NUL-terminated; values (`WRITE`, `READ`
//!   reply) are raw bytes without a terminator. Strings may not contain NUL.
//! - Success replies without a specified payload carry `"OK\0"`; failures are
//!   `XS_ERROR` with the errno name.
//! - `DIRECTORY` replies `name\0name\0...`. When the list is longer than
//!   [`PAYLOAD_MAX`] xenstored answers `E2BIG`, and the caller pages through
//!   it with the optional `DIRECTORY_PART` (see [`DirectoryPager`]).
//! - Permissions are strings of one letter (`n` none, `r` read, `w` write,
//!   `b` both) followed by a decimal domain id; the first entry names the
//!   owner and the access of domains not listed.
//! - `TRANSACTION_START` sends `"\0"` (xenstored rejects empty messages) with
//!   `tx_id` 0 and gets the decimal transaction id back; `TRANSACTION_END`
//!   sends `"T\0"` to commit or `"F\0"` to abort, in the header's `tx_id`.
//!   A commit that conflicts fails with `EAGAIN`: the whole transaction must
//!   be redone ([`TransactionRetry`]).

use alloc::format;
use alloc::vec::Vec;

use xs_wire::{split_strings, MsgType, XsErrno, PAYLOAD_MAX};

pub use crate::types::Request;
use crate::types::{push_string, ClientError, Completion, Reply};

fn finish(ty: MsgType, tx_id: u32, payload: Vec<u8>) -> Result<Request, ClientError> {
    if payload.len() > PAYLOAD_MAX {
        return Err(ClientError::PayloadTooLarge { len: payload.len() });
    }
    Ok(Request { ty, tx_id, payload })
}

fn path_request(ty: MsgType, tx_id: u32, path: &[u8]) -> Result<Request, ClientError> {
    let mut p = Vec::with_capacity(path.len() + 1);
    push_string(&mut p, path)?;
    finish(ty, tx_id, p)
}

/// `XS_READ path`: the reply is the raw value ([`parse_read`]).
pub fn read(tx_id: u32, path: &[u8]) -> Result<Request, ClientError> {
    path_request(MsgType::READ, tx_id, path)
}

/// `XS_WRITE path value`: creates the node (and missing parents).
pub fn write(tx_id: u32, path: &[u8], value: &[u8]) -> Result<Request, ClientError> {
    let mut p = Vec::with_capacity(path.len() + 1 + value.len());
    push_string(&mut p, path)?;
    p.extend_from_slice(value);
    finish(MsgType::WRITE, tx_id, p)
}

/// `XS_MKDIR path`: creates the node if missing.
pub fn mkdir(tx_id: u32, path: &[u8]) -> Result<Request, ClientError> {
    path_request(MsgType::MKDIR, tx_id, path)
}

/// `XS_RM path`: removes the node and everything below it.
pub fn rm(tx_id: u32, path: &[u8]) -> Result<Request, ClientError> {
    path_request(MsgType::RM, tx_id, path)
}

/// `XS_DIRECTORY path`: the reply lists the children ([`parse_directory`]).
pub fn directory(tx_id: u32, path: &[u8]) -> Result<Request, ClientError> {
    path_request(MsgType::DIRECTORY, tx_id, path)
}

/// `XS_DIRECTORY_PART path offset`: the part of the children list that
/// starts `offset` bytes into it ([`parse_directory_part`]).
pub fn directory_part(tx_id: u32, path: &[u8], offset: u32) -> Result<Request, ClientError> {
    let mut p = Vec::with_capacity(path.len() + 12);
    push_string(&mut p, path)?;
    push_string(&mut p, format!("{offset}").as_bytes())?;
    finish(MsgType::DIRECTORY_PART, tx_id, p)
}

/// `XS_GET_PERMS path`: the reply lists permissions ([`parse_perms`]).
pub fn get_perms(tx_id: u32, path: &[u8]) -> Result<Request, ClientError> {
    path_request(MsgType::GET_PERMS, tx_id, path)
}

/// `XS_SET_PERMS path perm...`: the first entry is the owner and default.
pub fn set_perms(tx_id: u32, path: &[u8], perms: &[Perm]) -> Result<Request, ClientError> {
    if perms.is_empty() {
        return Err(ClientError::InvalidArgument);
    }
    let mut p = Vec::with_capacity(path.len() + 1 + perms.len() * 7);
    push_string(&mut p, path)?;
    for perm in perms {
        perm.encode(&mut p);
        p.push(0);
    }
    finish(MsgType::SET_PERMS, tx_id, p)
}

/// `XS_GET_DOMAIN_PATH domid`: the reply is the home path of the domain
/// ([`parse_string`]).
pub fn get_domain_path(domid: u16) -> Result<Request, ClientError> {
    let mut p = Vec::new();
    push_string(&mut p, format!("{domid}").as_bytes())?;
    finish(MsgType::GET_DOMAIN_PATH, 0, p)
}

/// `XS_TRANSACTION_START`: payload `"\0"`, `tx_id` 0; the reply carries the
/// new id ([`parse_transaction_start`]).
pub fn transaction_start() -> Request {
    Request { ty: MsgType::TRANSACTION_START, tx_id: 0, payload: alloc::vec![0] }
}

/// `XS_TRANSACTION_END`: `"T\0"` to commit, `"F\0"` to abort transaction
/// `tx_id` ([`TransactionRetry::on_end`] reads the reply).
pub fn transaction_end(tx_id: u32, commit: bool) -> Request {
    let payload = if commit { b"T\0".to_vec() } else { b"F\0".to_vec() };
    Request { ty: MsgType::TRANSACTION_END, tx_id, payload }
}

/// The reply payload of a successful request, or the error.
fn ok_payload(reply: &Reply) -> Result<&[u8], ClientError> {
    reply.result().map_err(ClientError::Xs)
}

/// Checks a reply that carries no data (`WRITE`, `MKDIR`, `RM`, `SET_PERMS`,
/// `WATCH`, `UNWATCH`, `TRANSACTION_END`): any non-error reply is success.
pub fn parse_ok(reply: &Reply) -> Result<(), ClientError> {
    ok_payload(reply).map(|_| ())
}

/// The value in an `XS_READ` reply (raw bytes, possibly empty).
pub fn parse_read(reply: &Reply) -> Result<&[u8], ClientError> {
    ok_payload(reply)
}

/// One NUL-terminated string (`GET_DOMAIN_PATH`), without the NUL. A missing
/// terminator is tolerated.
pub fn parse_string(reply: &Reply) -> Result<&[u8], ClientError> {
    let p = ok_payload(reply)?;
    Ok(p.strip_suffix(b"\0").unwrap_or(p))
}

/// What an `XS_DIRECTORY` reply says.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum DirectoryReply<'a> {
    /// The complete list of child names.
    Names(Vec<&'a [u8]>),
    /// The list does not fit in one message (`E2BIG`): page through it with
    /// a [`DirectoryPager`].
    NeedsPaging,
}

/// Parses an `XS_DIRECTORY` reply. `E2BIG` is not an error but
/// [`DirectoryReply::NeedsPaging`].
pub fn parse_directory(reply: &Reply) -> Result<DirectoryReply<'_>, ClientError> {
    match reply.result() {
        Ok(p) => Ok(DirectoryReply::Names(split_strings(p).collect())),
        Err(XsErrno::E2BIG) => Ok(DirectoryReply::NeedsPaging),
        Err(e) => Err(ClientError::Xs(e)),
    }
}

/// One `XS_DIRECTORY_PART` reply: `generation\0name\0...name\0`, plus one
/// more `\0` (an empty name) when this part ends the list.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DirectoryPart<'a> {
    /// The node's generation count; it changes whenever the node changes.
    pub generation: u64,
    /// The names in this part.
    pub names: Vec<&'a [u8]>,
    /// Bytes of the children list this part covers: add it to the offset
    /// for the next request.
    pub list_bytes: u32,
    /// This part ends the list.
    pub last: bool,
}

fn parse_decimal(s: &[u8]) -> Option<u64> {
    if s.is_empty() {
        return None;
    }
    s.iter().try_fold(0u64, |acc, &c| {
        let d = c.checked_sub(b'0').filter(|d| *d <= 9)?;
        acc.checked_mul(10)?.checked_add(u64::from(d))
    })
}

/// Parses an `XS_DIRECTORY_PART` reply.
pub fn parse_directory_part(reply: &Reply) -> Result<DirectoryPart<'_>, ClientError> {
    let p = ok_payload(reply)?;
    let gen_end = p.iter().position(|&b| b == 0).ok_or(ClientError::BadReply)?;
    let generation = p.get(..gen_end).and_then(parse_decimal).ok_or(ClientError::BadReply)?;
    let mut rest = p.get(gen_end.saturating_add(1)..).unwrap_or_default();
    let mut names = Vec::new();
    let mut list_bytes: u32 = 0;
    let mut last = false;
    while !rest.is_empty() {
        let end = rest.iter().position(|&b| b == 0).ok_or(ClientError::BadReply)?;
        if end == 0 {
            // The empty string: end of the whole list; nothing may follow.
            if rest.len() != 1 {
                return Err(ClientError::BadReply);
            }
            last = true;
            break;
        }
        names.push(rest.get(..end).unwrap_or_default());
        list_bytes = list_bytes.saturating_add(end as u32).saturating_add(1);
        rest = rest.get(end.saturating_add(1)..).unwrap_or_default();
    }
    if !last && names.is_empty() {
        // A non-final part must make progress, or the pager would loop.
        return Err(ClientError::BadReply);
    }
    Ok(DirectoryPart { generation, names, list_bytes, last })
}

/// What to do after feeding a reply to a [`DirectoryPager`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum PagerStep {
    /// Send [`DirectoryPager::next_request`] again.
    More,
    /// The complete list.
    Done(Vec<Vec<u8>>),
}

/// Pages through a long children list with `XS_DIRECTORY_PART`.
///
/// Use it when [`parse_directory`] says [`DirectoryReply::NeedsPaging`]:
///
/// ```text
/// let mut pager = DirectoryPager::new(tx_id, path);
/// loop {
///     let id = core.submit_request(&pager.next_request()?)?;
///     /* pump, wait for id */
///     match pager.on_reply(&core.take_reply(id).unwrap()?)? {
///         PagerStep::More => continue,
///         PagerStep::Done(names) => break names,
///     }
/// }
/// ```
///
/// Each request asks for the list from the byte offset reached so far. If
/// the node's generation changes between parts the list is restarted from
/// offset 0 (up to [`DirectoryPager::MAX_RESTARTS`] times, then `EAGAIN`).
/// A server without `DIRECTORY_PART` answers `ENOSYS`, returned as is.
#[derive(Clone, Debug)]
pub struct DirectoryPager {
    tx_id: u32,
    path: Vec<u8>,
    offset: u32,
    generation: Option<u64>,
    names: Vec<Vec<u8>>,
    restarts: u32,
}

impl DirectoryPager {
    /// How many times a changing node makes the pager start over before it
    /// gives up with `EAGAIN`.
    pub const MAX_RESTARTS: u32 = 8;

    /// The longest list the pager collects (names and their NULs), 1 MiB:
    /// a server that keeps sending parts past it gets `E2BIG`, not the
    /// guest's memory. (A directory of 65,536 domains, `/local/domain`,
    /// lists under 400 KiB.) The names are copied with fallible
    /// allocations: running out of memory is `ENOMEM`.
    pub const MAX_LIST_BYTES: u32 = 1 << 20;

    /// A pager for the children of `path`.
    pub fn new(tx_id: u32, path: &[u8]) -> Self {
        Self { tx_id, path: path.to_vec(), offset: 0, generation: None, names: Vec::new(), restarts: 0 }
    }

    /// The next `XS_DIRECTORY_PART` request to send.
    pub fn next_request(&self) -> Result<Request, ClientError> {
        directory_part(self.tx_id, &self.path, self.offset)
    }

    /// Takes the reply to the last [`Self::next_request`].
    pub fn on_reply(&mut self, reply: &Reply) -> Result<PagerStep, ClientError> {
        let part = parse_directory_part(reply)?;
        if self.generation.is_some_and(|g| g != part.generation) {
            // The node changed under us: start over.
            self.restarts = self.restarts.saturating_add(1);
            if self.restarts > Self::MAX_RESTARTS {
                return Err(ClientError::Xs(XsErrno::EAGAIN));
            }
            self.generation = None;
            self.offset = 0;
            self.names.clear();
            return Ok(PagerStep::More);
        }
        self.generation = Some(part.generation);
        let offset = self.offset.saturating_add(part.list_bytes);
        if offset > Self::MAX_LIST_BYTES {
            return Err(ClientError::Xs(XsErrno::E2BIG));
        }
        let no_memory = |_| ClientError::Xs(XsErrno::ENOMEM);
        self.names.try_reserve(part.names.len()).map_err(no_memory)?;
        for n in &part.names {
            let mut name = Vec::new();
            name.try_reserve_exact(n.len()).map_err(no_memory)?;
            name.extend_from_slice(n);
            self.names.push(name);
        }
        self.offset = offset;
        if part.last {
            return Ok(PagerStep::Done(core::mem::take(&mut self.names)));
        }
        Ok(PagerStep::More)
    }
}

/// The access a permission entry grants.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PermKind {
    /// `n`: no access.
    None,
    /// `r`: read.
    Read,
    /// `w`: write.
    Write,
    /// `b`: read and write.
    Both,
}

/// One permission entry, such as `b0` or `r1`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Perm {
    /// The access granted.
    pub kind: PermKind,
    /// The domain it applies to (the owner, for the first entry).
    pub domid: u16,
}

impl Perm {
    /// Parses `b0`, `r12`, ...; `None` for anything else.
    pub fn parse(s: &[u8]) -> Option<Self> {
        let (&c, num) = s.split_first()?;
        let kind = match c {
            b'n' => PermKind::None,
            b'r' => PermKind::Read,
            b'w' => PermKind::Write,
            b'b' => PermKind::Both,
            _ => return None,
        };
        let domid = u16::try_from(parse_decimal(num)?).ok()?;
        Some(Self { kind, domid })
    }

    /// Appends the textual form (without NUL) to `out`.
    pub fn encode(&self, out: &mut Vec<u8>) {
        out.push(match self.kind {
            PermKind::None => b'n',
            PermKind::Read => b'r',
            PermKind::Write => b'w',
            PermKind::Both => b'b',
        });
        out.extend_from_slice(format!("{}", self.domid).as_bytes());
    }
}

/// Parses an `XS_GET_PERMS` reply (`perm\0perm\0...`).
pub fn parse_perms(reply: &Reply) -> Result<Vec<Perm>, ClientError> {
    let perms: Option<Vec<Perm>> = split_strings(ok_payload(reply)?).map(Perm::parse).collect();
    match perms {
        Some(v) if !v.is_empty() => Ok(v),
        _ => Err(ClientError::BadReply),
    }
}

/// Parses an `XS_TRANSACTION_START` reply (`"17\0"`) into the transaction id.
pub fn parse_transaction_start(reply: &Reply) -> Result<u32, ClientError> {
    let s = parse_string(reply)?;
    let id = parse_decimal(s).and_then(|v| u32::try_from(v).ok()).ok_or(ClientError::BadReply)?;
    if id == 0 {
        // 0 means "no transaction"; xenstored never hands it out.
        return Err(ClientError::BadReply);
    }
    Ok(id)
}

/// What to do after a `TRANSACTION_END` (commit) reply.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TxDecision {
    /// The transaction committed.
    Committed,
    /// It conflicted (`EAGAIN`) or the connection was reset: start a new
    /// transaction and redo every operation in it.
    Retry,
    /// Give up with this error.
    Fail(ClientError),
}

/// Decides, attempt after attempt, whether a transaction is retried.
///
/// The kernel drives a transaction as: `TRANSACTION_START`, the operations
/// with the returned `tx_id`, then `TRANSACTION_END` with commit, and feeds
/// the result of the END request (as returned by
/// [`crate::ClientCore::take_reply`]) to [`Self::on_end`]. On
/// [`TxDecision::Retry`] it starts over from `TRANSACTION_START`. If an
/// operation inside fails, it sends END with abort and stops (or, for
/// [`ClientError::Reconnected`], retries: the transaction is gone).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct TransactionRetry {
    attempts: u32,
    max_attempts: u32,
}

impl TransactionRetry {
    /// A helper allowing `max_attempts` commits in all (at least one).
    pub fn new(max_attempts: u32) -> Self {
        Self { attempts: 0, max_attempts: max_attempts.max(1) }
    }

    /// Commit attempts made so far.
    pub fn attempts(&self) -> u32 {
        self.attempts
    }

    /// Decides from the result of a `TRANSACTION_END` request.
    pub fn on_end(&mut self, end: &Completion) -> TxDecision {
        self.attempts = self.attempts.saturating_add(1);
        let retryable = match end {
            Ok(reply) => match reply.result() {
                Ok(_) => return TxDecision::Committed,
                Err(XsErrno::EAGAIN) => ClientError::Xs(XsErrno::EAGAIN),
                Err(e) => return TxDecision::Fail(ClientError::Xs(e)),
            },
            Err(ClientError::Reconnected) => ClientError::Reconnected,
            Err(e) => return TxDecision::Fail(*e),
        };
        if self.attempts >= self.max_attempts {
            TxDecision::Fail(retryable)
        } else {
            TxDecision::Retry
        }
    }
}

impl Default for TransactionRetry {
    /// Eight attempts.
    fn default() -> Self {
        Self::new(8)
    }
}
