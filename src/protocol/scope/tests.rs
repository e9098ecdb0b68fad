//! Unit tests of `scope`.

use super::*;

#[test]
fn parses_sorts_and_dedups() {
    let set = ScopeSet::parse("write  read read").unwrap();
    assert_eq!(set.to_string(), "read write");
}

#[test]
fn refuses_quote_and_backslash() {
    assert!(ScopeSet::parse("a\"b").is_err());
    assert!(ScopeSet::parse("a\\b").is_err());
    assert!(ScopeSet::parse("é").is_err());
}

#[test]
fn excess_lists_what_is_not_allowed() {
    let asked = ScopeSet::parse("a b c").unwrap();
    let allowed = ScopeSet::parse("a c").unwrap();
    let excess: Vec<_> = asked.excess_over(&allowed).map(Scope::as_str).collect();
    assert_eq!(excess, ["b"]);
}

mod properties {
    use std::collections::BTreeSet;

    use proptest::prelude::*;

    use super::super::{Scope, ScopeSet};

    /// `scope-token = 1*NQCHAR`, NQCHAR = %x21 / %x23-5B / %x5D-7E (RFC 6749 §A.4).
    const TOKEN: &str = "[!#-\\[\\]-~]{1,24}";

    fn token() -> impl Strategy<Value = String> {
        TOKEN
    }

    fn tokens() -> impl Strategy<Value = Vec<String>> {
        prop::collection::vec(token(), 0..8)
    }

    fn set_of(tokens: &[String]) -> ScopeSet {
        tokens.iter().map(|t| Scope::parse(t).unwrap()).collect()
    }

    fn names(set: &ScopeSet) -> BTreeSet<&str> {
        set.iter().map(Scope::as_str).collect()
    }

    /// Characters RFC 6749 refuses in a scope token.
    fn forbidden() -> impl Strategy<Value = char> {
        prop_oneof![
            Just('"'),
            Just('\\'),
            Just('\u{7f}'),
            (0u8..0x20).prop_map(char::from),
            any::<char>().prop_filter("non-ASCII", |c| !c.is_ascii()),
        ]
    }

    fn is_subset(a: &ScopeSet, b: &ScopeSet) -> bool {
        a.excess_over(b).next().is_none()
    }

