//! API subjects: the prefix (default, domain or imported) and one method per API.
//!
//! Invariant: every subject built here has a prefix that was checked once when the
//! [`ApiPrefix`] was made, and every stream or consumer name spliced into it is checked by
//! [`validate_name`] first, so a name can never add, remove or wildcard a token.

use crate::proto::{validate_publish, validate_subscribe, SubjectError};

/// The longest stream or consumer name the server accepts, in bytes (`JSMaxNameLen`).
pub const MAX_NAME_LEN: usize = 255;

/// The default API prefix.
pub const DEFAULT_API_PREFIX: &str = "$JS.API";

/// What a checked name is, for error messages.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum NameKind {
    /// A stream name.
    Stream,
    /// A consumer (or durable) name.
    Consumer,
    /// A JetStream domain.
    Domain,
    /// A custom API prefix.
    Prefix,
    /// A subject spliced into an API subject (a consumer filter, a Direct Get subject).
    Subject,
}

impl std::fmt::Display for NameKind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            NameKind::Stream => "stream name",
            NameKind::Consumer => "consumer name",
            NameKind::Domain => "domain",
            NameKind::Prefix => "API prefix",
            NameKind::Subject => "subject",
        })
    }
}

/// A name or prefix that cannot be used in an API subject.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum NameError {
    /// The name is empty.
    #[error("{0} is empty")]
    Empty(NameKind),
    /// The name is longer than [`MAX_NAME_LEN`] bytes.
    #[error("{kind} is {len} bytes long, the limit is {MAX_NAME_LEN}")]
    TooLong {
        /// What was checked.
        kind: NameKind,
        /// Its length in bytes.
        len: usize,
    },
    /// The name contains a character the server refuses.
    #[error("{kind} contains {ch:?}; whitespace, '.', '*', '>', '/' and '\\' are not allowed")]
    InvalidChar {
        /// What was checked.
        kind: NameKind,
        /// The first offending character.
        ch: char,
    },
    /// A prefix or subject is not a valid subject.
    #[error("invalid {kind}: {source}")]
    InvalidSubject {
        /// What was checked.
        kind: NameKind,
        /// Why.
        source: SubjectError,
    },
}

/// Checks a stream or consumer name the way the server does (`isValidName` plus the asset
/// rules): non-empty, at most 255 bytes, and none of whitespace, control characters, `.`,
/// `*`, `>`, `/`, `\`.
///
/// # Errors
///
/// The first rule broken, as a [`NameError`] naming `kind`.
pub fn validate_name(kind: NameKind, name: &str) -> Result<(), NameError> {
    if name.is_empty() {
        return Err(NameError::Empty(kind));
    }
    if name.len() > MAX_NAME_LEN {
        return Err(NameError::TooLong {
            kind,
            len: name.len(),
        });
    }
    match name
        .chars()
        .find(|&ch| ch.is_whitespace() || ch.is_control() || ".*>/\\".contains(ch))
    {
        Some(ch) => Err(NameError::InvalidChar { kind, ch }),
        None => Ok(()),
    }
}

fn stream(name: &str) -> Result<&str, NameError> {
    validate_name(NameKind::Stream, name).map(|()| name)
}

fn consumer(name: &str) -> Result<&str, NameError> {
    validate_name(NameKind::Consumer, name).map(|()| name)
}

/// Where the JetStream API lives: `$JS.API`, `$JS.<domain>.API`, or an imported prefix.
///
/// Each method returns the full subject of one API. Methods taking names check them with
/// [`validate_name`].
///
/// ```
/// use nats_sansio::jetstream::api::ApiPrefix;
///
/// let api = ApiPrefix::default();
/// assert_eq!(api.stream_info("ORDERS").unwrap(), "$JS.API.STREAM.INFO.ORDERS");
/// let hub = ApiPrefix::domain("hub").unwrap();
/// assert_eq!(hub.consumer_create("ORDERS", "c", Some("orders.*")).unwrap(),
///            "$JS.hub.API.CONSUMER.CREATE.ORDERS.c.orders.*");
/// assert!(api.stream_info("a.b").is_err());
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct ApiPrefix(String);

impl Default for ApiPrefix {
    fn default() -> ApiPrefix {
        ApiPrefix(DEFAULT_API_PREFIX.to_owned())
    }
}

