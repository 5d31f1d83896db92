//! The output side of a glibc 2.36 `FILE` (libio's `_IO_file_jumps`): the
//! buffer, its modes and exactly when `write(2)` happens, as pure logic over
//! a write callback.
//!
//! # Contract
//!
//! A [`WriteFile`] is one stream (`stdout`, `stderr`). Every operation takes
//! the stream's `write(2)`: `FnMut(&[u8]) -> Result<usize, i32>` (bytes
//! written, or the errno). The operations return what the C functions
//! return; [`WriteFile::error`] is the error indicator (`ferror`) and
//! [`WriteFile::last_errno`] the errno of the last failed write, for the FFI
//! layer to put into `errno`.
//!
//! # glibc behaviours reproduced
//!
//! * Buffers are allocated at the first output: an unbuffered stream
//!   (`stderr`) gets a 1-byte buffer; others get `st_blksize` bytes (8192
//!   when `st_blksize <= 0`) and become line buffered when the descriptor is a
//!   terminal ([`FileConfig`]). A pipe or regular file under Linux has
//!   `st_blksize` 4096, so `stdout` is fully buffered with 4096 bytes.
//! * Fully buffered: data is copied into the buffer; when it does not fit,
//!   the full buffer is written, then as many whole blocks of the new data as
//!   possible are written directly, and the rest is buffered
//!   (`_IO_new_file_xsputn`).
//! * Line buffered: a write that fits is buffered and everything up to its
//!   last newline is written at once; `putc('\n')` flushes.
//! * Unbuffered: every operation writes its bytes with one `write(2)`.
//!   `printf` to such a stream formats into an 8192-byte helper buffer first
//!   ([`WriteFile::vfprintf_out`]), so each call is one write per 8 KiB.
//! * `write(2)` is retried while it makes progress; a failure (any errno,
//!   `EINTR` and `EAGAIN` included: glibc does not retry them) sets the error
//!   indicator, and the buffered bytes are dropped all the same (the buffer
//!   is reset after every write attempt). A zero return is treated as a
//!   failure with no errno (glibc would loop forever).
//! * Return values: `putc` the byte or EOF; `fputs` 1 or EOF; `puts`
//!   `len + 1` (at most `INT_MAX`) or EOF; `fwrite` the item count, which is
//!   the full count also when only the final flush failed (glibc's rule for
//!   `written == EOF`), else `written / size`; `fflush` 0 or EOF.
//!
//! Streams are byte-oriented and write-only here (no `fwide`, no reading, no
//! seeking, no `setvbuf`).

use alloc::vec;
use alloc::vec::Vec;

/// `EOF`.
pub const EOF: i32 = -1;
/// glibc's `BUFSIZ`.
pub const BUFSIZ: usize = 8192;

/// What `_IO_file_doallocate` learns about the descriptor at the first output.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FileConfig {
    /// The stream is unbuffered from the start (`stderr`).
    pub unbuffered: bool,
    /// `st_blksize` of the descriptor (<= 0: unknown, use `BUFSIZ`).
    pub blksize: i64,
    /// The descriptor is a terminal (character device and `isatty`).
    pub is_tty: bool,
}

impl FileConfig {
    /// `stdout` on a pipe or regular file.
    pub const STDOUT_PIPE: FileConfig = FileConfig { unbuffered: false, blksize: 4096, is_tty: false };
    /// `stderr`.
    pub const STDERR: FileConfig = FileConfig { unbuffered: true, blksize: 4096, is_tty: false };
}

/// The buffering mode once the buffer exists.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BufMode {
    /// `_IONBF`.
    Unbuffered,
    /// `_IOLBF`.
    Line,
    /// `_IOFBF`.
    Full,
}

/// A stream's output state.
#[derive(Debug, Clone)]
pub struct WriteFile {
    cfg: FileConfig,
    buf: Vec<u8>,
    allocated: bool,
    line_buf: bool,
    /// `_IO_CURRENTLY_PUTTING`.
    putting: bool,
    /// `_IO_write_ptr - _IO_buf_base`.
    wptr: usize,
    /// `_IO_write_end - _IO_buf_base`.
    wend: usize,
    error: bool,
    last_errno: Option<i32>,
}

