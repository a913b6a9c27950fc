//! The real `hyperdrive-daemon-client@1.16.0` (Node) runs one scenario, through every RPC the
//! Node `hyperdrive-daemon@1.14.5` implemented, against our daemon and against that Node
//! daemon in the same test (started by tests/js/node-daemon.js: 127.0.0.1, its own temporary
//! storage, no DHT bootstrap, no multicast, no FUSE). Both must give the same answers, except
//! where [`DIFFERENCES`] says why not (each entry a Node bug, or a deliberate difference of
//! ours); ddrive's own answers are then checked in detail (error codes, messages, sessions).
//!
//! Run with `cargo xtask test` (or `cargo test -p ddrive-tests --features interop --test
//! interop_daemon` once `npm ci` has run in tests/js).
#![cfg(feature = "interop")]

use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use anyhow::{Context, Result, ensure};
use ddrive_daemon::{Bootstrap, Config, Daemon};
use serde_json::{Value, json};

fn node() -> Result<(std::path::PathBuf, std::path::PathBuf)> {
    let js = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("js");
    ensure!(
        js.join("node_modules/hyperdrive-daemon-client/package.json")
            .exists(),
        "tests/js/node_modules lacks hyperdrive-daemon-client: run `npm ci` in tests/js"
    );
    let node = std::env::var_os("DDRIVE_NODE").map_or_else(|| "node".into(), Into::into);
    Ok((node, js))
}

/// The value at `pointer`, shown (or `-` where there is none).
fn pointer(v: &Value, pointer: &str) -> String {
    v.pointer(pointer).map_or("-".into(), Value::to_string)
}

fn error_code(v: &Value) -> Option<i64> {
    (v["ok"] == json!(false))
        .then(|| v["code"].as_i64())
        .flatten()
}

/// Runs the client scenario against the daemon whose `config.json` is in `storage`.
async fn run_scenario(node: &Path, js: &Path, storage: &Path) -> Result<Value> {
    let mut cmd = Command::new(node);
    cmd.arg(js.join("daemon-client-tool.js"))
        .arg(storage)
        // The client must find the daemon through the folder, not the environment.
        .env_remove("HYPERDRIVE_ENDPOINT")
        .env_remove("HYPERDRIVE_TOKEN");
    let out = tokio::task::spawn_blocking(move || cmd.output()).await??;
    ensure!(
        out.status.success(),
        "daemon-client-tool.js failed ({}):\n{}",
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).with_context(|| {
        format!(
            "unexpected output: {}",
            String::from_utf8_lossy(&out.stdout)
        )
    })
}

/// The Node `hyperdrive-daemon@1.14.5`, killed when dropped.
struct NodeDaemon(Child);

impl NodeDaemon {
    /// Starts it on `storage` and waits (at most [`NODE_READY_WITHIN`]) for its ready line.
    async fn start(node: &Path, js: &Path, storage: &Path) -> Result<NodeDaemon> {
        let port = std::net::TcpListener::bind("127.0.0.1:0")?
            .local_addr()?
            .port();
        let mut child = Command::new(node)
            .arg(js.join("node-daemon.js"))
            .arg(storage)
            .arg(port.to_string())
            .env_remove("HYPERDRIVE_TOKEN")
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .context("starting node tests/js/node-daemon.js")?;
        let stdout = child.stdout.take().context("no stdout")?;
        let daemon = NodeDaemon(child);
        let line = tokio::time::timeout(
            NODE_READY_WITHIN,
            tokio::task::spawn_blocking(move || {
                let mut line = String::new();
                BufReader::new(stdout).read_line(&mut line).map(|_| line)
            }),
        )
        .await
        .context("the Node daemon did not become ready in time")???;
        ensure!(
            line.contains("\"ready\":true"),
            "the Node daemon did not start (see node tests/js/node-daemon.js): {line:?}"
        );
        Ok(daemon)
    }
}

