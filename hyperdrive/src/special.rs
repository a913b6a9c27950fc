//! Special files ([`Drive::mknod`]): FIFOs, sockets and device nodes, stored as Stats with
//! their file-type bits in `mode` and no content. The kernel gives them their behaviour once
//! they exist (a FIFO's pipe, a device's driver); the drive only remembers that they exist.
//!
//! A device's number is kept in the Stat's metadata under [`RDEV_KEY`] as a varint
//! (protobuf's little-endian base-128) of the Linux `dev_t`. Node sees such a Stat as a file
//! with no blocks (its `isFile()` is a bitmask test that sockets pass too).

use crate::drive::Drive;
use crate::error::{Error, Result};
use crate::fs::WriteOptions;
use crate::path::fix_name;
use crate::proto::{get_varint, put_varint};
use crate::stat::{Stat, mode};

/// Metadata key of a device node's number (`dev_t`); reserved.
pub const RDEV_KEY: &str = "ddrive:rdev";

impl Stat {
    /// The device number of a character or block device node ([`Drive::mknod`]); 0 otherwise.
    pub fn rdev(&self) -> u64 {
        self.metadata
            .get(RDEV_KEY)
            .flatten()
            .and_then(get_varint)
            .map_or(0, |(v, _)| v)
    }
}

impl Drive {
    /// Makes the special file `path` (POSIX `mknod`): `mode` holds the file type
    /// ([`mode::S_IFIFO`], [`mode::S_IFSOCK`], [`mode::S_IFCHR`], [`mode::S_IFBLK`], or
    /// [`mode::S_IFREG`] / no type bits for an empty regular file) and the permission bits;
    /// `rdev` is the device number of a device node (ignored for the other types).
    /// `options` gives the owner, times and metadata (its `mode` is not used).
    ///
    /// Errors: EEXIST (the path has a node), EINVAL (a directory or symlink type: use
    /// [`Drive::mkdir`] or [`Drive::symlink`]), EACCES (read-only).
    pub fn mknod(&self, path: &str, mode: u32, rdev: u64, options: &WriteOptions) -> Result<Stat> {
        self.ensure_writable()?;
        let name = fix_name(path);
        let kind = match mode & mode::S_IFMT {
            0 => mode::S_IFREG,
            k
            @ (mode::S_IFREG | mode::S_IFIFO | mode::S_IFSOCK | mode::S_IFCHR | mode::S_IFBLK) => k,
            other => {
                return Err(Error::InvalidArgument(format!(
                    "mknod cannot make file type {other:o} at {name}"
                )));
            }
        };
        let now = self.now();
        let mut stat = Stat {
            mode: kind | (mode & 0o7777),
            uid: options.uid,
            gid: options.gid,
            mtime: options.mtime.unwrap_or(now),
            ctime: options.ctime.unwrap_or(now),
            metadata: options.metadata.clone(),
            ..Stat::default()
        };
        if kind == mode::S_IFCHR || kind == mode::S_IFBLK {
            let mut value = Vec::with_capacity(10);
            put_varint(&mut value, rdev);
            stat.metadata.set(RDEV_KEY, Some(value));
        }
        stat.metadata.remove(crate::link::LINK_KEY);
        // The condition refuses an existing node in the same trie operation as the put.
        self.put_node(&name, stat.encode(), 0, true)?;
        Ok(stat)
    }
}
