//! FILE streams: buffering, flushing at exit, handlers and finalizers.
use core::ffi::{c_char, c_int, c_void};

use super::mock::run;
use super::{errno, p};
use crate::abi::{cstdio, start, DataSymbol, Process};

fn stream(proc: &Process, sym: DataSymbol) -> *mut c_void {
    let addr = proc.data_symbol(sym).0;
    // SAFETY: our stdout/stderr variables hold FILE pointers.
    unsafe { *(addr as *const *mut c_void) }
}

#[test]
fn stdout_is_fully_buffered_with_4096_bytes_and_flushed_at_exit() {
    let big = vec![b'x'; 5000];
    let out = run(&["t"], &[], move |proc| {
        let fp = stream(&proc.process, DataSymbol::Stdout);
        let mut s = big.clone();
        s.push(0);
        // SAFETY: a C string and our stdout.
        assert_eq!(unsafe { cstdio::fputs(s.as_ptr() as *const c_char, fp) }, 1);
        // SAFETY: C strings.
        unsafe {
            assert_eq!(cstdio::puts(p(c"line")), 5);
            assert_eq!(cstdio::fputc(b'!' as c_int, fp), b'!' as c_int);
            assert_eq!(cstdio::fwrite(b"abcdef".as_ptr() as *const c_void, 2, 3, fp), 3);
        }
        start::exit(3)
    });
    assert_eq!(out.status, Some(3));
    let mut want = vec![b'x'; 5000];
    want.extend_from_slice(b"line\n!abcdef");
    assert_eq!(out.stdout, want);
    // glibc's xsputn: one whole block written directly, the rest buffered
    // and flushed by exit.
    let sizes: Vec<usize> = out.stdout_writes.iter().map(Vec::len).collect();
    assert_eq!(sizes, vec![4096, 904 + 12]);
}

#[test]
fn stdout_stays_buffered_without_exit_and_fflush_writes_it() {
    let out = run(&["t"], &[], |proc| {
        let fp = stream(&proc.process, DataSymbol::Stdout);
        // SAFETY: C strings and our stdout.
        unsafe { cstdio::fputs(p(c"held"), fp) };
        let before = proc.process.exit_status();
        // SAFETY: our stdout.
        let r = unsafe { cstdio::fflush(core::ptr::null_mut()) };
        (before, r)
    });
    assert_eq!(out.ret, Some((None, 0)));
    assert_eq!(out.stdout_writes, vec![b"held".to_vec()]);
}

#[test]
fn underscore_exit_and_abort_do_not_flush() {
    for abort in [false, true] {
        let out = run(&["t"], &[], move |_| {
            // SAFETY: a C string.
            unsafe { cstdio::puts(p(c"lost")) };
            if abort {
                start::abort()
            } else {
                start::underscore_exit(258)
            }
        });
        assert_eq!(out.status, Some(if abort { 134 } else { 2 }));
        assert!(out.stdout.is_empty());
    }
}

#[test]
fn stderr_is_unbuffered() {
    let out = run(&["t"], &[], |proc| {
        let fp = stream(&proc.process, DataSymbol::Stderr);
        // SAFETY: C strings and our stderr.
        unsafe {
            cstdio::fputs(p(c"one"), fp);
            cstdio::fputc(b'\n' as c_int, fp);
            cstdio::fwrite(b"two\n".as_ptr() as *const c_void, 1, 4, fp);
        }
    });
    assert_eq!(out.stderr_writes, vec![b"one".to_vec(), b"\n".to_vec(), b"two\n".to_vec()]);
}

#[test]
fn a_foreign_file_pointer_is_ebadf() {
    let out = run(&["t"], &[], |proc| {
        let mut fake = [0u64; 8];
        let fp = fake.as_mut_ptr() as *mut c_void;
        // SAFETY: the libc never dereferences a FILE * it does not own.
        let r = unsafe { (cstdio::fputs(p(c"x"), fp), errno(), cstdio::fflush(fp)) };
        let stdin = stream(&proc.process, DataSymbol::Stdin);
        // SAFETY: stdin is ours; writing to it fails.
        let w = unsafe { (cstdio::fputc(b'a' as c_int, stdin), errno(), cstdio::fileno(stdin)) };
        (r, w)
    });
    assert_eq!(out.ret, Some(((-1, 9, -1), (-1, 9, 0))));
}

static ORDER: std::sync::Mutex<Vec<&'static str>> = std::sync::Mutex::new(Vec::new());

extern "C" fn handler_a() {
    ORDER.lock().unwrap().push("a");
    // SAFETY: a C string; output during exit still reaches stdout.
    unsafe { cstdio::puts(p(c"in handler a")) };
}
extern "C" fn handler_b() {
    ORDER.lock().unwrap().push("b");
}
extern "C" fn cxa_handler(arg: *mut c_void) {
    ORDER.lock().unwrap().push(if arg as usize == 0x10 { "cxa1" } else { "cxa2" });
}
extern "C" fn fini_1() {
    ORDER.lock().unwrap().push("fini1");
}
extern "C" fn fini_2() {
    ORDER.lock().unwrap().push("fini2");
}

#[test]
fn exit_runs_handlers_newest_first_then_finalizers_in_order_then_flushes() {
    let out = run(&["t"], &[], |proc| {
        proc.process.set_finalizers(vec![fini_1 as *const () as usize, fini_2 as *const () as usize]);
        assert_eq!(start::atexit(Some(handler_a)), 0);
        // SAFETY: plain handlers.
        unsafe {
            start::cxa_atexit(Some(cxa_handler), 0x10 as *mut c_void, 0x1000 as *mut c_void);
            start::cxa_atexit(Some(cxa_handler), 0x20 as *mut c_void, 0x2000 as *mut c_void);
        }
        assert_eq!(start::atexit(Some(handler_b)), 0);
        // __cxa_finalize of one object runs only its handlers.
        // SAFETY: a dso handle value.
        unsafe { start::cxa_finalize(0x1000 as *mut c_void) };
        assert_eq!(*ORDER.lock().unwrap(), vec!["cxa1"]);
        start::exit(0)
    });
    assert_eq!(out.status, Some(0));
    assert_eq!(*ORDER.lock().unwrap(), vec!["cxa1", "b", "cxa2", "a", "fini1", "fini2"]);
    assert_eq!(out.stdout, b"in handler a\n");
}

extern "C" fn test_main(argc: c_int, argv: *mut *mut c_char, envp: *mut *mut c_char) -> c_int {
    // SAFETY: argv/envp as __libc_start_main passes them.
    unsafe {
        let a1 = super::bytes_of(*argv.add(1));
        let e0 = super::bytes_of(*envp);
        cstdio::printf(p(c"%d %s %s\n"), argc, (*argv.add(1)) as *const c_char, *envp as *const c_char);
        assert_eq!((a1, e0), (b"arg".to_vec(), b"HOME=/".to_vec()));
    }
    42
}

#[test]
fn libc_start_main_calls_main_then_exit() {
    let out = run(&["/bin/prog", "arg"], &["HOME=/"], |_| {
        let mut argv: [*mut c_char; 3] =
            [c"/bin/prog".as_ptr() as *mut c_char, c"arg".as_ptr() as *mut c_char, core::ptr::null_mut()];
        // SAFETY: a valid main and argv.
        unsafe {
            start::libc_start_main(
                Some(test_main),
                2,
                argv.as_mut_ptr(),
                core::ptr::null(),
                core::ptr::null(),
                None,
                core::ptr::null_mut(),
            )
        };
    });
    assert_eq!(out.status, Some(42));
    assert_eq!(out.stdout, b"2 arg HOME=/\n");
}
