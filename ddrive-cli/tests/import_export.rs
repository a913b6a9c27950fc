//! `ddrive import` and `ddrive export`: a round trip of a tree, skipping what is unchanged,
//! resuming from the key files, following changes with `--watch`, and Ctrl-C.

mod common;

use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Child, Stdio};
use std::time::{Duration, Instant};

use common::{Daemon, has_fields, text};
use serde_json::Value;

/// Files in the generated tree (besides the few special ones).
const MANY: usize = 2000;
/// Larger than a gRPC chunk (3.9 MB) and a content block (512 KiB).
const LARGE: usize = 9 << 20;

fn make_tree(root: &Path) {
    let fs = |r: std::io::Result<()>| r.expect("writing the tree");
    fs(std::fs::create_dir_all(root.join("a/b/c/d")));
    fs(std::fs::create_dir_all(root.join("empty_dir/inner_empty")));
    for i in 0..MANY {
        let dir = root.join(format!("many/{:02}", i % 40));
        fs(std::fs::create_dir_all(&dir));
        fs(std::fs::write(
            dir.join(format!("f{i}.txt")),
            format!("file {i}\n").repeat(i % 7),
        ));
    }
    fs(std::fs::write(root.join("a/b/c/d/deep.txt"), "deep\n"));
    fs(std::fs::write(root.join("empty_file"), ""));
    fs(std::fs::write(root.join("a/empty_too"), ""));
    let large: Vec<u8> = (0..LARGE).map(|i| (i * 31 % 251) as u8).collect();
    fs(std::fs::write(root.join("large.bin"), large));
    fs(std::os::unix::fs::symlink(
        "a/b/c/d/deep.txt",
        root.join("link_to_file"),
    ));
    fs(std::os::unix::fs::symlink("a/b", root.join("link_to_dir")));
    fs(std::os::unix::fs::symlink(
        "../nowhere",
        root.join("a/dangling"),
    ));
}

fn diff_clean(a: &Path, b: &Path) {
    let out = std::process::Command::new("diff")
        .args([
            "-r",
            "--no-dereference",
            "-x",
            ".ddrive-import-key",
            "-x",
            ".ddrive-export-key",
        ])
        .arg(a)
        .arg(b)
        .output()
        .expect("diff runs");
    assert!(out.status.success(), "the trees differ:\n{}", text(&out));
}

/// The JSON Lines of a long command; the last one must be its summary.
fn lines(stdout: &[u8]) -> Vec<Value> {
    String::from_utf8_lossy(stdout)
        .lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("not JSON ({e}): {l}")))
        .collect()
}

fn summary(out: &std::process::Output) -> Value {
    assert!(out.status.success(), "{}", text(out));
    let all = lines(&out.stdout);
    for l in &all {
        has_fields(l, &["message_type"]);
        if l["message_type"] == "status" && l.get("percent_done").is_some() {
            has_fields(
                l,
                &[
                    "files_done",
                    "total_files",
                    "bytes_done",
                    "total_bytes",
                    "seconds_remaining",
                ],
            );
        }
    }
    let last = all.last().expect("a summary").clone();
    assert_eq!(last["message_type"], "summary", "{last}");
    last
}

fn key_file(dir: &Path, name: &str) -> String {
    let bytes = std::fs::read(dir.join(name)).expect("a key file");
    assert_eq!(bytes.len(), 32, "a key file holds the 32 raw key bytes");
    hex::encode(bytes)
}

