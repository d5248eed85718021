//! Table tests of the path rules: each rule alone (the cases of Envoy's `path_utility_test`
//! plus the edges of this implementation), their order together, the verdicts, and how the
//! runtime resolves unwritten options.

use std::collections::BTreeMap;
use std::sync::Arc;

use sluice_config::model::{EscapedSlashesAction, PathOptions};

use super::*;
use crate::layered_runtime::{Entry, Layer};

fn rules(escaped_slashes: EscapedSlashes, normalize: bool, merge_slashes: bool) -> PathRules {
    PathRules {
        escaped_slashes,
        normalize,
        merge_slashes,
        ..PathRules::NONE
    }
}

/// The verdict and the path the request continues with.
fn run(rules: &PathRules, path: &str) -> (Verdict, String) {
    let mut n = Normalizer::new();
    let verdict = n.apply(rules, path.as_bytes());
    let out = match verdict {
        Verdict::Rewritten | Verdict::Redirect => n.path(),
        Verdict::Unchanged | Verdict::Reject => path.as_bytes(),
    };
    (verdict, String::from_utf8_lossy(out).into_owned())
}

fn normalized(path: &str) -> (Verdict, String) {
    run(&rules(EscapedSlashes::Keep, true, false), path)
}

#[test]
fn normal_paths_are_not_copied() {
    let r = rules(EscapedSlashes::Forward, true, true);
    for path in [
        "/",
        "/xyz",
        "/x/y/z",
        "/a.b/c.d",
        "/a-b_c~d/!$&'()*+,;=:@[]",
        "/x?a=/../b&c=%2F//",
        "/A/B/C",
        "/a/b/",
        "/a/.b/..c/...",
    ] {
        assert_eq!(
            run(&r, path),
            (Verdict::Unchanged, path.to_owned()),
            "{path}"
        );
    }
}

#[test]
fn dot_segments_are_removed() {
    for (path, want) in [
        ("/a/b/../c", "/a/c"),
        ("/a/b/./c", "/a/b/c"),
        ("a/b/../c", "/a/c"),
        ("/a/b/../../../../c", "/c"),
        ("/a/..\\c", "/c"),
        ("/a/b/%2E%2E/c", "/a/c"),
        ("/a/b/%2e%2e/c", "/a/c"),
        ("/a/b/%2E./c", "/a/c"),
        ("/a/b/%2E/c", "/a/b/c"),
        ("..", "/"),
        ("/../a/b", "/a/b"),
        ("/./a/b", "/a/b"),
        ("/a/b/..", "/a/"),
        ("/a/b/.", "/a/b/"),
        ("/a%2eb/%2ehidden", "/a.b/.hidden"),
        ("/a/b/../c?x=/../y", "/a/c?x=/../y"),
    ] {
        assert_eq!(
            normalized(path),
            (Verdict::Rewritten, want.to_owned()),
            "{path}"
        );
    }
}

#[test]
fn dot_segments_with_parameters_are_removed() {
    for (path, want) in [
        ("/xyz/..;foo=bar/abc", "/abc"),
        ("/..;foo=bar/abc", "/abc"),
        ("/xyz/..;foo=bar", "/"),
        ("/xyz/.;foo=bar/abc", "/xyz/abc"),
        ("/.;foo=bar/abc", "/abc"),
        ("/xyz/.;foo=bar", "/xyz/"),
        ("/xyz/..;foo=bar/.;v1=2,v2=3/abc", "/abc"),
        ("/..;foo=bar/abc/.;mmm", "/abc/"),
        ("/xyz/..;foo=bar/.;fff=zzz?blah=woops", "/?blah=woops"),
        (
            "/xyz/..;foo=bar/.;fff=zzz/remain;blah-bluh?query",
            "/remain;blah-bluh?query",
        ),
    ] {
        assert_eq!(
            normalized(path),
            (Verdict::Rewritten, want.to_owned()),
            "{path}"
        );
    }
    // Without the runtime guard the parameters make them ordinary names.
    let keep = PathRules {
        strip_dot_parameters: false,
        ..rules(EscapedSlashes::Keep, true, false)
    };
    assert_eq!(
        run(&keep, "/xyz/..;foo=bar/abc"),
        (Verdict::Unchanged, "/xyz/..;foo=bar/abc".to_owned())
    );
    // Not a dot segment: untouched.
    assert_eq!(
        normalized("/xyz/...;foo"),
        (Verdict::Unchanged, "/xyz/...;foo".to_owned())
    );
}

