//! A service's configuration, its groups and endpoints, and every validation rule of spec §6
//! (ADR-32, nats.go `micro/service.go`): names, the semantic version, metadata (ADR-33),
//! queue groups and their precedence, group prefixes and endpoint subjects.
//!
//! Invariant: a [`Config`], [`Group`] or resolved endpoint that passed these checks yields
//! only subjects and queue groups the connection accepts for a subscription, so an adapter's
//! subscribe cannot fail on them. Queue groups resolve once, as nats.go's
//! `resolveQueueGroup`: endpoint over group over service over `q`; a `Disabled` level wins
//! over its parents, and a disabled parent applies unless the child names a group.

use std::collections::BTreeMap;

use crate::proto::{validate_publish, validate_queue_group, validate_subscribe};

use super::error::ServiceConfigError;

/// The queue group endpoints join when nobody names one.
pub const DEFAULT_QUEUE_GROUP: &str = "q";
/// The first token of every discovery subject unless overridden (nats.go hard-codes it).
pub const DEFAULT_API_PREFIX: &str = "$SRV";
/// The most bytes a metadata map's keys and values may take together (ADR-33).
pub const MAX_METADATA_BYTES: usize = 128 * 1024;
/// Metadata keys starting with this are reserved for NATS itself.
pub const RESERVED_METADATA_PREFIX: &str = "_nats";

/// Free-form string metadata, ordered by key (as Go's JSON writes maps).
pub type Metadata = BTreeMap<String, String>;

/// A queue group setting at one level (service, group or endpoint).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub enum QueueGroup {
    /// Whatever the level above resolves to (at the service: [`DEFAULT_QUEUE_GROUP`]).
    #[default]
    Inherit,
    /// This queue group.
    Named(String),
    /// No queue group: a plain subscription, every instance gets every request.
    Disabled,
}

impl QueueGroup {
    /// A named queue group.
    pub fn named(name: impl Into<String>) -> QueueGroup {
        QueueGroup::Named(name.into())
    }

    /// Checks a named group (`Inherit` and `Disabled` always pass).
    ///
    /// # Errors
    ///
    /// [`ServiceConfigError::InvalidQueueGroup`].
    pub fn validate(&self) -> Result<(), ServiceConfigError> {
        match self {
            QueueGroup::Named(name) => validate_queue_group_name(name),
            QueueGroup::Inherit | QueueGroup::Disabled => Ok(()),
        }
    }

    /// This level's setting over its parent's resolved group (`None`: disabled).
    pub fn resolve(&self, parent: Option<&str>) -> Option<String> {
        match self {
            QueueGroup::Disabled => None,
            QueueGroup::Named(name) => Some(name.clone()),
            QueueGroup::Inherit => parent.map(str::to_owned),
        }
    }
}

/// What a service is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Config {
    /// The kind of service, shared by its instances: `^[A-Za-z0-9\-_]+$`.
    pub name: String,
    /// A semantic version.
    pub version: String,
    /// For humans; INFO sends `""` when there is none.
    pub description: Option<String>,
    /// Immutable once the service runs.
    pub metadata: Metadata,
    /// The endpoints' queue group unless a group or endpoint says otherwise.
    pub queue_group: QueueGroup,
    /// The first token(s) of the discovery subjects, [`DEFAULT_API_PREFIX`] by default.
    pub api_prefix: String,
}

impl Config {
    /// A config with this name and version and defaults elsewhere.
    pub fn new(name: impl Into<String>, version: impl Into<String>) -> Config {
        Config {
            name: name.into(),
            version: version.into(),
            description: None,
            metadata: Metadata::new(),
            queue_group: QueueGroup::Inherit,
            api_prefix: DEFAULT_API_PREFIX.to_owned(),
        }
    }

    /// Checks every field.
    ///
    /// # Errors
    ///
    /// The first rule broken.
    pub fn validate(&self) -> Result<(), ServiceConfigError> {
        validate_name(&self.name)?;
        validate_version(&self.version)?;
        validate_metadata(&self.metadata)?;
        self.queue_group.validate()?;
        validate_publish(&self.api_prefix)
            .map_err(|_| ServiceConfigError::InvalidApiPrefix(self.api_prefix.clone()))
    }

    /// The endpoints' queue group at the service level (`None`: disabled).
    pub fn resolved_queue_group(&self) -> Option<String> {
        self.queue_group.resolve(Some(DEFAULT_QUEUE_GROUP))
    }
}

