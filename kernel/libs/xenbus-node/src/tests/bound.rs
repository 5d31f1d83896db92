//! The bounded read queue (a deviation: Linux's is unbounded).

use super::*;
use crate::{Mailbox, MAILBOX_EVENT_LIMIT, MAX_IN_FLIGHT, QUEUE_LIMIT};
use kcore::budget::Charge;
use xs_client::{EventPush, Reply};

/// An open with a watch on data/f whose events are 16 + 7 + 1 + 1 + 1 = 26 bytes.
fn watched() -> Open {
    let mut o = Open::new(&Xenstored::default());
    o.send(&msg(WATCH, 1, 0, &pt(b"data/f", b"t")));
    o.read_all();
    o
}

fn fire(o: &mut Open, times: usize) {
    for i in 0..times {
        o.xs.write("/local/domain/1/data/f", format!("{i}").as_bytes());
        o.poll(); // drain, as the kernel would on each wake-up
    }
}

#[test]
fn identical_events_over_the_bound_are_coalesced_and_counted() {
    let mut o = watched();
    let ev = event(b"data/f", b"t").len();
    let fit = QUEUE_LIMIT / ev;
    fire(&mut o, fit + 10);
    assert_eq!(o.file.queued_bytes(), fit * ev);
    let st = o.file.stats();
    assert_eq!((st.events_coalesced, st.events_dropped), (10, 0));
    assert!(!o.file.take_first_drop());
    // Everything queued is whole events.
    let m = o.msgs();
    assert_eq!(m.len(), fit);
    assert!(m.iter().all(|(h, p)| h.ty == EVENT && p == b"data/f\0t\0"));
}

#[test]
fn distinct_events_over_the_bound_are_dropped_counted_and_flagged_once() {
    let mut o = Open::new(&Xenstored::default());
    o.send(&msg(WATCH, 1, 0, &pt(b"data", b"t")));
    o.read_all();
    let mut i = 0;
    while o.file.stats().events_dropped == 0 {
        o.xs.write(&format!("/local/domain/1/data/k{i:05}"), b"v");
        o.poll();
        i += 1;
    }
    assert!(o.file.queued_bytes() <= QUEUE_LIMIT);
    let before = o.file.stats();
    for j in 0..7 {
        o.xs.write(&format!("/local/domain/1/data/z{j:05}"), b"v");
        o.poll();
    }
    let st = o.file.stats();
    assert_eq!(st.events_dropped - before.events_dropped, 7);
    assert!(o.file.take_first_drop());
    assert!(!o.file.take_first_drop(), "flagged once");
    // A partly read front event does not absorb a new identical one.
    let first = o.read(3).unwrap();
    assert_eq!(first.len(), 3);
}

#[test]
fn requests_at_the_bound_fail_with_enobufs_and_are_discarded() {
    let mut o = watched();
    o.send(&msg(WRITE, 2, 0, &pv("data/g", &[b'v'; 1993])));
    o.read_all();
    let ev = event(b"data/f", b"t").len();
    // Fill to just under QUEUE_LIMIT with events, then over it with a reply.
    fire(&mut o, QUEUE_LIMIT / ev);
    assert!(o.file.queued_bytes() < QUEUE_LIMIT);
    o.send(&msg(READ, 3, 0, &p0("data/g")));
    o.poll();
    assert!(o.file.queued_bytes() >= QUEUE_LIMIT);
    let sent = o.xs.submitted().len();
    // A whole request, and one completed by a second write: both refused.
    assert_eq!(o.write(&msg(READ, 4, 0, &p0("data"))), Err(Errno::ENOBUFS));
    let m = msg(WATCH, 5, 0, &pt(b"data/x", b"t"));
    o.send(&m[..10]);
    assert_eq!(o.write(&m[10..]), Err(Errno::ENOBUFS));
    assert_eq!(o.file.buffered_len(), 0);
    // Locally answered requests too.
    assert_eq!(o.write(&msg(END, 6, 0, b"T\0")), Err(Errno::ENOBUFS));
    assert_eq!(o.xs.submitted().len(), sent);
    assert_eq!(o.file.watch_count(), 1);
    // Reading below the bound makes requests work again.
    o.read(4096).unwrap();
    o.send(&msg(READ, 7, 0, &p0("data")));
    assert!(o.read_all().ends_with(&msg(READ, 7, 0, b"")));
}

#[test]
fn replies_to_forwarded_requests_are_always_queued() {
    let mut o = watched();
    o.xs.hold(true);
    for i in 0..20 {
        o.send(&msg(READ, 100 + i, 0, &p0("data/f")));
    }
    let ev = event(b"data/f", b"t").len();
    fire(&mut o, QUEUE_LIMIT / ev + 5);
    o.xs.release_all();
    o.poll();
    assert!(o.file.queued_bytes() > QUEUE_LIMIT);
    let replies = o.msgs().into_iter().filter(|m| m.0.req_id >= 100).count();
    assert_eq!(replies, 20);
}

#[test]
fn in_flight_limit() {
    let mut o = Open::new(&Xenstored::default());
    o.xs.hold(true);
    for i in 0..MAX_IN_FLIGHT as u32 {
        o.send(&msg(READ, i, 0, &p0("data")));
    }
    assert_eq!(o.write(&msg(READ, 999, 0, &p0("data"))), Err(Errno::ENOBUFS));
    assert_eq!(o.file.in_flight(), MAX_IN_FLIGHT);
    o.xs.hold(false);
    o.xs.release_all();
    assert_eq!(o.msgs().len(), MAX_IN_FLIGHT);
    o.send(&msg(READ, 1000, 0, &p0("data")));
    assert_eq!(o.msgs().len(), 1, "the request after the release was answered");
}

#[test]
fn mailbox_bounds_events_but_never_replies() {
    let mut mb = Mailbox::new(MAILBOX_EVENT_LIMIT);
    let mut pushed = 0;
    let mut i = 0u32;
    loop {
        let path = format!("data/f{i}").into_bytes();
        i += 1;
        if mb.push_event(1, path, Ok(Charge::none())) != EventPush::Queued {
            break;
        }
        pushed += 1;
    }
    assert!(pushed > 0 && pushed <= MAILBOX_EVENT_LIMIT);
    assert_eq!(mb.stats().dropped, 1);
    assert_eq!(mb.push_event(1, b"data/f0".to_vec(), Ok(Charge::none())), EventPush::Coalesced);
    mb.expect_reply().unwrap();
    mb.push_reply(1, Reply::from_wire(msg(READ, 1, 0, b"")).unwrap());
    assert_eq!(mb.len(), pushed + 1);
    // Popping frees room.
    mb.pop();
    assert_eq!(mb.push_event(1, b"data/g".to_vec(), Ok(Charge::none())), EventPush::Queued);
    // The file drains everything (its watch 1 is unknown: events dropped).
    let mut f = crate::XenbusFile::new();
    f.drain(&mut mb);
    assert!(mb.is_empty());
}