impl Drop for NodeDaemon {
    fn drop(&mut self) {
        // Best effort: its storage is a temporary folder, nothing needs a graceful stop.
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// How long the Node daemon may take to print its ready line.
const NODE_READY_WITHIN: Duration = Duration::from_secs(60);

/// Where the two daemons may answer differently (a JSON pointer into the scenario's output, a
/// prefix of every path it covers) and why: a Node bug, a deliberate difference of ours, or
/// what ddrive does not serve yet. An entry whose paths agree is reported, not an error. Error messages (`details`), the daemon version and
/// the keys (new random drives on each side) are never compared.
const DIFFERENCES: &[(&str, &str)] = &[
    (
        "/checkout",
        "Node bug: a checkout session is writable and its writes go to the live drive \
         (`writable: true`, the write succeeds); ours is read-only (PERMISSION_DENIED)",
    ),
    (
        "/live",
        "Node bug: the checkout's write went to the live drive, so it reads `three`",
    ),
    (
        "/stats/mounts/0/contentLength",
        "follows from /checkout (Node stored the checkout's write) and /fileStats",
    ),
    (
        "/fileStats/stream/0",
        "deliberate: ours cuts a written file into blocks of up to 512 KiB whatever the \
         client's chunks; Node stores one block per chunk it receives (3 here)",
    ),
    (
        "/allStats",
        "Node bug: a checkout, even once its session is closed, is listed as one more drive \
         with the same key",
    ),
    (
        "/getKeyUnknown",
        "Node bug: the key of an alias no peer has is an empty key, not an error (ours: \
         NOT_FOUND)",
    ),
    (
        "/mounts",
        "deliberate: Node lists the drive's own root (`/`, its own key) among its mounts; ours \
         lists only what is mounted in it",
    ),
    (
        "/networkConfigurations",
        "deliberate: Node joins the swarm (lookup) for every drive a client opens and reports \
         that transient configuration; ours reports the configurations clients set",
    ),
    (
        "/mirror",
        "ddrive does not serve mirroring yet (UNIMPLEMENTED)",
    ),
    ("/unmirror", "follows from /mirror: nothing to unmirror"),
    (
        "/getAlias",
        "ddrive does not run the swarm yet: peer aliases are UNIMPLEMENTED",
    ),
    (
        "/watchPeers",
        "ddrive does not run the swarm yet: watchPeers is UNIMPLEMENTED",
    ),
    (
        "/peersocketsJoin",
        "ddrive does not run the swarm yet: peersockets are UNIMPLEMENTED",
    ),
];

/// The error codes Node answers UNKNOWN (2) where ours gives the specific code: every drive,
/// session and key error (the Node daemon passes its exceptions through as UNKNOWN).
const NODE_UNKNOWN: i64 = 2;

/// `v` with the keys (64 hex) replaced by the names of what they are, and the fields that are
/// never compared removed.
fn normalized(v: &Value, names: &[(String, &str)]) -> Value {
    match v {
        Value::String(s) => names
            .iter()
            .find(|(k, _)| k == s)
            .map_or_else(|| v.clone(), |(_, n)| json!(n)),
        Value::Array(items) => Value::Array(items.iter().map(|i| normalized(i, names)).collect()),
        Value::Object(map) => Value::Object(
            map.iter()
                .filter(|(k, _)| !matches!(k.as_str(), "details" | "daemonVersion"))
                .map(|(k, v)| (k.clone(), normalized(v, names)))
                .collect(),
        ),
        _ => v.clone(),
    }
}

/// The keys of one run, by role.
fn key_names(r: &Value) -> Vec<(String, &'static str)> {
    [
        (&r["drive"]["key"], "<drive key>"),
        (&r["drive"]["discoveryKey"], "<drive discovery key>"),
        (&r["otherKey"], "<other key>"),
    ]
    .into_iter()
    .filter_map(|(v, n)| v.as_str().map(|s| (s.to_owned(), n)))
    .collect()
}

/// Every place (JSON pointer) where `ours` and `node` differ, an error's code aside where Node
/// answered UNKNOWN for an error that ours also refused.
fn differences(path: &str, ours: &Value, node: &Value, out: &mut Vec<String>) {
    match (ours, node) {
        (Value::Object(o), Value::Object(n)) => {
            if o.get("ok") == Some(&json!(false))
                && n.get("ok") == Some(&json!(false))
                && n.get("code") == Some(&json!(NODE_UNKNOWN))
            {
                return;
            }
            for k in o.keys().chain(n.keys().filter(|k| !o.contains_key(*k))) {
                let (a, b) = (o.get(k), n.get(k));
                let child = format!("{path}/{k}");
                match (a, b) {
                    (Some(a), Some(b)) => differences(&child, a, b, out),
                    _ => out.push(child),
                }
            }
        }
        (Value::Array(o), Value::Array(n)) if o.len() == n.len() => {
            for (i, (a, b)) in o.iter().zip(n).enumerate() {
                differences(&format!("{path}/{i}"), a, b, out);
            }
        }
        _ if ours == node => {}
        _ => out.push(path.to_owned()),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn node_client_gets_the_same_answers_from_our_daemon_and_nodes() -> Result<()> {
    let (node, js) = node()?;
    let scratch = ddrive_tests::scratch()?;
    let storage = scratch.path().join("daemon");
    let daemon = Daemon::start(Config {
        storage: storage.clone(),
        port: 0,
        bootstrap: Bootstrap::None,
        ..Config::default()
    })
    .await?;
    let r = run_scenario(&node, &js, &storage).await?;

    let node_storage = scratch.path().join("node-daemon");
    let node_daemon = NodeDaemon::start(&node, &js, &node_storage).await?;
    let n = run_scenario(&node, &js, &node_storage).await?;
    drop(node_daemon);

    let (ours_n, node_n) = (
        normalized(&r, &key_names(&r)),
        normalized(&n, &key_names(&n)),
    );
    let mut diff = Vec::new();
    differences("", &ours_n, &node_n, &mut diff);
    let explained = |p: &str| DIFFERENCES.iter().find(|(prefix, _)| p.starts_with(prefix));
    for p in &diff {
        let why = explained(p).map_or("NOT EXPLAINED", |(_, why)| why);
        eprintln!(
            "differs at {p}: ddrive {} / Node {} ({why})",
            pointer(&ours_n, p),
            pointer(&node_n, p)
        );
    }
    let unexplained: Vec<&String> = diff.iter().filter(|p| explained(p).is_none()).collect();
    ensure!(
        unexplained.is_empty(),
        "ddrive's daemon and Node's answer differently at {unexplained:?}"
    );

    assert_eq!(r["status"]["apiVersion"], json!(0));
    assert_eq!(r["status"]["fuseAvailable"], json!(false));
    assert_eq!(r["drive"]["writable"], json!(true));
    assert_eq!(r["drive"]["idNonZero"], json!(true));
    assert_eq!(r["drive"]["key"].as_str().map(str::len), Some(64));
    assert_eq!(r["versionNew"], json!(1));
    assert_eq!(r["hello"], json!("hello world"));
    assert_eq!(r["big"], json!({ "length": 5_000_000, "same": true }));
    assert_eq!(
        r["stat"],
        json!({ "size": 11, "isFile": true, "isDirectory": false })
    );
    assert_eq!(r["readdirRoot"], json!(["big.bin", "dir", "hello.txt"]));
    assert_eq!(
        r["readdirStats"],
        json!([
            { "name": "big.bin", "size": 5_000_000, "isDirectory": false },
            { "name": "dir", "size": 0, "isDirectory": true },
            { "name": "hello.txt", "size": 11, "isDirectory": false },
        ])
    );
    assert_eq!(r["readdirAfterUnlink"], json!([]));
    assert_eq!(r["stream"], json!({ "length": 71_003, "same": true }));
    assert_eq!(r["ranged"], json!(true));
    let (before, after) = (
        r["versions"]["before"].as_u64(),
        r["versions"]["after"].as_u64(),
    );
    assert_eq!(
        after,
        before.map(|v| v + 1),
        "one writeFile adds one version"
    );
    assert_eq!(r["checkout"]["writable"], json!(false));
    assert_eq!(r["checkout"]["content"], json!("one"));
    assert_eq!(
        error_code(&r["checkout"]["write"]),
        Some(7),
        "PERMISSION_DENIED: {}",
        r["checkout"]["write"]
    );
    assert_eq!(r["live"], json!("two"));
    assert_eq!(r["mounted"], json!("mounted"));
    assert_eq!(
        r["mounts"],
        json!([{ "path": "/mnt", "key": r["otherKey"] }])
    );

    // NOT_FOUND, INVALID_ARGUMENT, INVALID_ARGUMENT, NOT_FOUND, NOT_FOUND, UNAUTHENTICATED.
    assert_eq!(error_code(&r["badSession"]), Some(5), "{}", r["badSession"]);
    assert!(
        r["badSession"]["details"]
            .as_str()
            .is_some_and(|d| d.contains("session 999"))
    );
    assert_eq!(error_code(&r["badKey"]), Some(3), "{}", r["badKey"]);
    assert_eq!(error_code(&r["nulPath"]), Some(3), "{}", r["nulPath"]);
    assert_eq!(error_code(&r["missing"]), Some(5), "{}", r["missing"]);
    assert!(
        r["missing"]["details"]
            .as_str()
            .is_some_and(|d| d.contains("/missing.txt"))
    );
    assert_eq!(
        error_code(&r["missingStat"]),
        Some(5),
        "{}",
        r["missingStat"]
    );
    assert_eq!(error_code(&r["badToken"]), Some(16), "{}", r["badToken"]);
    assert_eq!(r["badToken"]["details"], json!("Invalid auth token."));
    assert_eq!(error_code(&r["closed"]), Some(5), "{}", r["closed"]);
    assert_eq!(r["stillServing"], json!("hello world"));

    // ddrive's own answers to the calls added for the comparison.
    assert_eq!(r["metadata"], json!({ "a": "1" }));
    assert_eq!(
        r["symlink"],
        json!({ "isSymbolicLink": true, "linkname": "/hello.txt",
                "followed": { "ok": true, "value": "hello world" } })
    );
    assert_eq!(r["rmdir"], json!({ "ok": true }));
    assert_eq!(
        error_code(&r["rmdirMissing"]),
        Some(5),
        "{}",
        r["rmdirMissing"]
    );
    assert_eq!(error_code(&r["rmdirFull"]), Some(9), "{}", r["rmdirFull"]);
    assert_eq!(
        error_code(&r["unlinkMissing"]),
        Some(5),
        "{}",
        r["unlinkMissing"]
    );
    assert_eq!(
        error_code(&r["unmountMissing"]),
        Some(5),
        "{}",
        r["unmountMissing"]
    );
    assert_eq!(r["watch"], json!(true));
    assert_eq!(r["peerCounts"], json!([0]));
    assert_eq!(
        r["diff"],
        json!([
            { "type": "put", "name": "diff/new.txt" },
            { "type": "del", "name": "full/x" },
            { "type": "put", "name": "full" },
        ])
    );

    // The script closed every session it opened.
    assert_eq!(daemon.session_count(), 0);
    daemon.shutdown().await?;
    Ok(())
}
