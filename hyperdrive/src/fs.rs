//! The filesystem operations of [`Drive`]: stat, read, write, directories, links, metadata.

use hypercore::PublicKey;
use hypertrie::{BatchOp, PutOptions};

use crate::drive::{BLOCK_SIZE, Drive};
use crate::error::{Error, Result};
use crate::feeds::{append_content, with_trie};
use crate::mount_record::{MOUNT_FLAG, MOUNT_PREFIX, MountRecord};
use crate::path::{dirname, fix_name, join, resolve, trie_key, unixify};
use crate::resolve::{Found, path_to_mount};
use crate::stat::{Stat, StatMount};

/// Symlinks followed before giving up with ELOOP (Linux's limit).
const MAX_LINKS: usize = 40;

/// Stat fields a caller may set on a write or mkdir (JS `opts`); unset times mean *now*.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct WriteOptions {
    /// Permission bits (0: the default, 0644 for files and 0755 for directories).
    pub mode: u32,
    /// Owner.
    pub uid: u32,
    /// Group.
    pub gid: u32,
    /// Modification time, ms.
    pub mtime: Option<u64>,
    /// Change time, ms.
    pub ctime: Option<u64>,
    /// Metadata to store with the file.
    pub metadata: crate::stat::Metadata,
}

impl WriteOptions {
    /// Sets [`WriteOptions::mode`].
    pub fn mode(mut self, mode: u32) -> Self {
        self.mode = mode;
        self
    }

    /// Sets both times.
    pub fn times(mut self, mtime: u64, ctime: u64) -> Self {
        self.mtime = Some(mtime);
        self.ctime = Some(ctime);
        self
    }

    /// Sets [`WriteOptions::uid`] and [`WriteOptions::gid`].
    pub fn owner(mut self, uid: u32, gid: u32) -> Self {
        self.uid = uid;
        self.gid = gid;
        self
    }
}

/// How a drive mount is made ([`Drive::mount`]).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct MountOptions {
    /// Pin the mounted drive to this version (a static mount).
    pub version: Option<u64>,
    /// Mount a plain hypercore as a file instead of a drive.
    pub hypercore: bool,
}

impl MountOptions {
    /// Sets [`MountOptions::version`].
    pub fn version(mut self, version: u64) -> Self {
        self.version = Some(version);
        self
    }

    /// Sets [`MountOptions::hypercore`].
    pub fn hypercore(mut self, hypercore: bool) -> Self {
        self.hypercore = hypercore;
        self
    }
}

/// A mount listed by [`Drive::mounts`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct MountEntry {
    /// Absolute path of the mount point in this drive.
    pub path: String,
    /// The record.
    pub record: MountRecord,
}

/// Block counts of one file ([`Drive::file_stats`]).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct FileStats {
    /// Content blocks.
    pub blocks: u64,
    /// Bytes.
    pub size: u64,
    /// Blocks stored locally.
    pub downloaded_blocks: u64,
}

/// What a lookup found: the Stat and, for a stored node, where it lives.
#[derive(Clone, Debug)]
pub(crate) struct Located {
    pub(crate) stat: Stat,
    /// The path after following symlinks (absolute).
    pub(crate) name: String,
    pub(crate) found: Option<Found>,
}

fn corrupt_stat(key: &str, reason: &'static str) -> Error {
    Error::Corrupt {
        what: "stat",
        path: format!("/{key}"),
        reason,
    }
}

pub(crate) fn decode_stat(found: &Found) -> Result<Stat> {
    Stat::decode(found.node.value().unwrap_or(&[])).map_err(|r| corrupt_stat(&found.key, r))
}

impl Drive {
    pub(crate) fn now(&self) -> u64 {
        self.clock.now()
    }

    /// JS `lstat(name, {file})`: the node's Stat, or an implicit directory's.
    pub(crate) fn lstat_located(&self, name: &str, file: bool) -> Result<Located> {
        let name = fix_name(name);
        if let Some(found) = self.resolve(&name)? {
            let stat = decode_stat(&found)?;
            return Ok(Located {
                stat,
                name,
                found: Some(found),
            });
        }
        if file {
            return Err(Error::NotFound(name));
        }
        self.stat_directory(&name)
    }

