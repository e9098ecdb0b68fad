//! Unit tests of `redirect_uri`.

use super::*;

#[test]
fn accepts_https_loopback_http_and_private_schemes() {
    for ok in [
        "https://app.example.com/callback",
        "https://app.example.com:8443/cb?x=1",
        "http://127.0.0.1:8080/cb",
        "http://[::1]/cb",
        "http://localhost:3000/cb",
        "com.example.app:/oauth2redirect",
    ] {
        assert!(RedirectUri::parse(ok).is_ok(), "{ok}");
    }
}

#[test]
fn refuses_fragments_plain_http_and_relative_uris() {
    for bad in [
        "https://app.example.com/cb#frag",
        "http://app.example.com/cb",
        "/callback",
        "app.example.com/cb",
        "https:///cb",
        "https://user@app.example.com/cb",
        "myapp:/cb",
        "javascript:alert(1)",
        "HTTPS://app.example.com/cb",
        "https://app.example.com/c b",
    ] {
        assert!(RedirectUri::parse(bad).is_err(), "{bad}");
    }
}

#[test]
fn matching_is_exact_except_loopback_ports_for_native_clients() {
    let web = RedirectUri::parse("https://app.example.com/cb").unwrap();
    assert!(web.matches("https://app.example.com/cb", false));
    for near in [
        "https://app.example.com/cb/",
        "https://app.example.com/cb?x=1",
        "https://APP.example.com/cb",
        "https://app.example.com/CB",
        "https://app.example.com:443/cb",
        "https://app.example.com/cb#x",
        "https://app.example.com/cb/../cb",
        "https://app.example.com.evil.com/cb",
    ] {
        assert!(!web.matches(near, true), "{near}");
    }
    let native = RedirectUri::parse("http://127.0.0.1/cb").unwrap();
    assert!(native.matches("http://127.0.0.1:53412/cb", true));
    assert!(
        !native.matches("http://127.0.0.1:53412/cb", false),
        "web clients match exactly"
    );
    assert!(!native.matches("http://127.0.0.1:53412/other", true));
    assert!(!native.matches("http://localhost:53412/cb", true));
    assert!(!native.matches("http://127.0.0.1:x/cb", true));
}

/// Found by the property tests: after `[::1]` only a port may follow. Before the fix,
/// `http://[::1]@evil.example/cb` (userinfo `[::1]`, host evil.example) matched a native
/// client's `http://[::1]/cb`, and `http://[::1]#x` matched `http://[::1]`.
#[test]
fn after_an_ipv6_loopback_host_only_a_port_may_follow() {
    let native = RedirectUri::parse("http://[::1]/cb").unwrap();
    for bad in [
        "http://[::1]@evil.example/cb",
        "http://[::1]10000/cb",
        "http://[::1]x:80/cb",
    ] {
        assert!(!native.matches(bad, true), "{bad}");
    }
    assert!(native.matches("http://[::1]:10000/cb", true));
    let bare = RedirectUri::parse("http://[::1]").unwrap();
    assert!(!bare.matches("http://[::1]#x", true));
    assert!(!bare.matches("http://[::1]#", true));
    assert!(RedirectUri::parse("http://[::1]x/cb").is_err());
}

mod properties {
    use proptest::prelude::*;

    use super::super::RedirectUri;

    /// Characters a registered URI may hold (printable ASCII), `#` aside.
    fn uri_char() -> impl Strategy<Value = char> {
        (0x21u8..=0x7e)
            .prop_filter("not a fragment", |b| *b != b'#')
            .prop_map(char::from)
    }

    fn path_and_query() -> impl Strategy<Value = String> {
        (
            prop::collection::vec("[A-Za-z0-9._~-]{0,8}", 0..4),
            prop::option::of("[A-Za-z0-9=&._~%-]{0,12}"),
        )
            .prop_map(|(segments, query)| {
                let mut s: String = segments.iter().map(|seg| format!("/{seg}")).collect();
                if let Some(q) = query {
                    s.push('?');
                    s.push_str(&q);
                }
                s
            })
    }

