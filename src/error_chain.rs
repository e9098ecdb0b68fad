//! One-line reports of an error and its causes, for logs and the command line.

/// An error and every cause under it on one line: what a log line or an operator should see,
/// where `Display` says only what the outermost layer knows.
pub fn report(error: &(dyn std::error::Error + 'static)) -> String {
    let mut out = error.to_string();
    let mut next = error.source();
    while let Some(cause) = next {
        out.push_str(": ");
        out.push_str(&cause.to_string());
        next = cause.source();
    }
    out
}
