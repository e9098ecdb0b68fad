//! Which `CASTELLAN_*` variables are settings, and the known name nearest to a misspelt one.

/// Read by the project's own tests and benchmarks, never by Castellan: not configuration.
const TOOLING_PREFIXES: &[&str] = &["CASTELLAN_TEST_", "CASTELLAN_BENCH_", "CASTELLAN_SOAK_"];

/// Read by Castellan, but not as a setting of the typed configuration.
pub const CONFIG_FILE_VARIABLE: &str = "CASTELLAN_CONFIG";

pub fn is_tooling(variable: &str) -> bool {
    TOOLING_PREFIXES.iter().any(|p| variable.starts_with(p))
}

/// The environment variable of a setting.
pub fn variable(setting: &str) -> String {
    format!("CASTELLAN_{}", setting.to_ascii_uppercase())
}

/// The candidate closest to `name`, if it is close enough to be a typo of it.
pub fn closest<'a>(name: &str, candidates: impl IntoIterator<Item = &'a str>) -> Option<&'a str> {
    let strip = |s: &'a str| s.strip_prefix("CASTELLAN_").unwrap_or(s);
    let name = name.strip_prefix("CASTELLAN_").unwrap_or(name);
    let limit = 1 + name.chars().count() / 4;
    candidates
        .into_iter()
        .map(|c| (distance(name, strip(c)), c))
        .filter(|(d, _)| *d <= limit)
        .min_by_key(|(d, _)| *d)
        .map(|(_, c)| c)
}

/// Levenshtein distance, counting adjacent transpositions as one edit (a common typo).
fn distance(a: &str, b: &str) -> usize {
    let a: Vec<char> = a.to_ascii_uppercase().chars().collect();
    let b: Vec<char> = b.to_ascii_uppercase().chars().collect();
    // Three rows of the dynamic-programming table: two back, one back, current.
    let mut before: Vec<usize> = vec![0; b.len() + 1];
    let mut previous: Vec<usize> = (0..=b.len()).collect();
    for i in 1..=a.len() {
        let mut current = vec![i; b.len() + 1];
        for j in 1..=b.len() {
            let cost = usize::from(a[i - 1] != b[j - 1]);
            current[j] = (previous[j] + 1)
                .min(current[j - 1] + 1)
                .min(previous[j - 1] + cost);
            if i > 1 && j > 1 && a[i - 1] == b[j - 2] && a[i - 2] == b[j - 1] {
                current[j] = current[j].min(before[j - 2] + 1);
            }
        }
        before = std::mem::replace(&mut previous, current);
    }
    previous[b.len()]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn distances_count_edits() {
        assert_eq!(distance("issuer", "issuer"), 0);
        assert_eq!(distance("isuer", "issuer"), 1);
        assert_eq!(
            distance("issuer", "isseur"),
            1,
            "a transposition is one edit"
        );
        assert_eq!(distance("", "abc"), 3);
        assert_eq!(distance("kitten", "sitting"), 3);
    }

    #[test]
    fn the_closest_name_is_suggested_only_when_close() {
        let known = [
            "CASTELLAN_ISSUER",
            "CASTELLAN_LOCKOUT_THRESHOLD",
            "CASTELLAN_LISTEN",
        ];
        assert_eq!(closest("CASTELLAN_ISUER", known), Some("CASTELLAN_ISSUER"));
        assert_eq!(
            closest("CASTELLAN_LOCKOUT_TRESHOLD", known),
            Some("CASTELLAN_LOCKOUT_THRESHOLD")
        );
        assert_eq!(closest("CASTELLAN_LISTNE", known), Some("CASTELLAN_LISTEN"));
        assert_eq!(closest("CASTELLAN_DB", known), None);
    }

    #[test]
    fn tests_and_benchmarks_variables_are_not_settings() {
        assert!(is_tooling("CASTELLAN_TEST_POSTGRES_URL"));
        assert!(is_tooling("CASTELLAN_BENCH_SECS"));
        assert!(is_tooling("CASTELLAN_SOAK_RATE"));
        assert!(!is_tooling("CASTELLAN_TESTING"));
    }
}
