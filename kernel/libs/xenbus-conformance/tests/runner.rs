//! The runner against a scripted fake FileApi: observations, the read
//! guard, variable binding and canonicalisation, unordered matching.

use std::collections::{BTreeMap, VecDeque};

use xenbus_conformance::{FileApi, RunConfig, Runner};

fn m(ty: u32, req: u32, tx: u32, payload: &[u8]) -> Vec<u8> {
    let mut v = Vec::new();
    for x in [ty, req, tx, payload.len() as u32] {
        v.extend_from_slice(&x.to_le_bytes());
    }
    v.extend_from_slice(payload);
    v
}

/// Each write pops the next scripted answer (bytes queued on that fd, or an
/// errno).
#[derive(Default)]
struct Fake {
    queued: BTreeMap<i32, VecDeque<u8>>,
    answers: VecDeque<Result<Vec<u8>, i32>>,
    reads: usize,
    clock: u64,
    next: i32,
}

impl FileApi for Fake {
    fn open(&mut self, path: &str, _flags: u32) -> Result<i32, i32> {
        if path != "/dev/xen/xenbus" {
            return Err(2);
        }
        self.next += 1;
        self.queued.insert(self.next, VecDeque::new());
        Ok(self.next)
    }
    fn read(&mut self, fd: i32, buf: &mut [u8]) -> Result<usize, i32> {
        self.reads += 1;
        let q = self.queued.get_mut(&fd).ok_or(9)?;
        if q.is_empty() {
            return Err(11);
        }
        let n = buf.len().min(q.len());
        for b in buf.iter_mut().take(n) {
            *b = q.pop_front().unwrap();
        }
        Ok(n)
    }
    fn write(&mut self, fd: i32, buf: &[u8]) -> Result<usize, i32> {
        match self.answers.pop_front() {
            Some(Ok(bytes)) => {
                self.queued.get_mut(&fd).ok_or(9)?.extend(bytes);
                Ok(buf.len())
            }
            Some(Err(e)) => Err(e),
            None => Ok(buf.len()),
        }
    }
    fn poll(&mut self, fds: &mut [(i32, u16, u16)], timeout_ms: i32) -> Result<usize, i32> {
        let mut n = 0;
        for (fd, ev, rev) in fds.iter_mut() {
            let ready = self.queued.get(fd).is_some_and(|q| !q.is_empty());
            *rev = if ready { 0x41 & *ev } else { 0 };
            n += usize::from(*rev != 0);
        }
        if n == 0 {
            self.clock += timeout_ms.max(0) as u64;
        }
        Ok(n)
    }
    fn close(&mut self, fd: i32) -> Result<(), i32> {
        self.queued.remove(&fd).map(drop).ok_or(9)
    }
    fn set_nonblock(&mut self, _fd: i32, _on: bool) -> Result<(), i32> {
        Ok(())
    }
    fn sleep_ms(&mut self, ms: u64) {
        self.clock += ms;
    }
    fn now_ms(&mut self) -> u64 {
        self.clock
    }
}

fn cfg() -> RunConfig {
    let mut c = RunConfig::new("ours", "/dev/xen/xenbus");
    c.clean = false;
    c
}

fn run(fake: &mut Fake, text: &str) -> (String, usize) {
    let o = Runner::new(cfg()).run_text(fake, "t", text);
    (o.transcript, o.failures)
}

#[test]
fn guard_records_timeout_without_reading() {
    let mut f = Fake::default();
    let (t, fails) = run(&mut f, "open A\nread A 4096\nexpect timeout\nread A 0\nread A msg(READ, 1, 0)\n");
    assert!(t.contains("L2 read A 4096 -> TIMEOUT\n"), "{t}");
    assert!(t.contains("L4 read A 0 -> TIMEOUT\n"), "{t}");
    assert!(t.contains("L5 read A msg(READ, 1, 0) -> TIMEOUT\n"), "{t}");
    assert_eq!(f.reads, 0, "a read that would block was called");
    assert_eq!(fails, 1, "only the message read counts as failed");
    assert!(t.ends_with("end failed=1\n"));
}

