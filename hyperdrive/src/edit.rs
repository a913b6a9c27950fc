//! [`Edit`]: random-access writes, appends and resizes of one file, committed as one Stat.
//!
//! Written bytes wait in a buffer (as `Pending` extents) until a commit, or until a block's
//! worth is waiting and can be appended without breaking the file's layout. The commit turns
//! the layout into content blocks and a Stat according to the drive's [`WriteMode`].

use corestore::BoxStorage;
use hypercore::{Feed, PublicKey};

use crate::drive::{BLOCK_SIZE, Drive, WriteMode};
use crate::error::{Error, Result};
use crate::feeds::feed_error;
use crate::fs::Located;
use crate::layout::{EXTENTS_KEY, Extent, Guard, Layout, Source, encode_record, stat_layout};
use crate::path::fix_name;
use crate::reader::{BlockCache, read_extents};
use crate::stat::{Stat, mode};

/// Extents a file may have before a commit rewrites it as one run (bounds the Stat's size
/// and the cost of reading it: about 6 bytes per extent).
pub(crate) const MAX_EXTENTS: usize = 512;

/// Blocks appended per call while rewriting a file.
const REWRITE_BATCH: usize = 16;

/// An open, editable file.
pub(crate) struct Edit {
    drive: Drive,
    /// The path the Stat is put at (absolute; symlinks already followed).
    name: String,
    base: Stat,
    layout: Layout,
    pending: Vec<u8>,
    dirty: bool,
    cache: BlockCache,
    key: PublicKey,
}

impl std::fmt::Debug for Edit {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Edit")
            .field("name", &self.name)
            .field("size", &self.layout.size())
            .field("pending", &self.pending.len())
            .finish_non_exhaustive()
    }
}

fn corrupt(path: &str, reason: &'static str) -> Error {
    Error::Corrupt {
        what: "extent record",
        path: path.to_owned(),
        reason,
    }
}

impl Edit {
    /// Opens the file at `path` (following symlinks) for editing; a missing file starts empty
    /// when `create` (its Stat is put at the first commit).
    pub(crate) fn open(drive: &Drive, path: &str, create: bool) -> Result<Edit> {
        drive.ensure_writable()?;
        let name = fix_name(path);
        let (name, base) = match drive.stat_located(&name, true) {
            Ok(Located { stat, name, .. }) => {
                if stat.mount.is_some() {
                    return Err(Error::InvalidArgument(format!(
                        "{name} is a mount point, not a file"
                    )));
                }
                if stat.file_type() == mode::S_IFDIR {
                    return Err(Error::IsDirectory(name));
                }
                (name, stat)
            }
            Err(Error::NotFound(_)) if create => {
                let now = drive.now();
                (name, Stat::file(now))
            }
            Err(e) => return Err(e),
        };
        let (layout, _) = stat_layout(&base).map_err(|r| corrupt(&name, r))?;
        let (owner, _) = drive.owner(&name)?;
        owner.ensure_writable()?;
        let feed = owner.content()?.clone();
        let key = *feed.lock().key();
        Ok(Edit {
            drive: drive.clone(),
            name,
            base,
            layout,
            pending: Vec::new(),
            dirty: false,
            cache: BlockCache::new(feed, None, crate::feeds::Wait(None)),
            key,
        })
    }

    pub(crate) fn size(&self) -> u64 {
        self.layout.size()
    }

    /// The path the Stat is put at.
    pub(crate) fn name(&self) -> &str {
        &self.name
    }

    /// Takes `stat` (just put by someone else, with this edit's committed content) as the
    /// Stat the next commit starts from. Only valid while nothing is pending.
    pub(crate) fn rebase(&mut self, stat: &Stat) {
        if !self.dirty {
            self.base = stat.clone();
        }
    }

    /// The Stat as it will be after a commit (size included).
    pub(crate) fn stat(&self) -> Stat {
        Stat {
            size: self.layout.size(),
            ..self.base.clone()
        }
    }

    /// Reads what the file holds now, uncommitted writes included.
    pub(crate) fn read_at(&mut self, pos: u64, buf: &mut [u8]) -> Result<usize> {
        let extents = self.layout.positioned();
        let mut done = 0;
        while done < buf.len() {
            let n = read_extents(
                &extents,
                &self.pending,
                &mut self.cache,
                pos + done as u64,
                &mut buf[done..],
            )?;
            if n == 0 {
                break;
            }
            done += n;
        }
        Ok(done)
    }

