//! [`Drive::copy_file`]: a whole-file copy that shares the source's content blocks.
//!
//! Content blocks are never rewritten (the feed only grows), so two Stats may point at the
//! same run: the copy costs one trie node and no data, and a later write to either file
//! appends new blocks as any write does, leaving the other's blocks as they were.

use crate::drive::Drive;
use crate::error::{Error, Result};
use crate::layout::EXTENTS_KEY;
use crate::path::fix_name;
use crate::stat::{Stat, mode};

impl Drive {
    /// Makes `to` a copy of the file at `from` (following symlinks) without copying data: its
    /// Stat points at the source's blocks (and, for a file stored as extents, carries the
    /// same extent record). An existing file at `to` keeps its own mode, owner and metadata
    /// and takes the content (as `copy_file_range` of the whole file into it would); a new
    /// `to` takes the source's mode and owner. Times are *now*. Returns `to`'s Stat.
    ///
    /// Errors: ENOENT (no `from`), EISDIR (either is a directory), EINVAL (a mount point),
    /// EXDEV (the two fall in different drives through mounts: blocks are per drive),
    /// EACCES (read-only).
    pub fn copy_file(&self, from: &str, to: &str) -> Result<Stat> {
        self.ensure_writable()?;
        let src = self.stat_located(&fix_name(from), true)?;
        check_file(&src.name, &src.stat)?;
        let to = fix_name(to);
        let dst = match self.stat_located(&to, false) {
            Ok(dst) => {
                check_file(&dst.name, &dst.stat)?;
                Some(dst)
            }
            Err(Error::NotFound(_)) => None,
            Err(e) => return Err(e),
        };
        let target = dst.as_ref().map_or(to.clone(), |d| d.name.clone());
        let (src_owner, _) = self.owner(&src.name)?;
        let (dst_owner, _) = self.owner(&target)?;
        if src_owner.key() != dst_owner.key() || src_owner.checkout != dst_owner.checkout {
            return Err(Error::CrossDevice(format!("copy {} -> {target}", src.name)));
        }
        dst_owner.ensure_writable()?;
        let now = self.now();
        let mut stat = match dst {
            Some(dst) => dst.stat,
            None => Stat {
                mode: src.stat.mode,
                uid: src.stat.uid,
                gid: src.stat.gid,
                ..Stat::default()
            },
        };
        stat.size = src.stat.size;
        stat.blocks = src.stat.blocks;
        stat.offset = src.stat.offset;
        stat.byte_offset = src.stat.byte_offset;
        stat.mtime = now;
        stat.ctime = now;
        match src.stat.metadata.get(EXTENTS_KEY) {
            Some(record) => stat.metadata.set(EXTENTS_KEY, record.map(<[u8]>::to_vec)),
            None => stat.metadata.remove(EXTENTS_KEY),
        }
        self.put_file_stat(&target, stat, 0)
    }
}

fn check_file(name: &str, stat: &Stat) -> Result<()> {
    if stat.mount.is_some() {
        return Err(Error::InvalidArgument(format!("{name} is a mount point")));
    }
    if stat.file_type() == mode::S_IFDIR {
        return Err(Error::IsDirectory(name.to_owned()));
    }
    Ok(())
}
