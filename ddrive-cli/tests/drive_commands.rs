//! The drive commands (no FUSE) and their failures, against a real daemon.

mod common;

use common::{Daemon, has_fields, stderr, text};

const FOREIGN: &str = "0101010101010101010101010101010101010101010101010101010101010101";

#[test]
fn create_info_seed_unseed_stats() {
    let d = Daemon::start();
    let key = d.create();
    assert_eq!(key.len(), 64);

    let info = d.json(&["info", &key]);
    has_fields(
        &info,
        &[
            "key",
            "url",
            "discovery_key",
            "version",
            "writable",
            "network",
        ],
    );
    assert_eq!(info["key"], key.as_str());
    assert_eq!(info["url"], format!("hyper://{key}"));
    assert_eq!(info["writable"], true);
    // Seeded at creation.
    assert_eq!(info["network"]["announce"], true);

    // The URL form works wherever a key does.
    let url = format!("hyper://{key}");
    assert!(d.ok(&["info", &url]).contains(&key));

    let unseeded = d.json(&["unseed", &key]);
    has_fields(&unseeded, &["key", "lookup", "announce", "remember"]);
    assert_eq!(unseeded["announce"], false);
    assert_eq!(d.json(&["info", &key])["network"]["lookup"], false);

    d.ok(&["seed", &url, "--no-announce"]);
    let net = &d.json(&["info", &key])["network"];
    assert_eq!(
        (net["lookup"].clone(), net["announce"].clone()),
        (true.into(), false.into())
    );

    let stats = d.json(&["stats", "--key", &key]);
    has_fields(&stats, &["key", "mounts", "network"]);
    has_fields(
        &stats["mounts"][0]["metadata"],
        &["key", "peers", "total_blocks", "total_bytes"],
    );
    assert_eq!(stats["mounts"][0]["metadata"]["key"], key.as_str());

    let fresh = d.json(&["create", "--no-seed"]);
    has_fields(&fresh, &["key", "url", "version", "writable", "seeding"]);
    assert_eq!(fresh["seeding"], false);
    let k2 = fresh["key"].as_str().expect("a key");
    assert_eq!(d.json(&["info", k2])["network"]["announce"], false);
}

#[test]
fn files_in_a_drive() {
    let d = Daemon::start();
    let key = d.create();
    let url = format!("hyper://{key}");
    let dir = common::scratch();
    let local = dir.path().join("local.txt");
    std::fs::write(&local, "from a file\n").expect("write");

    d.ok(&[
        "put",
        &key,
        "/docs/a.txt",
        "--file",
        local.to_str().expect("utf-8"),
    ]);
    // stdin
    let mut put = d.cmd(&["put", &format!("{url}/docs/b.txt")]);
    put.stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped());
    let mut child = put.spawn().expect("spawn");
    {
        use std::io::Write;
        let mut stdin = child.stdin.take().expect("stdin");
        stdin.write_all(b"from stdin").expect("write stdin");
    }
    assert!(child.wait().expect("wait").success());

    assert_eq!(d.ok(&["cat", &key, "/docs/a.txt"]), "from a file\n");
    assert_eq!(d.ok(&["cat", &format!("{url}/docs/b.txt")]), "from stdin");
    let cat = d.json(&["cat", &key, "docs/b.txt"]);
    has_fields(&cat, &["key", "path", "size", "content"]);
    assert_eq!(cat["content"], "from stdin");

    d.ok(&["mkdir", &key, "/empty"]);
    assert!(!d.run(&["mkdir", &key, "/empty"]).status.success());
    d.ok(&["mkdir", "-p", &key, "/empty"]);

    assert_eq!(d.ok(&["ls", &key]), "docs/\nempty/\n");
    let ls = d.json(&["ls", &key, "/docs"]);
    has_fields(&ls, &["key", "path", "entries"]);
    let names: Vec<&str> = ls["entries"]
        .as_array()
        .expect("entries")
        .iter()
        .map(|e| {
            has_fields(e, &["name", "type", "size", "mode", "mtime"]);
            e["name"].as_str().expect("name")
        })
        .collect();
    assert_eq!(names, ["a.txt", "b.txt"]);

    // Versions: the log lists each change, diff compares two versions, and --version reads
    // the past.
    let v_before = d.json(&["info", &key])["version"]
        .as_u64()
        .expect("version");
    d.ok(&["put", &key, "/docs/a.txt", "--file", "/dev/null"]);
    assert_eq!(d.ok(&["cat", &key, "/docs/a.txt"]), "");
    assert_eq!(
        d.ok(&[
            "cat",
            &key,
            "/docs/a.txt",
            "--version",
            &v_before.to_string()
        ]),
        "from a file\n"
    );
    let diff = d.json(&["diff", &key, "--from", &v_before.to_string()]);
    has_fields(&diff, &["key", "from", "to", "changes"]);
    assert_eq!(diff["changes"][0]["type"], "put");
    assert_eq!(diff["changes"][0]["path"], "/docs/a.txt");
    assert_eq!(
        d.ok(&["diff", &key, "--from", &v_before.to_string()])
            .trim(),
        "+ /docs/a.txt"
    );
    let log = d.json(&["log", &key]);
    let versions = log["versions"].as_array().expect("versions");
    assert_eq!(versions[0]["version"], v_before + 1);
    assert_eq!(versions[0]["changes"][0]["path"], "/docs/a.txt");
    assert!(
        d.ok(&["log", &key, "-n", "2"])
            .starts_with(&format!("version {}\n", v_before + 1))
    );

    // rm: a file, a non-empty directory only with -r.
    d.ok(&["rm", &key, "/docs/b.txt"]);
    let gone = d.run(&["cat", &key, "/docs/b.txt"]);
    assert_eq!(gone.status.code(), Some(5), "{}", text(&gone));
    let refused = d.run(&["rm", &key, "/docs"]);
    assert_eq!(refused.status.code(), Some(1));
    assert!(stderr(&refused).contains("not empty"));
    d.ok(&["rm", "-r", &key, "/docs"]);
    d.ok(&["rm", &key, "/empty"]);
    assert_eq!(d.ok(&["ls", &key]), "");
}