    /// JS `_statDirectory`: `/` is synthetic; other implicit directories copy their first
    /// child's Stat with the directory mode.
    fn stat_directory(&self, name: &str) -> Result<Located> {
        let first = self.iterate_first(name)?;
        if name == "/" {
            return Ok(Located {
                stat: Stat::directory(self.now()),
                name: name.to_owned(),
                found: None,
            });
        }
        let Some(found) = first else {
            return Err(Error::NotFound(name.to_owned()));
        };
        let mut stat = decode_stat(&found)?;
        stat.mode = Stat::dir_mode(0);
        Ok(Located {
            stat,
            name: name.to_owned(),
            found: None,
        })
    }

    fn iterate_first(&self, name: &str) -> Result<Option<Found>> {
        Ok(self
            .iterate_with(name, false, true, false, false)?
            .into_iter()
            .next())
    }

    /// JS `stat(name, {file})`: follows symlinks (absolute, or relative to the link's folder).
    pub(crate) fn stat_located(&self, name: &str, file: bool) -> Result<Located> {
        let mut name = fix_name(name);
        for _ in 0..MAX_LINKS {
            let located = self.lstat_located(&name, file)?;
            match located.stat.linkname.as_deref() {
                Some(link) if link.starts_with('/') => name = link.to_owned(),
                Some(link) => name = resolve(&["/", &dirname(&name), link]),
                None => return Ok(located),
            }
        }
        Err(Error::SymlinkLoop(name))
    }

    /// The Stat of `path`, following symlinks.
    pub fn stat(&self, path: &str) -> Result<Stat> {
        Ok(self.stat_located(path, false)?.stat)
    }

    /// The Stat of `path` itself (a symlink's own Stat).
    pub fn lstat(&self, path: &str) -> Result<Stat> {
        Ok(self.lstat_located(path, false)?.stat)
    }

    /// Whether `path` exists (following symlinks), as JS `exists`.
    pub fn exists(&self, path: &str) -> Result<bool> {
        match self.stat(path) {
            Ok(_) => Ok(true),
            Err(Error::NotFound(_) | Error::SymlinkLoop(_)) => Ok(false),
            Err(e) => Err(e),
        }
    }

    /// JS `access`: `Ok` when `path` exists.
    pub fn access(&self, path: &str) -> Result<()> {
        self.stat(path).map(|_| ())
    }

    /// The target of the symlink at `path` (EINVAL for anything else).
    pub fn readlink(&self, path: &str) -> Result<String> {
        let stat = self.lstat(path)?;
        stat.linkname
            .ok_or_else(|| Error::InvalidArgument(format!("{} is not a symlink", fix_name(path))))
    }

    /// The whole content of the file at `path` (following symlinks).
    pub fn read_file(&self, path: &str) -> Result<Vec<u8>> {
        let mut out = Vec::new();
        let mut reader = self.open_reader(path)?;
        reader.read_range_into(0, u64::MAX, &mut out)?;
        Ok(out)
    }

    /// Writes `data` as the file at `path`: new content blocks of at most 512 KiB in one
    /// append (an empty file is one empty block), then the Stat.
    pub fn write_file(&self, path: &str, data: &[u8], options: &WriteOptions) -> Result<Stat> {
        self.write_chunks(path, &[data], options)
    }

    /// Writes the file from `chunks`, each cut into blocks of at most 512 KiB, in one append.
    pub(crate) fn write_chunks(
        &self,
        path: &str,
        chunks: &[&[u8]],
        options: &WriteOptions,
    ) -> Result<Stat> {
        self.write_appends(path, &[chunks], options)
    }

