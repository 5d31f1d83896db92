//! The typed API the kernel uses: read, write, mkdir, rm, directory,
//! permissions, transactions. Each call sends one request (charged to the
//! kernel's own budget) and waits for its reply, at most
//! [`DEFAULT_TIMEOUT_NS`] unless the caller gives a deadline.
use alloc::string::String;
use alloc::vec::Vec;

use xs_client::ops::{self, Request, TransactionRetry, TxDecision};
use xs_client::{ClientError, Outgoing, Reply};

use super::conn::{self, Sink};
use super::reader;
use super::XsError;
use crate::sched;

/// How long a kernel request waits for its reply by default.
pub const DEFAULT_TIMEOUT_NS: u64 = 30_000_000_000;

/// Sends `req` and waits for the raw reply (an `XS_ERROR` reply is returned
/// as a reply, not as an error), at most until `deadline` (Xen system ns).
///
/// # Yields
pub fn request_raw(req: &Request, deadline: u64) -> Result<Reply, XsError> {
    let id = conn::submit(Outgoing::Request(req), Sink::Waiter(sched::current()), super::kernel_budget())?;
    reader::wait_reply(id, deadline)
}

/// Sends `req`, waits for its reply and turns `XS_ERROR` into an error.
///
/// # Yields
pub fn request(req: &Request) -> Result<Reply, XsError> {
    // A 30 s timeout does not need the TSC read of a precise clock.
    request_raw(req, crate::time::coarse_deadline_after(DEFAULT_TIMEOUT_NS)).and_then(checked)
}

/// A reply, or the error its `XS_ERROR` stands for.
fn checked(r: Reply) -> Result<Reply, XsError> {
    match r.result() {
        Ok(_) => Ok(r),
        Err(e) => Err(XsError::Xs(e)),
    }
}

/// Sends every request of `reqs` before waiting for any reply, and returns
/// their outcomes in order (an `XS_ERROR` reply becomes an error, as in
/// [`request`]; a request that could not be built keeps its error and is
/// not sent). xenstored answers one connection's requests in ring order,
/// so a batch costs about one round trip where one [`request`] after
/// another costs one each (what boot does with its identity reads and
/// feature writes). Requests past the client's in-flight quota wait in its
/// queue and go out as replies free it.
///
/// # Yields
pub fn request_all(reqs: Vec<Result<Request, ClientError>>) -> Vec<Result<Reply, XsError>> {
    let me = sched::current();
    let ids: Vec<Result<_, XsError>> = reqs
        .iter()
        .map(|r| conn::submit(Outgoing::Request(r.as_ref().map_err(|e| *e)?), Sink::Waiter(me), super::kernel_budget()))
        .collect();
    let deadline = crate::time::coarse_deadline_after(DEFAULT_TIMEOUT_NS);
    ids.into_iter().map(|id| reader::wait_reply(id?, deadline).and_then(checked)).collect()
}

/// Reads several values in one batch ([`request_all`]); each as UTF-8 text,
/// or the error that path got.
///
/// # Yields
pub fn read_strings(tx: u32, paths: &[&str]) -> Vec<Result<String, XsError>> {
    request_all(paths.iter().map(|p| ops::read(tx, p.as_bytes())).collect())
        .into_iter()
        .map(|r| {
            let v = ops::parse_read(&r?)?.to_vec();
            String::from_utf8(v).map_err(|_| XsError::Invalid)
        })
        .collect()
}

/// Sends `req` and forgets it (its reply is dropped when it comes).
pub fn send_and_forget(req: &Request) -> Result<(), XsError> {
    conn::submit(Outgoing::Request(req), Sink::Discard, super::kernel_budget()).map(|_| ())
}

/// Reads a value.
pub fn read(tx: u32, path: &str) -> Result<Vec<u8>, XsError> {
    let r = request(&ops::read(tx, path.as_bytes())?)?;
    Ok(ops::parse_read(&r)?.to_vec())
}

/// Reads a value as UTF-8 text.
pub fn read_string(tx: u32, path: &str) -> Result<String, XsError> {
    read(tx, path).and_then(|v| String::from_utf8(v).map_err(|_| XsError::Invalid))
}

/// Writes a value.
pub fn write(tx: u32, path: &str, value: &[u8]) -> Result<(), XsError> {
    request(&ops::write(tx, path.as_bytes(), value)?).map(|_| ())
}

/// Creates a directory node.
pub fn mkdir(tx: u32, path: &str) -> Result<(), XsError> {
    request(&ops::mkdir(tx, path.as_bytes())?).map(|_| ())
}

