//! Kernel logging: `kprintln!` for plain console output and `error!`,
//! `warn!`, `info!`, `debug!` for leveled messages with a timestamp (seconds
//! of Xen system time since boot). The level threshold comes from the
//! command line (`loglevel=error|warn|info|debug`, default info).
use core::fmt::{self, Write};
use core::sync::atomic::{AtomicU64, AtomicU8, Ordering};

/// Message levels, most severe first.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Debug)]
#[repr(u8)]
pub enum Level {
    Error = 0,
    Warn = 1,
    Info = 2,
    Debug = 3,
}

impl Level {
    fn tag(self) -> &'static str {
        match self {
            Level::Error => "ERROR",
            Level::Warn => "WARN ",
            Level::Info => "INFO ",
            Level::Debug => "DEBUG",
        }
    }

    /// Parses a `loglevel=` value.
    pub fn parse(s: &str) -> Option<Level> {
        Some(match s {
            "error" => Level::Error,
            "warn" => Level::Warn,
            "info" => Level::Info,
            "debug" => Level::Debug,
            _ => return None,
        })
    }
}

static MAX_LEVEL: AtomicU8 = AtomicU8::new(Level::Info as u8);
static BOOT_NS: AtomicU64 = AtomicU64::new(0);

/// Sets the most verbose level printed.
pub fn set_max_level(l: Level) {
    MAX_LEVEL.store(l as u8, Ordering::Relaxed);
}

/// Records the system time that counts as 0 in timestamps.
pub fn set_boot_time(ns: u64) {
    BOOT_NS.store(ns, Ordering::Relaxed);
}

/// Nanoseconds since [`set_boot_time`].
pub fn uptime_ns() -> u64 {
    crate::xen::time::now_ns().saturating_sub(BOOT_NS.load(Ordering::Relaxed))
}

/// Formats into a fixed stack buffer, then writes once (one console lock
/// acquisition per message, and no heap use, so logging works before the
/// heap exists and from the crash path).
pub struct LineBuf {
    buf: [u8; 512],
    len: usize,
}

impl LineBuf {
    pub const fn new() -> Self {
        Self { buf: [0; 512], len: 0 }
    }
    pub fn as_bytes(&self) -> &[u8] {
        &self.buf[..self.len]
    }
}

impl Write for LineBuf {
    fn write_str(&mut self, s: &str) -> fmt::Result {
        let room = self.buf.len() - self.len;
        let n = s.len().min(room);
        self.buf[self.len..self.len + n].copy_from_slice(&s.as_bytes()[..n]);
        self.len += n;
        Ok(())
    }
}

#[doc(hidden)]
pub fn _print(args: fmt::Arguments) {
    let mut b = LineBuf::new();
    let _ = b.write_fmt(args);
    crate::xen::console::write(b.as_bytes());
}

#[doc(hidden)]
pub fn _log(level: Level, args: fmt::Arguments) {
    if level as u8 > MAX_LEVEL.load(Ordering::Relaxed) {
        return;
    }
    let t = uptime_ns();
    let mut b = LineBuf::new();
    let _ = write!(b, "[{:5}.{:06}] {} ", t / 1_000_000_000, (t % 1_000_000_000) / 1000, level.tag());
    let _ = b.write_fmt(args);
    let _ = b.write_str("\n");
    crate::xen::console::write(b.as_bytes());
}

/// Prints to the console without a newline.
#[macro_export]
macro_rules! kprint {
    ($($arg:tt)*) => { $crate::log::_print(format_args!($($arg)*)) };
}

/// Prints a line to the console.
#[macro_export]
macro_rules! kprintln {
    () => { $crate::log::_print(format_args!("\n")) };
    ($($arg:tt)*) => { $crate::log::_print(format_args!("{}\n", format_args!($($arg)*))) };
}

#[macro_export]
macro_rules! error { ($($arg:tt)*) => { $crate::log::_log($crate::log::Level::Error, format_args!($($arg)*)) }; }
#[macro_export]
macro_rules! warn { ($($arg:tt)*) => { $crate::log::_log($crate::log::Level::Warn, format_args!($($arg)*)) }; }
#[macro_export]
macro_rules! info { ($($arg:tt)*) => { $crate::log::_log($crate::log::Level::Info, format_args!($($arg)*)) }; }
#[macro_export]
macro_rules! debug { ($($arg:tt)*) => { $crate::log::_log($crate::log::Level::Debug, format_args!($($arg)*)) }; }
