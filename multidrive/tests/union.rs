//! The union's semantics over local drives: resolution (tombstones, causal order, ctime),
//! writes and what they copy into the writer, multi-hyperdrive's bugs fixed, conflicts,
//! watch, versions and diff.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use corestore::Corestore;
use hyperdrive::{Clock, Drive, DriveOptions, ReaddirOptions, WriteOptions, errno};
use multidrive::{
    CLOCK_KEY, ConflictKind, EROFS, MultiDrive, Tombstone, VersionVector, tombstone_key,
};

type R = Result<(), Box<dyn std::error::Error>>;

/// Drives of one in-memory store, all reading one settable clock (ms).
struct World {
    store: Arc<Corestore>,
    now: Arc<AtomicU64>,
}

impl World {
    fn new() -> Self {
        World {
            store: Arc::new(Corestore::in_memory().expect("in-memory store")),
            now: Arc::new(AtomicU64::new(1_000)),
        }
    }

    fn drive(&self, name: &str) -> Drive {
        let now = Arc::clone(&self.now);
        let options =
            DriveOptions::default().clock(Clock::from_fn(move || now.load(Ordering::SeqCst)));
        let view = Arc::new(self.store.namespace(name).expect("namespace"));
        Drive::create(view, options).expect("drive")
    }

    fn tick(&self, ms: u64) {
        self.now.fetch_add(ms, Ordering::SeqCst);
    }
}

fn union(drives: &[&Drive]) -> MultiDrive {
    let u = MultiDrive::new(drives[0].clone());
    for d in &drives[1..] {
        assert!(u.add_drive((*d).clone()));
    }
    u
}

fn opts() -> WriteOptions {
    WriteOptions::default()
}

fn names(u: &MultiDrive, dir: &str) -> Vec<String> {
    let mut n = u.readdir(dir, &ReaddirOptions::default()).expect("readdir");
    n.sort();
    n
}

#[test]
fn members_writer_and_a_clear_error_without_one() -> R {
    let w = World::new();
    let (a, b) = (w.drive("a"), w.drive("b"));
    let u = union(&[&a, &b]);
    assert_eq!(u.key(), a.key());
    assert!(!u.add_drive(b.clone()), "a member is added once");
    assert!(u.has_drive(b.key()));
    assert_eq!(u.writer().map(|d| *d.key()), Some(*a.key()));
    assert_eq!(u.members().len(), 2);

    // A union of read-only drives (here: checkouts) cannot write, and says so.
    let ro = MultiDrive::new(a.checkout(1));
    ro.add_drive(b.checkout(1));
    let err = ro.write_file("/x", b"x", &opts()).expect_err("no writer");
    assert_eq!(err.errno(), EROFS);
    assert!(err.to_string().contains("no member drive is writable"));

    assert!(u.remove_drive(a.key()).is_some());
    assert_eq!(u.writer().map(|d| *d.key()), Some(*b.key()));
    assert_eq!(u.key(), a.key(), "the primary still names the union");
    Ok(())
}

#[test]
fn reads_resolve_to_the_newest_ctime_with_ties_to_the_first_member() -> R {
    let w = World::new();
    let (a, b) = (w.drive("a"), w.drive("b"));
    a.write_file("/f", b"from a", &opts().times(5, 5))?;
    b.write_file("/f", b"from b", &opts().times(9, 9))?;
    a.write_file("/tie", b"a", &opts().times(7, 7))?;
    b.write_file("/tie", b"b", &opts().times(7, 7))?;
    b.write_file("/dir/only-b", b"0123456789", &opts())?;
    let u = union(&[&a, &b]);
    assert_eq!(u.read_file("/f")?, b"from b");
    assert_eq!(u.stat("/f")?.drive, *b.key());
    assert_eq!(u.read_file("/tie")?, b"a");
    assert_eq!(u.read_range("/dir/only-b", 2, 5)?, b"234");
    assert_eq!(names(&u, "/"), ["dir", "f", "tie"]);
    let with = u.readdir_with_stats("/", &ReaddirOptions::default())?;
    let f = with.iter().find(|e| e.name == "f").expect("f listed");
    assert_eq!((f.drive, f.stat.ctime), (*b.key(), 9));
    // Node's stores carry no clocks: time alone decides, and the conflict is listed.
    let c = u.conflict("/f")?.expect("concurrent");
    assert_eq!(c.kind, ConflictKind::Concurrent);
    assert_eq!(c.versions.len(), 2);
    assert_eq!(c.versions[0].drive, *b.key());
    Ok(())
}

