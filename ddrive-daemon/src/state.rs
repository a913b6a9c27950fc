//! The daemon's own records, in one redb database (`<storage>/state.redb`): which drives it
//! has seen, how each is networked, and the drive FUSE mounts at the root. Values are JSON
//! so a record can gain fields without a migration; keys are hex.
//!
//! The calls are synchronous (a commit syncs the file); async callers run them on the blocking
//! pool.

use std::path::Path;

use redb::{Database, ReadableDatabase, ReadableTable, TableDefinition};
use serde::{Deserialize, Serialize, de::DeserializeOwned};

use crate::error::{Error, Result};

/// Drive key (hex) → [`DriveRecord`].
const DRIVES: TableDefinition<'_, &str, &[u8]> = TableDefinition::new("drives");
/// Discovery key (hex) → [`NetworkRecord`].
const NETWORK: TableDefinition<'_, &str, &[u8]> = TableDefinition::new("network");
/// `"root"` → [`RootDriveRecord`].
const ROOT: TableDefinition<'_, &str, &[u8]> = TableDefinition::new("root-drive");

/// A drive the daemon has opened (or found mounted in one it opened).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct DriveRecord {
    /// The drive key, hex.
    pub key: String,
    /// Whether this daemon can write it.
    pub writable: bool,
}

/// A drive's network configuration; only remembered ones are stored.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct NetworkRecord {
    /// The drive key, hex.
    pub key: String,
    /// Look the drive up on the DHT.
    pub lookup: bool,
    /// Announce the drive on the DHT.
    pub announce: bool,
    /// Keep the configuration across restarts.
    pub remember: bool,
}

/// The drive FUSE mounts at the mountpoint.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct RootDriveRecord {
    /// The drive key, hex.
    pub key: String,
    /// Where it is mounted.
    pub mountpoint: String,
}

fn db_error(e: impl Into<redb::Error>) -> Error {
    Error::State(e.into().to_string())
}

/// The open database.
#[derive(Debug)]
pub(crate) struct State {
    db: Database,
}

impl State {
    /// Opens (or creates) `path`.
    pub(crate) fn open(path: &Path) -> Result<Self> {
        let db = Database::create(path)
            .map_err(|e| Error::State(format!("{}: {}", path.display(), redb::Error::from(e))))?;
        Self::with_tables(db)
    }

    /// A database that lives in memory only.
    pub(crate) fn in_memory() -> Result<Self> {
        let db = Database::builder()
            .create_with_backend(redb::backends::InMemoryBackend::new())
            .map_err(db_error)?;
        Self::with_tables(db)
    }

    fn with_tables(db: Database) -> Result<Self> {
        let tx = db.begin_write().map_err(db_error)?;
        for table in [DRIVES, NETWORK, ROOT]
            .into_iter()
            .chain(crate::records::TABLES)
        {
            tx.open_table(table).map_err(db_error)?;
        }
        tx.commit().map_err(db_error)?;
        Ok(State { db })
    }

    pub(crate) fn put<T: Serialize>(
        &self,
        table: TableDefinition<'_, &str, &[u8]>,
        key: &str,
        value: &T,
    ) -> Result<()> {
        let bytes = serde_json::to_vec(value).map_err(|e| Error::State(e.to_string()))?;
        let tx = self.db.begin_write().map_err(db_error)?;
        tx.open_table(table)
            .map_err(db_error)?
            .insert(key, bytes.as_slice())
            .map_err(db_error)?;
        tx.commit().map_err(db_error)
    }

    pub(crate) fn remove(&self, table: TableDefinition<'_, &str, &[u8]>, key: &str) -> Result<()> {
        let tx = self.db.begin_write().map_err(db_error)?;
        tx.open_table(table)
            .map_err(db_error)?
            .remove(key)
            .map_err(db_error)?;
        tx.commit().map_err(db_error)
    }

    pub(crate) fn get<T: DeserializeOwned>(
        &self,
        table: TableDefinition<'_, &str, &[u8]>,
        key: &str,
    ) -> Result<Option<T>> {
        let tx = self.db.begin_read().map_err(db_error)?;
        let table = tx.open_table(table).map_err(db_error)?;
        let Some(value) = table.get(key).map_err(db_error)? else {
            return Ok(None);
        };
        serde_json::from_slice(value.value())
            .map(Some)
            .map_err(|e| Error::State(format!("record {key}: {e}")))
    }

