//! What a store finds, creates and refuses: reopening, keys, namespaces, views, closing.

use std::fs;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use anyhow::Result;
use corestore::{Corestore, Error, MasterKey, core_path};
use hypercore::{KeyPair, PublicKey};

fn core_dir(root: &Path, key: &PublicKey) -> PathBuf {
    root.join(core_path(&key.discovery_key()))
}

fn files_in(dir: &Path) -> Result<Vec<String>> {
    let mut names = fs::read_dir(dir)?
        .map(|e| Ok(e?.file_name().to_string_lossy().into_owned()))
        .collect::<Result<Vec<_>>>()?;
    names.sort();
    Ok(names)
}

#[test]
fn first_open_writes_a_master_key_that_later_opens_reuse() -> Result<()> {
    let dir = tempfile::tempdir()?;
    let store = Corestore::open(dir.path())?;
    let key = store.derive_key_pair(b"default").public;
    let master = fs::read(dir.path().join("master_key"))?;
    assert_eq!(master.len(), 32);
    assert_ne!(master, [0u8; 32]);
    drop(store);

    let again = Corestore::open(dir.path())?;
    assert_eq!(again.derive_key_pair(b"default").public, key);
    assert_eq!(fs::read(dir.path().join("master_key"))?, master);
    // A given master key derives the same and writes no file.
    let other = tempfile::tempdir()?;
    let given = Corestore::open_with_master_key(
        other.path(),
        MasterKey::from_bytes(master.as_slice().try_into()?),
    );
    assert_eq!(given.derive_key_pair(b"default").public, key);
    given.default_feed()?;
    assert!(!other.path().join("master_key").exists());
    Ok(())
}

#[test]
fn named_cores_store_their_name_and_never_their_secret() -> Result<()> {
    let dir = tempfile::tempdir()?;
    let store = Corestore::open(dir.path())?;
    let feed = store.get_by_name("notes")?;
    let key = {
        let mut feed = feed.lock();
        assert!(feed.writable());
        feed.append(b"one")?;
        *feed.key()
    };
    assert_eq!(key, store.derive_key_pair(b"notes").public);
    let core = core_dir(dir.path(), &key);
    assert_eq!(
        files_in(&core)?,
        ["bitfield", "data", "key", "name", "signatures", "tree"]
    );
    assert_eq!(fs::read(core.join("name"))?, b"\x05notes");
    assert_eq!(fs::read(core.join("key"))?, key.0);
    Ok(())
}

#[test]
fn reopened_store_finds_named_cores_writable_by_key_and_discovery_key() -> Result<()> {
    let dir = tempfile::tempdir()?;
    let store = Corestore::open(dir.path())?;
    let feed = store.get_by_name("notes")?;
    feed.lock().append(b"one")?;
    let key = *feed.lock().key();
    store.close()?;
    drop(feed);

    let store = Corestore::open(dir.path())?;
    let by_key = store.get_by_key(&key)?;
    {
        let mut feed = by_key.lock();
        assert!(feed.writable());
        assert_eq!(feed.get(0)?, b"one");
        feed.append(b"two")?;
    }
    let by_dk = store
        .get_by_discovery_key(&key.discovery_key())?
        .expect("stored core");
    assert!(corestore::SharedFeed::ptr_eq(&by_key, &by_dk));
    let by_name = store.get_by_name("notes")?;
    assert!(corestore::SharedFeed::ptr_eq(&by_key, &by_name));
    assert_eq!(by_name.lock().len(), 2);

    assert!(store.get_by_discovery_key(&[9u8; 32])?.is_none());
    Ok(())
}

#[test]
fn unknown_keys_open_read_only_and_store_only_the_key() -> Result<()> {
    let dir = tempfile::tempdir()?;
    let store = Corestore::open(dir.path())?;
    let foreign = KeyPair::from_seed(&[5u8; 32]).public;
    let feed = store.get_by_key(&foreign)?;
    assert!(!feed.lock().writable());
    assert!(matches!(
        feed.lock().append(b"x"),
        Err(hypercore::Error::NotWritable)
    ));
    let core = core_dir(dir.path(), &foreign);
    assert_eq!(files_in(&core)?, ["bitfield", "key", "signatures", "tree"]);
    store.close()?;
    drop(feed);

    // Found again by discovery key after a restart, still read-only.
    let store = Corestore::open(dir.path())?;
    let feed = store
        .get_by_discovery_key(&foreign.discovery_key())?
        .expect("stored core");
    assert_eq!(*feed.lock().key(), foreign);
    assert!(!feed.lock().writable());
    Ok(())
}

#[test]
fn a_core_first_opened_by_key_becomes_writable_once_named() -> Result<()> {
    let dir = tempfile::tempdir()?;
    let store = Corestore::open(dir.path())?;
    let key = store.derive_key_pair(b"later").public;
    let feed = store.get_by_key(&key)?;
    assert!(!feed.lock().writable());
    store.close()?;
    drop(feed);

    let store = Corestore::open(dir.path())?;
    let feed = store.get_by_name("later")?;
    assert!(feed.lock().writable());
    feed.lock().append(b"x")?;
    assert_eq!(
        fs::read(core_dir(dir.path(), &key).join("name"))?,
        b"\x05later"
    );
    Ok(())
}