    /// `https` on a DNS name, or a reverse-domain private scheme: matched exactly, always.
    fn exact_uri() -> impl Strategy<Value = String> {
        let https = (
            "[a-z][a-z0-9-]{0,10}(\\.[a-z][a-z0-9-]{0,10}){0,3}\\.[a-z]{2,6}",
            prop::option::of(1u16..),
            path_and_query(),
        )
            .prop_map(|(host, port, rest)| match port {
                Some(p) => format!("https://{host}:{p}{rest}"),
                None => format!("https://{host}{rest}"),
            });
        let private = ("[a-z]{2,8}(\\.[a-z][a-z0-9]{0,8}){1,3}", path_and_query())
            .prop_map(|(scheme, rest)| format!("{scheme}:{}", rest.trim_start_matches('/')))
            .prop_map(|u| if u.ends_with(':') { format!("{u}/") } else { u });
        prop_oneof![https, private]
    }

    /// A loopback IP redirect of a native app (RFC 8252 §7.3): host, optional port, path.
    fn loopback() -> impl Strategy<Value = (&'static str, Option<u16>, String)> {
        (
            prop_oneof![Just("127.0.0.1"), Just("[::1]")],
            prop::option::of(any::<u16>()),
            path_and_query(),
        )
    }

    fn with_port(host: &str, port: Option<u16>, path: &str) -> String {
        match port {
            Some(p) => format!("http://{host}:{p}{path}"),
            None => format!("http://{host}{path}"),
        }
    }

    /// The edits a near-miss makes: substitute, insert or delete one character.
    #[derive(Debug, Clone)]
    enum Edit {
        Replace(prop::sample::Index, char),
        Insert(prop::sample::Index, char),
        Delete(prop::sample::Index),
    }

    fn edit() -> impl Strategy<Value = Edit> {
        prop_oneof![
            (any::<prop::sample::Index>(), uri_char()).prop_map(|(i, c)| Edit::Replace(i, c)),
            (any::<prop::sample::Index>(), uri_char()).prop_map(|(i, c)| Edit::Insert(i, c)),
            any::<prop::sample::Index>().prop_map(Edit::Delete),
        ]
    }

    /// `s` with `edit` applied (`s` is ASCII, so byte and char positions agree).
    fn apply(s: &str, edit: &Edit) -> String {
        let mut out = s.to_owned();
        match edit {
            Edit::Replace(i, c) => {
                let at = i.index(s.len());
                out.replace_range(at..=at, &c.to_string());
            }
            Edit::Insert(i, c) => out.insert(i.index(s.len() + 1), *c),
            Edit::Delete(i) => {
                out.remove(i.index(s.len()));
            }
        }
        out
    }

    /// What RFC 8252 §7.3 lets vary: `presented` is `http://{host}[:digits]{path}`.
    fn differs_at_most_in_port(presented: &str, host: &str, path: &str) -> bool {
        presented
            .strip_prefix("http://")
            .and_then(|r| r.strip_prefix(host))
            .and_then(|r| r.strip_suffix(path))
            .is_some_and(|port| {
                port.is_empty()
                    || port
                        .strip_prefix(':')
                        .is_some_and(|d| !d.is_empty() && d.bytes().all(|b| b.is_ascii_digit()))
            })
    }

