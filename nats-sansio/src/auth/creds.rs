//! Parsing of NATS `.creds` files (a user JWT and a user NKey seed in armored blocks).
//!
//! Invariant: parsing is pure text processing of the caller's string (the caller reads the
//! file); a successfully parsed [`Creds`] has a non-empty JWT and a seed that starts with
//! `SU`, and no error or `Debug` output ever contains the JWT or the seed.

use std::fmt;

use super::{AuthError, Redacted};

/// The contents of a `.creds` file: a user JWT and the user's NKey seed.
#[derive(Clone, PartialEq, Eq)]
pub struct Creds {
    /// The user JWT (the first armored block).
    pub jwt: String,
    /// The user NKey seed, `SU...` (the second armored block). A secret.
    pub seed: String,
}

impl fmt::Debug for Creds {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Creds")
            .field("jwt", &Redacted(true))
            .field("seed", &Redacted(true))
            .finish()
    }
}

/// Parses the contents of a `.creds` file.
///
/// The format (nkeys `creds_utils.go`) is two armored blocks, the JWT first and the seed
/// second:
///
/// ```text
/// -----BEGIN NATS USER JWT-----
/// eyJ0eXAiOi...
/// ------END NATS USER JWT------
///
/// -----BEGIN USER NKEY SEED-----
/// SUAM...
/// ------END USER NKEY SEED------
/// ```
///
/// An armor line is any line that starts and ends with three or more dashes; the block
/// content is the single non-empty line between two armor lines. Text outside the blocks
/// (the usual `*** IMPORTANT ***` notice), surrounding whitespace, blank lines and CRLF line
/// endings are accepted. Only a user seed (`SU...`) is accepted.
pub fn parse_creds(contents: &str) -> Result<Creds, AuthError> {
    let mut blocks = Blocks::new(contents);
    let jwt = blocks.next().ok_or(AuthError::CredsMissingJwt)?;
    let seed = blocks.next().ok_or(AuthError::CredsMissingSeed)?;
    if !seed.starts_with("SU") {
        return Err(AuthError::CredsNotUserSeed);
    }
    Ok(Creds {
        jwt: jwt.to_owned(),
        seed: seed.to_owned(),
    })
}

/// Iterates over the contents of the armored blocks of a text, in order.
struct Blocks<'a> {
    lines: Vec<&'a str>,
    at: usize,
}

impl<'a> Blocks<'a> {
    fn new(text: &'a str) -> Self {
        let lines = text
            .split('\n')
            .map(str::trim)
            .filter(|l| !l.is_empty())
            .collect();
        Blocks { lines, at: 0 }
    }
}

impl<'a> Iterator for Blocks<'a> {
    type Item = &'a str;

    fn next(&mut self) -> Option<&'a str> {
        while self.at + 2 < self.lines.len() {
            let (begin, body, end) = (
                self.lines[self.at],
                self.lines[self.at + 1],
                self.lines[self.at + 2],
            );
            if is_armor(begin) && is_content(body) && is_armor(end) {
                self.at += 3;
                return Some(body);
            }
            self.at += 1;
        }
        self.at = self.lines.len();
        None
    }
}

fn is_armor(line: &str) -> bool {
    line.len() >= 6 && line.starts_with("---") && line.ends_with("---")
}

/// Block content per the nkeys pattern `[\w\-.=]+`.
fn is_content(line: &str) -> bool {
    !line.is_empty()
        && line
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'-' | b'.' | b'='))
}

#[cfg(test)]
mod tests {
    use super::*;

    const JWT: &str = "eyJ0eXAiOiJKV1QiLCJhbGciOiJlZDI1NTE5LW5rZXkifQ.eyJzdWIiOiJVQUJDIn0.c2ln";
    const SEED: &str = "SUAMLK2ZNL35WSMW37E7UD4VZ7ELPKW7DHC3BWBSD2GCZ7IUQQXZIORRBU";

    fn creds_text(nl: &str) -> String {
        [
            "-----BEGIN NATS USER JWT-----",
            JWT,
            "------END NATS USER JWT------",
            "",
            "************************* IMPORTANT *************************",
            "NKEY Seed printed below can be used to sign and prove identity.",
            "NKEYs are sensitive and should be treated as secrets.",
            "",
            "-----BEGIN USER NKEY SEED-----",
            SEED,
            "------END USER NKEY SEED------",
            "",
            "*************************************************************",
            "",
        ]
        .join(nl)
    }

    #[test]
    fn parses_lf_and_crlf() {
        for nl in ["\n", "\r\n"] {
            let c = parse_creds(&creds_text(nl)).unwrap();
            assert_eq!(c.jwt, JWT);
            assert_eq!(c.seed, SEED);
        }
    }

    #[test]
    fn parses_surrounding_whitespace_and_short_dashes() {
        let text = format!(
            "\n\n   ---BEGIN NATS USER JWT---  \n  {JWT}  \n---END NATS USER JWT---\n\
             \t---BEGIN USER NKEY SEED---\n{SEED}\n---END USER NKEY SEED---"
        );
        let c = parse_creds(&text).unwrap();
        assert_eq!((c.jwt.as_str(), c.seed.as_str()), (JWT, SEED));
    }

    #[test]
    fn rejects_non_user_seed() {
        let account = "SAAMLK2ZNL35WSMW37E7UD4VZ7ELPKW7DHC3BWBSD2GCZ7IUQQXZIORRBU";
        let text = creds_text("\n").replace(SEED, account);
        let err = parse_creds(&text).unwrap_err();
        assert_eq!(err, AuthError::CredsNotUserSeed);
        assert_eq!(err.to_string(), "creds seed is not a user seed");
        assert!(!format!("{err:?}").contains(account));
    }

    #[test]
    fn missing_blocks() {
        let only_jwt =
            format!("-----BEGIN NATS USER JWT-----\n{JWT}\n------END NATS USER JWT------\n");
        assert_eq!(parse_creds(&only_jwt), Err(AuthError::CredsMissingSeed));
        assert_eq!(parse_creds(""), Err(AuthError::CredsMissingJwt));
        assert_eq!(parse_creds(SEED), Err(AuthError::CredsMissingJwt));
        // An unterminated seed block is not a block.
        let text = format!("{only_jwt}-----BEGIN USER NKEY SEED-----\n{SEED}\n");
        assert_eq!(parse_creds(&text), Err(AuthError::CredsMissingSeed));
    }

    #[test]
    fn debug_redacts() {
        let c = parse_creds(&creds_text("\n")).unwrap();
        let dbg = format!("{c:?} {c:#?}");
        assert!(!dbg.contains(SEED) && !dbg.contains(JWT), "{dbg}");
    }
}