    proptest! {
        #[test]
        fn a_token_parses_to_itself(t in token()) {
            let scope = Scope::parse(&t).unwrap();
            prop_assert_eq!(scope.as_str(), t.as_str());
            prop_assert_eq!(scope.to_string(), t);
        }

        #[test]
        fn display_then_parse_round_trips(ts in tokens()) {
            let set = set_of(&ts);
            let shown = set.to_string();
            prop_assert_eq!(ScopeSet::parse(&shown).unwrap(), set.clone());
            prop_assert!(!shown.starts_with(' ') && !shown.ends_with(' ') && !shown.contains("  "));
            let listed: Vec<&str> = set.iter().map(Scope::as_str).collect();
            let mut sorted = listed.clone();
            sorted.sort_unstable();
            sorted.dedup();
            prop_assert_eq!(listed, sorted, "displayed sorted and without duplicates");
        }

        #[test]
        fn parse_then_display_is_the_sorted_distinct_tokens(
            ts in tokens(),
            gaps in prop::collection::vec(1usize..4, 8),
            lead in 0usize..3,
            trail in 0usize..3,
        ) {
            let mut raw = " ".repeat(lead);
            for (i, t) in ts.iter().enumerate() {
                if i > 0 {
                    raw.push_str(&" ".repeat(gaps[i]));
                }
                raw.push_str(t);
            }
            raw.push_str(&" ".repeat(trail));
            let set = ScopeSet::parse(&raw).unwrap();
            let expected: BTreeSet<&str> = ts.iter().map(String::as_str).collect();
            prop_assert_eq!(names(&set), expected.clone());
            prop_assert_eq!(set.to_string(), expected.into_iter().collect::<Vec<_>>().join(" "));
            prop_assert_eq!(set.is_empty(), ts.is_empty());
        }

        #[test]
        fn order_and_repetition_do_not_matter(
            ts in tokens().prop_flat_map(|ts| (Just(ts.clone()), Just(ts).prop_shuffle())),
            again in any::<prop::sample::Index>(),
        ) {
            let (original, mut shuffled) = ts;
            if !original.is_empty() {
                shuffled.push(original[again.index(original.len())].clone());
            }
            let a = ScopeSet::parse(&original.join(" ")).unwrap();
            let b = ScopeSet::parse(&shuffled.join(" ")).unwrap();
            prop_assert_eq!(a.to_string(), b.to_string());
            prop_assert_eq!(a, b);
        }

        #[test]
        fn a_forbidden_character_is_refused(
            t in token(),
            c in forbidden(),
            at in any::<prop::sample::Index>(),
            others in tokens(),
        ) {
            let mut bad = t.clone();
            let i = at.index(t.len() + 1);
            bad.insert(i, c);
            prop_assert!(Scope::parse(&bad).is_err(), "{:?} accepted", bad);
            let mut raw = others;
            raw.push(bad);
            prop_assert!(ScopeSet::parse(&raw.join(" ")).is_err());
        }

        #[test]
        fn length_is_bounded(c in "[!#-\\[\\]-~]", extra in 1usize..64) {
            prop_assert!(Scope::parse(&c.repeat(Scope::MAX_LEN)).is_ok());
            prop_assert!(Scope::parse(&c.repeat(Scope::MAX_LEN + extra)).is_err());
            prop_assert!(Scope::parse("").is_err());
            prop_assert!(Scope::parse(" ").is_err());
        }

        #[test]
        fn contains_agrees_with_the_tokens(ts in tokens(), probe in token()) {
            let set = set_of(&ts);
            let probe_scope = Scope::parse(&probe).unwrap();
            prop_assert_eq!(set.contains(&probe_scope), ts.contains(&probe));
            let mut grown = set.clone();
            grown.insert(probe_scope.clone());
            prop_assert!(grown.contains(&probe_scope));
            prop_assert!(is_subset(&set, &grown));
            prop_assert_eq!(grown == set, set.contains(&probe_scope));
        }

        #[test]
        fn excess_is_the_set_difference(a in tokens(), b in tokens()) {
            let (sa, sb) = (set_of(&a), set_of(&b));
            let excess: BTreeSet<&str> = sa.excess_over(&sb).map(Scope::as_str).collect();
            let expected: BTreeSet<&str> = names(&sa).difference(&names(&sb)).copied().collect();
            prop_assert_eq!(&excess, &expected);
            for s in sa.excess_over(&sb) {
                prop_assert!(sa.contains(s) && !sb.contains(s));
            }
            // a = (a \ b) ∪ (a ∩ b), the two parts disjoint.
            let common: BTreeSet<&str> =
                sa.iter().filter(|s| sb.contains(s)).map(Scope::as_str).collect();
            prop_assert!(excess.is_disjoint(&common));
            prop_assert_eq!(excess.union(&common).copied().collect::<BTreeSet<_>>(), names(&sa));
        }

        #[test]
        fn subset_laws_hold(a in tokens(), b in tokens(), c in tokens()) {
            let (sa, sb, sc) = (set_of(&a), set_of(&b), set_of(&c));
            let empty = ScopeSet::default();
            prop_assert!(is_subset(&sa, &sa), "reflexive");
            prop_assert!(is_subset(&empty, &sa));
            prop_assert_eq!(is_subset(&sa, &empty), sa.is_empty());
            let union: ScopeSet = sa.iter().chain(sb.iter()).cloned().collect();
            prop_assert!(is_subset(&sa, &union) && is_subset(&sb, &union));
            let intersection: ScopeSet = sa.iter().filter(|s| sb.contains(s)).cloned().collect();
            prop_assert!(is_subset(&intersection, &sa) && is_subset(&intersection, &sb));
            prop_assert_eq!(
                is_subset(&sa, &sb) && is_subset(&sb, &sa),
                sa == sb,
                "antisymmetric"
            );
            let abc: ScopeSet = union.iter().chain(sc.iter()).cloned().collect();
            prop_assert!(is_subset(&union, &abc));
            prop_assert!(is_subset(&sa, &abc), "transitive: a ⊆ a∪b ⊆ a∪b∪c");
            if is_subset(&sc, &sa) {
                prop_assert!(is_subset(&sc, &union), "transitive: c ⊆ a ⊆ a∪b");
            }
            prop_assert_eq!(is_subset(&sa, &sb), sa.iter().all(|s| sb.contains(s)));
        }
    }
}
