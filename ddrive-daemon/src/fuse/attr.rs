//! Drive Stats as FUSE attributes, and drive errors as errnos.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use fuser::{Errno, FileAttr, FileType, INodeNo};
use hyperdrive::{Error, Stat, mode};

/// Block size reported to `stat` (the drive's content block is 512 KiB, but tools size
/// their buffers from this; 4 KiB is what they expect of a disk).
const BLKSIZE: u32 = 4096;

fn time(ms: u64) -> SystemTime {
    UNIX_EPOCH + Duration::from_millis(ms)
}

/// Milliseconds since the epoch of `t` (0 before it).
pub(crate) fn millis(t: SystemTime) -> u64 {
    t.duration_since(UNIX_EPOCH)
        .map_or(0, |d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
}

/// The FUSE file type of a Stat (a mount point is a directory).
pub(crate) fn kind(stat: &Stat) -> FileType {
    if stat.mount.is_some() {
        return FileType::Directory;
    }
    match stat.file_type() {
        mode::S_IFDIR => FileType::Directory,
        mode::S_IFLNK => FileType::Symlink,
        mode::S_IFIFO => FileType::NamedPipe,
        mode::S_IFSOCK => FileType::Socket,
        mode::S_IFCHR => FileType::CharDevice,
        mode::S_IFBLK => FileType::BlockDevice,
        _ => FileType::RegularFile,
    }
}

/// The attributes of inode `ino` whose Stat is `stat`.
pub(crate) fn file_attr(ino: u64, stat: &Stat) -> FileAttr {
    let kind = kind(stat);
    let size = match kind {
        FileType::Symlink => stat.linkname.as_ref().map_or(0, |l| l.len() as u64),
        FileType::Directory => 0,
        _ => stat.size,
    };
    let mut perm = (stat.mode & 0o7777) as u16;
    if perm == 0 && stat.mode & mode::S_IFMT == 0 {
        // A Stat without mode bits (an implicit directory, or a writer that left them out).
        perm = if kind == FileType::Directory {
            mode::DEFAULT_DIR as u16
        } else {
            mode::DEFAULT_FILE as u16
        };
    }
    let mtime = time(stat.mtime);
    FileAttr {
        ino: INodeNo(ino),
        size,
        blocks: size.div_ceil(512),
        atime: mtime,
        mtime,
        ctime: time(stat.ctime),
        crtime: time(stat.ctime),
        kind,
        perm,
        nlink: if kind == FileType::Directory {
            2
        } else {
            // Hard-linked names carry their count (hyperdrive keeps it on every name).
            u32::try_from(stat.nlink()).unwrap_or(u32::MAX)
        },
        uid: stat.uid,
        gid: stat.gid,
        // A device's number, kept in the Stat's metadata; 0 for everything else.
        rdev: u32::try_from(stat.rdev()).unwrap_or(0),
        blksize: BLKSIZE,
        flags: 0,
    }
}

/// A read-only virtual directory's attributes.
pub(crate) fn virtual_dir(ino: u64, now: u64) -> FileAttr {
    let mut stat = Stat::directory(now);
    stat.mode = mode::S_IFDIR | 0o555;
    file_attr(ino, &stat)
}

/// A read-only virtual file of `size` bytes.
pub(crate) fn virtual_file(ino: u64, size: u64, now: u64) -> FileAttr {
    let mut stat = Stat::file(now);
    stat.mode = mode::S_IFREG | 0o444;
    stat.size = size;
    file_attr(ino, &stat)
}

/// A virtual symlink to `target`.
pub(crate) fn virtual_link(ino: u64, target: &str, now: u64) -> FileAttr {
    let mut stat = Stat::symlink(target, now);
    stat.mode = mode::S_IFLNK | 0o777;
    file_attr(ino, &stat)
}

/// The errno of a failed drive operation. Writes to a drive we cannot sign are EROFS (the
/// drive library says EACCES, which would tell the user to change permissions); a block
/// that peers did not deliver in time (or that no peer can deliver) is EIO, logged with the
/// drive, the path and the block so the failure can be traced.
pub(crate) fn errno(op: &str, drive: &hypercore::PublicKey, path: &str, e: &Error) -> Errno {
    match e {
        Error::NotWritable => Errno::EROFS,
        Error::Timeout { feed, index, .. } | Error::NotStored { feed, index } => {
            tracing::warn!(
                op,
                drive = %drive.to_hex(),
                path,
                feed = %feed,
                block = index,
                "FUSE: a block did not arrive from peers in time: EIO"
            );
            Errno::EIO
        }
        other => {
            let n = other.errno();
            if n == hyperdrive::errno::EIO {
                tracing::warn!(op, drive = %drive.to_hex(), path, error = %other, "FUSE: EIO");
            }
            Errno::from_i32(n)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stats_become_attributes() {
        let mut s = Stat::file(2_000);
        s.size = 1_000;
        s.mode = mode::S_IFREG | 0o640;
        let a = file_attr(9, &s);
        assert_eq!(
            (a.size, a.blocks, a.perm, a.kind),
            (1_000, 2, 0o640, FileType::RegularFile)
        );
        assert_eq!(millis(a.mtime), 2_000);
        let l = file_attr(3, &Stat::symlink("../x", 0));
        assert_eq!((l.kind, l.size), (FileType::Symlink, 4));
        assert_eq!(kind(&Stat::directory(0)), FileType::Directory);
    }

    #[test]
    fn read_only_drives_are_erofs() {
        let key = hypercore::PublicKey([0; 32]);
        assert_eq!(
            errno("write", &key, "/a", &Error::NotWritable),
            Errno::EROFS
        );
        let late = Error::NotStored {
            feed: "ab".into(),
            index: 3,
        };
        assert_eq!(errno("read", &key, "/a", &late), Errno::EIO);
        assert_eq!(
            errno("lookup", &key, "/a", &Error::NotFound("/a".into())),
            Errno::ENOENT
        );
    }
}
