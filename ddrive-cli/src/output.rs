//! What a command prints: text for people, or `--json` for scripts.
//!
//! Short commands print one JSON document; long ones (import, export) print JSON Lines whose
//! `message_type` is `status` (progress), `summary` (the last line) or, on stderr, `error`.
//! Fields may be added in later versions, never removed.

use serde_json::{Value, json};

use crate::exit::Exit;

/// How this run prints.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Out {
    pub(crate) json: bool,
}

impl Out {
    /// Prints `text` for people, or `doc` with `--json`.
    pub(crate) fn result(&self, text: impl FnOnce() -> String, doc: impl FnOnce() -> Value) {
        if self.json {
            println!("{}", doc());
        } else {
            let t = text();
            if !t.is_empty() {
                println!("{}", t.trim_end_matches('\n'));
            }
        }
    }

    /// One JSON Lines message of a long command (`--json` only).
    pub(crate) fn line(&self, message_type: &str, mut fields: Value) {
        if !self.json {
            return;
        }
        if let Some(map) = fields.as_object_mut() {
            map.insert("message_type".to_owned(), json!(message_type));
        }
        println!("{fields}");
    }

    /// A failure: one line on stderr (a JSON line with `--json`).
    pub(crate) fn error(&self, exit: Exit, message: &str) {
        if self.json {
            eprintln!(
                "{}",
                json!({"message_type": "error", "code": exit.code(), "message": message})
            );
        } else {
            eprintln!("ddrive: {message}");
        }
    }

    /// A note for people on stderr (never in `--json` mode's stdout).
    pub(crate) fn note(&self, text: &str) {
        if !self.json {
            eprintln!("{text}");
        }
    }
}