    /// Writes `data` at `pos` (zeros fill any gap past the end).
    pub(crate) fn write_at(&mut self, pos: u64, data: &[u8]) -> Result<()> {
        if data.is_empty() {
            return Ok(());
        }
        pos.checked_add(data.len() as u64)
            .ok_or_else(|| Error::InvalidArgument("write past the largest offset".into()))?;
        let at = self.pending.len() as u64;
        self.pending.extend_from_slice(data);
        self.layout
            .splice(pos, data.len() as u64, Source::Pending(at));
        self.dirty = true;
        if self.pending.len() >= BLOCK_SIZE {
            self.spill()?;
        }
        Ok(())
    }

    /// Shortens or lengthens (with zeros) the file.
    pub(crate) fn set_len(&mut self, size: u64) {
        self.layout.set_len(size);
        self.dirty = true;
    }

    /// Appends waiting bytes early when that keeps the layout cheap to commit.
    fn spill(&mut self) -> Result<()> {
        let feed = self.cache.feed().clone();
        let mut f = feed.lock();
        match self.drive.write_mode {
            WriteMode::Extents => self.append_pending(&mut f)?,
            WriteMode::Compatible => {
                let k = self.tail_prefix(&mut f)?;
                let rest_local = self.layout.extents()[k.unwrap_or(0)..]
                    .iter()
                    .all(|e| !matches!(e.source, Source::Feed(_)));
                // Only when the file ends the feed (or is all new): then appending now keeps
                // it one run. Anything else waits for the commit's rewrite.
                if let Some(k) = k
                    && rest_local
                {
                    self.rewrite_from(&mut f, k)?;
                }
            }
        }
        Ok(())
    }

    /// 1 when the file starts with a run that begins a block and ends the feed, 0 when it
    /// has no feed bytes ahead of the rest, `None` otherwise.
    fn tail_prefix(&self, f: &mut Feed<BoxStorage>) -> Result<Option<usize>> {
        match self.layout.extents().first() {
            None => Ok(Some(0)),
            Some(Extent {
                len,
                source: Source::Feed(b),
            }) => {
                if b + len != f.byte_len() {
                    return Ok(None);
                }
                let (_, within) = f.seek(*b).map_err(|e| feed_error(&self.key, e))?;
                Ok((within == 0).then_some(1))
            }
            Some(_) => Ok(Some(0)),
        }
    }

    /// Appends the waiting bytes the layout still uses, in file order, in one append.
    fn append_pending(&mut self, f: &mut Feed<BoxStorage>) -> Result<()> {
        let base = f.byte_len();
        let mut out: Vec<u8> = Vec::new();
        let mut extents = Vec::with_capacity(self.layout.extents().len());
        for e in self.layout.extents() {
            let source = match e.source {
                Source::Pending(p) => {
                    let from = usize::try_from(p).unwrap_or(usize::MAX);
                    let len = usize::try_from(e.len).unwrap_or(usize::MAX);
                    let bytes = self
                        .pending
                        .get(from..from.saturating_add(len))
                        .ok_or_else(|| {
                            Error::Task("pending write buffer shorter than its extents".into())
                        })?;
                    let at = base + out.len() as u64;
                    out.extend_from_slice(bytes);
                    Source::Feed(at)
                }
                other => other,
            };
            extents.push(Extent { len: e.len, source });
        }
        if !out.is_empty() {
            let blocks: Vec<&[u8]> = out.chunks(BLOCK_SIZE).collect();
            f.append_batch(&blocks)
                .map_err(|e| feed_error(&self.key, e))?;
        }
        self.layout = Layout::from_extents(extents);
        self.pending.clear();
        Ok(())
    }

