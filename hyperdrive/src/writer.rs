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
/// appends the rest and puts the Stat.
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
    /// Feed length after our last append.
    next: u64,
    /// Feed byte length after our last append: the file's end, even when another writer
    /// appended since (its blocks come after ours).
    next_byte: u64,
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
        self.next_byte = feed.byte_len();
        self.buf.clear();
        Ok(())
    }

    /// Appends what is buffered and puts the Stat; returns it.
    pub fn finish(mut self) -> Result<Stat> {
        if !self.buf.is_empty() {
            self.flush_block()?;
        }
        let feed = self.feed.lock();
        let (offset, byte_offset) = self.start.unwrap_or((feed.len(), feed.byte_len()));
        let (end, byte_end) = if self.start.is_some() {
            (self.next, self.next_byte)
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
        self.drive.put_node(&self.name, stat.encode(), 0, false)?;
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
            next_byte: 0,
        })
    }
}
