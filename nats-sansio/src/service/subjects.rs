//! The discovery verbs and their subjects (spec §6): `<prefix>.<VERB>`,
//! `<prefix>.<VERB>.<name>` and `<prefix>.<VERB>.<name>.<id>`, for `PING`, `INFO` and `STATS`
//! (no `SCHEMA`: dropped from ADR-32). A service subscribes all nine, plainly (no queue
//! group: every instance answers); a client sends to one of them to discover.
//!
//! Invariant: a subject built here from a checked prefix, name and id has exactly the tokens
//! the form says; [`Verb::of_subject`] reads back the verb of exactly those forms.

use std::fmt;

use crate::proto::validate_publish;

use super::config::{validate_name, DEFAULT_API_PREFIX};
use super::error::ServiceConfigError;

/// A discovery verb.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Verb {
    /// Who is there (`io.nats.micro.v1.ping_response`).
    Ping,
    /// What each instance offers (`io.nats.micro.v1.info_response`).
    Info,
    /// How each instance's endpoints fare (`io.nats.micro.v1.stats_response`).
    Stats,
}

impl Verb {
    /// Every verb, in subscription order.
    pub const ALL: [Verb; 3] = [Verb::Ping, Verb::Info, Verb::Stats];

    /// The subject token: `PING`, `INFO`, `STATS`.
    pub fn as_str(self) -> &'static str {
        match self {
            Verb::Ping => "PING",
            Verb::Info => "INFO",
            Verb::Stats => "STATS",
        }
    }

    fn from_token(token: &str) -> Option<Verb> {
        Verb::ALL.into_iter().find(|v| v.as_str() == token)
    }

    /// The verb of a discovery subject under `prefix`, with the name and id it targets (if
    /// any), or `None` if `subject` is not of the three forms.
    pub fn of_subject<'a>(
        prefix: &str,
        subject: &'a str,
    ) -> Option<(Verb, Option<&'a str>, Option<&'a str>)> {
        let rest = subject.strip_prefix(prefix)?.strip_prefix('.')?;
        let mut tokens = rest.split('.');
        let verb = Verb::from_token(tokens.next()?)?;
        let name = tokens.next();
        let id = tokens.next();
        if tokens.next().is_some() || name == Some("") || id == Some("") {
            return None;
        }
        Some((verb, name, id))
    }
}

impl fmt::Display for Verb {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The discovery subject of `verb` for every service (`name` `None`), the services called
/// `name`, or the one instance `id` of them, under `prefix` (`None`: `$SRV`).
///
/// # Errors
///
/// [`ServiceConfigError::InvalidApiPrefix`], [`ServiceConfigError::InvalidName`],
/// [`ServiceConfigError::InvalidId`], and [`ServiceConfigError::IdWithoutName`].
///
/// ```
/// use nats_sansio::service::{verb_subject, Verb};
///
/// assert_eq!(verb_subject(None, Verb::Ping, None, None).unwrap(), "$SRV.PING");
/// assert_eq!(
///     verb_subject(None, Verb::Stats, Some("echo"), Some("X1")).unwrap(),
///     "$SRV.STATS.echo.X1"
/// );
/// ```
pub fn verb_subject(
    prefix: Option<&str>,
    verb: Verb,
    name: Option<&str>,
    id: Option<&str>,
) -> Result<String, ServiceConfigError> {
    let prefix = prefix.unwrap_or(DEFAULT_API_PREFIX);
    validate_publish(prefix).map_err(|_| ServiceConfigError::InvalidApiPrefix(prefix.into()))?;
    let mut subject = format!("{prefix}.{verb}");
    match (name, id) {
        (None, Some(_)) => return Err(ServiceConfigError::IdWithoutName),
        (None, None) => {}
        (Some(name), id) => {
            validate_name(name)?;
            subject.push('.');
            subject.push_str(name);
            if let Some(id) = id {
                validate_id(id)?;
                subject.push('.');
                subject.push_str(id);
            }
        }
    }
    Ok(subject)
}

/// Checks an instance id: one subject token (no `.`, no `*` or `>` token, no whitespace).
///
/// # Errors
///
/// [`ServiceConfigError::InvalidId`].
pub fn validate_id(id: &str) -> Result<(), ServiceConfigError> {
    if !id.contains('.') && validate_publish(id).is_ok() {
        Ok(())
    } else {
        Err(ServiceConfigError::InvalidId(id.to_owned()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_three_forms_of_each_verb() {
        let p = Some("$SRV");
        for verb in Verb::ALL {
            let v = verb.as_str();
            assert_eq!(
                verb_subject(p, verb, None, None).unwrap(),
                format!("$SRV.{v}")
            );
            assert_eq!(
                verb_subject(p, verb, Some("a-b_c"), None).unwrap(),
                format!("$SRV.{v}.a-b_c")
            );
            assert_eq!(
                verb_subject(p, verb, Some("a"), Some("ID9")).unwrap(),
                format!("$SRV.{v}.a.ID9")
            );
        }
        assert_eq!(
            verb_subject(Some("acme.SRV"), Verb::Info, Some("x"), None).unwrap(),
            "acme.SRV.INFO.x"
        );
    }

    #[test]
    fn bad_parts_are_refused() {
        use ServiceConfigError as E;
        assert_eq!(
            verb_subject(None, Verb::Ping, None, Some("i")),
            Err(E::IdWithoutName)
        );
        assert!(matches!(
            verb_subject(None, Verb::Ping, Some("a.b"), None),
            Err(E::InvalidName(_))
        ));
        for id in ["", "a.b", "*", ">", "a b"] {
            assert_eq!(
                verb_subject(None, Verb::Ping, Some("a"), Some(id)),
                Err(E::InvalidId(id.into())),
                "{id:?}"
            );
        }
        for prefix in ["", "a.*", "a..b", "a b"] {
            assert_eq!(
                verb_subject(Some(prefix), Verb::Ping, None, None),
                Err(E::InvalidApiPrefix(prefix.into()))
            );
        }
    }

    #[test]
    fn subjects_read_back() {
        assert_eq!(
            Verb::of_subject("$SRV", "$SRV.PING"),
            Some((Verb::Ping, None, None))
        );
        assert_eq!(
            Verb::of_subject("$SRV", "$SRV.STATS.svc.id1"),
            Some((Verb::Stats, Some("svc"), Some("id1")))
        );
        for other in [
            "$SRV",
            "$SRV.",
            "$SRV.SCHEMA.svc",
            "$SRV.ping",
            "$SRVX.PING",
            "$SRV.PING.a.b.c",
            "$SRV.PING..b",
            "$JS.API.INFO",
        ] {
            assert_eq!(Verb::of_subject("$SRV", other), None, "{other}");
        }
    }
}
