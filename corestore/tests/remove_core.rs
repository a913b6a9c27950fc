//! `Corestore::remove_core`: refused while a handle is out, then the folder is gone and the
//! key opens an empty core.

use corestore::{Corestore, Error, core_path};

#[test]
fn a_removed_core_leaves_no_folder() -> Result<(), Box<dyn std::error::Error>> {
    let dir = tempfile::tempdir()?;
    let store = Corestore::open(dir.path())?;
    let feed = store.get_by_name("doomed")?;
    let keep = store.get_by_name("kept")?;
    let (key, dk) = {
        let mut f = feed.lock();
        f.append(b"block")?;
        f.flush()?;
        (*f.key(), f.discovery_key())
    };
    let folder = dir.path().join(core_path(&dk));
    assert!(folder.exists());

    match store.remove_core(&dk) {
        Err(Error::InUse { handles: 1, .. }) => {}
        other => panic!("a held core is not removed: {other:?}"),
    }
    assert!(folder.exists());

    drop(feed);
    assert!(store.remove_core(&dk)?, "something was stored");
    assert!(!folder.exists(), "the folder is gone");
    assert!(!store.is_loaded(&dk));
    assert!(!store.remove_core(&dk)?, "a second removal finds nothing");
    assert_eq!(
        store.get_by_key(&key)?.lock().len(),
        0,
        "the key opens empty"
    );
    assert_eq!(keep.lock().len(), 0, "other cores are untouched");
    Ok(())
}
