//! File descriptors: [`Drive::open_fd`] with JS's (Linux) flags, then [`Drive::read_fd`],
//! [`Drive::write_fd`], [`Drive::ftruncate`], [`Drive::fsync`], [`Drive::fstat`] and
//! [`Drive::close_fd`] (JS `open`, `read`, `write`, …; `Drive::open` opens a drive).
//!
//! What the flags do follows hyperdrive's `lib/fd.js`: `O_EXCL` fails on an existing path,
//! a missing path needs a writable mode and `O_CREAT`, `O_TRUNC` empties the file at open (a
//! Stat with size 0 and no blocks, its offset kept), `O_CREAT` or a plain write mode puts an
//! empty Stat for a missing file at open, and `O_APPEND` starts at the end and refuses
//! writes before it. Unlike JS, writes may go anywhere (random access, see [`WriteMode`])
//! and reads and writes with an explicit position leave the descriptor's position alone
//! (`pread`/`pwrite`).
//!
//! [`WriteMode`]: crate::WriteMode

use std::sync::{Arc, Mutex};

use crate::drive::Drive;
use crate::edit::Edit;
use crate::error::{Error, Result};
use crate::feeds::lock;
use crate::path::fix_name;
use crate::reader::FileReader;
use crate::stat::{Stat, mode};

/// Open flags (Linux values, as JS's `filesystem-constants` gives them).
pub mod flags {
    /// Read only.
    pub const O_RDONLY: u32 = 0;
    /// Write only.
    pub const O_WRONLY: u32 = 1;
    /// Read and write.
    pub const O_RDWR: u32 = 2;
    /// Access mode mask.
    pub const O_ACCMODE: u32 = 3;
    /// Create when missing.
    pub const O_CREAT: u32 = 64;
    /// With `O_CREAT`: fail when the path exists.
    pub const O_EXCL: u32 = 128;
    /// Empty the file at open.
    pub const O_TRUNC: u32 = 512;
    /// Writes go to the end.
    pub const O_APPEND: u32 = 1024;
    /// Synchronous writes (accepted; every commit is synchronous here).
    pub const O_SYNC: u32 = 1_052_672;
}

use flags::*;

/// Parses Node's string flags (`"r"`, `"r+"`, `"w"`, `"wx"`, `"w+"`, `"a"`, `"ax+"`, …) as
/// `filesystem-constants` does; EINVAL for anything else.
pub fn parse_flags(text: &str) -> Result<u32> {
    Ok(match text {
        "r" => O_RDONLY,
        "rs" | "sr" => O_RDONLY | O_SYNC,
        "r+" => O_RDWR,
        "rs+" | "sr+" => O_RDWR | O_SYNC,
        "w" => O_TRUNC | O_CREAT | O_WRONLY,
        "wx" | "xw" => O_TRUNC | O_CREAT | O_WRONLY | O_EXCL,
        "w+" => O_TRUNC | O_CREAT | O_RDWR,
        "wx+" | "xw+" => O_TRUNC | O_CREAT | O_RDWR | O_EXCL,
        "a" => O_APPEND | O_CREAT | O_WRONLY,
        "ax" | "xa" => O_APPEND | O_CREAT | O_WRONLY | O_EXCL,
        "as" | "sa" => O_APPEND | O_CREAT | O_WRONLY | O_SYNC,
        "a+" => O_APPEND | O_CREAT | O_RDWR,
        "ax+" | "xa+" => O_APPEND | O_CREAT | O_RDWR | O_EXCL,
        "as+" | "sa+" => O_APPEND | O_CREAT | O_RDWR | O_SYNC,
        other => {
            return Err(Error::InvalidArgument(format!(
                "Invalid value in flags: {other}"
            )));
        }
    })
}

/// JS numbers descriptors from 20 in steps of 2 (`STDIO_CAP + index * 2`).
const STDIO_CAP: u64 = 20;

enum Body {
    Read { reader: FileReader, stat: Stat },
    Edit(Edit),
}

struct FileDescriptor {
    readable: bool,
    writable: bool,
    appending: bool,
    position: u64,
    body: Body,
}

type Slot = Option<Arc<Mutex<FileDescriptor>>>;

/// The open descriptors of a drive handle (and its clones).
#[derive(Default)]
pub(crate) struct FdTable {
    slots: Mutex<Vec<Slot>>,
}

impl std::fmt::Debug for FdTable {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("FdTable").finish_non_exhaustive()
    }
}

