//! The state records of ddrive's own additions: mirrored drives and union drives, in their
//! own tables of the state database (values JSON, keys hex, as the other records).

use redb::TableDefinition;
use serde::{Deserialize, Serialize};

use crate::error::Result;
use crate::state::State;

/// Drive key (hex) → [`MirrorRecord`].
const MIRRORS: TableDefinition<'_, &str, &[u8]> = TableDefinition::new("mirrors");
/// Union key (hex, its primary drive's) → [`UnionRecord`].
const UNIONS: TableDefinition<'_, &str, &[u8]> = TableDefinition::new("unions");

/// The tables this module adds, created with the others when the database opens.
pub(crate) const TABLES: [TableDefinition<'static, &'static str, &'static [u8]>; 2] =
    [MIRRORS, UNIONS];

/// A drive the daemon keeps fully downloaded.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct MirrorRecord {
    /// The drive key, hex.
    pub(crate) key: String,
}

/// A union of drives.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct UnionRecord {
    /// Member keys (hex) in order; the first is the primary, whose key names the union.
    pub(crate) members: Vec<String>,
}

impl State {
    /// Records (or forgets) that a drive is mirrored.
    pub(crate) fn set_mirror(&self, key: &str, on: bool) -> Result<()> {
        if on {
            self.put(
                MIRRORS,
                key,
                &MirrorRecord {
                    key: key.to_owned(),
                },
            )
        } else {
            self.remove(MIRRORS, key)
        }
    }

    /// Every mirrored drive key (hex).
    pub(crate) fn mirrors(&self) -> Result<Vec<String>> {
        Ok(self
            .all::<MirrorRecord>(MIRRORS)?
            .into_iter()
            .map(|(_, r)| r.key)
            .collect())
    }

    /// Stores a union under its key.
    pub(crate) fn put_union(&self, key: &str, record: &UnionRecord) -> Result<()> {
        self.put(UNIONS, key, record)
    }

    /// The union with this key.
    pub(crate) fn union(&self, key: &str) -> Result<Option<UnionRecord>> {
        self.get(UNIONS, key)
    }

    /// Forgets a union (its drives stay).
    pub(crate) fn remove_union(&self, key: &str) -> Result<()> {
        self.remove(UNIONS, key)
    }

    /// Every union, by key.
    pub(crate) fn unions(&self) -> Result<Vec<(String, UnionRecord)>> {
        self.all(UNIONS)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mirrors_and_unions_survive_reopen() -> Result<()> {
        let dir =
            tempfile::tempdir().map_err(|e| crate::Error::io(std::path::Path::new("tmp"), e))?;
        let path = dir.path().join("state.redb");
        {
            let state = State::open(&path)?;
            state.set_mirror("aa", true)?;
            state.set_mirror("bb", true)?;
            state.set_mirror("bb", false)?;
            state.put_union(
                "aa",
                &UnionRecord {
                    members: vec!["aa".into(), "cc".into()],
                },
            )?;
        }
        let state = State::open(&path)?;
        assert_eq!(state.mirrors()?, ["aa"]);
        assert_eq!(
            state.union("aa")?.map(|u| u.members),
            Some(vec!["aa".into(), "cc".into()])
        );
        state.remove_union("aa")?;
        assert!(state.unions()?.is_empty());
        Ok(())
    }
}