    proptest! {
        #[test]
        fn a_registered_uri_matches_itself(uri in exact_uri()) {
            let registered = RedirectUri::parse(&uri).unwrap();
            prop_assert_eq!(registered.as_str(), uri.as_str());
            prop_assert_eq!(registered.to_string(), uri.clone());
            prop_assert!(registered.matches(&uri, false));
            prop_assert!(registered.matches(&uri, true));
        }

        #[test]
        fn a_loopback_uri_matches_itself((host, port, path) in loopback()) {
            let uri = with_port(host, port, &path);
            let registered = RedirectUri::parse(&uri).unwrap();
            prop_assert!(registered.matches(&uri, false));
            prop_assert!(registered.matches(&uri, true));
        }

        #[test]
        fn any_other_string_misses_an_exact_uri(uri in exact_uri(), other in "\\PC{0,64}") {
            prop_assume!(other != uri);
            let registered = RedirectUri::parse(&uri).unwrap();
            prop_assert!(!registered.matches(&other, true));
            prop_assert!(!registered.matches(&other, false));
        }

        #[test]
        fn a_one_character_edit_misses(uri in exact_uri(), edit in edit()) {
            let near = apply(&uri, &edit);
            prop_assume!(near != uri);
            let registered = RedirectUri::parse(&uri).unwrap();
            prop_assert!(!registered.matches(&near, true), "{} matched {}", uri, near);
        }

        #[test]
        fn a_prefix_or_suffix_misses(
            uri in exact_uri(),
            prefix in "[!-~]{0,8}",
            suffix in "[!-~]{0,8}",
        ) {
            prop_assume!(!prefix.is_empty() || !suffix.is_empty());
            let registered = RedirectUri::parse(&uri).unwrap();
            let near = format!("{prefix}{uri}{suffix}");
            prop_assert!(!registered.matches(&near, true), "{} matched {}", uri, near);
        }

        #[test]
        fn a_case_change_misses(uri in exact_uri(), at in any::<prop::sample::Index>()) {
            let letters: Vec<usize> = uri
                .bytes()
                .enumerate()
                .filter(|(_, b)| b.is_ascii_alphabetic())
                .map(|(i, _)| i)
                .collect();
            prop_assume!(!letters.is_empty());
            let i = letters[at.index(letters.len())];
            let mut bytes = uri.clone().into_bytes();
            bytes[i] ^= 0x20;
            let near = String::from_utf8(bytes).unwrap();
            let registered = RedirectUri::parse(&uri).unwrap();
            prop_assert!(!registered.matches(&near, true), "{} matched {}", uri, near);
        }

        #[test]
        fn percent_encoding_a_character_misses(
            uri in exact_uri(),
            at in any::<prop::sample::Index>(),
            lower in any::<bool>(),
        ) {
            let i = at.index(uri.len());
            let encoded = format!("%{:02X}", uri.as_bytes()[i]);
            let encoded = if lower { encoded.to_ascii_lowercase() } else { encoded };
            let mut near = uri.clone();
            near.replace_range(i..=i, &encoded);
            let registered = RedirectUri::parse(&uri).unwrap();
            prop_assert!(!registered.matches(&near, true), "{} matched {}", uri, near);
        }

        #[test]
        fn a_fragment_is_never_registered_nor_matched(
            uri in exact_uri(),
            fragment in "[!-~]{0,16}",
            at in any::<prop::sample::Index>(),
            (host, port, path) in loopback(),
        ) {
            let with_fragment = format!("{uri}#{fragment}");
            prop_assert!(RedirectUri::parse(&with_fragment).is_err());
            let mut hashed = uri.clone();
            hashed.insert(at.index(uri.len() + 1), '#');
            prop_assert!(RedirectUri::parse(&hashed).is_err());
            let registered = RedirectUri::parse(&uri).unwrap();
            prop_assert!(!registered.matches(&with_fragment, true));
            let native = RedirectUri::parse(&with_port(host, port, &path)).unwrap();
            let presented = format!("{}#{fragment}", with_port(host, port, &path));
            prop_assert!(!native.matches(&presented, true));
        }

        #[test]
        fn a_native_loopback_uri_matches_on_any_port(
            (host, port, path) in loopback(),
            other in prop::option::of(any::<u16>()),
        ) {
            let registered = RedirectUri::parse(&with_port(host, port, &path)).unwrap();
            let presented = with_port(host, other, &path);
            prop_assert!(registered.matches(&presented, true));
            prop_assert_eq!(registered.matches(&presented, false), port == other);
        }

        #[test]
        fn a_native_loopback_uri_varies_only_in_its_port(
            (host, port, path) in loopback(),
            other in prop::option::of(any::<u16>()),
            edit in edit(),
        ) {
            let registered = RedirectUri::parse(&with_port(host, port, &path)).unwrap();
            let near = apply(&with_port(host, other, &path), &edit);
            if registered.matches(&near, true) {
                prop_assert!(
                    differs_at_most_in_port(&near, host, &path),
                    "{} matched {}", registered, near
                );
            }
            if registered.matches(&near, false) {
                prop_assert_eq!(near.as_str(), registered.as_str());
            }
        }
    }
}
