//! [`FileReader`]: reads a file's content blocks, only the ones a range needs.

use std::io::{self, Read, Seek, SeekFrom};

use corestore::SharedFeed;
use hypercore::PublicKey;

use crate::drive::Drive;
use crate::error::{Error, Result};
use crate::feeds::{feed_error, lock};
use crate::path::fix_name;
use crate::stat::Stat;

/// A file's content: a run of blocks of one feed (a drive's content feed, or a mounted
/// hypercore from block 0). Reads seek to the block holding the position (hypercore `seek`)
/// and load only the blocks they touch; a block not stored locally is
/// [`Error::NotStored`].
#[derive(Debug)]
pub struct FileReader {
    feed: SharedFeed,
    key: PublicKey,
    /// First block.
    offset: u64,
    /// Number of blocks.
    blocks: u64,
    /// Feed byte position of block `offset`.
    byte_offset: u64,
    size: u64,
    pos: u64,
    /// The block last read, for sequential reads inside it: (index, feed byte start, bytes).
    cached: Option<(u64, u64, Vec<u8>)>,
}

impl FileReader {
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
        if pos >= self.size || buf.is_empty() {
            return Ok(0);
        }
        let want = (self.size - pos).min(buf.len() as u64);
        let target = self.byte_offset + pos;
        let (_, start, block) = self.block_at(target)?;
        let within = usize::try_from(target - start).unwrap_or(usize::MAX);
        let avail = block.len().saturating_sub(within);
        let n = avail.min(usize::try_from(want).unwrap_or(usize::MAX));
        buf[..n].copy_from_slice(&block[within..within + n]);
        Ok(n)
    }

    /// The block holding feed byte `target`, from the one-block cache or the feed.
    fn block_at(&mut self, target: u64) -> Result<(u64, u64, &[u8])> {
        let hit = self.cached.as_ref().is_some_and(|(_, start, bytes)| {
            target >= *start && target < *start + bytes.len() as u64
        });
        if !hit {
            let mut feed = lock(&self.feed);
            let key = self.key;
            let (index, within) = feed.seek(target).map_err(|e| feed_error(&key, e))?;
            if index >= self.offset + self.blocks {
                return Err(Error::Corrupt {
                    what: "stat",
                    path: String::new(),
                    reason: "size runs past the file's blocks",
                });
            }
            let bytes = feed.get(index).map_err(|e| feed_error(&key, e))?;
            self.cached = Some((index, target - within, bytes));
        }
        match &self.cached {
            Some((index, start, bytes)) => Ok((*index, *start, bytes)),
            None => Err(Error::Task("block cache empty".into())),
        }
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
    /// read stream with `length` delivers them).
    pub(crate) fn blocks_up_to(&mut self, limit: u64) -> Result<Vec<Vec<u8>>> {
        let mut out = Vec::new();
        let mut total = 0u64;
        let mut feed = lock(&self.feed);
        for index in self.offset..self.offset + self.blocks {
            if total >= limit {
                break;
            }
            let mut block = feed.get(index).map_err(|e| feed_error(&self.key, e))?;
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
            let key = PublicKey(m.key);
            let feed = self.store.get_by_key(&key)?;
            let (blocks, size) = {
                let f = lock(&feed);
                (f.len(), f.byte_len())
            };
            return Ok(FileReader {
                feed,
                key,
                offset: 0,
                blocks,
                byte_offset: 0,
                size,
                pos: 0,
                cached: None,
            });
        }
        let holder = located.found.as_ref().map_or(self, |f| &f.drive);
        let feed = holder.content()?.clone();
        let key = *lock(&feed).key();
        Ok(FileReader {
            feed,
            key,
            offset: stat.offset,
            blocks: stat.blocks,
            byte_offset: stat.byte_offset,
            size: stat.size,
            pos: 0,
            cached: None,
        })
    }
}