/// `xsputn`'s result: bytes accepted, or EOF.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Put {
    /// Bytes taken.
    Count(usize),
    /// `(size_t) EOF`: everything was taken but the flush failed.
    Eof,
}

impl WriteFile {
    /// A stream that has not written anything yet.
    pub fn new(cfg: FileConfig) -> Self {
        WriteFile {
            cfg,
            buf: Vec::new(),
            allocated: false,
            line_buf: false,
            putting: false,
            wptr: 0,
            wend: 0,
            error: false,
            last_errno: None,
        }
    }

    /// `ferror`.
    pub fn error(&self) -> bool {
        self.error
    }

    /// `clearerr`.
    pub fn clear_error(&mut self) {
        self.error = false;
    }

    /// The errno of the last failed write, if any.
    pub fn last_errno(&self) -> Option<i32> {
        self.last_errno
    }

    /// The mode (after the first output; before it, what it will be
    /// assuming the configuration holds).
    pub fn mode(&self) -> BufMode {
        if self.cfg.unbuffered {
            BufMode::Unbuffered
        } else if self.line_buf || (!self.allocated && self.cfg.is_tty) {
            BufMode::Line
        } else {
            BufMode::Full
        }
    }

    /// Bytes waiting in the buffer.
    pub fn pending(&self) -> &[u8] {
        self.buf.get(..self.wptr).unwrap_or_default()
    }

    /// `_IO_file_doallocate` / `_IO_doallocbuf`.
    fn allocate(&mut self) {
        if self.allocated {
            return;
        }
        let size = if self.cfg.unbuffered {
            1
        } else {
            if self.cfg.is_tty {
                self.line_buf = true;
            }
            usize::try_from(self.cfg.blksize).ok().filter(|&s| s > 0).unwrap_or(BUFSIZ)
        };
        self.buf = vec![0; size];
        self.allocated = true;
    }

    fn size(&self) -> usize {
        self.buf.len()
    }

    fn unbuffered_or_line(&self) -> bool {
        self.cfg.unbuffered || self.line_buf
    }

    /// `_IO_new_file_write`: retries partial writes, stops at an error.
    fn sys_write<W: FnMut(&[u8]) -> Result<usize, i32>>(&mut self, data: &[u8], w: &mut W) -> usize {
        let mut done = 0usize;
        while done < data.len() {
            match w(data.get(done..).unwrap_or_default()) {
                Ok(n) if n > 0 => done += n.min(data.len() - done),
                Ok(_) => {
                    self.error = true;
                    break;
                }
                Err(e) => {
                    self.error = true;
                    self.last_errno = Some(e);
                    break;
                }
            }
        }
        done
    }

    /// `new_do_write`: writes `data` (the buffer or the caller's) and resets
    /// the buffer.
    fn new_do_write<W: FnMut(&[u8]) -> Result<usize, i32>>(&mut self, data: &[u8], w: &mut W) -> usize {
        let count = self.sys_write(data, w);
        self.wptr = 0;
        self.wend = if self.unbuffered_or_line() { 0 } else { self.size() };
        count
    }

    /// `_IO_do_write` of the buffer contents; false on EOF.
    fn flush_buffer<W: FnMut(&[u8]) -> Result<usize, i32>>(&mut self, w: &mut W) -> bool {
        let n = self.wptr;
        if n == 0 {
            return true;
        }
        let data: Vec<u8> = self.buf.get(..n).unwrap_or_default().to_vec();
        self.new_do_write(&data, w) == n
    }

    /// `_IO_new_file_overflow(f, ch)`; `None` is `EOF` (flush only).
    fn overflow<W: FnMut(&[u8]) -> Result<usize, i32>>(&mut self, ch: Option<u8>, w: &mut W) -> i32 {
        if !self.putting || !self.allocated {
            self.allocate();
            self.wptr = 0;
            self.wend = self.size();
            self.putting = true;
            if self.unbuffered_or_line() {
                self.wend = self.wptr;
            }
        }
        let Some(c) = ch else {
            return if self.flush_buffer(w) { 0 } else { EOF };
        };
        if self.wptr == self.size() && !self.flush_buffer(w) {
            return EOF;
        }
        if let Some(slot) = self.buf.get_mut(self.wptr) {
            *slot = c;
            self.wptr += 1;
        }
        if (self.cfg.unbuffered || (self.line_buf && c == b'\n')) && !self.flush_buffer(w) {
            return EOF;
        }
        i32::from(c)
    }

