//! `RedirectUri::parse` and `matches` on two strings: never a panic; a registered URI matches
//! itself; anything else matches only as a native loopback redirect differing in its port
//! (RFC 8252 §7.3); a fragment never matches (RFC 6749 §3.1.2).
#![no_main]

use arbitrary::Arbitrary;
use castellan::protocol::RedirectUri;
use libfuzzer_sys::fuzz_target;

#[derive(Debug, Arbitrary)]
struct Input {
    registered: String,
    presented: Presented,
    native: bool,
}

/// A second string, unrelated or a near miss of the registered one.
#[derive(Debug, Arbitrary)]
enum Presented {
    Raw(String),
    Edited(Vec<Edit>),
}

#[derive(Debug, Arbitrary)]
enum Edit {
    Replace(usize, char),
    Insert(usize, char),
    Delete(usize),
    Append(String),
    Prepend(String),
    FlipCase(usize),
}

fuzz_target!(|input: Input| {
    let presented = match &input.presented {
        Presented::Raw(s) => s.clone(),
        Presented::Edited(edits) => edits.iter().fold(input.registered.clone(), apply),
    };
    let _ = RedirectUri::parse(&presented);
    let Ok(uri) = RedirectUri::parse(&input.registered) else {
        return;
    };
    assert_eq!(uri.as_str(), input.registered);
    assert!(!input.registered.contains('#'), "fragment registered");
    assert!(uri.matches(&input.registered, false) && uri.matches(&input.registered, true));
    if !uri.matches(&presented, input.native) || presented == input.registered {
        return;
    }
    assert!(
        input.native,
        "web client matched inexactly: {uri} ~ {presented:?}"
    );
    assert!(
        !presented.contains('#'),
        "fragment matched: {uri} ~ {presented:?}"
    );
    let (Some(a), Some(b)) = (
        loopback_without_port(&input.registered),
        loopback_without_port(&presented),
    ) else {
        panic!("matched but not a loopback port change: {uri} ~ {presented:?}");
    };
    assert_eq!(a, b, "{uri} ~ {presented:?}");
});

/// `http://{127.0.0.1 | [::1]}[:digits]{path}` as (host, path); an oracle independent of the code.
fn loopback_without_port(uri: &str) -> Option<(&str, &str)> {
    let rest = uri.strip_prefix("http://")?;
    let host = ["127.0.0.1", "[::1]"]
        .into_iter()
        .find(|h| rest.starts_with(h))?;
    let mut after = &rest[host.len()..];
    if let Some(port) = after.strip_prefix(':') {
        let digits = port.bytes().take_while(u8::is_ascii_digit).count();
        if digits == 0 {
            return None;
        }
        after = &port[digits..];
    }
    (after.is_empty() || after.starts_with(['/', '?'])).then_some((host, after))
}

fn apply(mut s: String, edit: &Edit) -> String {
    // A char boundary in `0..=len`, from an arbitrary index.
    let at = |s: &str, i: usize, len: usize| {
        let mut i = i % (len + 1);
        while !s.is_char_boundary(i) {
            i -= 1;
        }
        i
    };
    match edit {
        Edit::Replace(i, c) if !s.is_empty() => {
            let i = at(&s, *i, s.len() - 1);
            let end = i + s[i..].chars().next().map_or(0, char::len_utf8);
            s.replace_range(i..end, &c.to_string());
        }
        Edit::Insert(i, c) => {
            let i = at(&s, *i, s.len());
            s.insert(i, *c);
        }
        Edit::Delete(i) if !s.is_empty() => {
            let i = at(&s, *i, s.len() - 1);
            s.remove(i);
        }
        Edit::Append(t) => s.push_str(t),
        Edit::Prepend(t) => s.insert_str(0, t),
        Edit::FlipCase(i) if !s.is_empty() => {
            let i = at(&s, *i, s.len() - 1);
            if let Some(c) = s[i..].chars().next().filter(char::is_ascii_alphabetic) {
                let flipped = if c.is_ascii_lowercase() {
                    c.to_ascii_uppercase()
                } else {
                    c.to_ascii_lowercase()
                };
                s.replace_range(i..i + 1, &flipped.to_string());
            }
        }
        _ => {}
    }
    s
}
