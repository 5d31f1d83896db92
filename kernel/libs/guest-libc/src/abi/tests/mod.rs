//! Host tests of the C ABI.
