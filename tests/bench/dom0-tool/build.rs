//! Takes `XEN_DOMCTL_INTERFACE_VERSION` from the installed Xen headers
//! (libxen-dev, installed by `make deps`): the domctl ABI changes between
//! Xen releases, and Xen refuses a domctl of another version (EACCES).
use std::fs;

fn main() {
    const HEADER: &str = "/usr/include/xen/domctl.h";
    println!("cargo:rerun-if-changed={HEADER}");
    let version = fs::read_to_string(HEADER).ok().and_then(|text| {
        text.lines().find_map(|l| {
            let rest = l.trim().strip_prefix("#define XEN_DOMCTL_INTERFACE_VERSION")?;
            let hex = rest.trim().strip_prefix("0x")?;
            u32::from_str_radix(hex, 16).ok()
        })
    });
    let version = version.unwrap_or_else(|| {
        // Xen 4.17's value; the tool reports EACCES clearly if it is wrong.
        println!("cargo:warning={HEADER} not found or unreadable: assuming the Xen 4.17 domctl interface (0x15)");
        0x15
    });
    println!("cargo:rustc-env=XEN_DOMCTL_INTERFACE_VERSION={version}");
}
