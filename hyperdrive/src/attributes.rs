//! [`Drive::set_attributes`]: chmod, chown and utimens on a Stat, kept the same under every
//! name of a hard-linked file.

use crate::drive::Drive;
use crate::error::Result;
use crate::stat::{Stat, mode};

/// The Stat fields [`Drive::set_attributes`] changes; `None` keeps a field.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct Attributes {
    /// Permission bits (`0o7777`); the file type is kept.
    pub mode: Option<u32>,
    /// Owner.
    pub uid: Option<u32>,
    /// Group.
    pub gid: Option<u32>,
    /// Modification time, ms.
    pub mtime: Option<u64>,
    /// Change time, ms (`None`: *now*, as every POSIX attribute change sets it).
    pub ctime: Option<u64>,
}

impl Attributes {
    /// Sets [`Attributes::mode`].
    pub fn mode(mut self, mode: u32) -> Self {
        self.mode = Some(mode);
        self
    }

    /// Sets [`Attributes::uid`] and [`Attributes::gid`].
    pub fn owner(mut self, uid: Option<u32>, gid: Option<u32>) -> Self {
        self.uid = uid;
        self.gid = gid;
        self
    }

    /// Sets [`Attributes::mtime`].
    pub fn mtime(mut self, mtime: u64) -> Self {
        self.mtime = Some(mtime);
        self
    }

    /// Sets [`Attributes::ctime`].
    pub fn ctime(mut self, ctime: u64) -> Self {
        self.ctime = Some(ctime);
        self
    }
}

impl Drive {
    /// Changes the attributes of the node at `path` itself (a symlink's own Stat; every name
    /// of a hard-linked file). Returns the new Stat.
    ///
    /// Errors: ENOENT (no node: implicit directories have none), EACCES (read-only).
    pub fn set_attributes(&self, path: &str, attributes: &Attributes) -> Result<Stat> {
        let now = self.now();
        self.update_stat(path, |stat: &mut Stat| {
            if let Some(bits) = attributes.mode {
                stat.mode = (stat.mode & mode::S_IFMT) | (bits & 0o7777);
            }
            if let Some(uid) = attributes.uid {
                stat.uid = uid;
            }
            if let Some(gid) = attributes.gid {
                stat.gid = gid;
            }
            if let Some(mtime) = attributes.mtime {
                stat.mtime = mtime;
            }
            stat.ctime = attributes.ctime.unwrap_or(now);
            Ok(())
        })
    }
}