#[test]
fn a_tree_round_trips_and_unchanged_files_are_skipped() {
    let d = Daemon::start();
    let src = d.dir.path().join("src");
    make_tree(&src);
    let s = d.dir.path().join("src");
    let src_arg = s.to_str().expect("utf-8");

    let first = summary(&d.run(&["--json", "import", src_arg]));
    has_fields(
        &first,
        &[
            "key",
            "url",
            "version",
            "files_put",
            "bytes_put",
            "dirs_made",
            "removed",
            "skipped",
            "seconds",
            "interrupted",
        ],
    );
    let key = first["key"].as_str().expect("key").to_owned();
    assert_eq!(key_file(&src, ".ddrive-import-key"), key);
    // Every file and link, and the empty directories' nodes.
    assert_eq!(first["files_put"], (MANY + 7) as u64);
    assert_eq!(
        first["bytes_put"].as_u64(),
        Some({
            let mut total = LARGE as u64 + 5;
            for i in 0..MANY {
                total += (format!("file {i}\n").len() * (i % 7)) as u64;
            }
            total
        })
    );
    assert_eq!(
        first["dirs_made"], 1,
        "only the innermost empty directory needs a node"
    );

    // Nothing changed: nothing is sent; the key comes from the key file.
    let again = summary(&d.run(&["--json", "import", src_arg]));
    assert_eq!(again["key"], key.as_str());
    assert_eq!(again["files_put"], 0);
    assert_eq!(again["skipped"], (MANY + 7) as u64);
    assert_eq!(
        again["version"], first["version"],
        "a re-import writes nothing"
    );

    let out = d.dir.path().join("out");
    let exported = summary(&d.run(&["--json", "export", &key, out.to_str().expect("utf-8")]));
    has_fields(
        &exported,
        &[
            "key",
            "version",
            "files_written",
            "bytes_written",
            "removed",
            "skipped",
            "seconds",
            "interrupted",
        ],
    );
    assert_eq!(exported["files_written"], (MANY + 7) as u64);
    assert_eq!(key_file(&out, ".ddrive-export-key"), key);
    diff_clean(&src, &out);

    // A change, a deletion and a new file go across; the export resumes from its key file.
    std::fs::write(src.join("a/b/c/d/deep.txt"), "changed, and longer\n").expect("write");
    std::fs::remove_file(src.join("many/00/f0.txt")).expect("rm");
    std::fs::write(src.join("new.txt"), "new\n").expect("write");
    let changed = summary(&d.run(&["--json", "import", src_arg]));
    assert_eq!(changed["files_put"], 2);
    assert_eq!(changed["removed"], 1);
    let mut resume = d.cmd(&["--json", "export", "--delete"]);
    resume.current_dir(&out);
    let resumed = summary(&resume.output().expect("runs"));
    assert_eq!(resumed["files_written"], 2);
    assert_eq!(resumed["removed"], 1);
    diff_clean(&src, &out);

    // The first version is still there to export.
    let old = d.dir.path().join("old");
    let version = first["version"].as_u64().expect("version").to_string();
    d.ok(&[
        "export",
        "--version",
        &version,
        &key,
        old.to_str().expect("utf-8"),
    ]);
    let deep = std::fs::read_to_string(old.join("a/b/c/d/deep.txt")).expect("read");
    assert_eq!(deep, "deep\n");
    assert!(old.join("many/00/f0.txt").exists());
    assert!(!old.join("new.txt").exists());
}

#[test]
fn key_files_are_shared_with_the_node_cli() {
    let d = Daemon::start();
    let key = d.create();
    // The Node CLI's import key file: the 32 raw bytes under its own name.
    let dir = d.dir.path().join("node_made");
    std::fs::create_dir_all(&dir).expect("mkdir");
    std::fs::write(
        dir.join(".hyperdrive-import-key"),
        hex::decode(&key).expect("hex"),
    )
    .expect("write");
    std::fs::write(dir.join("a.txt"), "a").expect("write");
    let s = summary(&d.run(&["--json", "import", dir.to_str().expect("utf-8")]));
    assert_eq!(s["key"], key.as_str());
    assert_eq!(key_file(&dir, ".ddrive-import-key"), key);
    // Neither key file is imported.
    assert_eq!(d.ok(&["ls", &key]), "a.txt\n");

    // A key file that is not 32 bytes is refused as a bad key.
    let bad = d.dir.path().join("bad");
    std::fs::create_dir_all(&bad).expect("mkdir");
    std::fs::write(bad.join(".ddrive-import-key"), key.as_bytes()).expect("write");
    let out = d.run(&["import", bad.to_str().expect("utf-8")]);
    assert_eq!(out.status.code(), Some(4), "{}", text(&out));

    // Importing into a drive this daemon cannot write: exit 6, nothing written.
    let foreign = "0202020202020202020202020202020202020202020202020202020202020202";
    let out = d.run(&["import", dir.to_str().expect("utf-8"), foreign]);
    assert_eq!(out.status.code(), Some(6), "{}", text(&out));
}