    /// Rewrites extents `k..` as new blocks after the feed's end (copy-on-write); with `k`
    /// 1 the first extent is a run ending the feed, so the file becomes one run.
    fn rewrite_from(&mut self, f: &mut Feed<BoxStorage>, k: usize) -> Result<()> {
        let kept: Vec<Extent> = self.layout.extents()[..k].to_vec();
        let start = match kept.first() {
            Some(Extent {
                source: Source::Feed(b),
                ..
            }) => *b,
            _ => f.byte_len(),
        };
        let mut blocks: Vec<Vec<u8>> = Vec::new();
        let mut block = Vec::with_capacity(BLOCK_SIZE);
        let rest: Vec<Extent> = self.layout.extents()[k..].to_vec();
        for e in &rest {
            let mut left = e.len;
            let mut src = e.source;
            while left > 0 {
                let room = (BLOCK_SIZE - block.len()) as u64;
                let take = left.min(room);
                self.copy_bytes(f, src, take, &mut block)?;
                left -= take;
                src = match src {
                    Source::Zeros => Source::Zeros,
                    Source::Feed(b) => Source::Feed(b + take),
                    Source::Pending(p) => Source::Pending(p + take),
                };
                if block.len() == BLOCK_SIZE {
                    blocks.push(std::mem::replace(
                        &mut block,
                        Vec::with_capacity(BLOCK_SIZE),
                    ));
                    if blocks.len() == REWRITE_BATCH {
                        f.append_batch(&blocks)
                            .map_err(|e| feed_error(&self.key, e))?;
                        blocks.clear();
                    }
                }
            }
        }
        if !block.is_empty() {
            blocks.push(block);
        }
        if !blocks.is_empty() {
            f.append_batch(&blocks)
                .map_err(|e| feed_error(&self.key, e))?;
        }
        let size = self.layout.size();
        self.layout = Layout::from_extents([Extent {
            len: size,
            source: Source::Feed(start),
        }]);
        self.pending.clear();
        Ok(())
    }

    /// Appends `len` bytes from `src` to `out`, reading feed bytes from the locked feed.
    fn copy_bytes(
        &self,
        f: &mut Feed<BoxStorage>,
        src: Source,
        len: u64,
        out: &mut Vec<u8>,
    ) -> Result<()> {
        let n = usize::try_from(len).unwrap_or(usize::MAX);
        match src {
            Source::Zeros => out.resize(out.len() + n, 0),
            Source::Pending(p) => {
                let from = usize::try_from(p).unwrap_or(usize::MAX);
                out.extend_from_slice(self.pending.get(from..from.saturating_add(n)).ok_or_else(
                    || Error::Task("pending write buffer shorter than its extents".into()),
                )?);
            }
            Source::Feed(mut b) => {
                let mut left = n;
                while left > 0 {
                    let (index, within) = f.seek(b).map_err(|e| feed_error(&self.key, e))?;
                    let block = f.get(index).map_err(|e| feed_error(&self.key, e))?;
                    let within = usize::try_from(within).unwrap_or(usize::MAX);
                    let take = block.len().saturating_sub(within).min(left);
                    if take == 0 {
                        return Err(corrupt(&self.name, "extent runs past the feed"));
                    }
                    out.extend_from_slice(&block[within..within + take]);
                    left -= take;
                    b += take as u64;
                }
            }
        }
        Ok(())
    }

    /// The block run `[offset, offset + blocks)` holding exactly the single-run layout, when
    /// it starts and ends on block boundaries (what Node's readFile needs: it reads whole
    /// blocks).
    fn run(&self, f: &mut Feed<BoxStorage>) -> Result<Option<(u64, u64, u64)>> {
        let [
            Extent {
                len,
                source: Source::Feed(b),
            },
        ] = self.layout.extents()
        else {
            return Ok(None);
        };
        let (first, within) = f.seek(*b).map_err(|e| feed_error(&self.key, e))?;
        if within != 0 {
            return Ok(None);
        }
        let (end, within) = f.seek(b + len).map_err(|e| feed_error(&self.key, e))?;
        Ok((within == 0).then_some((first, end - first, *b)))
    }

    /// The blocks every feed extent falls in: (first block, count, its byte position).
    fn span(&self, f: &mut Feed<BoxStorage>) -> Result<(u64, u64, u64)> {
        let feed_extents = self.layout.extents().iter().filter_map(|e| match e.source {
            Source::Feed(b) => Some((b, b + e.len)),
            _ => None,
        });
        let (Some(lo), Some(hi)) = (
            feed_extents.clone().map(|(b, _)| b).min(),
            feed_extents.map(|(_, end)| end).max(),
        ) else {
            return Ok((f.len(), 0, f.byte_len()));
        };
        let (first, within) = f.seek(lo).map_err(|e| feed_error(&self.key, e))?;
        let (last, within_end) = f.seek(hi).map_err(|e| feed_error(&self.key, e))?;
        let end = if within_end > 0 { last + 1 } else { last };
        Ok((first, end - first, lo - within))
    }