impl FdTable {
    fn insert(&self, fd: FileDescriptor) -> u64 {
        let mut slots = lock(&self.slots);
        let desc = Some(Arc::new(Mutex::new(fd)));
        let index = match slots.iter().position(Option::is_none) {
            Some(i) => {
                slots[i] = desc;
                i
            }
            None => {
                slots.push(desc);
                slots.len() - 1
            }
        };
        STDIO_CAP + index as u64 * 2
    }

    fn index(fd: u64) -> Option<usize> {
        let rel = fd.checked_sub(STDIO_CAP)?;
        (rel % 2 == 0).then(|| usize::try_from(rel / 2).ok())?
    }

    fn get(&self, fd: u64) -> Result<Arc<Mutex<FileDescriptor>>> {
        let slots = lock(&self.slots);
        Self::index(fd)
            .and_then(|i| slots.get(i).cloned().flatten())
            .ok_or(Error::BadFileDescriptor(fd))
    }

    /// Every open descriptor.
    fn all(&self) -> Vec<Arc<Mutex<FileDescriptor>>> {
        lock(&self.slots).iter().flatten().cloned().collect()
    }

    fn remove(&self, fd: u64) -> Result<Arc<Mutex<FileDescriptor>>> {
        let mut slots = lock(&self.slots);
        let taken = Self::index(fd)
            .and_then(|i| slots.get_mut(i))
            .and_then(Option::take)
            .ok_or(Error::BadFileDescriptor(fd))?;
        while slots.last().is_some_and(Option::is_none) {
            slots.pop();
        }
        Ok(taken)
    }
}

fn bad(fd: u64) -> Error {
    Error::BadFileDescriptor(fd)
}

impl Drive {
    /// Opens `path` with Linux open flags ([`flags`], or [`parse_flags`] for Node's strings)
    /// and returns the descriptor. A writable descriptor's writes are visible through it at
    /// once and to the drive at [`Drive::fsync`], [`Drive::ftruncate`] or [`Drive::close_fd`].
    pub fn open_fd(&self, path: &str, open_flags: u32) -> Result<u64> {
        let name = fix_name(path);
        let accmode = open_flags & O_ACCMODE;
        let writable = accmode & (O_WRONLY | O_RDWR) != 0;
        let readable = accmode == O_RDONLY || accmode & O_RDWR != 0;
        let appending = open_flags & O_APPEND != 0;
        let truncating = open_flags & O_TRUNC != 0;
        let creating = open_flags & O_CREAT != 0;
        let exclusive = open_flags & O_EXCL != 0;

        let existing = match self.stat_located(&name, false) {
            Ok(located) => Some(located),
            Err(Error::NotFound(_)) => None,
            Err(e) => return Err(e),
        };
        match &existing {
            Some(_) if exclusive => return Err(Error::AlreadyExists(name)),
            None if !writable || !creating => return Err(Error::NotFound(name)),
            Some(l) if l.stat.file_type() == mode::S_IFDIR && l.stat.mount.is_none() => {
                return Err(Error::IsDirectory(name));
            }
            _ => {}
        }
        if writable {
            self.ensure_writable()?;
        }
        let target = existing.as_ref().map_or(name, |l| l.name.clone());
        let body = if writable {
            let mut edit = Edit::open(self, &target, true)?;
            if truncating {
                edit.set_len(0);
                edit.commit()?;
            } else if existing.is_none() {
                // As JS `create`: the empty file exists from the open on.
                self.create_file(&target, &Default::default())?;
                edit = Edit::open(self, &target, false)?;
            }
            Body::Edit(edit)
        } else {
            let reader = self.open_reader(&target)?;
            let stat = existing.map(|l| l.stat).unwrap_or_default();
            Body::Read { reader, stat }
        };
        let position = match &body {
            Body::Edit(edit) if appending => edit.size(),
            _ => 0,
        };
        Ok(self.fds.insert(FileDescriptor {
            readable,
            writable,
            appending,
            position,
            body,
        }))
    }

