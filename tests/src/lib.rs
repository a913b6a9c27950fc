//! Shared helpers of the interop tests.