#[test]
fn observations_and_errnos() {
    let mut f = Fake { answers: VecDeque::from([Err(22), Ok(m(2, 9, 0, b"hello"))]), ..Fake::default() };
    let (t, fails) = run(
        &mut f,
        "open X path=/nope\nexpect errno ENOENT\nopen A\nwrite A \"x\"\nexpect errno EINVAL\nwrite A msg(READ, 9, 0, \"p\\0\")\nexpect 18\npoll A events=IN|OUT timeout=10\nexpect revents IN\nread A 4096\nexpect 21\nexpect bytes msg(READ, 9, 0, \"hello\")\nexpect msg(READ, 9, 0, \"hello\")\nread A 16 nonblock\nexpect errno EAGAIN\nclose A\n",
    );
    assert_eq!(fails, 0, "{t}");
    let want = "scenario t\n\
L1 open X path=/nope -> errno ENOENT\n\
L2 expect errno ENOENT -> ok\n\
L3 open A -> ok\n\
L4 write A \"x\" -> errno EINVAL\n\
L5 expect errno EINVAL -> ok\n\
L6 write A msg(READ, 9, 0, \"p\\0\") -> 18\n\
L7 expect 18 -> ok\n\
L8 poll A events=IN|OUT timeout=10 -> 1: A=IN\n\
L9 expect revents IN -> ok\n\
L10 read A 4096 -> 21: 02000000 09000000 00000000 05000000 68656c6c6f\n\
L11 expect 21 -> ok\n\
L12 expect bytes msg(READ, 9, 0, \"hello\") -> ok\n\
L13 expect msg(READ, 9, 0, \"hello\") -> ok\n\
L14 read A 16 nonblock -> errno EAGAIN\n\
L15 expect errno EAGAIN -> ok\n\
L16 close A -> ok\n\
end ok\n";
    assert_eq!(t, want);
}

#[test]
fn transaction_ids_are_canonicalised() {
    for id in [7u32, 123456] {
        let mut f = Fake::default();
        let txt = format!("{id}\0");
        f.answers = VecDeque::from([
            Ok(m(6, 1, 0, txt.as_bytes())),
            Ok([m(2, 2, id, b"v"), m(16, 3, id, b"ENOENT\0")].concat()),
        ]);
        let (t, fails) = run(
            &mut f,
            "open A\nwrite A msg(TRANSACTION_START, 1, 0, \"\\0\")\nread A msg(TRANSACTION_START, 1, 0, $tx \"\\0\")\nwrite A msg(READ, 2, $tx, \"p\\0\")\nread A 4096\nexpect bytes msg(READ, 2, $tx, \"v\") msg(ERROR, 3, $tx, \"ENOENT\\0\")\n",
        );
        assert_eq!(fails, 0, "{t}");
        assert!(t.contains("-> 06000000 01000000 00000000 <len $tx> <$tx>00 ok\n"), "{t}");
        assert!(
            t.contains("L5 read A 4096 -> 40: 02000000 02000000 <$tx> 01000000 76 | 10000000 03000000 <$tx> 07000000 454e4f454e5400\n"),
            "{t}"
        );
    }
}

#[test]
fn unordered_accepts_either_order_and_prints_pattern_order() {
    let ok = m(4, 5, 0, b"OK\0");
    let ev = m(15, 0, 0, b"p\0t\0");
    let mut out = Vec::new();
    for order in [[ok.clone(), ev.clone()], [ev.clone(), ok.clone()]] {
        let mut f = Fake { answers: VecDeque::from([Ok(order.concat())]), ..Fake::default() };
        let (t, fails) = run(
            &mut f,
            "open A\nwrite A msg(WATCH, 5, 0, \"p\\0t\\0\")\nread A unordered { msg(WATCH, 5, 0, \"OK\\0\") ; msg(WATCH_EVENT, 0, 0, \"p\\0t\\0\") }\n",
        );
        assert_eq!(fails, 0, "{t}");
        out.push(t);
    }
    // Printed in pattern order; the note says in which order they came, and
    // the comparison ignores it.
    assert!(out[0].contains("} -> 04000000 05000000 00000000 03000000 4f4b00 | 0f000000 00000000 00000000 04000000 70007400 ok seen=1,2\n"), "{}", out[0]);
    assert!(out[1].ends_with("ok seen=2,1\nend ok\n"), "{}", out[1]);
    assert!(xenbus_conformance::compare(&out[0], &out[1]).is_empty());
    // In order only: the reversed stream is a mismatch.
    let mut f = Fake { answers: VecDeque::from([Ok([ev, ok].concat())]), ..Fake::default() };
    let (t, fails) = run(
        &mut f,
        "open A\nwrite A \"w\"\nread A msg(WATCH, 5, 0, \"OK\\0\")\nread A msg(WATCH_EVENT, 0, 0, \"p\\0t\\0\")\n",
    );
    assert_eq!(fails, 2);
    assert!(t.contains("MISMATCH"), "{t}");
}

