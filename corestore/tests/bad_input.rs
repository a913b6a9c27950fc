//! Folders that do not hold what corestore writes: typed errors, never panics.

use std::fs;
use std::path::Path;

use anyhow::Result;
use corestore::{Corestore, Error, MasterKey, core_path};
use hypercore::PublicKey;

fn core_dir(root: &Path, key: &PublicKey) -> std::path::PathBuf {
    root.join(core_path(&key.discovery_key()))
}

#[test]
fn short_master_key_is_refused_not_replaced() -> Result<()> {
    for len in [1usize, 16, 31] {
        let dir = tempfile::tempdir()?;
        fs::write(dir.path().join("master_key"), vec![7u8; len])?;
        match Corestore::open(dir.path()) {
            Err(Error::MasterKeyCorrupt { len: got, .. }) => assert_eq!(got, len as u64),
            other => panic!("{len} bytes: expected MasterKeyCorrupt, got {other:?}"),
        }
        assert_eq!(fs::read(dir.path().join("master_key"))?, vec![7u8; len]);
    }
    Ok(())
}

#[test]
fn empty_master_key_left_by_a_crash_is_replaced() -> Result<()> {
    let dir = tempfile::tempdir()?;
    fs::write(dir.path().join("master_key"), b"")?;
    let store = Corestore::open(dir.path())?;
    let written = fs::read(dir.path().join("master_key"))?;
    assert_eq!(written.len(), 32);
    let expected =
        Corestore::in_memory_with_master_key(MasterKey::from_bytes(written.as_slice().try_into()?));
    assert_eq!(
        store.derive_key_pair(b"x").public,
        expected.derive_key_pair(b"x").public
    );
    Ok(())
}

#[test]
fn longer_master_key_uses_its_first_32_bytes_like_js() -> Result<()> {
    let dir = tempfile::tempdir()?;
    let mut bytes = vec![0x11u8; 32];
    bytes.extend_from_slice(b"trailing");
    fs::write(dir.path().join("master_key"), &bytes)?;
    let store = Corestore::open(dir.path())?;
    assert_eq!(
        store.derive_key_pair(b"default").public.to_hex(),
        "726121cb305d09029f39f55455e29a81adeff2004d266254ec9f09b170171c65"
    );
    Ok(())
}

#[test]
fn master_key_that_is_a_folder_is_an_io_error() -> Result<()> {
    let dir = tempfile::tempdir()?;
    fs::create_dir(dir.path().join("master_key"))?;
    assert!(matches!(Corestore::open(dir.path()), Err(Error::Io { .. })));
    Ok(())
}

/// Puts `name`'s `name` file into the folder of the core named `owner`.
fn store_with_wrong_name(owner: &str, name: &[u8]) -> Result<(tempfile::TempDir, PublicKey)> {
    let dir = tempfile::tempdir()?;
    let store = Corestore::open(dir.path())?;
    let feed = store.get_by_name(owner)?;
    feed.lock().append(b"block")?;
    let key = *feed.lock().key();
    store.close()?;
    drop(feed);
    fs::write(core_dir(dir.path(), &key).join("name"), name)?;
    Ok((dir, key))
}

#[test]
fn a_name_file_for_another_name_is_a_mismatch() -> Result<()> {
    let (dir, key) = store_with_wrong_name("mine", b"\x05other")?;
    let store = Corestore::open(dir.path())?;
    assert!(matches!(
        store.get_by_key(&key),
        Err(Error::NameMismatch { .. })
    ));
    assert!(matches!(
        store.get_by_name("mine"),
        Err(Error::NameMismatch { .. })
    ));
    assert!(matches!(
        store.get_by_discovery_key(&key.discovery_key()),
        Err(Error::NameMismatch { .. })
    ));
    // Nothing was loaded, and the folder was not rewritten.
    assert!(!store.is_loaded(&key.discovery_key()));
    assert_eq!(
        fs::read(core_dir(dir.path(), &key).join("name"))?,
        b"\x05other"
    );
    Ok(())
}

#[test]
fn a_name_file_that_does_not_decode_is_ignored_like_js() -> Result<()> {
    for junk in [&b""[..], b"\x05", b"\x09short", b"\xff\xff\xff"] {
        let (dir, key) = store_with_wrong_name("mine", junk)?;
        let store = Corestore::open(dir.path())?;
        // By key there is no name to derive from: read-only, as in JS.
        let feed = store.get_by_key(&key)?;
        assert!(!feed.lock().writable(), "{junk:?}");
        assert_eq!(feed.lock().get(0)?, b"block");
        store.close()?;
        drop(feed);
        // By name we know the secret: writable, and the name file is repaired.
        let store = Corestore::open(dir.path())?;
        let feed = store.get_by_name("mine")?;
        assert!(feed.lock().writable());
        assert_eq!(
            fs::read(core_dir(dir.path(), &key).join("name"))?,
            b"\x04mine"
        );
    }
    Ok(())
}

#[test]
fn a_huge_name_file_is_refused() -> Result<()> {
    let (dir, key) = store_with_wrong_name("mine", &vec![0u8; 100_000])?;
    let store = Corestore::open(dir.path())?;
    assert!(matches!(
        store.get_by_key(&key),
        Err(Error::NameFileTooLarge { len: 100_000, .. })
    ));
    Ok(())
}

#[test]
fn a_key_file_in_the_wrong_folder_is_refused() -> Result<()> {
    let dir = tempfile::tempdir()?;
    let store = Corestore::open(dir.path())?;
    let feed = store.get_by_name("a")?;
    let a = *feed.lock().key();
    let b = store.derive_key_pair(b"b").public;
    store.close()?;
    drop(feed);
    // Move a's folder to where b's belongs.
    let b_dir = core_dir(dir.path(), &b);
    fs::create_dir_all(b_dir.parent().unwrap())?;
    fs::rename(core_dir(dir.path(), &a), &b_dir)?;

    let store = Corestore::open(dir.path())?;
    assert!(matches!(
        store.get_by_discovery_key(&b.discovery_key()),
        Err(Error::MisplacedKey { .. })
    ));
    // By name, b's derived key meets a's name file: a mismatch, not a silent open.
    assert!(matches!(
        store.get_by_name("b"),
        Err(Error::NameMismatch { .. })
    ));
    // By key with no name file: the stored key is not b's.
    fs::remove_file(b_dir.join("name"))?;
    assert!(matches!(
        store.get_by_key(&b),
        Err(Error::Feed {
            source: hypercore::Error::WrongKey { .. },
            ..
        })
    ));
    Ok(())
}

#[test]
fn a_cut_key_file_is_a_typed_error() -> Result<()> {
    let (dir, key) = store_with_wrong_name("mine", b"\x04mine")?;
    fs::write(core_dir(dir.path(), &key).join("key"), &key.0[..10])?;
    let store = Corestore::open(dir.path())?;
    assert!(matches!(
        store.get_by_name("mine"),
        Err(Error::Feed {
            source: hypercore::Error::Corrupt { .. },
            ..
        })
    ));
    // Too short to hold a key: not a stored core, as for JS.
    assert!(store.get_by_discovery_key(&key.discovery_key())?.is_none());
    Ok(())
}

#[test]
fn empty_names_are_refused() -> Result<()> {
    let store = Corestore::in_memory()?;
    assert!(matches!(store.get_by_name(""), Err(Error::EmptyName)));
    assert!(matches!(store.namespace(""), Err(Error::EmptyName)));
    Ok(())
}
