//! Replies a real xenstored would not send, injected by hand: the node must
//! stay well-behaved whatever comes up from below.

use super::*;
use crate::{Backend, Inbox, XenbusFile};
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

fn read_all(f: &mut XenbusFile, inbox: &mut Inbox) -> Vec<u8> {
    let mut buf = vec![0u8; 1 << 16];
    let n = f.read(inbox, &mut buf).unwrap_or(0);
    buf.truncate(n);
    buf
}

#[test]
fn odd_start_replies_are_queued_but_not_recorded() {
    let mut f = XenbusFile::new();
    let mut b = Script::default();
    let mut inbox = Inbox::new();
    for (i, payload) in [&b"abc\0"[..], b"", b"0\0", b"99999999999\0", b"-1\0"].into_iter().enumerate() {
        f.write(&mut Inbox::new(), &mut b, &msg(START, i as u32, 0, b"\0")).unwrap();
        let cookie = b.submitted.last().unwrap().0;
        inbox.push_reply(cookie, msg(START, 0xAAAA, 0, payload));
        assert_eq!(read_all(&mut f, &mut inbox), msg(START, i as u32, 0, payload));
    }
    assert_eq!(f.transaction_ids().count(), 0);
    // A START answered with another type that is not XS_ERROR still records.
    f.write(&mut inbox, &mut b, &msg(START, 9, 0, b"\0")).unwrap();
    let cookie = b.submitted.last().unwrap().0;
    inbox.push_reply(cookie, msg(READ, 0, 0, b"42\0"));
    read_all(&mut f, &mut inbox);
    assert_eq!(f.transaction_ids().collect::<Vec<_>>(), [42]);
    // A duplicate id is recorded once.
    f.write(&mut inbox, &mut b, &msg(START, 10, 0, b"\0")).unwrap();
    let cookie = b.submitted.last().unwrap().0;
    inbox.push_reply(cookie, msg(START, 0, 0, b"42\0"));
    read_all(&mut f, &mut inbox);
    assert_eq!(f.transaction_ids().collect::<Vec<_>>(), [42]);
}

#[test]
fn malformed_replies_become_eio_and_unknown_cookies_are_dropped() {
    let mut f = XenbusFile::new();
    let mut b = Script::default();
    let mut inbox = Inbox::new();
    let bad: [Vec<u8>; 5] = [
        vec![],
        vec![1, 2, 3],
        header(READ, 0, 0, 5),                              // says 5, has 0
        [header(READ, 0, 0, 1), vec![1, 2]].concat(),       // says 1, has 2
        [header(READ, 0, 0, 4097), vec![0; 4097]].concat(), // over PAYLOAD_MAX
    ];
    for (i, m) in bad.into_iter().enumerate() {
        f.write(&mut inbox, &mut b, &msg(READ, i as u32, 0x0, b"x\0")).unwrap();
        let cookie = b.submitted.last().unwrap().0;
        inbox.push_reply(cookie, m);
        assert_eq!(read_all(&mut f, &mut inbox), err_reply(i as u32, 0, "EIO"), "case {i}");
    }
    inbox.push_reply(0xFFFF_FFFF_FFFF, msg(READ, 0, 0, b"stray"));
    inbox.push_event(0xFFFF_FFFF_FFFE, b"data".to_vec());
    assert_eq!(f.poll(&mut inbox), 0);
    assert_eq!(f.dropped_replies(), 1);
    // A second reply for an already answered cookie is dropped too.
    f.write(&mut inbox, &mut b, &msg(READ, 1, 0, b"x\0")).unwrap();
    let cookie = b.submitted.last().unwrap().0;
    inbox.push_reply(cookie, msg(READ, 0, 0, b"a"));
    inbox.push_reply(cookie, msg(READ, 0, 0, b"b"));
    assert_eq!(read_all(&mut f, &mut inbox), msg(READ, 1, 0, b"a"));
    assert_eq!(f.dropped_replies(), 2);
}

#[test]
fn end_reply_of_any_type_forgets_the_transaction() {
    let mut f = XenbusFile::new();
    let mut b = Script::default();
    let mut inbox = Inbox::new();
    for (i, reply) in [msg(END, 0, 0, b"OK\0"), err_reply(0, 0, "EAGAIN"), vec![1]].into_iter().enumerate() {
        f.write(&mut inbox, &mut b, &msg(START, 1, 0, b"\0")).unwrap();
        let c = b.submitted.last().unwrap().0;
        inbox.push_reply(c, msg(START, 0, 0, b"5\0"));
        read_all(&mut f, &mut inbox);
        assert_eq!(f.transaction_ids().collect::<Vec<_>>(), [5]);
        f.write(&mut inbox, &mut b, &msg(END, 2, 5, b"T\0")).unwrap();
        let c = b.submitted.last().unwrap().0;
        inbox.push_reply(c, reply);
        read_all(&mut f, &mut inbox);
        assert_eq!(f.transaction_ids().count(), 0, "case {i}");
    }
}

#[test]
fn close_abandons_every_cookie_in_flight() {
    let mut f = XenbusFile::new();
    let mut b = Script::default();
    let mut inbox = Inbox::new();
    f.write(&mut inbox, &mut b, &msg(START, 1, 0, b"\0")).unwrap();
    f.write(&mut inbox, &mut b, &msg(READ, 2, 0, b"a\0")).unwrap();
    let cookies: Vec<u64> = b.submitted.iter().map(|s| s.0).collect();
    // The START reply arrives between abandon and the final inbox take.
    let start_cookie = cookies[0];
    f.close(&mut b, || {
        let mut late = Inbox::new();
        late.push_reply(start_cookie, msg(START, 0, 0, b"8\0"));
        late
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
    let mut inbox = Inbox::new();
    assert_eq!(f.write(&mut inbox, &mut b, &msg(WATCH, 1, 0, &pt(b"a", b"t"))), Err(Errno::EACCES));
    assert_eq!(f.poll(&mut inbox), 0);
    assert_eq!(f.watch_count(), 0);
}

#[test]
fn cookies_and_watch_ids_are_unique_across_opens() {
    let mut seen = std::collections::HashSet::new();
    let mut b = Script::default();
    for _ in 0..10 {
        let mut f = XenbusFile::new();
        for i in 0..10 {
            f.write(&mut Inbox::new(), &mut b, &msg(READ, i, 0, b"a\0")).unwrap();
        }
    }
    for (c, _) in &b.submitted {
        assert!(*c != 0 && seen.insert(*c));
    }
    let id = crate::next_id();
    assert!(!seen.contains(&id));
}
