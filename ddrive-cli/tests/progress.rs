//! Import's progress as a person sees it: a bar on a terminal (through a pty made by
//! `script`), plain lines when stderr is a pipe, JSON Lines with --json.

mod common;

use common::{Daemon, text};

fn tree(root: &std::path::Path) {
    std::fs::create_dir_all(root).expect("mkdir");
    for i in 0..50 {
        std::fs::write(root.join(format!("f{i}")), vec![b'x'; 1000]).expect("write");
    }
}

#[test]
fn a_terminal_sees_the_bar() {
    let d = Daemon::start();
    let src = d.dir.path().join("src");
    tree(&src);
    let command = format!(
        "{} --storage {} import {}",
        common::BIN,
        d.storage.display(),
        src.display()
    );
    // `script` runs the command on a new pty: stderr is a terminal there.
    let out = std::process::Command::new("script")
        .args(["-q", "-e", "-c", &command, "/dev/null"])
        .env("TERM", "xterm")
        .output()
        .expect("script (util-linux) runs");
    assert!(out.status.success(), "{}", text(&out));
    let seen = String::from_utf8_lossy(&out.stdout);
    assert!(seen.contains("import ["), "no bar in: {seen}");
    assert!(seen.contains("50/50 files"), "no file count in: {seen}");
    assert!(
        seen.contains("48.83 KiB/48.83 KiB"),
        "no byte count in: {seen}"
    );
    assert!(seen.contains("ETA"), "no ETA in: {seen}");
}

#[test]
fn a_pipe_gets_plain_lines_and_json_gets_json_lines() {
    let d = Daemon::start();
    let src = d.dir.path().join("src");
    tree(&src);
    let s = src.to_str().expect("utf-8");
    let out = d.run(&["import", s]);
    assert!(out.status.success(), "{}", text(&out));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("import: 50/50 files, 48.83 KiB/48.83 KiB (100%)"),
        "{err}"
    );
    assert!(
        !err.contains('\u{1b}'),
        "no terminal escapes on a pipe: {err:?}"
    );
    assert!(out.stdout.is_empty());

    std::fs::write(src.join("f0"), "changed").expect("write");
    let out = d.run(&["--json", "import", s]);
    assert!(out.status.success(), "{}", text(&out));
    assert!(
        out.stderr.is_empty(),
        "--json keeps stderr quiet: {}",
        text(&out)
    );
    for line in String::from_utf8_lossy(&out.stdout).lines() {
        let v: serde_json::Value = serde_json::from_str(line).expect("a JSON line");
        let kind = v["message_type"].as_str().expect("message_type");
        assert!(["status", "summary"].contains(&kind), "{v}");
    }
}