/// Removes a node and its children.
pub fn rm(tx: u32, path: &str) -> Result<(), XsError> {
    request(&ops::rm(tx, path.as_bytes())?).map(|_| ())
}

/// Lists the children of a node, paging with `XS_DIRECTORY_PART` when the
/// list does not fit one reply.
pub fn directory(tx: u32, path: &str) -> Result<Vec<String>, XsError> {
    let deadline = || crate::time::deadline_after(DEFAULT_TIMEOUT_NS);
    let r = request_raw(&ops::directory(tx, path.as_bytes())?, deadline())?;
    let names: Vec<Vec<u8>> = match ops::parse_directory(&r)? {
        ops::DirectoryReply::Names(n) => n.into_iter().map(|x| x.to_vec()).collect(),
        ops::DirectoryReply::NeedsPaging => {
            let mut pager = ops::DirectoryPager::new(tx, path.as_bytes());
            loop {
                let r = request_raw(&pager.next_request()?, deadline())?;
                match pager.on_reply(&r)? {
                    ops::PagerStep::More => continue,
                    ops::PagerStep::Done(n) => break n,
                }
            }
        }
    };
    Ok(names.into_iter().map(|n| String::from_utf8_lossy(&n).into_owned()).collect())
}

/// Permissions of a node.
pub fn get_perms(tx: u32, path: &str) -> Result<Vec<ops::Perm>, XsError> {
    let r = request(&ops::get_perms(tx, path.as_bytes())?)?;
    Ok(ops::parse_perms(&r)?)
}

/// Sets the permissions of a node.
pub fn set_perms(tx: u32, path: &str, perms: &[ops::Perm]) -> Result<(), XsError> {
    request(&ops::set_perms(tx, path.as_bytes(), perms)?).map(|_| ())
}

/// The home path of domain `domid` (`/local/domain/<domid>`).
pub fn get_domain_path(domid: u16) -> Result<String, XsError> {
    let r = request(&ops::get_domain_path(domid)?)?;
    Ok(String::from_utf8_lossy(ops::parse_string(&r)?).into_owned())
}

/// Starts a transaction; returns its id.
pub fn transaction_start() -> Result<u32, XsError> {
    let r = request(&ops::transaction_start())?;
    Ok(ops::parse_transaction_start(&r)?)
}

/// Ends a transaction: commit (`true`) or abort.
pub fn transaction_end(tx: u32, commit: bool) -> Result<(), XsError> {
    request(&ops::transaction_end(tx, commit)).map(|_| ())
}

/// Runs `f` in a transaction and commits, starting over while the commit
/// conflicts (`EAGAIN`) or the ring was reset, at most `max_attempts` times
/// (the decision is `xs_client::ops::TransactionRetry`'s). A transaction
/// that a suspend interrupted (the [`super::generation`] moved while it was
/// open) is started over the same way, whatever its operations answered:
/// after a restore xenstored no longer knows it. Returns `f`'s value and
/// the number of attempts.
pub fn transaction<T>(max_attempts: u32, mut f: impl FnMut(u32) -> Result<T, XsError>) -> Result<(T, u32), XsError> {
    let mut retry = TransactionRetry::new(max_attempts);
    loop {
        let generation = super::generation();
        let tx = transaction_start()?;
        let interrupted = || super::generation() != generation;
        let v = match f(tx) {
            Ok(v) => v,
            Err(e) => {
                let _ = transaction_end(tx, false);
                if interrupted() {
                    if retry.on_end(&Err(ClientError::Reconnected)) == TxDecision::Retry {
                        continue;
                    }
                    return Err(XsError::Reconnected);
                }
                return Err(e);
            }
        };
        let end = match request_raw(&ops::transaction_end(tx, true), crate::time::deadline_after(DEFAULT_TIMEOUT_NS)) {
            // A commit that xenstored refused after a suspend took the
            // transaction away: start over (an OK is a real commit).
            Ok(r) if r.result().is_err() && interrupted() => Err(ClientError::Reconnected),
            Ok(r) => Ok(r),
            Err(XsError::Reconnected) => Err(ClientError::Reconnected),
            Err(_) if interrupted() => Err(ClientError::Reconnected),
            Err(e) => return Err(e),
        };
        match retry.on_end(&end) {
            TxDecision::Committed => return Ok((v, retry.attempts())),
            TxDecision::Retry => continue,
            TxDecision::Fail(e) => return Err(e.into()),
        }
    }
}