#[test]
fn escapes_of_unreserved_characters_are_decoded_and_others_kept() {
    for (path, want, verdict) in [
        ("/%41%7a%30%2D%5f%7E", "/Az0-_~", Verdict::Rewritten),
        ("/%c0%af", "/%c0%af", Verdict::Unchanged),
        ("/%5c%25", "/%5c%25", Verdict::Unchanged),
        ("/a/%2F%2f/c", "/a/%2F%2f/c", Verdict::Unchanged),
        ("/100%", "/100%", Verdict::Unchanged),
        ("/a%zz%4", "/a%zz%4", Verdict::Unchanged),
        ("/%%41", "/%A", Verdict::Rewritten),
    ] {
        assert_eq!(normalized(path), (verdict, want.to_owned()), "{path}");
    }
}

#[test]
fn bytes_not_allowed_in_a_path_are_escaped() {
    assert_eq!(
        normalized("/a b\"<>^`{|}\x7f"),
        (
            Verdict::Rewritten,
            "/a%20b%22%3C%3E%5E%60%7B%7C%7D%7F".to_owned()
        )
    );
    let mut n = Normalizer::new();
    let r = rules(EscapedSlashes::Keep, true, false);
    assert_eq!(n.apply(&r, "/caf\u{e9}".as_bytes()), Verdict::Rewritten);
    assert_eq!(n.path(), b"/caf%C3%A9");
}

#[test]
fn invalid_paths_are_rejected() {
    for path in [
        "/xyz/.%00../abc",
        "/xyz/%00.%00./abc",
        "/xyz/AAAAA%%0000/abc",
        "/a\0b",
        "/a#fragment",
    ] {
        assert_eq!(normalized(path).0, Verdict::Reject, "{path:?}");
    }
}

#[test]
fn slashes_are_merged() {
    let merge = rules(EscapedSlashes::Keep, false, true);
    for (path, want) in [
        ("a//b/c", "a/b/c"),
        ("/a//b/c/", "/a/b/c/"),
        ("a//b/c/", "a/b/c/"),
        ("//a/b/c", "/a/b/c"),
        ("/a/b/c//", "/a/b/c/"),
        ("/a////b/c", "/a/b/c"),
        ("/a//b?a=///c", "/a/b?a=///c"),
        ("/a//b?", "/a/b?"),
        ("//a/?b", "/a/?b"),
    ] {
        assert_eq!(
            run(&merge, path),
            (Verdict::Rewritten, want.to_owned()),
            "{path}"
        );
    }
    for path in ["/a", "/a/b?x=//", "//", ""] {
        assert_eq!(
            run(&merge, path),
            (Verdict::Unchanged, path.to_owned()),
            "{path}"
        );
    }
}

#[test]
fn escaped_slashes_follow_the_action() {
    let forward = rules(EscapedSlashes::Forward, false, false);
    for (path, want) in [
        ("%2f%2F", "//"),
        ("/a%2Fb%2fc/", "/a/b/c/"),
        ("%%2fa/", "%/a/"),
        ("%2%2fa/", "%2/a/"),
        ("%5c%5C", "\\\\"),
        ("/a%5Cb%5cc/", "/a\\b\\c/"),
        (
            "%2fa%5Cb%2fc%5c?%2fabcd%5C%%2f%",
            "/a\\b/c\\?%2fabcd%5C%%2f%",
        ),
    ] {
        assert_eq!(
            run(&forward, path),
            (Verdict::Rewritten, want.to_owned()),
            "{path}"
        );
    }
    for path in ["%2b", "/a/b/c", "%2", "%", "/abc%2", "foo%", "/a?%2F"] {
        assert_eq!(
            run(&forward, path),
            (Verdict::Unchanged, path.to_owned()),
            "{path}"
        );
    }
    let path = "/a%2Fb";
    assert_eq!(
        run(&rules(EscapedSlashes::Keep, false, false), path),
        (Verdict::Unchanged, path.to_owned())
    );
    assert_eq!(
        run(&rules(EscapedSlashes::Reject, true, true), path).0,
        Verdict::Reject
    );
    assert_eq!(
        run(&rules(EscapedSlashes::Redirect, false, false), path),
        (Verdict::Redirect, "/a/b".to_owned())
    );
    // Without an escaped slash, the redirect action changes nothing about the verdict.
    assert_eq!(
        run(&rules(EscapedSlashes::Redirect, true, false), "/a/../b"),
        (Verdict::Rewritten, "/b".to_owned())
    );
}

