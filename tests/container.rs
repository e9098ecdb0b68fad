//! The Dockerfile against the project: binary name, copied paths, port, volumes, user, health
//! check and command must agree with Cargo.toml, the configuration defaults and the routes.
#![allow(clippy::panic)]

use std::collections::{BTreeSet, HashMap};
use std::fs;
use std::path::{Component, Path, PathBuf};

use castellan::config::{Config, MasterKeySource};

const ROOT: &str = env!("CARGO_MANIFEST_DIR");

fn read(path: &str) -> String {
    fs::read_to_string(Path::new(ROOT).join(path))
        .unwrap_or_else(|e| panic!("cannot read {path}: {e}"))
}

/// One Dockerfile instruction, continuation lines joined.
#[derive(Debug)]
struct Instruction {
    line: usize,
    keyword: String,
    args: String,
}

/// The instructions of each stage; the last stage is the image that runs.
struct Dockerfile {
    stages: Vec<Vec<Instruction>>,
}

impl Dockerfile {
    fn load() -> Self {
        let text = read("Dockerfile");
        let mut stages: Vec<Vec<Instruction>> = Vec::new();
        let mut pending: Option<(usize, String)> = None;
        for (i, raw) in text.lines().enumerate() {
            let trimmed = raw.trim();
            if trimmed.starts_with('#') || (trimmed.is_empty() && pending.is_none()) {
                continue;
            }
            let (start, mut joined) = pending.take().unwrap_or((i + 1, String::new()));
            match trimmed.strip_suffix('\\') {
                Some(part) => {
                    joined.push_str(part);
                    joined.push(' ');
                    pending = Some((start, joined));
                    continue;
                }
                None => joined.push_str(trimmed),
            }
            let (keyword, args) = joined
                .split_once(char::is_whitespace)
                .unwrap_or((&joined, ""));
            let instruction = Instruction {
                line: start,
                keyword: keyword.to_ascii_uppercase(),
                args: args.trim().to_owned(),
            };
            if instruction.keyword == "FROM" {
                stages.push(Vec::new());
            }
            stages
                .last_mut()
                .unwrap_or_else(|| panic!("Dockerfile line {start}: an instruction before FROM"))
                .push(instruction);
        }
        assert!(
            stages.len() >= 2,
            "the Dockerfile should be a multi-stage build (a build stage and a runtime stage)"
        );
        Self { stages }
    }

    fn runtime(&self) -> &[Instruction] {
        &self.stages[self.stages.len() - 1]
    }

    /// The stage named `name` (`FROM image AS name`).
    fn stage(&self, name: &str) -> &[Instruction] {
        self.stages
            .iter()
            .find(|s| {
                let words: Vec<&str> = s[0].args.split_whitespace().collect();
                words.len() == 3 && words[1].eq_ignore_ascii_case("as") && words[2] == name
            })
            .unwrap_or_else(|| panic!("the Dockerfile has no stage named {name:?}"))
    }
}

fn all<'a>(stage: &'a [Instruction], keyword: &str) -> Vec<&'a Instruction> {
    stage.iter().filter(|i| i.keyword == keyword).collect()
}

fn last<'a>(stage: &'a [Instruction], keyword: &str) -> &'a Instruction {
    stage
        .iter()
        .rev()
        .find(|i| i.keyword == keyword)
        .unwrap_or_else(|| panic!("the runtime stage of the Dockerfile has no {keyword}"))
}

/// A JSON-array (exec form) argument list, or whitespace-separated words (shell form).
fn words(args: &str) -> Vec<String> {
    if args.starts_with('[') {
        serde_json::from_str(args).unwrap_or_else(|e| panic!("not a JSON array: {args}: {e}"))
    } else {
        args.split_whitespace().map(str::to_owned).collect()
    }
}

/// `WORKDIR` in effect at the end of a stage.
fn workdir(stage: &[Instruction]) -> PathBuf {
    all(stage, "WORKDIR")
        .iter()
        .fold(PathBuf::from("/"), |dir, i| dir.join(&i.args))
}

/// `ENV` of a stage, in both `KEY=VALUE …` and `KEY VALUE` forms.
fn env(stage: &[Instruction]) -> HashMap<String, String> {
    let mut vars = HashMap::new();
    for i in all(stage, "ENV") {
        if !i.args.contains('=') {
            if let Some((k, v)) = i.args.split_once(char::is_whitespace) {
                vars.insert(k.to_owned(), v.trim().to_owned());
            }
            continue;
        }
        for pair in i.args.split_whitespace() {
            let (k, v) = pair
                .split_once('=')
                .unwrap_or_else(|| panic!("Dockerfile line {}: ENV {pair:?}", i.line));
            vars.insert(k.to_owned(), v.trim_matches('"').to_owned());
        }
    }
    vars
}

