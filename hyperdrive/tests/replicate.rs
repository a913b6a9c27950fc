//! Drive replication between two ddrive stores: sparse reads that wait for blocks (through a
//! mount too), full clones that follow the header and mounts, both session roles, over an
//! in-memory pipe and over TCP on 127.0.0.1; and the clear error when nobody sends a block.

use std::sync::Arc;
use std::time::Duration;

use anyhow::{Context, Result};
use corestore::Corestore;
use hypercore::protocol::SessionConfig;
use hyperdrive::{
    AsyncDrive, Clock, Drive, DriveOptions, Error, MountOptions, ReaddirOptions, WriteOptions,
    errno,
};
use rand::{Rng, SeedableRng, rngs::StdRng};
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::task::JoinHandle;

/// Generous: only a broken implementation waits this long.
const WAIT: Duration = Duration::from_secs(30);
const SEED: u64 = 0x5eed_d21e;
const FILES: usize = 40;
const BIG: usize = 3 * 1024 * 1024 + 12_345;

struct Source {
    drive: Drive,
    big: Vec<u8>,
    files: Vec<(String, Vec<u8>)>,
    mounted: Vec<u8>,
}

/// A drive with `FILES` small files, a multi-block file and a mounted drive, from `SEED`.
fn source() -> Result<Source> {
    let mut rng = StdRng::seed_from_u64(SEED);
    let store = Arc::new(Corestore::in_memory()?);
    let options = DriveOptions::default().clock(Clock::fixed(1_600_000_000_000));
    let drive = Drive::create(Arc::new(store.namespace("main")?), options.clone())?;
    let sub = Drive::create(Arc::new(store.namespace("sub")?), options)?;
    let w = WriteOptions::default();
    let mut files = Vec::new();
    for i in 0..FILES {
        let len = rng.gen_range(0..3000);
        let data: Vec<u8> = (0..len).map(|_| rng.r#gen()).collect();
        let path = format!("/dir{}/file{i}.bin", i % 4);
        drive.write_file(&path, &data, &w)?;
        files.push((path, data));
    }
    let big: Vec<u8> = (0..BIG).map(|_| rng.r#gen()).collect();
    drive.write_file("/big.bin", &big, &w)?;
    let mounted = b"hello from the mounted drive".to_vec();
    sub.write_file("/inner/hello.txt", &mounted, &w)?;
    drive.mount("/mnt", sub.key(), &MountOptions::default())?;
    Ok(Source {
        drive,
        big,
        files,
        mounted,
    })
}

fn session(initiator: bool) -> SessionConfig {
    let mut config = SessionConfig::new(initiator);
    config.live = true;
    config
}

/// An empty store's handle on the source's drive, reads waiting at most `WAIT`.
fn clone_of(source: &Drive) -> Result<AsyncDrive> {
    let store = Arc::new(Corestore::in_memory()?);
    let options = DriveOptions::default().block_timeout(Some(WAIT));
    Ok(AsyncDrive::new(Drive::open(store, source.key(), options)?))
}

fn spawn_replication<T>(drive: &AsyncDrive, io: T, initiator: bool) -> JoinHandle<()>
where
    T: AsyncRead + AsyncWrite + Send + 'static,
{
    let drive = drive.clone();
    tokio::spawn(async move {
        if let Err(e) = drive.replicate(io, session(initiator)).await {
            eprintln!("replication ended: {e}");
        }
    })
}

/// Sparse reads of everything through the clone, then a full clone; checks every byte.
async fn read_everything(source: &Source, clone: &AsyncDrive) -> Result<()> {
    let seed = format!("seed {SEED:#x}");
    // The root listing needs the header and the trie, fetched as the walk asks for nodes.
    let mut root = clone.readdir("/", ReaddirOptions::default()).await?;
    root.sort();
    assert_eq!(
        root,
        ["big.bin", "dir0", "dir1", "dir2", "dir3", "mnt"],
        "{seed}"
    );
    // A sparse ranged read of the big file: only the block it touches moves (equal blocks
    // let the clone name it before it knows the content feed's length or tree).
    let mut reader = clone.reader("/big.bin").await?;
    let at = 2 * 1024 * 1024 + 100;
    let mut buf = vec![0u8; 1024];
    tokio::io::AsyncSeekExt::seek(&mut reader, std::io::SeekFrom::Start(at as u64)).await?;
    tokio::io::AsyncReadExt::read_exact(&mut reader, &mut buf).await?;
    assert_eq!(buf, source.big[at..at + 1024], "{seed}");
    let content = clone.sync().content_feed().context("content feed")?.clone();
    let partial = {
        let f = content.lock();
        f.downloaded(0, f.len())
    };
    assert_eq!(partial, 1, "a 1 KiB read inside one block, {seed}");

    assert_eq!(clone.read_file("/big.bin").await?, source.big, "{seed}");
    for (path, data) in &source.files {
        assert_eq!(&clone.read_file(path).await?, data, "{path}, {seed}");
    }
    // Through the mount: the mounted drive's feeds join the session when the read opens it.
    assert_eq!(
        clone.read_file("/mnt/inner/hello.txt").await?,
        source.mounted
    );

    let report = clone.download_all(WAIT).await?;
    assert_eq!(report.drives, 2, "this drive and the mounted one");
    let metadata = clone.sync().metadata_feed();
    assert_eq!(metadata.lock().len(), source.drive.version());
    let (len, have) = {
        let f = content.lock();
        (f.len(), f.downloaded(0, f.len()))
    };
    assert_eq!(have, len, "the content feed is complete");
    let source_content = source.drive.content_feed().context("source content")?;
    assert_eq!(len, source_content.lock().len());
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_clone_reads_and_downloads_a_drive_over_an_in_memory_pipe() -> Result<()> {
    let source = source()?;
    let clone = clone_of(&source.drive)?;
    let (x, y) = tokio::io::duplex(256 * 1024);
    let a = spawn_replication(&AsyncDrive::new(source.drive.clone()), x, true);
    let b = spawn_replication(&clone, y, false);
    read_everything(&source, &clone).await?;
    a.abort();
    b.abort();
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_clone_reads_a_drive_over_tcp_in_both_roles() -> Result<()> {
    for clone_dials in [true, false] {
        let source = source()?;
        let clone = clone_of(&source.drive)?;
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
        let addr = listener.local_addr()?;
        let dial = tokio::spawn(async move { tokio::net::TcpStream::connect(addr).await });
        let (accepted, _) = listener.accept().await?;
        let dialed = dial.await??;
        let (for_clone, for_source) = if clone_dials {
            (dialed, accepted)
        } else {
            (accepted, dialed)
        };
        let a = spawn_replication(
            &AsyncDrive::new(source.drive.clone()),
            for_source,
            !clone_dials,
        );
        let b = spawn_replication(&clone, for_clone, clone_dials);
        read_everything(&source, &clone)
            .await
            .with_context(|| format!("clone dials: {clone_dials}"))?;
        a.abort();
        b.abort();
    }
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_clone_sees_live_writes_and_its_watchers_hear_of_them() -> Result<()> {
    let source = source()?;
    let clone = clone_of(&source.drive)?;
    let (x, y) = tokio::io::duplex(256 * 1024);
    let a = spawn_replication(&AsyncDrive::new(source.drive.clone()), x, true);
    let b = spawn_replication(&clone, y, false);
    assert_eq!(clone.read_file("/dir1/file1.bin").await?, source.files[1].1);
    let mut watcher = clone.watch("/news").await?;
    source
        .drive
        .write_file("/news/today.txt", b"fresh", &WriteOptions::default())?;
    let event = tokio::time::timeout(WAIT, watcher.changed())
        .await?
        .context("the watcher closed")?;
    assert_eq!(event.key, *source.drive.key());
    assert!(event.version >= source.drive.version());
    assert_eq!(clone.read_file("/news/today.txt").await?, b"fresh");
    a.abort();
    b.abort();
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_block_nobody_sends_is_a_timeout_not_a_hang() -> Result<()> {
    let source = source()?;
    let store = Arc::new(Corestore::in_memory()?);
    let short = Duration::from_millis(300);
    let options = DriveOptions::default().block_timeout(Some(short));
    let lonely = AsyncDrive::new(Drive::open(store, source.drive.key(), options)?);
    // No session at all.
    let err = lonely.read_file("/big.bin").await.unwrap_err();
    assert_eq!(err.errno(), errno::ETIMEDOUT, "{err}");
    assert!(
        matches!(err, Error::Timeout { index: 0, timeout, .. } if timeout == short),
        "{err:?}"
    );
    assert!(
        err.to_string().contains("did not arrive from peers"),
        "{err}"
    );

    // Without waiting, the same read fails at once with EAGAIN.
    let store = Arc::new(Corestore::in_memory()?);
    let options = DriveOptions::default().block_timeout(None);
    let eager = Drive::open(store, source.drive.key(), options)?;
    assert_eq!(
        eager.read_file("/big.bin").unwrap_err().errno(),
        errno::EAGAIN
    );

    // A peer that does not have the drive: it refuses the feed, the read times out.
    let empty = Drive::create(Arc::new(Corestore::in_memory()?), DriveOptions::default())?;
    let (x, y) = tokio::io::duplex(64 * 1024);
    let a = spawn_replication(&AsyncDrive::new(empty), x, true);
    let b = spawn_replication(&lonely, y, false);
    let err = lonely.stat("/big.bin").await.unwrap_err();
    assert_eq!(err.errno(), errno::ETIMEDOUT, "{err}");
    a.abort();
    b.abort();
    Ok(())
}
