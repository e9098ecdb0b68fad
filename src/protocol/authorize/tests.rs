//! Unit tests of `authorize`.

use super::*;

const GOOD: &str = "response_type=code&client_id=web&redirect_uri=https%3A%2F%2Fapp.example.com%2Fcb\
    &scope=openid+profile&state=xyz&nonce=n-0S6&code_challenge=E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM\
    &code_challenge_method=S256";

fn parse(query: &str) -> Result<AuthorizeRequest, AuthorizeError> {
    AuthorizeRequest::parse(&FormParams::parse(query.as_bytes()).unwrap())
}

#[test]
fn a_complete_request_parses() {
    let params = FormParams::parse(GOOD.as_bytes()).unwrap();
    let who = Addressee::parse(&params).unwrap();
    assert_eq!(who.client_id.as_str(), "web");
    assert_eq!(
        who.redirect_uri.as_deref(),
        Some("https://app.example.com/cb")
    );
    let req = parse(GOOD).unwrap();
    assert_eq!(req.scope.to_string(), "openid profile");
    assert_eq!(req.state.as_deref(), Some("xyz"));
    assert_eq!(req.nonce.as_deref(), Some("n-0S6"));
    assert_eq!(req.prompt, Prompt::default());
}

#[test]
fn each_mistake_has_its_rfc_error() {
    use AuthorizeErrorCode as E;
    let cases = [
        (
            GOOD.replace("response_type=code", "response_type=token"),
            E::UnsupportedResponseType,
        ),
        (GOOD.replace("response_type=code&", ""), E::InvalidRequest),
        (
            GOOD.replace("&code_challenge_method=S256", ""),
            E::InvalidRequest,
        ),
        (
            GOOD.replace("code_challenge_method=S256", "code_challenge_method=plain"),
            E::InvalidRequest,
        ),
        (GOOD.replace("&code_challenge=", "&x="), E::InvalidRequest),
        (format!("{GOOD}&request=eyJ"), E::RequestNotSupported),
        (
            format!("{GOOD}&request_uri=https%3A%2F%2Fx"),
            E::RequestUriNotSupported,
        ),
        (format!("{GOOD}&prompt=none+login"), E::InvalidRequest),
        (format!("{GOOD}&prompt=select_account"), E::InvalidRequest),
        (format!("{GOOD}&max_age=-1"), E::InvalidRequest),
        (format!("{GOOD}&max_age=soon"), E::InvalidRequest),
        (format!("{GOOD}&response_mode=fragment"), E::InvalidRequest),
        (format!("{GOOD}&response_mode=jwt"), E::InvalidRequest),
        (
            GOOD.replace("scope=openid+profile", "scope=open%22id"),
            E::InvalidScope,
        ),
        (
            GOOD.replace(
                "state=xyz",
                &format!("state={}", "s".repeat(MAX_OPAQUE_LEN + 1)),
            ),
            E::InvalidRequest,
        ),
    ];
    for (query, code) in cases {
        assert_eq!(parse(&query).unwrap_err().code, code, "{query:.120}");
    }
}

#[test]
fn response_modes_are_query_and_form_post() {
    assert_eq!(parse(GOOD).unwrap().response_mode, ResponseMode::Query);
    let asked =
        |mode: &str| parse(&format!("{GOOD}&response_mode={mode}")).map(|r| r.response_mode);
    assert_eq!(asked("query"), Ok(ResponseMode::Query));
    assert_eq!(asked("form_post"), Ok(ResponseMode::FormPost));
}

#[test]
fn responses_append_to_an_existing_query() {
    let response = AuthorizeResponse {
        redirect_uri: "https://app.example.com/cb?x=1".into(),
        mode: ResponseMode::Query,
        params: vec![("code", "a b&c".into()), ("state", "é".into())],
    };
    assert_eq!(
        response.location(),
        "https://app.example.com/cb?x=1&code=a%20b%26c&state=%C3%A9"
    );
    let debug = format!("{response:?}");
    assert!(
        !debug.contains("a b&c") && debug.contains("[redacted]"),
        "{debug}"
    );
}

#[test]
fn prompt_and_max_age_are_read() {
    let req = parse(&format!("{GOOD}&prompt=login+consent&max_age=0")).unwrap();
    assert!(req.prompt.login && req.prompt.consent && !req.prompt.none);
    assert_eq!(req.max_age, Some(0));
}

#[test]
fn the_addressee_errors_are_for_the_page() {
    assert!(Addressee::parse(&FormParams::parse(b"response_type=code").unwrap()).is_err());
    assert!(Addressee::parse(&FormParams::parse(b"client_id=%07").unwrap()).is_err());
}

#[test]
fn a_request_without_pkce_parses_and_leaves_the_decision_to_the_client_registration() {
    let without = GOOD
        .replace("&code_challenge_method=S256", "")
        .split('&')
        .filter(|p| !p.starts_with("code_challenge="))
        .collect::<Vec<_>>()
        .join("&");
    let params = FormParams::parse(without.as_bytes()).unwrap();
    let request = AuthorizeRequest::parse(&params).unwrap();
    assert_eq!(request.code_challenge, None);
}
