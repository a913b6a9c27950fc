//! [`FileWriter`]: streams a new file into the content feed, then puts its Stat.

use std::fmt;

use corestore::SharedFeed;

use crate::drive::{BLOCK_SIZE, Drive};
use crate::error::{Error, Result};
use crate::feeds::append_content;
use crate::fs::WriteOptions;
use crate::path::fix_name;
use crate::stat::Stat;

/// A file being written: bytes are gathered into 512 KiB blocks, each appended as soon as it
/// is full, so memory stays at one block whatever the file size. [`FileWriter::finish`]
/// appends the rest, syncs the content feed, and puts the Stat (so no crash leaves a Stat
/// whose blocks are lost).
///
/// This is the one place where the same operations give Node different bytes: Node's
/// `createWriteStream` appends a block per write (cut at 512 KiB), so a file streamed in small
/// writes has more, smaller blocks there. Both read each other's files; a whole-buffer write
/// ([`Drive::write_file`]) gives the same blocks on both sides.
///
/// The file's blocks must be contiguous: if another writer appends to the same content feed
/// in between, the next append fails with [`Error::InvalidArgument`] rather than
/// writing a Stat that would point at someone else's blocks.
pub struct FileWriter {
    drive: Drive,
    name: String,
    feed: SharedFeed,
    options: WriteOptions,
    buf: Vec<u8>,
    /// (first block, its byte offset) once something was appended or reserved.
    start: Option<(u64, u64)>,
    /// Feed length and byte length after our last append (read under the same lock as the
    /// append: another writer may append before [`FileWriter::finish`] locks the feed again).
    next: u64,
    byte_next: u64,
}

impl fmt::Debug for FileWriter {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("FileWriter")
            .field("name", &self.name)
            .field("buffered", &self.buf.len())
            .finish_non_exhaustive()
    }
}

impl FileWriter {
    /// Adds bytes.
    pub fn write(&mut self, mut data: &[u8]) -> Result<()> {
        while !data.is_empty() {
            let room = BLOCK_SIZE - self.buf.len();
            let take = room.min(data.len());
            self.buf.extend_from_slice(&data[..take]);
            data = &data[take..];
            if self.buf.len() == BLOCK_SIZE {
                self.flush_block()?;
            }
        }
        Ok(())
    }

    fn flush_block(&mut self) -> Result<()> {
        let mut feed = self.feed.lock();
        match self.start {
            None => self.start = Some((feed.len(), feed.byte_len())),
            Some(_) if feed.len() != self.next => {
                return Err(Error::InvalidArgument(format!(
                    "another writer appended to the content feed while {} was written",
                    self.name
                )));
            }
            Some(_) => {}
        }
        append_content(&mut feed, &[&self.buf], BLOCK_SIZE)?;
        self.next = feed.len();
        self.byte_next = feed.byte_len();
        self.buf.clear();
        Ok(())
    }

    /// Appends what is buffered and puts the Stat; returns it.
    pub fn finish(mut self) -> Result<Stat> {
        if !self.buf.is_empty() {
            self.flush_block()?;
        }
        let mut feed = self.feed.lock();
        // The content is made durable before the Stat that points at it is put, so a crash
        // between the two syncs of a later flush (which takes the cores in no set order)
        // cannot leave a Stat whose blocks are gone. A daemon flushing per request syncs the
        // content feed either way; this only moves that sync ahead of the metadata's.
        if self.start.is_some() {
            feed.flush()?;
        }
        let (offset, byte_offset) = self.start.unwrap_or((feed.len(), feed.byte_len()));
        let (end, byte_end) = if self.start.is_some() {
            (self.next, self.byte_next)
        } else {
            (offset, byte_offset)
        };
        let now = self.drive.now();
        let stat = Stat {
            mode: Stat::file_mode(self.options.mode),
            uid: self.options.uid,
            gid: self.options.gid,
            size: byte_end - byte_offset,
            blocks: end - offset,
            offset,
            byte_offset,
            mtime: self.options.mtime.unwrap_or(now),
            ctime: self.options.ctime.unwrap_or(now),
            linkname: None,
            mount: None,
            metadata: std::mem::take(&mut self.options.metadata),
        };
        let stat = self.drive.put_file_stat(&self.name, stat, 0)?;
        drop(feed);
        Ok(stat)
    }
}

impl Drive {
    /// A writer that becomes the file at `path` when finished.
    pub fn open_writer(&self, path: &str, options: WriteOptions) -> Result<FileWriter> {
        self.ensure_writable()?;
        let name = fix_name(path);
        let (owner, _) = self.owner(&name)?;
        owner.ensure_writable()?;
        let feed = owner.content()?.clone();
        Ok(FileWriter {
            drive: self.clone(),
            name,
            feed,
            options,
            buf: Vec::with_capacity(BLOCK_SIZE),
            start: None,
            next: 0,
            byte_next: 0,
        })
    }
}
