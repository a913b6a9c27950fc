//! Comparing and copying feed folders.

use std::collections::BTreeSet;
use std::fs;
use std::path::Path;

use anyhow::{Context, Result, bail};

fn names(dir: &Path) -> Result<BTreeSet<String>> {
    let mut out = BTreeSet::new();
    for entry in fs::read_dir(dir).with_context(|| format!("listing {}", dir.display()))? {
        let entry = entry?;
        out.insert(entry.file_name().to_string_lossy().into_owned());
    }
    Ok(out)
}

/// Fails unless files `a` and `b` hold the same bytes, naming the first differing offset.
pub fn same_file(a: &Path, b: &Path) -> Result<()> {
    let x = fs::read(a).with_context(|| format!("reading {}", a.display()))?;
    let y = fs::read(b).with_context(|| format!("reading {}", b.display()))?;
    if let Some(at) = x.iter().zip(&y).position(|(p, q)| p != q) {
        bail!(
            "{} and {} differ at byte {at}: {:#04x} vs {:#04x}",
            a.display(),
            b.display(),
            x[at],
            y[at]
        );
    }
    if x.len() != y.len() {
        bail!(
            "{} is {} bytes, {} is {} bytes (equal up to the shorter)",
            a.display(),
            x.len(),
            b.display(),
            y.len()
        );
    }
    Ok(())
}

/// Fails unless folders `a` and `b` hold the same file names with the same bytes.
pub fn same_dir(a: &Path, b: &Path) -> Result<()> {
    let (na, nb) = (names(a)?, names(b)?);
    if na != nb {
        bail!(
            "{} holds {na:?} but {} holds {nb:?}",
            a.display(),
            b.display()
        );
    }
    for name in &na {
        same_file(&a.join(name), &b.join(name))?;
    }
    Ok(())
}

/// Copies the files of `src` into a new folder `dst`, leaving out the names in `skip`.
pub fn copy_dir(src: &Path, dst: &Path, skip: &[&str]) -> Result<()> {
    fs::create_dir_all(dst)?;
    for name in names(src)? {
        if !skip.contains(&name.as_str()) {
            fs::copy(src.join(&name), dst.join(&name))
                .with_context(|| format!("copying {}/{name}", src.display()))?;
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn folder(files: &[(&str, &[u8])]) -> tempfile::TempDir {
        let dir = tempfile::tempdir().expect("tempdir");
        for (name, bytes) in files {
            fs::write(dir.path().join(name), bytes).expect("write");
        }
        dir
    }

    #[test]
    fn same_dir_names_the_first_differing_byte() {
        let a = folder(&[("tree", b"abcdef"), ("key", b"k")]);
        let b = folder(&[("tree", b"abcXef"), ("key", b"k")]);
        let err = same_dir(a.path(), b.path()).expect_err("must differ");
        let msg = format!("{err}");
        assert!(msg.contains("tree") && msg.contains("byte 3"), "{msg}");
    }

    #[test]
    fn same_dir_reports_length_and_name_differences() {
        let a = folder(&[("data", b"abc")]);
        let b = folder(&[("data", b"abcd")]);
        let msg = format!("{}", same_dir(a.path(), b.path()).expect_err("lengths"));
        assert!(msg.contains("3 bytes") && msg.contains("4 bytes"), "{msg}");

        let c = folder(&[("data", b"abc"), ("signatures", b"")]);
        let msg = format!("{}", same_dir(a.path(), c.path()).expect_err("names"));
        assert!(msg.contains("signatures"), "{msg}");
        assert!(same_dir(a.path(), a.path()).is_ok());
    }

    #[test]
    fn copy_dir_skips_the_named_files() {
        let a = folder(&[("key", b"k"), ("secret_key", b"s")]);
        let dst = tempfile::tempdir().expect("tempdir");
        let to = dst.path().join("copy");
        copy_dir(a.path(), &to, &["secret_key"]).expect("copy");
        assert_eq!(
            names(&to).expect("names"),
            BTreeSet::from(["key".to_string()])
        );
    }
}