    /// [`Drive::write_chunks`] in several appends (hence signatures), one per element of
    /// `appends`, as JS makes when a stream is piped into a file.
    pub(crate) fn write_appends(
        &self,
        path: &str,
        appends: &[&[&[u8]]],
        options: &WriteOptions,
    ) -> Result<Stat> {
        self.ensure_writable()?;
        let name = fix_name(path);
        // Like JS: the content goes to the feed of the drive the path falls in (through
        // mounts, and through a symlink at the path itself).
        let target = match self.stat_located(&name, false) {
            Ok(located) => located.name,
            Err(Error::NotFound(_)) => name.clone(),
            Err(e) => return Err(e),
        };
        let (owner, _) = self.owner(&target)?;
        owner.ensure_writable()?;
        let content = owner.content()?.clone();
        // Held until the Stat is in: one writer per content feed, as JS's content lock.
        let mut feed = content.lock();
        let offset = feed.len();
        let byte_offset = feed.byte_len();
        for chunks in appends {
            append_content(&mut feed, chunks, BLOCK_SIZE)?;
        }
        let now = self.now();
        let stat = Stat {
            mode: Stat::file_mode(options.mode),
            uid: options.uid,
            gid: options.gid,
            size: feed.byte_len() - byte_offset,
            blocks: feed.len() - offset,
            offset,
            byte_offset,
            mtime: options.mtime.unwrap_or(now),
            ctime: options.ctime.unwrap_or(now),
            linkname: None,
            mount: None,
            metadata: options.metadata.clone(),
        };
        let stat = self.put_file_stat(&name, stat, 0)?;
        drop(feed);
        Ok(stat)
    }

    /// JS `create`: an empty file Stat (no content block) unless the path exists.
    pub fn create_file(&self, path: &str, options: &WriteOptions) -> Result<Stat> {
        let name = fix_name(path);
        match self.lstat_located(&name, true) {
            Ok(located) => return Ok(located.stat),
            Err(Error::NotFound(_)) => {}
            Err(e) => return Err(e),
        }
        let now = self.now();
        let stat = Stat {
            mode: Stat::file_mode(options.mode),
            uid: options.uid,
            gid: options.gid,
            mtime: options.mtime.unwrap_or(now),
            ctime: options.ctime.unwrap_or(now),
            metadata: options.metadata.clone(),
            ..Stat::default()
        };
        self.put_node(&name, stat.encode(), 0, false)?;
        Ok(stat)
    }

    /// Content feed position for a new non-file Stat (JS `_createStat`): fails with EEXIST
    /// when the path has a node.
    fn create_position(&self, name: &str) -> Result<(u64, u64)> {
        if self.resolve(name)?.is_some() {
            return Err(Error::AlreadyExists(name.to_owned()));
        }
        let (owner, _) = self.owner(name)?;
        let feed = owner.content()?.lock();
        Ok((feed.len(), feed.byte_len()))
    }

    /// Makes an explicit directory (EEXIST if the path has a node).
    pub fn mkdir(&self, path: &str, options: &WriteOptions) -> Result<Stat> {
        self.ensure_writable()?;
        let name = fix_name(path);
        let (offset, byte_offset) = self.create_position(&name)?;
        let now = self.now();
        let stat = Stat {
            mode: Stat::dir_mode(options.mode),
            uid: options.uid,
            gid: options.gid,
            offset,
            byte_offset,
            mtime: options.mtime.unwrap_or(now),
            ctime: options.ctime.unwrap_or(now),
            metadata: options.metadata.clone(),
            ..Stat::default()
        };
        self.put_node(&name, stat.encode(), 0, true)?;
        Ok(stat)
    }

    /// Removes the node at `path` (ENOENT if there is none). Like JS, any node goes, a
    /// directory's included; a deletion rewrites a neighbouring node (docs/formats.md §3.8).
    pub fn unlink(&self, path: &str) -> Result<()> {
        let name = fix_name(path);
        if self.unlink_link(&name)? || self.del_node(&name, false)? {
            Ok(())
        } else {
            Err(Error::NotFound(name))
        }
    }

    /// Removes an empty directory (ENOTEMPTY otherwise, ENOENT for implicit ones).
    pub fn rmdir(&self, path: &str) -> Result<()> {
        let name = fix_name(path);
        if !self.readdir(&name, &Default::default())?.is_empty() {
            return Err(Error::NotEmpty(name));
        }
        self.unlink(&name)
    }

    /// Makes `link` a symlink to `target` (stored as given, `\` turned into `/`).
    pub fn symlink(&self, target: &str, link: &str) -> Result<Stat> {
        self.ensure_writable()?;
        let name = fix_name(link);
        match self.lstat(&name) {
            Ok(_) => return Err(Error::AlreadyExists(name)),
            Err(Error::NotFound(_)) => {}
            Err(e) => return Err(e),
        }
        let stat = Stat::symlink(unixify(target), self.now());
        self.put_node(&name, stat.encode(), 0, false)?;
        Ok(stat)
    }

