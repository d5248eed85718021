//! "did you mean `X`?": the nearest candidate by edit distance.

/// Levenshtein distance between two strings, by chars.
pub(crate) fn edit_distance(a: &str, b: &str) -> usize {
    let b: Vec<char> = b.chars().collect();
    let mut prev: Vec<usize> = (0..=b.len()).collect();
    let mut cur = vec![0; b.len() + 1];
    for (i, ca) in a.chars().enumerate() {
        cur[0] = i + 1;
        for (j, cb) in b.iter().enumerate() {
            let cost = usize::from(ca != *cb);
            cur[j + 1] = (prev[j] + cost).min(prev[j + 1] + 1).min(cur[j] + 1);
        }
        std::mem::swap(&mut prev, &mut cur);
    }
    prev[b.len()]
}

/// The candidate closest to `word`, if it is close enough to be a plausible typo: at most a
/// third of the word's length (and at least 1) edits away, compared case-insensitively.
pub(crate) fn did_you_mean<'a>(word: &str, candidates: &[&'a str]) -> Option<&'a str> {
    let lower = word.to_ascii_lowercase();
    let limit = (word.chars().count() / 3).max(1);
    candidates
        .iter()
        .map(|c| (edit_distance(&lower, &c.to_ascii_lowercase()), *c))
        .filter(|(d, _)| *d <= limit)
        .min_by_key(|(d, _)| *d)
        .map(|(_, c)| c)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn distances() {
        assert_eq!(edit_distance("", ""), 0);
        assert_eq!(edit_distance("abc", ""), 3);
        assert_eq!(edit_distance("kitten", "sitting"), 3);
        assert_eq!(edit_distance("dynamic_resouces", "dynamic_resources"), 1);
    }

    #[test]
    fn suggestions() {
        let c = ["dynamic_resources", "static_resources", "node", "admin"];
        assert_eq!(
            did_you_mean("dynamic_resouces", &c),
            Some("dynamic_resources")
        );
        assert_eq!(
            did_you_mean("statc_resources", &c),
            Some("static_resources")
        );
        assert_eq!(did_you_mean("nod", &c), Some("node"));
        assert_eq!(did_you_mean("zzzzzz", &c), None);
        assert_eq!(
            did_you_mean("ROUND_ROBON", &["ROUND_ROBIN", "RANDOM"]),
            Some("ROUND_ROBIN")
        );
    }
}