#[test]
fn partial_reads_keep_field_boundaries_and_runs() {
    let mut f = Fake::default();
    let mut payload = b"data\0".to_vec();
    payload.extend(std::iter::repeat_n(b'a', 20));
    f.answers = VecDeque::from([Ok(m(11, 1, 0, &payload))]);
    let (t, _) = run(&mut f, "open A\nwrite A \"w\"\nread A 6\nread A 12\nread A 100\n");
    assert!(t.contains("L3 read A 6 -> 6: 0b000000 0100\n"), "{t}");
    assert!(t.contains("L4 read A 12 -> 12: 0000 00000000 19000000 6461\n"), "{t}");
    assert!(t.contains("L5 read A 100 -> 23: 746100(61*20)\n"), "{t}");
}

#[test]
fn runtime_errors_do_not_stop_the_run() {
    let mut f = Fake::default();
    let (t, fails) = run(&mut f, "open A path=/bad\nwrite A \"x\"\nread A 1\npoll A\nclose A\n");
    assert!(t.contains("L2 write A \"x\" -> ERROR descriptor A is not open\n"), "{t}");
    assert!(t.contains("L5 close A -> ERROR descriptor A is not open\n"), "{t}");
    assert_eq!(fails, 4);
}

#[test]
fn parse_errors_become_transcripts() {
    let mut f = Fake::default();
    let o = Runner::new(cfg()).run_text(&mut f, "bad", "open A\nwibble\n");
    assert_eq!(o.transcript, "scenario bad\nPARSE-ERROR line 2: unknown step 'wibble'\nend parse-error\n");
}

#[test]
fn expect_none_polls_without_reading() {
    let mut f = Fake::default();
    let (t, fails) = run(&mut f, "open A\nwrite A \"x\"\nexpect none 500\n");
    assert_eq!(fails, 0, "{t}");
    assert!(t.contains("L3 expect none 500 -> ok\n"), "{t}");
    assert!(f.clock >= 500);
    // Something arrives: the expectation fails and the data stays queued.
    let mut f = Fake { answers: VecDeque::from([Ok(m(2, 1, 0, b"v"))]), ..Fake::default() };
    let (t, fails) = run(&mut f, "open A\nwrite A \"x\"\nexpect none 500\nread A msg(READ, 1, 0, \"v\")\n");
    assert!(t.contains("L3 expect none 500 -> FAILED\n"), "{t}");
    assert!(t.contains("L4 read A msg(READ, 1, 0, \"v\") -> 02000000 01000000 00000000 01000000 76 ok\n"), "{t}");
    assert_eq!(fails, 1);
}

const WATCH_EITHER: &str = "open A\nwrite A msg(WATCH, 5, 0, \"p\\0t\\0\")\n\
either { expect errno EINVAL } or { expect 20 ; read A unordered { msg(WATCH, 5, 0, \"OK\\0\") ; msg(WATCH_EVENT, 0, 0, \"p\\0t\\0\") } }\n";

#[test]
fn either_takes_the_alternative_that_holds() {
    // The write fails: the first alternative, nothing is read.
    let mut f = Fake { answers: VecDeque::from([Err(22)]), ..Fake::default() };
    let (t, fails) = run(&mut f, WATCH_EITHER);
    assert_eq!(fails, 0, "{t}");
    assert!(t.contains("} } -> alt 1 ok\n"), "{t}");
    assert_eq!(f.reads, 0);
    // The write succeeds: OK and the event, in either order.
    for (msgs, seen) in
        [([m(4, 5, 0, b"OK\0"), m(15, 0, 0, b"p\0t\0")], "1,2"), ([m(15, 0, 0, b"p\0t\0"), m(4, 5, 0, b"OK\0")], "2,1")]
    {
        let mut f = Fake { answers: VecDeque::from([Ok(msgs.concat())]), ..Fake::default() };
        let (t, fails) = run(&mut f, WATCH_EITHER);
        assert_eq!(fails, 0, "{t}");
        assert!(
            t.contains(&format!("-> alt 2: 04000000 05000000 00000000 03000000 4f4b00 | 0f000000 00000000 00000000 04000000 70007400 ok seen={seen}\n")),
            "{t}"
        );
    }
    // Something else arrives: no alternative matches.
    let mut f = Fake { answers: VecDeque::from([Ok(m(16, 5, 0, b"EACCES\0"))]), ..Fake::default() };
    let (t, fails) = run(&mut f, WATCH_EITHER);
    assert!(
        t.contains("-> 10000000 05000000 00000000 07000000 454143434553 00 MISMATCH\n") || t.contains("MISMATCH"),
        "{t}"
    );
    assert_eq!(fails, 1);
}

