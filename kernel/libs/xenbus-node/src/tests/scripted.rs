//! Replies a real xenstored would not send, injected by hand: the node must
//! stay well-behaved whatever comes up from below.

use super::*;
use crate::{Backend, Mailbox, XenbusFile, MAILBOX_EVENT_LIMIT};
use kcore::budget::Charge;
use xs_client::Reply;
use xs_wire::XsErrno;

/// Records submits; the test pushes replies itself.
#[derive(Default)]
struct Script {
    submitted: Vec<(u64, Vec<u8>)>,
    abandoned: Vec<(u64, bool)>,
    aborted: Vec<u32>,
}

impl Backend for Script {
    fn submit(&mut self, cookie: u64, msg: &[u8]) -> Result<(), Errno> {
        self.submitted.push((cookie, msg.to_vec()));
        Ok(())
    }
    fn watch(&mut self, _: u64, _: &[u8]) -> Result<(), XsErrno> {
        Err(XsErrno::EACCES)
    }
    fn unwatch(&mut self, _: u64, _: &[u8]) {}
    fn abort_transaction(&mut self, tx_id: u32) {
        self.aborted.push(tx_id);
    }
    fn abandon(&mut self, cookie: u64, start: bool) {
        self.abandoned.push((cookie, start));
    }
}

fn read_all(f: &mut XenbusFile, inbox: &mut Mailbox) -> Vec<u8> {
    f.drain(inbox);
    let mut buf = vec![0u8; 1 << 16];
    let n = f.read(&mut buf).unwrap_or(0);
    buf.truncate(n);
    buf
}

fn mailbox() -> Mailbox {
    Mailbox::new(MAILBOX_EVENT_LIMIT)
}

/// Pushes well-formed wire bytes as a reply.
fn push(mb: &mut Mailbox, cookie: u64, bytes: Vec<u8>) {
    mb.push_reply(cookie, Reply::from_wire(bytes).expect("well-formed"));
}

fn write(f: &mut XenbusFile, mb: &mut Mailbox, b: &mut Script, m: &[u8]) -> Result<usize, Errno> {
    f.drain(mb);
    f.write(b, m)
}

#[test]
fn odd_start_replies_are_queued_but_not_recorded() {
    let mut f = XenbusFile::new();
    let mut b = Script::default();
    let mut inbox = mailbox();
    for (i, payload) in [&b"abc\0"[..], b"", b"0\0", b"99999999999\0", b"-1\0"].into_iter().enumerate() {
        write(&mut f, &mut mailbox(), &mut b, &msg(START, i as u32, 0, b"\0")).unwrap();
        let cookie = b.submitted.last().unwrap().0;
        push(&mut inbox, cookie, msg(START, 0xAAAA, 0, payload));
        assert_eq!(read_all(&mut f, &mut inbox), msg(START, i as u32, 0, payload));
    }
    assert_eq!(f.transaction_ids().count(), 0);
    // A START answered with another type that is not XS_ERROR still records.
    write(&mut f, &mut inbox, &mut b, &msg(START, 9, 0, b"\0")).unwrap();
    let cookie = b.submitted.last().unwrap().0;
    push(&mut inbox, cookie, msg(READ, 0, 0, b"42\0"));
    read_all(&mut f, &mut inbox);
    assert_eq!(f.transaction_ids().collect::<Vec<_>>(), [42]);
    // A duplicate id is recorded once.
    write(&mut f, &mut inbox, &mut b, &msg(START, 10, 0, b"\0")).unwrap();
    let cookie = b.submitted.last().unwrap().0;
    push(&mut inbox, cookie, msg(START, 0, 0, b"42\0"));
    read_all(&mut f, &mut inbox);
    assert_eq!(f.transaction_ids().collect::<Vec<_>>(), [42]);
}

