//! The open-file budget: idle cores close (least recently used first) and reopen on demand,
//! cores in use stay, per-core attachments go with their core, and a store in memory never
//! closes anything.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use anyhow::Result;
use corestore::{Corestore, DEFAULT_OPEN_FILE_BUDGET};

/// Room for two cores (six files each).
const TWO_CORES: usize = 12;

fn dk(store: &Corestore, name: &str) -> [u8; 32] {
    store
        .derive_key_pair(name.as_bytes())
        .public
        .discovery_key()
}

fn write(store: &Corestore, name: &str, block: &[u8]) -> Result<()> {
    store.get_by_name(name)?.lock().append(block)?;
    Ok(())
}

#[test]
fn idle_cores_close_least_recently_used_first_and_reopen_intact() -> Result<()> {
    let dir = tempfile::tempdir()?;
    let store = Corestore::open(dir.path())?;
    assert_eq!(store.stats().loaded, 0);
    store.set_open_file_budget(Some(TWO_CORES));
    write(&store, "a", b"block of a")?;
    write(&store, "b", b"block of b")?;
    // `a` is asked for again, so `b` is now the least recently used.
    drop(store.get_by_name("a")?);
    write(&store, "c", b"block of c")?;
    assert!(store.is_loaded(&dk(&store, "a")));
    assert!(
        !store.is_loaded(&dk(&store, "b")),
        "b was the least recently used"
    );
    assert!(store.is_loaded(&dk(&store, "c")));
    let stats = store.stats();
    assert_eq!((stats.loaded, stats.evictions, stats.opens), (2, 1, 3));

    // Reopened from its folder, by key: same blocks, still writable.
    let key = store.derive_key_pair(b"b").public;
    let b = store.get_by_key(&key)?;
    {
        let mut feed = b.lock();
        assert!(feed.writable());
        assert_eq!(feed.get(0)?, b"block of b");
        feed.append(b"again")?;
    }
    assert_eq!(store.stats().opens, 4);
    assert_eq!(store.stats().loaded, 2);
    Ok(())
}

#[test]
fn cores_in_use_are_never_closed() -> Result<()> {
    let dir = tempfile::tempdir()?;
    let store = Corestore::open(dir.path())?;
    store.set_open_file_budget(Some(TWO_CORES));
    let held: Vec<_> = (0..4)
        .map(|i| store.get_by_name(format!("held{i}")))
        .collect::<Result<_, _>>()?;
    // Over budget: every loaded core is held, so none closes.
    assert_eq!(store.stats().loaded, 4);
    assert_eq!(store.stats().evictions, 0);
    for i in 0..10 {
        write(&store, &format!("idle{i}"), b"x")?;
    }
    // The idle cores made room for each other; the held ones stayed, as the same handles.
    assert_eq!(store.stats().loaded, 5);
    for (i, feed) in held.iter().enumerate() {
        let again = store.get_by_name(format!("held{i}"))?;
        assert!(hypercore::replicate::SharedFeed::ptr_eq(feed, &again));
    }
    Ok(())
}

struct Counted;

static MADE: AtomicUsize = AtomicUsize::new(0);
static DROPPED: AtomicUsize = AtomicUsize::new(0);

impl Counted {
    fn new() -> Self {
        MADE.fetch_add(1, Ordering::SeqCst);
        Counted
    }
}

impl Drop for Counted {
    fn drop(&mut self) {
        DROPPED.fetch_add(1, Ordering::SeqCst);
    }
}

#[test]
fn attachments_are_shared_per_core_and_go_with_it() -> Result<()> {
    let dir = tempfile::tempdir()?;
    let store = Corestore::open(dir.path())?;
    store.set_open_file_budget(Some(TWO_CORES));
    let a = store.get_by_name("a")?;
    let first = store.attachment(&a, Counted::new).expect("a is loaded");
    let view = store.namespace("ns")?;
    let second = view.attachment(&a, Counted::new).expect("a is loaded");
    assert!(
        Arc::ptr_eq(&first, &second),
        "one value per core, whatever the view"
    );
    assert_eq!(MADE.load(Ordering::SeqCst), 1);
    // Another type is another value.
    let other = store.attachment(&a, || 7u32).expect("a is loaded");
    assert_eq!(*other, 7);
    drop((first, second, a));

    write(&store, "b", b"x")?;
    write(&store, "c", b"x")?;
    assert!(!store.is_loaded(&dk(&store, "a")));
    assert_eq!(DROPPED.load(Ordering::SeqCst), 1, "evicted with its core");
    let a = store.get_by_name("a")?;
    store
        .attachment(&a, Counted::new)
        .expect("a is loaded again");
    assert_eq!(
        MADE.load(Ordering::SeqCst),
        2,
        "a fresh value for the reopened core"
    );

    // A feed from another store is not this store's core.
    let elsewhere = Corestore::in_memory()?;
    let foreign = elsewhere.get_by_name("a")?;
    assert!(store.attachment(&foreign, Counted::new).is_none());
    store.close()?;
    assert!(store.attachment(&a, Counted::new).is_none(), "closed");
    Ok(())
}

#[test]
fn a_store_in_memory_keeps_every_core() -> Result<()> {
    let store = Corestore::in_memory()?;
    store.set_open_file_budget(Some(TWO_CORES));
    for i in 0..5 {
        write(&store, &format!("m{i}"), b"only in memory")?;
    }
    assert_eq!(store.stats().loaded, 5);
    assert_eq!(store.stats().evictions, 0);
    assert_eq!(store.get_by_name("m0")?.lock().get(0)?, b"only in memory");
    Ok(())
}

#[test]
fn the_default_budget_applies_to_stores_on_disk() -> Result<()> {
    let dir = tempfile::tempdir()?;
    let store = Corestore::open(dir.path())?;
    let cores = DEFAULT_OPEN_FILE_BUDGET / 6;
    for i in 0..cores + 3 {
        write(&store, &format!("d{i}"), b"x")?;
    }
    assert_eq!(store.stats().loaded, cores);
    assert_eq!(store.stats().evictions, 3);
    store.set_open_file_budget(None);
    for i in 0..3 {
        write(&store, &format!("more{i}"), b"x")?;
    }
    assert_eq!(store.stats().loaded, cores + 3, "no budget, no eviction");
    Ok(())
}

#[test]
fn threads_loading_one_core_at_once_share_one_feed() -> Result<()> {
    let dir = tempfile::tempdir()?;
    let store = Arc::new(Corestore::open(dir.path())?);
    // Room for one core: most loads below reopen a core from its folder, outside the table's
    // lock, while other threads look it up.
    store.set_open_file_budget(Some(6));
    for round in 0..40 {
        let name = format!("core{}", round % 4);
        let threads: Vec<_> = (0..4)
            .map(|_| {
                let (store, name) = (Arc::clone(&store), name.clone());
                std::thread::spawn(move || store.get_by_name(name))
            })
            .collect();
        let feeds = threads
            .into_iter()
            .map(|t| t.join().expect("a loading thread panicked"))
            .collect::<Result<Vec<_>, _>>()?;
        for feed in &feeds {
            assert!(hypercore::replicate::SharedFeed::ptr_eq(feed, &feeds[0]));
        }
        feeds[0].append(name.as_bytes())?;
    }
    // Each round reopened its core once (the others were evicted meanwhile), never twice.
    assert_eq!(store.stats().opens, 40);
    Ok(())
}