    /// Appends what the layout needs and puts the Stat; a no-op when nothing changed.
    pub(crate) fn commit(&mut self) -> Result<Stat> {
        if !self.dirty {
            return Ok(self.base.clone());
        }
        let feed = self.cache.feed().clone();
        let mut f = feed.lock();
        match self.drive.write_mode {
            WriteMode::Extents => {
                self.append_pending(&mut f)?;
                if self.layout.extents().len() > MAX_EXTENTS {
                    let k = self.tail_prefix(&mut f)?.unwrap_or(0);
                    self.rewrite_from(&mut f, k)?;
                }
            }
            WriteMode::Compatible => {
                if !self.layout.extents().is_empty() && self.run(&mut f)?.is_none() {
                    let k = self.tail_prefix(&mut f)?.unwrap_or(0);
                    self.rewrite_from(&mut f, k)?;
                }
            }
        }
        let now = self.drive.now();
        let mut stat = Stat {
            size: self.layout.size(),
            mtime: now,
            ctime: now,
            linkname: None,
            mount: None,
            ..self.base.clone()
        };
        stat.metadata.remove(EXTENTS_KEY);
        if self.layout.extents().is_empty() {
            // As JS's ftruncate(fd, 0): no blocks, the offset kept.
            stat.blocks = 0;
        } else if let Some((offset, blocks, byte_offset)) = self.run(&mut f)? {
            stat.offset = offset;
            stat.blocks = blocks;
            stat.byte_offset = byte_offset;
        } else if self.drive.write_mode == WriteMode::Extents {
            let (offset, blocks, byte_offset) = self.span(&mut f)?;
            stat.offset = offset;
            stat.blocks = blocks;
            stat.byte_offset = byte_offset;
            let guard = Guard {
                size: stat.size,
                offset,
                blocks,
                byte_offset,
            };
            let record = encode_record(guard, &self.layout).map_err(|r| corrupt(&self.name, r))?;
            stat.metadata.set(EXTENTS_KEY, Some(record));
        } else {
            return Err(Error::Task(format!(
                "rewriting {} did not leave one run of blocks",
                self.name
            )));
        }
        let stat = self.drive.put_file_stat(&self.name, stat, 0)?;
        drop(f);
        self.base = stat.clone();
        self.dirty = false;
        Ok(stat)
    }
}

impl Drive {
    /// Writes `data` at byte `offset` of the file at `path` (created when missing; zeros fill
    /// a gap past the end), leaving the other bytes as they are. How much is appended depends
    /// on the [`WriteMode`]: only `data` with [`WriteMode::Extents`]; with
    /// [`WriteMode::Compatible`] only `data` when the write extends a file that ends the
    /// content feed, else the whole file.
    pub fn write_at(&self, path: &str, offset: u64, data: &[u8]) -> Result<Stat> {
        let mut edit = Edit::open(self, path, true)?;
        edit.write_at(offset, data)?;
        edit.commit()
    }

    /// Appends `data` to the file at `path` (created when missing); see [`Drive::write_at`].
    pub fn append(&self, path: &str, data: &[u8]) -> Result<Stat> {
        let mut edit = Edit::open(self, path, true)?;
        let end = edit.size();
        edit.write_at(end, data)?;
        edit.commit()
    }

    /// POSIX truncate: the file at `path` becomes `size` bytes (zeros added when longer).
    /// Unlike [`Drive::truncate`] (JS semantics), 0 empties an existing file too. With
    /// [`WriteMode::Extents`] nothing is copied.
    pub fn set_len(&self, path: &str, size: u64) -> Result<Stat> {
        let mut edit = Edit::open(self, path, false)?;
        edit.set_len(size);
        edit.commit()
    }

    /// Whether the file at `path` is stored as extents Node cannot read (see
    /// [`WriteMode::Extents`]).
    pub fn has_extents(&self, path: &str) -> Result<bool> {
        let located = self.stat_located(path, true)?;
        let (_, extents) = stat_layout(&located.stat).map_err(|r| corrupt(&located.name, r))?;
        Ok(extents)
    }

    /// The edit `truncate` uses in extents mode: no copy.
    pub(crate) fn truncate_extents(&self, name: &str, size: u64) -> Result<()> {
        let mut edit = Edit::open(self, name, false)?;
        edit.set_len(size);
        edit.commit().map(|_| ())
    }
}
