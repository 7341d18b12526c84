//! The code's own shape, held as it is: no function longer than 80 lines unless a comment right
//! above it starts with `// long because` and says why; the README's Layout names every file.

use std::path::Path;

fn rust_files(dir: &Path, out: &mut Vec<std::path::PathBuf>) {
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            rust_files(&path, out);
        } else if path.extension().is_some_and(|e| e == "rs") {
            out.push(path);
        }
    }
}

/// (first line, length) of each `fn` whose body closes at its own indentation.
fn functions(text: &str) -> Vec<(usize, usize, bool)> {
    let lines: Vec<&str> = text.lines().collect();
    let mut out = Vec::new();
    for (i, line) in lines.iter().enumerate() {
        let trimmed = line.trim_start();
        let indent = line.len() - trimmed.len();
        let is_fn = [
            "fn ",
            "pub fn ",
            "pub(super) fn ",
            "pub(crate) fn ",
            "const fn ",
            "pub const fn ",
        ]
        .iter()
        .any(|p| trimmed.starts_with(p));
        if !is_fn {
            continue;
        }
        // The body opens on this line or a later one (long signatures), unless it is a declaration.
        let Some(open) = (i..lines.len())
            .find(|&j| lines[j].contains('{') || lines[j].trim_end().ends_with(';'))
        else {
            continue;
        };
        if lines[open].trim_end().ends_with(';') {
            continue;
        }
        let close = (open + 1..lines.len()).find(|&k| {
            let l = lines[k];
            l.len() > indent && l[..indent].trim().is_empty() && l[indent..].starts_with('}')
                || (indent == 0 && l.starts_with('}'))
        });
        if let Some(close) = close {
            let excused = i > 0
                && lines[..i]
                    .iter()
                    .rev()
                    .take_while(|l| l.trim_start().starts_with("//"))
                    .any(|l| l.trim_start().starts_with("// long because"));
            out.push((i + 1, close - i + 1, excused));
        }
    }
    out
}

#[test]
fn no_function_is_longer_than_80_lines_without_a_reason() {
    let mut files = Vec::new();
    rust_files(
        &Path::new(env!("CARGO_MANIFEST_DIR")).join("src"),
        &mut files,
    );
    let mut long = Vec::new();
    for file in &files {
        let text = std::fs::read_to_string(file).unwrap();
        for (line, length, excused) in functions(&text) {
            if length > 80 && !excused {
                long.push(format!("{}:{line} ({length} lines)", file.display()));
            }
        }
    }
    assert!(
        long.is_empty(),
        "split them, or say `// long because ...` above: {long:#?}"
    );
}

#[test]
fn the_measure_sees_a_long_function() {
    let body = "    let x = 1;\n".repeat(90);
    let text =
        format!("fn long() {{\n{body}}}\n\n// long because a reason\nfn excused() {{\n{body}}}\n");
    assert_eq!(functions(&text), [(1, 92, false), (95, 92, true)]);
}

/// The README's "Layout" tree, between its heading and the end of its code block.
fn readme_layout() -> String {
    let readme =
        std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("README.md")).unwrap();
    let start = readme
        .find("### Layout")
        .expect("README has a Layout section");
    let tree = &readme[start..];
    let open = tree.find("```text\n").expect("Layout has a tree") + 8;
    let close = open + tree[open..].find("```").unwrap();
    tree[open..close].to_string()
}

#[test]
fn readme_layout_matches_the_tree() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let layout = readme_layout();
    let mut files = Vec::new();
    rust_files(&root.join("src"), &mut files);
    let mut missing = Vec::new();
    let mut names = std::collections::HashSet::new();
    for f in &files {
        let name = f.file_name().unwrap().to_str().unwrap().to_string();
        if !layout.contains(&name) {
            missing.push(f.display().to_string());
        }
        let parent = f.parent().unwrap();
        if parent != root.join("src") {
            let dir = format!("{}/", parent.file_name().unwrap().to_str().unwrap());
            if !layout.contains(&dir) {
                missing.push(dir);
            }
        }
        names.insert(name);
    }
    assert!(missing.is_empty(), "README Layout lacks: {missing:?}");
    // And it names no file that is gone.
    let stale: Vec<&str> = layout
        .split(|c: char| !(c.is_ascii_alphanumeric() || c == '_' || c == '.'))
        .filter(|w| w.ends_with(".rs") && !names.contains(*w))
        .filter(|w| {
            !["", "bench", "tests"]
                .iter()
                .any(|d| root.join(d).join(w).exists())
        })
        .collect();
    assert!(
        stale.is_empty(),
        "README Layout names files that do not exist: {stale:?}"
    );
}