#[test]
fn a_write_that_saw_a_version_wins_over_it_whatever_the_clocks_say() -> R {
    let w = World::new();
    let (a, b) = (w.drive("a"), w.drive("b"));
    // B's clock is far ahead.
    b.write_file("/f", b"b", &opts().times(u64::MAX / 2, u64::MAX / 2))?;
    let u = union(&[&a, &b]);
    u.write_file("/f", b"a saw b", &opts())?;
    let st = u.stat("/f")?;
    assert_eq!(st.drive, *a.key());
    assert_eq!(u.read_file("/f")?, b"a saw b");
    assert!(u.conflicts("/")?.is_empty());
    // The stamp: what the write had seen, under the reserved key.
    let clock = VersionVector::of_stat(&a.stat("/f")?);
    assert_eq!(clock.get(b.key().as_bytes()), b.version());
    assert!(a.stat("/f")?.metadata.get(CLOCK_KEY).is_some());
    Ok(())
}

#[test]
fn concurrent_writes_are_a_conflict_until_a_write_sees_both() -> R {
    let w = World::new();
    let (a, b) = (w.drive("a"), w.drive("b"));
    // Each peer writes on its own union, before they know of each other.
    MultiDrive::new(a.clone()).write_file("/doc", b"a's", &opts())?;
    w.tick(10);
    MultiDrive::new(b.clone()).write_file("/doc", b"b's", &opts())?;
    let u = union(&[&a, &b]);
    assert_eq!(u.read_file("/doc")?, b"b's", "newer ctime first");
    let all = u.conflicts("/")?;
    assert_eq!(all.len(), 1);
    assert_eq!(all[0].path, "/doc");
    let versions: Vec<_> = all[0].versions.iter().map(|v| v.drive).collect();
    assert_eq!(versions, [*b.key(), *a.key()]);

    // A merge written through the union saw both.
    w.tick(10);
    u.write_file("/doc", b"merged", &opts())?;
    assert!(u.conflicts("/")?.is_empty());
    assert_eq!(u.read_file("/doc")?, b"merged");
    Ok(())
}

#[test]
fn a_file_where_another_member_has_a_directory_is_a_conflict() -> R {
    let w = World::new();
    let (a, b) = (w.drive("a"), w.drive("b"));
    MultiDrive::new(a.clone()).write_file("/x", b"file", &opts())?;
    MultiDrive::new(b.clone()).write_file("/x/y", b"under a dir", &opts())?;
    let u = union(&[&a, &b]);
    let c = u.conflict("/x")?.expect("file against directory");
    assert_eq!(c.kind, ConflictKind::FileAndDirectory);
    assert!(u.conflicts("/")?.iter().any(|c| c.path == "/x"));
    // Two directories merge: no conflict.
    a.mkdir("/d", &opts())?;
    b.mkdir("/d", &opts())?;
    assert!(u.conflict("/d")?.is_none());
    Ok(())
}

#[test]
fn a_custom_resolver_orders_concurrent_versions() -> R {
    struct Oldest;
    impl multidrive::Resolver for Oldest {
        fn compare(&self, a: &multidrive::Version, b: &multidrive::Version) -> std::cmp::Ordering {
            a.stat.ctime.cmp(&b.stat.ctime)
        }
    }
    let w = World::new();
    let (a, b) = (w.drive("a"), w.drive("b"));
    a.write_file("/f", b"old", &opts().times(1, 1))?;
    b.write_file("/f", b"new", &opts().times(2, 2))?;
    let u = union(&[&a, &b]);
    assert_eq!(u.read_file("/f")?, b"new");
    u.set_resolver(Arc::new(Oldest));
    assert_eq!(u.read_file("/f")?, b"old");
    Ok(())
}

#[test]
fn unlink_tombstones_what_another_member_has_and_writes_erase_it() -> R {
    let w = World::new();
    let (a, b) = (w.drive("a"), w.drive("b"));
    b.write_file("/d/f", b"b", &opts())?;
    a.write_file("/mine", b"a", &opts())?;
    let u = union(&[&a, &b]);

    w.tick(5);
    u.unlink("/d/f")?;
    assert!(!u.exists("/d/f")?, "exists honours tombstones");
    assert_eq!(u.access("/d/f").expect_err("gone").errno(), errno::ENOENT);
    assert!(b.exists("/d/f")?);
    assert!(names(&u, "/d").is_empty());
    let (bytes, _) = a
        .hidden_get(&tombstone_key("/d/f"))?
        .expect("tombstone in the writer");
    assert_eq!(
        Tombstone::decode(&bytes)?,
        Tombstone {
            active: true,
            timestamp: 1_005
        }
    );

    // A file only the writer has just goes: no tombstone.
    u.unlink("/mine")?;
    assert!(a.hidden_get(&tombstone_key("/mine"))?.is_none());
    assert_eq!(u.unlink("/mine").expect_err("gone").errno(), errno::ENOENT);
    assert_eq!(u.unlink("/d").expect_err("a dir").errno(), errno::EISDIR);

    w.tick(5);
    u.write_file("/d/f", b"again", &opts())?;
    assert_eq!(u.read_file("/d/f")?, b"again");
    let (bytes, _) = a
        .hidden_get(&tombstone_key("/d/f"))?
        .expect("erased, not removed");
    assert!(!Tombstone::decode(&bytes)?.active);
    Ok(())
}