impl ApiPrefix {
    /// The prefix of a JetStream domain, `$JS.<domain>.API`. An empty domain means the
    /// default prefix, as in the other clients.
    ///
    /// # Errors
    ///
    /// If the domain is not a single valid token ([`validate_name`] rules).
    pub fn domain(domain: &str) -> Result<ApiPrefix, NameError> {
        if domain.is_empty() {
            return Ok(ApiPrefix::default());
        }
        validate_name(NameKind::Domain, domain)?;
        Ok(ApiPrefix(format!("$JS.{domain}.API")))
    }

    /// A custom prefix replacing `$JS.API`, for an API imported from another account. One
    /// trailing `.` is dropped.
    ///
    /// # Errors
    ///
    /// If the prefix is not a valid subject without wildcards.
    pub fn custom(prefix: &str) -> Result<ApiPrefix, NameError> {
        let prefix = prefix.strip_suffix('.').unwrap_or(prefix);
        if prefix.is_empty() {
            return Err(NameError::Empty(NameKind::Prefix));
        }
        validate_publish(prefix).map_err(|source| NameError::InvalidSubject {
            kind: NameKind::Prefix,
            source,
        })?;
        Ok(ApiPrefix(prefix.to_owned()))
    }

    /// The prefix itself, without a trailing `.`.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    fn join(&self, parts: &[&str]) -> String {
        let mut s =
            String::with_capacity(self.0.len() + parts.iter().map(|p| p.len() + 1).sum::<usize>());
        s.push_str(&self.0);
        for part in parts {
            s.push('.');
            s.push_str(part);
        }
        s
    }

    /// Any API by its subject relative to the prefix (`STREAM.INFO.ORDERS`), for requests
    /// this type has no method for. A leading `.` is dropped.
    ///
    /// ```
    /// use nats_sansio::jetstream::api::ApiPrefix;
    ///
    /// let hub = ApiPrefix::domain("hub").unwrap();
    /// assert_eq!(hub.api("STREAM.INFO.ORDERS").unwrap(), "$JS.hub.API.STREAM.INFO.ORDERS");
    /// assert!(hub.api("STREAM.*").is_err());
    /// ```
    ///
    /// # Errors
    ///
    /// If the joined subject is not a valid subject to publish to (empty, a wildcard token,
    /// whitespace, an empty token).
    pub fn api(&self, subject: &str) -> Result<String, NameError> {
        let subject = subject.strip_prefix('.').unwrap_or(subject);
        if subject.is_empty() {
            return Err(NameError::Empty(NameKind::Subject));
        }
        let joined = self.join(&[subject]);
        validate_publish(&joined).map_err(|source| NameError::InvalidSubject {
            kind: NameKind::Subject,
            source,
        })?;
        Ok(joined)
    }

    /// `INFO`: account information (limits, usage, `api.level`).
    pub fn account_info(&self) -> String {
        self.join(&["INFO"])
    }

    /// `STREAM.CREATE.<stream>`.
    ///
    /// # Errors
    ///
    /// If the name is invalid.
    pub fn stream_create(&self, stream_name: &str) -> Result<String, NameError> {
        Ok(self.join(&["STREAM.CREATE", stream(stream_name)?]))
    }

    /// `STREAM.UPDATE.<stream>`.
    ///
    /// # Errors
    ///
    /// If the name is invalid.
    pub fn stream_update(&self, stream_name: &str) -> Result<String, NameError> {
        Ok(self.join(&["STREAM.UPDATE", stream(stream_name)?]))
    }

    /// `STREAM.NAMES`: one page of stream names (request `StreamNamesRequest`).
    pub fn stream_names(&self) -> String {
        self.join(&["STREAM.NAMES"])
    }

    /// `STREAM.LIST`: one page of stream infos (request `StreamListRequest`).
    pub fn stream_list(&self) -> String {
        self.join(&["STREAM.LIST"])
    }

    /// `STREAM.INFO.<stream>`.
    ///
    /// # Errors
    ///
    /// If the name is invalid.
    pub fn stream_info(&self, stream_name: &str) -> Result<String, NameError> {
        Ok(self.join(&["STREAM.INFO", stream(stream_name)?]))
    }

    /// `STREAM.DELETE.<stream>`.
    ///
    /// # Errors
    ///
    /// If the name is invalid.
    pub fn stream_delete(&self, stream_name: &str) -> Result<String, NameError> {
        Ok(self.join(&["STREAM.DELETE", stream(stream_name)?]))
    }

    /// `STREAM.PURGE.<stream>`.
    ///
    /// # Errors
    ///
    /// If the name is invalid.
    pub fn stream_purge(&self, stream_name: &str) -> Result<String, NameError> {
        Ok(self.join(&["STREAM.PURGE", stream(stream_name)?]))
    }

    /// `STREAM.MSG.GET.<stream>`: read one message through the stream leader.
    ///
    /// # Errors
    ///
    /// If the name is invalid.
    pub fn stream_msg_get(&self, stream_name: &str) -> Result<String, NameError> {
        Ok(self.join(&["STREAM.MSG.GET", stream(stream_name)?]))
    }

    /// `STREAM.MSG.DELETE.<stream>`.
    ///
    /// # Errors
    ///
    /// If the name is invalid.
    pub fn stream_msg_delete(&self, stream_name: &str) -> Result<String, NameError> {
        Ok(self.join(&["STREAM.MSG.DELETE", stream(stream_name)?]))
    }

    /// `STREAM.LEADER.STEPDOWN.<stream>`.
    ///
    /// # Errors
    ///
    /// If the name is invalid.
    pub fn stream_leader_stepdown(&self, stream_name: &str) -> Result<String, NameError> {
        Ok(self.join(&["STREAM.LEADER.STEPDOWN", stream(stream_name)?]))
    }

    /// `STREAM.SNAPSHOT.<stream>`.
    ///
    /// # Errors
    ///
    /// If the name is invalid.
    pub fn stream_snapshot(&self, stream_name: &str) -> Result<String, NameError> {
        Ok(self.join(&["STREAM.SNAPSHOT", stream(stream_name)?]))
    }

    /// `STREAM.RESTORE.<stream>`.
    ///
    /// # Errors
    ///
    /// If the name is invalid.
    pub fn stream_restore(&self, stream_name: &str) -> Result<String, NameError> {
        Ok(self.join(&["STREAM.RESTORE", stream(stream_name)?]))
    }

    /// `STREAM.PEER.REMOVE.<stream>`.
    ///
    /// # Errors
    ///
    /// If the name is invalid.
    pub fn stream_peer_remove(&self, stream_name: &str) -> Result<String, NameError> {
        Ok(self.join(&["STREAM.PEER.REMOVE", stream(stream_name)?]))
    }

    /// `DIRECT.GET.<stream>`: Direct Get with a JSON request body.
    ///
    /// # Errors
    ///
    /// If the name is invalid.
    pub fn direct_get(&self, stream_name: &str) -> Result<String, NameError> {
        Ok(self.join(&["DIRECT.GET", stream(stream_name)?]))
    }

    /// `DIRECT.GET.<stream>.<subject>`: the last message on `subject`; send an **empty**
    /// payload.
    ///
    /// # Errors
    ///
    /// If the name is invalid or `subject` is not a valid subject without wildcards.
    pub fn direct_get_last_for(
        &self,
        stream_name: &str,
        subject: &str,
    ) -> Result<String, NameError> {
        validate_publish(subject).map_err(|source| NameError::InvalidSubject {
            kind: NameKind::Subject,
            source,
        })?;
        Ok(self.join(&["DIRECT.GET", stream(stream_name)?, subject]))
    }

    /// `CONSUMER.CREATE.<stream>.<consumer>[.<filter>]`: create or update a named consumer.
    /// Pass the filter only when the config has exactly one `filter_subject`, as the other
    /// clients do; the server checks that it matches the config.
    ///
    /// # Errors
    ///
    /// If a name is invalid or the filter is not a valid subject (wildcards allowed).
    pub fn consumer_create(
        &self,
        stream_name: &str,
        consumer_name: &str,
        filter: Option<&str>,
    ) -> Result<String, NameError> {
        let stream_name = stream(stream_name)?;
        let consumer_name = consumer(consumer_name)?;
        match filter {
            None => Ok(self.join(&["CONSUMER.CREATE", stream_name, consumer_name])),
            Some(filter) => {
                validate_subscribe(filter).map_err(|source| NameError::InvalidSubject {
                    kind: NameKind::Subject,
                    source,
                })?;
                Ok(self.join(&["CONSUMER.CREATE", stream_name, consumer_name, filter]))
            }
        }
    }

    /// The subject that creates (or updates) the consumer `request` describes: the rule
    /// every caller shares. A named consumer (`name`, else `durable_name`) goes to
    /// [`consumer_create`](Self::consumer_create), with the filter in the subject only when
    /// there is exactly one and it has no wildcard (a subject with a wildcard token cannot
    /// be published through a [`Connection`](crate::Connection); the server reads the
    /// filter from the body then); an unnamed one to
    /// [`consumer_create_legacy`](Self::consumer_create_legacy).
    ///
    /// # Errors
    ///
    /// If a name or the filter is invalid.
    pub fn consumer_create_for(
        &self,
        request: &super::CreateConsumerRequest,
    ) -> Result<String, NameError> {
        let config = &request.config;
        let name = if config.name.is_empty() {
            &config.durable_name
        } else {
            &config.name
        };
        if name.is_empty() {
            return self.consumer_create_legacy(&request.stream_name);
        }
        let filter = Some(config.filter_subject.as_str())
            .filter(|f| !f.is_empty() && !f.split('.').any(|token| token == "*" || token == ">"));
        self.consumer_create(&request.stream_name, name, filter)
    }

    /// `CONSUMER.CREATE.<stream>`: legacy create of an unnamed ephemeral consumer (servers
    /// before 2.9).
    ///
    /// # Errors
    ///
    /// If the name is invalid.
    pub fn consumer_create_legacy(&self, stream_name: &str) -> Result<String, NameError> {
        Ok(self.join(&["CONSUMER.CREATE", stream(stream_name)?]))
    }

    /// `CONSUMER.DURABLE.CREATE.<stream>.<consumer>`: legacy durable create (servers before
    /// 2.9).
    ///
    /// # Errors
    ///
    /// If a name is invalid.
    pub fn consumer_durable_create(
        &self,
        stream_name: &str,
        consumer_name: &str,
    ) -> Result<String, NameError> {
        Ok(self.join(&[
            "CONSUMER.DURABLE.CREATE",
            stream(stream_name)?,
            consumer(consumer_name)?,
        ]))
    }

    fn consumer_api(
        &self,
        api: &str,
        stream_name: &str,
        consumer_name: &str,
    ) -> Result<String, NameError> {
        Ok(self.join(&[api, stream(stream_name)?, consumer(consumer_name)?]))
    }

    /// `CONSUMER.INFO.<stream>.<consumer>`.
    ///
    /// # Errors
    ///
    /// If a name is invalid.
    pub fn consumer_info(
        &self,
        stream_name: &str,
        consumer_name: &str,
    ) -> Result<String, NameError> {
        self.consumer_api("CONSUMER.INFO", stream_name, consumer_name)
    }

    /// `CONSUMER.DELETE.<stream>.<consumer>`.
    ///
    /// # Errors
    ///
    /// If a name is invalid.
    pub fn consumer_delete(
        &self,
        stream_name: &str,
        consumer_name: &str,
    ) -> Result<String, NameError> {
        self.consumer_api("CONSUMER.DELETE", stream_name, consumer_name)
    }

    /// `CONSUMER.NAMES.<stream>`.
    ///
    /// # Errors
    ///
    /// If the name is invalid.
    pub fn consumer_names(&self, stream_name: &str) -> Result<String, NameError> {
        Ok(self.join(&["CONSUMER.NAMES", stream(stream_name)?]))
    }

    /// `CONSUMER.LIST.<stream>`.
    ///
    /// # Errors
    ///
    /// If the name is invalid.
    pub fn consumer_list(&self, stream_name: &str) -> Result<String, NameError> {
        Ok(self.join(&["CONSUMER.LIST", stream(stream_name)?]))
    }

    /// `CONSUMER.PAUSE.<stream>.<consumer>` (body `ConsumerPauseRequest`).
    ///
    /// # Errors
    ///
    /// If a name is invalid.
    pub fn consumer_pause(
        &self,
        stream_name: &str,
        consumer_name: &str,
    ) -> Result<String, NameError> {
        self.consumer_api("CONSUMER.PAUSE", stream_name, consumer_name)
    }

    /// `CONSUMER.UNPIN.<stream>.<consumer>` (body `ConsumerUnpinRequest`).
    ///
    /// # Errors
    ///
    /// If a name is invalid.
    pub fn consumer_unpin(
        &self,
        stream_name: &str,
        consumer_name: &str,
    ) -> Result<String, NameError> {
        self.consumer_api("CONSUMER.UNPIN", stream_name, consumer_name)
    }

    /// `CONSUMER.RESET.<stream>.<consumer>` (server 2.14; body `ConsumerResetRequest`).
    ///
    /// # Errors
    ///
    /// If a name is invalid.
    pub fn consumer_reset(
        &self,
        stream_name: &str,
        consumer_name: &str,
    ) -> Result<String, NameError> {
        self.consumer_api("CONSUMER.RESET", stream_name, consumer_name)
    }

    /// `CONSUMER.MSG.NEXT.<stream>.<consumer>`: where pull requests are published.
    ///
    /// # Errors
    ///
    /// If a name is invalid.
    pub fn consumer_msg_next(
        &self,
        stream_name: &str,
        consumer_name: &str,
    ) -> Result<String, NameError> {
        self.consumer_api("CONSUMER.MSG.NEXT", stream_name, consumer_name)
    }

    /// `CONSUMER.LEADER.STEPDOWN.<stream>.<consumer>`.
    ///
    /// # Errors
    ///
    /// If a name is invalid.
    pub fn consumer_leader_stepdown(
        &self,
        stream_name: &str,
        consumer_name: &str,
    ) -> Result<String, NameError> {
        self.consumer_api("CONSUMER.LEADER.STEPDOWN", stream_name, consumer_name)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn name_rules() {
        assert!(validate_name(NameKind::Stream, "ORDERS").is_ok());
        assert!(validate_name(NameKind::Stream, "KV_my-bucket=1").is_ok());
        assert!(validate_name(NameKind::Stream, &"x".repeat(255)).is_ok());
        assert_eq!(
            validate_name(NameKind::Stream, ""),
            Err(NameError::Empty(NameKind::Stream))
        );
        assert_eq!(
            validate_name(NameKind::Consumer, &"x".repeat(256)),
            Err(NameError::TooLong {
                kind: NameKind::Consumer,
                len: 256
            })
        );
        for (bad, ch) in [
            ("a b", ' '),
            ("a\tb", '\t'),
            ("a\u{a0}b", '\u{a0}'),
            ("a.b", '.'),
            ("a*", '*'),
            (">", '>'),
            ("a/b", '/'),
            ("a\\b", '\\'),
            ("a\u{7f}", '\u{7f}'),
        ] {
            assert_eq!(
                validate_name(NameKind::Stream, bad),
                Err(NameError::InvalidChar {
                    kind: NameKind::Stream,
                    ch
                }),
                "{bad:?}"
            );
        }
        let msg = validate_name(NameKind::Consumer, "a.b")
            .unwrap_err()
            .to_string();
        assert!(msg.starts_with("consumer name contains '.'"), "{msg}");
    }

    #[test]
    fn every_subject_with_default_prefix() {
        let api = ApiPrefix::default();
        assert_eq!(api.as_str(), "$JS.API");
        assert_eq!(api.account_info(), "$JS.API.INFO");
        assert_eq!(api.stream_create("S").unwrap(), "$JS.API.STREAM.CREATE.S");
        assert_eq!(api.stream_update("S").unwrap(), "$JS.API.STREAM.UPDATE.S");
        assert_eq!(api.stream_names(), "$JS.API.STREAM.NAMES");
        assert_eq!(api.stream_list(), "$JS.API.STREAM.LIST");
        assert_eq!(api.stream_info("S").unwrap(), "$JS.API.STREAM.INFO.S");
        assert_eq!(api.stream_delete("S").unwrap(), "$JS.API.STREAM.DELETE.S");
        assert_eq!(api.stream_purge("S").unwrap(), "$JS.API.STREAM.PURGE.S");
        assert_eq!(api.stream_msg_get("S").unwrap(), "$JS.API.STREAM.MSG.GET.S");
        assert_eq!(
            api.stream_msg_delete("S").unwrap(),
            "$JS.API.STREAM.MSG.DELETE.S"
        );
        assert_eq!(
            api.stream_leader_stepdown("S").unwrap(),
            "$JS.API.STREAM.LEADER.STEPDOWN.S"
        );
        assert_eq!(
            api.stream_peer_remove("S").unwrap(),
            "$JS.API.STREAM.PEER.REMOVE.S"
        );
        assert_eq!(
            api.stream_snapshot("S").unwrap(),
            "$JS.API.STREAM.SNAPSHOT.S"
        );
        assert_eq!(api.stream_restore("S").unwrap(), "$JS.API.STREAM.RESTORE.S");
        assert_eq!(api.direct_get("S").unwrap(), "$JS.API.DIRECT.GET.S");
        assert_eq!(
            api.direct_get_last_for("KV_b", "$KV.b.key.x").unwrap(),
            "$JS.API.DIRECT.GET.KV_b.$KV.b.key.x"
        );
        assert_eq!(
            api.consumer_create("S", "C", None).unwrap(),
            "$JS.API.CONSUMER.CREATE.S.C"
        );
        assert_eq!(
            api.consumer_create("S", "C", Some("a.>")).unwrap(),
            "$JS.API.CONSUMER.CREATE.S.C.a.>"
        );
        let mut request = super::super::CreateConsumerRequest {
            stream_name: "S".into(),
            ..Default::default()
        };
        request.config.name = "C".into();
        request.config.filter_subject = "a.b".into();
        assert_eq!(
            api.consumer_create_for(&request).unwrap(),
            "$JS.API.CONSUMER.CREATE.S.C.a.b"
        );
        for wildcard in ["a.>", "*.b"] {
            request.config.filter_subject = wildcard.into();
            let subject = api.consumer_create_for(&request).unwrap();
            assert_eq!(subject, "$JS.API.CONSUMER.CREATE.S.C", "publishable");
            assert!(crate::proto::validate_publish(&subject).is_ok());
        }
        assert_eq!(
            api.consumer_create_legacy("S").unwrap(),
            "$JS.API.CONSUMER.CREATE.S"
        );
        assert_eq!(
            api.consumer_durable_create("S", "C").unwrap(),
            "$JS.API.CONSUMER.DURABLE.CREATE.S.C"
        );
        assert_eq!(
            api.consumer_info("S", "C").unwrap(),
            "$JS.API.CONSUMER.INFO.S.C"
        );
        assert_eq!(
            api.consumer_delete("S", "C").unwrap(),
            "$JS.API.CONSUMER.DELETE.S.C"
        );
        assert_eq!(api.consumer_names("S").unwrap(), "$JS.API.CONSUMER.NAMES.S");
        assert_eq!(api.consumer_list("S").unwrap(), "$JS.API.CONSUMER.LIST.S");
        assert_eq!(
            api.consumer_pause("S", "C").unwrap(),
            "$JS.API.CONSUMER.PAUSE.S.C"
        );
        assert_eq!(
            api.consumer_unpin("S", "C").unwrap(),
            "$JS.API.CONSUMER.UNPIN.S.C"
        );
        assert_eq!(
            api.consumer_reset("S", "C").unwrap(),
            "$JS.API.CONSUMER.RESET.S.C"
        );
        assert_eq!(
            api.consumer_msg_next("S", "C").unwrap(),
            "$JS.API.CONSUMER.MSG.NEXT.S.C"
        );
        assert_eq!(
            api.consumer_leader_stepdown("S", "C").unwrap(),
            "$JS.API.CONSUMER.LEADER.STEPDOWN.S.C"
        );
    }

    #[test]
    fn domain_and_custom_prefixes() {
        let hub = ApiPrefix::domain("hub").unwrap();
        assert_eq!(hub.account_info(), "$JS.hub.API.INFO");
        assert_eq!(
            hub.consumer_msg_next("S", "C").unwrap(),
            "$JS.hub.API.CONSUMER.MSG.NEXT.S.C"
        );
        assert_eq!(ApiPrefix::domain("").unwrap(), ApiPrefix::default());
        assert!(matches!(
            ApiPrefix::domain("a.b"),
            Err(NameError::InvalidChar {
                kind: NameKind::Domain,
                ch: '.'
            })
        ));
        assert!(ApiPrefix::domain("a b").is_err());

        let imported = ApiPrefix::custom("JS.acc@hub.API.").unwrap();
        assert_eq!(imported.as_str(), "JS.acc@hub.API");
        assert_eq!(
            imported.stream_info("S").unwrap(),
            "JS.acc@hub.API.STREAM.INFO.S"
        );
        assert_eq!(
            ApiPrefix::custom(""),
            Err(NameError::Empty(NameKind::Prefix))
        );
        for bad in ["a.*", "a.>", "a..b", "a b", "."] {
            assert!(ApiPrefix::custom(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn names_and_subjects_are_checked() {
        let api = ApiPrefix::default();
        assert!(api.stream_create("").is_err());
        assert!(api.stream_purge("S.>").is_err());
        assert!(api.consumer_info("S", "C*").is_err());
        assert!(api.consumer_info("S/", "C").is_err());
        assert!(api.consumer_create("S", "C", Some("a..b")).is_err());
        assert!(api.consumer_create("S", "C", Some("")).is_err());
        assert!(api.direct_get_last_for("S", "a.*").is_err());
        assert!(api.direct_get_last_for("S", "a b").is_err());
    }
}
