//! Where cores live: a folder laid out as corestore 5 lays it out, or memory.
//!
//! A core with discovery key `dk` (hex) lives in `<root>/<dk[0..2]>/<dk[2..4]>/<dk>/`, its six
//! hypercore files next to the `name` file (docs/formats.md §6.4). The `name` file is not one of
//! hypercore's files, so it is read and written here rather than through [`Storage`].

use std::collections::HashMap;
use std::fs::{self, File, OpenOptions};
use std::io::{self, Write};
use std::path::{Path, PathBuf};

use hypercore::{FileStorage, MemoryStorage, PublicKey, Storage, Store};

use crate::error::{Error, Result};
use crate::name_file::{self, MAX_NAME_FILE};

/// File name of a core's name record.
const NAME_FILE: &str = "name";

/// The storage of one core as the store hands it to [`hypercore::Feed`].
pub type BoxStorage = Box<dyn Storage>;

#[derive(Debug)]
pub(crate) enum Backend {
    Dir(PathBuf),
    /// Names of the cores created in this session; their files live in the loaded feeds.
    Memory(HashMap<[u8; 32], Vec<u8>>),
}

/// `<dk[0..2]>/<dk[2..4]>/<dk>`, relative to the store's root.
pub fn core_path(discovery_key: &[u8; 32]) -> PathBuf {
    let id = hex::encode(discovery_key);
    [&id[0..2], &id[2..4], id.as_str()].iter().collect()
}

impl Backend {
    /// A backend of the same folder, to open a core without the table's lock: every call on a
    /// folder backend works on files only. `None` for memory, whose names live in the backend.
    pub(crate) fn detached(&self) -> Option<Backend> {
        match self {
            Backend::Dir(root) => Some(Backend::Dir(root.clone())),
            Backend::Memory(_) => None,
        }
    }

    pub(crate) fn root(&self) -> Option<&Path> {
        match self {
            Backend::Dir(root) => Some(root),
            Backend::Memory(_) => None,
        }
    }

    /// Fresh storage for the core: its folder, or empty memory.
    pub(crate) fn storage(&self, dk: &[u8; 32]) -> BoxStorage {
        match self {
            Backend::Dir(root) => Box::new(FileStorage::new(root.join(core_path(dk)))),
            Backend::Memory(_) => Box::new(MemoryStorage::new()),
        }
    }

    /// The public key in the core's `key` file, if it holds one.
    ///
    /// Memory cores exist only while loaded, so a memory store never finds one here.
    pub(crate) fn stored_key(&self, dk: &[u8; 32]) -> Result<Option<PublicKey>> {
        let Backend::Dir(_) = self else {
            return Ok(None);
        };
        let mut storage = self.storage(dk);
        let key = storage
            .read_exact_at(Store::Key, 0, 32)
            .map_err(|source| Error::Feed {
                discovery_key: hex::encode(dk),
                source: hypercore::Error::Io {
                    store: Store::Key,
                    source,
                },
            })?;
        Ok(key.and_then(|k| <[u8; 32]>::try_from(k.as_slice()).ok().map(PublicKey)))
    }

    /// The name in the core's `name` file; `None` when there is none or it does not decode
    /// (derived-key-storage ignores such a file too).
    pub(crate) fn stored_name(&self, dk: &[u8; 32]) -> Result<Option<Vec<u8>>> {
        let root = match self {
            Backend::Dir(root) => root,
            Backend::Memory(names) => return Ok(names.get(dk).cloned()),
        };
        let path = root.join(core_path(dk)).join(NAME_FILE);
        let io_err = |source| Error::Io {
            path: path.clone(),
            source,
        };
        let len = match fs::metadata(&path) {
            Ok(meta) => meta.len(),
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(None),
            Err(e) => return Err(io_err(e)),
        };
        if len > MAX_NAME_FILE {
            return Err(Error::NameFileTooLarge {
                discovery_key: hex::encode(dk),
                len,
            });
        }
        let bytes = fs::read(&path).map_err(io_err)?;
        let name = name_file::decode(&bytes).map(<[u8]>::to_vec);
        if name.is_none() {
            tracing::warn!(path = %path.display(), "ignoring a name file that does not decode");
        }
        Ok(name)
    }

    /// Deletes what is stored of the core (its folder, and the folders above it that this
    /// leaves empty); `true` when there was anything.
    pub(crate) fn remove(&mut self, dk: &[u8; 32]) -> Result<bool> {
        let root = match self {
            Backend::Dir(root) => root.clone(),
            Backend::Memory(names) => return Ok(names.remove(dk).is_some()),
        };
        let dir = root.join(core_path(dk));
        match std::fs::remove_dir_all(&dir) {
            Ok(()) => {}
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(false),
            Err(source) => return Err(Error::Io { path: dir, source }),
        }
        // `<dk0:2>/<dk2:4>` may hold other cores: remove_dir fails on those, which is fine.
        let mut parent = dir.parent();
        while let Some(p) = parent.filter(|p| *p != root.as_path()) {
            if std::fs::remove_dir(p).is_err() {
                break;
            }
            parent = p.parent();
        }
        // The removal is durable before the caller forgets the core anywhere else: the
        // folder that lost the last entry removed is synced.
        if let Some(Ok(f)) = parent.map(File::open) {
            let _ = f.sync_all();
        }
        Ok(true)
    }

    /// Records the core's name, before its `key` file is written: after a crash a folder then
    /// holds a name without a key (which both implementations re-create from the name) rather
    /// than a key without its name (which would open read-only).
    pub(crate) fn store_name(&mut self, dk: &[u8; 32], name: &[u8]) -> Result<()> {
        let root = match self {
            Backend::Dir(root) => root,
            Backend::Memory(names) => {
                names.insert(*dk, name.to_vec());
                return Ok(());
            }
        };
        let dir = root.join(core_path(dk));
        let path = dir.join(NAME_FILE);
        let io_err = |source| Error::Io {
            path: path.clone(),
            source,
        };
        crate::private_dir::create(&dir).map_err(io_err)?;
        // Like random-access-file: write in place over whatever is there. A stale longer file
        // would no longer decode, so cut it to the record's length.
        let record = name_file::encode(name);
        let mut file: File = OpenOptions::new()
            .write(true)
            .create(true)
            .truncate(true)
            .open(&path)
            .map_err(io_err)?;
        file.write_all(&record).map_err(io_err)?;
        // Once per core creation: the name is what keeps the core writable after a restart,
        // so its bytes and its entry in the folder are synced.
        file.sync_all().map_err(io_err)?;
        File::open(&dir).and_then(|d| d.sync_all()).map_err(io_err)
    }
}
