//! Client authentication from an `Authorization` header (`protocol::client_auth`, HTTP Basic as
//! RFC 6749 §2.3.1 spells it): arbitrary bytes never panic, and credentials a client encodes
//! come back exactly.
#![no_main]

use arbitrary::Arbitrary;
use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use castellan::protocol::ClientId;
use castellan::protocol::client_auth::{AuthMethod, AuthorizationHeader, ClientCredentials};
use castellan::protocol::form::FormParams;
use libfuzzer_sys::fuzz_target;
use percent_encoding::{NON_ALPHANUMERIC, utf8_percent_encode};

#[derive(Debug, Arbitrary)]
enum Input {
    /// The header's bytes as they arrive, with a form body beside them.
    Raw { header: Vec<u8>, body: Vec<u8> },
    /// `Basic base64(urlencode(id) ":" urlencode(secret))`, spelled one way or another.
    Encoded {
        id: String,
        secret: String,
        scheme: Scheme,
        spaces: u8,
        plus_for_space: bool,
    },
}

#[derive(Debug, Arbitrary)]
enum Scheme {
    Basic,
    Lower,
    Upper,
}

fn encode(s: &str, plus: bool) -> String {
    let encoded = utf8_percent_encode(s, NON_ALPHANUMERIC).to_string();
    if plus {
        encoded.replace("%20", "+")
    } else {
        encoded
    }
}

fuzz_target!(|input: Input| match input {
    Input::Raw { header, body } => {
        let form = FormParams::parse(&body).unwrap_or_default();
        let Ok(creds) = ClientCredentials::extract(AuthorizationHeader::Present(&header), &form)
        else {
            return;
        };
        assert_eq!(creds.method, AuthMethod::Basic);
        assert!(creds.secret.is_some_and(|s| !s.secret().is_empty()));
        assert!(form.get("client_secret").is_none(), "two methods at once");
        assert!(
            form.get("client_id")
                .is_none_or(|id| id == creds.client_id.as_str())
        );
    }
    Input::Encoded {
        id,
        secret,
        scheme,
        spaces,
        plus_for_space,
    } => {
        let scheme = match scheme {
            Scheme::Basic => "Basic",
            Scheme::Lower => "basic",
            Scheme::Upper => "BASIC",
        };
        let credentials = format!(
            "{}:{}",
            encode(&id, plus_for_space),
            encode(&secret, plus_for_space)
        );
        let header = format!(
            "{scheme}{}{}",
            " ".repeat(usize::from(spaces % 4) + 1),
            STANDARD.encode(credentials)
        );
        let result = ClientCredentials::extract(
            AuthorizationHeader::Present(header.as_bytes()),
            &FormParams::default(),
        );
        match result {
            Ok(creds) => {
                assert_eq!(creds.client_id.as_str(), id);
                assert_eq!(
                    creds.secret.as_ref().map(|s| s.secret()),
                    Some(secret.as_str())
                );
            }
            Err(e) => assert!(
                ClientId::parse(&id).is_err() || secret.is_empty(),
                "valid credentials refused ({}): {id:?} {secret:?}",
                e.description
            ),
        }
    }
});