    /// JS `truncate`: shorter rewrites the first `size` bytes as new blocks (cut where the old
    /// blocks were cut); longer rewrites the whole file plus zeros, keeping the old Stat's
    /// mode, owner, times and metadata as JS's appending fd does; 0 on an existing file does
    /// nothing (a JS quirk kept for compatibility), and a missing file is created empty.
    pub fn truncate(&self, path: &str, size: u64) -> Result<()> {
        self.ensure_writable()?;
        let name = fix_name(path);
        let existing = match self.lstat_located(&name, true) {
            Ok(located) => Some(located.stat),
            Err(Error::NotFound(_)) => None,
            Err(e) => return Err(e),
        };
        let Some(stat) = existing.filter(|_| size != 0) else {
            self.create_file(&name, &WriteOptions::default())?;
            return Ok(());
        };
        if size == stat.size {
            return Ok(());
        }
        if self.write_mode == crate::drive::WriteMode::Extents {
            return self.truncate_extents(&name, size);
        }
        let mut reader = self.open_reader(&name)?;
        let blocks = reader.blocks_up_to(size.min(stat.size))?;
        let mut chunks: Vec<&[u8]> = blocks.iter().map(Vec::as_slice).collect();
        if size < stat.size {
            self.write_appends(&name, &piped(&chunks), &WriteOptions::default())?;
            return Ok(());
        }
        // JS grows a file through an appending fd, whose write stream is opened with the old
        // Stat as its options (mode, owner, times and metadata carry over) and is fed through
        // a byte batcher that regroups the old blocks and the zeros ([`fd_batches`]).
        let padding = vec![
            0u8;
            usize::try_from(size - stat.size).map_err(|_| {
                Error::InvalidArgument(format!("size {size} does not fit in memory"))
            })?
        ];
        chunks.push(&padding);
        let batches = fd_batches(&chunks);
        let batches: Vec<&[u8]> = batches.iter().map(Vec::as_slice).collect();
        let options = WriteOptions {
            mode: stat.mode,
            uid: stat.uid,
            gid: stat.gid,
            mtime: Some(stat.mtime),
            ctime: Some(stat.ctime),
            metadata: stat.metadata,
        };
        self.write_appends(&name, &piped(&batches), &options)?;
        Ok(())
    }

    /// JS `_update`: re-puts the node's Stat with `change` applied and the same flags (under
    /// every name of a hard-linked file).
    pub(crate) fn update_stat(
        &self,
        path: &str,
        change: impl FnOnce(&mut Stat) -> Result<()>,
    ) -> Result<Stat> {
        self.ensure_writable()?;
        let name = fix_name(path);
        // Open descriptors of the file commit first and keep the change (see set_attr).
        self.commit_edits_of(&name)?;
        let found = self
            .resolve(&name)?
            .ok_or_else(|| Error::NotFound(name.clone()))?;
        let mut stat = decode_stat(&found)?;
        change(&mut stat)?;
        let stat = self.put_file_stat(&name, stat, found.node.flags())?;
        self.rebase_edits_of(&name, &stat);
        Ok(stat)
    }

    /// Sets one metadata entry of `path`'s Stat (other fields, times included, are kept).
    /// The key [`crate::EXTENTS_KEY`] is reserved (EINVAL), and a new key past 4,096 entries
    /// is refused (EINVAL): no reader, ours included, takes a Stat with more.
    pub fn set_metadata(&self, path: &str, key: &str, value: &[u8]) -> Result<()> {
        reserved(key)?;
        self.update_stat(path, |s| set_entry(s, key, Some(value.to_vec())))
            .map(|_| ())
    }

    /// Removes a metadata entry: as in JS the key stays, with no value (so a key never set
    /// counts against the 4,096 entries too).
    pub fn remove_metadata(&self, path: &str, key: &str) -> Result<()> {
        reserved(key)?;
        self.update_stat(path, |s| set_entry(s, key, None))
            .map(|_| ())
    }

    /// Tags `version` (default: the current version) as `name`.
    pub fn create_tag(&self, name: &str, version: Option<u64>) -> Result<()> {
        self.ensure_writable()?;
        let version = version.unwrap_or_else(|| self.version());
        let value = crate::stat::encode_tag(version);
        with_trie(&self.metadata, |t| {
            t.put_with(
                &tag_key(name),
                Some(&value),
                PutOptions::default().hidden(true),
            )
        })?;
        Ok(())
    }

