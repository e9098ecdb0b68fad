//! Pages and URLs as a browser reads and writes them: a hidden input's value with character
//! references decoded, form-urlencoding, and the parameters of a query.
//!
//! The tests include this file too (`tests/api/support/mod.rs`), so it uses nothing but `std`
//! and reports failures as `String`s, which each side turns into its own kind of error.

/// The value of hidden input `name` in `page`, with character references decoded.
pub fn hidden(page: &str, name: &str) -> Result<String, String> {
    let marker = format!("name=\"{name}\" value=\"");
    let start = page
        .find(&marker)
        .ok_or_else(|| format!("no hidden {name} field in the page"))?
        + marker.len();
    let len = page[start..].find('"').ok_or("an unterminated attribute")?;
    unescape(&page[start..start + len])
}

/// Decodes HTML character references (`&amp;`, `&#39;`, `&#x27;`, ...).
pub fn unescape(text: &str) -> Result<String, String> {
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(i) = rest.find('&') {
        out.push_str(&rest[..i]);
        let end = i + rest[i..]
            .find(';')
            .ok_or("an unterminated character reference")?;
        let entity = &rest[i + 1..end];
        let c = match entity {
            "amp" => Some('&'),
            "lt" => Some('<'),
            "gt" => Some('>'),
            "quot" => Some('"'),
            "apos" => Some('\''),
            _ => entity
                .strip_prefix("#x")
                .map(|hex| u32::from_str_radix(hex, 16))
                .or_else(|| entity.strip_prefix('#').map(str::parse))
                .and_then(|n| n.ok())
                .and_then(char::from_u32),
        };
        out.push(c.ok_or_else(|| format!("unknown character reference &{entity};"))?);
        rest = &rest[end + 1..];
    }
    out.push_str(rest);
    Ok(out)
}

/// `application/x-www-form-urlencoded` as browsers write it, which is also how RFC 6749 §2.3.1
/// wants client credentials encoded before they go into a Basic header.
pub fn urlencode(s: &str) -> String {
    s.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'.' | b'_' | b'*' => {
                (b as char).to_string()
            }
            b' ' => "+".into(),
            _ => format!("%{b:02X}"),
        })
        .collect()
}

/// A form body (or a query) of these pairs.
pub fn form_encode(pairs: &[(&str, &str)]) -> String {
    let encoded: Vec<String> = pairs
        .iter()
        .map(|(name, value)| format!("{}={}", urlencode(name), urlencode(value)))
        .collect();
    encoded.join("&")
}

/// Undoes [`urlencode`]: `+` is a space, `%XX` a byte; the bytes must be UTF-8.
pub fn urldecode(s: &str) -> Result<String, String> {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'%' => {
                let hex = s.get(i + 1..i + 3).ok_or("a truncated %-escape")?;
                out.push(u8::from_str_radix(hex, 16).map_err(|_| format!("bad escape %{hex}"))?);
                i += 3;
            }
            b'+' => {
                out.push(b' ');
                i += 1;
            }
            b => {
                out.push(b);
                i += 1;
            }
        }
    }
    String::from_utf8(out).map_err(|e| format!("not UTF-8 once decoded: {e}"))
}

/// The decoded name and value pairs of a query (what follows the `?`), in order.
pub fn query_pairs(query: &str) -> Result<Vec<(String, String)>, String> {
    query
        .split('&')
        .filter(|pair| !pair.is_empty())
        .map(|pair| {
            let (name, value) = pair.split_once('=').unwrap_or((pair, ""));
            Ok((urldecode(name)?, urldecode(value)?))
        })
        .collect()
}

/// The decoded value of parameter `name` in a query, if it is there.
pub fn query_param(query: &str, name: &str) -> Option<String> {
    query_pairs(query)
        .ok()?
        .into_iter()
        .find_map(|(n, v)| (n == name).then_some(v))
}
