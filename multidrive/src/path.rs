//! Union paths: absolute, `/`-separated, normalised (Node's `path.posix` rules for the bits
//! the union needs).

/// `path` as an absolute normalised path: `\` becomes `/`, empty and `.` segments go, `..`
/// climbs (never above `/`), no trailing `/` except the root's.
pub(crate) fn normalize(path: &str) -> String {
    let mut parts: Vec<&str> = Vec::new();
    let unix = path.replace('\\', "/");
    for seg in unix.split('/') {
        match seg {
            "" | "." => {}
            ".." => {
                parts.pop();
            }
            s => parts.push(s),
        }
    }
    format!("/{}", parts.join("/"))
}

/// The parent of a normalised path (`/` for `/`).
pub(crate) fn dirname(path: &str) -> String {
    match path.rfind('/') {
        Some(0) | None => "/".to_owned(),
        Some(i) => path[..i].to_owned(),
    }
}

/// `dir` joined with a relative `name`, normalised.
pub(crate) fn join(dir: &str, name: &str) -> String {
    normalize(&format!("{dir}/{name}"))
}

/// `/`, then every ancestor of `path` from the top down, then `path` itself.
pub(crate) fn lineage(path: &str) -> Vec<String> {
    let mut out = vec!["/".to_owned()];
    let mut cur = String::new();
    for seg in path.split('/').filter(|s| !s.is_empty()) {
        cur.push('/');
        cur.push_str(seg);
        out.push(cur.clone());
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_normalise_like_node() {
        assert_eq!(normalize("a//b/./c/"), "/a/b/c");
        assert_eq!(normalize("/../x"), "/x");
        assert_eq!(normalize(""), "/");
        assert_eq!(dirname("/a/b"), "/a");
        assert_eq!(dirname("/a"), "/");
        assert_eq!(join("/a", "../b"), "/b");
        assert_eq!(lineage("/a/b"), ["/", "/a", "/a/b"]);
        assert_eq!(lineage("/"), ["/"]);
    }
}
