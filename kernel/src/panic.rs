//! The panic handler: message and location, a backtrace, a flushed console,
//! and a shutdown with reason `crash` (see `crash::crash`).
use core::fmt::Write;
use core::panic::PanicInfo;

#[panic_handler]
fn panic(info: &PanicInfo) -> ! {
    let mut b = crate::log::LineBuf::new();
    let _ = write!(b, "PANIC: {}", info.message());
    if let Some(loc) = info.location() {
        let _ = write!(b, " at {}:{}:{}", loc.file(), loc.line(), loc.column());
    }
    let what = core::str::from_utf8(b.as_bytes()).unwrap_or("PANIC");
    crate::crash::crash(what, None, None, crate::arch::frame_pointer())
}
