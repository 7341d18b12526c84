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
