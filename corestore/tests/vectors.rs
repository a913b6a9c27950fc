//! The corestore vectors made by the real npm packages (`tests/vectors`, written by
//! `tests/js/vectors/gen.js`): derive-key seeds and keys, and the corestore folder of the
//! hyperdrive vector.

use std::collections::{BTreeMap, BTreeSet};
use std::fs;
use std::path::{Path, PathBuf};

use anyhow::{Context, Result, ensure};
use corestore::{CORESTORE_NAMESPACE, Corestore, MasterKey, derive_key_pair, derive_seed};
use hypercore::PublicKey;
use serde_json::Value;

fn vectors(file: &str) -> Result<Value> {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("../tests/vectors");
    let text = fs::read_to_string(path.join(file)).with_context(|| format!("reading {file}"))?;
    Ok(serde_json::from_str(&text)?)
}

fn str_of<'a>(v: &'a Value, field: &str) -> Result<&'a str> {
    v[field]
        .as_str()
        .with_context(|| format!("field {field} missing in {v}"))
}

fn bytes32(hex_str: &str) -> Result<[u8; 32]> {
    let bytes = hex::decode(hex_str)?;
    bytes
        .try_into()
        .map_err(|_| anyhow::anyhow!("{hex_str} is not 32 bytes"))
}

#[test]
fn derive_key_vectors() -> Result<()> {
    let v = vectors("primitives.json")?;
    let cases = v["deriveKey"].as_array().context("deriveKey")?;
    ensure!(cases.len() == 3);
    for case in cases {
        let master = MasterKey::from_bytes(bytes32(str_of(case, "masterKey")?)?);
        let name = str_of(case, "name")?;
        let ns = str_of(case, "namespace")?;
        assert_eq!(ns, CORESTORE_NAMESPACE);
        let seed = derive_seed(ns, &master, name.as_bytes());
        assert_eq!(hex::encode(seed), str_of(case, "seed")?, "seed of {name}");
        let pair = derive_key_pair(&master, name.as_bytes());
        assert_eq!(pair.public.to_hex(), str_of(case, "publicKey")?);
        assert_eq!(
            hex::encode(pair.secret.as_bytes()),
            str_of(case, "secretKey")?
        );
        assert_eq!(
            hex::encode(pair.public.discovery_key()),
            str_of(case, "discoveryKey")?
        );
    }
    Ok(())
}

/// Every file under `root`, by relative path.
fn walk(root: &Path) -> Result<BTreeMap<PathBuf, Vec<u8>>> {
    let mut out = BTreeMap::new();
    let mut stack = vec![root.to_path_buf()];
    while let Some(dir) = stack.pop() {
        for entry in fs::read_dir(&dir)? {
            let path = entry?.path();
            if path.is_dir() {
                stack.push(path);
            } else {
                out.insert(path.strip_prefix(root)?.to_path_buf(), fs::read(&path)?);
            }
        }
    }
    Ok(out)
}