    /// The version tagged `name`.
    pub fn tagged_version(&self, name: &str) -> Result<Option<u64>> {
        let node = self.trie_get(
            &tag_key(name),
            hypertrie::GetOptions::default().hidden(true),
        )?;
        node.map(|n| decode_tag_node(&n)).transpose()
    }

    /// Every tag, in trie order.
    pub fn tags(&self) -> Result<Vec<(String, u64)>> {
        let nodes = self.trie_list(TAGS_PREFIX, hypertrie::IterOptions::default().hidden(true))?;
        nodes
            .iter()
            .map(|n| {
                let name = n.key().get(TAGS_PREFIX.len()..).unwrap_or("").to_owned();
                Ok((name, decode_tag_node(n)?))
            })
            .collect()
    }

    /// Deletes tag `name`; `false` when there was none.
    pub fn delete_tag(&self, name: &str) -> Result<bool> {
        self.ensure_writable()?;
        let key = tag_key(name);
        Ok(with_trie(&self.metadata, |t| {
            t.del_with(&key, hypertrie::DelOptions::default().hidden(true))
        })?
        .is_some())
    }

    /// Mounts the drive (or, with [`MountOptions::hypercore`], the plain hypercore) whose key
    /// is `key` at `path`.
    pub fn mount(&self, path: &str, key: &PublicKey, options: &MountOptions) -> Result<()> {
        self.ensure_writable()?;
        let name = fix_name(path);
        let (offset, byte_offset) = self.create_position(&name)?;
        let now = self.now();
        let mut stat = Stat {
            offset,
            byte_offset,
            mount: Some(StatMount {
                key: key.0,
                version: options.version,
                hash: None,
                hypercore: options.hypercore,
            }),
            ..Stat::directory(now)
        };
        if options.hypercore {
            let core = self.store.get_by_key(key)?;
            let core = core.lock();
            stat.mode = Stat::file_mode(0);
            stat.size = core.byte_len();
            stat.blocks = core.len();
            drop(core);
            return self.put_node(&name, stat.encode(), 0, false);
        }
        let key_path = trie_key(&name);
        match self.sub_trie(&key_path)? {
            Some((sub, rec)) => {
                sub.mount_record(&path_to_mount(&key_path, &rec), key, options, stat)
            }
            None => self.mount_record(&key_path, key, options, stat),
        }
    }

    fn mount_record(
        &self,
        inner: &str,
        key: &PublicKey,
        options: &MountOptions,
        stat: Stat,
    ) -> Result<()> {
        let record = MountRecord {
            key: key.0,
            local_path: inner.to_owned(),
            version: options.version,
            remote_path: None,
            hash: None,
        };
        self.batch(vec![
            BatchOp::put(trie_key(&join(&[MOUNT_PREFIX, inner])), record.encode())
                .hidden(true)
                .flags(MOUNT_FLAG),
            BatchOp::put(inner, stat.encode()).flags(MOUNT_FLAG),
        ])
    }

    /// Removes the mount at `path` (EINVAL if it is not a mount point).
    pub fn unmount(&self, path: &str) -> Result<()> {
        self.ensure_writable()?;
        let name = fix_name(path);
        let stat = self.stat(&name)?;
        let Some(mount) = stat.mount else {
            return Err(Error::InvalidArgument(format!("{name} is not a mount")));
        };
        if mount.hypercore {
            return self.unlink(&name);
        }
        let key_path = trie_key(&name);
        let parent = trie_key(&dirname(&name));
        let (drive, inner) = match self.sub_trie(&parent)? {
            Some((sub, rec)) => (sub, path_to_mount(&key_path, &rec)),
            None => (self.clone(), key_path),
        };
        drive.batch(vec![
            BatchOp::del(trie_key(&join(&[MOUNT_PREFIX, &inner]))).hidden(true),
            BatchOp::del(inner),
        ])
    }

    /// The drive mounts, in trie order; `recursive` also lists mounts inside mounts.
    pub fn mounts(&self, recursive: bool) -> Result<Vec<MountEntry>> {
        let mut out = Vec::new();
        self.collect_mounts("/", recursive, &mut out, 0)?;
        Ok(out)
    }

