//! [`FileReader`]: reads a file's content blocks, only the ones a range needs.

use std::io::{self, Read, Seek, SeekFrom};

use corestore::SharedFeed;
use hypercore::PublicKey;

use crate::drive::Drive;
use crate::error::{Error, Result};
use crate::feeds::{Wait, feed_error};
use crate::layout::{Extent, Layout, Source, stat_layout};
use crate::path::fix_name;
use crate::stat::Stat;

/// Reads feed bytes block by block, keeping the last block for sequential reads.
#[derive(Debug)]
pub(crate) struct BlockCache {
    feed: SharedFeed,
    key: PublicKey,
    /// Blocks a contiguous file may touch: reading past them means a corrupt Stat.
    limit: Option<u64>,
    /// The file's first block, when it is one run: what to fetch first from a replica that
    /// does not know the feed's length yet.
    start: Option<u64>,
    /// The run's blocks and, when known, where its bytes start in the feed and how many
    /// there are: a replica that does not know the feed's length yet guesses the block holding
    /// a byte from them (drives write equal blocks) instead of fetching the first one.
    run: Option<(u64, u64)>,
    bytes: Option<(u64, u64)>,
    /// The block last read: (feed byte start, bytes).
    cached: Option<(u64, Vec<u8>)>,
    /// Whether reads wait for blocks from peers.
    wait: Wait,
}

impl BlockCache {
    pub(crate) fn new(feed: SharedFeed, run: Option<(u64, u64)>, wait: Wait) -> Self {
        let key = *feed.key();
        BlockCache {
            feed,
            key,
            limit: run.map(|(offset, blocks)| offset.saturating_add(blocks)),
            start: run.map(|(offset, _)| offset),
            run,
            bytes: None,
            cached: None,
            wait,
        }
    }

    /// Where the run's bytes start in the feed, and how many there are.
    fn with_bytes(mut self, bytes: Option<(u64, u64)>) -> Self {
        self.bytes = bytes;
        self
    }

    /// The block of the run that holds feed byte `target` if its blocks are equally large.
    fn guess(&self, target: u64) -> Option<u64> {
        let ((first, blocks), (start, size)) = (self.run?, self.bytes?);
        if blocks == 0 || size == 0 || target < start {
            return None;
        }
        // u128: (target - start) * blocks may pass u64.
        let step = u128::from(target - start) * u128::from(blocks) / u128::from(size);
        Some(first + u64::try_from(step).ok()?.min(blocks - 1))
    }

    pub(crate) fn feed(&self) -> &SharedFeed {
        &self.feed
    }

    /// The block holding feed byte `target`, and where in it the byte is.
    fn load(&self, target: u64) -> Result<(u64, Vec<u8>)> {
        let mut feed = self.feed.lock();
        let key = self.key;
        if target >= feed.byte_len() && !feed.writable() {
            // A replica learns the feed's length (and the tree to seek in) with any block
            // past what it knows: the one a byte guess names (with equal blocks, the block
            // the read needs), else the file's first block or the next one. A guess inside
            // the known length is no help: that block may be stored already, and waiting for
            // it would not bring a longer feed.
            let index = match self.guess(target) {
                Some(guess) if guess >= feed.len() => guess,
                _ => self.start.unwrap_or(0).max(feed.len()),
            };
            return Err(Error::NotStored {
                feed: key.to_hex(),
                index,
            });
        }
        let (index, within) = feed.seek(target).map_err(|e| feed_error(&key, e))?;
        if self.limit.is_some_and(|end| index >= end) || index >= feed.len() {
            return Err(Error::Corrupt {
                what: "stat",
                path: String::new(),
                reason: "size runs past the file's blocks",
            });
        }
        let bytes = feed.get(index).map_err(|e| feed_error(&key, e))?;
        Ok((within, bytes))
    }

