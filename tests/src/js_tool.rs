//! Running the other job scripts of `tests/js` (`trie-tool.js`, `store-tool.js`): the same
//! `run <jobs.json>` convention as feed-tool.js, one Node process for a list of jobs.

use std::path::{Path, PathBuf};
use std::process::Command;

use anyhow::{Context, Result, bail};
use serde_json::Value;

use crate::NodeTool;

/// One job script in `tests/js`, run with the `node` that [`NodeTool::find`] checks.
#[derive(Debug, Clone)]
pub struct JsTool {
    node: PathBuf,
    script: PathBuf,
}

impl JsTool {
    /// Finds `node` and the pinned packages as [`NodeTool::find`] does, and the script `name`.
    pub fn find(name: &str) -> Result<Self> {
        NodeTool::find()?;
        let node = std::env::var_os("DDRIVE_NODE")
            .map(PathBuf::from)
            .unwrap_or_else(|| PathBuf::from("node"));
        let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("js").join(name);
        if !script.exists() {
            bail!("{} is missing", script.display());
        }
        Ok(JsTool { node, script })
    }

    /// Runs `jobs` (`{"op": ..}` objects) in one Node process, in order; one result per job.
    pub fn run_jobs(&self, scratch: &Path, jobs: &[Value]) -> Result<Vec<Value>> {
        let file = tempfile::Builder::new()
            .prefix("jobs-")
            .suffix(".json")
            .tempfile_in(scratch)?;
        std::fs::write(file.path(), serde_json::to_vec(jobs)?)?;
        let name = self.script.display();
        let out = Command::new(&self.node)
            .arg(&self.script)
            .arg("run")
            .arg(file.path())
            .output()
            .with_context(|| format!("starting {}", self.node.display()))?;
        if !out.status.success() {
            bail!(
                "{name} failed ({}):\n{}",
                out.status,
                String::from_utf8_lossy(&out.stderr)
            );
        }
        let results: Vec<Value> = serde_json::from_slice(&out.stdout).with_context(|| {
            let text = String::from_utf8_lossy(&out.stdout);
            format!(
                "{name} printed unexpected output: {}",
                &text[..text.len().min(2000)]
            )
        })?;
        if results.len() != jobs.len() {
            bail!("{} jobs gave {} results", jobs.len(), results.len());
        }
        Ok(results)
    }
}

/// Fails naming the first place two JSON values differ (a path like `[3].left.seq`), with
/// both sides there, instead of printing two multi-megabyte documents.
pub fn same_json(what: &str, got: &Value, want: &Value) -> Result<()> {
    match first_difference(got, want, String::new()) {
        None => Ok(()),
        Some((at, a, b)) => bail!("{what}: differs at {at}: got {a}, expected {b}"),
    }
}

fn first_difference(a: &Value, b: &Value, at: String) -> Option<(String, String, String)> {
    let short = |v: &Value| {
        let s = v.to_string();
        if s.chars().count() > 400 {
            format!("{}…", s.chars().take(400).collect::<String>())
        } else {
            s
        }
    };
    match (a, b) {
        (Value::Array(x), Value::Array(y)) => {
            for (i, (p, q)) in x.iter().zip(y).enumerate() {
                if let Some(d) = first_difference(p, q, format!("{at}[{i}]")) {
                    return Some(d);
                }
            }
            (x.len() != y.len()).then(|| {
                (
                    format!("{at} (length)"),
                    format!("{} items", x.len()),
                    format!("{} items", y.len()),
                )
            })
        }
        (Value::Object(x), Value::Object(y)) => {
            for (k, p) in x {
                let q = y.get(k).unwrap_or(&Value::Null);
                if let Some(d) = first_difference(p, q, format!("{at}.{k}")) {
                    return Some(d);
                }
            }
            y.keys()
                .find(|k| !x.contains_key(*k))
                .map(|k| (format!("{at}.{k}"), "nothing".into(), short(&y[k])))
        }
        _ => (a != b).then(|| (at, short(a), short(b))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn same_json_names_the_path_of_the_first_difference() {
        let a = json!([{ "key": "a", "left": { "seq": 3 } }, 1]);
        let b = json!([{ "key": "a", "left": { "seq": 4 } }, 1]);
        let msg = format!("{}", same_json("x", &a, &b).expect_err("differs"));
        assert!(
            msg.contains("[0].left.seq") && msg.contains("got 3"),
            "{msg}"
        );
        assert!(same_json("x", &a, &a).is_ok());
        let c = json!([{ "key": "a", "left": { "seq": 3 } }]);
        let msg = format!("{}", same_json("x", &a, &c).expect_err("length"));
        assert!(msg.contains("(length)"), "{msg}");
    }
}
