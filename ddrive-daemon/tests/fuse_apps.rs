//! Programs with demanding write patterns on the mount: SQLite (journal, fsync, locks,
//! in-place page writes) and git (lock files renamed over, many small objects).

mod fuse_support;

use fuse_support::{TestResult, fuse_ready, have, sh, start};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sqlite_inserts_then_integrity_check() -> TestResult {
    if !fuse_ready("sqlite_inserts_then_integrity_check") {
        return Ok(());
    }
    if !have("sqlite3") {
        eprintln!("SKIPPED sqlite_inserts_then_integrity_check: sqlite3 is not installed");
        return Ok(());
    }
    let dir = tempfile::tempdir()?;
    let (daemon, mnt) = start(dir.path()).await?;
    let mut script = String::from("create table t(a integer primary key, b text);\n");
    // 1,000 inserts: one big transaction, then 20 small ones (each its own journal cycle).
    script.push_str("begin;\n");
    for i in 0..980 {
        script.push_str(&format!("insert into t(b) values('row {i}');\n"));
    }
    script.push_str("commit;\n");
    for i in 0..20 {
        script.push_str(&format!("insert into t(b) values('single {i}');\n"));
    }
    std::fs::write(dir.path().join("load.sql"), script)?;
    let out = sh(
        &mnt,
        &format!(
            "sqlite3 db.sqlite < {}/load.sql
             sqlite3 db.sqlite 'select count(*) from t; pragma integrity_check;'",
            dir.path().display()
        ),
    )
    .await?;
    assert_eq!(out, "1000\nok\n");
    daemon.shutdown().await?;
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn git_init_add_commit_log() -> TestResult {
    if !fuse_ready("git_init_add_commit_log") {
        return Ok(());
    }
    if !have("git") {
        eprintln!("SKIPPED git_init_add_commit_log: git is not installed");
        return Ok(());
    }
    let dir = tempfile::tempdir()?;
    let (daemon, mnt) = start(dir.path()).await?;
    let out = sh(
        &mnt,
        "export GIT_AUTHOR_NAME=t GIT_AUTHOR_EMAIL=t@example.invalid
         export GIT_COMMITTER_NAME=t GIT_COMMITTER_EMAIL=t@example.invalid
         git init -q repo && cd repo
         mkdir -p src && for i in $(seq 1 30); do echo \"file $i\" > src/f$i.txt; done
         git add -A && git commit -qm first
         echo changed >> src/f1.txt && git commit -qam second
         git log --format=%s && git status --porcelain && git fsck --no-progress 2>&1 | grep -v '^Checking' || true",
    )
    .await?;
    assert_eq!(out, "second\nfirst\n");
    daemon.shutdown().await?;
    Ok(())
}
