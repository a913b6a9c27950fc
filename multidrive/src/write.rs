//! Writes through the union: every write goes to the writer, stamped with the member
//! versions it had seen, and erases the tombstones on the path and its parents.

use hypercore::PublicKey;
use hyperdrive::{Drive, FileWriter, Metadata, MountOptions, ReaddirOptions, Stat, WriteOptions};

use crate::clock::{CLOCK_KEY, RESERVED_PREFIX};
use crate::error::{Error, Result};
use crate::path::{dirname, join, lineage, normalize};
use crate::resolve::Version;
use crate::tombstone::{Tombstone, tombstone_key};
use crate::union::MultiDrive;

/// A file being streamed into the writer ([`MultiDrive::open_writer`]); it becomes visible
/// at [`MultiFileWriter::finish`].
#[derive(Debug)]
pub struct MultiFileWriter {
    inner: FileWriter,
    union: MultiDrive,
    writer: Drive,
    path: String,
}

impl MultiFileWriter {
    /// Appends `data` to the file.
    pub fn write(&mut self, data: &[u8]) -> Result<()> {
        Ok(self.inner.write(data)?)
    }

    /// Commits the file and erases the tombstones on its path and parents.
    pub fn finish(self) -> Result<Stat> {
        let stat = self.inner.finish()?;
        self.union.erase_tombstones(&self.writer, &self.path)?;
        Ok(stat)
    }
}

fn reserved(key: &str) -> Result<()> {
    if key.starts_with(RESERVED_PREFIX) {
        return Err(Error::ReservedKey(key.to_owned()));
    }
    Ok(())
}

fn is_enoent(e: &hyperdrive::Error) -> bool {
    e.errno() == hyperdrive::errno::ENOENT
}

impl MultiDrive {
    /// `options` with the caller's metadata checked and the union's version vector added.
    fn stamped(&self, options: &WriteOptions) -> Result<WriteOptions> {
        for (k, _) in options.metadata.iter() {
            reserved(k)?;
        }
        let mut options = options.clone();
        options
            .metadata
            .set(CLOCK_KEY, Some(self.version_vector().encode()));
        Ok(options)
    }

    /// Re-stamps `path`'s node in the writer with the current version vector (after an edit
    /// that kept the old metadata).
    fn restamp(&self, writer: &Drive, path: &str) -> Result<()> {
        let clock = self.version_vector().encode();
        Ok(writer.set_metadata(path, CLOCK_KEY, &clock)?)
    }

    /// multi-hyperdrive's `ensureDir`: makes `dir` and its missing parents in the writer,
    /// top down (a parent may exist only in another member).
    ///
    /// As in JS the deepest level is checked first and the walk stops at the first that
    /// exists. Directories seen to exist are remembered (a bounded set, forgotten on every
    /// union delete or rename), because a hyperdrive `exists` of an implicit directory lists
    /// its children.
    fn ensure_dir(&self, writer: &Drive, dir: &str) -> Result<()> {
        let levels = lineage(dir);
        let mut missing_from = levels.len();
        for (i, level) in levels.iter().enumerate().rev() {
            if i == 0 || self.dir_known(writer, level) || writer.exists(level)? {
                break;
            }
            missing_from = i;
        }
        for level in &levels[missing_from..] {
            writer.mkdir(level, &self.stamped(&WriteOptions::default())?)?;
        }
        self.remember_dir(writer, dir);
        Ok(())
    }

    /// multi-hyperdrive's `eraseTombstone`: from `/` down to `path`, each level whose deciding
    /// tombstone is active gets an inactive one in the writer.
    pub(crate) fn erase_tombstones(&self, writer: &Drive, path: &str) -> Result<()> {
        let members = self.members();
        for level in lineage(path) {
            if let Some(mark) = self.tombstone_in(&members, &level)?
                && mark.tombstone.active
            {
                self.set_tombstone(writer, &level, false)?;
            }
        }
        Ok(())
    }

