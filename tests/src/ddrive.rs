//! The ddrive side of each feed-tool.js operation, answering in the same shapes, so a test can
//! compare what the two implementations saw.

use std::path::Path;

use anyhow::{Context, Result, bail};
use hypercore::{Feed, FileStorage, PublicKey, Storage};

use crate::content::{Batch, Spec};
use crate::node::{AuditJson, FeedSummary, ReadReport, RootJson};
use crate::sha256_hex;

/// Key, lengths, roots and last signature, as feed-tool.js prints them.
pub fn summary<S: Storage>(feed: &mut Feed<S>) -> Result<FeedSummary> {
    let mut out = FeedSummary {
        key: feed.key().to_hex(),
        length: feed.len(),
        byte_length: feed.byte_len(),
        roots: feed.roots()?.iter().map(RootJson::of).collect(),
        signature: None,
        signature_index: None,
    };
    if !feed.is_empty() {
        // After a truncate the length may be unsigned: Node then prints no signature either.
        match feed.signature(feed.len() - 1) {
            Ok((signed, sig)) => {
                out.signature = Some(hex::encode(sig.as_bytes()));
                out.signature_index = Some(signed - 1);
            }
            Err(hypercore::Error::NoSignature(_)) => {}
            Err(e) => return Err(e.into()),
        }
    }
    Ok(out)
}

fn append_batches<S: Storage>(feed: &mut Feed<S>, batches: &[Batch]) -> Result<()> {
    for batch in batches {
        feed.append_batch(&batch.blocks())?;
    }
    Ok(())
}

/// Creates the feed of `spec` in `dir` (which must not hold one).
pub fn write(dir: &Path, spec: &Spec) -> Result<FeedSummary> {
    if dir.join("key").exists() {
        bail!("{} already holds a feed", dir.display());
    }
    let mut feed = Feed::builder(FileStorage::new(dir))
        .key_pair(spec.key_pair())
        .open()?;
    append_batches(&mut feed, &spec.batches)?;
    let out = summary(&mut feed)?;
    feed.close()?;
    Ok(out)
}

/// Opens the writable feed in `dir`, runs `f` on it and closes it; answers the summary.
fn edit(
    dir: &Path,
    f: impl FnOnce(&mut Feed<FileStorage>) -> hypercore::Result<()>,
) -> Result<FeedSummary> {
    let mut feed = Feed::builder(FileStorage::new(dir))
        .create_if_missing(false)
        .open()
        .with_context(|| format!("opening {}", dir.display()))?;
    if !feed.writable() {
        bail!("{}: feed is not writable", dir.display());
    }
    f(&mut feed)?;
    let out = summary(&mut feed)?;
    feed.close()?;
    Ok(out)
}

/// Appends `batches` to the writable feed stored in `dir`.
pub fn append(dir: &Path, batches: &[Batch]) -> Result<FeedSummary> {
    edit(dir, |feed| {
        for batch in batches {
            feed.append_batch(&batch.blocks())?;
        }
        Ok(())
    })
}

/// Marks blocks `[start, end)` of the feed in `dir` as not stored.
pub fn clear(dir: &Path, start: u64, end: u64) -> Result<FeedSummary> {
    edit(dir, |feed| feed.clear(start, end))
}

/// Shortens the feed in `dir` to `length` blocks.
pub fn truncate(dir: &Path, length: u64) -> Result<FeedSummary> {
    edit(dir, |feed| feed.truncate(length))
}

/// Opens the feed of `key` in `dir`, audits it and hashes every stored block; blocks not
/// stored must answer [`hypercore::Error::NotStored`].
pub fn read(dir: &Path, key: PublicKey) -> Result<ReadReport> {
    let mut feed = Feed::builder(FileStorage::new(dir))
        .key(key)
        .create_if_missing(false)
        .open()
        .with_context(|| format!("opening {}", dir.display()))?;
    let audit = feed.audit()?;
    let mut blocks = Vec::new();
    for i in 0..feed.len() {
        if feed.has(i) {
            blocks.push(Some(sha256_hex(&feed.get(i)?)));
        } else {
            match feed.get(i) {
                Err(hypercore::Error::NotStored(n)) if n == i => blocks.push(None),
                other => bail!("get({i}) of a block not stored gave {other:?}"),
            }
        }
    }
    let summary = summary(&mut feed)?;
    let verified = match summary.signature_index {
        Some(slot) => {
            let (_, sig) = feed.signature(slot)?;
            feed.verify(slot, &sig).is_ok()
        }
        None => false,
    };
    let writable = feed.writable();
    feed.close()?;
    Ok(ReadReport {
        summary,
        writable,
        audit: AuditJson {
            valid: audit.valid,
            invalid: audit.invalid,
        },
        blocks,
        verified,
    })
}

/// What a clean read of a feed holding `stored` of `blocks` must report.
pub fn expected_read(
    summary: &FeedSummary,
    blocks: &[Vec<u8>],
    stored: impl Fn(u64) -> bool,
    writable: bool,
) -> ReadReport {
    let hashes: Vec<Option<String>> = blocks
        .iter()
        .enumerate()
        .map(|(i, b)| stored(i as u64).then(|| sha256_hex(b)))
        .collect();
    let valid = hashes.iter().filter(|h| h.is_some()).count() as u64;
    ReadReport {
        summary: summary.clone(),
        writable,
        audit: AuditJson { valid, invalid: 0 },
        blocks: hashes,
        verified: summary.signature.is_some(),
    }
}

/// Compares two read reports field by field, naming the first block that differs.
pub fn same_read(what: &str, got: &ReadReport, want: &ReadReport) -> Result<()> {
    if got.blocks.len() != want.blocks.len() {
        bail!(
            "{what}: {} blocks, expected {}",
            got.blocks.len(),
            want.blocks.len()
        );
    }
    if let Some(i) = (0..got.blocks.len()).find(|&i| got.blocks[i] != want.blocks[i]) {
        bail!(
            "{what}: block {i} is {:?}, expected {:?}",
            got.blocks[i],
            want.blocks[i]
        );
    }
    if got != want {
        bail!(
            "{what}: got {:?}\nexpected {:?}",
            ReadReportHead(got),
            ReadReportHead(want)
        );
    }
    Ok(())
}

/// A report without its block list, for messages.
struct ReadReportHead<'a>(&'a ReadReport);

impl std::fmt::Debug for ReadReportHead<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let r = self.0;
        f.debug_struct("ReadReport")
            .field("summary", &r.summary)
            .field("writable", &r.writable)
            .field("audit", &r.audit)
            .field("verified", &r.verified)
            .finish_non_exhaustive()
    }
}
