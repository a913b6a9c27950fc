//! [`Drive::download`], [`Drive::file_stats`] and [`Drive::stats`]: which content blocks a
//! path needs and how many are stored locally.

use std::collections::BTreeMap;

use corestore::SharedFeed;
use hypercore::PublicKey;

use crate::drive::Drive;
use crate::error::Result;

use crate::fs::FileStats;
use crate::path::fix_name;
use crate::readdir::ReaddirOptions;
use crate::stat::mode;

/// Blocks `[start, end)` of one feed.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct BlockRange {
    /// The file the range belongs to (absolute path).
    pub path: String,
    /// The feed holding the blocks.
    pub feed: PublicKey,
    /// First block.
    pub start: u64,
    /// One past the last block.
    pub end: u64,
    /// Blocks of the range stored locally.
    pub downloaded: u64,
}

/// What [`Drive::download`] found: every range the path needs, and what is already here.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Download {
    /// One range per file with content, in listing order.
    pub ranges: Vec<BlockRange>,
}

impl Download {
    /// Blocks needed.
    pub fn blocks(&self) -> u64 {
        self.ranges.iter().map(|r| r.end - r.start).sum()
    }

    /// Blocks stored locally.
    pub fn downloaded_blocks(&self) -> u64 {
        self.ranges.iter().map(|r| r.downloaded).sum()
    }

    /// Whether everything is stored locally.
    pub fn is_complete(&self) -> bool {
        self.ranges.iter().all(|r| r.downloaded == r.end - r.start)
    }
}

impl Drive {
    /// The feed and block range of the file at `path` (a mounted hypercore: all its blocks).
    /// A file stored as extents reports the blocks its extents fall in.
    fn file_range(&self, path: &str) -> Result<(SharedFeed, u64, u64, FileStats)> {
        let located = self.stat_located(path, false)?;
        let stat = &located.stat;
        let feed = match (&stat.mount, &located.found) {
            (Some(m), _) if m.hypercore => self.store.get_by_key(&PublicKey(m.key))?,
            (_, Some(found)) => found.drive.content()?.clone(),
            (_, None) => self.content()?.clone(),
        };
        let (start, end, downloaded) = {
            let f = feed.lock();
            let (start, blocks) = match &stat.mount {
                Some(m) if m.hypercore => (0, f.len()),
                _ => (stat.offset, stat.blocks),
            };
            // Decoded Stats keep start + blocks in range; counting stops at the feed's length,
            // past which nothing can be stored (and an author's huge `blocks` would take ages).
            let end = start.saturating_add(blocks);
            (start, end, f.downloaded(start, end.min(f.len())))
        };
        let stats = FileStats {
            blocks: end - start,
            size: stat.size,
            downloaded_blocks: downloaded,
        };
        Ok((feed, start, end, stats))
    }

    /// Blocks, size and locally stored blocks of the file at `path`.
    pub fn file_stats(&self, path: &str) -> Result<FileStats> {
        Ok(self.file_range(path)?.3)
    }

    /// JS `stats(path)`: [`FileStats`] of the file at `path`, or of every file under the
    /// directory at `path` (recursively, through mounts), by absolute path.
    pub fn stats(&self, path: &str) -> Result<BTreeMap<String, FileStats>> {
        let name = fix_name(path);
        let mut out = BTreeMap::new();
        let stat = self.stat(&name)?;
        if stat.file_type() != mode::S_IFDIR || stat.mount.as_ref().is_some_and(|m| m.hypercore) {
            out.insert(name.clone(), self.file_stats(&name)?);
            return Ok(out);
        }
        let entries = self.readdir_with_stats(&name, &ReaddirOptions::default().recursive(true))?;
        for entry in entries {
            if entry.stat.file_type() == mode::S_IFDIR
                && entry.stat.mount.as_ref().is_none_or(|m| !m.hypercore)
            {
                continue;
            }
            let path = crate::path::join(&[&name, &entry.name]);
            match self.file_stats(&path) {
                Ok(stats) => {
                    out.insert(path, stats);
                }
                Err(crate::Error::NotFound(_)) => {}
                Err(e) => return Err(e),
            }
        }
        Ok(out)
    }

    /// JS `download(path)`: the block ranges the file (or every file under the directory,
    /// not descending into mounts, as JS) needs, with what is already stored. Replication
    /// fetches the missing blocks; locally this is the report. Directories, mount points and
    /// files without blocks are skipped.
    pub fn download(&self, path: &str) -> Result<Download> {
        let name = fix_name(path);
        let stat = self.stat(&name)?;
        let mut paths = Vec::new();
        if stat.file_type() != mode::S_IFDIR {
            paths.push(name.clone());
        } else {
            let options = ReaddirOptions::default().recursive(true).no_mounts(true);
            for entry in self.readdir_with_stats(&name, &options)? {
                if entry.stat.blocks == 0
                    || entry.stat.mount.is_some()
                    || entry.stat.file_type() == mode::S_IFDIR
                {
                    continue;
                }
                paths.push(crate::path::join(&[&name, &entry.name]));
            }
        }
        let mut ranges = Vec::with_capacity(paths.len());
        for path in paths {
            let (feed, start, end, stats) = self.file_range(&path)?;
            if start == end {
                continue;
            }
            let key = *feed.lock().key();
            ranges.push(BlockRange {
                path,
                feed: key,
                start,
                end,
                downloaded: stats.downloaded_blocks,
            });
        }
        Ok(Download { ranges })
    }
}