    fn collect_mounts(
        &self,
        prefix: &str,
        recursive: bool,
        out: &mut Vec<MountEntry>,
        depth: usize,
    ) -> Result<()> {
        if depth > MAX_LINKS {
            return Err(Error::SymlinkLoop(prefix.to_owned()));
        }
        let nodes = self.trie_list(MOUNT_PREFIX, hypertrie::IterOptions::default().hidden(true))?;
        for node in nodes {
            let record = MountRecord::decode(node.value().unwrap_or(&[])).map_err(|reason| {
                Error::Corrupt {
                    what: "mount record",
                    path: node.key().to_owned(),
                    reason,
                }
            })?;
            let path = join(&[prefix, &record.local_path]);
            if recursive {
                let sub = self.sibling(&PublicKey(record.key), record.version)?;
                let nested = join(&[&path, record.remote_path.as_deref().unwrap_or("")]);
                out.push(MountEntry { path, record });
                sub.collect_mounts(&nested, true, out, depth + 1)?;
            } else {
                out.push(MountEntry { path, record });
            }
        }
        Ok(())
    }
}

/// Sets a metadata entry within [`MAX_METADATA_ENTRIES`](crate::stat::MAX_METADATA_ENTRIES),
/// the most a Stat we read may hold.
fn set_entry(stat: &mut Stat, key: &str, value: Option<Vec<u8>>) -> Result<()> {
    let max = crate::stat::MAX_METADATA_ENTRIES;
    if stat.metadata.get(key).is_none() && stat.metadata.len() >= max {
        return Err(Error::InvalidArgument(format!(
            "a file holds at most {max} metadata entries"
        )));
    }
    stat.metadata.set(key, value);
    Ok(())
}

fn reserved(key: &str) -> Result<()> {
    if [
        crate::layout::EXTENTS_KEY,
        crate::link::LINK_KEY,
        crate::special::RDEV_KEY,
    ]
    .contains(&key)
    {
        return Err(Error::InvalidArgument(format!(
            "metadata key {key} is reserved for ddrive's own records"
        )));
    }
    Ok(())
}

/// Hidden prefix of tags.
const TAGS_PREFIX: &str = "hyperdrive-tags/";

fn tag_key(name: &str) -> String {
    format!("{TAGS_PREFIX}{name}")
}

fn decode_tag_node(node: &hypertrie::Node) -> Result<u64> {
    crate::stat::decode_tag(node.value().unwrap_or(&[])).ok_or_else(|| Error::Corrupt {
        what: "tag",
        path: node.key().to_owned(),
        reason: "not a varint",
    })
}

/// The appends of writes piped into a hypercore write stream: the first write is appended
/// on its own, and the ones that queued behind it (all of them, when reads outpace appends as
/// local reads do) in one `_writev`.
fn piped<'a>(writes: &'a [&'a [u8]]) -> Vec<&'a [&'a [u8]]> {
    match writes.split_first() {
        None => Vec::new(),
        Some((_, [])) => vec![writes],
        Some(_) => vec![&writes[..1], &writes[1..]],
    }
}

/// The writes hyperdrive's fd path makes of `chunks`: its `byte-stream` batcher (64 KiB
/// limit) flushes the batch before a chunk that would overflow it and as soon as it reaches
/// the limit, and each batch is one write, later cut into 512 KiB blocks. This is the layout
/// when the chunks arrive within the batcher's 100 ms timer, as local reads do; JS cuts
/// earlier when they do not.
fn fd_batches(chunks: &[&[u8]]) -> Vec<Vec<u8>> {
    const LIMIT: usize = 64 * 1024;
    let mut out = Vec::new();
    let mut batch: Vec<u8> = Vec::new();
    // byte-stream counts an empty buffer as 1 (`obj.length || 1`).
    let (mut size, mut parts) = (0, 0);
    for chunk in chunks {
        let len = chunk.len().max(1);
        if size + len > LIMIT && parts > 0 {
            out.push(std::mem::take(&mut batch));
            (size, parts) = (0, 0);
        }
        batch.extend_from_slice(chunk);
        size += len;
        parts += 1;
        if size >= LIMIT {
            out.push(std::mem::take(&mut batch));
            (size, parts) = (0, 0);
        }
    }
    if parts > 0 {
        out.push(batch);
    }
    out
}
