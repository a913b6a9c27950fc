//! The 32-byte secret every name-derived key pair comes from, and its `master_key` file.

use std::fmt;
use std::fs::{File, OpenOptions};
use std::io::{self, Read, Write};
use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
use std::path::Path;

use crate::error::{Error, Result};
use crate::private_dir;

/// File name of the master key at the root of a store (corestore 5's `MASTER_KEY_FILENAME`).
pub(crate) const MASTER_KEY_FILE: &str = "master_key";
/// Bytes of a master key.
const MASTER_KEY_LEN: usize = 32;

/// The store's master key: whoever holds it can derive the secret key of every named core.
///
/// Its `Debug` never prints the bytes.
#[derive(Clone, PartialEq, Eq)]
pub struct MasterKey([u8; MASTER_KEY_LEN]);

impl MasterKey {
    /// A master key from its bytes.
    pub fn from_bytes(bytes: [u8; MASTER_KEY_LEN]) -> Self {
        MasterKey(bytes)
    }

    /// A new random master key from the operating system's generator.
    pub fn generate() -> Result<Self> {
        let mut bytes = [0u8; MASTER_KEY_LEN];
        getrandom::getrandom(&mut bytes).map_err(|e| Error::Random(e.to_string()))?;
        Ok(MasterKey(bytes))
    }

    /// The key's bytes.
    pub fn as_bytes(&self) -> &[u8; MASTER_KEY_LEN] {
        &self.0
    }
}

impl fmt::Debug for MasterKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("MasterKey(..)")
    }
}

/// Reads `<root>/master_key`, creating it with a random key when it is missing or empty.
///
/// JS also replaces a file shorter than 32 bytes; we refuse instead, because every secret key
/// of the store hangs on this file and a silent replacement would make all named cores
/// read-only for good. An empty file is what a crash between creating and writing the file
/// leaves behind, and nothing can have been derived from it, so that one is replaced. A longer
/// file is read like JS reads it: its first 32 bytes.
pub(crate) fn load_or_create(root: &Path) -> Result<MasterKey> {
    let path = root.join(MASTER_KEY_FILE);
    let io_err = |source| Error::Io {
        path: path.clone(),
        source,
    };
    match read(&path) {
        Ok(Some(key)) => return Ok(key),
        Ok(None) => {}
        Err(ReadError::Short(len)) => return Err(Error::MasterKeyCorrupt { path, len }),
        Err(ReadError::Writable(mode)) => return Err(Error::SecretWritableByOthers { path, mode }),
        Err(ReadError::Io(e)) => return Err(io_err(e)),
    }

    let key = MasterKey::generate()?;
    private_dir::create(root).map_err(io_err)?;
    // Write the whole key and sync it before any core is derived from it: a key that could
    // vanish in a crash would strand the secrets of every core created meanwhile.
    let write = |file: &mut File| -> io::Result<()> {
        file.write_all(key.as_bytes())?;
        file.sync_all()
    };
    match OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(&path)
    {
        Ok(mut file) => write(&mut file).map_err(io_err)?,
        Err(e) if e.kind() == io::ErrorKind::AlreadyExists => {
            // Either the empty file of a crash, or another process that won the race to
            // create it: take its key if it finished, otherwise fill the empty file.
            match read(&path) {
                Ok(Some(theirs)) => return Ok(theirs),
                Ok(None) => {
                    let mut file = OpenOptions::new().write(true).open(&path).map_err(io_err)?;
                    write(&mut file).map_err(io_err)?;
                }
                Err(ReadError::Short(len)) => return Err(Error::MasterKeyCorrupt { path, len }),
                Err(ReadError::Writable(mode)) => {
                    return Err(Error::SecretWritableByOthers { path, mode });
                }
                Err(ReadError::Io(e)) => return Err(io_err(e)),
            }
        }
        Err(e) => return Err(io_err(e)),
    }
    // The new directory entry must survive a crash as well as the bytes.
    if let Ok(dir) = File::open(root) {
        dir.sync_all().map_err(io_err)?;
    }
    Ok(key)
}

enum ReadError {
    Short(u64),
    /// Group or others may write it; its permission bits.
    Writable(u32),
    Io(io::Error),
}

/// The key in `path`: `None` when the file is missing or empty.
fn read(path: &Path) -> Result<Option<MasterKey>, ReadError> {
    let mut file = match File::open(path) {
        Ok(f) => f,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(ReadError::Io(e)),
    };
    let meta = file.metadata().map_err(ReadError::Io)?;
    let mode = meta.permissions().mode() & 0o777;
    if mode & 0o022 != 0 {
        return Err(ReadError::Writable(mode));
    }
    let len = meta.len();
    if len == 0 {
        return Ok(None);
    }
    if len < MASTER_KEY_LEN as u64 {
        return Err(ReadError::Short(len));
    }
    let mut bytes = [0u8; MASTER_KEY_LEN];
    file.read_exact(&mut bytes).map_err(ReadError::Io)?;
    Ok(Some(MasterKey(bytes)))
}

#[cfg(test)]
mod tests {
    use std::fs;
    use std::os::unix::fs::PermissionsExt;

    use super::*;

    fn mode(path: &Path) -> u32 {
        fs::metadata(path).expect("metadata").permissions().mode() & 0o777
    }

    #[test]
    fn the_master_key_and_the_folders_made_for_it_are_private() {
        let root = tempfile::tempdir().expect("tempdir");
        let store = root.path().join("a/store");
        let key = load_or_create(&store).expect("created");
        assert_eq!(mode(&store.join(MASTER_KEY_FILE)), 0o600);
        assert_eq!(mode(&store), 0o700);
        assert_eq!(mode(&root.path().join("a")), 0o700);
        assert_eq!(load_or_create(&store).expect("read back"), key);
    }

    #[test]
    fn a_master_key_others_can_write_is_refused_by_name() {
        let root = tempfile::tempdir().expect("tempdir");
        load_or_create(root.path()).expect("created");
        let path = root.path().join(MASTER_KEY_FILE);
        for bad in [0o620, 0o602, 0o666] {
            fs::set_permissions(&path, fs::Permissions::from_mode(bad)).expect("chmod");
            match load_or_create(root.path()) {
                Err(e @ Error::SecretWritableByOthers { .. }) => {
                    assert!(e.to_string().contains(&path.display().to_string()), "{e}");
                }
                other => panic!("mode {bad:o}: {other:?}"),
            }
        }
        // Readable by others (Node's default) is no way to change the keys: still opens.
        fs::set_permissions(&path, fs::Permissions::from_mode(0o644)).expect("chmod");
        assert!(load_or_create(root.path()).is_ok());
    }
}
