//! Host tests of the model and its two front ends. Expected answers are C
//! xenstored 4.17's (`tools/xenstore` of RELEASE-4.17.7, and the measured
//! facts in docs/reference/xenbus-linux-observed.md and the README).

mod model;
mod node;
mod paths;
mod ring;
mod transactions;
mod watches;

use xs_wire::{MsgType, XsErrno};

use crate::model::{ConnId, Model};
use crate::perms::Who;

/// A daemon with domain `domid`'s home and a connection for it.
fn domain(domid: u32) -> (Model, ConnId) {
    let mut m = Model::new();
    m.add_domain(domid);
    let c = m.connect(Who::domain(domid));
    (m, c)
}

/// The reply to one request outside any transaction.
fn req(m: &mut Model, c: ConnId, ty: MsgType, payload: &[u8]) -> Result<Vec<u8>, XsErrno> {
    req_tx(m, c, ty, 0, payload)
}

fn req_tx(m: &mut Model, c: ConnId, ty: MsgType, tx: u32, payload: &[u8]) -> Result<Vec<u8>, XsErrno> {
    m.request(c, ty.0, tx, payload).result().map(<[u8]>::to_vec)
}

/// `s\0`
fn p0(s: &str) -> Vec<u8> {
    format!("{s}\0").into_bytes()
}

/// `path\0value`
fn pv(path: &str, value: &[u8]) -> Vec<u8> {
    let mut p = p0(path);
    p.extend_from_slice(value);
    p
}

/// A successful reply with an empty payload.
const EMPTY: Result<Vec<u8>, XsErrno> = Ok(Vec::new());

fn ok() -> Result<Vec<u8>, XsErrno> {
    Ok(b"OK\0".to_vec())
}

fn err(e: XsErrno) -> Result<Vec<u8>, XsErrno> {
    Err(e)
}

/// Starts a transaction; returns its id.
fn start(m: &mut Model, c: ConnId) -> u32 {
    let r = req(m, c, MsgType::TRANSACTION_START, b"\0").expect("START");
    std::str::from_utf8(&r[..r.len() - 1]).unwrap().parse().unwrap()
}
