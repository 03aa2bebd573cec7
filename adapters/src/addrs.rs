//! What `connect` takes as the servers to try, as async-nats's `ToServerAddrs`: one URL, a
//! comma-separated list, a parsed [`ServerAddr`], or a slice, array or `Vec` of any of them.
//!
//! Invariant: every form yields the servers in the order written, each parsed by
//! [`ServerAddr::parse`]; the first address that does not parse is the error, and nothing is
//! connected to.

use nats_sansio::auth::{AddrError, ServerAddr};

/// Servers to connect to.
///
/// ```
/// use nats_client::ToServerAddrs;
///
/// let one = "nats://127.0.0.1:4222".to_server_addrs().unwrap();
/// let listed = "nats://a:4222, nats://b:4222".to_server_addrs().unwrap();
/// let many = vec!["nats://a:4222".to_string(), "b:4223".to_string()]
///     .to_server_addrs()
///     .unwrap();
/// assert_eq!((one.len(), listed.len(), many.len()), (1, 2, 2));
/// assert_eq!(many[1].port(), 4223);
/// assert!("nats://a:notaport".to_server_addrs().is_err());
/// ```
pub trait ToServerAddrs {
    /// The servers, in order.
    fn to_server_addrs(&self) -> Result<Vec<ServerAddr>, AddrError>;
}

impl ToServerAddrs for str {
    /// One URL, or several separated by commas (blanks around them are ignored).
    fn to_server_addrs(&self) -> Result<Vec<ServerAddr>, AddrError> {
        self.split(',')
            .map(str::trim)
            .filter(|u| !u.is_empty())
            .map(ServerAddr::parse)
            .collect()
    }
}

impl ToServerAddrs for String {
    fn to_server_addrs(&self) -> Result<Vec<ServerAddr>, AddrError> {
        self.as_str().to_server_addrs()
    }
}

impl ToServerAddrs for ServerAddr {
    fn to_server_addrs(&self) -> Result<Vec<ServerAddr>, AddrError> {
        Ok(vec![self.clone()])
    }
}

impl<T: ToServerAddrs> ToServerAddrs for [T] {
    fn to_server_addrs(&self) -> Result<Vec<ServerAddr>, AddrError> {
        let mut all = Vec::new();
        for item in self {
            all.extend(item.to_server_addrs()?);
        }
        Ok(all)
    }
}

impl<T: ToServerAddrs, const N: usize> ToServerAddrs for [T; N] {
    fn to_server_addrs(&self) -> Result<Vec<ServerAddr>, AddrError> {
        self.as_slice().to_server_addrs()
    }
}

impl<T: ToServerAddrs> ToServerAddrs for Vec<T> {
    fn to_server_addrs(&self) -> Result<Vec<ServerAddr>, AddrError> {
        self.as_slice().to_server_addrs()
    }
}

impl<T: ToServerAddrs + ?Sized> ToServerAddrs for &T {
    fn to_server_addrs(&self) -> Result<Vec<ServerAddr>, AddrError> {
        (**self).to_server_addrs()
    }
}
