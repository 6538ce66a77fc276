//! Optional bearer-token authentication of recognition calls.
//!
//! Why an interceptor on the services rather than a check in each handler: no call reaches
//! recognition code without passing it, and the health service is simply not wrapped, so
//! load-balancer and Kubernetes probes keep working without a token.

use std::path::Path;
use std::sync::Arc;

use subtle::ConstantTimeEq;
use tonic::service::Interceptor;
use tonic::{Request, Status};

use super::ServeError;

/// Why a call was refused; each message says what to send instead.
#[derive(Debug, thiserror::Error)]
pub enum AuthError {
    #[error("missing credentials: send metadata `authorization: Bearer <token>`")]
    Missing,
    #[error("malformed credentials: metadata `authorization` must be `Bearer <token>`")]
    Malformed,
    #[error("invalid bearer token: send `authorization: Bearer <token>` with a token the server accepts")]
    Invalid,
}

/// Accepts calls carrying one of the configured tokens; with none configured, every call.
#[derive(Debug, Clone, Default)]
pub struct BearerAuth {
    tokens: Arc<[String]>,
}

impl BearerAuth {
    pub fn new(tokens: Vec<String>) -> BearerAuth {
        BearerAuth {
            tokens: tokens.into(),
        }
    }

    /// Whether calls need a token at all.
    pub fn is_enabled(&self) -> bool {
        !self.tokens.is_empty()
    }

    fn check<T>(&self, request: &Request<T>) -> Result<(), AuthError> {
        if !self.is_enabled() {
            return Ok(());
        }
        let value = request
            .metadata()
            .get("authorization")
            .ok_or(AuthError::Missing)?;
        self.check_authorization(value.to_str().map_err(|_| AuthError::Malformed)?)
    }

    /// Checks an `authorization` value (`Bearer <token>`); shared with the WebSocket
    /// endpoint, whose clients send it as an HTTP header.
    pub(crate) fn check_authorization(&self, value: &str) -> Result<(), AuthError> {
        if !self.is_enabled() {
            return Ok(());
        }
        let (scheme, token) = value.split_once(' ').ok_or(AuthError::Malformed)?;
        if !scheme.eq_ignore_ascii_case("bearer") {
            return Err(AuthError::Malformed);
        }
        self.check_token(token.trim())
    }

    /// Checks a bare token (a browser's `?token=`, which cannot set headers on a WebSocket).
    pub(crate) fn check_token(&self, token: &str) -> Result<(), AuthError> {
        if !self.is_enabled() {
            return Ok(());
        }
        let token = token.as_bytes();
        // Compare against every token, each in constant time, so timing tells nothing.
        let matched = self.tokens.iter().fold(subtle::Choice::from(0), |any, t| {
            any | t.as_bytes().ct_eq(token)
        });
        if bool::from(matched) {
            Ok(())
        } else {
            Err(AuthError::Invalid)
        }
    }
}

impl Interceptor for BearerAuth {
    fn call(&mut self, request: Request<()>) -> Result<Request<()>, Status> {
        match self.check(&request) {
            Ok(()) => Ok(request),
            Err(err) => Err(err.into()),
        }
    }
}

/// The accepted tokens: `token` (if any) plus the lines of `file` (if any), without blank
/// lines and `#` comments.
pub fn load_tokens(token: Option<&str>, file: Option<&Path>) -> Result<Vec<String>, ServeError> {
    let mut tokens: Vec<String> = token.map(|t| t.trim().to_owned()).into_iter().collect();
    if let Some(path) = file {
        let text = std::fs::read_to_string(path).map_err(|source| ServeError::ReadFile {
            what: "auth token file",
            path: path.to_owned(),
            source,
        })?;
        let lines = text.lines().map(str::trim);
        let listed: Vec<String> = lines
            .filter(|line| !line.is_empty() && !line.starts_with('#'))
            .map(str::to_owned)
            .collect();
        if listed.is_empty() {
            return Err(ServeError::NoTokens(path.to_owned()));
        }
        tokens.extend(listed);
    }
    Ok(tokens)
}

#[cfg(test)]
mod tests {
    use tonic::Code;

    use super::*;

    fn request(authorization: Option<&str>) -> Request<()> {
        let mut request = Request::new(());
        if let Some(value) = authorization {
            request
                .metadata_mut()
                .insert("authorization", value.parse().unwrap());
        }
        request
    }

    fn code(auth: &BearerAuth, authorization: Option<&str>) -> Option<Code> {
        auth.clone()
            .call(request(authorization))
            .err()
            .map(|s| s.code())
    }

    #[test]
    fn open_when_no_token_is_configured() {
        assert_eq!(code(&BearerAuth::default(), None), None);
    }

    #[test]
    fn any_configured_token_passes_and_everything_else_is_unauthenticated() {
        let auth = BearerAuth::new(vec!["old-secret".into(), "new-secret".into()]);
        assert_eq!(code(&auth, Some("Bearer old-secret")), None);
        assert_eq!(code(&auth, Some("bearer new-secret")), None);
        for bad in [
            None,
            Some("Bearer wrong"),
            Some("Basic b2xkLXNlY3JldA=="),
            Some("old-secret"),
            Some("Bearer old-secre"),
        ] {
            assert_eq!(code(&auth, bad), Some(Code::Unauthenticated), "{bad:?}");
        }
        let missing = auth.clone().call(request(None)).unwrap_err();
        assert!(
            missing.message().contains("authorization: Bearer"),
            "{}",
            missing.message()
        );
    }

    #[test]
    fn tokens_come_from_the_setting_and_the_file() {
        let file = tempfile::NamedTempFile::new().unwrap();
        std::fs::write(file.path(), "# rotated 2026-11\nfirst\n\n  second  \n").unwrap();
        let tokens = load_tokens(Some("flag"), Some(file.path())).unwrap();
        assert_eq!(tokens, ["flag", "first", "second"]);
        std::fs::write(file.path(), "# nothing here\n").unwrap();
        assert!(matches!(
            load_tokens(None, Some(file.path())),
            Err(ServeError::NoTokens(_))
        ));
        assert!(load_tokens(None, None).unwrap().is_empty());
    }
}