    /// `_IO_default_xsputn`.
    fn default_xsputn<W: FnMut(&[u8]) -> Result<usize, i32>>(&mut self, data: &[u8], w: &mut W) -> usize {
        let mut s = 0usize;
        let mut more = data.len();
        loop {
            if self.wptr < self.wend {
                let count = (self.wend - self.wptr).min(more);
                if let (Some(dst), Some(src)) = (self.buf.get_mut(self.wptr..self.wptr + count), data.get(s..s + count))
                {
                    dst.copy_from_slice(src);
                }
                self.wptr += count;
                s += count;
                more -= count;
            }
            if more == 0 {
                break;
            }
            let c = data.get(s).copied().unwrap_or(0);
            s += 1;
            if self.overflow(Some(c), w) == EOF {
                break;
            }
            more -= 1;
        }
        data.len() - more
    }

    /// `_IO_new_file_xsputn` (`_IO_sputn`).
    pub fn xsputn<W: FnMut(&[u8]) -> Result<usize, i32>>(&mut self, data: &[u8], w: &mut W) -> Put {
        let n = data.len();
        if n == 0 {
            return Put::Count(0);
        }
        let mut to_do = n;
        let mut must_flush = false;
        let mut count = 0usize;
        if self.line_buf && self.putting {
            count = self.size().saturating_sub(self.wptr);
            if count >= n {
                if let Some(p) = data.iter().rposition(|&b| b == b'\n') {
                    count = p + 1;
                    must_flush = true;
                }
            }
        } else if self.wend > self.wptr {
            count = self.wend - self.wptr;
        }
        let mut s = 0usize;
        if count > 0 {
            let count = count.min(to_do);
            if let (Some(dst), Some(src)) = (self.buf.get_mut(self.wptr..self.wptr + count), data.get(..count)) {
                dst.copy_from_slice(src);
            }
            self.wptr += count;
            s = count;
            to_do -= count;
        }
        if to_do > 0 || must_flush {
            if self.overflow(None, w) == EOF {
                return if to_do == 0 { Put::Eof } else { Put::Count(n - to_do) };
            }
            let block = self.size();
            let do_write = to_do - if block >= 128 { to_do % block } else { 0 };
            if do_write > 0 {
                let chunk = data.get(s..s + do_write).unwrap_or_default();
                let written = self.new_do_write(chunk, w);
                to_do -= written;
                if written < do_write {
                    return Put::Count(n - to_do);
                }
            }
            if to_do > 0 {
                let rest = data.get(s + do_write..).unwrap_or_default();
                to_do -= self.default_xsputn(rest, w);
            }
        }
        Put::Count(n - to_do)
    }

    /// `putc(c, f)` / `fputc`: the byte written or EOF.
    pub fn putc<W: FnMut(&[u8]) -> Result<usize, i32>>(&mut self, c: u8, w: &mut W) -> i32 {
        if self.wptr >= self.wend {
            self.overflow(Some(c), w)
        } else {
            if let Some(slot) = self.buf.get_mut(self.wptr) {
                *slot = c;
            }
            self.wptr += 1;
            i32::from(c)
        }
    }

    /// `fputs(s, f)`: 1 or EOF.
    pub fn fputs<W: FnMut(&[u8]) -> Result<usize, i32>>(&mut self, s: &[u8], w: &mut W) -> i32 {
        if self.xsputn(s, w) == Put::Count(s.len()) {
            1
        } else {
            EOF
        }
    }

    /// `puts(s)` on this stream: `len + 1` (at most `INT_MAX`) or EOF.
    pub fn puts<W: FnMut(&[u8]) -> Result<usize, i32>>(&mut self, s: &[u8], w: &mut W) -> i32 {
        if self.xsputn(s, w) == Put::Count(s.len()) && self.putc(b'\n', w) != EOF {
            i32::try_from(s.len().saturating_add(1)).unwrap_or(i32::MAX)
        } else {
            EOF
        }
    }

