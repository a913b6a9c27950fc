//! The drive both sides of the replication interop tests write (`js/drive-replicate-peer.js`
//! writes the same bytes): file `i` at `/files/f<i>.txt`, a big file at `/big.bin`, and a
//! second drive mounted at `/mnt` holding `/hello.txt`. Content is a pure function of the
//! index, so each side checks what it read without shipping it.

use std::sync::Arc;

use anyhow::Result;
use corestore::Corestore;
use hyperdrive::{Drive, DriveOptions, MountOptions, WriteOptions};
use sha2::{Digest, Sha256};

/// What the mounted drive's `/hello.txt` holds.
pub const MOUNT_TEXT: &str = "hello from the mounted drive";

/// Path of file `i`.
pub fn file_path(i: usize) -> String {
    format!("/files/f{i}.txt")
}

/// Bytes of file `i` (1 to 1500 of them).
pub fn file_content(i: usize) -> Vec<u8> {
    let len = (i * 7919) % 1500 + 1;
    (0..len)
        .map(|j| ((i * 131 + j * 17 + (j >> 8)) & 0xff) as u8)
        .collect()
}

/// Bytes of the big file of `len` bytes.
pub fn big_content(len: usize) -> Vec<u8> {
    (0..len)
        .map(|j| ((j * 31 + (j >> 11) * 7) & 0xff) as u8)
        .collect()
}

/// Hex SHA-256 over `path\n` and the bytes of every file in index order (what the Node peer
/// reports as `files`).
pub fn files_digest(files: usize, mut read: impl FnMut(&str) -> Result<Vec<u8>>) -> Result<String> {
    let mut h = Sha256::new();
    for i in 0..files {
        let path = file_path(i);
        let data = read(&path)?;
        h.update(format!("{path}\n").as_bytes());
        h.update(&data);
    }
    Ok(hex::encode(h.finalize()))
}

/// Writes the drive into the default drive of `store` (the mounted one in namespace `sub`).
pub fn write_drive(store: &Arc<Corestore>, files: usize, big: usize) -> Result<Drive> {
    let drive = Drive::create(Arc::clone(store), DriveOptions::default())?;
    let sub = Drive::create(Arc::new(store.namespace("sub")?), DriveOptions::default())?;
    let w = WriteOptions::default();
    for i in 0..files {
        drive.write_file(&file_path(i), &file_content(i), &w)?;
    }
    drive.write_file("/big.bin", &big_content(big), &w)?;
    sub.write_file("/hello.txt", MOUNT_TEXT.as_bytes(), &w)?;
    drive.mount("/mnt", sub.key(), &MountOptions::default())?;
    Ok(drive)
}