/// An endpoint to add: its name, and optionally its subject (default: the name), queue group
/// and metadata.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EndpointConfig {
    /// `^[A-Za-z0-9\-_]+$`; several endpoints may share a name.
    pub name: String,
    /// The subject, under the group's prefix; the name when `None` or empty.
    pub subject: Option<String>,
    /// Over the group's or service's.
    pub queue_group: QueueGroup,
    /// `None` is sent as `null` in INFO (as nats.go does).
    pub metadata: Option<Metadata>,
}

impl EndpointConfig {
    /// An endpoint on the subject of its name.
    pub fn new(name: impl Into<String>) -> EndpointConfig {
        EndpointConfig {
            name: name.into(),
            subject: None,
            queue_group: QueueGroup::Inherit,
            metadata: None,
        }
    }

    /// The same endpoint on `subject`.
    pub fn subject(mut self, subject: impl Into<String>) -> EndpointConfig {
        self.subject = Some(subject.into());
        self
    }

    /// The same endpoint with this queue group setting.
    pub fn queue_group(mut self, queue_group: QueueGroup) -> EndpointConfig {
        self.queue_group = queue_group;
        self
    }

    /// The same endpoint with metadata.
    pub fn metadata(mut self, metadata: Metadata) -> EndpointConfig {
        self.metadata = Some(metadata);
        self
    }
}

/// A group: a subject prefix and a queue group for the endpoints (and groups) in it. Built
/// by [`Service::group`](super::Service::group) and [`Group::group`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Group {
    prefix: String,
    queue_group: Option<String>,
}

impl Group {
    /// The root of a service: no prefix, the service's queue group.
    pub(crate) fn root(queue_group: Option<String>) -> Group {
        Group {
            prefix: String::new(),
            queue_group,
        }
    }

    /// A group inside this one: prefix `<this prefix>.<name>` (an empty name adds no token),
    /// queue group resolved over this one's.
    ///
    /// # Errors
    ///
    /// [`ServiceConfigError::InvalidGroup`], [`ServiceConfigError::InvalidQueueGroup`].
    pub fn group(&self, name: &str, queue_group: QueueGroup) -> Result<Group, ServiceConfigError> {
        validate_group_name(name)?;
        queue_group.validate()?;
        Ok(Group {
            prefix: join(&self.prefix, name),
            queue_group: queue_group.resolve(self.queue_group.as_deref()),
        })
    }

    /// The subject prefix (empty at the root).
    pub fn prefix(&self) -> &str {
        &self.prefix
    }

    /// The queue group its endpoints join unless they say otherwise (`None`: disabled).
    pub fn queue_group(&self) -> Option<&str> {
        self.queue_group.as_deref()
    }

    /// An endpoint's subject and queue group in this group, checked.
    ///
    /// # Errors
    ///
    /// [`ServiceConfigError::InvalidEndpointName`],
    /// [`ServiceConfigError::InvalidEndpointSubject`],
    /// [`ServiceConfigError::InvalidQueueGroup`], and the metadata errors.
    pub fn resolve(
        &self,
        endpoint: &EndpointConfig,
    ) -> Result<(String, Option<String>), ServiceConfigError> {
        if !is_name(&endpoint.name) {
            return Err(ServiceConfigError::InvalidEndpointName(
                endpoint.name.clone(),
            ));
        }
        // An empty subject is no subject (nats.go): the name.
        let own = endpoint
            .subject
            .as_deref()
            .filter(|s| !s.is_empty())
            .unwrap_or(&endpoint.name);
        let subject = join(&self.prefix, own);
        if !matches_subject_regex(&subject) || validate_subscribe(&subject).is_err() {
            return Err(ServiceConfigError::InvalidEndpointSubject(subject));
        }
        endpoint.queue_group.validate()?;
        if let Some(metadata) = &endpoint.metadata {
            validate_metadata(metadata)?;
        }
        let queue_group = endpoint.queue_group.resolve(self.queue_group.as_deref());
        Ok((subject, queue_group))
    }
}

/// `<prefix>.<name>`, or either alone when the other is empty.
fn join(prefix: &str, name: &str) -> String {
    match (prefix.is_empty(), name.is_empty()) {
        (true, _) => name.to_owned(),
        (false, true) => prefix.to_owned(),
        (false, false) => format!("{prefix}.{name}"),
    }
}

/// `^[A-Za-z0-9\-_]+$`.
fn is_name(s: &str) -> bool {
    !s.is_empty()
        && s.bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
}

/// `^[^ >]*[>]?$`: no space, and `>` only as the very last character.
fn matches_subject_regex(s: &str) -> bool {
    let body = s.strip_suffix('>').unwrap_or(s);
    !body.contains([' ', '>'])
}

