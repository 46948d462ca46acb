//! The seeds string that Florida serves and DNS TXT records hold:
//! `host:port:rack:dc:tokens` entries separated by `|`, each parsed like a `dyn_seeds`
//! entry (from the right, so a host may hold colons).
//!
//! Dynomite skips entries it cannot parse and keeps the others; so does this. Whitespace
//! around entries (a trailing newline in an HTTP body) is ignored, and so are empty
//! entries (`a||b`).

use crate::config::{parse_seed, Seed};

/// The entries of a seeds string, and a description of each entry that was skipped.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Parsed {
    pub seeds: Vec<Seed>,
    pub skipped: Vec<String>,
}

/// Parses a seeds string. Never fails: bad entries land in [`Parsed::skipped`].
pub fn parse(text: &str) -> Parsed {
    let mut out = Parsed::default();
    for entry in text.split('|').map(str::trim).filter(|e| !e.is_empty()) {
        match parse_seed(entry) {
            Ok(s) => out.seeds.push(s),
            Err(why) => out.skipped.push(format!("\"{entry}\" {why}")),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn florida_style_lists_parse() {
        let p = parse(
            "ec2-54-145-17-101.compute-1.amazonaws.com:8101:dyno_pds--useast1e:us-east-1:1383429731|\
             10.0.0.2:8101:r2:us-east-1:0,2147483647\n",
        );
        assert!(p.skipped.is_empty(), "{:?}", p.skipped);
        assert_eq!(p.seeds.len(), 2);
        assert_eq!(p.seeds[0].rack, "dyno_pds--useast1e");
        assert_eq!(p.seeds[0].tokens, vec![1383429731]);
        assert_eq!(p.seeds[1].tokens, vec![0, 2147483647]);
    }

    #[test]
    fn bad_entries_are_skipped_not_fatal() {
        let p = parse("||garbage|127.0.0.1:99999:r:d:0| 127.0.0.2:8101:r:d:1 ");
        assert_eq!(p.seeds.len(), 1);
        assert_eq!(p.seeds[0].host, "127.0.0.2");
        assert_eq!(p.skipped.len(), 2);
        assert_eq!(parse(""), Parsed::default());
    }

    proptest! {
        #[test]
        fn parse_never_panics(text in ".{0,200}") {
            let p = parse(&text);
            prop_assert!(p.seeds.len() + p.skipped.len() <= text.split('|').count());
        }

        #[test]
        fn well_formed_entries_round_trip(
            entries in proptest::collection::vec(
                ("[a-z0-9.-]{1,20}", 1u16.., "[a-z0-9_-]{1,10}", "[a-z0-9_-]{1,10}", any::<u32>()),
                0..6,
            )
        ) {
            let text: Vec<String> = entries
                .iter()
                .map(|(h, p, r, d, t)| format!("{h}:{p}:{r}:{d}:{t}"))
                .collect();
            let parsed = parse(&text.join("|"));
            prop_assert!(parsed.skipped.is_empty());
            prop_assert_eq!(parsed.seeds.len(), entries.len());
            for (s, (h, p, r, d, t)) in parsed.seeds.iter().zip(&entries) {
                prop_assert_eq!((&s.host, s.port, &s.rack, &s.dc, &s.tokens), (h, *p, r, d, &vec![*t]));
            }
        }
    }
}
