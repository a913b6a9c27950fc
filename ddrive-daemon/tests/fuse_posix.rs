//! The root drive through FUSE: the write patterns editors and shells use, a source tree in
//! and out, directory moves, random writes, attributes, and what survives a restart.

mod fuse_support;

use std::io::Write;
use std::os::unix::fs::{FileExt, FileTypeExt, MetadataExt, PermissionsExt};

use fuse_support::{TestResult, blocking, fuse_ready, sh, start};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn vim_style_save_survives_a_restart() -> TestResult {
    if !fuse_ready("vim_style_save_survives_a_restart") {
        return Ok(());
    }
    let dir = tempfile::tempdir()?;
    let (daemon, mnt) = start(dir.path()).await?;
    let m = mnt.clone();
    blocking(move || {
        std::fs::write(m.join("notes.txt"), b"first draft\n")?;
        // As vim saves: a new file beside the old one, fsync, rename over it.
        let tmp = m.join(".notes.txt.swp");
        let mut f = std::fs::File::create(&tmp)?;
        f.write_all(b"second draft\n")?;
        f.sync_all()?;
        drop(f);
        std::fs::rename(&tmp, m.join("notes.txt"))?;
        assert_eq!(std::fs::read(m.join("notes.txt"))?, b"second draft\n");
        assert!(!tmp.exists());
        Ok(())
    })
    .await?;
    daemon.shutdown().await?;
    assert!(
        !std::fs::read_to_string("/proc/self/mountinfo")?.contains(&mnt.display().to_string()),
        "shutdown unmounts"
    );
    let (daemon, mnt) = start(dir.path()).await?;
    let text = blocking(move || std::fs::read(mnt.join("notes.txt"))).await?;
    assert_eq!(text, b"second draft\n", "the same root drive comes back");
    daemon.shutdown().await?;
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sed_in_place_and_appends() -> TestResult {
    if !fuse_ready("sed_in_place_and_appends") {
        return Ok(());
    }
    let dir = tempfile::tempdir()?;
    let (daemon, mnt) = start(dir.path()).await?;
    let out = sh(
        &mnt,
        "printf 'alpha\\nbeta\\n' > f.txt
         sed -i 's/beta/gamma/' f.txt
         echo delta >> f.txt
         echo epsilon >> f.txt
         cat f.txt",
    )
    .await?;
    assert_eq!(out, "alpha\ngamma\ndelta\nepsilon\n");
    daemon.shutdown().await?;
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn untar_a_tree_then_diff_and_move_it() -> TestResult {
    if !fuse_ready("untar_a_tree_then_diff_and_move_it") {
        return Ok(());
    }
    let dir = tempfile::tempdir()?;
    let src = dir.path().join("src");
    // A tree with nesting, empty and large files (several content blocks), a symlink.
    for d in 0..4 {
        let sub = src.join(format!("dir{d}")).join("deeper");
        std::fs::create_dir_all(&sub)?;
        for f in 0..10 {
            let body: Vec<u8> = (0..(f * 997 + d * 13)).map(|i| (i % 251) as u8).collect();
            std::fs::write(sub.join(format!("f{f}.bin")), body)?;
        }
    }
    std::fs::create_dir_all(src.join("empty"))?;
    std::fs::write(src.join("empty.txt"), b"")?;
    let big: Vec<u8> = (0..1_500_000u32).map(|i| (i % 241) as u8).collect();
    std::fs::write(src.join("big.bin"), &big)?;
    std::os::unix::fs::symlink("dir0/deeper/f1.bin", src.join("link"))?;
    sh(dir.path(), "tar -C src -cf tree.tar .").await?;

    let (daemon, mnt) = start(dir.path()).await?;
    sh(
        &mnt,
        &format!(
            "mkdir unpacked && tar -C unpacked -xf {0}/tree.tar && diff -r {0}/src unpacked",
            dir.path().display()
        ),
    )
    .await?;
    sh(
        &mnt,
        &format!(
            "mkdir -p moved/into && mv unpacked moved/into/tree && test ! -e unpacked
             diff -r {0}/src moved/into/tree",
            dir.path().display()
        ),
    )
    .await?;
    daemon.shutdown().await?;
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn random_writes_truncate_and_attributes() -> TestResult {
    if !fuse_ready("random_writes_truncate_and_attributes") {
        return Ok(());
    }
    let dir = tempfile::tempdir()?;
    let (daemon, mnt) = start(dir.path()).await?;
    let m = mnt.clone();
    blocking(move || {
        let p = m.join("r.bin");
        let f = std::fs::OpenOptions::new()
            .create(true)
            .truncate(false)
            .read(true)
            .write(true)
            .open(&p)?;
        f.write_all_at(b"AAAAAAAAAA", 0)?;
        f.write_all_at(b"BBBBB", 100)?;
        f.write_all_at(b"CCC", 3)?;
        let mut head = [0u8; 12];
        f.read_exact_at(&mut head, 0)?;
        assert_eq!(&head, b"AAACCCAAAA\0\0", "reads see unflushed writes");
        assert_eq!(f.metadata()?.len(), 105);
        f.sync_all()?;
        f.set_len(50)?;
        drop(f);
        assert_eq!(std::fs::metadata(&p)?.len(), 50);

        std::fs::set_permissions(&p, std::fs::Permissions::from_mode(0o600))?;
        assert_eq!(std::fs::metadata(&p)?.mode() & 0o7777, 0o600);
        let when = std::time::UNIX_EPOCH + std::time::Duration::from_secs(1_000_000);
        std::fs::File::options()
            .write(true)
            .open(&p)?
            .set_modified(when)?;
        assert_eq!(std::fs::metadata(&p)?.modified()?, when);

        // O_EXCL on an existing name.
        let again = std::fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .open(&p);
        assert_eq!(
            again.err().map(|e| e.kind()),
            Some(std::io::ErrorKind::AlreadyExists)
        );

        // A directory cannot be unlinked, a non-empty one not removed.
        std::fs::create_dir(m.join("d"))?;
        std::fs::write(m.join("d/x"), b"x")?;
        assert!(std::fs::remove_file(m.join("d")).is_err());
        assert!(std::fs::remove_dir(m.join("d")).is_err());
        std::fs::remove_file(m.join("d/x"))?;
        std::fs::remove_dir(m.join("d"))?;
        assert!(!m.join("d").exists());
        Ok(())
    })
    .await?;
    // statfs is the storage disk's, not a made-up constant.
    let fs_blocks = sh(&mnt, "stat -f -c '%b %S' .").await?;
    let disk_blocks = sh(dir.path(), "stat -f -c '%b %S' state").await?;
    assert_eq!(fs_blocks, disk_blocks);
    daemon.shutdown().await?;
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_removed_open_file_does_not_come_back() -> TestResult {
    if !fuse_ready("a_removed_open_file_does_not_come_back") {
        return Ok(());
    }
    let dir = tempfile::tempdir()?;
    let (daemon, mnt) = start(dir.path()).await?;
    let m = mnt.clone();
    blocking(move || {
        let p = m.join("tmp");
        let mut f = std::fs::File::create(&p)?;
        f.write_all(b"scratch")?;
        std::fs::remove_file(&p)?;
        f.write_all(b" more")?;
        drop(f);
        assert!(!p.exists(), "closing a removed file does not recreate it");
        Ok(())
    })
    .await?;
    daemon.shutdown().await?;
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rename_noreplace_and_exchange() -> TestResult {
    if !fuse_ready("rename_noreplace_and_exchange") {
        return Ok(());
    }
    if !fuse_support::have("python3") {
        eprintln!("SKIPPED rename_noreplace_and_exchange: python3 calls renameat2 here");
        return Ok(());
    }
    let dir = tempfile::tempdir()?;
    let (daemon, mnt) = start(dir.path()).await?;
    // renameat2(2) through glibc: flag 1 RENAME_NOREPLACE, 2 RENAME_EXCHANGE.
    let out = sh(
        &mnt,
        "echo one > a && echo two > b
         python3 - <<'PY'
import ctypes, os
libc = ctypes.CDLL(None, use_errno=True)
def renameat2(a, b, flags):
    r = libc.renameat2(-100, a.encode(), -100, b.encode(), flags)
    return 0 if r == 0 else ctypes.get_errno()
print(renameat2('a', 'b', 1) == 17)  # EEXIST
print(renameat2('a', 'b', 2))
print(open('a').read().strip(), open('b').read().strip())
PY",
    )
    .await?;
    assert_eq!(out, "True\n0\ntwo one\n");
    daemon.shutdown().await?;
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn chmod_of_the_mountpoint_keeps_the_tree() -> TestResult {
    if !fuse_ready("chmod_of_the_mountpoint_keeps_the_tree") {
        return Ok(());
    }
    let dir = tempfile::tempdir()?;
    let (daemon, mnt) = start(dir.path()).await?;
    let out = sh(&mnt, "echo kept > f.txt && chmod 755 . && cat f.txt").await?;
    assert_eq!(out, "kept\n");
    daemon.shutdown().await?;
    let (daemon, mnt) = start(dir.path()).await?;
    let out = sh(&mnt, "cat f.txt").await?;
    assert_eq!(out, "kept\n", "and after a restart");
    daemon.shutdown().await?;
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn allow_other_checks_other_users_against_the_mode_bits() -> TestResult {
    if !fuse_ready("allow_other_checks_other_users_against_the_mode_bits") {
        return Ok(());
    }
    let dir = tempfile::tempdir()?;
    // `nobody` must be able to walk to the mountpoint.
    std::fs::set_permissions(dir.path(), std::fs::Permissions::from_mode(0o755))?;
    let as_nobody = std::process::Command::new("su")
        .args(["nobody", "-s", "/bin/sh", "-c", "true"])
        .status();
    if !as_nobody.is_ok_and(|s| s.success()) {
        eprintln!("SKIPPED allow_other_checks_other_users_against_the_mode_bits: cannot su nobody");
        return Ok(());
    }
    let mut config = fuse_support::config(dir.path());
    config.allow_other = true;
    let daemon = ddrive_daemon::Daemon::start(config).await?;
    let mnt = daemon.mountpoint().ok_or("not mounted")?;
    let out = sh(
        &mnt,
        &format!(
            "echo open > open.txt && echo secret > private.txt && chmod 600 private.txt
             su nobody -s /bin/sh -c 'cd {0}; cat open.txt; cat private.txt 2>/dev/null || echo denied; touch new 2>/dev/null || echo read-only'",
            mnt.display()
        ),
    )
    .await?;
    assert_eq!(out, "open\ndenied\nread-only\n");
    daemon.shutdown().await?;
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_name_longer_than_name_max_is_enametoolong() -> TestResult {
    if !fuse_ready("a_name_longer_than_name_max_is_enametoolong") {
        return Ok(());
    }
    let dir = tempfile::tempdir()?;
    let (daemon, mnt) = start(dir.path()).await?;
    let m = mnt.clone();
    blocking(move || {
        let longest = "n".repeat(255);
        std::fs::write(m.join(&longest), b"fits")?;
        assert_eq!(std::fs::read(m.join(&longest))?, b"fits");
        let too_long = "n".repeat(256);
        for err in [
            std::fs::write(m.join(&too_long), b"x").expect_err("a 256-byte name"),
            std::fs::create_dir(m.join(&too_long)).expect_err("a 256-byte dir name"),
            std::fs::rename(m.join(&longest), m.join(&too_long)).expect_err("renamed to it"),
        ] {
            assert_eq!(err.raw_os_error(), Some(36), "ENAMETOOLONG: {err}");
        }
        Ok(())
    })
    .await?;
    daemon.shutdown().await?;
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hard_links_and_special_files() -> TestResult {
    if !fuse_ready("hard_links_and_special_files") {
        return Ok(());
    }
    let dir = tempfile::tempdir()?;
    let (daemon, mnt) = start(dir.path()).await?;
    let m = mnt.clone();
    blocking(move || {
        std::fs::write(m.join("a"), b"shared")?;
        std::fs::hard_link(m.join("a"), m.join("b"))?;
        assert_eq!(std::fs::metadata(m.join("a"))?.nlink(), 2);
        assert_eq!(std::fs::read(m.join("b"))?, b"shared");
        // (A write through one name reaches the other in the drive, but the names have inode
        // numbers of their own, so the kernel may serve the other name's cached pages until
        // its 1 s TTL ends: not asserted here.)
        std::fs::remove_file(m.join("a"))?;
        assert_eq!(std::fs::metadata(m.join("b"))?.nlink(), 1);
        Ok(())
    })
    .await?;
    sh(&mnt, "mkfifo fifo && mknod null c 1 3 && touch plain").await?;
    let m = mnt.clone();
    blocking(move || {
        assert!(
            std::fs::symlink_metadata(m.join("fifo"))?
                .file_type()
                .is_fifo()
        );
        let null = std::fs::symlink_metadata(m.join("null"))?;
        assert!(null.file_type().is_char_device());
        assert_eq!(null.rdev(), makedev(1, 3));
        assert!(std::fs::symlink_metadata(m.join("plain"))?.is_file());
        Ok(())
    })
    .await?;
    daemon.shutdown().await?;
    Ok(())
}

/// Linux's `makedev` for small numbers (major in bits 8-19, minor in bits 0-7).
fn makedev(major: u64, minor: u64) -> u64 {
    (major << 8) | minor
}