#[test]
fn every_command_line_choice_is_a_type() {
    let cli =
        std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("src/cli.rs")).unwrap();
    assert!(
        !cli.contains("value_parser = ["),
        "a flag's choices are a closed_set! or a clap::ValueEnum, not a string list (src/closed.rs)"
    );
}

/// The rooms in the order data flows, lowest first: a module may import only modules of a
/// lower layer (or its own), so no import runs back up the pipeline and no two modules import
/// each other. `commands` and `cli` are the edge; `report` is where output and exit codes are
/// decided, below them and above every stage.
const LAYERS: &[&[&str]] = &[
    &["closed", "rule", "yaml", "files", "suggest"],
    &["diagnostic"],
    &["profile"],
    &["farm"],
    &["certs"],
    &["render"],
    &["lint"],
    &["reach"],
    &["client"],
    &["status"],
    &["init"],
    &["report"],
    &["cli"],
    &["commands"],
    &["lib", "main"],
];

/// The top-level modules each file of `src/` names (`crate::x`, `use crate::{x, y}`), leaving
/// out unit-test modules at the end of a file.
fn imports(text: &str) -> std::collections::BTreeSet<String> {
    let code = text.split("#[cfg(test)]\nmod ").next().unwrap_or(text);
    let mut out = std::collections::BTreeSet::new();
    let mut rest = code;
    while let Some(at) = rest.find("crate::") {
        rest = &rest[at + "crate::".len()..];
        if let Some(group) = rest.strip_prefix('{') {
            let end = group.find('}').unwrap_or(group.len());
            for item in group[..end].split(',') {
                let name: String = item
                    .trim()
                    .chars()
                    .take_while(|c| c.is_ascii_alphanumeric() || *c == '_')
                    .collect();
                if !name.is_empty() {
                    out.insert(name);
                }
            }
        } else {
            let name: String = rest
                .chars()
                .take_while(|c| c.is_ascii_alphanumeric() || *c == '_')
                .collect();
            out.insert(name);
        }
    }
    out
}

#[test]
fn imports_run_one_way_between_rooms() {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let layer = |module: &str| LAYERS.iter().position(|l| l.contains(&module));
    let mut files = Vec::new();
    rust_files(&src, &mut files);
    let mut wrong = Vec::new();
    for file in &files {
        let rel = file.strip_prefix(&src).unwrap();
        let room = rel
            .iter()
            .next()
            .unwrap()
            .to_string_lossy()
            .trim_end_matches(".rs")
            .to_string();
        let Some(own) = layer(&room) else {
            wrong.push(format!("{}: room `{room}` is in no layer", rel.display()));
            continue;
        };
        for import in imports(&std::fs::read_to_string(file).unwrap()) {
            if import == room || import == "self" {
                continue;
            }
            match layer(&import) {
                Some(l) if l < own => {}
                Some(_) => wrong.push(format!(
                    "{}: `{room}` imports `{import}`, which is not below it",
                    rel.display()
                )),
                None => wrong.push(format!(
                    "{}: imports `{import}`, in no layer",
                    rel.display()
                )),
            }
        }
    }
    assert!(wrong.is_empty(), "{wrong:#?}");
}

/// The measure sees a wrong import.
#[test]
fn the_layer_test_sees_an_import_back_up() {
    let found = imports(
        "use crate::report;\nfn f() { crate::commands::run(); }\nuse crate::{farm::Farm, certs};\n#[cfg(test)]\nmod tests { use crate::cli; }\n",
    );
    let found: Vec<&str> = found.iter().map(String::as_str).collect();
    assert_eq!(found, ["certs", "commands", "farm", "report"]);
}

/// The edge at the edge: only `report` (and `main`) writes to stderr or ends the process;
/// every other room returns what it has to say.
#[test]
fn only_the_edge_prints_to_stderr_or_exits() {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut files = Vec::new();
    rust_files(&src, &mut files);
    let mut wrong = Vec::new();
    for file in &files {
        let rel = file
            .strip_prefix(&src)
            .unwrap()
            .to_string_lossy()
            .to_string();
        if rel == "report.rs" || rel == "main.rs" {
            continue;
        }
        let text = std::fs::read_to_string(file).unwrap();
        let code = text.split("#[cfg(test)]\nmod ").next().unwrap_or(&text);
        for needle in ["eprintln!", "eprint!", "process::exit"] {
            if code.contains(needle) {
                wrong.push(format!("{rel}: {needle}"));
            }
        }
    }
    assert!(wrong.is_empty(), "{wrong:#?}");
}

