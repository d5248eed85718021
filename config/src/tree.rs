//! The spanned document tree: YAML (and JSON, which is YAML flow syntax) parsed into nodes that
//! remember where they were written, so every later error can name `line:column`.

#![deny(clippy::indexing_slicing)]

use std::collections::HashMap;

use granit_parser::{Event, Parser, ScalarStyle, Span};

use crate::diag::Sink;
use crate::model::Loc;

/// Most nodes a document may expand to (aliases included): stops "billion laughs" documents.
const NODES_MAX: usize = 1_000_000;

/// One node of the document.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Node {
    /// Where the node starts.
    pub(crate) loc: Loc,
    /// What it holds.
    pub(crate) value: Value,
}

/// The content of a node.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Value {
    /// `null`, `~` or nothing.
    Null,
    /// Any other scalar, as written (after YAML escape processing).
    Scalar(Scalar),
    /// A sequence.
    Seq(Vec<Node>),
    /// A mapping with string keys, in document order, duplicates already resolved.
    Map(Vec<Entry>),
}

/// A scalar and whether it was quoted (a quoted `"3"` is a string that looks like a number).
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Scalar {
    /// The text.
    pub(crate) text: String,
    /// False for plain scalars, true for quoted and block scalars (and `!!str`).
    pub(crate) quoted: bool,
}

/// One `key: value` pair of a mapping.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Entry {
    /// The key text.
    pub(crate) key: String,
    /// Where the key was written.
    pub(crate) key_loc: Loc,
    /// The value.
    pub(crate) value: Node,
}

impl Node {
    /// A short name of the node's kind for "expected X, found Y" messages.
    pub(crate) fn kind_name(&self) -> &'static str {
        match &self.value {
            Value::Null => "null",
            Value::Scalar(s) if s.quoted => "a string",
            Value::Scalar(_) => "a scalar",
            Value::Seq(_) => "a list",
            Value::Map(_) => "a mapping",
        }
    }

    /// The node as JSON, scalars typed by YAML 1.2's core schema.
    pub(crate) fn to_json(&self) -> serde_json::Value {
        use serde_json::Value as J;
        match &self.value {
            Value::Null => J::Null,
            Value::Scalar(s) if s.quoted => J::String(s.text.clone()),
            Value::Scalar(s) => plain_to_json(&s.text),
            Value::Seq(items) => J::Array(items.iter().map(Node::to_json).collect()),
            Value::Map(entries) => J::Object(
                entries
                    .iter()
                    .map(|e| (e.key.clone(), e.value.to_json()))
                    .collect(),
            ),
        }
    }

    fn size(&self) -> usize {
        match &self.value {
            Value::Null | Value::Scalar(_) => 1,
            Value::Seq(items) => 1 + items.iter().map(Node::size).sum::<usize>(),
            Value::Map(entries) => 1 + entries.iter().map(|e| 1 + e.value.size()).sum::<usize>(),
        }
    }
}

/// A plain scalar typed by the YAML 1.2 core schema.
pub(crate) fn plain_to_json(text: &str) -> serde_json::Value {
    use serde_json::Value as J;
    match text {
        "true" | "True" | "TRUE" => return J::Bool(true),
        "false" | "False" | "FALSE" => return J::Bool(false),
        _ => {}
    }
    if let Ok(i) = text.parse::<i64>() {
        return J::from(i);
    }
    if let Ok(u) = text.parse::<u64>() {
        return J::from(u);
    }
    if looks_like_float(text)
        && let Ok(f) = text.parse::<f64>()
        && let Some(n) = serde_json::Number::from_f64(f)
    {
        return J::Number(n);
    }
    J::String(text.to_owned())
}

