//! `xenbus`: see the module's tests.
use super::Test;

pub static TESTS: &[Test] = &[];
