//! A cluster of `nats-server` processes on loopback, fully meshed by routes.
//!
//! Invariant: every method that starts or restarts nodes returns only once every node
//! believed up has a route to every other node believed up (checked by server id through
//! each node's `/routez` monitoring endpoint), and, with JetStream, once every up node
//! knows the meta-group leader.

use crate::net::{free_port, wait_until};
use crate::server::is_port_taken;
use crate::{NatsServer, READY_TIMEOUT};

/// Options for starting a [`Cluster`]; made by [`Cluster::builder`].
#[derive(Debug, Clone)]
pub struct ClusterBuilder {
    nodes: usize,
    jetstream: bool,
    config: String,
}

impl Default for ClusterBuilder {
    fn default() -> Self {
        ClusterBuilder {
            nodes: 3,
            jetstream: false,
            config: String::new(),
        }
    }
}

impl ClusterBuilder {
    /// The number of servers (default 3).
    pub fn nodes(mut self, nodes: usize) -> Self {
        self.nodes = nodes;
        self
    }

    /// Enables clustered JetStream on every node.
    pub fn jetstream(mut self, enabled: bool) -> Self {
        self.jetstream = enabled;
        self
    }

    /// Extra configuration appended to every node's config (for example `accounts { … }`).
    pub fn config(mut self, config: impl Into<String>) -> Self {
        self.config = config.into();
        self
    }

    /// Starts every node and waits until the routes form a full mesh.
    ///
    /// # Panics
    ///
    /// If a node fails to start or the mesh (and, with JetStream, a meta leader) does not
    /// form within [`READY_TIMEOUT`].
    pub fn start(self) -> Cluster {
        assert!(self.nodes > 0, "a cluster needs at least one node");
        // Route ports are chosen up front; if another process takes one first, start over.
        let mut attempt = 1;
        let nodes = loop {
            match self.try_start_nodes() {
                Ok(nodes) => break nodes,
                Err(e) if attempt < 3 && is_port_taken(&e) => attempt += 1,
                Err(e) => panic!("{e}"),
            }
        };
        let cluster = Cluster {
            up: vec![true; nodes.len()],
            nodes,
            jetstream: self.jetstream,
        };
        cluster.wait_until_formed();
        cluster
    }

    fn try_start_nodes(&self) -> Result<Vec<NatsServer>, String> {
        let route_ports: Vec<u16> = (0..self.nodes).map(|_| free_port()).collect();
        let mut nodes = Vec::with_capacity(self.nodes);
        for (i, route_port) in route_ports.iter().enumerate() {
            let routes = route_ports
                .iter()
                .enumerate()
                .filter(|&(j, _)| j != i)
                .map(|(_, p)| format!("\"nats-route://127.0.0.1:{p}\""))
                .collect::<Vec<_>>()
                .join(", ");
            let config = format!(
                "server_name: \"n{i}\"\n\
                 cluster {{\n  name: \"harness\"\n  listen: \"127.0.0.1:{route_port}\"\n  \
                 routes: [{routes}]\n}}\n{}\n",
                self.config
            );
            nodes.push(
                NatsServer::builder()
                    .config(config)
                    .jetstream(self.jetstream)
                    .monitoring(true)
                    .try_start()?,
            );
        }
        Ok(nodes)
    }
}

/// Several `nats-server` processes joined by routes, each with a client port and a
/// monitoring port on 127.0.0.1. Dropping it kills every node.
///
/// ```no_run
/// let mut cluster = nats_tests::Cluster::start(3);
/// let seed = cluster.url(0);
/// cluster.kill9(0);
/// cluster.restart(0);
/// # let _ = seed;
/// ```
#[derive(Debug)]
pub struct Cluster {
    nodes: Vec<NatsServer>,
    up: Vec<bool>,
    jetstream: bool,
}

impl Cluster {
    /// Starts `nodes` servers with default options and waits for the full mesh.
    ///
    /// # Panics
    ///
    /// As [`ClusterBuilder::start`].
    pub fn start(nodes: usize) -> Cluster {
        Cluster::builder().nodes(nodes).start()
    }

    /// A builder for a cluster with JetStream or extra configuration.
    pub fn builder() -> ClusterBuilder {
        ClusterBuilder::default()
    }

