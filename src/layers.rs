//! The crate's layering, checked: the modules of `src/` (the library) and the `crate::` paths by
//! which each one uses the others form no cycle, and every module uses only modules of lower
//! layers. docs/architecture.md draws the same table.

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

/// Each module with its layer: a module may use only modules of a lower layer. Metrics stand
/// apart, just above the bottom, so that every layer may record.
const LAYERS: &[(&str, u8)] = &[
    ("error", 0),
    ("config", 0),
    ("dynamodb_errors", 0),
    ("logging", 0),
    ("metrics", 1),
    ("model", 2),
    ("idempotency", 3),
    ("store", 4),
    ("auth", 5),
    ("edge", 6),
];

/// Which module uses which, by module (a file of `src/` or a folder of it).
type Graph = BTreeMap<String, BTreeSet<String>>;

/// The graph of the library's modules: `src/` without `main.rs`, `lib.rs`, `bin/` and this check.
fn module_graph(src: &Path) -> Graph {
    let mut graph = Graph::new();
    let mut pending = vec![src.to_path_buf()];
    while let Some(dir) = pending.pop() {
        for entry in std::fs::read_dir(&dir).expect("read src") {
            let path = entry.expect("dir entry").path();
            let relative = path.strip_prefix(src).expect("under src");
            let top = relative
                .components()
                .next()
                .and_then(|c| c.as_os_str().to_str())
                .expect("a UTF-8 name")
                .trim_end_matches(".rs")
                .to_owned();
            if matches!(top.as_str(), "main" | "lib" | "bin" | "layers") {
                continue;
            }
            if path.is_dir() {
                pending.push(path);
            } else if path.extension().is_some_and(|e| e == "rs") {
                let source = std::fs::read_to_string(&path).expect("read source");
                let used = used_modules(&source);
                let entry = graph.entry(top.clone()).or_default();
                entry.extend(used.into_iter().filter(|m| *m != top));
            }
        }
    }
    graph
}

/// The top-level modules a source file names through `crate::` paths (`use crate::a::X`,
/// `use crate::{a::X, b}`, `crate::a::f()`), outside comments and string literals.
fn used_modules(source: &str) -> BTreeSet<String> {
    let code = code_only(source);
    let mut used = BTreeSet::new();
    let mut rest = code.as_str();
    while let Some(at) = rest.find("crate::") {
        let before = rest[..at].chars().next_back();
        rest = &rest[at + "crate::".len()..];
        if before.is_some_and(|c| c.is_alphanumeric() || c == '_' || c == '$') {
            continue;
        }
        let path = rest.trim_start();
        match path.strip_prefix('{') {
            Some(group) => {
                let mut depth = 0;
                let mut item_start = true;
                for (i, c) in group.char_indices() {
                    match c {
                        '{' => depth += 1,
                        '}' if depth == 0 => break,
                        '}' => depth -= 1,
                        ',' if depth == 0 => item_start = true,
                        c if item_start && !c.is_whitespace() => {
                            used.insert(identifier(&group[i..]));
                            item_start = false;
                        }
                        _ => {}
                    }
                }
            }
            None => {
                used.insert(identifier(path));
            }
        }
    }
    used.remove("");
    used.remove("self");
    used
}

fn identifier(text: &str) -> String {
    text.chars()
        .take_while(|c| c.is_alphanumeric() || *c == '_')
        .collect()
}

/// The source with comments and the contents of string literals blanked.
fn code_only(source: &str) -> String {
    let chars: Vec<char> = source.chars().collect();
    let mut out = String::with_capacity(source.len());
    let mut i = 0;
    while i < chars.len() {
        match (chars[i], chars.get(i + 1).copied()) {
            ('/', Some('/')) => {
                while i < chars.len() && chars[i] != '\n' {
                    i += 1;
                }
            }
            ('/', Some('*')) => {
                i += 2;
                while i < chars.len() && !(chars[i] == '*' && chars.get(i + 1) == Some(&'/')) {
                    i += 1;
                }
                i += 2;
            }
            ('r', Some('#' | '"')) if !continues_identifier(&out) => {
                let hashes = chars[i + 1..].iter().take_while(|c| **c == '#').count();
                if chars.get(i + 1 + hashes) != Some(&'"') {
                    out.push(chars[i]);
                    i += 1;
                    continue;
                }
                i += hashes + 2;
                let closing: Vec<char> = std::iter::once('"')
                    .chain(std::iter::repeat_n('#', hashes))
                    .collect();
                while i < chars.len() && !chars[i..].starts_with(&closing) {
                    i += 1;
                }
                i += closing.len();
                out.push_str("\"\"");
            }
            ('"', _) => {
                i += 1;
                while i < chars.len() && chars[i] != '"' {
                    i += if chars[i] == '\\' { 2 } else { 1 };
                }
                i += 1;
                out.push_str("\"\"");
            }
            // A char literal ('"', '\'' …); a lifetime ('a) is left as it is.
            ('\'', Some('\\')) => {
                i += 2;
                while i < chars.len() && chars[i] != '\'' {
                    i += 1;
                }
                i += 1;
            }
            ('\'', Some(_)) if chars.get(i + 2) == Some(&'\'') => i += 3,
            (c, _) => {
                out.push(c);
                i += 1;
            }
        }
    }
    out
}

