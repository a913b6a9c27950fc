//! Corestore replication: every core of a store on one session, cores opened on the remote's
//! discovery keys only when the store holds them, cores loaded later joining the session.

use std::sync::Arc;
use std::time::Duration;

use anyhow::Result;
use corestore::{Corestore, SharedFeed};
use hypercore::protocol::SessionConfig;
use hypercore::replicate::ReplicateError;

/// Generous: only a broken implementation ever waits this long.
const GET_TIMEOUT: Duration = Duration::from_secs(20);

fn session(initiator: bool) -> SessionConfig {
    let mut config = SessionConfig::new(initiator);
    config.live = true;
    config
}

fn fill(feed: &SharedFeed, name: &str, blocks: usize) -> Result<()> {
    let data: Vec<Vec<u8>> = (0..blocks)
        .map(|i| format!("{name} block {i}").into_bytes())
        .collect();
    feed.append_batch(&data)?;
    Ok(())
}

/// Runs both stores' sessions over an in-memory pipe; returns their tasks.
fn connect(
    a: &Arc<Corestore>,
    b: &Arc<Corestore>,
) -> (
    tokio::task::JoinHandle<corestore::Result<()>>,
    tokio::task::JoinHandle<corestore::Result<()>>,
) {
    let (x, y) = tokio::io::duplex(64 * 1024);
    let (a, b) = (Arc::clone(a), Arc::clone(b));
    let ta = tokio::spawn(async move { a.replicate(x, session(true)).await });
    let tb = tokio::spawn(async move { b.replicate(y, session(false)).await });
    (ta, tb)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_session_carries_every_shared_core_and_refuses_unknown_ones() -> Result<()> {
    let dir = tempfile::tempdir()?;
    // On disk and not loaded when replication starts: found in the folder on the remote's
    // discovery key.
    let on_disk_key = {
        let store = Corestore::open(dir.path())?;
        let feed = store.get_by_name("on-disk")?;
        fill(&feed, "on-disk", 4)?;
        let key = *feed.key();
        store.close()?;
        key
    };
    let a = Arc::new(Corestore::open(dir.path())?);
    let shared = a.get_by_name("shared")?;
    fill(&shared, "shared", 10)?;
    let private = a.get_by_name("private")?;
    fill(&private, "private", 3)?;
    assert!(!a.is_loaded(&on_disk_key.discovery_key()));

    let b = Arc::new(Corestore::in_memory()?);
    let b_shared = b.get_by_key(shared.key())?;
    let b_disk = b.get_by_key(&on_disk_key)?;
    let b_own = b.get_by_name("b-only")?;
    fill(&b_own, "b-only", 2)?;
    b_shared.set_get_timeout(GET_TIMEOUT);
    b_disk.set_get_timeout(GET_TIMEOUT);

    let (ta, tb) = connect(&a, &b);
    for i in [9, 0, 5] {
        assert_eq!(
            b_shared.get(i).await?,
            format!("shared block {i}").into_bytes()
        );
    }
    assert_eq!(b_disk.get(3).await?, b"on-disk block 3");
    assert!(a.is_loaded(&on_disk_key.discovery_key()));
    // Sparse: only what was read moved.
    assert_eq!(b_shared.lock().downloaded(0, 10), 3);
    // A refused B's own core (A does not hold it) and never offered its private one to B.
    assert!(!a.is_loaded(&b_own.key().discovery_key()));
    assert!(!b.is_loaded(&private.key().discovery_key()));
    assert_eq!(b_own.stats().peers, 0);
    assert_eq!(private.stats().peers, 0);
    assert_eq!(shared.stats().peers, 1);
    ta.abort();
    tb.abort();
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cores_loaded_during_the_session_join_it() -> Result<()> {
    let a = Arc::new(Corestore::in_memory()?);
    let b = Arc::new(Corestore::in_memory()?);
    let first = a.get_by_name("first")?;
    fill(&first, "first", 2)?;
    let (ta, tb) = connect(&a, &b);

    // B loads the core after its session started: the session picks it up.
    let late = b.get_by_key(first.key())?;
    late.set_get_timeout(GET_TIMEOUT);
    assert_eq!(late.get(1).await?, b"first block 1");

    // A creates a core after the session started, B asks for it: A's session has it now.
    let second = a.get_by_name("second")?;
    fill(&second, "second", 3)?;
    let b_second = b.get_by_key(second.key())?;
    b_second.set_get_timeout(GET_TIMEOUT);
    assert_eq!(b_second.get(2).await?, b"second block 2");

    // An append through the lock guard is announced to B's live session.
    let waiting = tokio::spawn({
        let late = late.clone();
        async move { late.get(2).await }
    });
    first.lock().append(b"first block 2")?;
    assert_eq!(waiting.await??, b"first block 2");
    ta.abort();
    tb.abort();
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_core_nobody_serves_times_out_with_a_clear_error() -> Result<()> {
    let a = Arc::new(Corestore::in_memory()?);
    let b = Arc::new(Corestore::in_memory()?);
    let unknown = hypercore::KeyPair::generate().public;
    let feed = b.get_by_key(&unknown)?;
    feed.set_get_timeout(Duration::from_millis(300));
    let (ta, tb) = connect(&a, &b);
    match feed.get(0).await {
        Err(ReplicateError::GetTimeout { index: 0, .. }) => {}
        other => panic!("expected a get timeout, got {other:?}"),
    }
    assert!(!a.is_loaded(&unknown.discovery_key()));
    ta.abort();
    tb.abort();
    Ok(())
}
