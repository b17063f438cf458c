//! Test helpers live in tests/; this library is empty.