    /// The number of nodes, up or down.
    pub fn len(&self) -> usize {
        self.nodes.len()
    }

    /// Whether the cluster has no nodes (never true for a started cluster).
    pub fn is_empty(&self) -> bool {
        self.nodes.is_empty()
    }

    /// Node `i`.
    pub fn node(&self, i: usize) -> &NatsServer {
        &self.nodes[i]
    }

    /// Node `i`, mutably (to stop or signal it directly; the cluster then no longer knows
    /// whether it is up, so prefer the cluster's own methods).
    pub fn node_mut(&mut self, i: usize) -> &mut NatsServer {
        &mut self.nodes[i]
    }

    /// Node `i`'s client URL, `nats://127.0.0.1:<port>`.
    pub fn url(&self, i: usize) -> String {
        self.nodes[i].url()
    }

    /// Node `i`'s client port.
    pub fn port(&self, i: usize) -> u16 {
        self.nodes[i].port()
    }

    /// Every node's client URL, in node order.
    pub fn urls(&self) -> Vec<String> {
        self.nodes.iter().map(NatsServer::url).collect()
    }

    /// Kills node `i` with SIGKILL.
    pub fn kill9(&mut self, i: usize) {
        self.nodes[i].kill9();
        self.up[i] = false;
    }

    /// Stops node `i` gracefully.
    pub fn stop(&mut self, i: usize) {
        self.nodes[i].stop();
        self.up[i] = false;
    }

    /// Restarts node `i` (stopping it first if it runs) on the same ports and store, then
    /// waits until the mesh is whole again.
    pub fn restart(&mut self, i: usize) {
        self.nodes[i].restart();
        self.up[i] = true;
        self.wait_until_formed();
    }

    /// Waits until every node that is up has a route to every other node that is up (and,
    /// with JetStream, knows the meta leader).
    ///
    /// # Panics
    ///
    /// If that does not happen within [`READY_TIMEOUT`]; the message includes the state.
    pub fn wait_until_formed(&self) {
        let mut state = String::new();
        let formed = wait_until(READY_TIMEOUT, || match self.check_formed() {
            Ok(()) => true,
            Err(e) => {
                state = e;
                false
            }
        });
        if !formed {
            panic!("the cluster did not form within {READY_TIMEOUT:?}: {state}");
        }
    }

    fn check_formed(&self) -> Result<(), String> {
        let up: Vec<&NatsServer> = (0..self.nodes.len())
            .filter(|&i| self.up[i])
            .map(|i| &self.nodes[i])
            .collect();
        let mut ids = Vec::with_capacity(up.len());
        for node in &up {
            let varz = get(node, "/varz")?;
            ids.push(
                json_strings(&varz, "server_id")
                    .into_iter()
                    .next()
                    .unwrap_or_default(),
            );
        }
        for (i, node) in up.iter().enumerate() {
            let routez = get(node, "/routez")?;
            let remotes = json_strings(&routez, "remote_id");
            for (j, id) in ids.iter().enumerate() {
                if i != j && !remotes.contains(id) {
                    return Err(format!("node on port {} has no route to {id}", node.port()));
                }
            }
            if self.jetstream {
                let jsz = get(node, "/jsz")?;
                if json_strings(&jsz, "leader").iter().all(|l| l.is_empty()) {
                    return Err(format!("node on port {} knows no meta leader", node.port()));
                }
            }
        }
        Ok(())
    }
}

fn get(node: &NatsServer, path: &str) -> Result<String, String> {
    node.monitor_get(path)
        .map_err(|e| format!("GET {path} on node port {}: {e}", node.port()))
}

/// The string values of every `"key": "value"` pair in a JSON text (a shallow scan, enough
/// for the monitoring endpoint's output).
fn json_strings(json: &str, key: &str) -> Vec<String> {
    let pattern = format!("\"{key}\"");
    let mut values = Vec::new();
    let mut rest = json;
    while let Some(at) = rest.find(&pattern) {
        rest = &rest[at + pattern.len()..];
        let Some(after_colon) = rest.trim_start().strip_prefix(':') else {
            continue;
        };
        let Some(value) = after_colon.trim_start().strip_prefix('"') else {
            continue;
        };
        if let Some(end) = value.find('"') {
            values.push(value[..end].to_owned());
        }
    }
    values
}
