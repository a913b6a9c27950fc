//! The token check every call passes first (metadata key `token`, the Node client's).

use std::sync::Arc;

use subtle::ConstantTimeEq;
use tonic::{Request, Status};

use crate::client_config::Token;

/// A tonic interceptor that lets a call through only with the daemon's token.
#[derive(Clone, Debug)]
pub(crate) struct Auth {
    token: Arc<Token>,
}

impl Auth {
    pub(crate) fn new(token: Token) -> Self {
        Auth {
            token: Arc::new(token),
        }
    }

    /// Compares in constant time (for equal lengths), so the answer time does not tell an
    /// attacker how much of a guess was right.
    pub(crate) fn check(&self, request: Request<()>) -> Result<Request<()>, Status> {
        let given = request
            .metadata()
            .get("token")
            .map(|v| v.as_bytes())
            .unwrap_or_default();
        if bool::from(given.ct_eq(self.token.expose().as_bytes())) {
            Ok(request)
        } else {
            Err(Status::unauthenticated("Invalid auth token."))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_the_token_passes() {
        let auth = Auth::new(Token::new("secret"));
        let mut ok = Request::new(());
        ok.metadata_mut()
            .insert("token", "secret".parse().expect("ascii"));
        assert!(auth.check(ok).is_ok());
        let mut bad = Request::new(());
        bad.metadata_mut()
            .insert("token", "secreT".parse().expect("ascii"));
        let err = auth.check(bad).expect_err("wrong token");
        assert_eq!(err.code(), tonic::Code::Unauthenticated);
        assert_eq!(err.message(), "Invalid auth token.");
        assert!(auth.check(Request::new(())).is_err());
    }
}
