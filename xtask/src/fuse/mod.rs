//! FUSE harnesses: `cargo xtask fuse-conformance` (pjdfstest and fsx against a mount) and the
//! mounts `cargo xtask bench fuse` shares with it.

pub(crate) mod conformance;
pub(crate) mod mount;
