//! Links the kernel with the project's linker script and rebuilds it when the
//! assembly in `boot/` changes.
fn main() {
    let dir = std::env::var("CARGO_MANIFEST_DIR").unwrap();
    println!("cargo:rustc-link-arg-bins=-T{dir}/../linker.ld");
    println!("cargo:rerun-if-changed={dir}/../linker.ld");
    println!("cargo:rerun-if-changed={dir}/../boot");
}
