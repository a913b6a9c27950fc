//! Drive keys as people type them, and the key files import and export leave in a folder.
//!
//! A key is 32 bytes as 64 hex characters; anything up to `://` is dropped (so `hyper://<hex>`
//! works, as in the original CLI) and a `/path` after the key names a path in the drive.
//!
//! Key files hold the 32 raw key bytes and nothing else, as the Node CLI's `fs.writeFile(path,
//! drive.key)` writes them, so either CLI resumes from the other's file. The Node CLI names them
//! `.hyperdrive-import-key` / `.hyperdrive-export-key`; ddrive writes `.ddrive-*` and reads
//! either.

use std::io::Write;
use std::path::{Path, PathBuf};

use anyhow::{Context, Result};

use crate::exit::{Exit, fail};

/// The import key file ddrive writes.
pub(crate) const IMPORT_KEY_FILE: &str = ".ddrive-import-key";
/// The export key file ddrive writes.
pub(crate) const EXPORT_KEY_FILE: &str = ".ddrive-export-key";
/// The Node CLI's names for the same files (read, never written).
const NODE_IMPORT_KEY_FILE: &str = ".hyperdrive-import-key";
const NODE_EXPORT_KEY_FILE: &str = ".hyperdrive-export-key";

/// Whether a file name is one of the key files (never imported or exported).
pub(crate) fn is_key_file(name: &str) -> bool {
    [
        IMPORT_KEY_FILE,
        EXPORT_KEY_FILE,
        NODE_IMPORT_KEY_FILE,
        NODE_EXPORT_KEY_FILE,
    ]
    .iter()
    .any(|k| name.contains(k))
}

const BAD_KEY: &str = "Key must be a 32-byte long hex string (or hyper://<hex>).";

/// A drive key and a path in it, from `<hex>`, `hyper://<hex>` or either followed by `/path`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct DriveRef {
    pub(crate) key: [u8; 32],
    /// `/` when none was given.
    pub(crate) path: String,
}

impl DriveRef {
    pub(crate) fn parse(text: &str) -> Result<DriveRef> {
        let rest = text.split_once("://").map_or(text, |(_, r)| r);
        let (hex_part, path) = match rest.find('/') {
            Some(i) => (&rest[..i], &rest[i..]),
            None => (rest, "/"),
        };
        Ok(DriveRef {
            key: parse_key(hex_part)?,
            path: normalize(path),
        })
    }

    /// This ref with `path` (relative to the ref's path) appended, when given.
    pub(crate) fn join(mut self, path: Option<&str>) -> DriveRef {
        if let Some(p) = path {
            self.path = if p.starts_with('/') {
                normalize(p)
            } else {
                normalize(&format!("{}/{p}", self.path))
            };
        }
        self
    }
}

/// `/a//b/` → `/a/b`; always absolute.
pub(crate) fn normalize(path: &str) -> String {
    let parts: Vec<&str> = path
        .split('/')
        .filter(|p| !p.is_empty() && *p != ".")
        .collect();
    format!("/{}", parts.join("/"))
}

/// 32 bytes from 64 hex characters, or the bad-key failure.
pub(crate) fn parse_key(text: &str) -> Result<[u8; 32]> {
    let text = text.split_once("://").map_or(text, |(_, r)| r);
    let text = text.trim_end_matches('/');
    let bytes = hex::decode(text).map_err(|_| fail(Exit::BadKey, BAD_KEY))?;
    <[u8; 32]>::try_from(bytes.as_slice()).map_err(|_| fail(Exit::BadKey, BAD_KEY))
}

/// The key in `dir`'s key file (ddrive's name first, then the Node CLI's); `None` when the
/// folder has neither.
pub(crate) fn read_key_file(dir: &Path, export: bool) -> Result<Option<[u8; 32]>> {
    let names = if export {
        [EXPORT_KEY_FILE, NODE_EXPORT_KEY_FILE]
    } else {
        [IMPORT_KEY_FILE, NODE_IMPORT_KEY_FILE]
    };
    for name in names {
        let path = dir.join(name);
        match std::fs::read(&path) {
            Ok(bytes) => {
                let key = <[u8; 32]>::try_from(bytes.as_slice()).map_err(|_| {
                    fail(
                        Exit::BadKey,
                        format!(
                            "{} holds {} bytes; a key file holds the 32 raw bytes of a key",
                            path.display(),
                            bytes.len()
                        ),
                    )
                })?;
                return Ok(Some(key));
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(e) => return Err(e).with_context(|| format!("cannot read {}", path.display())),
        }
    }
    Ok(None)
}

/// Writes `key` as `dir`'s key file: 32 raw bytes, through a temporary file renamed over the
/// old one so a crash never leaves half a key.
pub(crate) fn write_key_file(dir: &Path, export: bool, key: &[u8; 32]) -> Result<PathBuf> {
    let name = if export {
        EXPORT_KEY_FILE
    } else {
        IMPORT_KEY_FILE
    };
    let path = dir.join(name);
    let tmp = dir.join(format!("{name}.tmp"));
    let mut f =
        std::fs::File::create(&tmp).with_context(|| format!("cannot write {}", tmp.display()))?;
    f.write_all(key)
        .and_then(|()| f.sync_all())
        .with_context(|| format!("cannot write {}", tmp.display()))?;
    std::fs::rename(&tmp, &path).with_context(|| format!("cannot write {}", path.display()))?;
    Ok(path)
}

#[cfg(test)]
mod tests {
    use super::*;

    const HEX: &str = "0101010101010101010101010101010101010101010101010101010101010101";

    #[test]
    fn keys_parse_as_hex_or_url() -> Result<()> {
        assert_eq!(parse_key(HEX)?, [1u8; 32]);
        assert_eq!(parse_key(&format!("hyper://{HEX}"))?, [1u8; 32]);
        assert_eq!(parse_key(&format!("hyper://{HEX}/"))?, [1u8; 32]);
        let r = DriveRef::parse(&format!("hyper://{HEX}/a//b/"))?;
        assert_eq!((r.key, r.path.as_str()), ([1u8; 32], "/a/b"));
        assert_eq!(DriveRef::parse(HEX)?.path, "/");
        assert_eq!(DriveRef::parse(HEX)?.join(Some("x/y")).path, "/x/y");
        for bad in ["", "zz", &HEX[2..], &format!("{HEX}00")] {
            let e = parse_key(bad).expect_err("refused");
            assert_eq!(crate::exit::exit_of(&e), Exit::BadKey);
        }
        Ok(())
    }

    #[test]
    fn key_files_are_32_raw_bytes() -> Result<()> {
        let dir = tempfile::tempdir()?;
        assert_eq!(read_key_file(dir.path(), false)?, None);
        let path = write_key_file(dir.path(), false, &[7u8; 32])?;
        assert_eq!(std::fs::read(&path)?, vec![7u8; 32]);
        assert_eq!(read_key_file(dir.path(), false)?, Some([7u8; 32]));
        // The Node CLI's file is read when ddrive's is absent.
        std::fs::write(dir.path().join(NODE_EXPORT_KEY_FILE), [9u8; 32])?;
        assert_eq!(read_key_file(dir.path(), true)?, Some([9u8; 32]));
        std::fs::write(dir.path().join(EXPORT_KEY_FILE), b"short")?;
        assert!(read_key_file(dir.path(), true).is_err());
        Ok(())
    }
}