/// Whether `text` is a YAML 1.2 core-schema float (not `inf`/`nan`, which JSON cannot hold).
pub(crate) fn looks_like_float(text: &str) -> bool {
    let t = text.strip_prefix(['-', '+']).unwrap_or(text);
    !t.is_empty()
        && t.chars()
            .next()
            .is_some_and(|c| c.is_ascii_digit() || c == '.')
        && t.chars()
            .all(|c| c.is_ascii_digit() || matches!(c, '.' | 'e' | 'E' | '-' | '+'))
}

fn loc_of(span: &Span) -> Loc {
    Loc {
        line: u32::try_from(span.start.line()).unwrap_or(u32::MAX),
        column: u32::try_from(span.start.col() + 1).unwrap_or(u32::MAX),
    }
}

fn is_null(text: &str) -> bool {
    matches!(text, "" | "~" | "null" | "Null" | "NULL")
}

/// A collection being built.
enum Frame {
    Seq {
        loc: Loc,
        anchor: usize,
        items: Vec<Node>,
        /// The field path of this collection, for warnings.
        path: String,
    },
    Map {
        loc: Loc,
        anchor: usize,
        entries: Vec<Entry>,
        key: Option<(String, Loc)>,
        /// The field path of this collection, for warnings.
        path: String,
        /// `<<` merge values, applied when the mapping ends.
        merges: Vec<Node>,
    },
}

/// Parses one YAML (or JSON) document into a tree. Syntax errors, a second document, duplicate
/// keys (warning, the last one wins) and non-scalar keys go to `sink`.
pub(crate) fn parse(text: &str, sink: &mut Sink) -> Option<Node> {
    let mut parser = Parser::new_from_str(text);
    let mut stack: Vec<Frame> = Vec::new();
    let mut anchors: HashMap<usize, Node> = HashMap::new();
    let mut root: Option<Node> = None;
    let mut documents = 0usize;
    let mut nodes = 0usize;
    let mut failed = false;

    while let Some(next) = parser.next_event() {
        let (event, span) = match next {
            Ok(ev) => ev,
            Err(e) => {
                let m = e.marker();
                let loc = Loc {
                    line: u32::try_from(m.line()).unwrap_or(u32::MAX),
                    column: u32::try_from(m.col() + 1).unwrap_or(u32::MAX),
                };
                sink.error(loc, "", format!("syntax error: {}", e.info()));
                return None;
            }
        };
        let loc = loc_of(&span);
        let done: Option<(Node, usize)> = match event {
            Event::StreamStart | Event::StreamEnd | Event::DocumentEnd => None,
            Event::DocumentStart(..) => {
                documents += 1;
                if documents == 2 {
                    sink.error(
                        loc,
                        "",
                        "a second YAML document; a bootstrap is exactly one document",
                    );
                    failed = true;
                }
                None
            }
            Event::Scalar(value, style, anchor, tag) => {
                let is_str_tag = tag
                    .as_ref()
                    .is_some_and(|t| t.is_yaml_core_schema_tag("str"));
                let quoted = style != ScalarStyle::Plain || is_str_tag;
                let value = if !quoted && is_null(&value) {
                    Value::Null
                } else {
                    Value::Scalar(Scalar {
                        text: value.into_owned(),
                        quoted,
                    })
                };
                Some((Node { loc, value }, anchor))
            }
            Event::SequenceStart(_, anchor, _) => {
                let path = child_path(&stack);
                stack.push(Frame::Seq {
                    loc,
                    anchor,
                    path,
                    items: Vec::new(),
                });
                None
            }
            Event::MappingStart(_, anchor, _) => {
                let path = child_path(&stack);
                stack.push(Frame::Map {
                    loc,
                    anchor,
                    path,
                    entries: Vec::new(),
                    key: None,
                    merges: Vec::new(),
                });
                None
            }
            Event::SequenceEnd => match stack.pop() {
                Some(Frame::Seq {
                    loc, anchor, items, ..
                }) => Some((
                    Node {
                        loc,
                        value: Value::Seq(items),
                    },
                    anchor,
                )),
                _ => None,
            },
            Event::MappingEnd => match stack.pop() {
                Some(Frame::Map {
                    loc,
                    anchor,
                    mut entries,
                    merges,
                    ..
                }) => {
                    apply_merges(&mut entries, merges, sink);
                    Some((
                        Node {
                            loc,
                            value: Value::Map(entries),
                        },
                        anchor,
                    ))
                }
                _ => None,
            },
            Event::Alias(id) => match anchors.get(&id) {
                Some(target) => {
                    let mut node = target.clone();
                    nodes += node.size();
                    relocate_root(&mut node, loc);
                    Some((node, 0))
                }
                None => {
                    sink.error(loc, "", "alias to an unknown anchor");
                    return None;
                }
            },
            _ => None,
        };
        if nodes > NODES_MAX {
            sink.error(
                loc,
                "",
                format!("the document expands to more than {NODES_MAX} nodes (aliases included)"),
            );
            return None;
        }
        let Some((node, anchor)) = done else {
            continue;
        };
        nodes += 1;
        if anchor != 0 {
            anchors.insert(anchor, node.clone());
        }
        match stack.last_mut() {
            None => {
                if root.is_none() {
                    root = Some(node);
                }
            }
            Some(Frame::Seq { items, .. }) => items.push(node),
            Some(Frame::Map {
                entries,
                key,
                merges,
                path,
                ..
            }) => match key.take() {
                None => match node.value {
                    Value::Scalar(s) => *key = Some((s.text, node.loc)),
                    Value::Null => *key = Some((String::new(), node.loc)),
                    _ => {
                        sink.error(
                            node.loc,
                            "",
                            "a mapping key must be a plain string, not a list or mapping",
                        );
                        failed = true;
                        *key = Some((String::new(), node.loc));
                    }
                },
                Some((k, key_loc)) if k == "<<" => {
                    let _ = key_loc;
                    merges.push(node);
                }
                Some((k, key_loc)) => insert(entries, path, k, key_loc, node, sink),
            },
        }
    }
    if failed {
        return None;
    }
    if root.is_none() {
        sink.error(Loc { line: 1, column: 1 }, "", "the document is empty");
    }
    root
}