    /// Copies bytes from feed byte `target` on, up to the end of its block or of `out`.
    fn read(&mut self, target: u64, out: &mut [u8]) -> Result<usize> {
        let hit = self
            .cached
            .as_ref()
            .is_some_and(|(start, bytes)| target >= *start && target < *start + bytes.len() as u64);
        if !hit {
            // A sparse replica may lack the tree nodes a seek walks as well as the block: each
            // wait brings a block with its proof, so the seek gets further every round.
            let (within, bytes) = self.wait.retry(&self.feed, || self.load(target))?;
            self.cached = Some((target - within, bytes));
        }
        let Some((start, bytes)) = &self.cached else {
            return Err(Error::Task("block cache empty".into()));
        };
        let within = usize::try_from(target - start).unwrap_or(usize::MAX);
        let n = bytes.len().saturating_sub(within).min(out.len());
        out[..n].copy_from_slice(&bytes[within..within + n]);
        Ok(n)
    }
}

/// Reads at file position `pos` from positioned extents (at most to the end of one extent);
/// 0 at the end of the file.
pub(crate) fn read_extents(
    extents: &[(u64, Extent)],
    pending: &[u8],
    cache: &mut BlockCache,
    pos: u64,
    buf: &mut [u8],
) -> Result<usize> {
    let i = extents.partition_point(|(start, _)| *start <= pos);
    let Some((start, extent)) = i.checked_sub(1).and_then(|i| extents.get(i)) else {
        return Ok(0);
    };
    let within = pos - start;
    if within >= extent.len || buf.is_empty() {
        return Ok(0);
    }
    let n = usize::try_from(extent.len - within)
        .unwrap_or(usize::MAX)
        .min(buf.len());
    match extent.source {
        Source::Zeros => {
            buf[..n].fill(0);
            Ok(n)
        }
        Source::Feed(b) => cache.read(b + within, &mut buf[..n]),
        Source::Pending(p) => {
            let from = usize::try_from(p + within).unwrap_or(usize::MAX);
            let bytes = pending.get(from..from + n).ok_or_else(|| {
                Error::Task("pending write buffer shorter than its extents".into())
            })?;
            buf[..n].copy_from_slice(bytes);
            Ok(n)
        }
    }
}

/// A file's content: a run of blocks of one feed (a drive's content feed, or a mounted
/// hypercore from block 0), or the extents of a file written by random-access writes. Reads
/// seek to the block holding the position (hypercore `seek`) and load only the blocks they
/// touch; a block not stored locally is [`Error::NotStored`].
#[derive(Debug)]
pub struct FileReader {
    cache: BlockCache,
    extents: Vec<(u64, Extent)>,
    /// The contiguous run (first block, block count), when the file is one.
    run: Option<(u64, u64)>,
    size: u64,
    pos: u64,
}

impl FileReader {
    pub(crate) fn new(
        feed: SharedFeed,
        layout: &Layout,
        run: Option<(u64, u64)>,
        wait: Wait,
    ) -> Self {
        let extents = layout.positioned();
        let bytes = match extents.first() {
            Some((0, e)) if run.is_some() => match e.source {
                Source::Feed(b) => Some((b, layout.size())),
                _ => None,
            },
            _ => None,
        };
        FileReader {
            cache: BlockCache::new(feed, run, wait).with_bytes(bytes),
            extents,
            run,
            size: layout.size(),
            pos: 0,
        }
    }

    /// The file's size in bytes.
    pub fn size(&self) -> u64 {
        self.size
    }

    /// The current position.
    pub fn position(&self) -> u64 {
        self.pos
    }

    /// Reads up to `buf.len()` bytes at `pos` (no position change); 0 at the end.
    pub fn read_at(&mut self, pos: u64, buf: &mut [u8]) -> Result<usize> {
        read_extents(&self.extents, &[], &mut self.cache, pos, buf)
    }

    /// [`read_at`](Self::read_at) that never waits for peers: a missing block is
    /// [`Error::NotStored`] (async readers wait for it off the runtime's threads).
    pub(crate) fn read_at_now(&mut self, pos: u64, buf: &mut [u8]) -> Result<usize> {
        let wait = std::mem::replace(&mut self.cache.wait, Wait(None));
        let out = self.read_at(pos, buf);
        self.cache.wait = wait;
        out
    }

    /// The feed the file's blocks are in, and how reads wait for them.
    pub(crate) fn source(&self) -> (&SharedFeed, Wait) {
        (&self.cache.feed, self.cache.wait)
    }

