//! The layering ARCHITECTURE.md promises, checked on the source text so that a change which
//! breaks it fails here instead of in a later review: no import cycle between top-level
//! modules, `ca/` depends on nothing else in the crate, and only `store/` knows diesel.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

fn source_files(dir: &Path, out: &mut Vec<PathBuf>) {
    let mut entries: Vec<_> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    entries.sort();
    for path in entries {
        if path.is_dir() {
            source_files(&path, out);
        } else if path.extension().is_some_and(|e| e == "rs") {
            out.push(path);
        }
    }
}

/// Every non-test source file of the library with its top-level module (`src/app.rs` → `app`,
/// `src/store/audit.rs` → `store`). Unit-test code (files named `tests.rs` or
/// `test_support.rs`, and everything after a `#[cfg(test)]` line) is left out: tests may reach
/// across layers.
fn library_sources() -> Vec<(String, PathBuf, String)> {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut files = Vec::new();
    source_files(&src, &mut files);
    files
        .into_iter()
        .filter_map(|path| {
            let rel = path.strip_prefix(&src).unwrap().to_path_buf();
            let first = rel.components().next()?.as_os_str().to_str()?.to_owned();
            let module = first.trim_end_matches(".rs").to_owned();
            if module == "main" || module == "lib" {
                return None;
            }
            let name = rel.file_name()?.to_str()?;
            if name == "tests.rs" || name == "test_support.rs" {
                return None;
            }
            let text = std::fs::read_to_string(&path).unwrap();
            let code = match text.find("#[cfg(test)]") {
                Some(at) => text[..at].to_owned(),
                None => text,
            };
            let code: String = code
                .lines()
                .filter(|l| !l.trim_start().starts_with("//"))
                .collect::<Vec<_>>()
                .join("\n");
            Some((module, rel, code))
        })
        .collect()
}

fn ident_at(s: &str) -> &str {
    let end = s
        .find(|c: char| !(c.is_alphanumeric() || c == '_'))
        .unwrap_or(s.len());
    &s[..end]
}

/// The top-level modules a piece of code names through `crate::x` or `use crate::{x, y::z}`.
fn crate_references(code: &str) -> BTreeSet<String> {
    let mut found = BTreeSet::new();
    for (at, _) in code.match_indices("crate::") {
        let rest = &code[at + "crate::".len()..];
        if let Some(group) = rest.strip_prefix('{') {
            let mut depth = 0;
            let mut start = true;
            for (i, c) in group.char_indices() {
                match c {
                    '{' => depth += 1,
                    '}' if depth == 0 => break,
                    '}' => depth -= 1,
                    ',' if depth == 0 => start = true,
                    c if c.is_whitespace() => {}
                    _ if start && depth == 0 => {
                        found.insert(ident_at(&group[i..]).to_owned());
                        start = false;
                    }
                    _ => {}
                }
            }
        } else {
            found.insert(ident_at(rest).to_owned());
        }
    }
    found.retain(|m| !m.is_empty());
    found
}

fn module_graph() -> BTreeMap<String, BTreeSet<String>> {
    let mut graph: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    for (module, _, code) in library_sources() {
        let refs = crate_references(&code);
        let edges = graph.entry(module.clone()).or_default();
        edges.extend(refs.into_iter().filter(|r| *r != module));
    }
    graph
}