    /// `fwrite(data, size, count, f)`; `data` holds the `size * count` bytes.
    pub fn fwrite<W: FnMut(&[u8]) -> Result<usize, i32>>(
        &mut self,
        data: &[u8],
        size: usize,
        count: usize,
        w: &mut W,
    ) -> usize {
        let request = size.wrapping_mul(count);
        if request == 0 {
            return 0;
        }
        let data = data.get(..request.min(data.len())).unwrap_or_default();
        match self.xsputn(data, w) {
            Put::Eof => count,
            Put::Count(written) if written == request => count,
            Put::Count(written) => written / size,
        }
    }

    /// `fflush(f)`: 0 or EOF.
    pub fn fflush<W: FnMut(&[u8]) -> Result<usize, i32>>(&mut self, w: &mut W) -> i32 {
        if self.wptr > 0 && !self.flush_buffer(w) {
            return EOF;
        }
        0
    }

    /// The output of one `vfprintf` call (already formatted): buffered
    /// streams take it as one `_IO_sputn`; an unbuffered stream gets it in
    /// `BUFSIZ` chunks, as glibc's `buffered_vfprintf` helper does. Returns
    /// false when glibc's `vfprintf` would return -1.
    pub fn vfprintf_out<W: FnMut(&[u8]) -> Result<usize, i32>>(&mut self, out: &[u8], w: &mut W) -> bool {
        if self.cfg.unbuffered {
            for chunk in out.chunks(BUFSIZ) {
                match self.xsputn(chunk, w) {
                    Put::Count(n) if n == chunk.len() => {}
                    _ => return false,
                }
            }
            true
        } else {
            self.xsputn(out, w) == Put::Count(out.len())
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::host::{host_stdio_run, StdioOp};
    use proptest::prelude::*;

    fn run_ours(mode: i32, size: usize, ops: &[StdioOp]) -> (Vec<i64>, Vec<Vec<u8>>) {
        let cfg = match mode {
            0 => FileConfig { unbuffered: false, blksize: size as i64, is_tty: false },
            1 => FileConfig { unbuffered: false, blksize: size as i64, is_tty: true },
            _ => FileConfig { unbuffered: true, blksize: size as i64, is_tty: false },
        };
        let mut f = WriteFile::new(cfg);
        let mut calls: Vec<Vec<u8>> = Vec::new();
        let mut w = |d: &[u8]| -> Result<usize, i32> {
            calls.push(d.to_vec());
            Ok(d.len())
        };
        let mut rets = Vec::new();
        for op in ops {
            let r = match op {
                StdioOp::Fputs(s) => i64::from(f.fputs(s, &mut w)),
                StdioOp::Putc(c) => i64::from(f.putc(*c, &mut w)),
                StdioOp::Fwrite(d, sz) => f.fwrite(d, *sz, d.len() / sz, &mut w) as i64,
                StdioOp::Fflush => i64::from(f.fflush(&mut w)),
                StdioOp::Printf(s) => {
                    if f.vfprintf_out(s, &mut w) {
                        s.len() as i64
                    } else {
                        -1
                    }
                }
            };
            rets.push(r);
        }
        f.fflush(&mut w);
        (rets, calls)
    }

    fn op() -> impl Strategy<Value = StdioOp> {
        let text = prop_oneof![
            "[a-c\n]{0,12}".prop_map(|s| s.into_bytes()),
            (0usize..10000, any::<bool>()).prop_map(|(n, nl)| {
                let mut v = vec![b'x'; n];
                if nl && n > 3 {
                    v[n / 3] = b'\n';
                }
                v
            }),
        ];
        prop_oneof![
            text.clone().prop_map(StdioOp::Fputs),
            prop_oneof![Just(b'\n'), Just(b'a')].prop_map(StdioOp::Putc),
            (text.clone(), 1usize..4).prop_map(|(mut t, sz)| {
                t.truncate(t.len() - t.len() % sz);
                StdioOp::Fwrite(t, sz)
            }),
            Just(StdioOp::Fflush),
            text.prop_map(StdioOp::Printf),
        ]
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(600))]
        #[test]
        fn same_writes_as_glibc(mode in 0i32..3, size in prop::sample::select(vec![1usize, 7, 127, 128, 200, 4096]),
                                ops in proptest::collection::vec(op(), 0..12)) {
            let host = host_stdio_run(mode, size, &ops);
            let ours = run_ours(mode, size, &ops);
            prop_assert_eq!(ours, host);
        }
    }