#[test]
fn failures_become_error_replies_and_unknown_cookies_are_dropped() {
    let mut f = XenbusFile::new();
    let mut b = Script::default();
    let mut inbox = mailbox();
    for (i, e) in [XsErrno::EIO, XsErrno::ENOMEM].into_iter().enumerate() {
        write(&mut f, &mut inbox, &mut b, &msg(READ, 0x100 + i as u32, 0, b"x\0")).unwrap();
        let cookie = b.submitted.last().unwrap().0;
        inbox.push_failed(cookie, e);
        assert_eq!(read_all(&mut f, &mut inbox), err_reply(0x100 + i as u32, 0, e.name()), "case {i}");
    }
    push(&mut inbox, 0xFFFF_FFFF_FFFF, msg(READ, 0, 0, b"stray"));
    inbox.push_failed(0xFFFF_FFFF_FFFD, XsErrno::EIO);
    inbox.push_event(0xFFFF_FFFF_FFFE, b"data".to_vec(), Ok(Charge::none()));
    f.drain(&mut inbox);
    assert_eq!(f.poll(), 0);
    assert_eq!(f.stats().replies_dropped, 2);
    // A second reply for an already answered cookie is dropped too.
    write(&mut f, &mut inbox, &mut b, &msg(READ, 1, 0, b"x\0")).unwrap();
    let cookie = b.submitted.last().unwrap().0;
    push(&mut inbox, cookie, msg(READ, 0, 0, b"a"));
    push(&mut inbox, cookie, msg(READ, 0, 0, b"b"));
    assert_eq!(read_all(&mut f, &mut inbox), msg(READ, 1, 0, b"a"));
    assert_eq!(f.stats().replies_dropped, 3);
}

#[test]
fn end_reply_of_any_type_forgets_the_transaction() {
    let mut f = XenbusFile::new();
    let mut b = Script::default();
    let mut inbox = mailbox();
    for (i, reply) in [msg(END, 0, 0, b"OK\0"), err_reply(0, 0, "EAGAIN"), vec![]].into_iter().enumerate() {
        write(&mut f, &mut inbox, &mut b, &msg(START, 1, 0, b"\0")).unwrap();
        let c = b.submitted.last().unwrap().0;
        push(&mut inbox, c, msg(START, 0, 0, b"5\0"));
        read_all(&mut f, &mut inbox);
        assert_eq!(f.transaction_ids().collect::<Vec<_>>(), [5]);
        write(&mut f, &mut inbox, &mut b, &msg(END, 2, 5, b"T\0")).unwrap();
        let c = b.submitted.last().unwrap().0;
        if reply.is_empty() {
            inbox.push_failed(c, XsErrno::EIO);
        } else {
            push(&mut inbox, c, reply);
        }
        read_all(&mut f, &mut inbox);
        assert_eq!(f.transaction_ids().count(), 0, "case {i}");
    }
}

#[test]
fn close_abandons_every_cookie_in_flight() {
    let mut f = XenbusFile::new();
    let mut b = Script::default();
    let mut inbox = mailbox();
    write(&mut f, &mut inbox, &mut b, &msg(START, 1, 0, b"\0")).unwrap();
    write(&mut f, &mut inbox, &mut b, &msg(READ, 2, 0, b"a\0")).unwrap();
    let cookies: Vec<u64> = b.submitted.iter().map(|s| s.0).collect();
    // The START reply arrives between abandon and the final inbox take.
    let start_cookie = cookies[0];
    f.close(&mut b, |f| {
        let mut late = mailbox();
        push(&mut late, start_cookie, msg(START, 0, 0, b"8\0"));
        f.drain(&mut late);
    });
    let mut ab = b.abandoned.clone();
    ab.sort();
    assert_eq!(ab, vec![(cookies[0], true), (cookies[1], false)]);
    assert_eq!(b.aborted, [8]);
}

#[test]
fn watch_errors_map_to_errno() {
    let mut f = XenbusFile::new();
    let mut b = Script::default();
    let mut inbox = mailbox();
    assert_eq!(write(&mut f, &mut inbox, &mut b, &msg(WATCH, 1, 0, &pt(b"a", b"t"))), Err(Errno::EACCES));
    f.drain(&mut inbox);
    assert_eq!(f.poll(), 0);
    assert_eq!(f.watch_count(), 0);
}

#[test]
fn cookies_and_watch_ids_are_unique_across_opens() {
    let mut seen = std::collections::HashSet::new();
    let mut b = Script::default();
    for _ in 0..10 {
        let mut f = XenbusFile::new();
        for i in 0..10 {
            write(&mut f, &mut mailbox(), &mut b, &msg(READ, i, 0, b"a\0")).unwrap();
        }
    }
    for (c, _) in &b.submitted {
        assert!(*c != 0 && seen.insert(*c));
    }
    let id = crate::next_id();
    assert!(!seen.contains(&id));
}
