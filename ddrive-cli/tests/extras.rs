//! `ddrive tag`, `checkout`, `mv`, `delete`, `gc` and `multi` as a person (or a script, with
//! `--json`) runs them, against a daemon in this process.

use std::path::Path;
use std::process::{Command, Output};

use ddrive_daemon::proto::{self, drive_client::DriveClient};
use ddrive_daemon::{Config, Daemon};
use serde_json::Value;
use tonic::Request;

type TestResult = Result<(), Box<dyn std::error::Error>>;

fn ddrive(storage: &Path, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_ddrive"))
        .arg("--storage")
        .arg(storage)
        .args(args)
        .output()
        .expect("the ddrive binary runs")
}

/// Runs `ddrive` off the async runtime's threads.
async fn run(storage: &Path, args: &[&str]) -> Output {
    let storage = storage.to_owned();
    let args: Vec<String> = args.iter().map(|a| (*a).to_owned()).collect();
    tokio::task::spawn_blocking(move || {
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        ddrive(&storage, &args)
    })
    .await
    .expect("the command ran")
}

fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

fn json(o: &Output) -> Value {
    assert!(o.status.success(), "{}{}", stdout(o), stderr(o));
    serde_json::from_slice(&o.stdout).expect("one JSON document")
}

fn with_token<T>(message: T, token: &str) -> Request<T> {
    let mut r = Request::new(message);
    r.metadata_mut()
        .insert("token", token.parse().expect("a token is ASCII"));
    r
}

