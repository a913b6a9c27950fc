//! The real `hyperdrive-daemon-client@1.16.0` (Node) drives our daemon: it finds it through
//! `config.json`, checks the API version, opens drives, writes and reads files (small, and
//! larger than one 3.9 MB chunk), stats, lists, makes and removes entries, streams in and out,
//! mounts, checks out versions, closes sessions; a wrong token, a bad session id, a bad key and
//! a path with a NUL byte each fail while the daemon goes on serving.
//!
//! Run with `cargo xtask test` (or `cargo test -p ddrive-tests --features interop --test
//! interop_daemon` once `npm ci` has run in tests/js).
#![cfg(feature = "interop")]

use std::process::Command;

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

fn error_code(v: &Value) -> Option<i64> {
    (v["ok"] == json!(false))
        .then(|| v["code"].as_i64())
        .flatten()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn node_client_drives_our_daemon() -> Result<()> {
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

    let script = js.join("daemon-client-tool.js");
    let run_storage = storage.clone();
    let out = tokio::task::spawn_blocking(move || {
        Command::new(node)
            .arg(script)
            .arg(run_storage)
            // The client must find the daemon through the folder, not the environment.
            .env_remove("HYPERDRIVE_ENDPOINT")
            .env_remove("HYPERDRIVE_TOKEN")
            .output()
    })
    .await??;
    ensure!(
        out.status.success(),
        "daemon-client-tool.js failed ({}):\n{}",
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
    let r: Value = serde_json::from_slice(&out.stdout).with_context(|| {
        format!(
            "unexpected output: {}",
            String::from_utf8_lossy(&out.stdout)
        )
    })?;

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

    // The script closed every session it opened.
    assert_eq!(daemon.session_count(), 0);
    daemon.shutdown().await?;
    Ok(())
}
