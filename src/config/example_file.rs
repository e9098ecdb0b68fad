//! `castellan.example.toml` stays true: it parses, its values are the defaults, its commented
//! examples are valid, and it names every setting there is.

use super::*;

fn example() -> (PathBuf, String) {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("castellan.example.toml");
    let text = std::fs::read_to_string(&path).unwrap();
    (path, text)
}

/// `name` of a line `name = value` or `# name = value`.
fn setting_of(line: &str) -> Option<&str> {
    let line = line.strip_prefix("# ").unwrap_or(line);
    let (name, _) = line.split_once(" = ")?;
    name.bytes()
        .all(|b| b.is_ascii_lowercase() || b == b'_')
        .then_some(name)
}

#[test]
fn the_example_file_holds_the_defaults() {
    let (path, _) = example();
    let from_file = Config::from_sources(Some(&path), &HashMap::new()).unwrap();
    let defaults = Config::from_sources(None, &HashMap::new()).unwrap();
    assert_eq!(format!("{from_file:?}"), format!("{defaults:?}"));
}

#[test]
fn the_example_file_names_every_setting() {
    let (_, text) = example();
    let named: Vec<&str> = text.lines().filter_map(setting_of).collect();
    for name in Config::setting_names() {
        assert!(
            named.contains(&name),
            "castellan.example.toml does not mention {name}"
        );
    }
    for name in &named {
        assert!(
            Config::setting_names().contains(name),
            "castellan.example.toml names {name}, which is no setting"
        );
    }
}

#[test]
fn the_commented_examples_are_valid() {
    let (_, text) = example();
    // `master_key` is the alternative to `master_key_file`: one or the other.
    let uncommented: String = text
        .lines()
        .map(|line| match setting_of(line) {
            Some(name) if name != "master_key" => line.trim_start_matches("# "),
            _ => line,
        })
        .map(|line| format!("{line}\n"))
        .collect();
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("all.toml");
    std::fs::write(&path, uncommented).unwrap();
    let config = Config::from_sources(Some(&path), &HashMap::new()).unwrap();
    assert_eq!(config.issuer.as_deref(), Some("https://id.example.com"));
    assert!(config.metrics_listen.is_some());
    assert_eq!(config.trusted_proxies.len(), 2);
}