/// The field path of a collection about to be opened inside the top of `stack`.
fn child_path(stack: &[Frame]) -> String {
    match stack.last() {
        None => String::new(),
        Some(Frame::Seq { path, items, .. }) => format!("{path}[{}]", items.len()),
        Some(Frame::Map { path, key, .. }) => match key {
            Some((k, _)) if path.is_empty() => k.clone(),
            Some((k, _)) => format!("{path}.{k}"),
            None => path.clone(),
        },
    }
}

/// An alias copy reports the position of the alias, not of the anchored original.
fn relocate_root(node: &mut Node, loc: Loc) {
    node.loc = loc;
}

fn insert(
    entries: &mut Vec<Entry>,
    path: &str,
    key: String,
    key_loc: Loc,
    value: Node,
    sink: &mut Sink,
) {
    if let Some(old) = entries.iter_mut().find(|e| e.key == key) {
        let at = if path.is_empty() {
            key.clone()
        } else {
            format!("{path}.{key}")
        };
        sink.warn(
            key_loc,
            &at,
            format!(
                "duplicate key `{key}` (first at line {}:{}); the last one wins",
                old.key_loc.line, old.key_loc.column
            ),
        );
        old.key_loc = key_loc;
        old.value = value;
    } else {
        entries.push(Entry {
            key,
            key_loc,
            value,
        });
    }
}

