//! getopt, err/warn, sscanf, strings, strtol, getenv, signals.
use core::ffi::{c_char, c_int, c_long, c_void};

use super::mock::run;
use super::{bytes_of, errno, p, set_errno};
use crate::abi::{cerr, cgetopt, cscanf, cstdlib, cstring, signal, start, DataSymbol};

use crate::abi::cgetopt::COption;

fn argv_of(args: &[&'static core::ffi::CStr]) -> Vec<*mut c_char> {
    let mut v: Vec<*mut c_char> = args.iter().map(|a| a.as_ptr() as *mut c_char).collect();
    v.push(core::ptr::null_mut());
    v
}

#[test]
fn getopt_long_uses_the_executables_copies_of_optind_and_optarg() {
    let out = run(&["xenstore-ls"], &[], |proc| {
        let pr = &proc.process;
        // The executable's COPY relocations, filled from our initial bytes.
        let optind_copy: *mut c_int =
            Box::into_raw(Box::new(c_int::from_le_bytes(pr.initial_bytes(DataSymbol::Optind).try_into().unwrap())));
        let optarg_copy: *mut usize = Box::into_raw(Box::new(0usize));
        pr.bind_copy(DataSymbol::Optind, optind_copy as usize);
        pr.bind_copy(DataSymbol::Optarg, optarg_copy as usize);
        // SAFETY: the two leaked boxes stand for the executable's copies;
        // the libc writes them through the bound addresses.
        let (optind_copy, optarg_copy) = unsafe {
            (&*(optind_copy as *const core::cell::Cell<c_int>), &*(optarg_copy as *const core::cell::Cell<usize>))
        };
        let mut flag: c_int = 0;
        let longs = [
            COption { name: p(c"flat"), has_arg: 0, flag: core::ptr::null_mut(), val: b'f' as c_int },
            COption { name: p(c"number"), has_arg: 1, flag: core::ptr::null_mut(), val: b'n' as c_int },
            COption { name: p(c"raw"), has_arg: 0, flag: &mut flag, val: 9 },
            COption { name: core::ptr::null(), has_arg: 0, flag: core::ptr::null_mut(), val: 0 },
        ];
        let mut argv = argv_of(&[c"xenstore-ls", c"path", c"-f", c"--number", c"5", c"--raw", c"-z"]);
        let mut seen = Vec::new();
        loop {
            let mut idx: c_int = -1;
            // SAFETY: argv, optstring and long options as C has them.
            let c = unsafe {
                cgetopt::getopt_long(7, argv.as_mut_ptr(), p(c"hfspturn:R"), longs.as_ptr() as *const u8, &mut idx)
            };
            if c == -1 {
                break;
            }
            let arg = if optarg_copy.get() == 0 { Vec::new() } else { bytes_of(optarg_copy.get() as *const c_char) };
            seen.push((c, idx, arg, optind_copy.get()));
        }
        let own_optind = pr.data_symbol(DataSymbol::Optind).0;
        // SAFETY: our own optind object.
        let own = unsafe { *(own_optind as *const c_int) };
        let rest = bytes_of(argv[optind_copy.get() as usize]);
        (seen, flag, own, optind_copy.get(), rest, pr.read_int(DataSymbol::Optopt))
    });
    let (seen, flag, own, optind, rest, optopt) = out.ret.unwrap();
    assert_eq!(
        seen,
        vec![
            (b'f' as c_int, -1, vec![], 3),
            (b'n' as c_int, 1, b"5".to_vec(), 5),
            (0, 2, vec![], 6),
            (b'?' as c_int, -1, vec![], 7),
        ]
    );
    assert_eq!((flag, own, optind, rest, optopt), (9, 1, 6, b"path".to_vec(), b'z' as c_int));
    assert_eq!(out.stderr, b"xenstore-ls: invalid option -- 'z'\n");
}

#[test]
fn warn_and_err_print_glibcs_bytes() {
    let out = run(&["/usr/bin/xenstore-read"], &[], |_| {
        set_errno(2);
        // SAFETY: formats and arguments match.
        unsafe {
            cerr::warnx(p(c"couldn't read path %s"), p(c"a/b"));
            cerr::warn(p(c"open %d"), 3 as c_int);
            cerr::warn(core::ptr::null());
        }
        // SAFETY: a C string.
        unsafe { crate::abi::cstdio::puts(p(c"stdout text")) };
        // SAFETY: as above.
        unsafe { cerr::errx(1, p(c"Usage: %s [-h] key"), p(c"xenstore-read")) }
    });
    assert_eq!(out.status, Some(1));
    assert_eq!(
        out.stderr_writes,
        vec![
            b"xenstore-read: ".to_vec(),
            b"couldn't read path a/b".to_vec(),
            b"\n".to_vec(),
            b"xenstore-read: ".to_vec(),
            b"open 3".to_vec(),
            b": No such file or directory\n".to_vec(),
            b"xenstore-read: No such file or directory\n".to_vec(),
            b"xenstore-read: ".to_vec(),
            b"Usage: xenstore-read [-h] key".to_vec(),
            b"\n".to_vec(),
        ]
    );
    assert_eq!(out.stdout, b"stdout text\n");
    let out = run(&["prog"], &[], |_| {
        set_errno(13);
        // SAFETY: format and arguments match.
        unsafe { cerr::err(4, p(c"xs_domain_open")) }
    });
    assert_eq!(out.status, Some(4));
    assert_eq!(out.stderr, b"prog: xs_domain_open: Permission denied\n");
}

#[test]
fn assert_fail_and_stack_chk_fail() {
    let out = run(&["/x/prog"], &[], |_| {
        // SAFETY: C strings.
        unsafe { start::assert_fail(p(c"num >= 2"), p(c"xs.c"), 1234, p(c"xs_check_watch")) }
    });
    assert_eq!(out.status, Some(134));
    assert_eq!(out.stderr, b"prog: xs.c:1234: xs_check_watch: Assertion `num >= 2' failed.\n");
    let out = run(&["prog"], &[], |_| start::stack_chk_fail());
    assert_eq!(out.status, Some(134));
    assert_eq!(out.stderr, b"*** stack smashing detected ***: terminated\n");
    assert!(super::mock::consoles().contains(&b"*** stack smashing detected ***: terminated".to_vec()));
}

extern "C" {
    #[link_name = "sscanf"]
    fn host_sscanf(s: *const c_char, fmt: *const c_char, ...) -> c_int;
}

#[test]
fn sscanf_through_the_abi() {
    let out = run(&["t"], &[], |_| {
        let (mut x, mut n, mut o, mut n2) = (0u32, 0 as c_int, 0u32, 0 as c_int);
        // SAFETY: pointers match the conversions.
        let r1 = unsafe { cscanf::sscanf(p(c"41rest"), p(c"%2x%n"), &mut x, &mut n) };
        // SAFETY: as above.
        let r2 = unsafe { cscanf::sscanf(p(c"1017"), p(c"%3o%n"), &mut o, &mut n2) };
        let (mut a, mut b) = (0 as c_int, 0 as c_int);
        // SAFETY: as above.
        let r3 = unsafe { cscanf::sscanf(p(c"5 6"), p(c"%2$d %1$d"), &mut a, &mut b) };
        let mut word = [0u8; 16];
        let mut alloc: *mut c_char = core::ptr::null_mut();
        // SAFETY: as above.
        let r4 = unsafe { cscanf::sscanf(p(c"key value"), p(c"%15s %ms"), word.as_mut_ptr(), &mut alloc) };
        let got = bytes_of(alloc);
        // SAFETY: %ms allocated it on our heap.
        unsafe { cstdlib::free(alloc as *mut c_void) };
        // SAFETY: as above.
        let r5 = unsafe { cscanf::sscanf(p(c""), p(c"%d"), &mut a) };
        // The host agrees on the first ones.
        let (mut hx, mut hn) = (0u32, 0 as c_int);
        // SAFETY: as above.
        let h1 = unsafe { host_sscanf(p(c"41rest"), p(c"%2x%n"), &mut hx, &mut hn) };
        ((r1, x, n), (h1, hx, hn), (r2, o, n2), (r3, a, b), (r4, bytes_of(word.as_ptr() as *const c_char), got), r5)
    });
    let (one, host, two, three, four, five) = out.ret.unwrap();
    assert_eq!(one, (1, 0x41, 2));
    assert_eq!(one, host);
    assert_eq!(two, (1, 0o101, 3));
    assert_eq!(three, (2, 6, 5));
    assert_eq!(four, (2, b"key".to_vec(), b"value".to_vec()));
    assert_eq!(five, -1);
}

#[test]
fn strings_and_numbers() {
    let out = run(&["t"], &["A=1", "XENSTORED_PATH=/dev/x", "EMPTY="], |_| {
        let mut r = Vec::new();
        // SAFETY: C strings and buffers of the sizes given.
        unsafe {
            r.push(cstring::c_strlen(p(c"hello")) as i64);
            r.push(i64::from(cstring::strcmp(p(c"a"), p(c"b")).signum()));
            r.push(i64::from(cstring::strcmp(p(c"\xff"), p(c"a")).signum()));
            r.push(i64::from(cstring::strncmp(p(c"abcx"), p(c"abcy"), 3)));
            r.push(i64::from(
                cstring::memcmp(b"ab".as_ptr() as *const c_void, b"ac".as_ptr() as *const c_void, 2).signum(),
            ));
            let s = p(c"/a/b/c");
            r.push(cstring::strrchr(s, b'/' as c_int).offset_from(s) as i64);
            r.push(cstring::strrchr(s, b'z' as c_int).is_null() as i64);
            r.push(cstring::strchr(s, 0).offset_from(s) as i64);
            let mut buf = [0xaau8; 8];
            cstring::strncpy(buf.as_mut_ptr() as *mut c_char, p(c"ab"), 5);
            assert_eq!(buf, [b'a', b'b', 0, 0, 0, 0xaa, 0xaa, 0xaa]);
            let mut dst = [0u8; 8];
            cstring::memcpy(dst.as_mut_ptr() as *mut c_void, b"xyz".as_ptr() as *const c_void, 3);
            assert_eq!(&dst[..3], b"xyz");
            let d = cstdlib::strdup(p(c"dup"));
            assert_eq!(bytes_of(d), b"dup");
            cstdlib::free(d as *mut c_void);
            let mut end: *mut c_char = core::ptr::null_mut();
            let src = p(c"  0x1fz");
            r.push(cstdlib::strtol(src, &mut end, 0));
            r.push(end.offset_from(src) as i64);
            set_errno(0);
            r.push(cstdlib::strtol(p(c"99999999999999999999"), core::ptr::null_mut(), 10));
            r.push(i64::from(errno()));
            r.push(cstdlib::strtoul(p(c"-1"), core::ptr::null_mut(), 0) as i64);
            r.push(i64::from(cstdlib::atoi(p(c"42abc"))));
            assert_eq!(bytes_of(cstdlib::getenv(p(c"XENSTORED_PATH"))), b"/dev/x");
            assert_eq!(bytes_of(cstdlib::getenv(p(c"EMPTY"))), b"");
            assert!(cstdlib::getenv(p(c"XENSTORED")).is_null());
            assert!(cstdlib::getenv(p(c"")).is_null());
            assert_eq!(bytes_of(cstring::strerror(2)), b"No such file or directory");
            assert_eq!(cstring::strerror(2), cstring::strerror(2));
            assert_eq!(bytes_of(cstring::strerror(1000)), b"Unknown error 1000");
        }
        r
    });
    assert_eq!(out.ret.unwrap(), vec![5, -1, 1, 0, -1, 4, 1, 6, 0x1f, 6, i64::MAX, 34, -1, 42]);
}

#[test]
fn signals_are_recorded_like_linux() {
    let out = run(&["t"], &[], |_| {
        let mut set = [0xaau8; 128];
        // SAFETY: 128-byte sigset_t buffers; 152-byte struct sigaction.
        unsafe {
            signal::sigfillset(set.as_mut_ptr());
            assert_eq!(set[..8], [0xff, 0xff, 0xff, 0x7f, 0xfe, 0xff, 0xff, 0xff]);
            assert_eq!(set[8], 0xaa);
            signal::sigemptyset(set.as_mut_ptr());
            assert_eq!(set[..8], [0; 8]);
            assert_eq!((signal::sigaddset(set.as_mut_ptr(), 32), errno()), (-1, 22));
            assert_eq!(signal::sigaddset(set.as_mut_ptr(), 13), 0);
            assert_eq!(signal::sigismember(set.as_ptr(), 13), 1);
            let mut act = [0u8; 152];
            act[0] = 1; // SIG_IGN
            let mut old = [0xaau8; 152];
            assert_eq!(signal::sigaction(13, act.as_ptr(), old.as_mut_ptr()), 0);
            assert!(old.iter().all(|&b| b == 0));
            assert_eq!(signal::sigaction(13, core::ptr::null(), old.as_mut_ptr()), 0);
            assert_eq!(old[0], 1);
            assert_eq!(old[136..140], 0x0400_0000u32.to_le_bytes());
            assert_eq!((signal::sigaction(9, act.as_ptr(), core::ptr::null_mut()), errno()), (-1, 22));
            assert_eq!(signal::sigaction(9, core::ptr::null(), old.as_mut_ptr()), 0);
            assert_eq!((signal::sigaction(65, core::ptr::null(), old.as_mut_ptr()), errno()), (-1, 22));
            let mut full = [0u8; 128];
            signal::sigfillset(full.as_mut_ptr());
            let mut prev = [0xaau8; 16];
            assert_eq!(signal::pthread_sigmask(2, full.as_ptr(), prev.as_mut_ptr()), 0);
            assert_eq!(prev, [0, 0, 0, 0, 0, 0, 0, 0, 0xaa, 0xaa, 0xaa, 0xaa, 0xaa, 0xaa, 0xaa, 0xaa]);
            assert_eq!(signal::pthread_sigmask(2, core::ptr::null(), prev.as_mut_ptr()), 0);
            assert_eq!(prev[..8], [0xff, 0xfe, 0xfb, 0x7f, 0xfe, 0xff, 0xff, 0xff]);
            assert_eq!(signal::pthread_sigmask(7, full.as_ptr(), prev.as_mut_ptr()), 22);
            assert_eq!(signal::pthread_sigmask(7, core::ptr::null(), prev.as_mut_ptr()), 0);
        }
    });
    assert_eq!(out.status, None);
}

#[test]
fn sysconf_and_dlsym() {
    let out = run(&["t"], &[], |_| {
        use crate::abi::cunistd::{dlsym, sysconf};
        // SAFETY: a C string.
        let d = unsafe { dlsym(core::ptr::null_mut(), p(c"__pthread_get_minstack")) };
        (sysconf(75), sysconf(30), (sysconf(9999), errno()), d.is_null())
    });
    assert_eq!(out.ret, Some((16384 as c_long, 4096, (-1, 22), true)));
}