/// Reads a child's JSON Lines until one matches.
fn wait_line(reader: &mut impl BufRead, what: &str, matches: impl Fn(&Value) -> bool) -> Value {
    let mut line = String::new();
    loop {
        line.clear();
        let n = reader.read_line(&mut line).expect("read stdout");
        assert!(n > 0, "the command ended before {what}");
        let v: Value =
            serde_json::from_str(line.trim()).unwrap_or_else(|e| panic!("not JSON ({e}): {line}"));
        if matches(&v) {
            return v;
        }
    }
}

/// Polls until `check` holds (a daemon round trip each time), at most 30 s.
fn eventually(what: &str, check: impl Fn() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(30);
    while !check() {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(50));
    }
}

fn interrupt(child: &mut Child) -> std::process::ExitStatus {
    let pid = nix::unistd::Pid::from_raw(i32::try_from(child.id()).expect("pid"));
    nix::sys::signal::kill(pid, nix::sys::signal::Signal::SIGINT).expect("signal");
    child.wait().expect("wait")
}

#[test]
fn import_watch_mirrors_create_change_rename_and_delete() {
    let d = Daemon::start();
    let src = d.dir.path().join("watched");
    std::fs::create_dir_all(src.join("sub")).expect("mkdir");
    std::fs::write(src.join("sub/old.txt"), "old").expect("write");
    std::fs::write(src.join("gone.txt"), "gone").expect("write");
    let mut child = d
        .cmd(&["--json", "import", "--watch", src.to_str().expect("utf-8")])
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("spawn");
    let mut stdout = BufReader::new(child.stdout.take().expect("stdout"));
    let watching = wait_line(&mut stdout, "watching", |v| v.get("watching").is_some());
    let key = watching["key"].as_str().expect("key").to_owned();
    let cat = |p: &str| {
        let o = d.run(&["cat", &key, p]);
        o.status
            .success()
            .then(|| String::from_utf8_lossy(&o.stdout).into_owned())
    };
    assert_eq!(cat("/sub/old.txt").as_deref(), Some("old"));

    std::fs::write(src.join("created.txt"), "created").expect("write");
    eventually("the create", || {
        cat("/created.txt").as_deref() == Some("created")
    });
    std::fs::write(src.join("created.txt"), "changed!").expect("write");
    eventually("the change", || {
        cat("/created.txt").as_deref() == Some("changed!")
    });
    std::fs::rename(src.join("sub/old.txt"), src.join("renamed.txt")).expect("rename");
    eventually("the rename", || {
        cat("/renamed.txt").as_deref() == Some("old") && cat("/sub/old.txt").is_none()
    });
    std::fs::remove_file(src.join("gone.txt")).expect("rm");
    eventually("the delete", || cat("/gone.txt").is_none());

    // Ctrl-C ends the watch with a summary: exit 0 between changes, 130 when it cut a sync
    // short (the watcher may still be handling a late event).
    let status = interrupt(&mut child);
    let last = wait_line(&mut stdout, "the summary", |v| {
        v["message_type"] == "summary"
    });
    match status.code() {
        Some(0) => assert_eq!(last["interrupted"], false),
        Some(130) => assert_eq!(last["interrupted"], true),
        other => panic!("exit {other:?}"),
    }
}

