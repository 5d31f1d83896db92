//! Descriptors and files through the C ABI.
use core::ffi::{c_int, c_void};
use std::sync::Arc;

use super::mock::{add_node, run, Device, Node};
use super::{errno, p};
use crate::abi::cunistd::*;

struct Echo(Vec<u8>);

impl Device for Echo {
    fn write(&mut self, data: &[u8]) -> Result<usize, i32> {
        self.0.extend_from_slice(data);
        Ok(data.len())
    }
    fn read(&mut self, buf: &mut [u8]) -> Option<Result<usize, i32>> {
        if self.0.is_empty() {
            return None;
        }
        let n = buf.len().min(self.0.len());
        buf[..n].copy_from_slice(&self.0[..n]);
        self.0.drain(..n);
        Some(Ok(n))
    }
    fn readable(&self) -> bool {
        !self.0.is_empty()
    }
}

#[test]
fn open_stat_access_read_write_fcntl() {
    add_node(b"/tmp/files-test/echo", Node::Device { rdev: 0x0a3e, make: Arc::new(|| Box::new(Echo(Vec::new()))) });
    add_node(b"/tmp/files-test/data", Node::File(b"contents".to_vec()));
    let out = run(&["t"], &[], |_| {
        let mut st = [0xaau8; 144];
        // SAFETY: C strings, a struct stat buffer, descriptors of ours.
        unsafe {
            assert_eq!(stat(p(c"/tmp/files-test/echo"), st.as_mut_ptr() as *mut c_void), 0);
            assert_eq!(u32::from_le_bytes(st[24..28].try_into().unwrap()), 0o020600);
            assert_eq!(u64::from_le_bytes(st[40..48].try_into().unwrap()), 0x0a3e);
            assert_eq!(i64::from_le_bytes(st[56..64].try_into().unwrap()), 4096);
            assert_eq!(st[136..144], [0; 8]);
            assert_eq!((stat(p(c"/var/run/xenstored/socket"), st.as_mut_ptr() as *mut c_void), errno()), (-1, 2));
            assert_eq!(access(p(c"/tmp/files-test/echo"), 0), 0);
            assert_eq!((access(p(c"/nope"), 0), errno()), (-1, 2));
            assert_eq!((access(p(c"/tmp/files-test/data"), 1), errno()), (-1, 13));
            let fd = open(p(c"/tmp/files-test/echo"), 0o2000002);
            assert!(fd >= 3);
            assert_eq!(fcntl(fd, 1), 1, "O_CLOEXEC gives FD_CLOEXEC");
            assert_eq!(fcntl(fd, 3), 2);
            assert_eq!(fcntl(fd, 4, 0o4002 as c_int), 0);
            assert_eq!(fcntl(fd, 3), 0o4002);
            assert_eq!(write(fd, b"ping".as_ptr() as *const c_void, 4), 4);
            let mut b = [0u8; 8];
            assert_eq!(read(fd, b.as_mut_ptr() as *mut c_void, 8), 4);
            assert_eq!(&b[..4], b"ping");
            assert_eq!((read(fd, b.as_mut_ptr() as *mut c_void, 8), errno()), (-1, 11), "O_NONBLOCK");
            let f2 = open(p(c"/tmp/files-test/data"), 0);
            assert_eq!(read(f2, b.as_mut_ptr() as *mut c_void, 8), 8);
            assert_eq!(&b, b"contents");
            assert_eq!(fstat(f2, st.as_mut_ptr() as *mut c_void), 0);
            assert_eq!(i64::from_le_bytes(st[48..56].try_into().unwrap()), 8);
            assert_eq!(i64::from_le_bytes(st[64..72].try_into().unwrap()), 1);
            assert_eq!(close(f2), 0);
            assert_eq!((close(f2), errno()), (-1, 9));
            assert_eq!((open(p(c"/nope"), 0), errno()), (-1, 2));
            assert_eq!(dup2(fd, 9), 9);
            assert_eq!(close(9), 0);
            assert_eq!(close(fd), 0);
        }
    });
    assert_eq!(out.status, None);
}

#[test]
fn nothing_is_a_terminal_and_sockets_connect_nowhere() {
    let out = run(&["t"], &[], |_| {
        let mut ws = [0u8; 8];
        // SAFETY: descriptors of ours, buffers of the right sizes.
        unsafe {
            assert_eq!((ioctl(1, 0x5401, ws.as_mut_ptr()), errno()), (-1, 25));
            assert_eq!((ioctl(1, 0x5413, ws.as_mut_ptr()), errno()), (-1, 25));
            assert_eq!((ioctl(77, 0x5413, ws.as_mut_ptr()), errno()), (-1, 9));
            assert_eq!((isatty(1), errno()), (0, 25));
            let s = socket(1, 0o2000001, 0);
            assert!(s >= 3);
            let mut addr = [0u8; 110];
            addr[0] = 1;
            addr[2..27].copy_from_slice(b"/var/run/xenstored/socket");
            assert_eq!((connect(s, addr.as_ptr() as *const c_void, 110), errno()), (-1, 2));
            assert_eq!(close(s), 0);
        }
    });
    assert_eq!(out.status, None);
}

#[test]
fn pipes_and_poll() {
    let out = run(&["t"], &[], |_| {
        let mut fds = [0 as c_int; 2];
        // SAFETY: two ints, pollfd arrays, buffers.
        unsafe {
            assert_eq!(pipe2(fds.as_mut_ptr(), 0o2000000), 0);
            let mut pfd = [0u8; 16];
            pfd[..4].copy_from_slice(&fds[0].to_le_bytes());
            pfd[4..6].copy_from_slice(&1u16.to_le_bytes());
            pfd[8..12].copy_from_slice(&(-1i32).to_le_bytes());
            assert_eq!(poll(pfd.as_mut_ptr() as *mut c_void, 2, 0), 0);
            assert_eq!(write(fds[1], b"z".as_ptr() as *const c_void, 1), 1);
            assert_eq!(poll(pfd.as_mut_ptr() as *mut c_void, 2, -1), 1);
            assert_eq!(u16::from_le_bytes([pfd[6], pfd[7]]), 1);
            let mut b = [0u8; 4];
            assert_eq!(read(fds[0], b.as_mut_ptr() as *mut c_void, 4), 1);
            assert_eq!(close(fds[1]), 0);
            assert_eq!(read(fds[0], b.as_mut_ptr() as *mut c_void, 4), 0);
        }
    });
    assert_eq!(out.status, None);
}
