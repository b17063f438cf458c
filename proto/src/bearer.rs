//! The `authorization: Bearer <token>` metadata every `Processor` call carries.

use tonic::metadata::{Ascii, MetadataValue};
use tonic::service::Interceptor;
use tonic::{Request, Status};

/// A client interceptor that adds the token to every call.
#[derive(Clone)]
pub struct Bearer(MetadataValue<Ascii>);

impl Bearer {
    /// `None` when the token cannot be sent as a header value (control characters, non-ASCII).
    pub fn new(token: &str) -> Option<Self> {
        format!("Bearer {token}").parse().ok().map(Self)
    }
}

impl Interceptor for Bearer {
    fn call(&mut self, mut request: Request<()>) -> Result<Request<()>, Status> {
        request
            .metadata_mut()
            .insert("authorization", self.0.clone());
        Ok(request)
    }
}

/// The token of a request's `authorization: Bearer` metadata, if it has one.
pub fn token_of<T>(request: &Request<T>) -> Option<&str> {
    let value = request.metadata().get("authorization")?.to_str().ok()?;
    let (scheme, token) = value.split_once(' ')?;
    scheme
        .eq_ignore_ascii_case("bearer")
        .then(|| token.trim())
        .filter(|t| !t.is_empty())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_token_round_trips() {
        let mut bearer = Bearer::new("vn_abc").expect("a header value");
        let request = bearer.call(Request::new(())).expect("intercepted");
        assert_eq!(token_of(&request), Some("vn_abc"));
        assert!(Bearer::new("bad\ntoken").is_none());
        assert_eq!(token_of(&Request::new(())), None);
    }
}