#[test]
fn the_newest_tombstone_decides_not_the_last_member_read() -> R {
    let w = World::new();
    let (a, b) = (w.drive("a"), w.drive("b"));
    b.write_file("/f", b"b", &opts())?;
    // A deleted /f at time 20; B's older record (time 10) says "not deleted". multi-hyperdrive
    // reads B last and shows the file; the newest record says it is gone.
    let put = |d: &Drive, active, timestamp| {
        d.hidden_put(
            &tombstone_key("/f"),
            &Tombstone { active, timestamp }.encode(),
        )
    };
    put(&b, false, 10)?;
    put(&a, true, 20)?;
    let u = union(&[&a, &b]);
    assert!(!u.exists("/f")?);
    let mark = u.tombstone("/f")?.expect("a tombstone decides");
    assert_eq!(mark.drive, *a.key());
    // And the other way round: a newer inactive record revives it.
    put(&b, false, 30)?;
    assert!(u.exists("/f")?);
    Ok(())
}

#[test]
fn rmdir_works_across_members() -> R {
    let w = World::new();
    let (a, b) = (w.drive("a"), w.drive("b"));
    b.write_file("/d/f", b"b", &opts())?;
    a.mkdir("/d", &opts())?;
    a.mkdir("/e", &opts())?;
    let u = union(&[&a, &b]);
    assert_eq!(
        u.rmdir("/d").expect_err("not empty").errno(),
        errno::ENOTEMPTY
    );
    assert_eq!(u.rmdir("/d/f").expect_err("a file").errno(), errno::ENOTDIR);
    u.unlink("/d/f")?;
    u.rmdir("/d")?;
    assert!(!u.exists("/d")?);
    assert!(!a.exists("/d")?, "the writer's own node went");
    assert!(
        a.hidden_get(&tombstone_key("/d"))?.is_some(),
        "B still has /d"
    );
    u.rmdir("/e")?;
    assert!(!u.exists("/e")?);
    assert_eq!(names(&u, "/"), Vec::<String>::new());
    Ok(())
}

#[test]
fn edits_of_another_members_file_copy_it_into_the_writer_first() -> R {
    let w = World::new();
    let (a, b) = (w.drive("a"), w.drive("b"));
    b.write_file("/t", b"0123456789", &opts())?;
    b.write_file("/p", b"aaaaaa", &opts())?;
    b.write_file("/m", b"m", &opts())?;
    b.set_metadata("/m", "user.k", b"v")?;
    let u = union(&[&a, &b]);
    w.tick(1);
    u.truncate("/t", 4)?;
    assert_eq!(u.read_file("/t")?, b"0123");
    assert_eq!(u.stat("/t")?.drive, *a.key());
    assert_eq!(b.read_file("/t")?, b"0123456789");
    u.truncate("/t", 6)?;
    assert_eq!(u.read_file("/t")?, b"0123\0\0");

    u.write_at("/p", 2, b"XY")?;
    assert_eq!(u.read_file("/p")?, b"aaXYaa");

    u.set_metadata("/m", "user.j", b"w")?;
    let st = u.stat("/m")?;
    assert_eq!(st.drive, *a.key());
    assert_eq!(st.stat.metadata.get("user.k"), Some(Some(&b"v"[..])));
    assert_eq!(st.stat.metadata.get("user.j"), Some(Some(&b"w"[..])));
    assert_eq!(u.read_file("/m")?, b"m");
    assert_eq!(
        u.set_metadata("/m", "ddrive.clock", b"x")
            .expect_err("reserved")
            .errno(),
        errno::EINVAL
    );
    Ok(())
}

