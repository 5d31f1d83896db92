//! Property tests: chunking of writes and of reads does not change what the
//! program sees; arbitrary bytes never break the node.

use proptest::prelude::*;

use super::*;
use crate::{POLLIN, POLLRDNORM};

/// A request a program might send, drawn from a mix that exercises every
/// path of the node (forwarded, local, watches, transactions, errors).
fn request() -> impl Strategy<Value = Vec<u8>> {
    let path = prop::sample::select(vec!["data/a", "data/b", "data/a/c", "data", "/tool/x", "data/bad path"]);
    let ty = prop::sample::select(vec![1u32, 2, 3, 4, 5, 6, 7, 11, 12, 13, 15, 17, 21, 30]);
    let tx = prop::sample::select(vec![0u32, 0, 0, 1, 2, 0xBEEF]);
    let end_payload = prop::sample::select(vec![&b"T\0"[..], b"F\0", b"X\0"]);
    (ty, any::<u32>(), tx, path, prop::collection::vec(any::<u8>(), 0..8), end_payload).prop_map(
        |(ty, req, tx, path, value, endp)| {
            let payload = match ty {
                4 | 5 => pt(path.as_bytes(), &value),
                7 => endp.to_vec(),
                11 => pv(path, &value),
                6 => b"\0".to_vec(),
                _ => p0(path),
            };
            msg(ty, req, tx, &payload)
        },
    )
}

/// Runs `reqs` on a fresh daemon and open, writing each message in the given
/// chunk sizes (`None`: whole), reading everything after each message.
fn run(reqs: &[Vec<u8>], cuts: Option<&[Vec<usize>]>) -> (Vec<Vec<u8>>, Vec<Result<usize, Errno>>) {
    let xs = Xenstored::default();
    let mut o = Open::new(&xs);
    let mut out = Vec::new();
    let mut results = Vec::new();
    for (i, m) in reqs.iter().enumerate() {
        let mut rest = &m[..];
        if let Some(cuts) = cuts {
            for &c in &cuts[i] {
                let c = c % (rest.len() + 1);
                if c == 0 || c == rest.len() {
                    continue;
                }
                assert_eq!(o.write(&rest[..c]), Ok(c), "a partial write returns its count");
                rest = &rest[c..];
            }
        }
        results.push(o.write(rest).map(|_| m.len()));
        out.push(o.read_all());
    }
    (out, results)
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 200, .. ProptestConfig::default() })]

    #[test]
    fn chunked_writes_equal_whole_writes(
        reqs in prop::collection::vec(request(), 1..12),
        cuts in prop::collection::vec(prop::collection::vec(0usize..64, 0..6), 12),
    ) {
        let (whole, r1) = run(&reqs, None);
        let (chunked, r2) = run(&reqs, Some(&cuts));
        prop_assert_eq!(r1, r2);
        prop_assert_eq!(whole, chunked);
    }

    #[test]
    fn any_read_sizes_reassemble_the_stream(
        reqs in prop::collection::vec(request(), 1..12),
        sizes in prop::collection::vec(0usize..40, 1..200),
    ) {
        let xs = Xenstored::default();
        let mut a = Open::new(&xs);
        let xs2 = Xenstored::default();
        let mut b = Open::new(&xs2);
        for m in &reqs {
            let _ = a.write(m);
            let _ = b.write(m);
        }
        let whole = a.read_all();
        // Reads of 0 bytes are part of the mix (they return 0 while data is
        // queued); one non-zero size in the cycle guarantees progress.
        let mut sizes = sizes;
        sizes.push(13);
        let mut pieces = Vec::new();
        let mut i = 0;
        loop {
            prop_assert!(i <= whole.len() * sizes.len() + sizes.len(), "no progress after {} reads", i);
            let n = sizes[i % sizes.len()];
            i += 1;
            let polled = b.poll();
            let had = b.file.queued_bytes();
            prop_assert_eq!(polled != 0, had > 0);
            if polled != 0 { prop_assert_eq!(polled, POLLIN | POLLRDNORM); }
            match b.read(n) {
                Ok(got) => {
                    prop_assert!(had > 0);
                    prop_assert_eq!(got.len(), n.min(had));
                    pieces.extend(got);
                }
                Err(e) => {
                    prop_assert_eq!(e, Errno::EAGAIN);
                    prop_assert_eq!(had, 0);
                    break;
                }
            }
        }
        prop_assert_eq!(pieces, whole);
    }

    #[test]
    fn arbitrary_bytes_never_break_the_node(
        writes in prop::collection::vec(prop::collection::vec(any::<u8>(), 0..64), 0..30),
    ) {
        let xs = Xenstored::default();
        let mut o = Open::new(&xs);
        for w in &writes {
            match o.write(w) {
                Ok(n) => prop_assert_eq!(n, w.len()),
                Err(e) => prop_assert!(matches!(e, Errno::EINVAL | Errno::E2BIG | Errno::ENOSPC | Errno::EACCES | Errno::ENOBUFS)),
            }
            prop_assert!(o.file.buffered_len() < crate::WRITE_BUF_SIZE);
        }
        // Whatever is queued is whole messages.
        let _ = parse_stream(&o.read_all());
        o.close();
    }
}