fn continues_identifier(text: &str) -> bool {
    text.chars()
        .next_back()
        .is_some_and(|c| c.is_alphanumeric() || c == '_')
}

/// A cycle of the graph, as the path that closes it (`[a, b, a]`), or `None`.
fn find_cycle(graph: &Graph) -> Option<Vec<String>> {
    #[derive(Clone, Copy, PartialEq)]
    enum Mark {
        OnPath,
        Done,
    }
    fn visit<'g>(
        node: &'g str,
        graph: &'g Graph,
        marks: &mut BTreeMap<&'g str, Mark>,
        path: &mut Vec<&'g str>,
    ) -> Option<Vec<String>> {
        match marks.get(node) {
            Some(Mark::Done) => return None,
            Some(Mark::OnPath) => {
                let start = path.iter().position(|n| *n == node).expect("on the path");
                let mut cycle: Vec<String> = path[start..].iter().map(|n| n.to_string()).collect();
                cycle.push(node.to_owned());
                return Some(cycle);
            }
            None => {}
        }
        marks.insert(node, Mark::OnPath);
        path.push(node);
        for next in graph.get(node).into_iter().flatten() {
            if let Some(cycle) = visit(next, graph, marks, path) {
                return Some(cycle);
            }
        }
        path.pop();
        marks.insert(node, Mark::Done);
        None
    }
    let mut marks = BTreeMap::new();
    graph
        .keys()
        .find_map(|node| visit(node, graph, &mut marks, &mut Vec::new()))
}

fn graph_of(edges: &[(&str, &str)]) -> Graph {
    let mut graph = Graph::new();
    for (from, to) in edges {
        graph
            .entry((*from).to_owned())
            .or_default()
            .insert((*to).to_owned());
    }
    graph
}

#[test]
fn the_modules_form_no_cycle_and_keep_to_their_layers() {
    let graph = module_graph(&Path::new(env!("CARGO_MANIFEST_DIR")).join("src"));
    assert!(
        graph.contains_key("store") && graph.contains_key("edge"),
        "{graph:?}"
    );
    if let Some(cycle) = find_cycle(&graph) {
        panic!("module cycle: {}", cycle.join(" → "));
    }
    let layer = |module: &str| LAYERS.iter().find(|(m, _)| *m == module).map(|(_, l)| *l);
    for (module, used) in &graph {
        let Some(own) = layer(module) else {
            panic!("module {module} has no layer: add it to LAYERS and docs/architecture.md");
        };
        for other in used {
            let theirs = layer(other).unwrap_or(u8::MAX);
            assert!(
                theirs < own,
                "{module} (layer {own}) uses {other} (layer {theirs}): a module may use only \
                 lower layers (docs/architecture.md)"
            );
        }
    }
}

#[test]
fn a_cycle_is_found_and_named() {
    let cycle = find_cycle(&graph_of(&[
        ("config", "metrics"),
        ("metrics", "store"),
        ("store", "config"),
        ("edge", "store"),
    ]));
    assert_eq!(
        cycle.expect("a cycle"),
        ["config", "metrics", "store", "config"]
    );
    let two = find_cycle(&graph_of(&[
        ("model", "idempotency"),
        ("idempotency", "model"),
    ]));
    assert_eq!(
        two.expect("a cycle"),
        ["idempotency", "model", "idempotency"]
    );
}

#[test]
fn a_layered_graph_has_no_cycle() {
    // A diamond: two paths to one module are not a cycle.
    let graph = graph_of(&[
        ("edge", "auth"),
        ("edge", "store"),
        ("auth", "store"),
        ("store", "model"),
        ("auth", "model"),
    ]);
    assert_eq!(find_cycle(&graph), None);
}

#[test]
fn crate_paths_are_read_in_every_form() {
    let source = r##"
        use crate::error::{ApiError, StoreError};
        use crate::{model::{self, Log}, idempotency::RequestToken,
            config};
        use super::request::MAX;
        fn f() { let _ = crate::metrics::millis(x); let _ = other_crate::auth::x; }
        // use crate::edge::App;
        /* crate::layers */
        const S: &str = "crate::store";
        const R: &str = r#"crate::store "quoted""#;
        const C: char = '"'; fn g<'a>(x: &'a str) { crate::dynamodb_errors::X; }
    "##;
    let used: Vec<String> = used_modules(source).into_iter().collect();
    assert_eq!(
        used,
        [
            "config",
            "dynamodb_errors",
            "error",
            "idempotency",
            "metrics",
            "model"
        ]
    );
}
