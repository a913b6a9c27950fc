//! Drive paths: JS `fixName` (absolute, `/` separators), trie keys, and the bits of Node's
//! `path.posix` the resolution rules use.

/// JS `fixName`: backslashes become slashes and the path starts with `/`.
pub(crate) fn fix_name(name: &str) -> String {
    let name = unixify(name);
    if name.starts_with('/') {
        name
    } else {
        format!("/{name}")
    }
}

/// `unixify` as hyperdrive uses it: `\` → `/` (a drive letter never occurs here).
pub(crate) fn unixify(name: &str) -> String {
    name.replace('\\', "/")
}

/// mountable-hypertrie `normalize`: unixify and drop one leading `/`.
pub(crate) fn trie_key(path: &str) -> String {
    let path = unixify(path);
    match path.strip_prefix('/') {
        Some(rest) => rest.to_owned(),
        None => path,
    }
}

/// Node `path.posix.normalize` (without the trailing-slash subtlety: a trailing `/` is kept).
pub(crate) fn normalize(path: &str) -> String {
    if path.is_empty() {
        return ".".into();
    }
    let absolute = path.starts_with('/');
    let trailing = path.ends_with('/');
    let mut parts: Vec<&str> = Vec::new();
    for seg in path.split('/') {
        match seg {
            "" | "." => {}
            ".." => {
                if parts.last().is_some_and(|p| *p != "..") {
                    parts.pop();
                } else if !absolute {
                    parts.push("..");
                }
            }
            s => parts.push(s),
        }
    }
    let mut out = parts.join("/");
    if out.is_empty() && !absolute {
        out.push('.');
    }
    if trailing && !out.is_empty() && out != "." {
        out.push('/');
    } else if trailing && out == "." {
        out = "./".into();
    }
    if absolute { format!("/{out}") } else { out }
}

/// Node `path.posix.join`.
pub(crate) fn join(parts: &[&str]) -> String {
    let joined: Vec<&str> = parts.iter().copied().filter(|p| !p.is_empty()).collect();
    if joined.is_empty() {
        return ".".into();
    }
    normalize(&joined.join("/"))
}

/// Node `path.posix.dirname`.
pub(crate) fn dirname(path: &str) -> String {
    let trimmed = path.trim_end_matches('/');
    if trimmed.is_empty() {
        return if path.starts_with('/') {
            "/".into()
        } else {
            ".".into()
        };
    }
    match trimmed.rfind('/') {
        None => ".".into(),
        Some(0) => "/".into(),
        Some(i) => {
            let dir = trimmed[..i].trim_end_matches('/');
            if dir.is_empty() {
                "/".into()
            } else {
                dir.to_owned()
            }
        }
    }
}

/// Node `path.posix.resolve('/', ...parts)` for the parts given (all relative or absolute).
pub(crate) fn resolve(parts: &[&str]) -> String {
    let mut acc = String::new();
    for part in parts.iter().rev() {
        if part.is_empty() {
            continue;
        }
        acc = if acc.is_empty() {
            (*part).to_owned()
        } else {
            format!("{part}/{acc}")
        };
        if part.starts_with('/') {
            break;
        }
    }
    if !acc.starts_with('/') {
        acc = format!("/{acc}");
    }
    let n = normalize(&acc);
    if n.len() > 1 {
        n.trim_end_matches('/').to_owned()
    } else {
        n
    }
}

/// Node `path.posix.relative(from, to)` for absolute paths.
pub(crate) fn relative(from: &str, to: &str) -> String {
    let from = resolve(&[from]);
    let to = resolve(&[to]);
    if from == to {
        return String::new();
    }
    let f: Vec<&str> = from.split('/').filter(|s| !s.is_empty()).collect();
    let t: Vec<&str> = to.split('/').filter(|s| !s.is_empty()).collect();
    let common = f.iter().zip(&t).take_while(|(a, b)| a == b).count();
    let mut out: Vec<&str> = vec![".."; f.len() - common];
    out.extend(&t[common..]);
    out.join("/")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn node_path_semantics() {
        assert_eq!(fix_name("a\\b"), "/a/b");
        assert_eq!(trie_key("/dir/a"), "dir/a");
        assert_eq!(trie_key("/"), "");
        assert_eq!(join(&["mounts", "mnt"]), "mounts/mnt");
        assert_eq!(join(&["/mnt", "x"]), "/mnt/x");
        assert_eq!(join(&["", "x"]), "x");
        assert_eq!(join(&["a", ""]), "a");
        assert_eq!(join(&["/x", "../y"]), "/y");
        assert_eq!(dirname("/rel-link"), "/");
        assert_eq!(dirname("/a/b/c"), "/a/b");
        assert_eq!(dirname("a"), ".");
        assert_eq!(resolve(&["/", "/", "dir/a.txt"]), "/dir/a.txt");
        assert_eq!(resolve(&["/", "/a", "../b"]), "/b");
        assert_eq!(resolve(&["/", "/a", "/abs"]), "/abs");
        assert_eq!(relative("/", "/hello.txt"), "hello.txt");
        assert_eq!(relative("/dir", "/dir/sub/big.bin"), "sub/big.bin");
        assert_eq!(relative("/dir", "/other"), "../other");
        assert_eq!(relative("/dir", "/dir"), "");
    }
}
