//! One-line reports of an error and its causes, for logs and the command line.

/// An error and every cause under it on one line: what a log line or an operator should see,
/// where `Display` says only what the outermost layer knows.
pub fn report(error: &(dyn std::error::Error + 'static)) -> String {
    let mut out = error.to_string();
    let mut next = error.source();
    while let Some(cause) = next {
        // A layer that already prints its cause (`"database: {0}"`) is not repeated.
        let text = cause.to_string();
        if !out.ends_with(&text) {
            out.push_str(": ");
            out.push_str(&text);
        }
        next = cause.source();
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug, thiserror::Error)]
    #[error("outer: {0}")]
    struct Repeats(#[source] Inner);

    #[derive(Debug, thiserror::Error)]
    #[error("inner")]
    struct Inner(#[source] std::io::Error);

    #[test]
    fn every_cause_is_reported_once() {
        let e = Repeats(Inner(std::io::Error::other("disk full")));
        assert_eq!(report(&e), "outer: inner: disk full");
    }
}
