//! Helpers shared by the integration tests: parse the stream back and look things up in it.

mod cli;
pub use cli::Test;

use std::path::Path;
use std::process::Output;

use serde_yaml_ng::Value;

/// "Today" for every test that compares dates with the release tables: the tables' own date,
/// never the clock (tests pass `BUILDFARM_TODAY`, or call `lint_on` with it).
pub fn today() -> &'static str {
    buildfarm::releases::kubernetes()
        .updated
        .max(buildfarm::releases::buildkit().updated)
}

/// `buildfarm::lint` as on `today()`.
pub fn lint(source: &buildfarm::Source, certs: &Path) -> Vec<buildfarm::Diagnostic> {
    buildfarm::lint_on(source, Path::new(""), Some(certs), today())
}

pub fn parse_stream(yaml: &str) -> Vec<Value> {
    serde_yaml_ng::Deserializer::from_str(yaml)
        .map(|doc| <Value as serde::Deserialize>::deserialize(doc).expect("every document parses"))
        .collect()
}

pub fn render_file(path: &Path, certs: &Path) -> String {
    let farm = buildfarm::load(buildfarm::Origin::File(path), Some(certs))
        .unwrap_or_else(|e| panic!("{} is valid: {e:#}", path.display()));
    let objects =
        buildfarm::render_farm(&farm, buildfarm::RenderOptions { secrets: true }).unwrap();
    buildfarm::stream(&objects)
}

pub fn render_str(spec: &str) -> (String, tempfile::TempDir) {
    let certs = tempfile::tempdir().unwrap();
    let yaml = buildfarm::render_str(spec, certs.path())
        .unwrap_or_else(|e| panic!("spec is valid: {e:#}"));
    (yaml, certs)
}

pub fn kind<'a>(objects: &'a [Value], kind: &str) -> Vec<&'a Value> {
    objects
        .iter()
        .filter(|o| o["kind"].as_str() == Some(kind))
        .collect()
}

pub fn named<'a>(objects: &'a [Value], kind: &str, name: &str) -> &'a Value {
    objects
        .iter()
        .find(|o| o["kind"].as_str() == Some(kind) && o["metadata"]["name"].as_str() == Some(name))
        .unwrap_or_else(|| panic!("no {kind} `{name}`"))
}

/// A YAML sequence of strings.
pub fn strings(v: &Value) -> Vec<&str> {
    v.as_sequence()
        .unwrap_or_else(|| panic!("not a sequence: {v:?}"))
        .iter()
        .map(str_of)
        .collect()
}

pub fn str_of(v: &Value) -> &str {
    v.as_str().unwrap_or_else(|| panic!("not a string: {v:?}"))
}

/// `selector` (a map) is contained in `labels` (a map).
pub fn selects(selector: &Value, labels: &Value) -> bool {
    let (Some(sel), Some(labels)) = (selector.as_mapping(), labels.as_mapping()) else {
        return false;
    };
    !sel.is_empty() && sel.iter().all(|(k, v)| labels.get(k) == Some(v))
}

pub fn pod_annotation<'a>(objects: &'a [Value], key: &str) -> &'a str {
    let sts = kind(objects, "StatefulSet");
    str_of(&sts[0]["spec"]["template"]["metadata"]["annotations"][key])
}

/// The buildkitd.toml a StatefulSet mounts, parsed.
pub fn buildkitd_toml(objects: &[Value], sts: &Value) -> toml::Table {
    let volumes = sts["spec"]["template"]["spec"]["volumes"]
        .as_sequence()
        .unwrap();
    let config = volumes
        .iter()
        .find(|v| v["name"].as_str() == Some("config"))
        .unwrap();
    let cm_name = str_of(&config["configMap"]["name"]);
    let key = str_of(&config["configMap"]["items"][0]["key"]);
    let cm = named(objects, "ConfigMap", cm_name);
    let text = str_of(&cm["data"][key]);
    text.parse()
        .unwrap_or_else(|e| panic!("buildkitd.toml parses: {e}\n{text}"))
}

pub fn container(sts: &Value) -> &Value {
    &sts["spec"]["template"]["spec"]["containers"][0]
}

/// Splits a POSIX shell command line into words (single and double quotes, backslashes).
pub fn shell_words(line: &str) -> Vec<String> {
    let mut words = Vec::new();
    let mut word = String::new();
    let mut in_word = false;
    let mut chars = line.chars();
    while let Some(c) = chars.next() {
        match c {
            '\'' => {
                in_word = true;
                for q in chars.by_ref() {
                    if q == '\'' {
                        break;
                    }
                    word.push(q);
                }
            }
            '"' => {
                in_word = true;
                while let Some(q) = chars.next() {
                    match q {
                        '"' => break,
                        '\\' => word.extend(chars.next()),
                        q => word.push(q),
                    }
                }
            }
            '\\' => {
                in_word = true;
                word.extend(chars.next());
            }
            c if c.is_whitespace() => {
                if in_word {
                    words.push(std::mem::take(&mut word));
                    in_word = false;
                }
            }
            c => {
                in_word = true;
                word.push(c);
            }
        }
    }
    if in_word {
        words.push(word);
    }
    words
}

/// A folder holding `spec` as farm.toml, with its certificates issued by `certs generate`.
pub fn farm_with_certs(spec: &str) -> std::cell::RefCell<Test> {
    std::cell::RefCell::new(Test::new().spec(spec).run(&["certs", "generate"]).status(0))
}

pub fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}