    #[test]
    fn stdout_defaults() {
        let mut f = WriteFile::new(FileConfig::STDOUT_PIPE);
        assert_eq!(f.mode(), BufMode::Full);
        let mut calls: Vec<Vec<u8>> = Vec::new();
        let mut w = |d: &[u8]| -> Result<usize, i32> {
            calls.push(d.to_vec());
            Ok(d.len())
        };
        assert_eq!(f.puts(b"hello", &mut w), 6);
        assert_eq!(f.pending(), b"hello\n");
        let big = vec![b'y'; 5000];
        assert_eq!(f.fwrite(&big, 1, 5000, &mut w), 5000);
        assert_eq!(f.fflush(&mut w), 0);

        assert_eq!(calls.iter().map(|c| c.len()).collect::<Vec<_>>(), vec![4096, 910]);
        let tty = WriteFile::new(FileConfig { is_tty: true, ..FileConfig::STDOUT_PIPE });
        assert_eq!(tty.mode(), BufMode::Line);
        assert_eq!(WriteFile::new(FileConfig::STDERR).mode(), BufMode::Unbuffered);
    }

    #[test]
    fn write_errors() {
        // EAGAIN on the flush: the error indicator is set, the data dropped,
        // fflush returns EOF, and the next write starts from an empty buffer.
        let mut f = WriteFile::new(FileConfig::STDOUT_PIPE);
        let mut fail = true;
        let mut calls: Vec<Vec<u8>> = Vec::new();
        let mut w = |d: &[u8]| -> Result<usize, i32> {
            if fail {
                fail = false;
                return Err(crate::errno::EAGAIN);
            }
            calls.push(d.to_vec());
            Ok(d.len())
        };
        assert_eq!(f.fputs(b"abc", &mut w), 1);
        assert_eq!(f.fflush(&mut w), EOF);
        assert!(f.error());
        assert_eq!(f.last_errno(), Some(crate::errno::EAGAIN));
        assert_eq!(f.pending(), b"");
        assert_eq!(f.fputs(b"def", &mut w), 1);
        assert_eq!(f.fflush(&mut w), 0);

        assert_eq!(calls, vec![b"def".to_vec()]);

        // Partial writes are retried until done.
        let mut f = WriteFile::new(FileConfig::STDERR);
        let mut calls: Vec<Vec<u8>> = Vec::new();
        let mut w = |d: &[u8]| -> Result<usize, i32> {
            let n = d.len().min(2);
            calls.push(d[..n].to_vec());
            Ok(n)
        };
        assert_eq!(f.fputs(b"hello", &mut w), 1);

        assert_eq!(calls, vec![b"he".to_vec(), b"ll".to_vec(), b"o".to_vec()]);

        // A failing unbuffered putc returns EOF; fwrite reports the full
        // count when only the final flush failed.
        let mut f = WriteFile::new(FileConfig::STDERR);
        let mut w = |_: &[u8]| -> Result<usize, i32> { Err(crate::errno::EINTR) };
        assert_eq!(f.putc(b'x', &mut w), EOF);
        let mut f = WriteFile::new(FileConfig { is_tty: true, ..FileConfig::STDOUT_PIPE });
        // First output on a line-buffered stream goes byte by byte: the
        // newline's flush fails, two bytes count as taken.
        assert_eq!(f.fwrite(b"ab\n", 1, 3, &mut w), 2);
        assert!(f.error());
        // Once putting, a fitting write with a newline is copied whole and
        // only the flush fails: fwrite reports every item.
        let mut ok = |d: &[u8]| -> Result<usize, i32> { Ok(d.len()) };
        let mut f = WriteFile::new(FileConfig { is_tty: true, ..FileConfig::STDOUT_PIPE });
        assert_eq!(f.putc(b'a', &mut ok), i32::from(b'a'));
        assert_eq!(f.fwrite(b"b\n", 1, 2, &mut w), 2);
        assert!(f.error());
        let mut f = WriteFile::new(FileConfig { blksize: 4, ..FileConfig::STDOUT_PIPE });
        assert_eq!(f.fwrite(b"abcdefgh", 2, 4, &mut w), 0);
    }
}
