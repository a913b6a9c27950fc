//! `config.json`: how clients find the daemon and prove they may use it.

use std::fmt;
use std::io::Write;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};

/// The API token: 64 random bytes as 128 hex characters (the Node daemon's form). Its Debug
/// form hides it.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(transparent)]
pub struct Token(String);

impl Token {
    /// A fresh random token.
    pub fn random() -> Result<Self> {
        let mut bytes = [0u8; 64];
        getrandom::getrandom(&mut bytes)
            .map_err(|e| Error::State(format!("no randomness for the API token: {e}")))?;
        Ok(Token(hex::encode(bytes)))
    }

    /// A token given by the operator (for example `$DDRIVE_TOKEN`).
    pub fn new(token: impl Into<String>) -> Self {
        Token(token.into())
    }

    /// The token as clients send it (metadata key `token`).
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Token {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Token(<hidden>)")
    }
}

/// The contents of `<storage>/config.json`, which clients (ours and Node's
/// `hyperdrive-daemon-client`, pointed at the folder) read to find the daemon.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ClientConfig {
    /// The API token.
    pub token: Token,
    /// `host:port` of the API, as the Node client's grpc channel takes it.
    pub endpoint: String,
}

impl ClientConfig {
    /// The file's path under a storage folder.
    pub fn path(storage: &Path) -> PathBuf {
        storage.join("config.json")
    }

    /// Reads `<storage>/config.json`.
    pub fn read(storage: &Path) -> Result<Self> {
        let path = Self::path(storage);
        let text = std::fs::read(&path).map_err(|e| Error::io(&path, e))?;
        serde_json::from_slice(&text)
            .map_err(|e| Error::State(format!("{} is not a client config: {e}", path.display())))
    }

    /// Writes `<storage>/config.json` so that a reader sees the old file or the new one,
    /// never a part: a temporary file created 0600 (the token is a secret), synced, renamed
    /// over the old one, then the folder synced.
    pub fn write(&self, storage: &Path) -> Result<()> {
        let path = Self::path(storage);
        let tmp = storage.join(".config.json.tmp");
        let json = serde_json::to_vec(self)
            .map_err(|e| Error::State(format!("cannot encode the client config: {e}")))?;
        let _ = std::fs::remove_file(&tmp);
        let mut options = std::fs::OpenOptions::new();
        options.write(true).create_new(true);
        #[cfg(unix)]
        std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
        let mut file = options.open(&tmp).map_err(|e| Error::io(&tmp, e))?;
        file.write_all(&json).map_err(|e| Error::io(&tmp, e))?;
        file.sync_all().map_err(|e| Error::io(&tmp, e))?;
        drop(file);
        std::fs::rename(&tmp, &path).map_err(|e| Error::io(&path, e))?;
        if let Ok(dir) = std::fs::File::open(storage) {
            // Makes the rename itself durable; a folder that cannot be synced is no reason to
            // refuse to start.
            let _ = dir.sync_all();
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn token_is_128_hex_and_hidden() -> Result<()> {
        let token = Token::random()?;
        assert_eq!(token.expose().len(), 128);
        assert!(token.expose().bytes().all(|b| b.is_ascii_hexdigit()));
        assert!(!format!("{token:?}").contains(token.expose()));
        assert_ne!(token, Token::random()?);
        Ok(())
    }

    #[test]
    fn write_replaces_and_reads_back() -> Result<()> {
        let dir = tempfile::tempdir().map_err(|e| Error::io(Path::new("tmp"), e))?;
        let first = ClientConfig {
            token: Token::new("a"),
            endpoint: "127.0.0.1:1".into(),
        };
        first.write(dir.path())?;
        let second = ClientConfig {
            token: Token::new("b"),
            endpoint: "127.0.0.1:2".into(),
        };
        second.write(dir.path())?;
        assert_eq!(ClientConfig::read(dir.path())?, second);
        let text = std::fs::read_to_string(ClientConfig::path(dir.path()))
            .map_err(|e| Error::io(dir.path(), e))?;
        assert_eq!(text, r#"{"token":"b","endpoint":"127.0.0.1:2"}"#);
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let meta = std::fs::metadata(ClientConfig::path(dir.path()))
                .map_err(|e| Error::io(dir.path(), e))?;
            assert_eq!(meta.permissions().mode() & 0o777, 0o600);
        }
        Ok(())
    }
}