/// Checks a service name: `^[A-Za-z0-9\-_]+$`.
///
/// # Errors
///
/// [`ServiceConfigError::InvalidName`].
pub fn validate_name(name: &str) -> Result<(), ServiceConfigError> {
    if is_name(name) {
        Ok(())
    } else {
        Err(ServiceConfigError::InvalidName(name.to_owned()))
    }
}

/// Checks a version against semver.org's regular expression (the one nats.go and the
/// jsm.go schemas use), matched by hand.
///
/// # Errors
///
/// [`ServiceConfigError::InvalidVersion`].
///
/// ```
/// use nats_sansio::service::validate_version;
///
/// assert!(validate_version("1.0.0-rc.1+build.5").is_ok());
/// assert!(validate_version("1.0").is_err());
/// ```
pub fn validate_version(version: &str) -> Result<(), ServiceConfigError> {
    if is_semver(version) {
        Ok(())
    } else {
        Err(ServiceConfigError::InvalidVersion(version.to_owned()))
    }
}

/// `^(0|[1-9]\d*)\.(0|[1-9]\d*)\.(0|[1-9]\d*)(?:-(PRE(?:\.PRE)*))?(?:\+(B(?:\.B)*))?$` with
/// `PRE = 0|[1-9]\d*|\d*[a-zA-Z-][0-9a-zA-Z-]*` and `B = [0-9a-zA-Z-]+`.
///
/// The core has no `-` or `+`, and a pre-release no `+`, so the first `+` starts the build
/// and the first `-` before it the pre-release.
fn is_semver(version: &str) -> bool {
    let (rest, build) = match version.split_once('+') {
        Some((rest, build)) => (rest, Some(build)),
        None => (version, None),
    };
    let (core, pre) = match rest.split_once('-') {
        Some((core, pre)) => (core, Some(pre)),
        None => (rest, None),
    };
    let mut numbers = core.split('.');
    let core_ok = (0..3).all(|_| numbers.next().is_some_and(is_numeric_identifier))
        && numbers.next().is_none();
    core_ok
        && pre.is_none_or(|pre| pre.split('.').all(is_pre_release_identifier))
        && build.is_none_or(|build| build.split('.').all(is_build_identifier))
}

/// `0|[1-9]\d*`.
fn is_numeric_identifier(s: &str) -> bool {
    match s.as_bytes() {
        [] => false,
        [b'0'] => true,
        [b'0', ..] => false,
        digits => digits.iter().all(u8::is_ascii_digit),
    }
}

/// `0|[1-9]\d*|\d*[a-zA-Z-][0-9a-zA-Z-]*`: all digits without a leading zero, or any run of
/// `[0-9A-Za-z-]` with at least one non-digit.
fn is_pre_release_identifier(s: &str) -> bool {
    if !is_build_identifier(s) {
        return false;
    }
    is_numeric_identifier(s) || !s.bytes().all(|b| b.is_ascii_digit())
}

/// `[0-9a-zA-Z-]+`.
fn is_build_identifier(s: &str) -> bool {
    !s.is_empty() && s.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-')
}

/// Checks metadata: keys and values at most [`MAX_METADATA_BYTES`] together, no key starting
/// with [`RESERVED_METADATA_PREFIX`].
///
/// # Errors
///
/// [`ServiceConfigError::ReservedMetadataKey`], [`ServiceConfigError::MetadataTooLarge`].
pub fn validate_metadata(metadata: &Metadata) -> Result<(), ServiceConfigError> {
    if let Some(key) = metadata
        .keys()
        .find(|k| k.starts_with(RESERVED_METADATA_PREFIX))
    {
        return Err(ServiceConfigError::ReservedMetadataKey(key.clone()));
    }
    let size: usize = metadata.iter().map(|(k, v)| k.len() + v.len()).sum();
    if size > MAX_METADATA_BYTES {
        return Err(ServiceConfigError::MetadataTooLarge {
            size,
            max: MAX_METADATA_BYTES,
        });
    }
    Ok(())
}

/// Checks a named queue group: non-empty, `^[^ >]*[>]?$`, and no whitespace or control
/// character (what the connection accepts).
fn validate_queue_group_name(name: &str) -> Result<(), ServiceConfigError> {
    if matches_subject_regex(name) && validate_queue_group(name).is_ok() {
        Ok(())
    } else {
        Err(ServiceConfigError::InvalidQueueGroup(name.to_owned()))
    }
}

/// Checks a group name: empty, or a subject (wildcard `*` tokens allowed) without `>`.
fn validate_group_name(name: &str) -> Result<(), ServiceConfigError> {
    if name.is_empty() || (!name.contains('>') && validate_subscribe(name).is_ok()) {
        Ok(())
    } else {
        Err(ServiceConfigError::InvalidGroup(name.to_owned()))
    }
}

#[cfg(test)]
mod tests;