/// Strongly connected components with more than one module (Tarjan).
fn cycles(graph: &BTreeMap<String, BTreeSet<String>>) -> Vec<Vec<String>> {
    struct Walk<'a> {
        graph: &'a BTreeMap<String, BTreeSet<String>>,
        index: BTreeMap<&'a str, usize>,
        low: BTreeMap<&'a str, usize>,
        stack: Vec<&'a str>,
        on_stack: BTreeSet<&'a str>,
        found: Vec<Vec<String>>,
    }
    fn visit<'a>(w: &mut Walk<'a>, v: &'a str) {
        let i = w.index.len();
        w.index.insert(v, i);
        w.low.insert(v, i);
        w.stack.push(v);
        w.on_stack.insert(v);
        for u in w.graph.get(v).into_iter().flatten() {
            let u = u.as_str();
            if !w.graph.contains_key(u) {
                continue;
            }
            if !w.index.contains_key(u) {
                visit(w, u);
                let low = w.low[v].min(w.low[u]);
                w.low.insert(v, low);
            } else if w.on_stack.contains(u) {
                let low = w.low[v].min(w.index[u]);
                w.low.insert(v, low);
            }
        }
        if w.low[v] == w.index[v] {
            let mut component = Vec::new();
            while let Some(u) = w.stack.pop() {
                w.on_stack.remove(u);
                component.push(u.to_owned());
                if u == v {
                    break;
                }
            }
            if component.len() > 1 {
                component.sort();
                w.found.push(component);
            }
        }
    }
    let mut w = Walk {
        graph,
        index: BTreeMap::new(),
        low: BTreeMap::new(),
        stack: Vec::new(),
        on_stack: BTreeSet::new(),
        found: Vec::new(),
    };
    for v in graph.keys() {
        if !w.index.contains_key(v.as_str()) {
            visit(&mut w, v);
        }
    }
    w.found
}

#[test]
fn top_level_modules_import_each_other_without_cycles() {
    let graph = module_graph();
    assert!(
        graph.len() > 10,
        "the source walk found the modules: {graph:?}"
    );
    let found = cycles(&graph);
    assert!(
        found.is_empty(),
        "modules that import each other in a circle: {found:?}"
    );
}

#[test]
fn ca_depends_on_nothing_else_in_the_crate() {
    let graph = module_graph();
    let outside: Vec<_> = graph["ca"].iter().collect();
    assert!(outside.is_empty(), "ca/ imports {outside:?}");
}

#[test]
fn only_store_knows_diesel() {
    let users: Vec<_> = library_sources()
        .into_iter()
        .filter(|(module, _, code)| module != "store" && code.contains("diesel"))
        .map(|(_, path, _)| path)
        .collect();
    assert!(users.is_empty(), "diesel outside store/: {users:?}");
}

#[test]
fn the_cycle_finder_finds_a_cycle() {
    let mut graph = BTreeMap::new();
    graph.insert("a".to_owned(), BTreeSet::from(["b".to_owned()]));
    graph.insert("b".to_owned(), BTreeSet::from(["c".to_owned()]));
    graph.insert("c".to_owned(), BTreeSet::from(["a".to_owned()]));
    graph.insert("d".to_owned(), BTreeSet::from(["a".to_owned()]));
    assert_eq!(cycles(&graph), vec![vec!["a", "b", "c"]]);
    assert_eq!(
        crate_references(
            "use crate::{audit::{Actor, NewEvent}, store::Store};\nlet x = crate::ca::y;"
        ),
        BTreeSet::from(["audit".to_owned(), "store".to_owned(), "ca".to_owned()])
    );
}

#[test]
fn certificate_and_video_call_statuses_are_spelled_only_in_their_enums() {
    // The statuses whose spelling is theirs alone; `active`, `revoked`, `expired`, `waiting`
    // and `done` are also words of other things (enrolments, acceptance records, page ids).
    let own = [
        "\"signing\"",
        "\"pending_acceptance\"",
        "\"suspended\"",
        "\"claimed\"",
    ];
    let homes = [
        Path::new("states/certificate.rs"),
        Path::new("states/video_call.rs"),
    ];
    let strays: Vec<_> = library_sources()
        .into_iter()
        .filter(|(_, path, _)| !homes.contains(&path.as_path()))
        .flat_map(|(_, path, code)| {
            own.iter()
                .filter(|s| code.contains(*s))
                .map(|s| format!("{} {s}", path.display()))
                .collect::<Vec<_>>()
        })
        .collect();
    assert!(
        strays.is_empty(),
        "status strings outside their enum: {strays:?}"
    );
}