/// Rebuilds the five cores of the hyperdrive vector's store with the same master key and names
/// (blocks only where the vector gives them whole), and compares the folder with Node's.
#[test]
fn hyperdrive_store_layout() -> Result<()> {
    let v = vectors("hyperdrive.json")?;
    let dir = tempfile::tempdir()?;
    fs::write(
        dir.path().join("master_key"),
        hex::decode(str_of(&v, "corestoreMasterKey")?)?,
    )?;
    let store = Corestore::open(dir.path())?;

    let metadata = store.default_feed()?;
    let metadata_key = metadata.lock().key().to_hex();
    assert_eq!(metadata_key, str_of(&v["metadata"], "key")?);
    assert_eq!(
        metadata_key,
        "726121cb305d09029f39f55455e29a81adeff2004d266254ec9f09b170171c65"
    );
    assert_eq!(
        str_of(&v["content"], "corestoreName")?,
        format!("{metadata_key}-content")
    );
    let content = store.get_by_name(format!("{metadata_key}-content"))?;
    assert_eq!(content.lock().key().to_hex(), str_of(&v["content"], "key")?);
    assert!(content.lock().key().to_hex().starts_with("5a3fe7b5"));

    let mounted = &v["mountedDrive"];
    let drive2 = store
        .namespace(str_of(mounted, "namespace")?)?
        .default_feed()?;
    let drive2_key = drive2.lock().key().to_hex();
    assert_eq!(drive2_key, str_of(mounted, "key")?);
    // The content name is not prefixed by the namespace.
    let content2 = store
        .namespace(str_of(mounted, "namespace")?)?
        .get_by_name(format!("{drive2_key}-content"))?;
    assert_eq!(
        content2.lock().key().to_hex(),
        str_of(mounted, "contentKey")?
    );
    for block in mounted["contentBlocks"]
        .as_array()
        .context("contentBlocks")?
    {
        content2
            .lock()
            .append(&hex::decode(str_of(block, "hex")?)?)?;
    }

    let plain = &v["plainCore"];
    let plain_core = store.get_by_name(str_of(plain, "corestoreName")?)?;
    assert_eq!(plain_core.lock().key().to_hex(), str_of(plain, "key")?);
    let blocks = plain["blocks"]
        .as_array()
        .context("plain blocks")?
        .iter()
        .map(|b| Ok(hex::decode(str_of(b, "hex")?)?))
        .collect::<Result<Vec<_>>>()?;
    // tests/js/vectors/hyperdrive.js appends both blocks in one call.
    plain_core.lock().append_batch(&blocks)?;
    store.close()?;
    drop((metadata, content, drive2, content2, plain_core));

    let ours = walk(dir.path())?;
    let theirs: BTreeMap<PathBuf, &Value> = v["storage"]["files"]
        .as_array()
        .context("storage.files")?
        .iter()
        .map(|f| Ok((PathBuf::from(str_of(f, "path")?), f)))
        .collect::<Result<_>>()?;

    // The same core folders, each with the same file names, except `data` in the two cores
    // whose blocks we did not write.
    let dirs = |paths: &mut dyn Iterator<Item = &PathBuf>| -> BTreeSet<PathBuf> {
        paths
            .filter_map(|p| p.parent().map(Path::to_path_buf))
            .collect()
    };
    assert_eq!(dirs(&mut ours.keys()), dirs(&mut theirs.keys()));
    for dir_entry in v["storage"]["coreDirs"].as_array().context("coreDirs")? {
        let core_dir = PathBuf::from(str_of(dir_entry, "dir")?);
        let dk = bytes32(str_of(dir_entry, "discoveryKey")?)?;
        assert_eq!(corestore::core_path(&dk), core_dir);
    }
    for (path, file) in &theirs {
        let name = path.file_name().and_then(|n| n.to_str()).unwrap();
        let Some(bytes) = ours.get(path) else {
            assert_eq!(name, "data", "{} missing", path.display());
            continue;
        };
        let hex_theirs = file["hex"].as_str();
        match name {
            // Written by the store itself: identical everywhere.
            "master_key" | "key" | "name" => {
                assert_eq!(Some(hex::encode(bytes).as_str()), hex_theirs, "{path:?}");
            }
            _ => {}
        }
    }
    assert!(!ours.keys().any(|p| p.ends_with("secret_key")));

    // The two cores whose whole history we replayed are byte-identical, every file.
    let replayed = [str_of(plain, "key")?, str_of(mounted, "contentKey")?];
    for key in replayed {
        let dk = PublicKey(bytes32(key)?).discovery_key();
        let core_dir = corestore::core_path(&dk);
        let mut compared = 0;
        for (path, file) in theirs.iter().filter(|(p, _)| p.starts_with(&core_dir)) {
            let ours = ours
                .get(path)
                .with_context(|| format!("{path:?} missing"))?;
            assert_eq!(
                Some(hex::encode(ours).as_str()),
                file["hex"].as_str(),
                "{path:?}"
            );
            compared += 1;
        }
        assert_eq!(compared, 6, "{core_dir:?}");
    }
    Ok(())
}