#[test]
fn failures_are_one_clear_line_with_their_exit_code() {
    let d = Daemon::start();
    let key = d.create();

    // A bad key: exit 4.
    for bad in ["nope", "hyper://abcd", &key[..60]] {
        let out = d.run(&["ls", bad]);
        assert_eq!(out.status.code(), Some(4), "{}", text(&out));
        assert_eq!(
            stderr(&out).trim(),
            "ddrive: Key must be a 32-byte long hex string (or hyper://<hex>)."
        );
    }
    // A missing path: exit 5.
    let out = d.run(&["cat", &key, "/missing"]);
    assert_eq!(out.status.code(), Some(5));
    assert_eq!(stderr(&out).lines().count(), 1, "{}", text(&out));
    assert!(stderr(&out).contains("/missing"));
    // A drive this daemon cannot write: exit 6.
    let out = d.run(&["put", FOREIGN, "/x", "--file", "/dev/null"]);
    assert_eq!(out.status.code(), Some(6), "{}", text(&out));
    assert!(stderr(&out).contains("not writable"));
    // With --json the failure is a JSON line on stderr.
    let out = d.run(&["--json", "cat", &key, "/missing"]);
    let e: serde_json::Value = serde_json::from_str(stderr(&out).trim()).expect("JSON");
    has_fields(&e, &["message_type", "code", "message"]);
    assert_eq!(e["message_type"], "error");
    assert_eq!(e["code"], 5);
}

#[test]
fn without_a_daemon_every_command_says_so() {
    let dir = common::scratch();
    let storage = dir.path().join("none");
    let key = FOREIGN;
    for args in [
        vec!["create"],
        vec!["info", key],
        vec!["seed", key],
        vec!["unseed", key],
        vec!["stats", key],
        vec!["ls", key],
        vec!["cat", key, "/a"],
        vec!["put", key, "/a", "--file", "/dev/null"],
        vec!["rm", key, "/a"],
        vec!["mkdir", key, "/a"],
        vec!["diff", key, "--from", "1"],
        vec!["log", key],
        vec!["export", key, storage.to_str().expect("utf-8")],
    ] {
        let out = std::process::Command::new(common::BIN)
            .arg("--storage")
            .arg(&storage)
            .args(&args)
            .output()
            .expect("runs");
        assert_eq!(out.status.code(), Some(3), "{args:?}: {}", text(&out));
        assert_eq!(
            stderr(&out).trim(),
            "ddrive: The ddrive daemon is not running. Start it with `ddrive start`.",
            "{args:?}"
        );
    }
}

#[test]
fn cleanup_removes_read_only_cores_only_while_stopped() {
    let d = Daemon::start();
    let key = d.create();
    d.ok(&["put", &key, "/kept", "--file", "/dev/null"]);
    // Opening someone else's drive leaves a read-only core behind.
    d.ok(&["info", FOREIGN]);
    let refused = d.run(&["cleanup:remove-readonly-drives"]);
    assert_eq!(refused.status.code(), Some(1));
    assert!(stderr(&refused).contains("must not be running"));

    d.ok(&["stop"]);
    let removed = d.json(&["cleanup:remove-readonly-drives"]);
    assert_eq!(removed["removed"], 1);
    let again = d.json(&["cleanup:remove-readonly-drives"]);
    assert_eq!(again["removed"], 0);

    // The writable drive is intact.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("port")
        .port()
        .to_string();
    d.ok(&["start", "--port", &port, "--bootstrap", "none"]);
    assert_eq!(d.ok(&["ls", &key]), "kept\n");
}
