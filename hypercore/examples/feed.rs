//! Creates (or reopens) a feed in a folder, appends blocks, and prints what a reader would check.
//!
//! ```text
//! cargo run -p hypercore --example feed -- ./my-feed hello world
//! ```
//! With no blocks given it appends one line with the current time. Run it twice on the same
//! folder: the second run reopens the feed and keeps appending. Node's hypercore@9 opens the
//! folder too (`hypercore('./my-feed')`).

use std::process::ExitCode;
use std::time::{SystemTime, UNIX_EPOCH};

use hypercore::{Feed, FileStorage};

fn main() -> ExitCode {
    match run() {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::FAILURE
        }
    }
}

fn run() -> Result<(), Box<dyn std::error::Error>> {
    let mut args = std::env::args().skip(1);
    let dir = args
        .next()
        .unwrap_or_else(|| "ddrive-example-feed".to_owned());
    let mut blocks: Vec<Vec<u8>> = args.map(String::into_bytes).collect();
    if blocks.is_empty() {
        let now = SystemTime::now().duration_since(UNIX_EPOCH)?.as_millis();
        blocks.push(format!("hello from ddrive at {now} ms").into_bytes());
    }

    let mut feed = Feed::open(FileStorage::new(&dir))?;
    let first = feed.append_batch(&blocks)?;
    feed.flush()?;

    let length = feed.len();
    let (signed_length, signature) = feed.signature(length - 1)?;
    feed.verify(signed_length - 1, &signature)?;

    println!("folder:        {dir}");
    println!("key:           {}", feed.key());
    println!("discovery key: {}", hex(&feed.discovery_key()));
    println!("writable:      {}", feed.writable());
    println!("appended:      {} block(s) at index {first}", blocks.len());
    println!("length:        {length}");
    println!("byte length:   {}", feed.byte_len());
    println!("roots (signature over them verified for length {signed_length}):");
    for root in feed.roots()? {
        println!(
            "  node {:>6}  size {:>10}  {}",
            root.index,
            root.size,
            hex(&root.hash)
        );
    }
    let audit = feed.audit()?;
    println!(
        "audit:         {} valid, {} invalid",
        audit.valid, audit.invalid
    );
    Ok(())
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}