    pub(crate) fn all<T: DeserializeOwned>(
        &self,
        table: TableDefinition<'_, &str, &[u8]>,
    ) -> Result<Vec<(String, T)>> {
        let tx = self.db.begin_read().map_err(db_error)?;
        let table = tx.open_table(table).map_err(db_error)?;
        let mut out = Vec::new();
        for entry in table.iter().map_err(db_error)? {
            let (key, value) = entry.map_err(db_error)?;
            let record = serde_json::from_slice(value.value())
                .map_err(|e| Error::State(format!("record {}: {e}", key.value())))?;
            out.push((key.value().to_owned(), record));
        }
        Ok(out)
    }

    /// Records a drive (the first record of a key wins: a drive never stops being writable).
    pub(crate) fn record_drive(&self, record: &DriveRecord) -> Result<()> {
        match self.get::<DriveRecord>(DRIVES, &record.key)? {
            Some(old) if old.writable || !record.writable => Ok(()),
            _ => self.put(DRIVES, &record.key, record),
        }
    }

    /// Forgets a drive (it was deleted): its record and its network configuration.
    pub(crate) fn forget_drive(&self, key: &str, discovery_key: &str) -> Result<()> {
        self.remove(DRIVES, key)?;
        self.remove(NETWORK, discovery_key)
    }

    /// Every recorded drive.
    #[cfg_attr(not(test), allow(dead_code))]
    pub(crate) fn drives(&self) -> Result<Vec<DriveRecord>> {
        Ok(self.all(DRIVES)?.into_iter().map(|(_, r)| r).collect())
    }

    /// Stores (remembered) or forgets (not remembered) the configuration of the drive with
    /// this discovery key.
    pub(crate) fn set_network(&self, discovery_key: &str, record: &NetworkRecord) -> Result<()> {
        if record.remember {
            self.put(NETWORK, discovery_key, record)
        } else {
            self.remove(NETWORK, discovery_key)
        }
    }

    /// Every remembered configuration, by discovery key (hex).
    pub(crate) fn networks(&self) -> Result<Vec<(String, NetworkRecord)>> {
        self.all(NETWORK)
    }

    /// The root drive record.
    #[cfg_attr(not(test), allow(dead_code))]
    pub(crate) fn root_drive(&self) -> Result<Option<RootDriveRecord>> {
        self.get(ROOT, "root")
    }

    /// Replaces the root drive record.
    #[cfg_attr(not(test), allow(dead_code))]
    pub(crate) fn set_root_drive(&self, record: &RootDriveRecord) -> Result<()> {
        self.put(ROOT, "root", record)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn records_survive_reopen() -> Result<()> {
        let dir = tempfile::tempdir().map_err(|e| Error::io(Path::new("tmp"), e))?;
        let path = dir.path().join("state.redb");
        {
            let state = State::open(&path)?;
            state.record_drive(&DriveRecord {
                key: "aa".into(),
                writable: true,
            })?;
            // A later read-only sighting does not demote it.
            state.record_drive(&DriveRecord {
                key: "aa".into(),
                writable: false,
            })?;
            let net = NetworkRecord {
                key: "aa".into(),
                lookup: true,
                announce: true,
                remember: true,
            };
            state.set_network("dk", &net)?;
            let transient = NetworkRecord {
                remember: false,
                ..net.clone()
            };
            state.set_network("dk2", &transient)?;
            state.set_root_drive(&RootDriveRecord {
                key: "aa".into(),
                mountpoint: "/m".into(),
            })?;
        }
        let state = State::open(&path)?;
        assert_eq!(
            state.drives()?,
            [DriveRecord {
                key: "aa".into(),
                writable: true
            }]
        );
        let nets = state.networks()?;
        assert_eq!(nets.len(), 1);
        assert_eq!(nets[0].0, "dk");
        assert!(nets[0].1.announce);
        assert_eq!(state.root_drive()?.map(|r| r.mountpoint), Some("/m".into()));
        // Forgetting a remembered configuration removes it.
        let forget = NetworkRecord {
            key: "aa".into(),
            lookup: false,
            announce: false,
            remember: false,
        };
        state.set_network("dk", &forget)?;
        assert!(state.networks()?.is_empty());
        Ok(())
    }
}
