//! Helpers shared by the integration tests: the spec vectors, file snapshots, seeded randomness.
#![allow(dead_code)] // each test crate uses a different subset

use std::collections::BTreeMap;
use std::path::PathBuf;

use anyhow::{Context, Result, bail};
use hypercore::{Feed, FileStorage, KeyPair, MemoryStorage, Storage, Store};
use rand::SeedableRng;
use rand::rngs::StdRng;
use serde_json::Value;
use sha2::{Digest, Sha256};

/// `<workspace>/tests/vectors`: the vectors the pinned Node packages wrote
/// (`tests/js/vectors/gen.js`, checked by `cargo xtask vectors --check`).
pub fn vectors_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../tests/vectors")
}

/// One vectors file, parsed.
pub fn vectors(name: &str) -> Result<Value> {
    let path = vectors_dir().join(name);
    let text = std::fs::read_to_string(&path).with_context(|| format!("{}", path.display()))?;
    Ok(serde_json::from_str(&text)?)
}

/// The string at `key`, or an error naming it.
pub fn s<'a>(v: &'a Value, key: &str) -> Result<&'a str> {
    v[key]
        .as_str()
        .with_context(|| format!("vector field {key:?} is not a string"))
}

/// The number at `key`.
pub fn n(v: &Value, key: &str) -> Result<u64> {
    v[key]
        .as_u64()
        .with_context(|| format!("vector field {key:?} is not a number"))
}

/// The array at `key`.
pub fn arr<'a>(v: &'a Value, key: &str) -> Result<&'a Vec<Value>> {
    v[key]
        .as_array()
        .with_context(|| format!("vector field {key:?} is not an array"))
}

/// Hex from the vectors, decoded.
pub fn unhex(text: &str) -> Result<Vec<u8>> {
    Ok(hex::decode(text)?)
}

/// A 32-byte value from hex.
pub fn unhex32(text: &str) -> Result<[u8; 32]> {
    unhex(text)?
        .try_into()
        .map_err(|v: Vec<u8>| anyhow::anyhow!("{} bytes, expected 32", v.len()))
}

/// Lowercase hex.
pub fn hexs(bytes: &[u8]) -> String {
    hex::encode(bytes)
}

/// Lowercase hex of the SHA-256 of `bytes` (how the vectors name large files).
pub fn sha256_hex(bytes: &[u8]) -> String {
    hex::encode(Sha256::digest(bytes))
}

/// The key pair of a hex seed.
pub fn key_pair(seed_hex: &str) -> Result<KeyPair> {
    Ok(KeyPair::from_seed(&unhex32(seed_hex)?))
}

/// A storage whose files a test can read while the feed is open.
pub trait Snapshot {
    /// Every existing file by its JS name.
    fn snapshot(&self) -> Result<BTreeMap<String, Vec<u8>>>;
}

impl Snapshot for MemoryStorage {
    fn snapshot(&self) -> Result<BTreeMap<String, Vec<u8>>> {
        Ok(Store::ALL
            .iter()
            .filter_map(|&st| {
                self.file(st)
                    .map(|b| (st.file_name().to_string(), b.to_vec()))
            })
            .collect())
    }
}

impl Snapshot for FileStorage {
    fn snapshot(&self) -> Result<BTreeMap<String, Vec<u8>>> {
        let mut out = BTreeMap::new();
        for st in Store::ALL {
            let path = self.dir().join(st.file_name());
            if path.exists() {
                out.insert(st.file_name().to_string(), std::fs::read(&path)?);
            }
        }
        Ok(out)
    }
}

/// Files of a feed's storage, flushed first: the bitfield pages reach the files at a flush.
pub fn files<S: Storage + Snapshot>(feed: &mut Feed<S>) -> Result<BTreeMap<String, Vec<u8>>> {
    feed.flush()?;
    feed.storage().snapshot()
}

/// What the vectors say of one file: hex, sha256, size.
type Expected = (Option<String>, Option<String>, Option<u64>);

