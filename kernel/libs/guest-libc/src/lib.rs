//! glibc 2.36-exact engines for the in-kernel libc that runs Debian's
//! unmodified xenstore tools (`/usr/bin/xenstore` and its links, with
//! `libxenstore.so.4` and `libxentoolcore.so.1`).
//!
//! The engines are pure, safe Rust over slices and small traits. The
//! `extern "C"` layer built on them (raw pointers, `va_list`, `FILE *`,
//! process and thread state, pthreads, `setjmp`) is [`abi`], the only module
//! with `unsafe` code (besides the test-only access to the host's glibc):
//! the kernel resolves the programs' imports with [`abi::lookup`] and
//! provides its services through [`abi::Sys`]. Each module documents the
//! exact contract and the glibc behaviours it reproduces; the host tests
//! compare every engine with the host's glibc (Debian 12, glibc 2.36), which
//! prints the same texts as the guest's target, and run Debian's
//! `/usr/bin/xenstore` itself on the [`abi`] layer.
//!
//! * [`abi`], the C ABI: every glibc symbol the xenstore objects import.
//!
//! * [`printf`] (+ [`float`]), the `vfprintf` engine.
//! * [`scanf`], the `__isoc99_sscanf` engine.
//! * [`strtol`], `strtol`/`strtoul`/`strtoll`/`strtoull`/`atoi`.
//! * [`getopt`], GNU `getopt_long` / `getopt_long_only` / `getopt`.
//! * [`strerror`], `strerror` texts and errno names.
//! * [`stdio`], the buffering logic of a `FILE` opened for writing.
//! * [`err`], the messages of `err`/`warn`/`__assert_fail`/
//!   `__stack_chk_fail`/`__chk_fail`, and `program_invocation_short_name`.
//!
//! Format strings and options the xenstore tools use (from `strings` on the
//! Debian binaries and Xen 4.17's `tools/xenstore/xenstore_client.c`,
//! `xs_lib.c`, `tools/libs/store/xs.c`):
//!
//! * printf family: `"%s%s%s"`, `"%.*s"`, `" = \"%.*s\\...\""`, `" = \"%s\""`,
//!   `"%s/%s"`, `"%s: "`, `"%s\n"`, `"%s/"`, `"%s/tdb"`, `"%s/socket"`,
//!   `"%i"`, `"%03o"`, `"x%02x"`, `"%u"`, `"%lu"`,
//!   `"/local/domain/%d/device/suspend/event-channel"`, `errx` usage texts
//!   with `%s`, `"Unable to locate path separator '%c' in '%s'"`.
//! * sscanf: `"%2x%n"` and `"%3o%n"` (unsanitising `\x..` and octal escapes).
//! * getopt_long: `"hfspturn:R"` with long options `help flat prefix tidy upto
//!   recurse number(arg) raw`, called on `argv + 1` when invoked as
//!   `xenstore <mode>`, so messages are prefixed with the mode word.
//! * strtol (for `atoi` of `-n`, and `xs_strings_to_perms` with base 0),
//!   strtoul (base 0).
#![cfg_attr(not(test), no_std)]
#![deny(unsafe_code)]
#![feature(c_variadic)]

extern crate alloc;

pub mod abi;
pub mod err;
pub mod errno;
pub mod float;
pub mod getopt;
pub mod printf;
pub mod scanf;
pub mod stdio;
pub mod strerror;
pub mod strtol;

#[cfg(test)]
#[allow(unsafe_code)]
mod host;