    /// Appends bytes `start..end` (clamped to the file) to `out`.
    pub fn read_range_into(&mut self, start: u64, end: u64, out: &mut Vec<u8>) -> Result<()> {
        let end = end.min(self.size);
        let mut pos = start;
        let mut buf = vec![0u8; 64 * 1024];
        while pos < end {
            let len = usize::try_from(end - pos)
                .unwrap_or(usize::MAX)
                .min(buf.len());
            let n = self.read_at(pos, &mut buf[..len])?;
            if n == 0 {
                break;
            }
            out.extend_from_slice(&buf[..n]);
            pos += n as u64;
        }
        Ok(())
    }

    /// The file's blocks as stored, the last cut so the total is `limit` bytes (how a JS
    /// read stream with `length` delivers them). A file made of extents is read in
    /// 512 KiB pieces instead.
    pub(crate) fn blocks_up_to(&mut self, limit: u64) -> Result<Vec<Vec<u8>>> {
        let Some((offset, blocks)) = self.run else {
            let mut out = Vec::new();
            let mut pos = 0;
            while pos < limit.min(self.size) {
                let mut piece = Vec::new();
                let end = (pos + crate::drive::BLOCK_SIZE as u64).min(limit);
                self.read_range_into(pos, end, &mut piece)?;
                pos += piece.len() as u64;
                if piece.is_empty() {
                    break;
                }
                out.push(piece);
            }
            return Ok(out);
        };
        let mut out = Vec::new();
        let mut total = 0u64;
        let feed = self.cache.feed();
        let key = *feed.key();
        if self.cache.wait.applies(feed) {
            // One request per missing block up front, instead of one round trip each below.
            feed.download(offset, Some(offset.saturating_add(blocks)));
        }
        for index in offset..offset.saturating_add(blocks) {
            if total >= limit {
                break;
            }
            let mut block = self.cache.wait.retry(feed, || {
                feed.lock().get(index).map_err(|e| feed_error(&key, e))
            })?;
            let room = usize::try_from(limit - total).unwrap_or(usize::MAX);
            block.truncate(room);
            total += block.len() as u64;
            out.push(block);
        }
        Ok(out)
    }
}

impl Read for FileReader {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.read_at(self.pos, buf)?;
        self.pos += n as u64;
        Ok(n)
    }
}

impl Seek for FileReader {
    fn seek(&mut self, to: SeekFrom) -> io::Result<u64> {
        let pos = match to {
            SeekFrom::Start(n) => Some(n),
            SeekFrom::End(d) => self.size.checked_add_signed(d),
            SeekFrom::Current(d) => self.pos.checked_add_signed(d),
        };
        self.pos = pos
            .ok_or_else(|| io::Error::new(io::ErrorKind::InvalidInput, "seek before the start"))?;
        Ok(self.pos)
    }
}

impl Drive {
    /// A reader over the file at `path` (following symlinks). EISDIR for a directory.
    pub fn open_reader(&self, path: &str) -> Result<FileReader> {
        let located = self.stat_located(path, true)?;
        let stat: &Stat = &located.stat;
        if stat.is_directory() && stat.mount.as_ref().is_none_or(|m| !m.hypercore) {
            return Err(Error::IsDirectory(fix_name(path)));
        }
        if let Some(m) = &stat.mount
            && m.hypercore
        {
            // As JS: the mounted core is read from block 0 to its current length.
            let feed = self.store.get_by_key(&PublicKey(m.key))?;
            let (blocks, size) = {
                let f = feed.lock();
                (f.len(), f.byte_len())
            };
            let run = Extent {
                len: size,
                source: Source::Feed(0),
            };
            return Ok(FileReader::new(
                feed,
                &Layout::from_extents([run]),
                Some((0, blocks)),
                self.wait,
            ));
        }
        let holder = located.found.as_ref().map_or(self, |f| &f.drive);
        let feed = holder.content()?.clone();
        let (layout, extents) = stat_layout(stat).map_err(|reason| Error::Corrupt {
            what: "extent record",
            path: located.name.clone(),
            reason,
        })?;
        let run = (!extents).then_some((stat.offset, stat.blocks));
        Ok(FileReader::new(feed, &layout, run, self.wait))
    }
}
