//! [`Drive::set_attr`]: chmod, chown and utimens in one Stat update, as a filesystem layer
//! (FUSE) needs them, including on files with writable descriptors open.

use crate::drive::Drive;
use crate::error::{Error, Result};
use crate::fs::decode_stat;
use crate::path::fix_name;
use crate::stat::{Stat, mode};

/// What [`Drive::set_attr`] changes; `None` leaves a field as it is.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct SetAttr {
    /// Permission bits (and set-id/sticky bits, `0o7777`); the file type is kept.
    pub mode: Option<u32>,
    /// Owner.
    pub uid: Option<u32>,
    /// Group.
    pub gid: Option<u32>,
    /// Modification time, ms since the Unix epoch.
    pub mtime: Option<u64>,
}

impl SetAttr {
    /// Sets [`SetAttr::mode`].
    pub fn mode(mut self, mode: u32) -> Self {
        self.mode = Some(mode);
        self
    }

    /// Sets [`SetAttr::uid`] and [`SetAttr::gid`] (either may be `None`).
    pub fn owner(mut self, uid: Option<u32>, gid: Option<u32>) -> Self {
        self.uid = uid;
        self.gid = gid;
        self
    }

    /// Sets [`SetAttr::mtime`].
    pub fn mtime(mut self, ms: u64) -> Self {
        self.mtime = Some(ms);
        self
    }

    fn apply(&self, stat: &mut Stat, now: u64) {
        if let Some(m) = self.mode {
            stat.mode = (stat.mode & mode::S_IFMT) | (m & 0o7777);
        }
        if let Some(uid) = self.uid {
            stat.uid = uid;
        }
        if let Some(gid) = self.gid {
            stat.gid = gid;
        }
        if let Some(mtime) = self.mtime {
            stat.mtime = mtime;
        }
        // POSIX: any attribute change is a status change.
        stat.ctime = now;
    }
}

impl Drive {
    /// Changes the mode bits, owner and modification time of the node at `path` (symlinks
    /// are not followed) in one put, keeping every other field; the change time becomes now.
    /// A directory known only through the nodes under it gets a Stat of its own; the root
    /// is EINVAL.
    ///
    /// Writable descriptors open on the same file (through this handle or its clones) commit
    /// their writes first and keep the new attributes, so their next commit does not undo
    /// them; an explicit `mtime` stays as set until the next write.
    pub fn set_attr(&self, path: &str, attr: &SetAttr) -> Result<Stat> {
        self.ensure_writable()?;
        let name = fix_name(path);
        if name == "/" {
            // The root has no node of its own; a put at the empty key would shadow the tree.
            return Err(Error::InvalidArgument(
                "the root's attributes are fixed".into(),
            ));
        }
        self.commit_edits_of(&name)?;
        let now = self.now();
        let (mut stat, flags) = match self.resolve(&name)? {
            Some(found) => (decode_stat(&found)?, found.node.flags()),
            None => {
                let stat = self.lstat(&name)?;
                if stat.file_type() != mode::S_IFDIR {
                    return Err(Error::NotFound(name));
                }
                (Stat::directory(now), 0)
            }
        };
        attr.apply(&mut stat, now);
        // A file's change reaches every name it is hard-linked under.
        let stat = if stat.file_type() == mode::S_IFDIR {
            self.put_node(&name, stat.encode(), flags, false)?;
            stat
        } else {
            self.put_file_stat(&name, stat, flags)?
        };
        self.rebase_edits_of(&name, &stat);
        Ok(stat)
    }
}