    /// Writes a tombstone in the writer, stamped *now* but always after the newest one any
    /// member has for the path: the new record must decide (newest wins) even when the
    /// writer's clock lags another member's, and must differ from the record it replaces.
    fn set_tombstone(&self, writer: &Drive, path: &str, active: bool) -> Result<()> {
        let newest = self.tombstone_in(&self.members(), path)?;
        let now = writer.clock().now();
        let timestamp = newest.map_or(now, |m| now.max(m.tombstone.timestamp.saturating_add(1)));
        let t = Tombstone { active, timestamp };
        Ok(writer.hidden_put(&tombstone_key(path), &t.encode())?)
    }

    /// Whether a member other than the writer has `path` (tombstones aside).
    fn others_have(&self, writer: &Drive, path: &str) -> Result<bool> {
        for d in self.members() {
            if d.key() == writer.key() {
                continue;
            }
            match d.lstat(path) {
                Ok(_) => return Ok(true),
                Err(e)
                    if matches!(
                        e.errno(),
                        hyperdrive::errno::ENOENT | hyperdrive::errno::ENOTDIR
                    ) => {}
                Err(e) => return Err(e.into()),
            }
        }
        Ok(false)
    }

    /// Writes the file `path` in the writer (missing parents made there), then erases the
    /// tombstones on it and its parents.
    pub fn write_file(&self, path: &str, data: &[u8], options: &WriteOptions) -> Result<Stat> {
        let writer = self.require_writer()?;
        let path = normalize(path);
        self.ensure_dir(&writer, &dirname(&path))?;
        let stat = writer.write_file(&path, data, &self.stamped(options)?)?;
        self.erase_tombstones(&writer, &path)?;
        Ok(stat)
    }

    /// A streamed writer of the file `path` in the writer (parents made now, tombstones
    /// erased when it finishes).
    pub fn open_writer(&self, path: &str, options: &WriteOptions) -> Result<MultiFileWriter> {
        let writer = self.require_writer()?;
        let path = normalize(path);
        self.ensure_dir(&writer, &dirname(&path))?;
        let inner = writer.open_writer(&path, self.stamped(options)?)?;
        Ok(MultiFileWriter {
            inner,
            union: self.clone(),
            writer,
            path,
        })
    }

    /// Makes directory `path` (and missing parents) in the writer unless it has it, then
    /// erases the tombstones on it and its parents (as multi-hyperdrive, an existing
    /// directory is not an error).
    pub fn mkdir(&self, path: &str, options: &WriteOptions) -> Result<()> {
        let writer = self.require_writer()?;
        let path = normalize(path);
        self.ensure_dir(&writer, &dirname(&path))?;
        if !writer.exists(&path)? {
            writer.mkdir(&path, &self.stamped(options)?)?;
        }
        self.erase_tombstones(&writer, &path)
    }

    /// Makes `link` a symlink to `target` in the writer (EEXIST when the union has `link`).
    pub fn symlink(&self, target: &str, link: &str) -> Result<Stat> {
        let writer = self.require_writer()?;
        let link = normalize(link);
        if self.resolve(&link)?.winner().is_some() {
            return Err(Error::Drive(hyperdrive::Error::AlreadyExists(link)));
        }
        self.ensure_dir(&writer, &dirname(&link))?;
        if writer.lstat(&link).is_ok() {
            // A tombstoned entry of the writer's own: the link replaces it.
            writer.unlink(&link)?;
        }
        writer.symlink(target, &link)?;
        self.restamp(&writer, &link)?;
        self.erase_tombstones(&writer, &link)?;
        Ok(writer.lstat(&link)?)
    }