/// The module paths a file names (`crate::a::b`, `super::c`, `self::d`, a `use` of a child in
/// a `mod.rs`), each as an absolute path from the crate root, leaving out unit-test modules at
/// the end. `module` is the file's own path (`["farm", "parse"]`; `["farm"]` for its mod.rs).
fn paths_named(text: &str, module: &[String], is_mod_rs: bool) -> Vec<Vec<String>> {
    let code = ["\n#[cfg(test)]\nmod ", "\n#[cfg(all(test"]
        .iter()
        .filter_map(|cut| text.find(cut))
        .min()
        .map_or(text, |at| &text[..at]);
    // Code only: a path named in a comment is no import.
    let code: String = code
        .lines()
        .map(|l| l.split("//").next().unwrap_or(""))
        .collect::<Vec<_>>()
        .join("\n");
    let code = code.as_str();
    let children: Vec<String> = code
        .lines()
        .filter_map(|l| l.trim().trim_start_matches("pub ").strip_prefix("mod "))
        .map(|l| l.trim_end_matches(';').to_string())
        .collect();
    let ident = |s: &str| -> String {
        s.chars()
            .take_while(|c| c.is_ascii_alphanumeric() || *c == '_')
            .collect()
    };
    let mut out = Vec::new();
    let bytes = code.as_bytes();
    let mut i = 0;
    while i < code.len() {
        let boundary = i == 0
            || !(bytes[i - 1].is_ascii_alphanumeric()
                || bytes[i - 1] == b'_'
                || bytes[i - 1] == b':');
        let rest = &code[i..];
        let word = ident(rest);
        if !boundary || word.is_empty() {
            i += rest.chars().next().map_or(1, char::len_utf8);
            continue;
        }
        i += word.len();
        // Where the path starts: the crate root, this module, or a parent.
        let mut base: Vec<String> = match word.as_str() {
            "crate" => vec![],
            "self" => module.to_vec(),
            "super" => module[..module.len().saturating_sub(1)].to_vec(),
            w if is_mod_rs && children.iter().any(|c| c == w) && code[i..].starts_with("::") => {
                let mut m = module.to_vec();
                m.push(w.to_string());
                out.push(m);
                continue;
            }
            _ => continue,
        };
        let mut tail = &code[i..];
        if !tail.starts_with("::") {
            continue; // `super` or `self` alone: a word, not a path
        }
        while let Some(next) = tail.strip_prefix("::") {
            if let Some(group) = next.strip_prefix('{') {
                let end = group.find('}').unwrap_or(group.len());
                for item in group[..end].split(',') {
                    let name = ident(item.trim());
                    if !name.is_empty() && name != "self" {
                        let mut p = base.clone();
                        p.push(name);
                        out.push(p);
                    }
                }
                base.clear();
                break;
            }
            let name = ident(next);
            if name == "super" {
                base.pop();
            } else if !name.is_empty() {
                base.push(name.clone());
            }
            tail = &next[name.len()..];
            i = code.len() - tail.len();
        }
        if !base.is_empty() {
            out.push(base);
        }
    }
    out
}

/// Inside each folder, the files (a subfolder counts as one) import one another one way: no
/// two import each other, no circle, and a child that names its folder's `mod.rs` (a type the
/// hub re-exports) while the hub uses that child is a circle too.
fn folder_circles(
    files: &[(Vec<String>, bool, String)],
    entries: &dyn Fn(&[String]) -> Vec<String>,
) -> Vec<String> {
    use std::collections::{BTreeMap, BTreeSet};
    let mut edges: BTreeMap<Vec<String>, BTreeSet<(String, String)>> = BTreeMap::new();
    for (module, is_mod_rs, text) in files {
        for path in paths_named(text, module, *is_mod_rs) {
            let k = module.iter().zip(&path).take_while(|(a, b)| a == b).count();
            let folder = &module[..k];
            let here = entries(folder);
            let node = |p: &[String]| match p.get(k) {
                Some(n) if here.contains(n) => n.clone(),
                _ => "mod".to_string(),
            };
            let (from, to) = (node(module), node(&path));
            if from != to && !here.is_empty() {
                edges.entry(folder.to_vec()).or_default().insert((from, to));
            }
        }
    }
    let mut circles = Vec::new();
    for (folder, edges) in &edges {
        // Peel off files that import no sibling left; whatever remains sits on a circle.
        let mut left: BTreeSet<(String, String)> = edges.clone();
        loop {
            let sinks: Vec<String> = left
                .iter()
                .map(|(_, to)| to.clone())
                .filter(|to| !left.iter().any(|(from, _)| from == to))
                .collect();
            if sinks.is_empty() {
                break;
            }
            left.retain(|(_, to)| !sinks.contains(to));
        }
        if !left.is_empty() {
            circles.push(format!("src/{}: {left:?}", folder.join("/")));
        }
    }
    circles
}