#[test]
fn rules_apply_in_envoys_order() {
    // Unescaped first, so the slashes take part in normalization and merging.
    let all = rules(EscapedSlashes::Forward, true, true);
    assert_eq!(
        run(&all, "/x/%2E%2e/z%2f%2Fabc%5C../def"),
        (Verdict::Rewritten, "/z/def".to_owned())
    );
    // `..` after `//` climbs out of the empty segment only: merging comes last.
    assert_eq!(
        run(&all, "//a/./b//../c?q=//"),
        (Verdict::Rewritten, "/a/b/c?q=//".to_owned())
    );
    // The redirect carries the path after every rule.
    let redirect = rules(EscapedSlashes::Redirect, true, true);
    assert_eq!(
        run(&redirect, "/a%2F%2F../b//c"),
        (Verdict::Redirect, "/a/b/c".to_owned())
    );
}

#[test]
fn a_normalizer_forgets_the_previous_request() {
    let mut n = Normalizer::new();
    let r = rules(EscapedSlashes::Keep, true, true);
    assert_eq!(n.apply(&r, b"/a/../b"), Verdict::Rewritten);
    assert_eq!(n.rewritten(), Some(&b"/b"[..]));
    assert_eq!(n.apply(&r, b"/c"), Verdict::Unchanged);
    assert_eq!(n.rewritten(), None);
    assert_eq!(n.apply(&r, b"/a/../b"), Verdict::Rewritten);
    n.clear();
    assert_eq!(n.rewritten(), None);
}

fn runtime(values: &[(&str, &str)]) -> Runtime {
    let values: BTreeMap<String, Entry> = values
        .iter()
        .map(|(k, v)| ((*k).to_owned(), Entry::parse(v)))
        .collect();
    Runtime::new(vec![Arc::new(Layer::new("static", values))])
}

#[test]
fn the_runtime_decides_what_the_config_leaves_open() {
    let unset = PathOptions::default();
    let empty = runtime(&[]);
    assert_eq!(PathRules::resolve(&unset, &empty, 7), PathRules::NONE);
    // Envoy's fragment check is the one rule on by default.
    assert!(PathRules::NONE.is_active());
    let nothing = PathRules {
        fragment: Fragment::Keep,
        ..PathRules::NONE
    };
    assert!(!nothing.is_active());

    let on = runtime(&[
        (NORMALIZE_PATH_KEY, "100"),
        (ESCAPED_SLASHES_ACTION_KEY, "3"),
        (STRIP_DOT_PARAMETERS_KEY, "false"),
    ]);
    let resolved = PathRules::resolve(&unset, &on, 7);
    assert!(resolved.normalize && !resolved.strip_dot_parameters);
    assert_eq!(resolved.escaped_slashes, EscapedSlashes::Redirect);
    for (value, action) in [
        ("0", EscapedSlashes::Keep),
        ("1", EscapedSlashes::Keep),
        ("2", EscapedSlashes::Reject),
        ("4", EscapedSlashes::Forward),
        ("9", EscapedSlashes::Keep),
    ] {
        let r = runtime(&[(ESCAPED_SLASHES_ACTION_KEY, value)]);
        assert_eq!(
            PathRules::resolve(&unset, &r, 7).escaped_slashes,
            action,
            "{value}"
        );
    }

    // What the config writes wins over the runtime's default for it.
    let written = PathOptions {
        normalize_path: Some(false),
        merge_slashes: true,
        escaped_slashes: EscapedSlashesAction::RejectRequest,
    };
    let resolved = PathRules::resolve(&written, &on, 7);
    assert!(!resolved.normalize && resolved.merge_slashes);
    assert_eq!(resolved.escaped_slashes, EscapedSlashes::Reject);

    // The sampling key turns the action off for a connection manager that draws above it.
    let sampled = runtime(&[(ESCAPED_SLASHES_ENABLED_KEY, "50")]);
    assert_eq!(
        PathRules::resolve(&written, &sampled, 49).escaped_slashes,
        EscapedSlashes::Reject
    );
    assert_eq!(
        PathRules::resolve(&written, &sampled, 50).escaped_slashes,
        EscapedSlashes::Keep
    );
    // A percentage in between draws too.
    let half = runtime(&[(NORMALIZE_PATH_KEY, "50")]);
    assert!(PathRules::resolve(&unset, &half, 149).normalize);
    assert!(!PathRules::resolve(&unset, &half, 150).normalize);
}

