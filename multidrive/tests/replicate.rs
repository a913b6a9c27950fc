//! A union of three drives living on three peers (three stores), replicated over TCP on
//! 127.0.0.1 and read from a fourth: reads of remote members wait for their blocks, a peer's
//! union edits (a tombstone over another peer's file, a write that saw it) reach the reader,
//! and two peers' concurrent writes are resolved and listed as a conflict.

use std::sync::Arc;
use std::time::Duration;

use anyhow::{Context, Result, ensure};
use corestore::Corestore;
use hypercore::protocol::SessionConfig;
use hyperdrive::{AsyncDrive, Clock, Drive, DriveOptions, ReaddirOptions, WriteOptions};
use multidrive::{AsyncMultiDrive, ConflictKind, MultiDrive};
use tokio::task::JoinHandle;

/// Generous: only a broken implementation waits this long.
const WAIT: Duration = Duration::from_secs(30);

fn new_store() -> Result<Arc<Corestore>> {
    Ok(Arc::new(Corestore::in_memory()?))
}

/// A peer's own drive, its clock pinned at `now`.
fn own_drive(store: &Arc<Corestore>, now: u64) -> Result<Drive> {
    let options = DriveOptions::default().clock(Clock::fixed(now));
    Ok(Drive::create(Arc::clone(store), options)?)
}

/// `store`'s handle on a remote drive: reads wait for blocks at most `WAIT`.
fn remote(store: &Arc<Corestore>, of: &Drive) -> Result<Drive> {
    let options = DriveOptions::default().block_timeout(Some(WAIT));
    Ok(Drive::open(Arc::clone(store), of.key(), options)?)
}

fn session(initiator: bool) -> SessionConfig {
    let mut config = SessionConfig::new(initiator);
    config.live = true;
    config
}

/// Connects two stores over TCP on 127.0.0.1 (`a` dials) and replicates each through the
/// given drive's handle (the session carries every core either store has loaded).
async fn connect(a: &Drive, b: &Drive) -> Result<[JoinHandle<()>; 2]> {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let addr = listener.local_addr()?;
    let dial = tokio::spawn(async move { tokio::net::TcpStream::connect(addr).await });
    let (accepted, _) = listener.accept().await?;
    let dialed = dial.await??;
    let run = |drive: &Drive, io: tokio::net::TcpStream, initiator: bool| {
        let drive = AsyncDrive::new(drive.clone());
        tokio::spawn(async move {
            if let Err(e) = drive.replicate(io, session(initiator)).await {
                eprintln!("replication ended: {e}");
            }
        })
    };
    Ok([run(a, dialed, true), run(b, accepted, false)])
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_union_of_three_peers_drives_read_from_a_fourth() -> Result<()> {
    let w = WriteOptions::default();
    let (s1, s2, s3, s4) = (new_store()?, new_store()?, new_store()?, new_store()?);
    let d1 = own_drive(&s1, 1_000)?;
    let d2 = own_drive(&s2, 2_000)?;
    let d3 = own_drive(&s3, 3_000)?;
    d2.write_file("/shared/readme", b"p2's readme", &w)?;
    d2.write_file("/p2/only", b"p2's file", &w)?;
    d3.write_file("/p3/only", b"p3's file", &w)?;
    // Concurrent: neither peer has seen the other's drive.
    MultiDrive::new(d2.clone()).write_file("/conflict", b"from p2", &w)?;
    MultiDrive::new(d3.clone()).write_file("/conflict", b"from p3", &w)?;

    let mut sessions = Vec::new();
    // Peer 1 follows peer 2's drive and edits through its union: a tombstone over p2's file
    // and a write over p2's readme that saw it (its clock is behind p2's: causality decides).
    let d2_at_p1 = remote(&s1, &d2)?;
    sessions.extend(connect(&d2_at_p1, &d2).await?);
    let p1_union = MultiDrive::new(d1.clone());
    p1_union.add_drive(d2_at_p1);
    tokio::task::spawn_blocking(move || -> Result<()> {
        p1_union.unlink("/p2/only")?;
        p1_union.write_file("/shared/readme", b"p1's edit", &WriteOptions::default())?;
        ensure!(p1_union.read_file("/shared/readme")? == b"p1's edit");
        Ok(())
    })
    .await??;

    // The fourth peer: three remote members, one connection to each peer.
    let (r1, r2, r3) = (remote(&s4, &d1)?, remote(&s4, &d2)?, remote(&s4, &d3)?);
    sessions.extend(connect(&r1, &d1).await?);
    sessions.extend(connect(&r2, &d2).await?);
    sessions.extend(connect(&r3, &d3).await?);
    let union = MultiDrive::new(r1.clone());
    union.add_drive(r2.clone());
    union.add_drive(r3.clone());
    let keys = (*d1.key(), *d3.key());
    // Read through the async surface: every call runs where waiting for blocks is fine.
    let union = AsyncMultiDrive::new(union);
    let check = async {
        ensure!(
            union.sync().writer().is_none(),
            "every member is someone else's"
        );
        let mut root = union.readdir("/", ReaddirOptions::default()).await?;
        root.sort();
        ensure!(root == ["conflict", "p2", "p3", "shared"], "{root:?}");
        ensure!(
            union
                .readdir("/p2", ReaddirOptions::default())
                .await?
                .is_empty()
        );
        ensure!(
            !union.exists("/p2/only").await?,
            "peer 1's tombstone hides it"
        );
        let r2_has = tokio::task::spawn_blocking(move || r2.exists("/p2/only")).await??;
        ensure!(r2_has, "peer 2 still has it");
        let readme = union.stat("/shared/readme").await?;
        ensure!(
            readme.drive == keys.0,
            "the write that saw p2's readme wins"
        );
        ensure!(union.read_file("/shared/readme").await? == b"p1's edit");
        ensure!(union.read_file("/p3/only").await? == b"p3's file");
        ensure!(
            union.read_file("/conflict").await? == b"from p3",
            "newer ctime"
        );
        let conflicts = union.conflicts("/").await?;
        ensure!(conflicts.len() == 1, "{conflicts:?}");
        let c = &conflicts[0];
        ensure!(c.path == "/conflict" && c.kind == ConflictKind::Concurrent);
        ensure!(c.versions.len() == 2 && c.versions[0].drive == keys.1);
        Ok(())
    };
    check
        .await
        .context("reading the union at the fourth peer")?;
    for s in sessions {
        s.abort();
    }
    Ok(())
}