    /// Reads into `buf` at `pos` (or at the descriptor's position, which then advances);
    /// returns the bytes read, 0 at the end. EBADF when not open for reading.
    pub fn read_fd(&self, fd: u64, buf: &mut [u8], pos: Option<u64>) -> Result<usize> {
        let desc = self.fds.get(fd)?;
        let mut desc = lock(&desc);
        if !desc.readable {
            return Err(bad(fd));
        }
        let at = pos.unwrap_or(desc.position);
        let n = match &mut desc.body {
            Body::Edit(edit) => edit.read_at(at, buf)?,
            Body::Read { reader, .. } => {
                let mut done = 0;
                while done < buf.len() {
                    let n = reader.read_at(at + done as u64, &mut buf[done..])?;
                    if n == 0 {
                        break;
                    }
                    done += n;
                }
                done
            }
        };
        if pos.is_none() {
            desc.position = at + n as u64;
        }
        Ok(n)
    }

    /// Writes `data` at `pos` (or at the descriptor's position, which then advances; with
    /// `O_APPEND`, at the end). EBADF when not open for writing, or when an append-mode
    /// write is placed before the end (as JS).
    pub fn write_fd(&self, fd: u64, data: &[u8], pos: Option<u64>) -> Result<usize> {
        let desc = self.fds.get(fd)?;
        let mut desc = lock(&desc);
        if !desc.writable {
            return Err(bad(fd));
        }
        let appending = desc.appending;
        let position = desc.position;
        let Body::Edit(edit) = &mut desc.body else {
            return Err(bad(fd));
        };
        let at = match pos {
            // JS: "Position cannot be less than the file size when appending."
            Some(p) if appending && p < edit.size() => return Err(bad(fd)),
            Some(p) => p,
            None if appending => edit.size(),
            None => position,
        };
        edit.write_at(at, data)?;
        if pos.is_none() {
            desc.position = at + data.len() as u64;
        }
        Ok(data.len())
    }

    /// Resizes the open file to `size` and commits (JS allows only 0; any size works here).
    pub fn ftruncate(&self, fd: u64, size: u64) -> Result<()> {
        let desc = self.fds.get(fd)?;
        let mut desc = lock(&desc);
        let Body::Edit(edit) = &mut desc.body else {
            return Err(bad(fd));
        };
        edit.set_len(size);
        edit.commit().map(|_| ())
    }

    /// Commits the descriptor's writes (the drive shows them from now on) and makes the drive
    /// durable ([`Drive::flush`]).
    pub fn fsync(&self, fd: u64) -> Result<()> {
        let desc = self.fds.get(fd)?;
        let mut desc = lock(&desc);
        if let Body::Edit(edit) = &mut desc.body {
            edit.commit()?;
        }
        drop(desc);
        self.flush()
    }

    /// Commits the descriptor's writes (the drive shows them from now on) without making them
    /// durable: a `close` that [`Drive::fsync`] would slow down with a disk sync.
    pub fn commit_fd(&self, fd: u64) -> Result<()> {
        let desc = self.fds.get(fd)?;
        let mut desc = lock(&desc);
        if let Body::Edit(edit) = &mut desc.body {
            edit.commit()?;
        }
        Ok(())
    }

    /// The open file's Stat as the descriptor sees it (its size includes uncommitted writes).
    pub fn fstat(&self, fd: u64) -> Result<Stat> {
        let desc = self.fds.get(fd)?;
        let desc = lock(&desc);
        Ok(match &desc.body {
            Body::Edit(edit) => edit.stat(),
            Body::Read { stat, .. } => stat.clone(),
        })
    }

    /// Commits and closes the descriptor. The number is free again even when the commit
    /// fails.
    pub fn close_fd(&self, fd: u64) -> Result<()> {
        let desc = self.fds.remove(fd)?;
        let mut desc = lock(&desc);
        if let Body::Edit(edit) = &mut desc.body {
            edit.commit()?;
        }
        Ok(())
    }

    /// Closes the descriptor *without* committing its writes (a file removed while open:
    /// committing would bring it back).
    pub fn forget_fd(&self, fd: u64) -> Result<()> {
        self.fds.remove(fd).map(|_| ())
    }

    /// Commits every writable descriptor open on the file `name`.
    pub(crate) fn commit_edits_of(&self, name: &str) -> Result<()> {
        for desc in self.fds.all() {
            if let Body::Edit(edit) = &mut lock(&desc).body
                && edit.name() == name
            {
                edit.commit()?;
            }
        }
        Ok(())
    }

    /// Makes `stat` the base of every writable descriptor open on `name` (see
    /// [`Edit::rebase`]).
    pub(crate) fn rebase_edits_of(&self, name: &str, stat: &Stat) {
        for desc in self.fds.all() {
            if let Body::Edit(edit) = &mut lock(&desc).body
                && edit.name() == name
            {
                edit.rebase(stat);
            }
        }
    }
}