#[test]
fn export_watch_follows_the_drive() {
    let d = Daemon::start();
    let key = d.create();
    d.ok(&["put", &key, "/keep.txt", "--file", "/dev/null"]);
    d.ok(&["put", &key, "/old.txt", "--file", "/dev/null"]);
    let out = d.dir.path().join("followed");
    let mut child = d
        .cmd(&[
            "--json",
            "export",
            "--watch",
            "--delete",
            &key,
            out.to_str().expect("utf-8"),
        ])
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("spawn");
    let mut stdout = BufReader::new(child.stdout.take().expect("stdout"));
    wait_line(&mut stdout, "watching", |v| v.get("watching").is_some());
    assert!(out.join("old.txt").exists());
    let read = |p: &str| std::fs::read_to_string(out.join(p)).ok();
    let local = d.dir.path().join("content");
    std::fs::write(&local, "one").expect("write");
    let put = |p: &str| d.ok(&["put", &key, p, "--file", local.to_str().expect("utf-8")]);

    put("/new.txt");
    eventually("the create", || read("new.txt").as_deref() == Some("one"));
    std::fs::write(&local, "two, longer").expect("write");
    put("/new.txt");
    eventually("the change", || {
        read("new.txt").as_deref() == Some("two, longer")
    });
    // A rename in a drive: the file under its new name, the old name gone.
    put("/renamed.txt");
    d.ok(&["rm", &key, "/old.txt"]);
    eventually("the rename", || {
        read("renamed.txt").is_some() && !out.join("old.txt").exists()
    });
    d.ok(&["rm", &key, "/new.txt"]);
    eventually("the delete", || !out.join("new.txt").exists());
    assert!(out.join("keep.txt").exists());

    let status = interrupt(&mut child);
    assert!(matches!(status.code(), Some(0 | 130)), "{status:?}");
}

#[test]
fn ctrl_c_stops_an_import_and_the_next_run_resumes() {
    // On a disk: the interrupted upload below writes a few hundred MB before it stops.
    let d = Daemon::start_in(tempfile::tempdir().expect("tmp"));
    let src = d.dir.path().join("src");
    std::fs::create_dir_all(&src).expect("mkdir");
    for i in 0..400 {
        std::fs::write(src.join(format!("f{i}")), format!("{i}")).expect("write");
    }
    // Sparse, so it costs no disk here, but it takes far longer to upload than the test
    // waits: small files go first, so once they are all in, this one is in flight.
    let huge = std::fs::File::create(src.join("huge")).expect("create");
    huge.set_len(64 << 30).expect("sparse file");
    drop(huge);

    let s = src.to_str().expect("utf-8");
    let mut child = d
        .cmd(&["--json", "import", s])
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("spawn");
    eventually("the key file", || src.join(".ddrive-import-key").exists());
    let key = key_file(&src, ".ddrive-import-key");
    eventually("the small files", || {
        let out = d.run(&["--json", "ls", &key]);
        out.status.success()
            && serde_json::from_slice::<Value>(&out.stdout)
                .is_ok_and(|v| v["entries"].as_array().is_some_and(|e| e.len() == 400))
    });
    let status = interrupt(&mut child);
    assert_eq!(status.code(), Some(130));
    let mut stdout = BufReader::new(child.stdout.take().expect("stdout"));
    let stopped = wait_line(&mut stdout, "the summary", |v| {
        v["message_type"] == "summary"
    });
    assert_eq!(stopped["interrupted"], true);
    assert_eq!(stopped["files_put"], 400);
    assert_eq!(stopped["key"], key.as_str());
    // The upload that was cut short left nothing behind.
    let listed = d.json(&["ls", &key]);
    let names: Vec<&str> = listed["entries"]
        .as_array()
        .expect("entries")
        .iter()
        .filter_map(|e| e["name"].as_str())
        .collect();
    assert!(!names.contains(&"huge"));

    // The next run resumes: into the same drive, skipping what is there.
    std::fs::write(src.join("huge"), "now small").expect("write");
    let resumed = summary(&d.run(&["--json", "import", s]));
    assert_eq!(resumed["key"], key.as_str());
    assert_eq!(resumed["files_put"], 1);
    assert_eq!(resumed["skipped"], 400);
    let exported = d.dir.path().join("out");
    d.ok(&["export", &key, exported.to_str().expect("utf-8")]);
    diff_clean(&src, &exported);
}