/// The `[[bin]]` name in Cargo.toml (or the package name if there is no `[[bin]]`).
fn cargo_bin_name() -> String {
    let manifest = read("Cargo.toml");
    let mut section = "";
    let mut package_name = None;
    for line in manifest.lines().map(str::trim) {
        if line.starts_with('[') {
            section = line;
            continue;
        }
        let Some(value) = line.strip_prefix("name").map(str::trim_start) else {
            continue;
        };
        let Some(value) = value.strip_prefix('=') else {
            continue;
        };
        let value = value.trim().trim_matches('"').to_owned();
        match section {
            "[[bin]]" => return value,
            "[package]" => package_name = Some(value),
            _ => {}
        }
    }
    package_name.unwrap_or_else(|| panic!("Cargo.toml names neither a [[bin]] nor the package"))
}

/// The configuration the container runs with: the image's `CASTELLAN_*` over the defaults.
fn container_config(runtime: &[Instruction]) -> Config {
    let vars: HashMap<String, String> = env(runtime)
        .into_iter()
        .filter(|(k, _)| k.starts_with("CASTELLAN_"))
        .collect();
    Config::from_sources(None, &vars)
        .unwrap_or_else(|e| panic!("the Dockerfile's CASTELLAN_* variables are refused: {e}"))
}

/// `path` made absolute against `dir`, with `.` and `..` resolved.
fn absolute(dir: &Path, path: &Path) -> PathBuf {
    let mut out = PathBuf::from("/");
    for part in dir.join(path).components() {
        match part {
            Component::ParentDir => {
                out.pop();
            }
            Component::Normal(p) => out.push(p),
            _ => {}
        }
    }
    out
}

#[test]
fn the_build_stage_builds_and_the_runtime_stage_copies_the_cargo_binary() {
    let file = Dockerfile::load();
    let bin = cargo_bin_name();
    let build = file.stage("build");
    let builds = all(build, "RUN")
        .into_iter()
        .find(|i| i.args.contains("cargo build"))
        .unwrap_or_else(|| panic!("the build stage has no `RUN cargo build`"));
    assert!(
        builds.args.contains("--release"),
        "Dockerfile line {}: build with --release (the runtime stage copies target/release)",
        builds.line
    );
    let built = builds
        .args
        .split_whitespace()
        .skip_while(|w| *w != "--bin")
        .nth(1);
    assert!(
        built.is_none_or(|b| b == bin),
        "Dockerfile line {}: builds --bin {built:?}, but Cargo.toml's [[bin]] is {bin:?}",
        builds.line
    );
    let expected = workdir(build).join("target/release").join(&bin);
    let copies = all(file.runtime(), "COPY");
    let copy = copies
        .iter()
        .find(|i| i.args.starts_with("--from=build "))
        .unwrap_or_else(|| panic!("the runtime stage copies nothing --from=build"));
    let parts: Vec<&str> = copy.args.split_whitespace().collect();
    assert_eq!(
        parts.len(),
        3,
        "Dockerfile line {}: expected `COPY --from=build SRC DEST`",
        copy.line
    );
    assert_eq!(
        Path::new(parts[1]),
        expected,
        "Dockerfile line {}: the binary cargo builds is {}",
        copy.line,
        expected.display()
    );
    let installed = Path::new(parts[2]);
    let entrypoint = words(&last(file.runtime(), "ENTRYPOINT").args);
    let program = entrypoint.first().map(PathBuf::from).unwrap_or_default();
    assert!(
        program == installed
            || (program == Path::new(&bin)
                && installed.parent() == Some(Path::new("/usr/local/bin"))),
        "ENTRYPOINT runs {program:?}, but the binary is copied to {}",
        installed.display()
    );
}

#[test]
fn the_container_runs_serve() {
    let file = Dockerfile::load();
    let mut command = words(&last(file.runtime(), "ENTRYPOINT").args);
    command.extend(
        file.runtime()
            .iter()
            .rev()
            .find(|i| i.keyword == "CMD")
            .map(|i| words(&i.args))
            .unwrap_or_default(),
    );
    let bin = cargo_bin_name();
    let program = command.first().and_then(|p| Path::new(p).file_name());
    assert_eq!(
        program.and_then(|p| p.to_str()),
        Some(bin.as_str()),
        "ENTRYPOINT/CMD {command:?} should run the {bin} binary in exec form"
    );
    assert_eq!(
        command.get(1).map(String::as_str),
        Some("serve"),
        "ENTRYPOINT/CMD {command:?} should run `{bin} serve`"
    );
}

