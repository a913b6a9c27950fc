//! A store's flush: every loaded core written since the last flush is synced, the rest cost
//! nothing; and a `master_key` another user could replace is refused.

use std::os::unix::fs::PermissionsExt;

use anyhow::{Result, ensure};
use corestore::{Corestore, Error};

#[test]
fn flush_syncs_every_written_core_and_then_has_nothing_to_do() -> Result<()> {
    let dir = tempfile::tempdir()?;
    let store = Corestore::open(dir.path())?;
    let a = store.get_by_name("a")?;
    let b = store.get_by_name("b")?;
    let c = store.get_by_name("c")?;
    a.lock().append(b"one")?;
    b.lock().append_batch(&[&b"two"[..], b"three"])?;
    store.flush()?;
    for feed in [&a, &b, &c] {
        ensure!(!feed.lock().needs_flush(), "a core was left unsynced");
    }
    store.flush()?;
    // Flushed blocks are on disk for a store opened afresh.
    drop((a, b, c));
    store.close()?;
    drop(store);
    let store = Corestore::open(dir.path())?;
    ensure!(store.get_by_name("b")?.lock().len() == 2);
    Ok(())
}

#[test]
fn a_master_key_others_can_write_is_refused() -> Result<()> {
    let dir = tempfile::tempdir()?;
    Corestore::open(dir.path())?.close()?;
    let path = dir.path().join("master_key");
    ensure!(std::fs::metadata(&path)?.permissions().mode() & 0o777 == 0o600);
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o666))?;
    match Corestore::open(dir.path()) {
        Err(e @ Error::SecretWritableByOthers { .. }) => {
            ensure!(e.to_string().contains("master_key"), "{e}");
        }
        other => anyhow::bail!("opened a world-writable master key: {other:?}"),
    }
    Ok(())
}