#[test]
fn namespaces_name_the_default_feed_and_nest_with_colons() -> Result<()> {
    let store = Corestore::in_memory_with_master_key(MasterKey::from_bytes([0x42; 32]));
    assert_eq!(store.name(), "default");
    let a = store.namespace("a")?;
    let ab = a.namespace("b")?;
    assert_eq!(a.name(), "a");
    assert_eq!(ab.name(), "a:b");

    let key = |feed: &corestore::SharedFeed| *feed.lock().key();
    assert_eq!(
        key(&store.default_feed()?).to_hex(),
        "fd6be4609ea12658c67369e6a63bd632a18be32ca80cb26e3e18594224323f5e"
    );
    assert_eq!(
        key(&ab.default_feed()?),
        store.derive_key_pair(b"a:b").public
    );
    assert_eq!(key(&a.default_feed()?), store.derive_key_pair(b"a").public);
    // Explicit names are the same in every view.
    assert!(corestore::SharedFeed::ptr_eq(
        &ab.get_by_name("x")?,
        &store.get_by_name("x")?
    ));
    // A root-level namespace "a:b" is the same core as the nested one.
    assert!(corestore::SharedFeed::ptr_eq(
        &store.namespace("a:b")?.default_feed()?,
        &ab.default_feed()?
    ));
    Ok(())
}

#[test]
fn list_shows_what_each_view_asked_for() -> Result<()> {
    let store = Corestore::in_memory()?;
    let ns = store.namespace("ns")?;
    let one = store.get_by_name("one")?;
    let two = ns.get_by_name("two")?;
    ns.get_by_name("one")?;

    let dks = |s: &Corestore| s.list().into_iter().map(|(dk, _)| dk).collect::<Vec<_>>();
    let dk = |f: &corestore::SharedFeed| f.lock().discovery_key();
    assert_eq!(dks(&store), vec![dk(&one)]);
    let mut expected = vec![dk(&one), dk(&two)];
    expected.sort();
    assert_eq!(dks(&ns), expected);
    assert!(store.is_loaded(&dk(&two)));

    // Closing a namespace empties its list but leaves the store open.
    ns.close()?;
    assert!(ns.list().is_empty());
    assert!(store.is_loaded(&dk(&two)));
    assert!(corestore::SharedFeed::ptr_eq(&ns.get_by_name("two")?, &two));
    Ok(())
}

#[test]
fn closing_the_root_closes_every_view() -> Result<()> {
    let dir = tempfile::tempdir()?;
    let store = Corestore::open(dir.path())?;
    let ns = store.namespace("ns")?;
    let feed = ns.default_feed()?;
    feed.lock().append(b"kept")?;
    let key = *feed.lock().key();
    store.close()?;
    assert!(matches!(store.get_by_name("x"), Err(Error::Closed)));
    assert!(matches!(ns.default_feed(), Err(Error::Closed)));
    assert!(matches!(
        store.get_by_discovery_key(&key.discovery_key()),
        Err(Error::Closed)
    ));
    assert!(!store.is_loaded(&key.discovery_key()));
    drop(feed);

    let store = Corestore::open(dir.path())?;
    let feed = store.namespace("ns")?.default_feed()?;
    assert_eq!(feed.lock().get(0)?, b"kept");
    Ok(())
}

#[test]
fn threads_asking_for_one_core_share_one_handle() -> Result<()> {
    let dir = tempfile::tempdir()?;
    let store = Arc::new(Corestore::open(dir.path())?);
    let handles = (0..4)
        .map(|i| {
            let store = Arc::clone(&store);
            std::thread::spawn(move || -> Result<_> {
                let feed = store.get_by_name("shared")?;
                feed.lock().append(format!("from {i}").as_bytes())?;
                Ok(feed)
            })
        })
        .collect::<Vec<_>>();
    let feeds = handles
        .into_iter()
        .map(|h| h.join().expect("thread panicked"))
        .collect::<Result<Vec<_>>>()?;
    for feed in &feeds[1..] {
        assert!(corestore::SharedFeed::ptr_eq(feed, &feeds[0]));
    }
    assert_eq!(feeds[0].lock().len(), 4);
    Ok(())
}

#[test]
fn memory_store_holds_cores_until_closed() -> Result<()> {
    let store = Corestore::in_memory()?;
    assert!(store.path().is_none());
    let feed = store.default_feed()?;
    feed.lock().append(b"a")?;
    let key = *feed.lock().key();
    assert!(corestore::SharedFeed::ptr_eq(
        &store.get_by_key(&key)?,
        &feed
    ));
    assert!(store.get_by_discovery_key(&[1; 32])?.is_none());
    // Two memory stores with random master keys derive different keys.
    let other = Corestore::in_memory()?;
    assert_ne!(other.derive_key_pair(b"default").public, key);
    Ok(())
}

#[test]
fn debug_never_prints_the_master_key() -> Result<()> {
    let master = MasterKey::from_bytes([0xab; 32]);
    let store = Corestore::in_memory_with_master_key(master.clone());
    let shown = format!("{store:?} {master:?}");
    assert!(!shown.contains("abab"), "{shown}");
    assert!(!shown.contains("171, 171"), "{shown}");
    assert!(shown.contains("MasterKey(..)"));
    Ok(())
}

#[test]
fn a_core_with_a_stored_secret_key_opens_writable_by_key() -> Result<()> {
    // What Node's `get({ keyPair })` leaves: `key` and `secret_key`, no `name`.
    let dir = tempfile::tempdir()?;
    let pair = KeyPair::from_seed(&[3u8; 32]);
    let core = core_dir(dir.path(), &pair.public);
    {
        let mut feed = hypercore::Feed::builder(hypercore::FileStorage::new(&core))
            .key_pair(pair.clone())
            .open()?;
        feed.append(b"explicit")?;
        feed.close()?;
    }
    let store = Corestore::open(dir.path())?;
    let feed = store
        .get_by_discovery_key(&pair.public.discovery_key())?
        .expect("stored core");
    let mut feed = feed.lock();
    assert!(feed.writable());
    assert_eq!(feed.get(0)?, b"explicit");
    feed.append(b"more")?;
    assert!(!core.join("name").exists());
    Ok(())
}