#[test]
fn either_reads_until_one_alternative_is_complete() {
    let text = "open A\nwrite A \"r\"\n\
either { read A msg(ERROR, 7, 0, _) } or { read A msg(READ, 7, 0, _) ; } \n";
    // A trailing ';' leaves an empty step: a parse error.
    assert!(xenbus_conformance::parse("t", text).is_err());
    let text = "open A\nwrite A \"r\"\neither { read A msg(ERROR, 7, 0, _) } or { read A unordered { msg(READ, 7, 0, _) ; msg(WATCH_EVENT, 0, 0, _) } }\n";
    let mut f = Fake {
        answers: VecDeque::from([Ok([m(15, 0, 0, b"a\0b\0"), m(2, 7, 0, b"val")].concat())]),
        ..Fake::default()
    };
    let (t, fails) = run(&mut f, text);
    assert_eq!(fails, 0, "{t}");
    assert!(t.contains("-> alt 2: 02000000 07000000 00000000 03000000 76616c | 0f000000 00000000 00000000 04000000 61006200 ok seen=2,1\n"), "{t}");
    let mut f = Fake { answers: VecDeque::from([Ok(m(16, 7, 0, b"ENOENT\0"))]), ..Fake::default() };
    let (t, _) = run(&mut f, text);
    assert!(t.contains("-> alt 1: 10000000 07000000 00000000 07000000 454e4f454e5400 ok\n"), "{t}");
}

#[test]
fn read_all_prints_listed_then_replies_by_req_then_events() {
    let ev1 = m(15, 0, 0, b"a\0t\0");
    let ev2 = m(15, 0, 0, b"b\0t\0");
    let r9 = m(11, 9, 0, b"OK\0");
    let r3 = m(2, 3, 0, b"x");
    let mut outs = Vec::new();
    for order in [[&ev1, &r9, &r3, &ev2], [&r3, &ev1, &ev2, &r9]] {
        let mut f = Fake {
            answers: VecDeque::from([Ok(order.iter().flat_map(|x| x.iter().copied()).collect())]),
            ..Fake::default()
        };
        let (t, fails) = run(&mut f, "open A\nwrite A \"w\"\nread A all\nread A all quiet=100\n");
        assert_eq!(fails, 0, "{t}");
        outs.push(t);
    }
    let line = "L3 read A all -> 4: 02000000 03000000 00000000 01000000 78 | 0b000000 09000000 00000000 03000000 4f4b00 | 0f000000 00000000 00000000 04000000 61007400 | 0f000000 00000000 00000000 04000000 62007400 seen=";
    assert!(outs[0].contains(&format!("{line}3,2,1,4\n")), "{}", outs[0]);
    assert!(outs[1].contains(&format!("{line}1,3,4,2\n")), "{}", outs[1]);
    assert!(outs[0].contains("L4 read A all quiet=100 -> 0: none\n"), "{}", outs[0]);
    assert!(xenbus_conformance::compare(&outs[0], &outs[1]).is_empty());
    // A listed message that never comes: TIMEOUT after the guard.
    let mut f = Fake::default();
    let (t, fails) = run(&mut f, "open A\nread A all { msg(_, 5, _, _) }\n");
    assert!(t.contains("-> 0: none TIMEOUT\n"), "{t}");
    assert_eq!(fails, 1);
    // The listed one first, even if it came last.
    let mut f = Fake { answers: VecDeque::from([Ok([r3.clone(), r9.clone()].concat())]), ..Fake::default() };
    let (t, _) = run(&mut f, "open A\nwrite A \"w\"\nread A all { msg(WRITE, 9, 0, \"OK\\0\") }\n");
    assert!(
        t.contains(
            "-> 2: 0b000000 09000000 00000000 03000000 4f4b00 | 02000000 03000000 00000000 01000000 78 seen=2,1\n"
        ),
        "{t}"
    );
}

#[test]
fn any_payload_and_many_unordered_messages() {
    let msgs: Vec<Vec<u8>> = (1..=10u32).map(|i| m(2, i, 0, format!("v{i}").as_bytes())).collect();
    let mut f = Fake {
        answers: VecDeque::from([Ok(msgs.iter().rev().flat_map(|x| x.iter().copied()).collect())]),
        ..Fake::default()
    };
    let pats: Vec<String> = (1..=10).map(|i| format!("msg(READ, {i}, 0, _)")).collect();
    let (t, fails) = run(&mut f, &format!("open A\nwrite A \"w\"\nread A unordered {{ {} }}\n", pats.join(" ; ")));
    assert_eq!(fails, 0, "{t}");
    assert!(t.contains(" ok seen=10,9,8,7,6,5,4,3,2,1\n"), "{t}");
    assert!(t.contains("-> 02000000 01000000 00000000 02000000 7631 | 02000000 02000000"), "{t}");
    assert!(
        xenbus_conformance::parse("t", "open A\nwrite A msg(READ, 1, 0, _)\n").is_err(),
        "'_' payload only in patterns"
    );
}