#[test]
fn the_exposed_port_is_the_one_the_server_listens_on_for_everyone() {
    let file = Dockerfile::load();
    let runtime = file.runtime();
    assert!(
        env(runtime).contains_key("CASTELLAN_LISTEN"),
        "set CASTELLAN_LISTEN in the image: the default 127.0.0.1 is unreachable from outside"
    );
    let listen = container_config(runtime).listen;
    assert!(
        listen.ip().is_unspecified(),
        "CASTELLAN_LISTEN={listen}: in a container listen on 0.0.0.0 (or [::])"
    );
    let exposed: Vec<String> = all(runtime, "EXPOSE")
        .iter()
        .flat_map(|i| i.args.split_whitespace())
        .map(|p| p.trim_end_matches("/tcp").to_owned())
        .collect();
    assert_eq!(
        exposed,
        [listen.port().to_string()],
        "EXPOSE should be the port of CASTELLAN_LISTEN={listen}"
    );
}

#[test]
fn the_volumes_hold_the_database_and_the_master_key() {
    let file = Dockerfile::load();
    let runtime = file.runtime();
    let config = container_config(runtime);
    let dir = workdir(runtime);
    let volumes: BTreeSet<PathBuf> = all(runtime, "VOLUME")
        .iter()
        .flat_map(|i| words(&i.args))
        .map(PathBuf::from)
        .collect();
    let database = config
        .database_url
        .strip_prefix("sqlite://")
        .or_else(|| config.database_url.strip_prefix("sqlite:"))
        .map(|p| p.split('?').next().unwrap_or(p))
        .unwrap_or_else(|| {
            panic!(
                "the image's database is {}, not SQLite",
                config.database_url
            )
        });
    let MasterKeySource::File(key_file) = &config.master_key else {
        panic!("the image should keep the key-encryption key in a file on the keys volume");
    };
    let files = [
        ("the SQLite database", absolute(&dir, Path::new(database))),
        ("the key-encryption key", absolute(&dir, key_file)),
    ];
    let mut used = BTreeSet::new();
    for (what, path) in &files {
        let volume = volumes
            .iter()
            .find(|v| path.starts_with(v))
            .unwrap_or_else(|| {
                panic!(
                    "{what} is at {} (WORKDIR {}), on none of the volumes {volumes:?}; \
                     with --read-only it could not be written",
                    path.display(),
                    dir.display()
                )
            });
        used.insert(volume.clone());
    }
    assert_eq!(
        used, volumes,
        "each VOLUME should hold one of {files:?}, and each of them be on a VOLUME"
    );
    assert_ne!(
        used.len(),
        1,
        "the database and the key-encryption key belong on separate volumes"
    );
    let user = user_of(runtime);
    let prepared = all(runtime, "RUN")
        .into_iter()
        .any(|i| i.args.contains("chown") && i.args.contains(&user));
    for volume in &volumes {
        let made = all(runtime, "RUN")
            .into_iter()
            .any(|i| i.args.contains("chown") && i.args.contains(&*volume.to_string_lossy()));
        assert!(
            made && prepared,
            "RUN should create {} and chown it to the USER {user} before VOLUME",
            volume.display()
        );
    }
}

/// The user part of the runtime stage's `USER`.
fn user_of(runtime: &[Instruction]) -> String {
    let user = &last(runtime, "USER").args;
    user.split(':').next().unwrap_or(user).to_owned()
}

#[test]
fn the_server_runs_as_a_user_that_is_not_root() {
    let file = Dockerfile::load();
    let user = user_of(file.runtime());
    assert!(
        !user.is_empty() && user != "root" && user != "0",
        "USER {user:?}: the server must not run as root"
    );
}

