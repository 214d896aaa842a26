//! The words of a text, as full-text `search` compares them on every backend.

use std::collections::HashSet;

/// The distinct words of `text`, lowercased, in order of first appearance.
///
/// ```
/// assert_eq!(nonrel_runtime::lookup::words("Don't STOP, don't!"), ["don", "t", "stop"]);
/// ```
pub fn words(text: &str) -> Vec<String> {
    let lowered = text.to_lowercase();
    let mut seen = HashSet::new();
    lowered
        .split(|c: char| !c.is_alphanumeric())
        .filter(|w| !w.is_empty() && seen.insert(*w))
        .map(str::to_owned)
        .collect()
}

/// Whether every word of `query` is a word of `text`.
pub(crate) fn matches(query: &str, text: &str) -> bool {
    let have: HashSet<String> = words(text).into_iter().collect();
    words(query).iter().all(|w| have.contains(w))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn words_are_lowercased_runs_of_letters_and_digits() {
        assert_eq!(words("Don't STOP_me, 2 times!"), ["don", "t", "stop", "me", "2", "times"]);
        assert_eq!(words("ÉCOLE école"), ["école"]);
        assert!(words(" *?! ").is_empty());
    }

    #[test]
    fn every_query_word_must_be_a_word_of_the_text() {
        assert!(matches("FOX quick", "The quick brown fox"));
        assert!(!matches("fox", "foxes"));
        assert!(!matches("quick cat", "The quick brown fox"));
        assert!(matches("", "anything"));
        assert!(matches("s", "a fox's tale"));
    }
}