    /// Brings the winning version of `path` into the writer (unless it is the writer's):
    /// files with their bytes, directories and symlinks as themselves; mtime, mode, owner and
    /// metadata kept, the change stamped now.
    fn own(&self, writer: &Drive, path: &str) -> Result<Version> {
        let v = self.winner(path)?;
        if v.drive == *writer.key() {
            return Ok(v);
        }
        self.ensure_dir(writer, &dirname(path))?;
        let options = self.copy_options(&v.stat)?;
        if v.stat.is_directory() {
            if !writer.exists(path)? {
                writer.mkdir(path, &options)?;
            }
        } else if let Some(target) = &v.stat.linkname {
            if writer.lstat(path).is_ok() {
                writer.unlink(path)?;
            }
            writer.symlink(target, path)?;
            self.restamp(writer, path)?;
        } else if v.stat.mount.is_some() {
            return Err(Error::Drive(hyperdrive::Error::CrossDevice(format!(
                "{path} is another member's mount"
            ))));
        } else {
            let data = self.member(&v.drive)?.read_file(path)?;
            writer.write_file(path, &data, &options)?;
        }
        self.winner(path)
    }

    /// Write options that copy `stat` (its metadata without the old clock) with a new stamp.
    fn copy_options(&self, stat: &Stat) -> Result<WriteOptions> {
        let mut metadata = Metadata::new();
        for (k, v) in stat.metadata.iter() {
            if !k.starts_with(RESERVED_PREFIX) {
                metadata.set(k, v.map(<[u8]>::to_vec));
            }
        }
        let mut options = WriteOptions::default().owner(stat.uid, stat.gid);
        options.mode = stat.mode & 0o7777;
        options.mtime = Some(stat.mtime);
        options.metadata = metadata;
        self.stamped(&options)
    }

    /// Sets a metadata entry of `path` (copied into the writer first when another member's
    /// entry wins). Keys starting with `ddrive.` are reserved (EINVAL).
    pub fn set_metadata(&self, path: &str, key: &str, value: &[u8]) -> Result<()> {
        reserved(key)?;
        let writer = self.require_writer()?;
        let path = normalize(path);
        self.own(&writer, &path)?;
        writer.set_metadata(&path, key, value)?;
        self.restamp(&writer, &path)
    }

    /// Removes a metadata entry of `path` (as JS, the key stays with no value).
    pub fn remove_metadata(&self, path: &str, key: &str) -> Result<()> {
        reserved(key)?;
        let writer = self.require_writer()?;
        let path = normalize(path);
        self.own(&writer, &path)?;
        writer.remove_metadata(&path, key)?;
        self.restamp(&writer, &path)
    }

    /// POSIX truncate of the file `path` resolves to (ENOENT when it resolves to nothing): in
    /// the writer, after copying another member's winning version there.
    pub fn truncate(&self, path: &str, size: u64) -> Result<()> {
        let writer = self.require_writer()?;
        let path = normalize(path);
        let v = self.winner(&path)?;
        if v.drive == *writer.key() {
            writer.set_len(&path, size)?;
            return self.restamp(&writer, &path);
        }
        if !v.stat.is_file() {
            return Err(Error::Drive(hyperdrive::Error::IsDirectory(path)));
        }
        let mut data = self.member(&v.drive)?.read_file(&path)?;
        data.resize(
            usize::try_from(size).map_err(|_| {
                Error::Drive(hyperdrive::Error::InvalidArgument(format!(
                    "size {size} does not fit in memory"
                )))
            })?,
            0,
        );
        // Parents first: the stamp must be taken just before the file's own node.
        self.ensure_dir(&writer, &dirname(&path))?;
        let options = self.copy_options(&v.stat)?;
        writer.write_file(&path, &data, &options)?;
        Ok(())
    }

    /// Writes `data` at `offset` of the file `path` (pwrite; made if missing), in the writer
    /// after copying another member's winning version there.
    pub fn write_at(&self, path: &str, offset: u64, data: &[u8]) -> Result<Stat> {
        let writer = self.require_writer()?;
        let path = normalize(path);
        match self.own(&writer, &path) {
            Ok(_) => {}
            Err(e) if e.is_not_found() => self.ensure_dir(&writer, &dirname(&path))?,
            Err(e) => return Err(e),
        }
        writer.write_at(&path, offset, data)?;
        self.restamp(&writer, &path)?;
        self.erase_tombstones(&writer, &path)?;
        Ok(writer.lstat(&path)?)
    }