/// A drive with `files`, made over gRPC; returns its key in hex.
async fn drive_with(
    daemon: &Daemon,
    files: &[(&str, &[u8])],
) -> Result<String, Box<dyn std::error::Error>> {
    let channel =
        tonic::transport::Endpoint::from_shared(format!("http://{}", daemon.local_addr()))?
            .connect()
            .await?;
    let mut c = DriveClient::new(channel);
    let token = daemon.client_config().token.expose().to_owned();
    let rsp = c
        .get(with_token(proto::GetDriveRequest { opts: None }, &token))
        .await?
        .into_inner();
    for (path, data) in files {
        let mut token_req = Request::new(tokio_stream::iter(vec![proto::WriteFileRequest {
            id: rsp.id,
            path: (*path).to_owned(),
            chunk: data.to_vec(),
            opts: None,
        }]));
        token_req
            .metadata_mut()
            .insert("token", token.parse().expect("ascii"));
        c.write_file(token_req).await?;
    }
    let key = rsp.opts.map(|o| o.key).unwrap_or_default();
    c.close(with_token(
        proto::CloseSessionRequest { id: rsp.id },
        &token,
    ))
    .await?;
    Ok(hex::encode(key))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn drive_admin_commands() -> TestResult {
    let dir = tempfile::tempdir()?;
    let storage = dir.path();
    let daemon = Daemon::start(Config {
        storage: storage.to_owned(),
        port: 0,
        bootstrap: ddrive_daemon::Bootstrap::None,
        ..Config::default()
    })
    .await?;
    let big = vec![7u8; 2 << 20];
    let key = drive_with(&daemon, &[("/a.txt", b"one"), ("/big", &big)]).await?;

    let tagged = json(&run(storage, &["--json", "tag", "create", &key, "v1"]).await);
    assert_eq!(tagged["name"], "v1");
    let v1 = tagged["version"].as_u64().ok_or("a version")?;
    let url = format!("hyper://{key}");
    let list = json(&run(storage, &["--json", "tag", "list", &url]).await);
    assert_eq!(list["tags"][0]["name"], "v1");
    assert_eq!(list["tags"][0]["version"].as_u64(), Some(v1));
    let text = run(storage, &["tag", "list", &key]).await;
    assert_eq!(stdout(&text).trim(), format!("v1\t{v1}"));

    let moved = run(storage, &["mv", &key, "/a.txt", "/b.txt"]).await;
    assert!(moved.status.success(), "{}", stderr(&moved));
    assert_eq!(
        stdout(&moved).trim(),
        format!("Moved /a.txt to /b.txt in {key}.")
    );
    let at_tag = json(&run(storage, &["--json", "checkout", &key, "v1"]).await);
    assert_eq!(at_tag["version"].as_u64(), Some(v1));
    let mut files: Vec<String> = serde_json::from_value(at_tag["files"].clone())?;
    files.sort();
    assert_eq!(files, ["a.txt", "big"]);
    let now = run(storage, &["checkout", &key, "1"]).await;
    assert!(now.status.success(), "{}", stderr(&now));
    assert!(stdout(&now).starts_with(&format!("{key} at version 1, /:")));

    // gc keeps what the tag needs: nothing to clear here yet.
    let gc = json(&run(storage, &["--json", "gc", &key]).await);
    assert_eq!(gc["cleared_blocks"].as_u64(), Some(0));
    assert_eq!(gc["kept_versions"].as_array().map(Vec::len), Some(2));

    // Unions.
    let other = drive_with(&daemon, &[("/c.txt", b"three")]).await?;
    let union = json(&run(storage, &["--json", "multi", "create", &key]).await);
    assert_eq!(union["key"], key.as_str());
    let added = json(&run(storage, &["--json", "multi", "add", &key, &other]).await);
    assert_eq!(added["members"].as_array().map(Vec::len), Some(2));
    let listing = json(&run(storage, &["--json", "multi", "ls", &key]).await);
    let names: Vec<&str> = listing["entries"]
        .as_array()
        .ok_or("entries")?
        .iter()
        .filter_map(|e| e["name"].as_str())
        .collect();
    assert!(
        names.contains(&"c.txt") && names.contains(&"b.txt"),
        "{names:?}"
    );
    let unions = json(&run(storage, &["--json", "multi", "ls"]).await);
    assert_eq!(unions["unions"].as_array().map(Vec::len), Some(1));
    let removed = json(&run(storage, &["--json", "multi", "remove", &key, &other]).await);
    assert_eq!(removed["members"].as_array().map(Vec::len), Some(1));

    // Errors: one line, the documented code.
    let bad = run(storage, &["tag", "list", "nothex"]).await;
    assert_eq!(bad.status.code(), Some(4));
    assert_eq!(stderr(&bad).lines().count(), 1);
    assert!(stderr(&bad).contains("not a drive key"));
    let missing = run(storage, &["checkout", &key, "nope"]).await;
    assert_eq!(missing.status.code(), Some(5));
    assert!(stderr(&missing).contains("nope"), "{}", stderr(&missing));
    let as_json = run(storage, &["--json", "tag", "delete", &key, "nope"]).await;
    assert_eq!(as_json.status.code(), Some(5));
    let err: Value = serde_json::from_slice(&as_json.stderr)?;
    assert_eq!(err["message_type"], "error");
    assert_eq!(err["code"], 5);
    assert!(err["message"].as_str().is_some_and(|m| m.contains(&key)));
    let over = run(storage, &["multi", "remove", &key, &key]).await;
    assert_eq!(over.status.code(), Some(1));
    assert!(stderr(&over).contains("primary"));

    // Delete: the drive goes, then it is unknown.
    let deleted = json(&run(storage, &["--json", "delete", &other]).await);
    assert_eq!(deleted["cores"], 2);
    let again = run(storage, &["delete", &other]).await;
    assert_eq!(again.status.code(), Some(5));
    assert!(stderr(&again).contains("not stored"));
    let tag_deleted = json(&run(storage, &["--json", "tag", "delete", &key, "v1"]).await);
    assert_eq!(tag_deleted["deleted"], true);

    // The socket was used: it answers even when config.json names a dead TCP endpoint.
    let config = ddrive_daemon::ClientConfig {
        endpoint: "127.0.0.1:1".into(),
        ..daemon.client_config().clone()
    };
    config.write(storage)?;
    let via_socket = run(storage, &["tag", "list", &key]).await;
    assert!(via_socket.status.success(), "{}", stderr(&via_socket));
    daemon.shutdown().await?;

    let down = run(storage, &["gc", &key]).await;
    assert_eq!(down.status.code(), Some(3));
    assert!(stderr(&down).contains("The ddrive daemon is not running"));
    Ok(())
}