/// Compares files with the vectors: either `{name: hex}` or `[{path, size, sha256, hex?}]`.
pub fn assert_files(
    actual: &BTreeMap<String, Vec<u8>>,
    expected: &Value,
    what: &str,
) -> Result<()> {
    let mut want: BTreeMap<String, Expected> = BTreeMap::new();
    if let Some(map) = expected.as_object() {
        for (name, hex) in map {
            let hex = hex.as_str().context("file hex")?.to_string();
            want.insert(name.clone(), (Some(hex), None, None));
        }
    } else if let Some(list) = expected.as_array() {
        for f in list {
            want.insert(
                s(f, "path")?.to_string(),
                (
                    f["hex"].as_str().map(str::to_string),
                    f["sha256"].as_str().map(str::to_string),
                    f["size"].as_u64(),
                ),
            );
        }
    } else {
        bail!("{what}: file list has an unknown shape");
    }
    let have: Vec<&String> = actual.keys().collect();
    let names: Vec<&String> = want.keys().collect();
    if have != names {
        bail!("{what}: files {have:?}, vectors have {names:?}");
    }
    for (name, (hex, sha, size)) in &want {
        let bytes = &actual[name];
        if let Some(size) = size
            && bytes.len() as u64 != *size
        {
            bail!(
                "{what}: {name} is {} bytes, vectors say {size}",
                bytes.len()
            );
        }
        if let Some(hex) = hex {
            let got = hexs(bytes);
            if &got != hex {
                let at = got
                    .bytes()
                    .zip(hex.bytes())
                    .position(|(a, b)| a != b)
                    .unwrap_or(got.len().min(hex.len()))
                    / 2;
                bail!(
                    "{what}: {name} differs from the vectors at byte {at} (sizes {} vs {})",
                    bytes.len(),
                    hex.len() / 2
                );
            }
        } else if let Some(sha) = sha
            && &sha256_hex(bytes) != sha
        {
            bail!("{what}: sha256 of {name} differs from the vectors");
        }
    }
    Ok(())
}

/// A test seed: `HYPERCORE_TEST_SEED` if set, else random; printed if the test fails.
pub fn seed() -> SeedGuard {
    let seed = std::env::var("HYPERCORE_TEST_SEED")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(rand::random);
    SeedGuard(seed)
}

/// Runs a seeded test body; the seed is printed if it fails (error or panic).
pub fn with_seed(body: impl FnOnce(&SeedGuard) -> Result<()>) -> Result<()> {
    let guard = seed();
    let result = body(&guard);
    if let Err(e) = &result {
        eprintln!("test failed with HYPERCORE_TEST_SEED={}: {e:#}", guard.0);
    }
    result
}

/// Prints its seed when dropped during a panic, so a failure can be replayed.
pub struct SeedGuard(pub u64);

impl SeedGuard {
    /// A generator for this seed.
    pub fn rng(&self) -> StdRng {
        StdRng::seed_from_u64(self.0)
    }
}

impl Drop for SeedGuard {
    fn drop(&mut self) {
        if std::thread::panicking() {
            eprintln!("test failed with HYPERCORE_TEST_SEED={}", self.0);
        }
    }
}

/// Random bytes of a length.
pub fn random_bytes(rng: &mut StdRng, len: usize) -> Vec<u8> {
    let mut v = vec![0u8; len];
    rand::RngCore::fill_bytes(rng, &mut v);
    v
}

/// A storage the test keeps a handle to while a feed owns a clone of it: to look at it (or cut
/// its power) while the feed holds it, and to take the disk back after a failed open.
pub struct Shared<T>(std::sync::Arc<std::sync::Mutex<T>>);

impl<T> Clone for Shared<T> {
    fn clone(&self) -> Self {
        Shared(std::sync::Arc::clone(&self.0))
    }
}

impl<T> Shared<T> {
    pub fn new(storage: T) -> Self {
        Shared(std::sync::Arc::new(std::sync::Mutex::new(storage)))
    }

    pub fn with<R>(&self, f: impl FnOnce(&mut T) -> std::io::Result<R>) -> std::io::Result<R> {
        let mut guard = self
            .0
            .lock()
            .map_err(|_| std::io::Error::other("shared storage lock poisoned"))?;
        f(&mut guard)
    }

    /// The storage back, once no feed holds a clone.
    pub fn into_inner(self) -> Result<T> {
        std::sync::Arc::try_unwrap(self.0)
            .map_err(|_| anyhow::anyhow!("the feed still holds the storage"))?
            .into_inner()
            .map_err(|_| anyhow::anyhow!("shared storage lock poisoned"))
    }
}

impl<T: Storage> Storage for Shared<T> {
    fn read_at(&mut self, store: Store, offset: u64, buf: &mut [u8]) -> std::io::Result<usize> {
        self.with(|s| s.read_at(store, offset, buf))
    }
    fn write_at(&mut self, store: Store, offset: u64, data: &[u8]) -> std::io::Result<()> {
        self.with(|s| s.write_at(store, offset, data))
    }
    fn len(&mut self, store: Store) -> std::io::Result<u64> {
        self.with(|s| s.len(store))
    }
    fn exists(&mut self, store: Store) -> std::io::Result<bool> {
        self.with(|s| s.exists(store))
    }
    fn truncate(&mut self, store: Store, len: u64) -> std::io::Result<()> {
        self.with(|s| s.truncate(store, len))
    }
    fn sync(&mut self) -> std::io::Result<()> {
        self.with(|s| s.sync())
    }
}