    /// Deletes the entry at `path`: an active tombstone in the writer when another member
    /// still has it, then the writer's own node. ENOENT when nothing resolves, EISDIR for a
    /// directory ([`MultiDrive::rmdir`]).
    pub fn unlink(&self, path: &str) -> Result<()> {
        let writer = self.require_writer()?;
        self.forget_dirs();
        let path = normalize(path);
        let v = self.winner(&path)?;
        if v.stat.is_directory() {
            return Err(Error::Drive(hyperdrive::Error::IsDirectory(path)));
        }
        if self.others_have(&writer, &path)? {
            self.set_tombstone(&writer, &path, true)?;
        }
        match writer.unlink(&path) {
            Err(e) if !is_enoent(&e) => Err(e.into()),
            _ => Ok(()),
        }
    }

    /// Removes the directory `path`: ENOTEMPTY unless the union lists nothing in it, ENOTDIR
    /// for anything else; the writer's own node goes, and a tombstone hides the others'.
    pub fn rmdir(&self, path: &str) -> Result<()> {
        let writer = self.require_writer()?;
        self.forget_dirs();
        let path = normalize(path);
        let v = self.winner(&path)?;
        if !v.stat.is_directory() {
            return Err(Error::Drive(hyperdrive::Error::NotDirectory(path)));
        }
        if !self.readdir(&path, &ReaddirOptions::default())?.is_empty() {
            return Err(Error::Drive(hyperdrive::Error::NotEmpty(path)));
        }
        if writer.lstat(&path).is_ok() {
            // Children the union hides (tombstoned) may still sit in the writer: they go too.
            for child in writer.readdir(&path, &ReaddirOptions::default().recursive(true))? {
                let _ = writer.unlink(&join(&path, &child));
            }
            match writer.unlink(&path) {
                Err(e) if !is_enoent(&e) => return Err(e.into()),
                _ => {}
            }
        }
        if self.others_have(&writer, &path)? {
            self.set_tombstone(&writer, &path, true)?;
        }
        Ok(())
    }

    /// Renames a file, symlink or whole directory: every entry under `from` that another
    /// member's version wins is copied into the writer, the writer renames them in one batch,
    /// and tombstones hide what other members still have under `from`.
    pub fn rename(&self, from: &str, to: &str) -> Result<()> {
        let writer = self.require_writer()?;
        self.forget_dirs();
        let from = normalize(from);
        let to = normalize(to);
        let top = self.winner(&from)?;
        let mut paths = vec![from.clone()];
        if top.stat.is_directory() {
            for name in self.readdir(&from, &ReaddirOptions::default().recursive(true))? {
                paths.push(join(&from, &name));
            }
        }
        for p in &paths {
            self.own(&writer, p)?;
        }
        self.ensure_dir(&writer, &dirname(&to))?;
        writer.rename(&from, &to)?;
        for p in paths.iter().rev() {
            if self.others_have(&writer, p)? {
                self.set_tombstone(&writer, p, true)?;
            }
        }
        for p in &paths {
            let moved = format!("{to}{}", p.strip_prefix(from.as_str()).unwrap_or_default());
            self.erase_tombstones(&writer, &moved)?;
            // The moved node keeps its old clock; where another member has the new name, a
            // fresh stamp makes the rename supersede what it saw there.
            if self.others_have(&writer, &moved)? && writer.lstat_seq(&moved)?.1.is_some() {
                self.restamp(&writer, &moved)?;
            }
        }
        Ok(())
    }

    /// Mounts a drive (or hypercore) at `path` of the writer.
    pub fn mount(&self, path: &str, key: &PublicKey, options: &MountOptions) -> Result<()> {
        let writer = self.require_writer()?;
        let path = normalize(path);
        self.ensure_dir(&writer, &dirname(&path))?;
        writer.mount(&path, key, options)?;
        Ok(())
    }

    /// Unmounts `path` in the writer (other members' mounts stay theirs).
    pub fn unmount(&self, path: &str) -> Result<()> {
        let writer = self.require_writer()?;
        self.forget_dirs();
        Ok(writer.unmount(&normalize(path))?)
    }
}