#[test]
fn the_health_check_calls_an_endpoint_the_server_has() {
    let file = Dockerfile::load();
    let runtime = file.runtime();
    let check = last(runtime, "HEALTHCHECK");
    let command = check
        .args
        .split_once("CMD")
        .map(|(_, c)| words(c.trim()))
        .unwrap_or_else(|| panic!("Dockerfile line {}: HEALTHCHECK without CMD", check.line));
    let listen = container_config(runtime).listen;
    let program = command.first().map(String::as_str).unwrap_or_default();
    let path = if program == cargo_bin_name() {
        // `castellan healthcheck` asks the configured listen address, so only the path is named.
        assert_eq!(
            command.get(1).map(String::as_str),
            Some("healthcheck"),
            "HEALTHCHECK runs {command:?}; the binary's probe is `{program} healthcheck`"
        );
        let value = |flag: &str| {
            let at = command.iter().position(|w| w == flag)?;
            command.get(at + 1).cloned()
        };
        if let Some(addr) = value("--addr") {
            assert_eq!(
                addr.rsplit_once(':').map(|(_, p)| p),
                Some(listen.port().to_string().as_str()),
                "HEALTHCHECK asks {addr}, but the server listens on port {}",
                listen.port()
            );
        }
        value("--path").unwrap_or_else(|| "/readyz".into())
    } else {
        let installed = all(runtime, "RUN").iter().any(|i| {
            i.args.contains("apt-get install") && i.args.split_whitespace().any(|w| w == program)
        });
        assert!(
            installed,
            "HEALTHCHECK runs {program:?}, which the runtime stage does not install"
        );
        let url = command
            .iter()
            .find(|w| w.starts_with("http://"))
            .unwrap_or_else(|| panic!("HEALTHCHECK {command:?} calls no http:// URL"));
        let rest = url.trim_start_matches("http://");
        let (authority, path) = rest.split_at(rest.find('/').unwrap_or(rest.len()));
        assert_eq!(
            authority.rsplit_once(':').map(|(_, p)| p),
            Some(listen.port().to_string().as_str()),
            "HEALTHCHECK calls {url}, but the server listens on port {}",
            listen.port()
        );
        path.to_owned()
    };
    let path = path.as_str();
    assert!(
        ["/healthz", "/readyz"].contains(&path),
        "HEALTHCHECK calls {path:?}; use /healthz or /readyz"
    );
    let routes = fs::read_dir(Path::new(ROOT).join("src/http"))
        .unwrap_or_else(|e| panic!("cannot list src/http: {e}"))
        .filter_map(Result::ok)
        .filter_map(|entry| fs::read_to_string(entry.path()).ok())
        .any(|source| source.contains(&format!(".route(\"{path}\"")));
    assert!(
        routes,
        "no `.route(\"{path}\"` in src/http: HEALTHCHECK would always fail"
    );
}

/// Directories the source embeds at compile time (`include_str!`, `migrate!`, askama templates)
/// and the bench targets Cargo.toml names: the build stage must copy each of them.
#[test]
fn the_build_stage_copies_what_the_build_reads() {
    let file = Dockerfile::load();
    let copied: BTreeSet<String> = all(file.stage("build"), "COPY")
        .iter()
        .flat_map(|i| {
            let parts: Vec<&str> = i
                .args
                .split_whitespace()
                .filter(|w| !w.starts_with("--"))
                .collect();
            parts[..parts.len().saturating_sub(1)]
                .iter()
                .map(|p| p.trim_start_matches("./").trim_end_matches('/').to_owned())
                .collect::<Vec<_>>()
        })
        .collect();
    let mut needed = BTreeSet::from([
        "Cargo.toml".to_owned(),
        "Cargo.lock".to_owned(),
        "src".to_owned(),
    ]);
    let manifest = read("Cargo.toml");
    if manifest.contains("[[bench]]") {
        needed.insert("benches".into());
    }
    let mut sources = vec![PathBuf::from(ROOT).join("src")];
    while let Some(path) = sources.pop() {
        if path.is_dir() {
            let entries = fs::read_dir(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
            sources.extend(entries.filter_map(Result::ok).map(|e| e.path()));
            continue;
        }
        let Ok(source) = fs::read_to_string(&path) else {
            continue;
        };
        if source.contains("#[template(") {
            needed.insert("templates".into());
        }
        for (marker, relative_to_file) in [
            ("include_str!(\"", true),
            ("include_bytes!(\"", true),
            ("migrate!(\"", false),
        ] {
            for found in source.split(marker).skip(1) {
                let Some((arg, _)) = found.split_once('"') else {
                    continue;
                };
                let base = if relative_to_file {
                    path.parent().unwrap_or(Path::new(ROOT)).to_path_buf()
                } else {
                    PathBuf::from(ROOT)
                };
                let target = absolute(&base, Path::new(arg));
                let top = target
                    .strip_prefix(absolute(Path::new("/"), Path::new(ROOT)))
                    .ok()
                    .and_then(|p| p.components().next())
                    .map(|c| c.as_os_str().to_string_lossy().into_owned());
                if let Some(top) = top {
                    needed.insert(top);
                }
            }
        }
    }
    let missing: Vec<&String> = needed.difference(&copied).collect();
    assert!(
        missing.is_empty(),
        "the build stage does not COPY {missing:?}, which the build reads (it copies {copied:?})"
    );
}