#[test]
fn imports_run_one_way_inside_folders() {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut paths = Vec::new();
    rust_files(&src, &mut paths);
    let files: Vec<(Vec<String>, bool, String)> = paths
        .iter()
        .map(|file| {
            let rel = file.strip_prefix(&src).unwrap();
            let mut module: Vec<String> = rel
                .iter()
                .map(|s| s.to_string_lossy().trim_end_matches(".rs").to_string())
                .collect();
            let is_mod_rs = module.last().is_some_and(|m| m == "mod");
            if is_mod_rs || module == ["lib"] || module == ["main"] {
                module.pop();
            }
            (
                module,
                is_mod_rs || rel == Path::new("lib.rs"),
                std::fs::read_to_string(file).unwrap(),
            )
        })
        .collect();
    let entries = |folder: &[String]| -> Vec<String> {
        let dir = folder.iter().fold(src.clone(), |d, f| d.join(f));
        std::fs::read_dir(&dir)
            .map(|rd| {
                rd.filter_map(|e| e.ok())
                    .map(|e| {
                        e.file_name()
                            .to_string_lossy()
                            .trim_end_matches(".rs")
                            .to_string()
                    })
                    .filter(|n| n != "mod")
                    .collect()
            })
            .unwrap_or_default()
    };
    let circles = folder_circles(&files, &entries);
    assert!(circles.is_empty(), "{circles:#?}");
}

/// The measure sees a hub: a child importing a type its `mod.rs` re-exports from a sibling.
#[test]
fn the_folder_test_sees_a_hub() {
    let s = |v: &[&str]| v.iter().map(|x| x.to_string()).collect::<Vec<_>>();
    let hub = vec![
        (
            s(&["farm"]),
            true,
            "mod model;\nmod parse;\npub use model::*;\npub use parse::parse;\n".to_string(),
        ),
        (
            s(&["farm", "parse"]),
            false,
            "use super::Farm;\n".to_string(),
        ),
        (
            s(&["farm", "model"]),
            false,
            "pub struct Farm;\n".to_string(),
        ),
    ];
    let entries = |f: &[String]| {
        if f == ["farm"] {
            s(&["model", "parse"])
        } else {
            vec![]
        }
    };
    assert_eq!(folder_circles(&hub, &entries).len(), 1);
    let mut fixed = hub.clone();
    fixed[1].2 = "use super::model::Farm;\n".to_string();
    assert!(
        folder_circles(&fixed, &entries).is_empty(),
        "{:?}",
        folder_circles(&fixed, &entries)
    );
    let mut pair = fixed.clone();
    pair[2].2 = "use crate::farm::parse::parse;\n".to_string();
    assert_eq!(folder_circles(&pair, &entries).len(), 1);
}

/// Doors: every room is private and the crate root names what the outside may use; the lint
/// `unreachable_pub` (an error under `clippy -D warnings`) keeps the rest `pub(crate)`.
#[test]
fn rooms_are_private_behind_one_door() {
    let lib =
        std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("src/lib.rs")).unwrap();
    assert!(lib.contains("#![warn(unreachable_pub)]"));
    let open: Vec<&str> = lib.lines().filter(|l| l.starts_with("pub mod ")).collect();
    assert!(open.is_empty(), "rooms open to the outside: {open:?}");
    let rooms = lib.lines().filter(|l| l.starts_with("mod ")).count();
    assert!(rooms >= 15, "{rooms} rooms");
    // The door re-exports; it defines nothing of its own.
    let own: Vec<&str> = lib
        .lines()
        .filter(|l| l.starts_with("pub ") && !l.starts_with("pub use "))
        .collect();
    assert!(own.is_empty(), "lib.rs defines {own:?}");
}

/// Tests as specifications: every run of the binary goes through the `Test` builder
/// (tests/common/cli.rs), so each starts the same way (its own folder, the tables' date) and
/// each assertion names the command it judges.
#[test]
fn every_run_of_the_binary_goes_through_the_test_builder() {
    let tests = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests");
    let mut files = Vec::new();
    rust_files(&tests, &mut files);
    let raw: Vec<String> = files
        .iter()
        .filter(|f| !f.ends_with("common/cli.rs") && !f.ends_with("house.rs"))
        .filter(|f| {
            std::fs::read_to_string(f)
                .unwrap()
                .contains(concat!("CARGO_BIN_EXE_", "buildfarm"))
        })
        .map(|f| f.display().to_string())
        .collect();
    assert!(raw.is_empty(), "runs outside the Test builder: {raw:?}");
}