#[test]
fn rename_moves_files_and_directories_from_every_member() -> R {
    let w = World::new();
    let (a, b) = (w.drive("a"), w.drive("b"));
    b.write_file("/src/one", b"1", &opts())?;
    b.write_file("/src/sub/two", b"2", &opts())?;
    a.write_file("/src/three", b"3", &opts())?;
    b.write_file("/file", b"f", &opts())?;
    let u = union(&[&a, &b]);
    w.tick(1);
    u.rename("/file", "/moved")?;
    assert!(!u.exists("/file")?);
    assert_eq!(u.read_file("/moved")?, b"f");

    u.rename("/src", "/dst")?;
    assert!(!u.exists("/src")?);
    assert!(!u.exists("/src/one")?);
    assert_eq!(names(&u, "/"), ["dst", "moved"]);
    assert_eq!(names(&u, "/dst"), ["one", "sub", "three"]);
    assert_eq!(u.read_file("/dst/sub/two")?, b"2");
    assert_eq!(u.read_file("/dst/three")?, b"3");
    Ok(())
}

#[test]
fn symlinks_and_mkdir_and_streams_go_through_the_writer() -> R {
    let w = World::new();
    let (a, b) = (w.drive("a"), w.drive("b"));
    b.write_file("/b/target", b"t", &opts())?;
    let u = union(&[&a, &b]);
    u.symlink("/b/target", "/links/l")?;
    assert_eq!(u.readlink("/links/l")?, "/b/target");
    assert_eq!(u.read_file("/links/l")?, b"t", "followed through the union");
    assert_eq!(u.stat("/links/l")?.drive, *b.key());
    assert_eq!(u.lstat("/links/l")?.drive, *a.key());
    assert_eq!(
        u.symlink("/x", "/b/target").expect_err("exists").errno(),
        errno::EEXIST
    );

    u.mkdir("/b/new/deep", &opts())?;
    assert!(a.stat("/b/new/deep")?.is_directory());
    let mut s = u.open_writer("/b/streamed", &opts())?;
    s.write(b"hello ")?;
    s.write(b"world")?;
    s.finish()?;
    assert_eq!(u.read_file("/b/streamed")?, b"hello world");
    assert_eq!(names(&u, "/b"), ["new", "streamed", "target"]);
    Ok(())
}

#[test]
fn versions_checkouts_and_diff_of_the_union() -> R {
    let w = World::new();
    let (a, b) = (w.drive("a"), w.drive("b"));
    b.write_file("/keep", b"k", &opts())?;
    b.write_file("/gone", b"g", &opts())?;
    let u = union(&[&a, &b]);
    let v0 = u.version();
    assert_eq!(v0.0, vec![(*a.key(), a.version()), (*b.key(), b.version())]);
    w.tick(1);
    u.write_file("/new", b"n", &opts())?;
    u.unlink("/gone")?;
    let old = u.checkout(&v0);
    assert!(old.exists("/gone")?);
    assert!(!old.exists("/new")?);
    assert!(!old.writable());
    let changes = u.diff(&v0, "/")?;
    let paths: Vec<_> = changes.iter().map(|c| c.path.as_str()).collect();
    assert_eq!(
        paths,
        ["/gone", "/new"],
        "the tombstone-only change included"
    );
    let gone = &changes[0];
    assert!(gone.before.is_some() && gone.after.is_none());
    Ok(())
}

#[tokio::test]
async fn watch_covers_every_member_and_drives_added_later() -> R {
    let w = World::new();
    let (a, b, c) = (w.drive("a"), w.drive("b"), w.drive("c"));
    let u = union(&[&a, &b]);
    let mut watcher = u.watch("/")?;
    assert!(watcher.try_changed().is_none());
    b.write_file("/x", b"x", &opts())?;
    let ev = watcher.changed().await.expect("b's change");
    assert_eq!(ev.key, *b.key());

    u.add_drive(c.clone());
    let ev = watcher.changed().await.expect("c joined");
    assert_eq!(ev.key, *c.key());
    c.write_file("/y", b"y", &opts())?;
    let ev = watcher.changed().await.expect("c's change");
    assert_eq!(ev.key, *c.key());
    Ok(())
}

#[test]
fn a_damaged_tombstone_is_an_io_error_not_a_panic() -> R {
    let w = World::new();
    let (a, b) = (w.drive("a"), w.drive("b"));
    b.write_file("/f", b"b", &opts())?;
    b.hidden_put(&tombstone_key("/f"), &[0x10, 0x05])?;
    let u = union(&[&a, &b]);
    let err = u.stat("/f").expect_err("no `active` field");
    assert_eq!(err.errno(), errno::EIO);
    assert!(err.to_string().contains("corrupt tombstone"), "{err}");
    Ok(())
}
