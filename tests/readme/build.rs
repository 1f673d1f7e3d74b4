//! Extracts the Rust snippets the tests run (see the crate docs) into `OUT_DIR`:
//!
//! - `readme_quickstart.rs`: the `rust` blocks under README.md's "## Rust: a throttled
//!   client", with rustdoc's hidden lines (`# ...`) shown, as rustdoc compiles them.
//! - `coming_from.rs`: for each `###` section under coming-from.md's "## Rust", the part of
//!   its block after the `// after` line, as the body of
//!   `async fn after_<section>(urls: Vec<String>) -> Result<(), Box<dyn Error>>`.
//!
//! `https://api.example.com` becomes `{headway_base}`: the snippets build their URLs with
//! `format!`, and the test defines `headway_base` as the mock's URL. An example origin used
//! outside a format string then fails to compile, which is the point: the snippet would not
//! run as written either.

use std::path::{Path, PathBuf};
use std::{env, fs};

const ORIGIN: &str = "https://api.example.com";

fn main() {
    let root = PathBuf::from(env::var("CARGO_MANIFEST_DIR").expect("set by cargo")).join("../..");
    let readme = root.join("README.md");
    let coming_from = root.join("docs/coming-from.md");
    println!("cargo:rerun-if-changed={}", readme.display());
    println!("cargo:rerun-if-changed={}", coming_from.display());
    let out = PathBuf::from(env::var("OUT_DIR").expect("set by cargo"));

    let text = read(&readme);
    let blocks = rust_blocks(section(&text, "## Rust: a throttled client", "## "));
    assert!(
        !blocks.is_empty(),
        "README.md: no rust block under \"## Rust: a throttled client\""
    );
    let quickstart: Vec<String> = blocks.iter().map(|b| unhide(b)).collect();
    write(&out.join("readme_quickstart.rs"), &quickstart.join("\n"));

    let text = read(&coming_from);
    let rust = section(&text, "## Rust", "## ");
    let mut fns = String::new();
    for (name, body) in subsections(rust) {
        let block = rust_blocks(body);
        let [block] = block.as_slice() else {
            panic!(
                "coming-from.md, ### {name}: expected one rust block, found {}",
                block.len()
            );
        };
        let after = block
            .split_once("// after\n")
            .unwrap_or_else(|| panic!("coming-from.md, ### {name}: no \"// after\" line"))
            .1;
        let ident: String = name
            .chars()
            .map(|c| {
                if c.is_ascii_alphanumeric() {
                    c.to_ascii_lowercase()
                } else {
                    '_'
                }
            })
            .collect();
        fns.push_str(&format!(
            "/// coming-from.md, \"### {name}\", after.\n#[allow(unused_variables)]\n\
             async fn after_{ident}(urls: Vec<String>) -> Result<(), Box<dyn std::error::Error>> {{\n\
             {after}\nOk(())\n}}\n\n"
        ));
    }
    assert!(
        !fns.is_empty(),
        "coming-from.md: no ### section under \"## Rust\""
    );
    write(&out.join("coming_from.rs"), &fns);
}

fn read(path: &Path) -> String {
    fs::read_to_string(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

fn write(path: &Path, code: &str) {
    let code = code.replace(ORIGIN, "{headway_base}");
    fs::write(path, code).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
}

/// The text after the line `heading` up to the next line starting with `next` (or the end).
fn section<'a>(text: &'a str, heading: &str, next: &str) -> &'a str {
    let start = text
        .find(&format!("\n{heading}\n"))
        .unwrap_or_else(|| panic!("no heading {heading:?}"))
        + heading.len()
        + 2;
    let rest = &text[start..];
    match rest.find(&format!("\n{next}")) {
        Some(end) => &rest[..end],
        None => rest,
    }
}

/// The `### name` sections of `text`: each name and the text up to the next one.
fn subsections(text: &str) -> Vec<(&str, &str)> {
    let mut out = Vec::new();
    let mut parts = text.split("\n### ").skip(1);
    for part in parts.by_ref() {
        let (name, body) = part.split_once('\n').unwrap_or((part, ""));
        out.push((name.trim(), body));
    }
    out
}

/// The contents of the fenced blocks whose info string starts with `rust`.
fn rust_blocks(text: &str) -> Vec<String> {
    let mut blocks = Vec::new();
    let mut current: Option<String> = None;
    for line in text.lines() {
        match current.as_mut() {
            None if line.starts_with("```rust") => current = Some(String::new()),
            None => {}
            Some(_) if line.starts_with("```") => blocks.extend(current.take()),
            Some(block) => {
                block.push_str(line);
                block.push('\n');
            }
        }
    }
    blocks
}

/// A rustdoc block as rustdoc compiles it: `# code` lines are code, `#` alone is a blank.
fn unhide(block: &str) -> String {
    block
        .lines()
        .map(|l| match l.strip_prefix("# ") {
            Some(code) => code,
            None if l == "#" => "",
            None => l,
        })
        .collect::<Vec<_>>()
        .join("\n")
}