/// YAML 1.1 merge keys (`<<: *base`): keys not written in the mapping itself are taken from
/// the merged mapping(s).
fn apply_merges(entries: &mut Vec<Entry>, merges: Vec<Node>, sink: &mut Sink) {
    for merge in merges {
        let sources = match merge.value {
            Value::Map(m) => vec![m],
            Value::Seq(items) => items
                .into_iter()
                .filter_map(|n| match n.value {
                    Value::Map(m) => Some(m),
                    _ => None,
                })
                .collect(),
            _ => {
                sink.error(merge.loc, "", "`<<` merges a mapping or a list of mappings");
                continue;
            }
        };
        for source in sources {
            for e in source {
                if !entries.iter().any(|x| x.key == e.key) {
                    entries.push(e);
                }
            }
        }
    }
}

#[cfg(test)]
#[allow(clippy::indexing_slicing)]
mod tests {
    use super::*;

    fn parse_ok(text: &str) -> Node {
        let mut sink = Sink::new("t");
        let node = parse(text, &mut sink);
        assert!(sink.errors.is_empty(), "{:?}", sink.errors);
        node.expect("a document")
    }

    #[test]
    fn yaml_positions() {
        let n = parse_ok("a:\n  b: 1\n  c: [x, \"y\"]\n");
        let Value::Map(top) = &n.value else { panic!() };
        assert_eq!(top[0].key, "a");
        assert_eq!(top[0].key_loc, Loc { line: 1, column: 1 });
        let Value::Map(inner) = &top[0].value.value else {
            panic!()
        };
        assert_eq!(inner[1].key_loc, Loc { line: 3, column: 3 });
        assert_eq!(inner[1].value.loc, Loc { line: 3, column: 6 });
        assert_eq!(
            n.to_json(),
            serde_json::json!({"a": {"b": 1, "c": ["x", "y"]}})
        );
    }

    #[test]
    fn json_is_yaml() {
        let text = "{\n\t\"a\": 1,\n  \"b\":\"x\\ny\\u00e9\",\"c\": [true, null, 1.5]\n}";
        let n = parse_ok(text);
        assert_eq!(
            n.to_json(),
            serde_json::json!({"a": 1, "b": "x\nyé", "c": [true, null, 1.5]})
        );
        let Value::Map(top) = &n.value else { panic!() };
        assert_eq!(top[1].key_loc, Loc { line: 3, column: 3 });
    }

    #[test]
    fn duplicate_keys_warn_last_wins() {
        let mut sink = Sink::new("t");
        let n = parse("a: 1\nb: 2\na: 3\n", &mut sink).expect("doc");
        assert_eq!(n.to_json(), serde_json::json!({"a": 3, "b": 2}));
        assert_eq!(sink.warnings.len(), 1);
        assert_eq!(sink.warnings[0].line, 3);
    }

    #[test]
    fn anchors_and_merge_keys() {
        let n = parse_ok("base: &b {x: 1, y: 2}\nother:\n  <<: *b\n  y: 3\nlist: [*b]\n");
        assert_eq!(
            n.to_json(),
            serde_json::json!({"base": {"x": 1, "y": 2}, "other": {"y": 3, "x": 1}, "list": [{"x": 1, "y": 2}]})
        );
    }

    #[test]
    fn errors_not_panics() {
        for text in [
            "",
            "a: [",
            "{",
            "a: *nope",
            "- a\nb: c",
            "--- a\n--- b\n",
            "? [a]\n: b",
            "\u{0}",
            "a: 'x",
            "\t\ta: b",
        ] {
            let mut sink = Sink::new("t");
            let _ = parse(text, &mut sink);
        }
    }

    #[test]
    fn alias_bomb_is_refused() {
        let mut text = String::from("a0: &a0 [x, x, x, x, x, x, x, x, x, x]\n");
        for i in 1..12 {
            let p = i - 1;
            text.push_str(&format!(
                "a{i}: &a{i} [*a{p}, *a{p}, *a{p}, *a{p}, *a{p}, *a{p}, *a{p}, *a{p}, *a{p}, *a{p}]\n"
            ));
        }
        let mut sink = Sink::new("t");
        assert!(parse(&text, &mut sink).is_none());
        assert!(sink.errors[0].message.contains("expands"));
    }
}
