//! `vfs::boot_module_files`: the harness gives every test guest a newc cpio
//! archive as its `ramdisk=` module; its files must appear in the VFS.
use super::{Test, TestResult};
use crate::fs::{self, Program, O_RDONLY};

/// What the harness puts in the archive (tests/harness/xenrun.py, BOOT_MODULE_FILES).
const HELLO: &[u8] = b"hello from the boot module\n";

fn boot_module_files() -> TestResult {
    let p = Program::new();
    let fd = crate::check_ok!(p.open("/boot-files/hello.txt", O_RDONLY));
    let mut buf = [0u8; 64];
    let n = crate::check_ok!(p.read(fd, &mut buf));
    crate::check_bytes!(buf[..n], HELLO);
    crate::check_eq!(crate::check_ok!(p.read(fd, &mut buf)), 0);
    crate::check_ok!(p.close(fd));
    let st = crate::check_ok!(fs::stat("/boot-files/sub/data.bin"));
    crate::check_eq!(st.size, 4096);
    let names: alloc::vec::Vec<alloc::vec::Vec<u8>> =
        crate::check_ok!(fs::readdir("/boot-files")).into_iter().map(|e| e.name).collect();
    crate::check!(names.iter().any(|n| n == b"hello.txt") && names.iter().any(|n| n == b"sub"), "listing {:?}", names);
    Ok(())
}

pub static TESTS: &[Test] =
    &[Test { suite: "vfs", name: "boot_module_files", func: boot_module_files, timeout_ms: 2_000, default: true }];