/// Every path up to five bytes long over an alphabet of the bytes the rules care about.
fn small_paths() -> Vec<Vec<u8>> {
    const ALPHABET: &[u8] = b"/.a%2eEfF5c\\;?#\0 ";
    let mut all = vec![Vec::new()];
    let mut last = vec![Vec::new()];
    for _ in 0..5 {
        last = last
            .iter()
            .flat_map(|p: &Vec<u8>| {
                ALPHABET.iter().map(move |&b| {
                    let mut next = p.clone();
                    next.push(b);
                    next
                })
            })
            .collect();
        all.extend(last.iter().cloned());
    }
    all
}

#[test]
fn the_quick_scan_never_misses_a_change() {
    let mut out = Vec::new();
    for path in small_paths() {
        out.clear();
        let is_valid = canonicalize_path(&path, &mut out);
        if !may_canonicalize(&path) {
            assert!(
                is_valid && out == path,
                "{:?}",
                String::from_utf8_lossy(&path)
            );
        }
        // Whatever comes in, what goes out is a rooted path of path characters only.
        assert_eq!(out.first(), Some(&b'/'));
        assert!(
            out.iter().all(|&b| matches!(
                class(b),
                Class::Pass | Class::Unreserved | Class::Dot | Class::Percent
            )),
            "{:?} -> {:?}",
            String::from_utf8_lossy(&path),
            String::from_utf8_lossy(&out)
        );
    }
}

#[test]
fn every_rule_copes_with_any_path() {
    let all = rules(EscapedSlashes::Forward, true, true);
    let mut n = Normalizer::new();
    for path in small_paths() {
        match n.apply(&all, &path) {
            Verdict::Rewritten => {
                let (p, _) = split_query(n.path());
                assert!(
                    !p.windows(2).any(|w| w == b"//") || p == b"//",
                    "{:?} -> {:?}",
                    String::from_utf8_lossy(&path),
                    String::from_utf8_lossy(n.path())
                );
            }
            Verdict::Unchanged | Verdict::Reject => {}
            Verdict::Redirect => panic!("the forward action never redirects"),
        }
    }
}

#[test]
fn a_fragment_is_refused_or_by_runtime_stripped_or_kept() {
    let unset = PathOptions::default();
    let reject = PathRules::resolve(&unset, &runtime(&[]), 7);
    assert_eq!(run(&reject, "/a#b").0, Verdict::Reject);
    assert_eq!(run(&reject, "/a?q=1").0, Verdict::Unchanged);
    let strip = PathRules::resolve(&unset, &runtime(&[(REJECT_FRAGMENT_KEY, "false")]), 7);
    assert_eq!(strip.fragment, Fragment::Strip);
    assert_eq!(
        run(&strip, "/a/b?q#frag"),
        (Verdict::Rewritten, "/a/b?q".into())
    );
    let keep = PathRules::resolve(
        &unset,
        &runtime(&[
            (REJECT_FRAGMENT_KEY, "false"),
            (STRIP_FRAGMENT_KEY, "false"),
        ]),
        7,
    );
    assert_eq!(keep.fragment, Fragment::Keep);
    assert_eq!(run(&keep, "/a#b").0, Verdict::Unchanged);
}
